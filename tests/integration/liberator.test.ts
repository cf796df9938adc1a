// Node-failure drills on the real control plane with the real liberator code: the component
// deployed by the real pulumi CLI (RBAC, admission policy, peer key), the controller and one
// agent per node as processes with the component's ServiceAccount tokens.
//
// kwok runs no containers and no kubelet process, so the agents here cannot arm their self-fence;
// with the explicit unsafe opt-in these drills run the delete-pvc path and the storm guard on the
// real API server. That the controller refuses a node nothing fences (an unarmed agent), the
// drills that prove "never two copies" with the defaults, and the failover timing run on real
// nodes with bytes: tests/integration/failover.test.ts (it superseded the kwok drills of those).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createLocalPVs, ensureCluster, isReady, kubectlJson, TestStack, waitFor, workerNodes } from "./support/harness";
import {
    diagnose,
    events,
    killNode,
    nodeReady,
    OUT_OF_SERVICE,
    Replica,
    restoreNode,
    serviceAccountKubeconfig,
    startAgents,
    startController,
    stopLiberators,
    taints,
} from "./support/nodes";

const NS = "pets";
const LIB_NS = "tkr-system";
/** Shrunk agent timings (H 2 s, T_sf 6 s, T_exec 2 s) and matching controller settings. */
const AGENT_ENV = { LIBERATOR_RENEW_INTERVAL: "2s", LIBERATOR_SELF_FENCE_TIMEOUT: "6s", LIBERATOR_FENCE_EXEC: "2s", LIBERATOR_SELF_FENCE: "false" };
const FLAGS = [
    "--renew-interval=2s",
    "--margin=1s",
    "--settle=6s",
    "--storm-cooldown=10s",
    "--pod-recheck=2s",
    "--release-local-volumes",
    "--lease-duration=6s",
    "--renew-deadline=4s",
    "--retry-period=1s",
    `--agent-selector=app.kubernetes.io/name=liberator`,
];
let stack: TestStack;
let logDir: string;
let controllerKubeconfig: string;
let procs: Replica[] = [];
const figures: Record<string, number | string> = {};

function web1(): any | undefined {
    return kubectlJson<{ items: any[] }>(["-n", NS, "get", "pods", "--field-selector", "metadata.name=web-1"]).items[0];
}

async function startLiberator(flags: string[]): Promise<void> {
    await stopLiberators(procs);
    const agents = startAgents(workerNodes(), LIB_NS, "liberator", "high-availability-agent", AGENT_ENV, logDir);
    const controller = startController(controllerKubeconfig, [...FLAGS, ...flags], logDir);
    procs = [controller, ...agents];
    // Every agent renewed, and the settle period passed.
    await waitFor(
        "every agent's heartbeat Lease",
        () =>
            workerNodes().every((n) => kubectlJson<{ items: any[] }>(["-n", LIB_NS, "get", "leases"]).items.some((l) => l.metadata.name === `heartbeat.${n}`)),
        60_000,
    );
    await new Promise((r) => setTimeout(r, 8000));
}

/** Power loss: the node's kubelet (kwok) and its agent die at once. */
function powerOff(node: string): number {
    const t0 = Date.now();
    killNode(node);
    procs.find((r) => r.node === node)?.child.kill("SIGKILL");
    return t0;
}

beforeAll(async () => {
    ensureCluster({ fresh: true });
    createLocalPVs(workerNodes(), 3, "local-path");
    stack = new TestStack("drill", {
        "pets:web": { replicas: 3, localVolumePolicy: "delete-pvc" },
        "pets:mysql": { enabled: false },
        "pets:liberator": { enabled: true, releaseLocalVolumes: true },
    });
    await stack.init();
    await stack.up();
    logDir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-drill-"));
    controllerKubeconfig = serviceAccountKubeconfig(LIB_NS, "high-availability", path.join(logDir, "kubeconfig"));
}, 600_000);

afterAll(async () => {
    await stopLiberators(procs);
    process.stdout.write(`[drill] ${JSON.stringify(figures)} (liberator logs: ${logDir})\n`);
    stack?.cleanup();
});

test("unsafeNoFencing: a Warning at start; web-1 back on another node with a fresh PVC (delete-pvc, after the remediation)", async () => {
    await startLiberator(["--unsafe-no-fencing"]);
    await waitFor("the UnsafeNoFencing Warning", () => {
        const ev = kubectlJson<{ items: any[] }>(["-n", LIB_NS, "get", "events", "--field-selector", "reason=UnsafeNoFencing"]).items;
        return ev.length > 0 && ev[0].type === "Warning";
    });
    const pod = web1();
    const node = pod.spec.nodeName;
    const oldPvc = kubectlJson(["-n", NS, "get", "pvc", "www-web-1"]);
    const seen: { uid: string; at: number; created: string }[] = [];
    let watching = true;
    const watcher = (async () => {
        while (watching) {
            const p = web1();
            if (p) seen.push({ uid: p.metadata.uid, at: Date.now(), created: p.metadata.creationTimestamp });
            await new Promise((r) => setTimeout(r, 250));
        }
    })();
    const t0 = powerOff(node);
    await waitFor(`${node} NotReady`, () => !nodeReady(node), 120_000);
    figures.unsafeNotReadySeconds = (Date.now() - t0) / 1000;
    const back = await waitFor(
        "web-1 Ready on another node",
        () => {
            const p = web1();
            return p && p.metadata.uid !== pod.metadata.uid && p.spec.nodeName && p.spec.nodeName !== node && isReady(p) ? p : undefined;
        },
        240_000,
        500,
    ).catch((e) => {
        process.stdout.write(diagnose(NS, "web-1", node, logDir));
        throw e;
    });
    figures.unsafeFailoverSeconds = (Date.now() - t0) / 1000;
    watching = false;
    await watcher;
    const taint = kubectlJson(["get", "node", node]).spec.taints.find((t: any) => t.key === "node.kubernetes.io/out-of-service");
    figures.unsafeTaintAfterKillSeconds = (Date.parse(taint.timeAdded) - t0) / 1000;
    const firstNew = seen.find((s) => s.uid !== pod.metadata.uid)!;
    expect(Date.parse(firstNew.created)).toBeGreaterThanOrEqual(Date.parse(taint.timeAdded));
    const lastOld = Math.max(...seen.filter((s) => s.uid === pod.metadata.uid).map((s) => s.at));
    expect(lastOld).toBeLessThan(firstNew.at);
    const lease = kubectlJson(["-n", LIB_NS, "get", "lease", `heartbeat.${node}`]);
    expect(lease.metadata.annotations["liberator.pets/claimed-by"]).toBe("controller-0");
    const newPvc = kubectlJson(["-n", NS, "get", "pvc", "www-web-1"]);
    expect(newPvc.metadata.uid).not.toBe(oldPvc.metadata.uid); // opted in: fresh storage elsewhere, after the remediation
    expect(back.spec.nodeName).not.toBe(node);
    expect(events(node).map((e) => e.reason)).toEqual(expect.arrayContaining(["UnsafeRemediation", "Claimed", "OutOfServiceTainted", "PVCDeleted"]));

    // The node comes back: the taint comes off and the claim is released.
    restoreNode(node);
    await waitFor(
        `the taint removed from ${node} and its claim released`,
        () => {
            if (!nodeReady(node) || taints(node).includes(OUT_OF_SERVICE)) return false;
            return !kubectlJson(["-n", LIB_NS, "get", "lease", `heartbeat.${node}`]).metadata.annotations?.["liberator.pets/claimed-by"];
        },
        120_000,
        1000,
    );
}, 600_000);

test("storm guard: two of three workers down at once, the liberator refuses and says why", async () => {
    await startLiberator(["--unsafe-no-fencing"]);
    const [a, b] = workerNodes();
    for (const n of [a, b]) powerOff(n);
    await waitFor("a TooManyUnhealthy event", () => [a, b].some((n) => events(n).some((e) => e.reason === "TooManyUnhealthy")), 150_000, 1000);
    await new Promise((r) => setTimeout(r, 15_000));
    expect(taints(a)).not.toContain(OUT_OF_SERVICE);
    expect(taints(b)).not.toContain(OUT_OF_SERVICE);
    figures.stormMessage = [a, b].flatMap(events).find((e) => e.reason === "TooManyUnhealthy")!.message;
    await stopLiberators(procs);
}, 300_000);
