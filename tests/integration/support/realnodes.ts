// Real nodes of the test cluster (scripts/cluster/node.sh, README there): each is a kubelet +
// containerd + kube-proxy in its own network, PID, mount and UTS namespaces on this machine,
// running real containers from the images scripts/images/build.sh made. These helpers power
// nodes off and on, cut and restore their network, and run commands in their pods. Each is
// idempotent; down.sh removes whatever they leave.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { kubeconfig, kubectlJson, root } from "./harness";

export interface RealNode {
    /** Kubernetes node name, e.g. pets-real-1 (labels type=real, kubernetes.io/hostname). */
    name: string;
    /** Node IP on the host bridge; the kubelet serves on :10250 there. */
    ip: string;
    podCIDR: string;
    /** Network namespace (`ip netns exec <netns> …`). */
    netns: string;
    /** Host end of the node's veth: down = partitioned. */
    hostVeth: string;
    /** The node's disks on the host: kubelet/, containerd/, local-path/ (= /opt/local-path-provisioner on the node), … */
    dir: string;
}

/** What up.sh wrote to $PETS_CLUSTER_DIR/real-nodes.json. */
export interface RealNodesInfo {
    clusterDir: string;
    /** Host directory mounted at `sharedPathOnNodes` on every node: the stand-in for NFS. */
    sharedDir: string;
    sharedPathOnNodes: string;
    /** The cluster DNS (CoreDNS on the bridge), the kubelets' clusterDNS. */
    dnsIP: string;
    netPrefix: string;
    /** kube-controller-manager's --node-monitor-grace-period (PETS_NODE_MONITOR_GRACE_PERIOD). */
    nodeMonitorGracePeriodSeconds: number;
    /** The real kubelets' nodeLeaseDurationSeconds (renewed every quarter of it). */
    kubeletLeaseDurationSeconds: number;
    /** Image refs imported into every real node's containerd, by name: pause, busybox, mariadb, nginx, node, local-path-provisioner. */
    images: Record<"pause" | "busybox" | "mariadb" | "nginx" | "node" | "local-path-provisioner", string>;
    nodes: RealNode[];
}

const clusterDir = () => process.env.PETS_CLUSTER_DIR ?? path.join(os.homedir(), ".cache", "pulumi-pets-cluster");
const nodeScript = path.join(root, "scripts", "cluster", "node.sh");

/**
 * Starts (or reuses) the test cluster with `count` real nodes next to `kwokWorkers` kwok workers
 * (PETS_REAL_NODES / PETS_CLUSTER_WORKERS for up.sh). `fresh` starts it anew (empty etcd, empty
 * node disks). `gracePeriod`: the controller manager's node-monitor grace period, e.g. "50s"
 * (Kubernetes' own; up.sh's default is 20s). Returns the kubeconfig path; up.sh prints its phase
 * times on stderr.
 */
export function ensureRealCluster(count = 2, opts: { fresh?: boolean; kwokWorkers?: number; gracePeriod?: string } = {}): string {
    // explicit env: jest's process.env is a copy that child processes do not inherit
    const env = {
        ...process.env,
        PETS_REAL_NODES: String(count),
        ...(opts.kwokWorkers !== undefined ? { PETS_CLUSTER_WORKERS: String(opts.kwokWorkers) } : {}),
        ...(opts.gracePeriod !== undefined ? { PETS_NODE_MONITOR_GRACE_PERIOD: opts.gracePeriod } : {}),
    };
    const script = (name: string) => path.join(root, "scripts", "cluster", name);
    if (opts.fresh) execFileSync("bash", [script("down.sh")], { stdio: ["ignore", "inherit", "inherit"], env });
    const out = execFileSync("bash", [script("up.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], env });
    process.env.PETS_KUBECONFIG = out.trim().split("\n").pop();
    return process.env.PETS_KUBECONFIG!;
}

export function realNodesInfo(): RealNodesInfo {
    const file = path.join(clusterDir(), "real-nodes.json");
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: start the cluster with PETS_REAL_NODES=N (ensureRealCluster)`);
    return JSON.parse(fs.readFileSync(file, "utf8")) as RealNodesInfo;
}

/** Names of the real nodes (pets-real-1..N). */
export function realNodes(): string[] {
    return realNodesInfo().nodes.map((n) => n.name);
}

export function realImages(): RealNodesInfo["images"] {
    return realNodesInfo().images;
}

function realNode(name: string): RealNode {
    const n = realNodesInfo().nodes.find((x) => x.name === name);
    if (!n) throw new Error(`${name} is not a real node (real nodes: ${realNodes().join(", ")})`);
    return n;
}

function nodeSh(args: string[]): string {
    return execFileSync("bash", [nodeScript, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PETS_CLUSTER_DIR: clusterDir() },
    });
}

/** Power loss: SIGKILL to the node's PID 1; returns once every process of the node is gone. */
export function killNode(name: string): void {
    realNode(name);
    nodeSh(["kill", name]);
}

/** Boots the node again with the same disks (containerd's images and containers, kubelet dir, hostPath data). No-op when running. */
export function startNode(name: string): void {
    realNode(name);
    nodeSh(["start", name]);
}

/** Cuts the node's network (its processes keep running): the kubelet can no longer reach the API server. */
export function partitionNode(name: string): void {
    realNode(name);
    nodeSh(["partition", name]);
}

export function healNode(name: string): void {
    realNode(name);
    nodeSh(["heal", name]);
}

export interface NodeStatus {
    name: string;
    running: boolean;
    partitioned: boolean;
    /** Host pid of the node's PID 1, when running. */
    pid?: number;
}

export function nodeStatus(name: string): NodeStatus {
    const [n, run, net, pid] = nodeSh(["status", name]).trim().split(/\s+/);
    return { name: n, running: run === "running", partitioned: net === "partitioned", ...(pid && pid !== "-" ? { pid: Number(pid) } : {}) };
}

/** Boots every stopped real node and heals every partitioned one (for afterAll). */
export function restoreAllRealNodes(): void {
    if (!fs.existsSync(path.join(clusterDir(), "real-nodes.json"))) return; // no real nodes (any more)
    for (const n of realNodes()) {
        healNode(n);
        startNode(n);
    }
}

/** Host path of a path on a node: /opt/local-path-provisioner/…, /var/lib/kubelet/…, /srv/pets-shared/… . */
export function hostPathOnNode(name: string, pathOnNode: string): string {
    const info = realNodesInfo();
    const map: [string, string][] = [
        ["/opt/local-path-provisioner", "local-path"],
        ["/var/lib/kubelet", "kubelet"],
        ["/var/lib/containerd", "containerd"],
        ["/var/log/pods", "pod-logs"],
        ["/var/lib/pets-node", "etc"],
    ];
    if (pathOnNode === info.sharedPathOnNodes || pathOnNode.startsWith(info.sharedPathOnNodes + "/"))
        return path.join(info.sharedDir, pathOnNode.slice(info.sharedPathOnNodes.length));
    for (const [onNode, sub] of map) {
        if (pathOnNode === onNode || pathOnNode.startsWith(onNode + "/")) return path.join(realNode(name).dir, sub, pathOnNode.slice(onNode.length));
    }
    throw new Error(`${pathOnNode} is not on one of the node's own disks (${map.map((m) => m[0]).join(", ")}, ${info.sharedPathOnNodes})`);
}

/** `kubectl exec` in a pod (through the API server and the node's kubelet); returns stdout. */
export function kubectlExec(namespace: string, pod: string, cmd: string[], opts: { container?: string; input?: string; timeoutMs?: number } = {}): string {
    const args = ["--kubeconfig", kubeconfig(), "-n", namespace, "exec", ...(opts.input !== undefined ? ["-i"] : []), pod];
    if (opts.container) args.push("-c", opts.container);
    try {
        return execFileSync("kubectl", [...args, "--", ...cmd], {
            encoding: "utf8",
            input: opts.input,
            stdio: [opts.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
            timeout: opts.timeoutMs ?? 60_000,
        });
    } catch (e) {
        const err = e as { stderr?: string; stdout?: string; message: string };
        throw new Error(
            `kubectl exec ${namespace}/${pod} -- ${cmd.join(" ")} failed: ${err.stderr || err.message}${err.stdout ? `\nstdout: ${err.stdout}` : ""}`,
        );
    }
}

export function nodeReadyStatus(name: string): "True" | "False" | "Unknown" | undefined {
    const n = kubectlJson(["get", "node", name]);
    return (n.status?.conditions ?? []).find((c: any) => c.type === "Ready")?.status;
}

/**
 * Phase timing for drills: `mark("NotReady")` records the time since the previous mark and since
 * the start; `report()` is one line, e.g. `[kill] NotReady +21.3s (21.3s) | Ready +9.8s (31.1s)`.
 */
export class PhaseClock {
    private readonly t0 = Date.now();
    private last = this.t0;
    readonly phases: { name: string; sincePreviousMs: number; sinceStartMs: number }[] = [];

    constructor(readonly label: string) {}

    mark(name: string): number {
        const now = Date.now();
        const p = { name, sincePreviousMs: now - this.last, sinceStartMs: now - this.t0 };
        this.phases.push(p);
        this.last = now;
        return p.sincePreviousMs;
    }

    report(): string {
        const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
        return `[${this.label}] ` + this.phases.map((p) => `${p.name} +${s(p.sincePreviousMs)} (${s(p.sinceStartMs)})`).join(" | ");
    }

    print(): void {
        process.stdout.write(this.report() + "\n");
    }
}
