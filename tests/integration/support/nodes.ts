// Node failure for real: a kwok process is a node's kubelet; killing it stops the node's status
// updates and Lease renewals, and the node lifecycle controller marks the node NotReady. The
// liberator runs as real processes of its compiled code: the controller with a token of the
// component's controller ServiceAccount, and one agent per node with a token bound to the
// DaemonSet's pod on that node (so the component's admission policy applies to it for real).
// kwok runs no containers and no kubelet process, so these agents cannot arm their self-fence.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { kubectl, kubectlJson, root, stopProcess } from "./harness";
import { AGENT_NODE_FLAGS, CONTROLLER_NODE_FLAGS } from "../../../components/liberatorspecs";

const clusterDir = () => process.env.PETS_CLUSTER_DIR ?? path.join(os.homedir(), ".cache", "pulumi-pets-cluster");
const killed = new Map<string, string[]>();

/** Kills the node's kwok process (SIGKILL: a power cut, not a shutdown). */
export function killNode(node: string): void {
    const pidFile = path.join(clusterDir(), "pids", `kwok-${node}.pid`);
    const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
    if (!fs.existsSync(`/proc/${pid}`)) throw new Error(`kwok of ${node} (pid ${pid}) is not running`);
    killed.set(node, fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean));
    process.kill(pid, "SIGKILL");
}

/** Starts the node's kwok process again with its original command line. */
export function restoreNode(node: string): void {
    const argv = killed.get(node);
    if (!argv) throw new Error(`node ${node} was not killed by this test`);
    // Through setsid, in a session of its own like up.sh's processes; setsid execs in place, so
    // the pid is kwok's and down.sh stops it.
    const log = fs.openSync(path.join(clusterDir(), "logs", `kwok-${node}.log`), "a");
    const child = spawn("setsid", argv, { stdio: ["ignore", log, log] });
    child.unref();
    fs.closeSync(log);
    fs.writeFileSync(path.join(clusterDir(), "pids", `kwok-${node}.pid`), String(child.pid));
    killed.delete(node);
}

export function nodeReady(node: string): boolean {
    const n = kubectlJson(["get", "node", node]);
    return (n.status.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
}

export function taints(node: string): string[] {
    const n = kubectlJson(["get", "node", node]);
    return (n.spec.taints ?? []).map((t: any) => `${t.key}=${t.value ?? ""}:${t.effect}`);
}

export const OUT_OF_SERVICE = "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute";

/** A kubeconfig holding a token of the liberator's ServiceAccount: the component's RBAC, for real. */
export function serviceAccountKubeconfig(namespace: string, serviceAccount: string, file: string): string {
    const token = kubectl(["-n", namespace, "create", "token", serviceAccount, "--duration", "2h"]).trim();
    const admin = kubectlJson(["config", "view", "--raw", "--minify"]);
    const cluster = admin.clusters[0].cluster;
    const cfg = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "pets", cluster }],
        users: [{ name: serviceAccount, user: { token } }],
        contexts: [{ name: "liberator", context: { cluster: "pets", user: serviceAccount, namespace } }],
        "current-context": "liberator",
    };
    fs.writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    return file;
}

export interface Replica {
    node?: string;
    child: ChildProcess;
    log: string;
}

function compiled(file: string): string {
    const main = path.join(root, "dist", "liberator", file);
    if (!fs.existsSync(main))
        execFileSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: root });
    return main;
}

/** Which node binary runs a liberator process, and its flags (the benchmarks vary both). */
export interface NodeRuntime {
    /** @default this process's node */
    node?: string;
    /** @default the flags the component ships (AGENT_NODE_FLAGS, CONTROLLER_NODE_FLAGS) */
    nodeFlags?: string[];
}

/** One controller process (as one replica of the Deployment). */
export function startController(kubeconfigFile: string, flags: string[], logDir: string, identity = "controller-0", runtime: NodeRuntime = {}): Replica {
    const log = path.join(logDir, `${identity}.log`);
    const fd = fs.openSync(log, "a");
    const child = spawn(
        runtime.node ?? process.execPath,
        [
            ...(runtime.nodeFlags ?? CONTROLLER_NODE_FLAGS),
            compiled("main.js"),
            `--kubeconfig=${kubeconfigFile}`,
            `--identity=${identity}`,
            "--metrics-address=127.0.0.1:0",
            ...flags,
        ],
        { stdio: ["ignore", fd, fd] },
    );
    return { child, log };
}

/**
 * One agent process per node, each with a token bound to the component's DaemonSet pod on that
 * node (the only kind of token the admission policy accepts), the generated peer key, and peers
 * on 127.0.0.1.
 */
export function startAgents(
    nodes: string[],
    namespace: string,
    daemonSet: string,
    serviceAccount: string,
    env: Record<string, string>,
    logDir: string,
    runtime: NodeRuntime = {},
): Replica[] {
    const key = path.join(logDir, "peer-key");
    const secret = kubectlJson(["-n", namespace, "get", "secret", `${daemonSet}-peer-key`]);
    fs.writeFileSync(key, Buffer.from(secret.data.key, "base64"), { mode: 0o600 });
    const pods = kubectlJson<{ items: any[] }>(["-n", namespace, "get", "pods", "-l", "app.kubernetes.io/name=liberator"]).items;
    return nodes.map((node) => {
        const pod = pods.find((p) => p.spec.nodeName === node);
        if (!pod) throw new Error(`no agent pod of ${daemonSet} on ${node}`);
        const token = kubectl([
            "-n",
            namespace,
            "create",
            "token",
            serviceAccount,
            "--duration",
            "2h",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            pod.metadata.name,
            "--bound-object-uid",
            pod.metadata.uid,
        ]).trim();
        const kc = tokenKubeconfig(token, namespace, path.join(logDir, `kubeconfig-agent-${node}`));
        const log = path.join(logDir, `agent-${node}.log`);
        const fd = fs.openSync(log, "a");
        const child = spawn(runtime.node ?? process.execPath, [...(runtime.nodeFlags ?? AGENT_NODE_FLAGS), compiled("agent.js"), `--kubeconfig=${kc}`], {
            stdio: ["ignore", fd, fd],
            env: {
                PATH: process.env.PATH ?? "",
                NODE_NAME: node,
                POD_NAME: pod.metadata.name,
                HOST_IP: "127.0.0.1",
                LIBERATOR_LISTEN_ADDRESS: "127.0.0.1:0",
                LIBERATOR_PEER_KEY_FILE: key,
                LIBERATOR_TOKEN_FILE: path.join(logDir, "none"),
                ...env,
            },
        });
        return { node, child, log };
    });
}

function tokenKubeconfig(token: string, namespace: string, file: string): string {
    const admin = kubectlJson(["config", "view", "--raw", "--minify"]);
    const cfg = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "pets", cluster: admin.clusters[0].cluster }],
        users: [{ name: "sa", user: { token } }],
        contexts: [{ name: "liberator", context: { cluster: "pets", user: "sa", namespace } }],
        "current-context": "liberator",
    };
    fs.writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    return file;
}

export async function stopLiberators(replicas: Replica[]): Promise<void> {
    await Promise.all(replicas.map((r) => stopProcess(r.child)));
}

export function events(node: string): { reason: string; message: string }[] {
    return kubectlJson<{ items: any[] }>([
        "get",
        "events",
        "-n",
        "default",
        "--field-selector",
        `involvedObject.kind=Node,involvedObject.name=${node}`,
    ]).items.map((e) => ({
        reason: e.reason,
        message: e.message,
    }));
}

/**
 * What a failed drill needs to be understood afterwards: the pod, its node, recent events, and a
 * copy of the control plane's logs (the next cluster start truncates them).
 */
export function diagnose(namespace: string, pod: string, node: string, logDir: string): string {
    const out: string[] = [`[drill] diagnostics for ${namespace}/${pod} on ${node}`];
    const section = (title: string, args: string[]) => out.push(`--- ${title}`, kubectl(args, { allowFail: true }).trim());
    section("pods", ["-n", namespace, "get", "pods", "-o", "wide"]);
    section(`pod ${pod}`, ["-n", namespace, "get", "pod", pod, "-o", "yaml"]);
    section("pvcs", ["-n", namespace, "get", "pvc", "-o", "wide"]);
    section(`node ${node} taints and conditions`, ["get", "node", node, "-o", "jsonpath={.spec.taints}{'\\n'}{.status.conditions}"]);
    section("events", ["get", "events", "-A", "--sort-by=.lastTimestamp"]);
    try {
        const dest = path.join(logDir, "cluster-logs");
        fs.cpSync(path.join(clusterDir(), "logs"), dest, { recursive: true });
        out.push(`--- cluster logs copied to ${dest}`);
    } catch (e) {
        out.push(`--- could not copy cluster logs: ${(e as Error).message}`);
    }
    return out.join("\n") + "\n";
}
