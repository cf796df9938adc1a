// The gate between decisions and the API server, and the stale-heartbeat decision, as tables.
import { Action, decideStaleHeartbeats, HeartbeatLeaseView, NodeView } from "../../../liberator/decide";
import { Awaiting, Backoff, backoffDelayMs, gate, groupBySubject, subjectOf, writeKey } from "../../../liberator/plan";

const node = (name: string, rv = "10", hbRv?: string): NodeView => ({
    name,
    uid: `uid-${name}`,
    resourceVersion: rv,
    labels: {},
    annotations: {},
    taints: [],
    ready: "Unknown",
    ...(hbRv ? { heartbeat: { name: `heartbeat.${name}`, resourceVersion: hbRv, armed: true, participant: true, peers: [] } } : {}),
});

describe("plan: subjects, groups and the gate", () => {
    const claim: Action = { kind: "claim", node: "n1", lease: "heartbeat.n1", resourceVersion: "5" };
    const taint: Action = { kind: "taint", node: "n1", uid: "u", resourceVersion: "10" };
    const pv: Action = { kind: "deletePv", name: "pv-1", uid: "u", resourceVersion: "1" };
    const hb: Action = { kind: "deleteHeartbeat", node: "gone", lease: "heartbeat.gone", uid: "u", resourceVersion: "1", holder: "agent-x" };

    test("every action has a subject: its node, its PV or its Lease; node and claim writes are awaited", () => {
        expect([claim, taint, pv, hb].map(subjectOf)).toEqual(["n1", "n1", "pv/pv-1", "lease/heartbeat.gone"]);
        expect([claim, taint, pv, hb].map(writeKey)).toEqual(["lease:n1", "n1", undefined, undefined]);
        expect(writeKey({ kind: "listPods", node: "n1" })).toBeUndefined();
    });

    test("groups keep the decided order of subjects and of actions within one", () => {
        const other: Action = { kind: "listPods", node: "n2" };
        expect(groupBySubject([claim, other, pv, taint, hb])).toEqual([
            { subject: "n1", actions: [claim, taint] },
            { subject: "n2", actions: [other] },
            { subject: "pv/pv-1", actions: [pv] },
            { subject: "lease/heartbeat.gone", actions: [hb] },
        ]);
    });

    test("backoff doubles from 5 s up to 5 min", () => {
        expect([0, 1, 2, 5, 6, 10].map(backoffDelayMs)).toEqual([5_000, 10_000, 20_000, 160_000, 300_000, 300_000]);
    });

    test.each<[string, { backoff?: [string, Backoff][]; awaiting?: [string, Awaiting][]; view?: NodeView }, { open: boolean; seen: string[] }]>([
        ["nothing pending", { view: node("n1") }, { open: true, seen: ["n1", "lease:n1"] }],
        ["in backoff", { backoff: [["n1", { until: 1_500, failures: 1 }]], view: node("n1") }, { open: false, seen: [] }],
        ["backoff over", { backoff: [["n1", { until: 1_000, failures: 1 }]], view: node("n1") }, { open: true, seen: ["n1", "lease:n1"] }],
        ["our Node write not seen yet", { awaiting: [["n1", { rv: "10", until: 2_000 }]], view: node("n1", "10") }, { open: false, seen: [] }],
        [
            "our Node write seen (a newer version)",
            { awaiting: [["n1", { rv: "10", until: 2_000 }]], view: node("n1", "11") },
            { open: true, seen: ["n1", "lease:n1"] },
        ],
        ["waited long enough", { awaiting: [["n1", { rv: "10", until: 1_000 }]], view: node("n1", "10") }, { open: true, seen: ["n1", "lease:n1"] }],
        ["our Lease write not seen yet", { awaiting: [["lease:n1", { rv: "5", until: 2_000 }]], view: node("n1", "10", "5") }, { open: false, seen: ["n1"] }],
        ["a node without a view (gone): nothing to await", { awaiting: [["n1", { rv: "10", until: 2_000 }]] }, { open: true, seen: ["n1", "lease:n1"] }],
    ])("gate: %s", (_what, s, expected) => {
        expect(gate("n1", { now: 1_000, view: s.view, backoff: new Map(s.backoff ?? []), awaiting: new Map(s.awaiting ?? []) })).toEqual(expected);
    });
});

describe("decideStaleHeartbeats: Leases whose agent is gone", () => {
    const lease = (name: string, o: Partial<HeartbeatLeaseView> = {}): HeartbeatLeaseView => ({
        node: name,
        name: `heartbeat.${name}`,
        uid: `uid-${name}`,
        resourceVersion: "7",
        holder: `agent-${name}`,
        claimed: false,
        fresh: false,
        ...o,
    });
    const input = (leases: HeartbeatLeaseView[], goneSince: Record<string, number> = {}, o: { now?: number; dryRun?: boolean } = {}) => ({
        now: o.now ?? 10_000,
        graceMs: 5_000,
        dryRun: o.dryRun ?? false,
        leases,
        agentPods: new Set(["agent-a"]),
        nodes: new Set(["a", "b"]),
        goneSince,
    });

    test("first seen gone: remembered, checked again when the grace ends; nothing deleted", () => {
        expect(decideStaleHeartbeats(input([lease("a"), lease("b")]))).toEqual({
            actions: [],
            goneSince: { "heartbeat.b": 10_000 },
            nextCheckAt: 15_000,
        });
    });

    test("gone for the grace period: deleted with its uid and version; an agent pod that runs, or a node that went, decide", () => {
        const d = decideStaleHeartbeats(input([lease("a"), lease("b"), lease("c", { holder: "agent-a" })], { "heartbeat.b": 4_000, "heartbeat.c": 5_000 }));
        expect(d.actions).toEqual([
            { kind: "deleteHeartbeat", node: "b", lease: "heartbeat.b", uid: "uid-b", resourceVersion: "7", holder: "agent-b" },
            { kind: "deleteHeartbeat", node: "c", lease: "heartbeat.c", uid: "uid-c", resourceVersion: "7", holder: "agent-a" },
        ]);
        expect(d.goneSince).toEqual({ "heartbeat.b": 4_000, "heartbeat.c": 5_000 });
    });

    test("never a claimed or fresh one, and its clock starts again; a dry run deletes nothing", () => {
        const gone = { "heartbeat.b": 0 };
        expect(decideStaleHeartbeats(input([lease("b", { claimed: true })], gone))).toEqual({ actions: [], goneSince: {} });
        expect(decideStaleHeartbeats(input([lease("b", { fresh: true })], gone))).toEqual({ actions: [], goneSince: {} });
        expect(decideStaleHeartbeats(input([lease("b")], gone, { dryRun: true }))).toEqual({ actions: [], goneSince: gone });
    });
});
