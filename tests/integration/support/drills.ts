// Instruments of the node-failure drills on real nodes (tests/integration/failover.test.ts): a
// quick API reader for polling every 250 ms (kubectl takes ~150 ms of CPU per call on this
// machine), the writers' clock, an agent's log read from its node's disk (kubectl logs cannot
// reach a cut-off node), the processes of a pod anywhere on the host, and diagnostics. The
// writer's file and the overlap check are in ./writes.
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import * as yaml from "js-yaml";
import { kubeconfig, kubectl, kubectlJson } from "./harness";
import { hostPathOnNode, nodeStatus, RealNodesInfo, realNodes } from "./realnodes";

/** The drills' program, a fixture around the dev stack (its Pulumi.yaml `main`). */
export const FAILOVER_FIXTURE = "tests/integration/fixtures/failover/index.ts";

/**
 * The drills' stack config on the real nodes: the local-path provisioner on the directory every
 * node mounts (so the writer may move), the liberator on the real nodes, the local images; no
 * web or MySQL. `liberator`: settings added to the liberator's.
 */
export function failoverStackConfig(info: RealNodesInfo, liberator: Record<string, unknown> = {}): Record<string, unknown> {
    const images = info.images;
    return {
        "pets:web": { enabled: false },
        "pets:mysql": { enabled: false },
        "pets:localPath": {
            sharedFileSystemPath: info.sharedPathOnNodes,
            reclaimPolicy: "Delete",
            image: images["local-path-provisioner"],
            helperImage: images.busybox,
            imagePullPolicy: "IfNotPresent",
        },
        "pets:liberator": { enabled: true, image: images.node, imagePullPolicy: "IfNotPresent", nodeSelector: { type: "real" }, ...liberator },
        "drill:image": images.busybox,
    };
}

/** Seconds since boot now (the writers' clock). */
export function uptimeNow(): number {
    return Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]);
}

/** The wall-clock time (ms) of a writer timestamp. */
export function wallOfUptime(t: number): number {
    return Date.now() - (uptimeNow() - t) * 1000;
}

/**
 * GETs on the API server with the admin client certificate of the kubeconfig (what kubectl
 * uses), over one kept-alive connection: cheap enough to poll several objects every 250 ms.
 */
export class Api {
    private readonly server: URL;
    private readonly agent: https.Agent;

    constructor(file = kubeconfig()) {
        const kc = yaml.load(fs.readFileSync(file, "utf8")) as any;
        const cluster = kc.clusters[0].cluster;
        const user = kc.users[0].user;
        const b64 = (s: string) => Buffer.from(s, "base64");
        this.server = new URL(cluster.server);
        this.agent = new https.Agent({
            keepAlive: true,
            maxSockets: 2,
            ca: b64(cluster["certificate-authority-data"]),
            cert: b64(user["client-certificate-data"]),
            key: b64(user["client-key-data"]),
        });
    }

    /** The object, or undefined when it does not exist. */
    get<T = any>(p: string, timeoutMs = 5000): Promise<T | undefined> {
        return new Promise((resolve, reject) => {
            const req = https.get({ host: this.server.hostname, port: this.server.port, path: p, agent: this.agent, timeout: timeoutMs }, (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (d) => (body += d));
                res.on("end", () => {
                    if (res.statusCode === 404) return resolve(undefined);
                    if (res.statusCode !== 200) return reject(new Error(`GET ${p}: ${res.statusCode} ${body.slice(0, 200)}`));
                    resolve(JSON.parse(body) as T);
                });
            });
            req.on("timeout", () => req.destroy(new Error(`GET ${p}: no answer in ${timeoutMs} ms`)));
            req.on("error", reject);
        });
    }

    close(): void {
        this.agent.destroy();
    }
}

/** A pod's container log as its node wrote it (`/var/log/pods/<ns>_<pod>_<uid>/<container>/`), every restart, oldest first. */
export function podLogOnNode(node: string, namespace: string, pod: string, uid: string, container: string): string {
    const dir = path.join(hostPathOnNode(node, "/var/log/pods"), `${namespace}_${pod}_${uid}`, container);
    if (!fs.existsSync(dir)) return "";
    const files = fs
        .readdirSync(dir)
        .filter((f) => /^\d+\.log$/.test(f))
        .sort((a, b) => parseInt(a) - parseInt(b));
    // CRI format: `<time> <stream> <P|F> <text>`
    return files
        .map((f) => fs.readFileSync(path.join(dir, f), "utf8"))
        .join("")
        .split("\n")
        .map((l) => l.replace(/^\S+ (stdout|stderr) [PF] /, ""))
        .join("\n");
}

/** The JSON lines of a liberator log (one object per line); other lines are skipped. */
export function jsonLines(text: string): Record<string, any>[] {
    const out: Record<string, any>[] = [];
    for (const l of text.split("\n")) {
        if (!l.startsWith("{")) continue;
        try {
            out.push(JSON.parse(l));
        } catch {
            // a line cut off by a power loss
        }
    }
    return out;
}

/** Host pids in the cgroups of a pod (by uid): a pod that still runs anything, on any node. */
export function podProcessesOnHost(uid: string): number[] {
    const out: number[] = [];
    const forms = [`pod${uid}`, `pod${uid.replace(/-/g, "_")}`];
    for (const p of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(p)) continue;
        let cg: string;
        try {
            cg = fs.readFileSync(`/proc/${p}/cgroup`, "utf8");
        } catch {
            continue;
        }
        if (forms.some((f) => cg.includes(`/${f}/`) || cg.includes(`/${f}\n`))) out.push(Number(p));
    }
    return out;
}

/**
 * What a failed drill needs to be understood: nodes (status, taints), pods, events, the
 * liberator's Leases, and its pods' logs (through kubectl, or from the node's disk when the node
 * cannot be reached).
 */
export function drillDiagnostics(namespaces: string[], libNamespace: string): string {
    const out: string[] = ["[failover] diagnostics"];
    const section = (title: string, text: string) => out.push(`--- ${title}`, text.trim());
    const k = (args: string[]) => kubectl(args, { allowFail: true });
    try {
        section(
            "real nodes (node.sh status)",
            realNodes()
                .map((n) => JSON.stringify(nodeStatus(n)))
                .join("\n"),
        );
    } catch (e) {
        section("real nodes", String((e as Error).message));
    }
    section("nodes", k(["get", "nodes", "-o", "wide"]));
    section(
        "node conditions and taints",
        k(["get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.taints} {.status.conditions[?(@.type=='Ready')]}{'\\n'}{end}"]),
    );
    section("pods", k(["get", "pods", "-A", "-o", "wide"]));
    section("events", k(["get", "events", "-A", "--sort-by=.lastTimestamp"]));
    section(`leases in ${libNamespace}`, k(["-n", libNamespace, "get", "leases", "-o", "yaml"]));
    for (const ns of namespaces) section(`pvcs in ${ns}`, k(["-n", ns, "get", "pvc", "-o", "wide"]));
    let pods: any[] = [];
    try {
        pods = kubectlJson<{ items: any[] }>(["-n", libNamespace, "get", "pods"]).items;
    } catch {
        // the API server is the problem: nothing more to read
    }
    for (const p of pods) {
        for (const c of p.spec.containers) {
            let text = k(["-n", libNamespace, "logs", p.metadata.name, "-c", c.name, "--tail=60"]);
            if (!text.trim() && p.spec.nodeName) {
                try {
                    text = podLogOnNode(p.spec.nodeName, libNamespace, p.metadata.name, p.metadata.uid, c.name).split("\n").slice(-60).join("\n");
                } catch (e) {
                    text = `(no log: ${(e as Error).message})`;
                }
            }
            section(`log ${libNamespace}/${p.metadata.name}/${c.name} on ${p.spec.nodeName}`, text);
        }
    }
    return out.join("\n") + "\n";
}
