// The footprint benchmark's pure parts: requests per process kind from audit records, whether
// traffic grows at most linearly with the node count, and how the agent's node flags and the
// controller's settings are read (bench/lib/footprint.ts, bench/benchmarks/footprint.ts).
import { AuditRequest } from "../../bench/lib/audit";
import { aliveNodeMinutes, linearity, requestsByKind } from "../../bench/lib/footprint";
import { envToFlags, parseFlagSets } from "../../bench/benchmarks/footprint";

const T0 = Date.parse("2026-11-30T01:00:00Z");
const AGENT = "system:serviceaccount:tkr-system:high-availability-agent";
const CONTROLLER = "system:serviceaccount:tkr-system:high-availability";
function req(atS: number, username: string, verb: string, resource = "leases"): AuditRequest {
    return { auditID: `${atS}-${username}-${verb}`, verb, username, userAgent: "pets-liberator-agent/pets-worker-1", receivedMs: T0 + atS * 1000, resource };
}

test("requestsByKind: counts each kind's requests inside the window only, per minute and per process", () => {
    const requests = [
        req(-1, AGENT, "update"), // before the window
        req(0, AGENT, "update"),
        req(5, AGENT, "update"),
        req(10, AGENT, "list"),
        req(20, CONTROLLER, "watch", "nodes"),
        req(30, CONTROLLER, "update"),
        req(40, "system:admin", "get", "nodes"), // not the target's
        req(120, AGENT, "update"), // at the end: outside [start, end)
    ];
    const users: Record<string, string> = { [AGENT]: "agent", [CONTROLLER]: "controller" };
    const kinds = requestsByKind(requests, (r) => users[r.username], { startMs: T0, endMs: T0 + 120_000 }, { agent: 3, controller: 2 });
    expect(kinds).toEqual([
        { kind: "agent", total: 3, perMinute: 1.5, perMinutePerProcess: 0.5, byVerb: { update: 2, list: 1 }, byResource: { leases: 3 } },
        { kind: "controller", total: 2, perMinute: 1, perMinutePerProcess: 0.5, byVerb: { watch: 1, update: 1 }, byResource: { nodes: 1, leases: 1 } },
    ]);
    // No process count: no per-process figure.
    expect(requestsByKind(requests, (r) => users[r.username], { startMs: T0, endMs: T0 + 60_000 })[0].perMinutePerProcess).toBeUndefined();
});

test("linearity: a rate proportional to nodes plus a fixed part is linear; one growing with nodes² is not", () => {
    const lin = linearity(
        new Map([
            [10, [130, 126]],
            [25, [310, 306]],
            [50, [610, 606]],
        ]),
    );
    expect(lin.slopePerNode).toBeCloseTo(12, 1);
    expect(lin.intercept).toBeCloseTo(8, 0);
    expect(lin.r2).toBeGreaterThan(0.999);
    expect(lin.perNode).toEqual([
        { nodes: 10, perNode: 12.8 },
        { nodes: 25, perNode: 12.32 },
        { nodes: 50, perNode: 12.16 },
    ]);
    expect(lin.marginalRatio).toBeCloseTo(1, 5);
    expect(lin.linear).toBe(true);
    const quad = linearity(
        new Map([
            [10, [100]],
            [25, [625]],
            [50, [2500]],
        ]),
    );
    expect(quad.marginalRatio).toBeCloseTo(75 / 35, 5);
    expect(quad.linear).toBe(false);
});

test("parseFlagSets: named node-flag sets; errors name the bad part", () => {
    expect(parseFlagSets(undefined)).toEqual([]);
    expect(parseFlagSets("ship:--jitless,--max-semi-space-size=1; bare:")).toEqual([
        { name: "ship", flags: ["--jitless", "--max-semi-space-size=1"] },
        { name: "bare", flags: [] },
    ]);
    expect(() => parseFlagSets("--jitless")).toThrow(/"--jitless" is invalid: expected name:flag,flag/);
    expect(() => parseFlagSets("a:--x;a:--y")).toThrow(/names must differ, got a, a/);
});

test("envToFlags: the Deployment's LIBERATOR_* variables as the controller's flags, others and skipped ones left out", () => {
    expect(
        envToFlags({ LIBERATOR_RENEW_INTERVAL: "5s", LIBERATOR_AGENT_SELECTOR: "app=x", LIBERATOR_METRICS_ADDRESS: "0.0.0.0:9464", POD_NAME: "p" }, [
            "LIBERATOR_METRICS_ADDRESS",
        ]),
    ).toEqual(["--renew-interval=5s", "--agent-selector=app=x"]);
});

test("aliveNodeMinutes: node-minutes less each node's time down, a return after the end counted up to the end", () => {
    // 3 nodes for 2 minutes = 6 node-minutes; a down 0:30–1:30 (1 min), b down from 1:00 and back "after the end" (1 min)
    expect(
        aliveNodeMinutes(3, 120_000, [
            { node: "a", event: "down", atMs: 30_000 },
            { node: "b", event: "down", atMs: 60_000 },
            { node: "a", event: "up", atMs: 90_000 },
            { node: "b", event: "up", atMs: Number.MAX_SAFE_INTEGER },
        ]),
    ).toBe(4);
    // never back: down until the end
    expect(aliveNodeMinutes(2, 60_000, [{ node: "a", event: "down", atMs: 30_000 }])).toBe(1.5);
    expect(aliveNodeMinutes(2, 60_000, [])).toBe(2);
});
