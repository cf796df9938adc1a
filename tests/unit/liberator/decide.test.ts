import { ANN, claimAfterMs, freshWindowMs, minSettleMs, OUT_OF_SERVICE_TAINT } from "../../../liberator/contract";
import {
    allowedUnhealthy,
    decide,
    DecideConfig,
    DecideMemory,
    DEFAULT_DECIDE_CONFIG,
    decideOrphanedVolumes,
    HeartbeatView,
    NodeView,
    Observations,
    pinnedNodes,
    PodView,
    PvView,
    ReleaseView,
    trackOrphans,
} from "../../../liberator/decide";

// Monotonic milliseconds. Defaults: H 5 s, T_sf 30 s, T_exec 10 s, margin 5 s → claim 45 s after
// the last observed renewal; fresh window 11 s; settle 20 s; storm cooldown 60 s.
const NOW = 10_000_000;
const TIMING = { renewIntervalMs: 5_000, selfFenceMs: 30_000, fenceExecMs: 10_000 };
const WAIT = claimAfterMs(TIMING, DEFAULT_DECIDE_CONFIG.marginMs);
const cfg = (o: Partial<DecideConfig> = {}): DecideConfig => ({ ...DEFAULT_DECIDE_CONFIG, ...o });
const NAMES = ["a", "b", "c", "d"];

function hb(name: string, o: Partial<HeartbeatView> = {}): HeartbeatView {
    return {
        name: `heartbeat.${name}`,
        resourceVersion: `rv-${name}`,
        renewedAt: NOW - 2_000,
        freshSince: NOW - 600_000,
        armed: true,
        participant: true,
        timing: TIMING,
        peers: NAMES,
        ...o,
    };
}

function healthy(name: string, o: Partial<NodeView> = {}, h: Partial<HeartbeatView> = {}): NodeView {
    return {
        name,
        uid: `uid-${name}`,
        resourceVersion: "7",
        labels: {},
        annotations: {},
        taints: [],
        ready: "True",
        kubeletLeaseAt: NOW - 3_000,
        heartbeat: hb(name, h),
        ...o,
    };
}

/**
 * Power lost (or cut off) `ago` ms before NOW: the heartbeat and the kubelet Lease were last
 * renewed then; the control plane marked the node Unknown 50 s (its grace) after that.
 */
function down(name: string, ago: number, o: Partial<NodeView> = {}, h: Partial<HeartbeatView> = {}): NodeView {
    return healthy(
        name,
        { ready: ago >= 50_000 ? "Unknown" : "True", notReadySince: ago >= 50_000 ? NOW - ago + 50_000 : undefined, kubeletLeaseAt: NOW - ago - 1_000, ...o },
        {
            renewedAt: NOW - ago,
            freshSince: NOW - ago - 600_000,
            ...h,
        },
    );
}
const claimed = (phase: "claimed" | "remediated" = "claimed") => ({ claim: { by: "ctl-1", phase } });
const ourTaint = { taints: [{ ...OUT_OF_SERVICE_TAINT }], annotations: { [ANN.taintedSince]: "2026-01-01T00:00:00Z" } };

const run = (nodes: NodeView[], o: Partial<DecideConfig> = {}, extra: Partial<Parameters<typeof decide>[0]> = {}) =>
    decide({ now: NOW, config: cfg(o), leader: true, cacheFresh: true, nodes, ...extra });
const kinds = (d: ReturnType<typeof decide>) => d.actions.map((a) => `${a.kind}:${"name" in a ? a.name : "lease" in a ? a.lease : a.node}`);
const reasons = (d: ReturnType<typeof decide>) => d.reports.map((r) => `${r.node}:${r.reason}`);
const three = (x: NodeView) => [healthy("a"), healthy("b"), x];

describe("decide: the issue's scenarios (decision table)", () => {
    test.each([
        { what: "healthy cluster: nothing", nodes: [healthy("a"), healthy("b"), healthy("c")], actions: [], reports: [], state: { c: "healthy" } },
        {
            what: "power loss 30 s ago: the control plane still says Ready, nothing",
            nodes: three(down("c", 30_000)),
            actions: [],
            reports: [],
            state: { c: "healthy" },
        },
        {
            what: "power loss 44 s ago, node already NotReady (shorter grace): wait for the agent's self-fence + margin",
            nodes: three(down("c", 44_000, { ready: "Unknown", notReadySince: NOW - 1_000 })),
            actions: [],
            reports: [],
            state: { c: "suspect" },
        },
        {
            what: "power loss 55 s ago: NotReady, heartbeat silent past T_sf + T_exec + margin, quorum: claim with the observed resourceVersion",
            nodes: three(down("c", 55_000)),
            actions: ["claim:heartbeat.c"],
            reports: [],
            state: { c: "failed" },
        },
        {
            what: "partition with pods running: to the controller it is a power loss; it claims only after the agent must have fenced",
            nodes: three(down("c", WAIT, { ready: "Unknown", notReadySince: NOW - 5_000 })),
            actions: ["claim:heartbeat.c"],
            reports: [],
            state: { c: "failed" },
        },
        {
            what: "kubelet crash on a running machine: the agent still renews, hold back",
            nodes: three(down("c", 120_000, {}, { renewedAt: NOW - 2_000 })),
            actions: [],
            reports: ["c:HeartbeatAlive"],
            state: { c: "unconfirmed" },
        },
        {
            what: "the kubelet renewed its Lease after the node went NotReady: coming back, wait",
            nodes: three(down("c", 120_000, { kubeletLeaseAt: NOW - 1_000 })),
            actions: [],
            reports: [],
            state: { c: "suspect" },
        },
        {
            what: "two nodes fail together (maxUnhealthy 1): storm, nothing is claimed, both reported",
            nodes: [healthy("a"), healthy("b"), down("c", 120_000), down("d", 120_000)],
            actions: [],
            reports: ["c:TooManyUnhealthy", "d:TooManyUnhealthy"],
            state: { c: "failed", d: "failed" },
        },
        {
            what: "two nodes cut off together, one still Ready for the control plane: its quiet kubelet counts, storm",
            nodes: [healthy("a"), healthy("b"), down("c", 120_000), down("d", 45_000)],
            actions: [],
            reports: ["c:TooManyUnhealthy"],
            state: { c: "failed", d: "healthy" },
        },
        {
            what: "stale heartbeat of a gone agent (silent 10 min before the kubelet): unprotected, never remediated",
            nodes: three(down("c", 120_000, {}, { renewedAt: NOW - 720_000 })),
            actions: [],
            reports: ["c:NotFenced"],
            state: { c: "unprotected" },
        },
        {
            what: "agent not armed (no CRI socket, self-fence off): unprotected",
            nodes: three(down("c", 120_000, {}, { armed: false })),
            actions: [],
            reports: ["c:NotFenced"],
            state: { c: "unprotected" },
        },
        {
            what: "no agent Lease at all: unprotected",
            nodes: three(down("c", 120_000, { heartbeat: undefined })),
            actions: [],
            reports: ["c:NotFenced"],
            state: { c: "unprotected" },
        },
        {
            what: "an agent advertising out-of-bounds timing counts as not armed",
            nodes: three(down("c", 120_000, {}, { timing: undefined })),
            actions: [],
            reports: ["c:NotFenced"],
            state: { c: "unprotected" },
        },
        {
            what: "quorum lost: the other participants' heartbeats have not been fresh for the settle period",
            nodes: [healthy("a", {}, { freshSince: NOW - 5_000 }), healthy("b", {}, { freshSince: NOW - 5_000 }), down("c", 120_000)],
            actions: [],
            reports: ["c:QuorumLost"],
            state: { c: "failed" },
        },
        {
            what: "quorum over the cut-off agent's own peer set: it counts nodes the controller no longer sees (strict majority could be holding)",
            nodes: [healthy("a"), healthy("b"), down("c", 120_000, {}, { peers: ["a", "b", "c", "x", "y", "z"] })],
            actions: [],
            reports: ["c:QuorumLost"],
            state: { c: "failed" },
        },
        {
            what: "half of the participants settled is enough (2 of 4: the other side cannot hold a strict majority)",
            nodes: [healthy("a"), down("b", 120_000, {}, { renewedAt: NOW - 30_000 }), down("c", 120_000), healthy("d")],
            o: { maxUnhealthy: 2 },
            actions: ["claim:heartbeat.c"],
            reports: [],
            state: { c: "failed" },
        },
        {
            what: "a control-plane node is not remediated without the opt-in",
            nodes: three(down("c", 120_000, { labels: { "node-role.kubernetes.io/control-plane": "" } })),
            actions: [],
            reports: ["c:ControlPlaneSkipped"],
            state: { c: "failed" },
        },
        {
            what: "control-plane opt-in: 2 of 3 control-plane nodes Ready, claim",
            nodes: [
                healthy("a", { labels: { "node-role.kubernetes.io/control-plane": "" } }),
                healthy("b", { labels: { "node-role.kubernetes.io/control-plane": "" } }),
                down("c", 120_000, { labels: { "node-role.kubernetes.io/control-plane": "" } }),
            ],
            o: { remediateControlPlane: true },
            actions: ["claim:heartbeat.c"],
            reports: [],
            state: { c: "failed" },
        },
        {
            what: "control-plane opt-in: only 1 of 2 control-plane nodes Ready, not more than half",
            nodes: [
                healthy("a", { labels: { "node-role.kubernetes.io/master": "" } }),
                healthy("b"),
                down("c", 120_000, { labels: { "node-role.kubernetes.io/master": "" } }),
            ],
            o: { remediateControlPlane: true },
            actions: [],
            reports: ["c:ControlPlaneQuorum"],
            state: { c: "failed" },
        },
        {
            what: "opt-out label: skipped",
            nodes: three(down("c", 120_000, { labels: { "liberator.pets/exclude": "true" } })),
            actions: [],
            reports: ["c:OptedOut"],
            state: { c: "failed" },
        },
        {
            what: "an unprotected node with an external fence hook: the hook is the fence (claim first, hook next)",
            nodes: three(down("c", 120_000, {}, { renewedAt: NOW - 720_000 })),
            o: { fence: true },
            actions: ["claim:heartbeat.c"],
            reports: [],
            state: { c: "failed" },
        },
        {
            what: "unsafeNoFencing: an unprotected node is claimed, with a warning",
            nodes: three(down("c", 120_000, {}, { armed: false })),
            o: { unsafeNoFencing: true },
            actions: ["claim:heartbeat.c"],
            reports: ["c:UnsafeRemediation"],
            state: { c: "failed" },
        },
        {
            what: "unsafeNoFencing without any Lease: straight to the taint (the old behaviour)",
            nodes: three(down("c", 120_000, { heartbeat: undefined })),
            o: { unsafeNoFencing: true },
            actions: ["taint:c"],
            reports: ["c:UnsafeRemediation"],
            state: { c: "failed" },
        },
        {
            what: "unhealthyAfter (extra wait after NotReady) still running",
            nodes: three(down("c", 120_000, { notReadySince: NOW - 10_000 })),
            o: { unhealthyAfterMs: 30_000 },
            actions: [],
            reports: [],
            state: { c: "suspect" },
        },
    ] as { what: string; nodes: NodeView[]; o?: Partial<DecideConfig>; actions: string[]; reports: string[]; state: Record<string, string> }[])(
        "$what",
        ({ nodes, o, actions, reports, state }) => {
            const d = run(nodes, o);
            expect(kinds(d)).toEqual(actions);
            expect(reasons(d)).toEqual(reports);
            expect(d.states).toMatchObject(state);
        },
    );

    test("the claim carries the heartbeat Lease's resourceVersion from the observation (compare-and-swap)", () => {
        expect(run(three(down("c", 120_000))).actions).toEqual([{ kind: "claim", node: "c", lease: "heartbeat.c", resourceVersion: "rv-c" }]);
    });

    test("claim conflict: the agent renewed (we observe a new renewal), so the clock starts again", () => {
        const before = run(three(down("c", 120_000)));
        expect(before.states.c).toBe("failed");
        // The claim failed with 409; the watch then shows the agent's renewal at NOW - 1 s.
        const after = run(three(down("c", 120_000, { kubeletLeaseAt: NOW - 121_000 }, { renewedAt: NOW - 1_000, resourceVersion: "rv-c2" })));
        expect(after.states.c).toBe("unconfirmed");
        expect(after.actions).toEqual([]);
    });

    test("exact boundary: claim possible at last observed renewal + T_sf + T_exec + margin, not a millisecond before", () => {
        const at = (ago: number) => run(three(down("c", ago, { ready: "Unknown", notReadySince: NOW - 1_000 }))).states.c;
        expect(at(WAIT - 1)).toBe("suspect");
        expect(at(WAIT)).toBe("failed");
        const d = run(three(down("c", WAIT - 10_000, { ready: "Unknown", notReadySince: NOW - 1_000 })));
        expect(d.nextCheckAt).toBe(NOW + 10_000);
    });

    test("the wait uses the T_sf and T_exec the node's own agent advertised", () => {
        const slow = { ...TIMING, selfFenceMs: 120_000 };
        expect(run(three(down("c", 100_000, {}, { timing: slow }))).states.c).toBe("suspect");
        expect(run(three(down("c", 100_000))).states.c).toBe("failed");
    });

    test("the agent counts as protecting the node only if it was alive when the kubelet last was (fresh window)", () => {
        const gap = (g: number) => run(three(down("c", 120_000, { kubeletLeaseAt: NOW - 120_000 + g }, {}))).states.c;
        expect(gap(freshWindowMs(TIMING))).toBe("failed");
        expect(gap(freshWindowMs(TIMING) + 1)).toBe("unprotected");
    });
});

describe("decide: gates that block everything", () => {
    test.each([
        { leader: false, cacheFresh: true, blocked: "not-leader" },
        { leader: true, cacheFresh: false, blocked: "cache-stale" },
    ])("leader=$leader cacheFresh=$cacheFresh → $blocked (the leader itself cut off from the API server loses both)", ({ leader, cacheFresh, blocked }) => {
        const d = run(three(down("c", 120_000)), {}, { leader, cacheFresh });
        expect(d.blocked).toBe(blocked);
        expect(d.actions).toEqual([]);
        expect(d.reports).toEqual([]);
        // States are still computed, for metrics.
        expect(d.states.c).toBe("failed");
    });

    test("dry run: every planned action becomes a DryRun report", () => {
        const d = run(three(down("c", 120_000)), { dryRun: true });
        expect(d.actions).toEqual([]);
        expect(d.reports).toEqual([{ node: "c", reason: "DryRun", message: "dry run: would claim the heartbeat Lease heartbeat.c", warning: false }]);
    });
});

describe("decide: storm guard with a cooldown", () => {
    // A switch reboot cuts off B and C; the guard holds. B comes back; C is still cut off.
    const storm = [healthy("a"), down("b", 120_000), down("c", 120_000)];
    const bBack = [healthy("a"), healthy("b"), down("c", 180_000)];

    test("during the storm: nothing claimed; memory says a storm is on", () => {
        const d = run(storm);
        expect(d.storm).toBe(true);
        expect(d.memory).toEqual({ stormActive: true });
        expect(kinds(d)).toEqual([]);
    });

    test("B back: the count drops to the limit, but C waits for the cooldown", () => {
        const d = run(bBack, {}, { memory: { stormActive: true } });
        expect(d.storm).toBe(false);
        expect(d.memory).toEqual({ stormActive: false, stormEndedAt: NOW });
        expect(d.cooldownUntil).toBe(NOW + 60_000);
        expect(kinds(d)).toEqual([]);
        expect(reasons(d)).toEqual(["c:StormCooldown"]);
        expect(d.nextCheckAt).toBe(NOW + 60_000);
    });

    test.each([
        { after: 59_999, actions: [] as string[], reasons: ["c:StormCooldown"] },
        { after: 60_000, actions: ["claim:heartbeat.c"], reasons: [] as string[] },
    ])("$after ms after the storm ended → $actions", ({ after, actions, reasons: r }) => {
        const memory: DecideMemory = { stormActive: false, stormEndedAt: NOW - after };
        const d = run(bBack, {}, { memory });
        expect(kinds(d)).toEqual(actions);
        expect(reasons(d)).toEqual(r);
    });

    test("no storm memory at all: no cooldown", () => {
        expect(kinds(run(bBack))).toEqual(["claim:heartbeat.c"]);
    });

    test("a storm also stops the taint of a node claimed just before it", () => {
        const d = run([healthy("a"), down("b", 120_000), down("c", 120_000, {}, claimed())]);
        expect(kinds(d)).toEqual([]);
        expect(reasons(d)).toEqual(["b:TooManyUnhealthy", "c:TooManyUnhealthy"]);
    });

    test("percentages round down", () => {
        expect(allowedUnhealthy("34%", 3)).toBe(1);
        expect(allowedUnhealthy("50%", 5)).toBe(2);
        expect(allowedUnhealthy(0, 5)).toBe(0);
    });
});

describe("decide: after the claim, in order: hook → taint → pods → remediated → (delete-pvc)", () => {
    const sts = (name: string): PodView => ({ namespace: "db", name, uid: `uid-${name}`, statefulSet: name.replace(/-\d+$/, ""), claims: [] });
    const listing = (items: PodView[], o: { listedAt?: number; attemptedAt?: number } = {}) => ({ listedAt: NOW - 1_000, items, ...o });

    test.each([
        { what: "claimed, fence hook configured: run it", n: down("c", 120_000, {}, claimed()), o: { fence: true }, actions: ["fence:c"] },
        {
            what: "claimed, hook running: wait",
            n: down("c", 120_000, { fence: { state: "running" as const, at: NOW - 1_000 } }, claimed()),
            o: { fence: true },
            actions: [],
        },
        {
            what: "claimed, hook failed recently: report, retry later",
            n: down("c", 120_000, { fence: { state: "failed" as const, at: NOW - 1_000, message: "timed out" } }, claimed()),
            o: { fence: true },
            actions: [],
            reports: ["c:FenceFailed"],
        },
        {
            what: "claimed, hook failed long ago: run it again",
            n: down("c", 120_000, { fence: { state: "failed" as const, at: NOW - 31_000 } }, claimed()),
            o: { fence: true },
            actions: ["fence:c"],
        },
        {
            what: "claimed, hook succeeded: taint",
            n: down("c", 120_000, { fence: { state: "succeeded" as const, at: NOW - 1_000 } }, claimed()),
            o: { fence: true },
            actions: ["taint:c"],
        },
        { what: "claimed, no hook: taint", n: down("c", 120_000, {}, claimed()), actions: ["taint:c"] },
        { what: "tainted: list the node's pods", n: down("c", 120_000, ourTaint, claimed()), actions: ["listPods:c"] },
        {
            what: "listed: force-delete each StatefulSet pod (the default)",
            n: down("c", 120_000, { ...ourTaint, pods: listing([sts("web-1"), sts("db-0")]) }, claimed()),
            actions: ["forceDeletePod:web-1", "forceDeletePod:db-0"],
        },
        {
            what: "forceDeletePods off: the taint and the pod GC do it; we only watch",
            n: down("c", 120_000, { ...ourTaint, pods: listing([sts("web-1")]) }, claimed()),
            o: { forceDeletePods: false },
            actions: [],
        },
        {
            what: "acted on this listing already: wait for the recheck",
            n: down("c", 120_000, { ...ourTaint, pods: listing([sts("web-1")], { attemptedAt: NOW - 500 }) }, claimed()),
            actions: [],
        },
        {
            what: "listing too old: list again",
            n: down("c", 120_000, { ...ourTaint, pods: listing([sts("web-1")], { listedAt: NOW - 6_000 }) }, claimed()),
            actions: ["listPods:c"],
        },
        {
            what: "no StatefulSet pod left: mark the claim remediated (the agent may let the kubelet run)",
            n: down("c", 120_000, { ...ourTaint, pods: listing([]) }, claimed()),
            actions: ["markRemediated:heartbeat.c"],
        },
        { what: "remediated: nothing more", n: down("c", 120_000, ourTaint, claimed("remediated")), actions: [] },
        {
            what: "deleteNode mode: pods first, then mark remediated and delete the Node",
            n: down("c", 120_000, { pods: listing([]) }, claimed()),
            o: { mode: "deleteNode" as const },
            actions: ["markRemediated:heartbeat.c", "deleteNode:c"],
        },
        {
            what: "deleteNode mode, remediated but the Node delete failed: delete it again",
            n: down("c", 120_000, {}, claimed("remediated")),
            o: { mode: "deleteNode" as const },
            actions: ["deleteNode:c"],
        },
        { what: "Ready again with our taint: remove it first", n: healthy("c", ourTaint, claimed("remediated")), actions: ["untaint:c"] },
        { what: "Ready and untainted, still claimed: release the claim", n: healthy("c", {}, claimed("remediated")), actions: ["releaseClaim:heartbeat.c"] },
        { what: "claimed but Ready before any taint (it came back): release", n: healthy("c", {}, claimed("claimed")), actions: ["releaseClaim:heartbeat.c"] },
    ] as { what: string; n: NodeView; o?: Partial<DecideConfig>; actions: string[]; reports?: string[] }[])("$what", ({ n, o, actions, reports }) => {
        const d = run(three(n), o);
        expect(kinds(d)).toEqual(actions);
        expect(reasons(d)).toEqual(reports ?? []);
    });

    test("the taint and the claim writes carry the versions they were decided on", () => {
        expect(run(three(down("c", 120_000, {}, claimed()))).actions).toEqual([{ kind: "taint", node: "c", uid: "uid-c", resourceVersion: "7" }]);
        expect(run(three(down("c", 120_000, { ...ourTaint, pods: listing([]) }, claimed()))).actions).toEqual([
            { kind: "markRemediated", node: "c", lease: "heartbeat.c", resourceVersion: "rv-c" },
        ]);
    });

    test("a local volume without the opt-in: the pod waits for its node, and we say so", () => {
        const p = { ...sts("db-0"), claims: [{ name: "data-db-0", uid: "u1", deleting: false, localToNode: true, policy: "wait" as const }] };
        const d = run(three(down("c", 120_000, { ...ourTaint, pods: listing([p]) }, claimed())));
        expect(reasons(d)).toEqual(["c:WaitingForLocalVolume"]);
    });
});

describe("decide: delete-pvc only after the node is fenced and remediated", () => {
    const release = (o: Partial<ReleaseView> = {}): ReleaseView => ({
        node: "c",
        namespace: "db",
        pvc: "data-db-0",
        pvcUid: "pvc-uid",
        pvcDeleted: false,
        pod: "db-0",
        oldPodUid: "old-uid",
        ...o,
    });
    const go = (n: NodeView, r: ReleaseView, o: Partial<DecideConfig> = {}) => kinds(run(three(n), { releaseLocalVolumes: true, ...o }, { releases: [r] }));

    test.each([
        { what: "claimed, not yet tainted: never", n: down("c", 120_000, {}, claimed()), r: release(), actions: ["taint:c"] },
        { what: "tainted, pods not yet gone: never", n: down("c", 120_000, ourTaint, claimed()), r: release(), actions: ["listPods:c"] },
        { what: "remediated: delete the PVC", n: down("c", 120_000, ourTaint, claimed("remediated")), r: release(), actions: ["deletePvc:data-db-0"] },
        {
            what: "PVC deleted, the StatefulSet made a Pending replacement naming it: delete that pod",
            n: down("c", 120_000, ourTaint, claimed("remediated")),
            r: release({ pvcDeleted: true, replacement: { uid: "new-uid", phase: "Pending", deleting: false } }),
            actions: ["deleteReplacementPod:db-0"],
        },
        {
            what: "the StatefulSet already made a fresh PVC: leave the replacement alone",
            n: down("c", 120_000, ourTaint, claimed("remediated")),
            r: release({ pvcDeleted: true, freshPvc: true, replacement: { uid: "new-uid", phase: "Pending", deleting: false } }),
            actions: [],
        },
        {
            what: "replacement deleted once already: not again",
            n: down("c", 120_000, ourTaint, claimed("remediated")),
            r: release({ pvcDeleted: true, replacementDeleted: true, replacement: { uid: "newer", phase: "Pending", deleting: false } }),
            actions: [],
        },
        { what: "the node is back (Ready): keep the volume", n: healthy("c", ourTaint, claimed("remediated")), r: release(), actions: ["untaint:c"] },
        { what: "node deleted (deleteNode mode): go ahead", n: healthy("x"), r: release(), actions: ["deletePvc:data-db-0"] },
    ])("$what", ({ n, r, actions }) => {
        expect(go(n, r)).toEqual(actions);
    });

    test("without releaseLocalVolumes: nothing", () => {
        expect(go(down("c", 120_000, ourTaint, claimed("remediated")), release(), { releaseLocalVolumes: false })).toEqual([]);
    });
});

describe("decide: quorum and settle details", () => {
    test("a participant renewing for less than the settle period does not count yet; nextCheckAt is when it will", () => {
        const d = run([healthy("a", {}, { freshSince: NOW - 15_000 }), healthy("b", {}, { freshSince: NOW - 15_000 }), down("c", 120_000)]);
        expect(reasons(d)).toEqual(["c:QuorumLost"]);
        expect(d.quorum).toEqual({ participants: 3, settled: 0, ok: false });
        expect(d.nextCheckAt).toBe(NOW + 5_000);
    });

    test("an agent advertising a long fence execution stretches the settle period for everyone", () => {
        const slowExec = { ...TIMING, fenceExecMs: 60_000 };
        const settle = minSettleMs(slowExec, DEFAULT_DECIDE_CONFIG.marginMs);
        expect(settle).toBe(66_000);
        const nodes = [
            healthy("a", {}, { freshSince: NOW - 30_000 }),
            healthy("b", {}, { freshSince: NOW - 30_000 }),
            down("c", 200_000, {}, { timing: slowExec }),
        ];
        expect(reasons(run(nodes))).toEqual(["c:QuorumLost"]);
    });

    test("a claimed node never counts as fresh", () => {
        const d = run([healthy("a", {}, claimed()), healthy("b"), down("c", 120_000)]);
        expect(d.quorum.settled).toBe(1);
    });

    test("non-participants (never armed) are outside the quorum", () => {
        const d = run([healthy("a"), healthy("b", {}, { participant: false, armed: false }), down("c", 120_000)]);
        expect(d.quorum).toEqual({ participants: 2, settled: 1, ok: true });
    });
});

describe("Observations: monotonic, from observed changes", () => {
    test("notReadySince starts when we see Ready leave True and survives status flips", () => {
        const o = new Observations();
        o.observeNode("a", "True", 1_000);
        expect(o.notReadySince("a")).toBeUndefined();
        o.observeNode("a", "Unknown", 2_000);
        o.observeNode("a", "False", 3_000);
        expect(o.notReadySince("a")).toBe(2_000);
        o.observeNode("a", "True", 4_000);
        o.observeNode("a", "Unknown", 5_000);
        expect(o.notReadySince("a")).toBe(5_000);
    });

    test("a Lease counts as renewed when its renewTime changes, whatever the time written in it (skew and wall steps do not matter)", () => {
        const o = new Observations();
        o.observeLease("k", "2020-01-01T00:00:00.000000Z", 1_000);
        expect(o.lease("k")).toEqual({ renewTime: "2020-01-01T00:00:00.000000Z", at: 1_000, initial: true, runStart: 1_000 });
        o.observeLease("k", "2020-01-01T00:00:00.000000Z", 9_000);
        expect(o.lease("k")?.at).toBe(1_000);
        // The writer's wall clock stepped back a year: still a renewal, seen now.
        o.observeLease("k", "2019-01-01T00:00:00.000000Z", 10_000);
        expect(o.lease("k")).toMatchObject({ at: 10_000, initial: false });
    });

    test("fresh runs: a gap longer than the window starts a new run", () => {
        const o = new Observations();
        o.observeLease("k", "1", 0, 11_000);
        o.observeLease("k", "2", 5_000, 11_000);
        o.observeLease("k", "3", 10_000, 11_000);
        expect(o.lease("k")!.runStart).toBe(0);
        o.observeLease("k", "4", 22_000, 11_000);
        expect(o.lease("k")!.runStart).toBe(22_000);
    });
});

describe("orphaned local volumes: reported; only Delete-policy ones deleted; never Retain", () => {
    const pv = (name: string, o: Partial<PvView> = {}): PvView => ({
        name,
        uid: `uid-${name}`,
        resourceVersion: "3",
        phase: "Released",
        reclaimPolicy: "Delete",
        pinnedTo: ["gone"],
        ...o,
    });
    const orphans = (pvs: PvView[], o: Partial<DecideConfig> = {}, since: Record<string, number> = {}) =>
        decideOrphanedVolumes({
            now: NOW,
            config: { orphanedVolumes: "delete", orphanedVolumeGraceMs: 600_000, dryRun: false, ...o },
            leader: true,
            cacheFresh: true,
            nodes: [{ name: "a", labels: { "kubernetes.io/hostname": "host-a" } }],
            pvs,
            orphanSince: since,
        });

    test.each([
        { what: "Released, Delete, past the grace: deleted", p: pv("p1"), since: NOW - 600_000, actions: ["p1"], reports: [] },
        { what: "Released, Delete, within the grace: reported", p: pv("p1"), since: NOW - 1_000, actions: [], reports: ["p1:OrphanedVolume"] },
        {
            what: "Released, Retain: never deleted, reported",
            p: pv("p1", { reclaimPolicy: "Retain" }),
            since: NOW - 9e9,
            actions: [],
            reports: ["p1:OrphanedVolumeRetained"],
        },
        { what: "Bound: never deleted", p: pv("p1", { phase: "Bound", claim: "db/x" }), since: NOW - 9e9, actions: [], reports: ["p1:VolumeOnMissingNode"] },
        { what: "pinned to an existing node (by hostname label): not an orphan", p: pv("p1", { pinnedTo: ["host-a"] }), since: 0, actions: [], reports: [] },
    ])("$what", ({ p, since, actions, reports }) => {
        const d = orphans([p], {}, { [p.name]: since });
        expect(d.actions.map((a) => a.name)).toEqual(actions);
        expect(d.reports.map((r) => `${r.pv}:${r.reason}`)).toEqual(reports);
    });

    test("the Retain report says why", () => {
        expect(orphans([pv("p1", { reclaimPolicy: "Retain" })]).reports[0].message).toBe(
            "Released PV is pinned to node gone, which no longer exists; its reclaim policy is Retain, so the liberator never deletes it (delete it yourself once the data is not needed)",
        );
    });

    test("pinnedNodes reads hostname and metadata.name terms; a term without a host constraint means not pinned", () => {
        const term = (e: any[], f: any[] = []) => ({ spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: e, matchFields: f }] } } } });
        expect(pinnedNodes(term([{ key: "kubernetes.io/hostname", operator: "In", values: ["n1"] }]))).toEqual(["n1"]);
        expect(pinnedNodes(term([], [{ key: "metadata.name", operator: "In", values: ["n2"] }]))).toEqual(["n2"]);
        expect(pinnedNodes(term([{ key: "zone", operator: "In", values: ["z"] }]))).toEqual([]);
    });

    test("trackOrphans keeps first-seen times and forgets PVs no longer orphaned", () => {
        expect(trackOrphans({ a: 1, b: 2 }, ["b", "c"], 9)).toEqual({ b: 2, c: 9 });
    });
});
