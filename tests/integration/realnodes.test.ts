// Smoke test of the real nodes (scripts/cluster/node.sh): kubelets, containerd and kube-proxy in
// namespaces of this machine run real containers from the locally built images; the cluster DNS
// resolves StatefulSet pods; a node's power loss and network partition behave like a machine's.
// Not in the default run (jest.config.js): devstack.test.ts and failover.test.ts check all of it
// with the product on top. Run it after changing scripts/cluster:
//   PETS_PLATFORM_SMOKE=1 bash scripts/integration.sh tests/integration/realnodes.test.ts
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import { isReady, kubeconfig, kubectl, kubectlJson, waitFor } from "./support/harness";
import {
    ensureRealCluster,
    healNode,
    hostPathOnNode,
    killNode,
    kubectlExec,
    nodeReadyStatus,
    nodeStatus,
    partitionNode,
    PhaseClock,
    realImages,
    realNodes,
    restoreAllRealNodes,
    startNode,
} from "./support/realnodes";

const NS = "rn-smoke";
let images: ReturnType<typeof realImages>;
let nodes: string[];
const figures: string[] = [];

function apply(...objs: object[]): void {
    execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "apply", "-f", "-"], {
        input: objs.map((o) => JSON.stringify(o)).join("\n---\n"),
        stdio: ["pipe", "ignore", "pipe"],
    });
}
const pod = (name: string) => kubectlJson(["-n", NS, "get", "pod", name]);
const podReady = (name: string) => {
    const items = kubectlJson<{ items: any[] }>(["-n", NS, "get", "pods", "--field-selector", `metadata.name=${name}`]).items;
    return items.length === 1 && !items[0].metadata.deletionTimestamp && isReady(items[0]) ? items[0] : undefined;
};
const restricted = (uid: number) => ({
    podSecurity: { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, seccompProfile: { type: "RuntimeDefault" } },
    container: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true },
});
function podManifest(name: string, spec: Record<string, any>, node?: string): object {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: NS, labels: { app: name } },
        spec: {
            nodeSelector: node ? { "kubernetes.io/hostname": node } : { type: "real" },
            terminationGracePeriodSeconds: 1,
            ...spec,
        },
    };
}

beforeAll(async () => {
    const clock = new PhaseClock("cluster");
    ensureRealCluster(2, { fresh: true, kwokWorkers: 1 });
    clock.mark("up.sh with 2 real nodes + 1 kwok node");
    figures.push(clock.report());
    images = realImages();
    nodes = realNodes();
    kubectl(["create", "namespace", NS]);
    // pods can be created once the namespace's default ServiceAccount exists
    await waitFor("default ServiceAccount", () => kubectl(["-n", NS, "get", "sa", "default", "-o", "name"], { allowFail: true }).trim() !== "", 30_000);
}, 900_000);

afterAll(() => {
    try {
        restoreAllRealNodes();
    } finally {
        kubectl(["delete", "namespace", NS, "--wait=false"], { allowFail: true });
        process.stdout.write(figures.join("\n") + "\n");
    }
});

test("two real nodes are Ready, labelled type=real, with kubelet 1.34.4 on containerd", () => {
    const items = kubectlJson<{ items: any[] }>(["get", "nodes", "-l", "type=real"]).items;
    expect(items.map((n) => n.metadata.name).sort()).toEqual(nodes);
    expect(nodes.length).toBeGreaterThanOrEqual(2);
    for (const n of items) {
        expect(n.status.conditions.find((c: any) => c.type === "Ready").status).toBe("True");
        expect(n.metadata.labels["kubernetes.io/hostname"]).toBe(n.metadata.name);
        expect(n.status.nodeInfo.kubeletVersion).toBe("v1.34.4");
        expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
    }
});

test("a pod from each local image runs on a real node, with the components' security contexts", async () => {
    const secret = crypto.randomBytes(18).toString("base64url");
    const token = crypto.randomBytes(8).toString("hex");
    apply(
        { apiVersion: "v1", kind: "Secret", metadata: { name: "db", namespace: NS }, stringData: { password: secret } },
        podManifest("pause", { containers: [{ name: "pause", image: images.pause, imagePullPolicy: "Never" }] }),
        podManifest("busybox", {
            containers: [{ name: "c", image: images.busybox, imagePullPolicy: "Never", command: ["sh", "-c", "echo busybox-ok; exec sleep 3600"] }],
        }),
        // MySql's pod: baseline profile, password from a Secret, data in a subPath of its volume
        podManifest("mysql", {
            containers: [
                {
                    name: "mysql",
                    image: images.mariadb,
                    imagePullPolicy: "Never",
                    env: [
                        { name: "MYSQL_ROOT_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
                        { name: "MYSQL_DATABASE", value: "smoke" },
                    ],
                    readinessProbe: {
                        exec: { command: ["sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -h 127.0.0.1 -uroot -e "SELECT 1"'] },
                        periodSeconds: 2,
                    },
                    livenessProbe: { exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] }, initialDelaySeconds: 30 },
                    volumeMounts: [{ name: "data", mountPath: "/var/lib/mysql", subPath: "data" }],
                },
            ],
            volumes: [{ name: "data", emptyDir: {} }],
        }),
        // NginxWeb's pod: restricted, uid 101, its own volume at the web root
        podManifest("nginx", {
            securityContext: restricted(101).podSecurity,
            containers: [
                {
                    name: "nginx",
                    image: images.nginx,
                    imagePullPolicy: "Never",
                    ports: [{ containerPort: 8080 }],
                    readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 2 },
                    securityContext: { ...restricted(101).container, readOnlyRootFilesystem: false },
                    volumeMounts: [{ name: "www", mountPath: "/usr/share/nginx/html" }],
                },
            ],
            volumes: [{ name: "www", emptyDir: {} }],
        }),
        // NodeLiberator's container: uid 1000, read-only root; it talks to the API server through
        // the `kubernetes` Service, verifying the certificate with its ServiceAccount's CA.
        podManifest("node", {
            securityContext: restricted(1000).podSecurity,
            restartPolicy: "Never",
            containers: [
                {
                    name: "node",
                    image: images.node,
                    imagePullPolicy: "Never",
                    command: [
                        "node",
                        "-e",
                        `const fs = require("fs"); const sa = "/var/run/secrets/kubernetes.io/serviceaccount";
require("https").get({ host: "kubernetes.default.svc", path: "/api/v1/namespaces/${NS}/pods", ca: fs.readFileSync(sa + "/ca.crt"),
  headers: { authorization: "Bearer " + fs.readFileSync(sa + "/token", "utf8") } }, (r) => {
  const peer = r.socket.remoteAddress; let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => console.log(process.version, r.statusCode, peer, b.slice(0, 40)));
}).on("error", (e) => { console.error(e.message); process.exit(1); });`,
                    ],
                    securityContext: restricted(1000).container,
                },
            ],
        }),
        // LocalPathProvisioner's container: nobody, read-only root
        podManifest("lpp", {
            securityContext: restricted(65534).podSecurity,
            restartPolicy: "Never",
            containers: [
                {
                    name: "lpp",
                    image: images["local-path-provisioner"],
                    imagePullPolicy: "Never",
                    command: ["local-path-provisioner", "--version"],
                    securityContext: restricted(65534).container,
                },
            ],
        }),
    );
    const t0 = Date.now();
    for (const name of ["pause", "busybox", "nginx", "mysql"]) await waitFor(`${name} Ready`, () => podReady(name), 180_000, 1000);
    figures.push(`[images] pause, busybox, nginx, mariadb pods Ready ${((Date.now() - t0) / 1000).toFixed(1)}s after creation`);
    for (const name of ["node", "lpp"])
        await waitFor(`${name} Succeeded`, () => pod(name).status.phase === "Succeeded" || pod(name).status.phase === "Failed", 120_000, 1000);
    for (const name of ["pause", "busybox", "nginx", "mysql", "node", "lpp"]) expect(nodes).toContain(pod(name).spec.nodeName);

    expect(kubectl(["-n", NS, "logs", "busybox"])).toContain("busybox-ok");
    // node: the Service's ClusterIP (kube-proxy) reached the API server, TLS verified, RBAC said no
    expect(pod("node").status.phase).toBe("Succeeded");
    expect(kubectl(["-n", NS, "logs", "node"])).toMatch(/^v22\.\d+\.\d+ 403 10\.96\.0\.1 /);
    expect(kubectl(["-n", NS, "logs", "lpp"])).toContain("v0.0.37");

    // MariaDB: a row written and read back, through the same client the probes use
    const sql = (q: string) => kubectlExec(NS, "mysql", ["sh", "-c", `MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -h 127.0.0.1 -uroot -N -B smoke -e "${q}"`]);
    sql(`CREATE TABLE t (v VARCHAR(32)); INSERT INTO t VALUES ('${token}')`);
    expect(sql("SELECT v FROM t").trim()).toBe(token);
    expect(kubectlExec(NS, "mysql", ["sh", "-c", "id -un; stat -c %U /var/lib/mysql"]).split("\n").slice(0, 2)).toEqual(["root", "mysql"]);

    // nginx as uid 101 serves the file written to its volume, fetched from another pod
    kubectlExec(NS, "nginx", ["sh", "-c", `echo ${token} > /usr/share/nginx/html/index.html; id -u`]);
    const ip = pod("nginx").status.podIP;
    expect(kubectlExec(NS, "busybox", ["wget", "-qO-", `http://${ip}:8080/`]).trim()).toBe(token);
}, 300_000);

test("pods resolve a StatefulSet pod's stable name and the SRV record of its headless Service", async () => {
    apply(
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "web", namespace: NS },
            spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: { app: "web" }, ports: [{ name: "http", port: 8080 }] },
        },
        {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            metadata: { name: "web", namespace: NS },
            spec: {
                serviceName: "web",
                replicas: 2,
                podManagementPolicy: "Parallel",
                selector: { matchLabels: { app: "web" } },
                template: {
                    metadata: { labels: { app: "web" } },
                    spec: {
                        nodeSelector: { type: "real" },
                        terminationGracePeriodSeconds: 1,
                        // one per node: the lookups and fetches below cross nodes
                        affinity: {
                            podAntiAffinity: {
                                requiredDuringSchedulingIgnoredDuringExecution: [
                                    { labelSelector: { matchLabels: { app: "web" } }, topologyKey: "kubernetes.io/hostname" },
                                ],
                            },
                        },
                        containers: [
                            {
                                name: "web",
                                image: images.busybox,
                                imagePullPolicy: "Never",
                                command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"],
                                ports: [{ name: "http", containerPort: 8080 }],
                            },
                        ],
                    },
                },
            },
        },
    );
    await waitFor("web-0 and web-1 Ready", () => podReady("web-0") && podReady("web-1"), 120_000, 1000);
    expect(pod("web-0").spec.nodeName).not.toBe(pod("web-1").spec.nodeName);
    const client = "busybox";
    for (const name of ["web-0", "web-1"]) {
        const fqdn = `${name}.web.${NS}.svc.cluster.local`;
        const ip = pod(name).status.podIP;
        const out = await waitFor(
            `${fqdn} resolves`,
            () => {
                const o = kubectlExec(NS, client, ["nslookup", fqdn]);
                return o.includes(`Address: ${ip}`) ? o : undefined;
            },
            30_000,
            1000,
        );
        expect(out).toContain(ip);
        expect(kubectlExec(NS, client, ["wget", "-qO-", `http://${fqdn}:8080/`]).trim()).toBe(name);
    }
    const srv = kubectlExec(NS, client, ["nslookup", "-type=srv", `_http._tcp.web.${NS}.svc.cluster.local`]);
    expect(srv).toContain(`web-0.web.${NS}.svc.cluster.local`);
    expect(srv).toContain(`web-1.web.${NS}.svc.cluster.local`);
    // the search path of a pod in this namespace
    expect(kubectlExec(NS, client, ["cat", "/etc/resolv.conf"])).toContain(`search ${NS}.svc.cluster.local svc.cluster.local cluster.local`);
}, 180_000);

test("a hostPID pod sees only its own node's processes", async () => {
    const node = nodes[0];
    apply(
        podManifest(
            "procs",
            {
                hostPID: true,
                containers: [{ name: "c", image: images.busybox, imagePullPolicy: "Never", command: ["sleep", "3600"] }],
            },
            node,
        ),
    );
    await waitFor("procs Ready", () => podReady("procs"), 60_000, 1000);
    const comms = kubectlExec(NS, "procs", ["sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null; true"]).split("\n");
    expect(comms.filter((c) => c === "kubelet")).toHaveLength(1);
    expect(comms.filter((c) => c === "containerd")).toHaveLength(1);
    expect(comms.filter((c) => c === "kube-proxy")).toHaveLength(1);
}, 90_000);

test("a node's power loss: NotReady; booted again, its pod comes back with its hostPath data", async () => {
    const node = nodes[0];
    const token = crypto.randomBytes(8).toString("hex");
    apply(
        podManifest(
            "keeper",
            {
                containers: [
                    {
                        name: "c",
                        image: images.busybox,
                        imagePullPolicy: "Never",
                        command: ["sh", "-c", 'echo "boot $(cat /proc/sys/kernel/random/boot_id)" >> /data/boots; exec sleep 3600'],
                        volumeMounts: [{ name: "data", mountPath: "/data" }],
                    },
                ],
                volumes: [{ name: "data", hostPath: { path: "/opt/local-path-provisioner/smoke-keeper", type: "DirectoryOrCreate" } }],
            },
            node,
        ),
    );
    await waitFor("keeper Ready", () => podReady("keeper"), 60_000, 1000);
    kubectlExec(NS, "keeper", ["sh", "-c", `echo ${token} > /data/token`]);
    const onHost = hostPathOnNode(node, "/opt/local-path-provisioner/smoke-keeper");
    expect(fs.readFileSync(`${onHost}/token`, "utf8").trim()).toBe(token);
    const before = pod("keeper").status.containerStatuses[0];

    const clock = new PhaseClock(`power loss of ${node}`);
    killNode(node);
    clock.mark("all processes gone");
    expect(nodeStatus(node).running).toBe(false);
    await waitFor(`${node} NotReady`, () => nodeReadyStatus(node) !== "True", 120_000, 500);
    clock.mark("NotReady");
    startNode(node);
    clock.mark("booted");
    await waitFor(`${node} Ready`, () => nodeReadyStatus(node) === "True", 120_000, 500);
    clock.mark("Ready");
    await waitFor(
        "keeper Ready again",
        () => {
            const p = podReady("keeper");
            return p && p.status.containerStatuses[0].containerID !== before.containerID ? p : undefined;
        },
        120_000,
        500,
    );
    clock.mark("pod Running again");
    figures.push(clock.report());
    expect(kubectlExec(NS, "keeper", ["cat", "/data/token"]).trim()).toBe(token);
    expect(fs.readFileSync(`${onHost}/boots`, "utf8").trim().split("\n")).toHaveLength(2);
}, 300_000);

test("a partitioned node goes NotReady while its container keeps running; healed, it is Ready", async () => {
    const node = nodes[1];
    apply(
        podManifest(
            "writer",
            {
                containers: [
                    {
                        name: "c",
                        image: images.busybox,
                        imagePullPolicy: "Never",
                        command: ["sh", "-c", 'i=0; while :; do i=$((i+1)); echo "$i $(cut -d" " -f1 /proc/uptime)" >> /data/ticks; usleep 200000; done'],
                        volumeMounts: [{ name: "data", mountPath: "/data" }],
                    },
                ],
                volumes: [{ name: "data", hostPath: { path: "/opt/local-path-provisioner/smoke-writer", type: "DirectoryOrCreate" } }],
            },
            node,
        ),
    );
    await waitFor("writer Ready", () => podReady("writer"), 60_000, 1000);
    const containerID = pod("writer").status.containerStatuses[0].containerID;
    const ticks = hostPathOnNode(node, "/opt/local-path-provisioner/smoke-writer/ticks");
    const lines = () => fs.readFileSync(ticks, "utf8").trim().split("\n").length;

    const clock = new PhaseClock(`partition of ${node}`);
    partitionNode(node);
    expect(nodeStatus(node)).toMatchObject({ running: true, partitioned: true });
    await waitFor(`${node} NotReady`, () => nodeReadyStatus(node) !== "True", 120_000, 500);
    clock.mark("NotReady");
    const atNotReady = lines();
    await new Promise((r) => setTimeout(r, 3000));
    const later = lines();
    clock.mark(`container still writing (${later - atNotReady} lines in 3 s)`);
    expect(later - atNotReady).toBeGreaterThanOrEqual(5);
    healNode(node);
    await waitFor(`${node} Ready`, () => nodeReadyStatus(node) === "True", 120_000, 500);
    clock.mark("healed: Ready");
    figures.push(clock.report());
    // the same container all along
    const after = pod("writer").status.containerStatuses[0];
    expect(after.containerID).toBe(containerID);
    expect(after.restartCount).toBe(0);
}, 300_000);
