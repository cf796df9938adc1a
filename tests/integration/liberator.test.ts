// Node-failure drills on the real control plane with the real liberator code.
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
    startLiberators,
    stopLiberators,
    taints,
} from "./support/nodes";

const NS = "pets";
const UNHEALTHY_AFTER = 10;
const FLAGS = [
    `--unhealthy-after=${UNHEALTHY_AFTER}s`,
    "--heartbeat-interval=3s",
    "--release-local-volumes",
    "--force-delete-pods",
    "--lease-duration=6s",
    "--renew-deadline=4s",
    "--retry-period=1s",
];
let stack: TestStack;
let logDir: string;
let saKubeconfig: string;
let replicas: Replica[] = [];
const figures: Record<string, number | string> = {};

function web1(): any | undefined {
    const items = kubectlJson<{ items: any[] }>(["-n", NS, "get", "pods", "--field-selector", "metadata.name=web-1"]).items;
    return items[0];
}

beforeAll(async () => {
    ensureCluster({ fresh: true });
    createLocalPVs(workerNodes(), 3, "local-path");
    stack = new TestStack("drill", {
        "pets:web": { replicas: 3, localVolumePolicy: "delete-pvc" },
        "pets:mysql": { enabled: false },
        "pets:liberator": {
            enabled: true,
            unhealthyAfterSeconds: UNHEALTHY_AFTER,
            heartbeatIntervalSeconds: 3,
            releaseLocalVolumes: true,
            forceDeletePods: true,
        },
    });
    await stack.init();
    await stack.up();
    logDir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-drill-"));
    saKubeconfig = serviceAccountKubeconfig("tkr-system", "high-availability", path.join(logDir, "kubeconfig"));
}, 600_000);

afterAll(async () => {
    await stopLiberators(replicas);
    process.stdout.write(`[drill] ${JSON.stringify(figures)} (liberator logs: ${logDir})\n`);
    stack?.cleanup();
});

/** Brings the node back; its kubelet (kwok) reports its pods Ready again, as a real one would. */
async function recover(node: string): Promise<void> {
    try {
        restoreNode(node);
        await waitFor(`${node} Ready again`, () => nodeReady(node), 120_000);
        // Every replica, not only web-1: a neighbour left not Ready on the same node would hold
        // back an OrderedReady StatefulSet and the next drill with it.
        await waitFor(
            "web-0, web-1 and web-2 Ready again",
            () => {
                const pods = kubectlJson<{ items: any[] }>(["-n", NS, "get", "pods", "-l", "app.kubernetes.io/instance=web"]).items;
                return pods.length === 3 && pods.every((p) => !p.metadata.deletionTimestamp && isReady(p));
            },
            120_000,
        );
    } catch (e) {
        process.stdout.write(diagnose(NS, "web-1", node, logDir));
        throw e;
    }
}

test("baseline without the liberator: the pod on a dead node stays stuck", async () => {
    const pod = web1();
    const node = pod.spec.nodeName;
    const t0 = Date.now();
    killNode(node);
    await waitFor(`${node} NotReady`, () => !nodeReady(node), 120_000);
    figures.notReadyAfterKillSeconds = (Date.now() - t0) / 1000;
    // Well past what the liberator would need: nobody frees web-1.
    await new Promise((r) => setTimeout(r, (UNHEALTHY_AFTER + 20) * 1000));
    const after = web1();
    expect(after.metadata.uid).toBe(pod.metadata.uid);
    expect(after.spec.nodeName).toBe(node);
    expect(taints(node)).not.toContain(OUT_OF_SERVICE);
    await recover(node);
}, 300_000);

test("dry run reports the failed node and changes nothing", async () => {
    const pod = web1();
    const node = pod.spec.nodeName;
    replicas = startLiberators(workerNodes(), saKubeconfig, [...FLAGS, "--dry-run"], logDir);
    await new Promise((r) => setTimeout(r, 5000)); // heartbeats renewed once
    killNode(node);
    const dead = replicas.find((r) => r.node === node)!;
    dead.child.kill("SIGKILL");
    await waitFor("a DryRun event on the node", () => events(node).some((e) => e.reason === "DryRun"), 150_000, 1000);
    expect(taints(node)).not.toContain(OUT_OF_SERVICE);
    expect(web1().metadata.uid).toBe(pod.metadata.uid);
    await stopLiberators(replicas);
    await recover(node);
}, 300_000);

test("with the liberator, web-1 comes back on another node, and never twice", async () => {
    const pod = web1();
    const node = pod.spec.nodeName;
    const oldPvc = kubectlJson(["-n", NS, "get", "pvc", "www-web-1"]);
    replicas = startLiberators(workerNodes(), saKubeconfig, FLAGS, logDir);
    await new Promise((r) => setTimeout(r, 5000));

    // Watch web-1 the whole time: at most one object, and a new one only once the old node is
    // fenced off by the out-of-service taint.
    const seen: { uid: string; node: string; running: boolean; at: number; created: string }[] = [];
    let taintedAt = 0;
    let watching = true;
    const watcher = (async () => {
        while (watching) {
            // The taint first: a new pod seen in the same pass was created after this check.
            if (!taintedAt && taints(node).includes(OUT_OF_SERVICE)) taintedAt = Date.now();
            const p = web1();
            if (p) seen.push({ uid: p.metadata.uid, node: p.spec.nodeName, running: isReady(p), at: Date.now(), created: p.metadata.creationTimestamp });
            await new Promise((r) => setTimeout(r, 250));
        }
    })();

    const t0 = Date.now();
    killNode(node);
    replicas.find((r) => r.node === node)!.child.kill("SIGKILL");
    const back = await waitFor(
        "web-1 Ready on another node",
        () => {
            const p = web1();
            return p && p.metadata.uid !== pod.metadata.uid && p.spec.nodeName && p.spec.nodeName !== node && isReady(p) ? p : undefined;
        },
        240_000,
        500,
    );
    figures.failoverSeconds = (Date.now() - t0) / 1000;
    figures.taintAfterKillSeconds = taintedAt ? (taintedAt - t0) / 1000 : "never seen";
    watching = false;
    await watcher;

    expect(taints(node)).toContain(OUT_OF_SERVICE);
    const firstNew = seen.find((s) => s.uid !== pod.metadata.uid);
    expect(firstNew).toBeDefined();
    expect(taintedAt).toBeGreaterThan(0);
    // The new pod was created only after the node was fenced off: compare the API server's own
    // records (taint timeAdded, pod creationTimestamp; both whole seconds), not our polling,
    // which can see a pod created right after a taint check in the same pass.
    const taint = kubectlJson(["get", "node", node]).spec.taints.find((t: any) => t.key === "node.kubernetes.io/out-of-service");
    expect(Date.parse(firstNew!.created)).toBeGreaterThanOrEqual(Date.parse(taint.timeAdded));
    // Never the old and the new copy at once: every sample is one object, old ones only before the first new one.
    const lastOld = Math.max(...seen.filter((s) => s.uid === pod.metadata.uid).map((s) => s.at));
    expect(lastOld).toBeLessThan(firstNew!.at);
    const newPvc = kubectlJson(["-n", NS, "get", "pvc", "www-web-1"]);
    expect(newPvc.metadata.uid).not.toBe(oldPvc.metadata.uid); // opted in: fresh storage elsewhere
    expect(newPvc.status.phase).toBe("Bound");
    expect(back.spec.nodeName).not.toBe(node);
    expect(events(node).map((e) => e.reason)).toContain("OutOfServiceTainted");

    // The node comes back: the liberator removes its taint.
    restoreNode(node);
    await waitFor(`the taint removed from ${node}`, () => nodeReady(node) && !taints(node).includes(OUT_OF_SERVICE), 120_000, 1000);
}, 600_000);

test("storm guard: two of three workers down at once, the liberator refuses and says why", async () => {
    await stopLiberators(replicas);
    replicas = startLiberators(workerNodes(), saKubeconfig, FLAGS, logDir);
    await new Promise((r) => setTimeout(r, 5000));
    const [a, b] = workerNodes();
    for (const n of [a, b]) {
        killNode(n);
        replicas.find((r) => r.node === n)!.child.kill("SIGKILL");
    }
    await waitFor("a TooManyUnhealthy event", () => [a, b].some((n) => events(n).some((e) => e.reason === "TooManyUnhealthy")), 150_000, 1000);
    await new Promise((r) => setTimeout(r, (UNHEALTHY_AFTER + 5) * 1000));
    expect(taints(a)).not.toContain(OUT_OF_SERVICE);
    expect(taints(b)).not.toContain(OUT_OF_SERVICE);
    const message = [a, b].flatMap(events).find((e) => e.reason === "TooManyUnhealthy")!.message;
    figures.stormMessage = message;
    expect(message).toMatch(/unhealthy/i);
    await stopLiberators(replicas);
}, 300_000);
