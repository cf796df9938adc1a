import {
    allowedUnhealthy,
    decide,
    DecideConfig,
    DEFAULT_DECIDE_CONFIG,
    decideOrphanedVolumes,
    NodeView,
    Observations,
    OUT_OF_SERVICE_TAINT,
    pinnedNodes,
    PodView,
    PvView,
    TAINTED_ANNOTATION,
    trackOrphans,
} from "../../../liberator/decide";

const NOW = 10_000_000;
const U = 60_000;
const cfg = (o: Partial<DecideConfig> = {}): DecideConfig => ({ ...DEFAULT_DECIDE_CONFIG, ...o });

function healthy(name: string, o: Partial<NodeView> = {}): NodeView {
    return {
        name,
        uid: `uid-${name}`,
        resourceVersion: "7",
        labels: {},
        annotations: {},
        taints: [],
        ready: "True",
        kubeletLeaseAt: NOW - 5_000,
        heartbeatAt: NOW - 5_000,
        ...o,
    };
}
/** Not Ready, kubelet Lease and heartbeat all silent for `age`. */
function dead(name: string, age = 2 * U, o: Partial<NodeView> = {}): NodeView {
    return healthy(name, { ready: "Unknown", notReadySince: NOW - age, kubeletLeaseAt: NOW - age - 40_000, heartbeatAt: NOW - age - 40_000, ...o });
}
const ourTaint = { taints: [{ ...OUT_OF_SERVICE_TAINT }], annotations: { [TAINTED_ANNOTATION]: "2024-01-01T00:00:00Z" } };
const run = (
    nodes: NodeView[],
    o: Partial<DecideConfig> = {},
    extra: { leader?: boolean; cacheFresh?: boolean; recentlyDeleted?: { name: string; at: number }[] } = {},
) => decide({ now: NOW, config: cfg(o), leader: extra.leader ?? true, cacheFresh: extra.cacheFresh ?? true, nodes, recentlyDeleted: extra.recentlyDeleted });
const kinds = (d: ReturnType<typeof decide>) => d.actions.map((a) => `${a.kind}:${a.kind === "deletePvc" || a.kind === "forceDeletePod" ? a.name : a.node}`);
const reasons = (d: ReturnType<typeof decide>) => d.reports.map((r) => `${r.node}:${r.reason}`);

function sts(name: string, claims: PodView["claims"] = []): PodView {
    return { namespace: "db", name, uid: `uid-${name}`, statefulSet: name.replace(/-\d+$/, ""), claims };
}
const claim = (name: string, o: Partial<PodView["claims"][0]> = {}) => ({
    name,
    uid: `uid-${name}`,
    deleting: false,
    localToNode: true,
    policy: "wait" as const,
    ...o,
});

describe("decide: node states and remediation (table)", () => {
    test.each([
        { what: "healthy cluster: nothing to do", nodes: [healthy("a"), healthy("b")], actions: [], reports: [], states: { a: "healthy", b: "healthy" } },
        { what: "just failed: not Ready for 10s", nodes: [healthy("a"), dead("b", 10_000)], actions: [], reports: [], states: { b: "suspect" } },
        {
            what: "not Ready long, but the kubelet still renews its Lease",
            nodes: [healthy("a"), dead("b", 2 * U, { kubeletLeaseAt: NOW - 5_000 })],
            actions: [],
            reports: [],
            states: { b: "suspect" },
        },
        { what: "failed past the grace: tainted out-of-service", nodes: [healthy("a"), dead("b")], actions: ["taint:b"], reports: [], states: { b: "failed" } },
        {
            what: "exactly unhealthyAfter counts as failed",
            nodes: [healthy("a"), dead("b", U, { kubeletLeaseAt: NOW - U, heartbeatAt: NOW - U })],
            actions: ["taint:b"],
            reports: [],
            states: { b: "failed" },
        },
        {
            what: "Ready=False (not only Unknown) is a failure too",
            nodes: [healthy("a"), dead("b", 2 * U, { ready: "False" })],
            actions: ["taint:b"],
            reports: [],
            states: { b: "failed" },
        },
        {
            what: "kubelet silent but the liberator on the node still beats: partition or kubelet crash, hold back",
            nodes: [healthy("a"), dead("b", 2 * U, { heartbeatAt: NOW - 3_000 })],
            actions: [],
            reports: ["b:HeartbeatAlive"],
            states: { b: "unconfirmed" },
        },
        {
            what: "no heartbeat Lease for the node: cannot confirm, hold back",
            nodes: [healthy("a"), dead("b", 2 * U, { heartbeatAt: undefined })],
            actions: [],
            reports: ["b:NoHeartbeatLease"],
            states: { b: "unconfirmed" },
        },
        {
            what: "no kubelet Lease: cannot confirm, hold back",
            nodes: [healthy("a"), dead("b", 2 * U, { kubeletLeaseAt: undefined })],
            actions: [],
            reports: ["b:NoKubeletLease"],
            states: { b: "unconfirmed" },
        },
        {
            what: "control-plane node is never remediated",
            nodes: [healthy("a"), dead("cp", 2 * U, { labels: { "node-role.kubernetes.io/control-plane": "" } })],
            actions: [],
            reports: ["cp:ControlPlaneSkipped"],
            states: { cp: "failed" },
        },
        {
            what: "legacy master label is control-plane too",
            nodes: [healthy("a"), dead("m", 2 * U, { labels: { "node-role.kubernetes.io/master": "" } })],
            actions: [],
            reports: ["m:ControlPlaneSkipped"],
            states: { m: "failed" },
        },
        {
            what: "opt-out label: skipped",
            nodes: [healthy("a"), dead("b", 2 * U, { labels: { "liberator.pets/exclude": "true" } })],
            actions: [],
            reports: ["b:OptedOut"],
            states: { b: "failed" },
        },
        {
            what: "storm: two dead with maxUnhealthy 1, do nothing and say so",
            nodes: [healthy("a"), dead("b"), dead("c")],
            actions: [],
            reports: ["b:TooManyUnhealthy", "c:TooManyUnhealthy"],
            states: { b: "failed", c: "failed" },
        },
        {
            what: "storm counts every not-Ready node, even one only suspect",
            nodes: [healthy("a"), dead("b"), dead("c", 5_000)],
            actions: [],
            reports: ["b:TooManyUnhealthy"],
            states: { c: "suspect" },
        },
        {
            what: "node back (Ready) with our taint: taint removed",
            nodes: [healthy("a", ourTaint)],
            actions: ["untaint:a"],
            reports: [],
            states: { a: "recovering" },
        },
        {
            what: "node back with someone else's out-of-service taint: left alone",
            nodes: [healthy("a", { taints: [{ ...OUT_OF_SERVICE_TAINT }] })],
            actions: [],
            reports: [],
            states: { a: "healthy" },
        },
        {
            what: "already tainted and still dead: nothing more to do",
            nodes: [healthy("a"), dead("b", 2 * U, ourTaint)],
            actions: [],
            reports: [],
            states: { b: "remediated" },
        },
    ])("$what", ({ nodes, actions, reports, states }) => {
        const d = run(nodes);
        expect(kinds(d)).toEqual(actions);
        expect(reasons(d)).toEqual(reports);
        expect(d.states).toMatchObject(states);
    });

    test("the taint action carries the node's uid and resourceVersion (optimistic concurrency)", () => {
        expect(run([healthy("a"), dead("b", 2 * U, { resourceVersion: "42" })]).actions).toEqual([
            { kind: "taint", node: "b", uid: "uid-b", resourceVersion: "42" },
        ]);
    });

    test("nextCheckAt is the moment a suspect node would turn failed", () => {
        expect(run([healthy("a"), dead("b", 10_000)]).nextCheckAt).toBe(NOW - 10_000 + U);
        expect(run([healthy("a"), dead("b", 2 * U, { kubeletLeaseAt: NOW - 5_000 })]).nextCheckAt).toBe(NOW - 5_000 + U);
        expect(run([healthy("a"), dead("b", 2 * U, { heartbeatAt: NOW - 3_000 })]).nextCheckAt).toBe(NOW - 3_000 + U);
        expect(run([healthy("a")]).nextCheckAt).toBeUndefined();
    });

    test("a custom opt-out label", () => {
        const d = run([healthy("a"), dead("b", 2 * U, { labels: { "example.com/keep": "" } })], { optOutLabel: "example.com/keep" });
        expect(reasons(d)).toEqual(["b:OptedOut"]);
    });

    test("the storm report says how many and what is allowed", () => {
        const d = run([healthy("a"), dead("b"), dead("c")]);
        expect(d).toMatchObject({ storm: true, unhealthy: 2, allowed: 1 });
        expect(d.reports[0].message).toBe(
            "2 nodes are unhealthy, more than maxUnhealthy allows (1); doing nothing, since a network problem or the liberator itself is the likelier cause",
        );
        expect(d.reports[0].warning).toBe(true);
    });

    test("the taint comes off a recovered node even during a storm", () => {
        const d = run([healthy("a", ourTaint), dead("b"), dead("c")]);
        expect(kinds(d)).toEqual(["untaint:a"]);
    });

    test.each([
        { max: "20%", total: 10, dead: 2, acts: 2 },
        { max: "20%", total: 10, dead: 3, acts: 0 },
        { max: "34%", total: 3, dead: 1, acts: 1 },
        { max: "30%", total: 3, dead: 1, acts: 0 },
        { max: 0, total: 3, dead: 1, acts: 0 },
        { max: 2, total: 3, dead: 2, acts: 2 },
    ])("maxUnhealthy $max of $total nodes with $dead dead → $acts remediated", ({ max, total, dead: nDead, acts }) => {
        const nodes = Array.from({ length: total }, (_, i) => (i < nDead ? dead(`n${i}`) : healthy(`n${i}`)));
        expect(run(nodes, { maxUnhealthy: max }).actions).toHaveLength(acts);
    });

    test("allowedUnhealthy rounds percentages down", () => {
        expect([allowedUnhealthy("50%", 3), allowedUnhealthy("100%", 3), allowedUnhealthy(4, 3)]).toEqual([1, 3, 4]);
        expect(() => allowedUnhealthy("x", 3)).toThrow('maxUnhealthy "x" is neither a count nor a percentage');
    });
});

describe("decide: gates", () => {
    test.each([
        { what: "non-leader: never acts nor reports", leader: false, cacheFresh: true, blocked: "not-leader" },
        { what: "leader with a stale cache (a watch is down): holds back", leader: true, cacheFresh: false, blocked: "cache-stale" },
    ])("$what", ({ leader, cacheFresh, blocked }) => {
        const d = run([healthy("a", ourTaint), dead("b"), dead("c", 2 * U, { heartbeatAt: NOW })], {}, { leader, cacheFresh });
        expect(d.actions).toEqual([]);
        expect(d.reports).toEqual([]);
        expect(d.blocked).toBe(blocked);
        expect(d.states).toEqual({ a: "recovering", b: "failed", c: "unconfirmed" });
    });

    test("leader with a current cache acts", () => {
        expect(run([healthy("a"), dead("b")]).blocked).toBeUndefined();
    });

    test.each([
        {
            what: "taint",
            nodes: [healthy("a"), dead("b")],
            o: {},
            message: "dry run: would taint the node node.kubernetes.io/out-of-service=nodeshutdown:NoExecute",
        },
        { what: "delete", nodes: [healthy("a"), dead("b")], o: { mode: "deleteNode" as const }, message: "dry run: would delete the node" },
        { what: "untaint", nodes: [healthy("b", ourTaint)], o: {}, message: "dry run: would remove the node.kubernetes.io/out-of-service taint" },
        {
            what: "fence then taint",
            nodes: [healthy("a"), dead("b")],
            o: { fence: true },
            message: "dry run: would run the fence hook, then taint the node node.kubernetes.io/out-of-service=nodeshutdown:NoExecute",
        },
    ])("dry-run only reports ($what)", ({ nodes, o, message }) => {
        const d = run(nodes, { dryRun: true, ...o });
        expect(d.actions).toEqual([]);
        expect(d.reports).toEqual([{ node: "b", reason: "DryRun", message, warning: false }]);
    });

    test("dry-run still lists pods (reading is harmless) and then names the pods it would delete", () => {
        const first = run([healthy("a"), dead("b")], { dryRun: true, forceDeletePods: true });
        expect(kinds(first)).toEqual(["listPods:b"]);
        const listed = run([healthy("a"), dead("b", 2 * U, { pods: { listedAt: NOW, items: [sts("web-0")] } })], { dryRun: true, forceDeletePods: true });
        expect(listed.actions).toEqual([]);
        expect(listed.reports[0].message).toBe(
            "dry run: would taint the node node.kubernetes.io/out-of-service=nodeshutdown:NoExecute, then force-delete pod db/web-0",
        );
    });
});

describe("decide: deleteNode mode and the storm window", () => {
    test("deletes the node (uid and resourceVersion as preconditions), even if someone tainted it", () => {
        const d = run([healthy("a"), dead("b", 2 * U, { taints: [{ ...OUT_OF_SERVICE_TAINT }], resourceVersion: "9" })], { mode: "deleteNode" });
        expect(d.actions).toEqual([{ kind: "deleteNode", node: "b", uid: "uid-b", resourceVersion: "9" }]);
    });

    test("a node we deleted still counts as unhealthy for the storm window", () => {
        const recentlyDeleted = [{ name: "x", at: NOW - 60_000 }];
        const d = run([healthy("a"), healthy("c"), dead("b")], { mode: "deleteNode" }, { recentlyDeleted });
        expect(d).toMatchObject({ storm: true, unhealthy: 2, allowed: 1 });
        expect(reasons(d)).toEqual(["b:TooManyUnhealthy"]);
        expect(d.nextCheckAt).toBe(NOW - 60_000 + DEFAULT_DECIDE_CONFIG.stormWindowMs);
        const later = run(
            [healthy("a"), healthy("c"), dead("b")],
            { mode: "deleteNode" },
            { recentlyDeleted: [{ name: "x", at: NOW - DEFAULT_DECIDE_CONFIG.stormWindowMs }] },
        );
        expect(kinds(later)).toEqual(["deleteNode:b"]);
    });

    test("a deleted node that re-registered is not counted twice", () => {
        const d = run([healthy("a"), healthy("x"), dead("b")], { mode: "deleteNode" }, { recentlyDeleted: [{ name: "x", at: NOW - 1000 }] });
        expect(d.unhealthy).toBe(1);
    });
});

describe("decide: force-deleting StatefulSet pods", () => {
    const o = { forceDeletePods: true };
    test("lists the node's pods first", () => {
        expect(kinds(run([healthy("a"), dead("b")], o))).toEqual(["listPods:b"]);
    });

    test("taint mode: taint, then force-delete each StatefulSet pod", () => {
        const d = run([healthy("a"), dead("b", 2 * U, { pods: { listedAt: NOW - 1000, items: [sts("web-0"), sts("db-1")] } })], o);
        expect(kinds(d)).toEqual(["taint:b", "forceDeletePod:web-0", "forceDeletePod:db-1"]);
        expect(d.actions[1]).toEqual({ kind: "forceDeletePod", node: "b", namespace: "db", name: "web-0", uid: "uid-web-0" });
    });

    test("deleteNode mode: pods first, then the node", () => {
        const d = run([healthy("a"), dead("b", 2 * U, { pods: { listedAt: NOW - 1000, items: [sts("web-0")] } })], { ...o, mode: "deleteNode" });
        expect(kinds(d)).toEqual(["forceDeletePod:web-0", "deleteNode:b"]);
    });

    test.each([
        { what: "tainted, pods never listed: list", pods: undefined, actions: ["listPods:b"] },
        { what: "tainted, listing stale: list again", pods: { listedAt: NOW - 31_000, items: [sts("web-0")] }, actions: ["listPods:b"] },
        {
            what: "tainted, fresh listing not yet acted on: force-delete",
            pods: { listedAt: NOW - 1000, items: [sts("web-0")] },
            actions: ["forceDeletePod:web-0"],
        },
        {
            what: "tainted, acted on this listing: wait for the recheck",
            pods: { listedAt: NOW - 1000, attemptedAt: NOW - 500, items: [sts("web-0")] },
            actions: [],
        },
        { what: "tainted, no StatefulSet pods left: done", pods: { listedAt: NOW - 100_000, items: [] }, actions: [] },
    ])("$what", ({ pods, actions }) => {
        const d = run([healthy("a"), dead("b", 2 * U, { ...ourTaint, pods })], o);
        expect(kinds(d)).toEqual(actions);
    });

    test("waiting for the recheck sets the next deadline", () => {
        const d = run([healthy("a"), dead("b", 2 * U, { ...ourTaint, pods: { listedAt: NOW - 1000, attemptedAt: NOW - 500, items: [sts("web-0")] } })], o);
        expect(d.nextCheckAt).toBe(NOW - 1000 + DEFAULT_DECIDE_CONFIG.podRecheckMs);
    });
});

describe("decide: local-volume policy", () => {
    const o = { releaseLocalVolumes: true };
    const withPods = (items: PodView[]) => [healthy("a"), dead("b", 2 * U, { pods: { listedAt: NOW - 1000, items } })];

    test("default: wait for the node (no data lost), say so, and taint", () => {
        const d = run(withPods([sts("pg-0", [claim("data-pg-0")])]), o);
        expect(kinds(d)).toEqual(["taint:b"]);
        expect(d.reports).toEqual([
            {
                node: "b",
                reason: "WaitingForLocalVolume",
                message:
                    'pod db/pg-0 keeps PVC data-pg-0, whose volume lives on b; it will start again when the node returns (StatefulSet pg has no "liberator.pets/local-volume-policy: delete-pvc")',
                warning: false,
            },
        ]);
    });

    test("opted-in StatefulSet: its local PVC is deleted before the taint, so the replacement gets fresh storage", () => {
        const d = run(withPods([sts("pg-0", [claim("data-pg-0", { policy: "delete-pvc" })]), sts("web-0", [claim("www-web-0")])]), o);
        expect(kinds(d)).toEqual(["deletePvc:data-pg-0", "taint:b"]);
        expect(d.actions[0]).toEqual({ kind: "deletePvc", node: "b", namespace: "db", name: "data-pg-0", uid: "uid-data-pg-0", pod: "pg-0" });
        expect(reasons(d)).toEqual(["b:WaitingForLocalVolume"]);
    });

    test("deleteNode mode: PVC first, then the node", () => {
        const d = run(withPods([sts("pg-0", [claim("data-pg-0", { policy: "delete-pvc" })])]), { ...o, mode: "deleteNode" });
        expect(kinds(d)).toEqual(["deletePvc:data-pg-0", "deleteNode:b"]);
    });

    test.each([
        {
            what: "volume not on the node (network storage): nothing",
            c: claim("d", { localToNode: false, policy: "delete-pvc" as const }),
            actions: ["taint:b"],
            reports: [],
        },
        { what: "PVC already being deleted: not again", c: claim("d", { deleting: true, policy: "delete-pvc" as const }), actions: ["taint:b"], reports: [] },
    ])("$what", ({ c, actions, reports }) => {
        const d = run(withPods([sts("pg-0", [c])]), o);
        expect(kinds(d)).toEqual(actions);
        expect(reasons(d)).toEqual(reports);
    });

    test("without releaseLocalVolumes an opted-in StatefulSet still waits", () => {
        const d = run(withPods([sts("pg-0", [claim("data-pg-0", { policy: "delete-pvc" })])]), { forceDeletePods: true });
        expect(kinds(d)).toEqual(["taint:b", "forceDeletePod:pg-0"]);
        expect(reasons(d)).toEqual(["b:WaitingForLocalVolume"]);
    });

    test("needs a pod listing first", () => {
        expect(kinds(run([healthy("a"), dead("b")], o))).toEqual(["listPods:b"]);
    });
});

describe("decide: fence hook", () => {
    const o = { fence: true };
    test.each([
        { what: "not fenced yet: fence first", fence: undefined, actions: ["fence:b"], reports: [] },
        { what: "fence running: wait", fence: { state: "running" as const, at: NOW - 1000 }, actions: [], reports: [] },
        {
            what: "fence failed recently: no remediation, say so",
            fence: { state: "failed" as const, at: NOW - 1000, message: "HTTP 500" },
            actions: [],
            reports: ["b:FenceFailed"],
        },
        { what: "fence failed long ago: try again", fence: { state: "failed" as const, at: NOW - 31_000 }, actions: ["fence:b"], reports: [] },
        { what: "fenced: remediate", fence: { state: "succeeded" as const, at: NOW - 1000 }, actions: ["taint:b"], reports: [] },
    ])("$what", ({ fence, actions, reports }) => {
        const d = run([healthy("a"), dead("b", 2 * U, { fence })], o);
        expect(kinds(d)).toEqual(actions);
        expect(reasons(d)).toEqual(reports);
    });

    test("a failed fence sets the retry deadline", () => {
        expect(run([healthy("a"), dead("b", 2 * U, { fence: { state: "failed", at: NOW - 1000 } })], o).nextCheckAt).toBe(NOW - 1000 + 30_000);
    });

    test("the fence does not run for control-plane, opted-out or storm nodes", () => {
        const d = run([healthy("a"), healthy("z"), dead("cp", 2 * U, { labels: { "node-role.kubernetes.io/control-plane": "" } })], o);
        expect(d.actions).toEqual([]);
        expect(run([healthy("a"), dead("b"), dead("c")], o).actions).toEqual([]);
    });
});

describe("Observations: staleness on our own clock", () => {
    test("notReadySince starts when we see Ready leave True and survives status flips between False and Unknown", () => {
        const o = new Observations();
        o.observeNode("a", "True", 1000);
        expect(o.notReadySince("a")).toBeUndefined();
        o.observeNode("a", "Unknown", 2000);
        o.observeNode("a", "False", 3000);
        expect(o.notReadySince("a")).toBe(2000);
        o.observeNode("a", "True", 4000);
        o.observeNode("a", "Unknown", 5000);
        expect(o.notReadySince("a")).toBe(5000);
    });

    test("a node first seen not Ready counts from that moment (a restart waits a full unhealthyAfter)", () => {
        const o = new Observations();
        o.observeNode("a", "Unknown", 7000);
        expect(o.notReadySince("a")).toBe(7000);
    });

    test("a lease counts as renewed when its renewTime changes, whatever the time written in it", () => {
        const o = new Observations();
        o.observeLease("kubelet/a", "2030-01-01T00:00:00.000000Z", 1000); // the node's clock is years ahead
        o.observeLease("kubelet/a", "2030-01-01T00:00:00.000000Z", 5000); // same record seen again: no renewal
        expect(o.leaseAt("kubelet/a")).toBe(1000);
        o.observeLease("kubelet/a", "2020-01-01T00:00:10.000000Z", 9000); // clock went back: still a renewal
        expect(o.leaseAt("kubelet/a")).toBe(9000);
        o.forgetLease("kubelet/a");
        expect(o.leaseAt("kubelet/a")).toBeUndefined();
    });
});

describe("orphaned local volumes", () => {
    const pinned = (values: string[], key = "kubernetes.io/hostname") => ({
        spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key, operator: "In", values }] }] } } },
    });
    test.each([
        { what: "local-path PV", pv: pinned(["n1"]), nodes: ["n1"] },
        {
            what: "matchFields on metadata.name",
            pv: { spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["n2"] }] }] } } } },
            nodes: ["n2"],
        },
        { what: "zone affinity is not a pin", pv: pinned(["zone-a"], "topology.kubernetes.io/zone"), nodes: [] },
        { what: "no affinity", pv: { spec: {} }, nodes: [] },
    ])("pinnedNodes: $what", ({ pv, nodes }) => {
        expect(pinnedNodes(pv)).toEqual(nodes);
    });

    const pv = (name: string, phase: string, on: string[], claimRef?: string): PvView => ({
        name,
        uid: `uid-${name}`,
        resourceVersion: "5",
        phase,
        pinnedTo: on,
        ...(claimRef ? { claim: claimRef } : {}),
    });
    const nodes = [
        { name: "n1", labels: { "kubernetes.io/hostname": "n1" } },
        { name: "ip-10-0-0-2", labels: { "kubernetes.io/hostname": "host-2" } },
    ];
    const orphan = (o: Partial<Parameters<typeof decideOrphanedVolumes>[0]> & { mode?: "ignore" | "report" | "delete"; dryRun?: boolean }) =>
        decideOrphanedVolumes({
            now: NOW,
            config: { orphanedVolumes: o.mode ?? "report", orphanedVolumeGraceMs: 600_000, dryRun: o.dryRun ?? false },
            leader: o.leader ?? true,
            cacheFresh: o.cacheFresh ?? true,
            nodes: o.nodes ?? nodes,
            pvs: o.pvs ?? [],
            orphanSince: o.orphanSince ?? {},
        });

    test("reports Released PVs of deleted nodes; nodes matched by name or hostname label are not orphans", () => {
        const d = orphan({
            pvs: [pv("pv-a", "Released", ["gone"]), pv("pv-b", "Released", ["n1"]), pv("pv-c", "Released", ["host-2"]), pv("pv-d", "Bound", [])],
        });
        expect(d.orphaned).toEqual(["pv-a"]);
        expect(d.actions).toEqual([]);
        expect(d.reports).toEqual([
            {
                pv: "pv-a",
                reason: "OrphanedVolume",
                message: 'Released PV is pinned to node gone, which no longer exists; set orphanedVolumes to "delete" to remove such PVs',
                warning: true,
            },
        ]);
    });

    test("delete mode: waits the grace period, then deletes with uid and resourceVersion preconditions", () => {
        const fresh = orphan({ mode: "delete", pvs: [pv("pv-a", "Released", ["gone"])] });
        expect(fresh.actions).toEqual([]);
        expect(fresh.nextCheckAt).toBe(NOW + 600_000);
        const later = orphan({ mode: "delete", pvs: [pv("pv-a", "Released", ["gone"])], orphanSince: { "pv-a": NOW - 600_000 } });
        expect(later.actions).toEqual([{ kind: "deletePv", name: "pv-a", uid: "uid-pv-a", resourceVersion: "5" }]);
    });

    test("a Bound PV on a missing node is reported, never deleted", () => {
        const d = orphan({ mode: "delete", pvs: [pv("pv-a", "Bound", ["gone"], "db/data-pg-0")], orphanSince: { "pv-a": 0 } });
        expect(d.actions).toEqual([]);
        expect(d.reports.map((r) => r.reason)).toEqual(["VolumeOnMissingNode"]);
    });

    test.each([
        { what: "non-leader", o: { leader: false } },
        { what: "stale cache", o: { cacheFresh: false } },
        { what: "no nodes known (a broken list must not orphan everything)", o: { nodes: [] } },
        { what: "ignore mode", o: { mode: "ignore" as const } },
    ])("does nothing when $what", ({ o }) => {
        const d = orphan({ mode: "delete", pvs: [pv("pv-a", "Released", ["gone"])], orphanSince: { "pv-a": 0 }, ...o });
        expect([d.actions, d.reports]).toEqual([[], []]);
    });

    test("dry-run reports the deletion instead", () => {
        const d = orphan({ mode: "delete", dryRun: true, pvs: [pv("pv-a", "Failed", ["gone"])], orphanSince: { "pv-a": 0 } });
        expect(d.actions).toEqual([]);
        expect(d.reports.map((r) => r.reason)).toEqual(["DryRun"]);
    });

    test("trackOrphans keeps first-seen times and forgets PVs that are no longer orphaned", () => {
        expect(trackOrphans({ a: 1, b: 2 }, ["a", "c"], 9)).toEqual({ a: 1, c: 9 });
    });
});
