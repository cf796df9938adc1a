import { KubeClient } from "../../../liberator/kube";
import { electionStep, ElectionConfig, isLeaderAt, LeaderElector, LeaseObject, microTime } from "../../../liberator/leader";
import { heartbeatLeaseName, heartbeatNode } from "../../../liberator/contract";
import { Clock } from "../../../liberator/clock";
import { FakeApiServer, leasesIn, waitFor } from "./fakeapi";

const cfg: ElectionConfig = { identity: "me", leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
const T = 1_700_000_000_000;
const lease = (holder: string | null, renewTime: string, o: Partial<LeaseObject["spec"]> = {}): LeaseObject => ({
    metadata: { name: "liberator", namespace: "tkr-system", resourceVersion: "5" },
    spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime, acquireTime: "2024-01-01T00:00:00.000000Z", leaseTransitions: 3, ...o },
});

describe("electionStep (pure)", () => {
    test("no Lease: create it as holder", () => {
        const { step } = electionStep(undefined, {}, T, cfg, T);
        expect(step).toEqual({
            kind: "create",
            spec: { holderIdentity: "me", leaseDurationSeconds: 15, acquireTime: microTime(T), renewTime: microTime(T), leaseTransitions: 0 },
        });
    });

    test("someone else holds a Lease we just saw change: wait until it has been unchanged for its duration", () => {
        const { step, state } = electionStep(lease("other", "r1"), {}, T, cfg, T);
        expect(step).toEqual({ kind: "wait", holder: "other", expiresAt: T + 15_000 });
        // Same record 14 s later: still waiting (expiry counts from when *we* saw it change).
        expect(electionStep(lease("other", "r1"), state, T + 14_000, cfg, T + 14_000).step.kind).toBe("wait");
        // A renewal resets the clock.
        const renewed = electionStep(lease("other", "r2"), state, T + 14_000, cfg, T + 14_000);
        expect(renewed.step).toEqual({ kind: "wait", holder: "other", expiresAt: T + 29_000 });
    });

    test("the holder's renewTime is never compared with our clock (skew-proof)", () => {
        // renewTime says "an hour ago", but we only just observed the record: not expired.
        const { step } = electionStep(lease("other", microTime(T - 3_600_000)), {}, T, cfg, T);
        expect(step.kind).toBe("wait");
    });

    test("expired Lease of another holder: take over, counting a transition", () => {
        const { state } = electionStep(lease("other", "r1"), {}, T, cfg, T);
        const { step } = electionStep(lease("other", "r1"), state, T + 15_000, cfg, T + 15_000);
        expect(step).toEqual({
            kind: "update",
            resourceVersion: "5",
            spec: { holderIdentity: "me", leaseDurationSeconds: 15, acquireTime: microTime(T + 15_000), renewTime: microTime(T + 15_000), leaseTransitions: 4 },
        });
    });

    test("released Lease (no holder): take over at once", () => {
        expect(electionStep(lease(null, "r1", { leaseDurationSeconds: 1 }), {}, T, cfg, T).step.kind).toBe("update");
    });

    test("our own Lease: renew, keeping acquireTime and the transition count", () => {
        const { step } = electionStep(lease("me", "r1"), {}, T, cfg, T);
        expect(step).toMatchObject({
            kind: "update",
            spec: { holderIdentity: "me", acquireTime: "2024-01-01T00:00:00.000000Z", renewTime: microTime(T), leaseTransitions: 3 },
        });
    });

    test("clock steps: expiry and leadership run on the monotonic clock; the wall clock only fills timestamps", () => {
        // A follower saw the leader's record at mono T. Its wall clock then jumps an hour ahead:
        // 14 s later (monotonic) it still waits, whatever the wall clock says.
        const { state } = electionStep(lease("other", "r1"), {}, T, cfg, T);
        expect(electionStep(lease("other", "r1"), state, T + 14_000, cfg, T + 3_600_000).step.kind).toBe("wait");
        // The leader's wall clock steps back a day: the renewTime it writes goes backwards, but the
        // record changed, so followers count it as a renewal (no takeover).
        const back = electionStep(lease("other", microTime(T - 86_400_000)), state, T + 14_000, cfg, T);
        expect(back.step).toEqual({ kind: "wait", holder: "other", expiresAt: T + 29_000 });
        // The leader itself: a forward wall step does not age its last renewal.
        expect(isLeaderAt({ renewedAt: T }, T + 9_999, cfg)).toBe(true);
        // What it writes uses the wall clock it is given.
        const mine = electionStep(lease("me", "r1"), {}, T, cfg, T + 3_600_000).step;
        expect(mine).toMatchObject({ kind: "update", spec: { renewTime: microTime(T + 3_600_000) } });
    });

    test.each([
        { renewedAgo: 0, leader: true },
        { renewedAgo: 9_999, leader: true },
        { renewedAgo: 10_000, leader: false },
    ])("leader only while the last renewal is younger than the renew deadline ($renewedAgo ms → $leader)", ({ renewedAgo, leader }) => {
        expect(isLeaderAt({ renewedAt: T - renewedAgo }, T, cfg)).toBe(leader);
        expect(isLeaderAt({}, T, cfg)).toBe(false);
    });
});

describe("LeaderElector against a fake API server", () => {
    let fake: FakeApiServer;
    let client: KubeClient;
    const electors: LeaderElector[] = [];
    const fast = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };
    const make = (identity: string, o: Partial<ConstructorParameters<typeof LeaderElector>[1]> = {}) => {
        const e = new LeaderElector(client, { namespace: "tkr-system", name: "liberator", identity, ...fast, ...o });
        electors.push(e);
        return e;
    };
    beforeEach(async () => {
        fake = new FakeApiServer();
        await fake.start();
        client = new KubeClient({ server: fake.url, source: "test" });
    });
    afterEach(async () => {
        await Promise.all(electors.splice(0).map((e) => e.stop(false)));
        client.close();
        await fake.stop();
    });

    test("exactly one of three replicas leads; the Lease names it", async () => {
        const es = ["a", "b", "c"].map((id) => make(id));
        es.forEach((e) => e.start());
        await waitFor(() => es.some((e) => e.isLeader()), 3000, "a leader");
        await new Promise((r) => setTimeout(r, 400));
        const leaders = es.filter((e) => e.isLeader());
        expect(leaders).toHaveLength(1);
        const stored = fake.get("leases", "tkr-system", "liberator")!;
        expect(es[["a", "b", "c"].indexOf(stored.spec.holderIdentity)]).toBe(leaders[0]);
        expect(stored.spec.leaseDurationSeconds).toBe(2);
    });

    test("a stopped leader that hands the Lease back is replaced at once; one that just dies, after the lease duration", async () => {
        const a = make("a");
        a.start();
        await waitFor(() => a.isLeader());
        const b = make("b");
        b.start();
        await new Promise((r) => setTimeout(r, 300));
        expect(b.isLeader()).toBe(false);
        const t0 = Date.now();
        await a.stop(true); // graceful: releases
        await waitFor(() => b.isLeader(), 3000, "takeover after release");
        expect(Date.now() - t0).toBeLessThan(1400);
        expect(fake.get("leases", "tkr-system", "liberator")!.spec.leaseTransitions).toBe(1);

        const c = make("c");
        c.start();
        await new Promise((r) => setTimeout(r, 200));
        const t1 = Date.now();
        await b.stop(false); // crash: no release
        await waitFor(() => c.isLeader(), 4000, "takeover after expiry");
        expect(Date.now() - t1).toBeGreaterThanOrEqual(1300);
    });

    test("a leader that cannot reach the API server stops leading after the renew deadline", async () => {
        const changes: boolean[] = [];
        const a = make("a", { onChange: (l) => changes.push(l) });
        a.start();
        await waitFor(() => a.isLeader());
        fake.blackhole = true;
        const t0 = Date.now();
        await waitFor(() => !a.isLeader(), 3000, "step down");
        expect(Date.now() - t0).toBeLessThanOrEqual(1500);
        await waitFor(() => changes.length === 2, 2000, "onChange(false)");
        expect(changes).toEqual([true, false]);
        fake.blackhole = false;
        fake.releaseHanging();
    });

    test("a candidate reads the Lease from the watch cache instead of GETting it every round", async () => {
        fake.upsert(leasesIn("tkr-system"), {
            metadata: { name: "liberator" },
            spec: { holderIdentity: "other", leaseDurationSeconds: 60, renewTime: microTime(Date.now()) },
        });
        const cached = fake.get("leases", "tkr-system", "liberator") as LeaseObject;
        const b = make("b", { readCached: () => cached });
        b.start();
        await new Promise((r) => setTimeout(r, 500));
        expect(b.isLeader()).toBe(false);
        expect(fake.requests.filter((r) => r.path.endsWith("/leases/liberator"))).toEqual([]);
    });

    test("wall-clock steps on the leader and the follower change nothing: one leader, no takeover", async () => {
        const wall = { a: 0, b: 0 };
        const clock = (id: "a" | "b"): Clock => ({ mono: () => performance.now(), wall: () => Date.now() + wall[id] });
        const a = make("a", { clock: clock("a") });
        a.start();
        await waitFor(() => a.isLeader());
        const b = make("b", { clock: clock("b") });
        b.start();
        await new Promise((r) => setTimeout(r, 300));
        wall.b = 3_600_000; // the follower's wall clock jumps an hour ahead
        wall.a = -86_400_000; // the leader's jumps a day back
        await new Promise((r) => setTimeout(r, 2_500)); // longer than the lease duration (1.5 s)
        expect(a.isLeader()).toBe(true);
        expect(b.isLeader()).toBe(false);
        expect(fake.get("leases", "tkr-system", "liberator")!.spec.holderIdentity).toBe("a");
    });

    test("a conflicting write makes it re-read the Lease", async () => {
        const a = make("a");
        a.start();
        await waitFor(() => a.isLeader());
        fake.failNext("PUT", /leases\/liberator$/, 409, 1, "Conflict");
        await waitFor(() => fake.requests.some((r) => r.method === "GET" && r.path.endsWith("/leases/liberator")), 2000, "re-read");
        await waitFor(() => a.isLeader() && a.stats.failures === 1);
    });
});

describe("heartbeat Lease names (contract)", () => {
    test("heartbeat.<node>; names that cannot fit are refused (the admission policy could not match them); the node comes back from the annotation", () => {
        expect(heartbeatLeaseName("worker-1")).toBe("heartbeat.worker-1");
        expect(heartbeatLeaseName("n".repeat(243))).toBe(`heartbeat.${"n".repeat(243)}`);
        expect(heartbeatLeaseName("n".repeat(244))).toBeUndefined();
        expect(heartbeatNode({ metadata: { name: "heartbeat.x", annotations: { "liberator.pets/node": "w1" } } })).toBe("w1");
        expect(heartbeatNode({ metadata: { name: "heartbeat.w2" } })).toBe("w2");
        expect(heartbeatNode({ metadata: { name: "liberator" } })).toBeUndefined();
    });
});
