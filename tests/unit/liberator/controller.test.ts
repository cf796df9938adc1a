/**
 * The whole controller (informers, leader election, decisions, claims, actions, Events, metrics)
 * against the fake API server, with a simulated cluster whose kubelets and agents renew their
 * Leases until a node is "killed". The simulated agents advertise shrunk timings (H 0.1 s, T_sf
 * 0.3 s, T_exec 0.2 s) and, like the real agent, never write a claimed Lease.
 */
import { Clock } from "../../../liberator/clock";
import { Config } from "../../../liberator/config";
import { ANN, OUT_OF_SERVICE_TAINT } from "../../../liberator/contract";
import { Controller } from "../../../liberator/controller";
import { DecideConfig, DEFAULT_DECIDE_CONFIG } from "../../../liberator/decide";
import { FenceResult } from "../../../liberator/fence";
import { KubeClient } from "../../../liberator/kube";
import { microTime } from "../../../liberator/leader";
import { jsonLogger, Metrics } from "../../../liberator/metrics";
import { FakeApiServer, lease, leasesIn, node, NODE_LEASES, NODES, Stored, waitFor } from "./fakeapi";

const NS = "tkr-system";
/** T_sf + T_exec + margin of the simulated agents and the test config. */
const CLAIM_AFTER = 300 + 200 + 100;

class Cluster {
    readonly alive = new Map<string, { kubelet: boolean; agent: boolean }>();
    private timer?: NodeJS.Timeout;
    constructor(
        private readonly fake: FakeApiServer,
        private readonly labels: Record<string, Record<string, string>> = {},
    ) {}

    add(...names: string[]): void {
        for (const n of names) {
            this.alive.set(n, { kubelet: true, agent: true });
            this.fake.upsert(NODES, node(n, "True", { labels: this.labels[n] }));
        }
        this.renew();
    }

    /** What an armed agent writes (see liberator/agent.ts). */
    heartbeat(n: string, renewTime: string): Stored {
        const l = lease(`heartbeat.${n}`, NS, renewTime, {
            holder: `agent-${n}`,
            annotations: {
                [ANN.node]: n,
                [ANN.armed]: "true",
                [ANN.armedSince]: "2026-01-01T00:00:00Z",
                [ANN.selfFenceSeconds]: "0.3",
                [ANN.fenceExecSeconds]: "0.2",
                [ANN.renewIntervalSeconds]: "0.1",
                [ANN.peers]: [...this.alive.keys()].join(","),
            },
        });
        l.metadata.labels = { "app.kubernetes.io/component": "heartbeat" };
        return l;
    }

    renewAgent(n: string): void {
        const cur = this.fake.get("leases", NS, `heartbeat.${n}`);
        // An agent never writes over a claim.
        if (cur?.metadata.annotations?.[ANN.claimedBy]) return;
        this.fake.upsert(leasesIn(NS), this.heartbeat(n, microTime(Date.now())));
    }

    renew(): void {
        const now = microTime(Date.now());
        for (const [n, s] of this.alive) {
            if (s.kubelet) this.fake.upsert(NODE_LEASES, lease(n, "kube-node-lease", now));
            if (s.agent) this.renewAgent(n);
        }
    }

    start(): void {
        this.timer = setInterval(() => this.renew(), 100);
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
    }

    /** Power off (or cut off): kubelet and agent stop renewing; the control plane marks the node Unknown. */
    kill(n: string, { agent = false }: { agent?: boolean } = {}): void {
        this.alive.set(n, { kubelet: false, agent });
        this.setReady(n, "Unknown");
    }

    /** Only the agent dies (evicted, crash-looping); the node runs on. */
    killAgent(n: string): void {
        this.alive.set(n, { kubelet: this.alive.get(n)!.kubelet, agent: false });
    }

    revive(n: string): void {
        this.alive.set(n, { kubelet: true, agent: true });
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
        orphanedHeartbeatMs: 300_000,
        metricsHost: "127.0.0.1",
        metricsPort: 0,
        logLevel: "error",
        ...c,
        decide: {
            ...DEFAULT_DECIDE_CONFIG,
            podRecheckMs: 300,
            fenceRetryMs: 300,
            orphanedVolumes: "ignore",
            marginMs: 100,
            settleMs: 300,
            stormCooldownMs: 500,
            renewIntervalMs: 100,
            ...d,
        },
    };
}

function start(cfg: Config, fenceRunner?: (c: any, n: string) => Promise<FenceResult>, clock?: Clock) {
    const client = new KubeClient({ server: fake.url, source: "test" });
    const metrics = new Metrics();
    const controller = new Controller({
        config: cfg,
        client,
        namespace: NS,
        log: jsonLogger("error", () => undefined),
        metrics,
        fenceRunner,
        debounceMs: 20,
        clock,
    });
    controller.start();
    running.push({ controller, client });
    return { controller, metrics, client };
}

const taints = (n: string) => (fake.get("nodes", undefined, n)?.spec.taints ?? []) as any[];
const tainted = (n: string) => taints(n).some((t) => t.key === OUT_OF_SERVICE_TAINT.key);
const claimOf = (n: string) => fake.get("leases", NS, `heartbeat.${n}`)?.metadata.annotations?.[ANN.claimPhase];
const events = (reason?: string, ns = "default") => fake.list("events", ns).filter((e) => reason === undefined || e.reason === reason);
const writes = (filter: RegExp = /./) =>
    fake.requests
        .filter(
            (r) =>
                r.method !== "GET" &&
                !r.path.includes("/events") &&
                !r.path.endsWith("/leases/liberator") &&
                !r.path.endsWith("/leases") &&
                filter.test(r.path),
        )
        .map((r) => `${r.method} ${r.path.replace("/apis/coordination.k8s.io/v1/namespaces/tkr-system/leases/", "lease/")}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** A leader with a fresh cache, after the settle period (quorum). */
async function leaderOf(cfg: Config, fenceRunner?: (c: any, n: string) => Promise<FenceResult>, clock?: Clock) {
    const s = start(cfg, fenceRunner, clock);
    await waitFor(() => s.controller.elector.isLeader() && s.controller.cacheFresh(), 3000, "leader with a fresh cache");
    await waitFor(() => s.controller.lastDecision?.quorum.ok === true, 3000, "quorum settled");
    return s;
}

describe("the controller against a fake API server", () => {
    test("a dead worker: claim → taint → remediated; back: untaint → release, each once", async () => {
        await healthyCluster();
        const { metrics } = await leaderOf(config());
        const killedAt = Date.now();
        cluster.kill("n3");
        await waitFor(() => claimOf("n3") === "remediated", 4000, "remediated");
        const claim = fake.requests.find((r) => r.method === "PATCH" && r.path.endsWith("/leases/heartbeat.n3"))!;
        expect(claim.body).toEqual({
            metadata: {
                resourceVersion: expect.any(String),
                annotations: { [ANN.claimedBy]: "replica-1", [ANN.claimedAt]: expect.any(String), [ANN.claimPhase]: "claimed" },
            },
            spec: { holderIdentity: "liberator/replica-1" },
        });
        expect(Date.now() - killedAt).toBeGreaterThanOrEqual(CLAIM_AFTER - 100);
        expect(taints("n3")).toEqual([{ ...OUT_OF_SERVICE_TAINT, timeAdded: expect.any(String) }]);
        expect(fake.get("nodes", undefined, "n3")!.metadata.annotations[ANN.taintedSince]).toEqual(expect.any(String));
        await waitFor(() => events("OutOfServiceTainted").length === 1 && events("Claimed").length === 1, 2000, "events");
        expect(events("OutOfServiceTainted")[0]).toMatchObject({
            type: "Warning",
            involvedObject: { kind: "Node", name: "n3" },
            source: { component: "liberator" },
        });

        cluster.revive("n3");
        await waitFor(() => !tainted("n3") && claimOf("n3") === undefined, 3000, "untaint and release");
        await sleep(300);
        expect(writes(/n3/)).toEqual([
            "PATCH lease/heartbeat.n3", // claim
            "PATCH /api/v1/nodes/n3", // taint
            "PATCH lease/heartbeat.n3", // remediated
            "PATCH /api/v1/nodes/n3", // untaint
            "PATCH lease/heartbeat.n3", // release
        ]);
        const counted = () =>
            ["claim", "taint", "markRemediated", "untaint", "releaseClaim"].map((a) =>
                metrics.get("liberator_actions_total", { action: a, result: "success" }),
            );
        await waitFor(() => counted().every((n) => n === 1), 2000, "each action counted once");
        await waitFor(() => metrics.get("liberator_nodes", { state: "healthy" }) === 3, 2000, "metrics");
        // The agent renews again once released.
        await waitFor(() => fake.get("leases", NS, "heartbeat.n3")!.spec.holderIdentity === "agent-n3", 2000, "agent renews");
    });

    test("claim conflict: the agent renewed just before the claim; the clock starts again from that renewal", async () => {
        await healthyCluster();
        await leaderOf(config());
        // The write that beat the claim: one last renewal of the agent, made as the claim conflicts
        // (made after the 409 instead, it raced the controller's immediate retry).
        let renewedAt = 0;
        fake.failNext("PATCH", /leases\/heartbeat\.n3$/, 409, 1, "Conflict", () => {
            cluster.renewAgent("n3");
            renewedAt = Date.now();
        });
        cluster.kill("n3");
        await waitFor(() => renewedAt > 0, 3000, "first claim attempt");
        await waitFor(() => claimOf("n3") !== undefined, 4000, "claim");
        expect(Date.now() - renewedAt).toBeGreaterThanOrEqual(CLAIM_AFTER - 50);
    });

    test("a steady stream of Lease renewals does not starve reconciles (coalesce, never postpone)", async () => {
        await healthyCluster();
        const client = new KubeClient({ server: fake.url, source: "test" });
        const controller = new Controller({
            config: config(),
            client,
            namespace: NS,
            log: jsonLogger("error", () => undefined),
            metrics: new Metrics(),
            debounceMs: 150,
        });
        controller.start();
        running.push({ controller, client });
        await waitFor(() => controller.elector.isLeader() && controller.lastDecision?.quorum.ok === true, 3000, "leader");
        cluster.kill("n3");
        await waitFor(() => tainted("n3"), 4000, "taint despite the event stream");
    });

    test("kubelet silent but the node's agent still renews: no claim, a HeartbeatAlive warning", async () => {
        await healthyCluster();
        await leaderOf(config());
        cluster.kill("n3", { agent: true });
        await waitFor(() => events("HeartbeatAlive").length === 1, 3000, "HeartbeatAlive event");
        await sleep(2 * CLAIM_AFTER);
        expect(writes(/n3/)).toEqual([]);
    });

    test("an agent gone while the node ran: the node is reported unprotected and never remediated", async () => {
        await healthyCluster();
        await leaderOf(config());
        cluster.killAgent("n3");
        await sleep(1000); // the heartbeat goes stale while the kubelet still renews
        cluster.kill("n3");
        await waitFor(() => events("NotFenced").length === 1, 3000, "NotFenced event");
        expect(events("NotFenced")[0].message).toMatch(
            /^not remediating: its agent's heartbeat stopped \ds before the kubelet's: the agent was gone while the node ran, so nothing fences it \(AgentMissing\)$/,
        );
        await sleep(2 * CLAIM_AFTER);
        expect(writes(/n3/)).toEqual([]);
    });

    test("unsafeNoFencing: a warning Event at start, and the unprotected node is remediated anyway", async () => {
        await healthyCluster();
        await leaderOf(config({ unsafeNoFencing: true }));
        await waitFor(() => events("UnsafeNoFencing", NS).length === 1, 2000, "start-up warning");
        expect(events("UnsafeNoFencing", NS)[0]).toMatchObject({ type: "Warning", involvedObject: { kind: "Lease", name: "liberator", namespace: NS } });
        cluster.killAgent("n3");
        await sleep(1000);
        cluster.kill("n3");
        await waitFor(() => tainted("n3"), 4000, "taint");
        await waitFor(() => events("UnsafeRemediation").length === 1, 2000, "warning");
    });

    test("storm: two of three die at once: nothing claimed; one returns: the other waits for the cooldown, then is claimed", async () => {
        await healthyCluster();
        const { metrics } = await leaderOf(config());
        cluster.kill("n2");
        cluster.kill("n3");
        await waitFor(() => events("TooManyUnhealthy").length === 2, 3000, "storm events");
        await sleep(CLAIM_AFTER + 200);
        expect(writes(/n2|n3/)).toEqual([]);
        await waitFor(() => metrics.get("liberator_storm") === 1, 2000, "storm metric");
        cluster.revive("n2");
        const backAt = Date.now();
        await waitFor(() => events("StormCooldown").length === 1, 3000, "cooldown event");
        await waitFor(() => claimOf("n3") !== undefined, 4000, "claim after the cooldown");
        expect(Date.now() - backAt).toBeGreaterThanOrEqual(450);
    });

    test("quorum lost: three of four down (storm guard lifted): no claim, QuorumLost", async () => {
        await healthyCluster({}, ["n1", "n2", "n3", "n4"]);
        await leaderOf(config({ maxUnhealthy: 3 }));
        for (const n of ["n2", "n3", "n4"]) cluster.kill(n);
        await waitFor(() => events("QuorumLost").length === 3, 3000, "QuorumLost events");
        expect(writes(/n2|n3|n4/)).toEqual([]);
    });

    test("a control-plane node is not remediated without the opt-in", async () => {
        await healthyCluster({ n1: { "node-role.kubernetes.io/control-plane": "" } });
        await leaderOf(config());
        cluster.kill("n1");
        await waitFor(() => events("ControlPlaneSkipped").length === 1, 3000, "event");
        expect(writes(/n1/)).toEqual([]);
    });

    test("an opted-out node is left alone", async () => {
        await healthyCluster({ n3: { "liberator.pets/exclude": "true" } });
        await leaderOf(config());
        cluster.kill("n3");
        await waitFor(() => events("OptedOut").length === 1, 3000, "event");
        expect(writes(/n3/)).toEqual([]);
    });

    test("two replicas: only the leader acts, and only once", async () => {
        await healthyCluster();
        const a = start(config({}, { identity: "replica-a" }));
        const b = start(config({}, { identity: "replica-b" }));
        await waitFor(() => [a, b].some((x) => x.controller.elector.isLeader() && x.controller.lastDecision?.quorum.ok === true), 3000, "leader");
        cluster.kill("n3");
        await waitFor(() => claimOf("n3") === "remediated", 4000, "remediated");
        await sleep(500);
        expect(writes(/n3/)).toEqual(["PATCH lease/heartbeat.n3", "PATCH /api/v1/nodes/n3", "PATCH lease/heartbeat.n3"]);
        expect([a.controller.elector.isLeader(), b.controller.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    });

    test("wall-clock steps on the leader change nothing: no early claim", async () => {
        await healthyCluster();
        const wall = { offset: 0 };
        const clock: Clock = { mono: () => performance.now(), wall: () => Date.now() + wall.offset };
        await leaderOf(config(), undefined, clock);
        wall.offset = 86_400_000;
        await sleep(500);
        wall.offset = -86_400_000;
        await sleep(500);
        expect(writes(/nodes|heartbeat/)).toEqual([]);
        const killedAt = Date.now();
        cluster.kill("n3");
        await waitFor(() => claimOf("n3") !== undefined, 4000, "claim");
        expect(Date.now() - killedAt).toBeGreaterThanOrEqual(CLAIM_AFTER - 100);
    });

    test("dry-run: reports what it would do and changes nothing", async () => {
        await healthyCluster();
        await leaderOf(config({ dryRun: true }));
        cluster.kill("n3");
        await waitFor(() => events("DryRun").length === 1, 3000, "dry-run event");
        expect(events("DryRun")[0].message).toBe("dry run: would claim the heartbeat Lease heartbeat.n3");
        await sleep(300);
        expect(fake.requests.filter((r) => (r.method === "PATCH" || r.method === "DELETE") && !r.path.endsWith("/liberator"))).toEqual([]);
    });

    test("the leader holds back while its kubelet-Lease watch is broken, then acts once it is back", async () => {
        await healthyCluster();
        const { controller } = await leaderOf(config());
        fake.failNext("GET", /kube-node-lease\/leases$/, 503, 100000, "ServiceUnavailable");
        fake.dropWatches();
        await waitFor(() => !controller.nodeLeases.connected, 2000, "disconnected");
        cluster.kill("n3");
        await sleep(2 * CLAIM_AFTER);
        expect(controller.cacheFresh()).toBe(false);
        expect(writes(/n3/)).toEqual([]);
        fake.clearFailures();
        await waitFor(() => tainted("n3"), 5000, "taint after the watch is back");
    });

    test("force-deleting the node's StatefulSet pods (the default), after the taint; other pods are left", async () => {
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
        await leaderOf(config());
        cluster.kill("n3");
        await waitFor(() => claimOf("n3") === "remediated", 4000, "remediated");
        expect(fake.get("pods", "db", "pg-0")).toBeUndefined();
        const del = fake.requests.find((r) => r.method === "DELETE" && r.path === "/api/v1/namespaces/db/pods/pg-0")!;
        expect(del.body).toMatchObject({ gracePeriodSeconds: 0, preconditions: { uid: expect.any(String) } });
        expect(fake.get("pods", "db", "web-abc")).toBeDefined();
        expect(fake.get("pods", "db", "pg-1")).toBeDefined();
        expect(writes(/n3|pods/)).toEqual([
            "PATCH lease/heartbeat.n3",
            "PATCH /api/v1/nodes/n3",
            "DELETE /api/v1/namespaces/db/pods/pg-0",
            "PATCH lease/heartbeat.n3",
        ]);
        await waitFor(() => events("PodForceDeleted").length === 1, 2000, "event");
    });

    test("delete-pvc: the opted-in local PVC goes only after the node is fenced and its pods are gone; others wait for the node", async () => {
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
        await waitFor(() => fake.get("persistentvolumeclaims", "db", "data-pg-0") === undefined, 5000, "PVC deleted");
        // The StatefulSet made a Pending replacement meanwhile (it still names the old claim).
        fake.upsert("/api/v1/namespaces/db/pods", {
            metadata: { name: "pg-0", ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "pg", uid: "u", controller: true }] },
            spec: { volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-pg-0" } }] },
            status: { phase: "Pending" },
        });
        await waitFor(() => fake.get("pods", "db", "pg-0") === undefined, 5000, "pending replacement deleted");
        expect(fake.get("persistentvolumeclaims", "db", "www-web-0")).toBeDefined();
        expect(writes(/n3|pods|persistentvolumeclaims/)).toEqual([
            "PATCH lease/heartbeat.n3",
            "PATCH /api/v1/nodes/n3",
            "DELETE /api/v1/namespaces/db/pods/pg-0",
            "DELETE /api/v1/namespaces/db/pods/web-0",
            "PATCH lease/heartbeat.n3",
            "DELETE /api/v1/namespaces/db/persistentvolumeclaims/data-pg-0",
            "DELETE /api/v1/namespaces/db/pods/pg-0",
        ]);
        await waitFor(() => events("WaitingForLocalVolume").length === 1 && events("PVCDeleted").length === 1, 2000, "events");
        expect(events("WaitingForLocalVolume")[0].message).toContain("db/web-0 keeps PVC www-web-0");
    });

    test("deleteNode mode: pods freed first, then the Node is deleted with uid and resourceVersion preconditions", async () => {
        await healthyCluster();
        await leaderOf(config({ mode: "deleteNode" }));
        const uid = fake.get("nodes", undefined, "n3")!.metadata.uid;
        cluster.kill("n3");
        await waitFor(() => !fake.get("nodes", undefined, "n3"), 4000, "node deleted");
        const del = fake.requests.find((r) => r.method === "DELETE" && r.path === "/api/v1/nodes/n3")!;
        expect(del.body.preconditions).toEqual({ uid, resourceVersion: expect.any(String) });
        expect(writes(/n3/)).toEqual(["PATCH lease/heartbeat.n3", "PATCH lease/heartbeat.n3", "DELETE /api/v1/nodes/n3"]);
        cluster.alive.delete("n3");
    });

    test("fence hook: after the claim, the taint waits until the hook succeeds; a deadline expiry is its own Event", async () => {
        await healthyCluster();
        const calls: string[] = [];
        let result: FenceResult = { ok: false, timedOut: true, message: "no complete answer within 1000 ms; request aborted" };
        const runner = async (_c: any, n: string): Promise<FenceResult> => {
            calls.push(n);
            return result;
        };
        await leaderOf(config({ fence: true }, { fence: { type: "command", command: ["/bin/true"], timeoutMs: 1000 } }), runner);
        cluster.kill("n3");
        await waitFor(() => events("FenceTimedOut").length >= 1, 4000, "fence deadline");
        expect(claimOf("n3")).toBe("claimed");
        expect(tainted("n3")).toBe(false);
        result = { ok: true, message: "powered off" };
        await waitFor(() => tainted("n3"), 4000, "taint after fencing");
        expect(calls.length).toBeGreaterThanOrEqual(2);
        expect(new Set(calls)).toEqual(new Set(["n3"]));
        await waitFor(() => events("Fenced").length === 1, 2000, "Fenced event");
    });

    test("orphaned PVs: reported; only a Delete-policy one is deleted after the grace; Retain and Bound never", async () => {
        await healthyCluster();
        const pv = (name: string, n: string, phase: string, policy = "Delete"): Stored => ({
            metadata: { name },
            spec: {
                persistentVolumeReclaimPolicy: policy,
                nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [n] }] }] } },
            },
            status: { phase },
        });
        fake.upsert("/api/v1/persistentvolumes", pv("pv-gone", "old-node", "Released"));
        fake.upsert("/api/v1/persistentvolumes", pv("pv-kept", "old-node", "Released", "Retain"));
        fake.upsert("/api/v1/persistentvolumes", pv("pv-here", "n1", "Released"));
        fake.upsert("/api/v1/persistentvolumes", pv("pv-bound", "old-node", "Bound"));
        const { metrics } = await leaderOf(config({ orphanedVolumes: "delete", orphanedVolumeGraceMs: 600 }));
        await waitFor(() => !fake.get("persistentvolumes", undefined, "pv-gone"), 3000, "deleted after grace");
        for (const p of ["pv-kept", "pv-here", "pv-bound"]) expect(fake.get("persistentvolumes", undefined, p)).toBeDefined();
        await waitFor(() => events("VolumeOnMissingNode").length === 1 && events("OrphanedVolumeRetained").length === 1, 2000, "reports");
        await waitFor(() => metrics.get("liberator_actions_total", { action: "deletePv", result: "success" }) === 1, 2000, "metric");
    });

    test("an orphaned PV whose deletion fails takes the path of every action: counted, backed off, then retried", async () => {
        await healthyCluster();
        fake.upsert("/api/v1/persistentvolumes", {
            metadata: { name: "pv-gone" },
            spec: {
                persistentVolumeReclaimPolicy: "Delete",
                nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["old"] }] }] } },
            },
            status: { phase: "Released" },
        });
        fake.failNext("DELETE", /\/persistentvolumes\/pv-gone$/, 500);
        const { metrics } = await leaderOf(config({ orphanedVolumes: "delete", orphanedVolumeGraceMs: 0 }));
        await waitFor(() => metrics.get("liberator_actions_total", { action: "deletePv", result: "failure" }) === 1, 3000, "the failed delete");
        const failedAt = Date.now();
        await waitFor(() => !fake.get("persistentvolumes", undefined, "pv-gone"), 8000, "deleted after the backoff");
        // The first retry comes after the 5 s backoff, not on the next reconcile.
        expect(Date.now() - failedAt).toBeGreaterThan(4_000);
        expect(fake.requests.filter((r) => r.method === "DELETE" && r.path.endsWith("/pv-gone"))).toHaveLength(2);
        // The fake deletes before the controller has read its answer: wait for the count.
        await waitFor(() => metrics.get("liberator_actions_total", { action: "deletePv", result: "success" }) === 1, 2000, "the success counted");
    }, 15_000);

    test("heartbeat Leases whose agent pod is gone are deleted after the grace; a claimed one never", async () => {
        await healthyCluster();
        fake.upsert(`/api/v1/namespaces/${NS}/pods`, { metadata: { name: "agent-n1", labels: { app: "agent" } } });
        fake.upsert(`/api/v1/namespaces/${NS}/pods`, { metadata: { name: "agent-n2", labels: { app: "agent" } } });
        // n4's agent is gone (evicted, moved) and its node too; its Lease is stale.
        fake.upsert(leasesIn(NS), { ...cluster.heartbeat("n4", microTime(Date.now() - 60_000)), metadata: { ...cluster.heartbeat("n4", "x").metadata } });
        await leaderOf(config({}, { agentSelector: "app=agent", orphanedHeartbeatMs: 500 }));
        await waitFor(() => fake.get("leases", NS, "heartbeat.n4") === undefined, 4000, "stale Lease deleted");
        // n3's agent pod does not exist either, but its heartbeat is fresh: kept.
        expect(fake.get("leases", NS, "heartbeat.n3")).toBeDefined();
        const del = fake.requests.find((r) => r.method === "DELETE" && r.path.endsWith("heartbeat.n4"))!;
        expect(del.body.preconditions).toEqual({ uid: expect.any(String), resourceVersion: expect.any(String) });
    });

    test("health: unhealthy when the API server has not answered for 30 s", async () => {
        await healthyCluster();
        const { controller } = await leaderOf(config());
        expect(controller.health()).toEqual({ ok: true, problems: [] });
        const later = controller.health(performance.now() + 31_000);
        expect(later).toEqual({ ok: false, problems: [expect.stringMatching(/^no answer from the API server for 3\ds$/)] });
    });
});
