/**
 * The whole controller (informers, leader election, decisions, actions, Events, metrics) against
 * the fake API server, with a simulated cluster whose kubelets and liberator replicas renew their
 * Leases until a node is "killed". Timings are shrunk: unhealthyAfter is 400 ms.
 */
import { Config } from "../../../liberator/config";
import { Controller } from "../../../liberator/controller";
import { DecideConfig, DEFAULT_DECIDE_CONFIG, OUT_OF_SERVICE_TAINT, TAINTED_ANNOTATION } from "../../../liberator/decide";
import { FenceResult } from "../../../liberator/fence";
import { KubeClient } from "../../../liberator/kube";
import { microTime } from "../../../liberator/leader";
import { jsonLogger, Metrics } from "../../../liberator/metrics";
import { FakeApiServer, lease, leasesIn, node, NODE_LEASES, NODES, Stored, waitFor } from "./fakeapi";

const NS = "tkr-system";
const U = 400;

class Cluster {
    readonly alive = new Map<string, { kubelet: boolean; liberator: boolean }>();
    private timer?: NodeJS.Timeout;
    constructor(
        private readonly fake: FakeApiServer,
        private readonly labels: Record<string, Record<string, string>> = {},
    ) {}

    add(...names: string[]): void {
        for (const n of names) {
            this.alive.set(n, { kubelet: true, liberator: true });
            this.fake.upsert(NODES, node(n, "True", { labels: this.labels[n] }));
        }
        this.renew();
    }

    private renew(): void {
        const now = microTime(Date.now());
        for (const [n, s] of this.alive) {
            if (s.kubelet) this.fake.upsert(NODE_LEASES, lease(n, "kube-node-lease", now));
            if (s.liberator)
                this.fake.upsert(leasesIn(NS), lease(`heartbeat.${n}`, NS, now, { annotations: { "liberator.pets/node": n }, holder: `liberator-${n}` }));
        }
    }

    start(): void {
        this.timer = setInterval(() => this.renew(), 100);
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
    }

    /** Power off: kubelet and liberator stop renewing; the control plane marks the node Unknown. */
    kill(n: string, { liberator = false }: { liberator?: boolean } = {}): void {
        this.alive.set(n, { kubelet: false, liberator });
        this.setReady(n, "Unknown");
    }

    revive(n: string): void {
        this.alive.set(n, { kubelet: true, liberator: true });
        this.setReady(n, "True");
    }

    private setReady(n: string, status: "True" | "Unknown"): void {
        const cur = this.fake.get("nodes", undefined, n)!;
        cur.status.conditions = cur.status.conditions.map((c: any) => (c.type === "Ready" ? { ...c, status } : c));
        this.fake.upsert(NODES, cur);
    }
}

let fake: FakeApiServer;
let cluster: Cluster;
const running: { controller: Controller; client: KubeClient }[] = [];

function config(d: Partial<DecideConfig> = {}, c: Partial<Config> = {}): Config {
    return {
        identity: "replica-1",
        leaseName: "liberator",
        leaseDurationMs: 1500,
        renewDeadlineMs: 1000,
        retryPeriodMs: 100,
        heartbeatIntervalMs: 100,
        metricsHost: "127.0.0.1",
        metricsPort: 0,
        logLevel: "error",
        ...c,
        decide: { ...DEFAULT_DECIDE_CONFIG, unhealthyAfterMs: U, podRecheckMs: 300, fenceRetryMs: 300, orphanedVolumes: "ignore", ...d },
    };
}

function start(cfg: Config, fenceRunner?: (c: any, n: string) => Promise<FenceResult>) {
    const client = new KubeClient({ server: fake.url, source: "test" });
    const metrics = new Metrics();
    const controller = new Controller({ config: cfg, client, namespace: NS, log: jsonLogger("error"), metrics, fenceRunner, debounceMs: 20 });
    controller.start();
    running.push({ controller, client });
    return { controller, metrics, client };
}

const taints = (n: string) => (fake.get("nodes", undefined, n)?.spec.taints ?? []) as any[];
const tainted = (n: string) => taints(n).some((t) => t.key === OUT_OF_SERVICE_TAINT.key);
const events = (reason?: string) => fake.list("events", "default").filter((e) => reason === undefined || e.reason === reason);
const patches = (n: string) => fake.requests.filter((r) => r.method === "PATCH" && r.path === `/api/v1/nodes/${n}`);

beforeEach(async () => {
    fake = new FakeApiServer();
    await fake.start();
});

afterEach(async () => {
    cluster?.stop();
    await Promise.all(
        running.splice(0).map(async (r) => {
            await r.controller.stop();
            r.client.close();
        }),
    );
    await fake.stop();
});

async function healthyCluster(labels: Record<string, Record<string, string>> = {}, names = ["n1", "n2", "n3"]) {
    cluster = new Cluster(fake, labels);
    cluster.add(...names);
    cluster.start();
}

async function leaderOf(cfg: Config, fenceRunner?: (c: any, n: string) => Promise<FenceResult>) {
    const s = start(cfg, fenceRunner);
    await waitFor(() => s.controller.elector.isLeader() && s.controller.cacheFresh(), 3000, "leader with a fresh cache");
    return s;
}

describe("NodeLiberator controller against a fake API server", () => {
    test("a dead worker is tainted out-of-service once; the taint comes off when it is Ready again", async () => {
        await healthyCluster();
        const { metrics } = await leaderOf(config());
        await new Promise((r) => setTimeout(r, 2 * U));
        expect(tainted("n3")).toBe(false);
        const killedAt = Date.now();
        cluster.kill("n3");
        await waitFor(() => tainted("n3"), 4000, "taint");
        expect(Date.now() - killedAt).toBeGreaterThanOrEqual(U);
        expect(taints("n3")).toEqual([{ ...OUT_OF_SERVICE_TAINT, timeAdded: expect.any(String) }]);
        expect(fake.get("nodes", undefined, "n3")!.metadata.annotations[TAINTED_ANNOTATION]).toEqual(expect.any(String));
        await waitFor(() => events("OutOfServiceTainted").length === 1, 2000, "event");
        const ev = events("OutOfServiceTainted")[0];
        expect(ev).toMatchObject({
            type: "Warning",
            involvedObject: { kind: "Node", name: "n3", uid: fake.get("nodes", undefined, "n3")!.metadata.uid },
            source: { component: "liberator" },
        });
        await new Promise((r) => setTimeout(r, 3 * U));
        expect(patches("n3")).toHaveLength(1);
        expect([tainted("n1"), tainted("n2")]).toEqual([false, false]);

        cluster.revive("n3");
        await waitFor(() => !tainted("n3"), 3000, "untaint");
        expect(fake.get("nodes", undefined, "n3")!.metadata.annotations[TAINTED_ANNOTATION]).toBeUndefined();
        await waitFor(() => events("OutOfServiceRemoved").length === 1, 2000, "untaint event");
        expect(metrics.get("liberator_actions_total", { action: "taint", result: "success" })).toBe(1);
        expect(metrics.get("liberator_actions_total", { action: "untaint", result: "success" })).toBe(1);
        await waitFor(() => metrics.get("liberator_nodes", { state: "healthy" }) === 3, 2000, "metrics");
        expect(metrics.render()).toContain('liberator_nodes{state="healthy"} 3');
    });

    test("a steady stream of Lease renewals does not starve reconciles (coalesce, never postpone)", async () => {
        await healthyCluster(); // a burst of renewals every 100 ms, more often than the 150 ms debounce
        const client = new KubeClient({ server: fake.url, source: "test" });
        const controller = new Controller({ config: config(), client, namespace: NS, log: jsonLogger("error"), metrics: new Metrics(), debounceMs: 150 });
        controller.start();
        running.push({ controller, client });
        await waitFor(() => controller.elector.isLeader() && controller.cacheFresh(), 3000, "leader");
        cluster.kill("n3");
        await waitFor(() => tainted("n3"), 4000, "taint despite the event stream");
    });

    test("kubelet silent but the node's liberator still beats: no taint, a HeartbeatAlive warning", async () => {
        await healthyCluster();
        await leaderOf(config());
        cluster.kill("n3", { liberator: true });
        await waitFor(() => events("HeartbeatAlive").length === 1, 3000, "HeartbeatAlive event");
        await new Promise((r) => setTimeout(r, 2 * U));
        expect(tainted("n3")).toBe(false);
        expect(patches("n3")).toHaveLength(0);
    });

    test("storm: two of three nodes die at once: nothing is tainted, and it says so", async () => {
        await healthyCluster();
        const { metrics } = await leaderOf(config());
        cluster.kill("n2");
        cluster.kill("n3");
        await waitFor(() => events("TooManyUnhealthy").length === 2, 3000, "storm events");
        await new Promise((r) => setTimeout(r, 2 * U));
        expect([tainted("n2"), tainted("n3")]).toEqual([false, false]);
        await waitFor(() => metrics.get("liberator_storm") === 1, 2000, "storm metric");
        expect(
            events("TooManyUnhealthy")
                .map((e) => e.involvedObject.name)
                .sort(),
        ).toEqual(["n2", "n3"]);
    });

    test("a control-plane node is never remediated", async () => {
        await healthyCluster({ n1: { "node-role.kubernetes.io/control-plane": "" } });
        await leaderOf(config());
        cluster.kill("n1");
        await waitFor(() => events("ControlPlaneSkipped").length === 1, 3000, "event");
        await new Promise((r) => setTimeout(r, U));
        expect(tainted("n1")).toBe(false);
    });

    test("an opted-out node is left alone", async () => {
        await healthyCluster({ n3: { "liberator.pets/exclude": "true" } });
        await leaderOf(config());
        cluster.kill("n3");
        await waitFor(() => events("OptedOut").length === 1, 3000, "event");
        expect(tainted("n3")).toBe(false);
    });

    test("two replicas: only the leader acts, and only once", async () => {
        await healthyCluster();
        const a = start(config({}, { identity: "replica-a" }));
        const b = start(config({}, { identity: "replica-b" }));
        await waitFor(
            () => (a.controller.elector.isLeader() || b.controller.elector.isLeader()) && a.controller.cacheFresh() && b.controller.cacheFresh(),
            3000,
            "leader",
        );
        cluster.kill("n3");
        await waitFor(() => tainted("n3"), 4000, "taint");
        await new Promise((r) => setTimeout(r, 2 * U));
        expect(patches("n3")).toHaveLength(1);
        expect([a.controller.elector.isLeader(), b.controller.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    });

    test("dry-run: reports what it would do and changes nothing", async () => {
        await healthyCluster();
        await leaderOf(config({ dryRun: true }));
        cluster.kill("n3");
        await waitFor(() => events("DryRun").length === 1, 3000, "dry-run event");
        expect(events("DryRun")[0].message).toBe("dry run: would taint the node node.kubernetes.io/out-of-service=nodeshutdown:NoExecute");
        await new Promise((r) => setTimeout(r, U));
        expect(fake.requests.filter((r) => r.method === "PATCH" || r.method === "DELETE")).toEqual([]);
    });

    test("the leader holds back while its kubelet-Lease watch is broken, then acts once it is back", async () => {
        await healthyCluster();
        const { controller } = await leaderOf(config());
        fake.failNext("GET", /kube-node-lease\/leases$/, 503, 100000, "ServiceUnavailable");
        fake.dropWatches();
        await waitFor(() => !controller.nodeLeases.connected, 2000, "disconnected");
        cluster.kill("n3");
        await new Promise((r) => setTimeout(r, 3 * U));
        expect(controller.cacheFresh()).toBe(false);
        expect(tainted("n3")).toBe(false);
        fake.clearFailures();
        await waitFor(() => tainted("n3"), 5000, "taint after the watch is back");
    });

    test("forceDeletePods: after the taint, the node's StatefulSet pods are force-deleted; other pods are left", async () => {
        await healthyCluster();
        const pod = (name: string, owner: string | undefined, nodeName: string) => ({
            metadata: {
                name,
                namespace: "db",
                ...(owner ? { ownerReferences: [{ apiVersion: "apps/v1", kind: owner, name: "x", uid: "u", controller: true }] } : {}),
            },
            spec: { nodeName, volumes: [] },
        });
        fake.upsert("/api/v1/namespaces/db/pods", pod("pg-0", "StatefulSet", "n3"));
        fake.upsert("/api/v1/namespaces/db/pods", pod("web-abc", "ReplicaSet", "n3"));
        fake.upsert("/api/v1/namespaces/db/pods", pod("pg-1", "StatefulSet", "n2"));
        await leaderOf(config({ forceDeletePods: true }));
        cluster.kill("n3");
        await waitFor(() => !fake.get("pods", "db", "pg-0"), 4000, "pod force-deleted");
        expect(tainted("n3")).toBe(true);
        const del = fake.requests.find((r) => r.method === "DELETE" && r.path === "/api/v1/namespaces/db/pods/pg-0")!;
        expect(del.body).toMatchObject({ gracePeriodSeconds: 0, preconditions: { uid: expect.any(String) } });
        expect(fake.get("pods", "db", "web-abc")).toBeDefined();
        expect(fake.get("pods", "db", "pg-1")).toBeDefined();
        const order = fake.requests.filter((r) => r.method !== "GET" && /nodes\/n3|pods\/pg-0/.test(r.path)).map((r) => r.method);
        expect(order).toEqual(["PATCH", "DELETE"]);
        await waitFor(() => events("PodForceDeleted").length === 1, 2000, "event");
    });

    test("releaseLocalVolumes: an opted-in StatefulSet's local PVC is deleted before the taint; others wait for the node", async () => {
        await healthyCluster();
        const localPv = (name: string, n: string) => ({
            metadata: { name },
            spec: {
                nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [n] }] }] } },
            },
            status: { phase: "Bound" },
        });
        fake.upsert("/api/v1/persistentvolumes", localPv("pv-pg", "n3"));
        fake.upsert("/api/v1/persistentvolumes", localPv("pv-web", "n3"));
        fake.upsert("/apis/apps/v1/namespaces/db/statefulsets", {
            metadata: { name: "pg", annotations: { "liberator.pets/local-volume-policy": "delete-pvc" } },
        });
        fake.upsert("/apis/apps/v1/namespaces/db/statefulsets", { metadata: { name: "web" } });
        for (const [pod, sts, pvc, pv] of [
            ["pg-0", "pg", "data-pg-0", "pv-pg"],
            ["web-0", "web", "www-web-0", "pv-web"],
        ]) {
            fake.upsert("/api/v1/namespaces/db/persistentvolumeclaims", { metadata: { name: pvc }, spec: { volumeName: pv } });
            fake.upsert("/api/v1/namespaces/db/pods", {
                metadata: { name: pod, ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: sts, uid: "u", controller: true }] },
                spec: { nodeName: "n3", volumes: [{ name: "data", persistentVolumeClaim: { claimName: pvc } }] },
            });
        }
        await leaderOf(config({ releaseLocalVolumes: true }));
        cluster.kill("n3");
        await waitFor(() => tainted("n3"), 4000, "taint");
        expect(fake.get("persistentvolumeclaims", "db", "data-pg-0")).toBeUndefined();
        expect(fake.get("persistentvolumeclaims", "db", "www-web-0")).toBeDefined();
        const writes = fake.requests
            .filter((r) => r.method !== "GET" && !r.path.includes("leases") && !r.path.includes("events"))
            .map((r) => `${r.method} ${r.path}`);
        expect(writes).toEqual(["DELETE /api/v1/namespaces/db/persistentvolumeclaims/data-pg-0", "PATCH /api/v1/nodes/n3"]);
        await waitFor(() => events("WaitingForLocalVolume").length === 1 && events("PVCDeleted").length === 1, 2000, "events");
        expect(events("WaitingForLocalVolume")[0].message).toContain("db/web-0 keeps PVC www-web-0");
    });

    test("deleteNode mode: the dead Node is deleted with uid and resourceVersion preconditions", async () => {
        await healthyCluster();
        await leaderOf(config({ mode: "deleteNode" }));
        const uid = fake.get("nodes", undefined, "n3")!.metadata.uid;
        cluster.kill("n3");
        await waitFor(() => !fake.get("nodes", undefined, "n3"), 4000, "node deleted");
        const del = fake.requests.find((r) => r.method === "DELETE" && r.path === "/api/v1/nodes/n3")!;
        expect(del.body.preconditions).toEqual({ uid, resourceVersion: expect.any(String) });
        expect(fake.requests.filter((r) => r.method === "PATCH")).toEqual([]);
        cluster.alive.delete("n3");
    });

    test("fence hook: remediation waits until the fence succeeds", async () => {
        await healthyCluster();
        const calls: string[] = [];
        let ok = false;
        const runner = async (_c: any, n: string): Promise<FenceResult> => {
            calls.push(n);
            return ok ? { ok: true, message: "powered off" } : { ok: false, message: "PDU unreachable" };
        };
        await leaderOf(config({ fence: true }, { fence: { type: "command", command: ["/bin/true"], timeoutMs: 1000 } }), runner);
        cluster.kill("n3");
        await waitFor(() => events("FenceFailed").length >= 1, 4000, "fence failed");
        expect(tainted("n3")).toBe(false);
        ok = true;
        await waitFor(() => tainted("n3"), 4000, "taint after fencing");
        expect(calls.length).toBeGreaterThanOrEqual(2);
        expect(new Set(calls)).toEqual(new Set(["n3"]));
        await waitFor(() => events("Fenced").length === 1, 2000, "Fenced event");
    });

    test("orphaned PVs: reported, and deleted after the grace period when asked", async () => {
        await healthyCluster();
        const pv = (name: string, n: string, phase: string): Stored => ({
            metadata: { name },
            spec: {
                nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [n] }] }] } },
            },
            status: { phase },
        });
        fake.upsert("/api/v1/persistentvolumes", pv("pv-gone", "old-node", "Released"));
        fake.upsert("/api/v1/persistentvolumes", pv("pv-here", "n1", "Released"));
        fake.upsert("/api/v1/persistentvolumes", pv("pv-bound", "old-node", "Bound"));
        const { metrics } = await leaderOf(config({ orphanedVolumes: "delete", orphanedVolumeGraceMs: 600 }));
        await waitFor(() => events("OrphanedVolume").length === 1, 3000, "report");
        expect(fake.get("persistentvolumes", undefined, "pv-gone")).toBeDefined();
        await waitFor(() => !fake.get("persistentvolumes", undefined, "pv-gone"), 3000, "deleted after grace");
        expect(fake.get("persistentvolumes", undefined, "pv-here")).toBeDefined();
        expect(fake.get("persistentvolumes", undefined, "pv-bound")).toBeDefined();
        await waitFor(() => events("VolumeOnMissingNode").length === 1, 2000, "bound report");
        await waitFor(() => metrics.get("liberator_actions_total", { action: "deletePv", result: "success" }) === 1, 2000, "metric");
    });

    test("health: unhealthy when the API server has not answered for unhealthyAfter", async () => {
        await healthyCluster();
        const { controller } = await leaderOf(config({}, { nodeName: "n1" }));
        expect(controller.health()).toEqual({ ok: true, problems: [] });
        const later = controller.health(Date.now() + 10 * U);
        expect(later.ok).toBe(false);
        expect(later.problems).toEqual([
            expect.stringMatching(/^no answer from the API server for \ds$/),
            expect.stringMatching(/^heartbeat Lease not renewed for \ds$/),
        ]);
    });
});
