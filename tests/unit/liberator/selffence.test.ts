import { claimAfterMs, startupGraceMs } from "../../../liberator/contract";
import { holdBack, Votes } from "../../../liberator/peers";
import { SelfFenceConfig, SelfFenceState, selfFenceStep } from "../../../liberator/selffence";

// Fake monotonic clock: the agent's last successful renewal was *sent* at t = 0.
const CFG: SelfFenceConfig = { selfFenceMs: 30_000, fenceExecMs: 10_000, peerRecheckMs: 1_000, peerRoundMs: 1_200, watchdogTimeoutMs: 0 };
const state = (o: Partial<SelfFenceState> = {}): SelfFenceState => ({ lastOkSentAt: 0, committed: true, capable: true, fenceConfirmed: false, ...o });
const votes = (at: number, down: number, up: number, silent = 0): Votes => ({
    at,
    total: down + up + silent,
    down: ["me", ...Array.from({ length: down - 1 }, (_, i) => `d${i}`)],
    up: Array.from({ length: up }, (_, i) => `u${i}`),
    silent: Array.from({ length: silent }, (_, i) => `s${i}`),
});
const mode = (s: SelfFenceState, now: number, cfg = CFG) => selfFenceStep(s, now, cfg);

describe("self-fence timing (fake clock, from the send time of the last successful renewal)", () => {
    test.each([
        { now: 0, mode: "healthy", fence: false, ask: false },
        { now: 29_999, mode: "healthy", fence: false, ask: false },
        { now: 30_000, mode: "cut-off", fence: false, ask: true },
        { now: 31_199, mode: "cut-off", fence: false, ask: true },
        // No current answer from the peers within the round's time: fence without them.
        { now: 31_200, mode: "fencing", fence: true, ask: false },
    ])("t = $now ms without answers → $mode", ({ now, mode: m, fence, ask }) => {
        const s = mode(state(), now);
        expect(s.mode).toBe(m);
        expect(s.fence).toBe(fence);
        expect(s.askPeers).toBe(ask);
        expect(s.startFence).toBe(fence);
    });

    test("an isolated node fences at T_sf + the peer round, well within the controller's wait", () => {
        // The controller claims at (observed renewal ≥ send time) + T_sf + T_exec + margin;
        // the fence starts by T_sf + round and completes within T_exec after it.
        const fenceStart = CFG.selfFenceMs + CFG.peerRoundMs;
        expect(fenceStart + CFG.fenceExecMs).toBeLessThan(claimAfterMs(CFG, 5_000));
    });

    test("a restarted agent fences soon if its first renewals fail (start-up grace)", () => {
        // At start the agent sets lastOkSentAt = start - T_sf + grace.
        const start = 1_000_000;
        const s = state({ lastOkSentAt: start - CFG.selfFenceMs + startupGraceMs(CFG) });
        expect(mode(s, start + startupGraceMs(CFG) - 1).mode).toBe("healthy");
        expect(mode(s, start + startupGraceMs(CFG)).mode).toBe("cut-off");
        expect(startupGraceMs(CFG)).toBe(10_000);
    });

    test("not armed in its last renewal: it promised nothing, it does nothing (the controller reports the node unprotected)", () => {
        const s = mode(state({ committed: false }), 60_000);
        expect(s).toMatchObject({ mode: "unarmed", fence: false, askPeers: false });
    });
});

describe("peer majority: hold back only while a strict majority of all participants cannot reach the API", () => {
    test.each([
        { down: 1, up: 0, silent: 0, hold: true, note: "a one-node cluster: nothing can act anyway" },
        { down: 1, up: 1, silent: 0, hold: false, note: "two nodes, the other reaches the API" },
        { down: 1, up: 0, silent: 1, hold: false, note: "two nodes, the other silent (we are isolated)" },
        { down: 2, up: 0, silent: 0, hold: true, note: "two nodes, both down: control-plane outage" },
        { down: 2, up: 1, silent: 0, hold: true, note: "2 of 3 down" },
        { down: 1, up: 0, silent: 2, hold: false, note: "isolated in three" },
        { down: 2, up: 0, silent: 2, hold: false, note: "2 of 4 is not a strict majority" },
        { down: 3, up: 0, silent: 2, hold: true, note: "3 of 5" },
    ])("$down down, $up up, $silent silent → hold=$hold ($note)", ({ down, up, silent, hold }) => {
        expect(holdBack(votes(0, down, up, silent))).toBe(hold);
    });

    test("majority down: holding, asking again every tick; the round must be current", () => {
        const s = state({ votes: votes(30_500, 3, 1, 1) });
        expect(mode(s, 31_000)).toMatchObject({ mode: "holding", fence: false, askPeers: true });
        // The last round is older than P + round: it does not count any more → fence.
        expect(mode(s, 30_500 + 1_000 + 1_200 + 1)).toMatchObject({ mode: "fencing", fence: true });
    });

    test("a round from before the cut-off does not count", () => {
        const s = state({ votes: votes(29_000, 3, 0) });
        expect(mode(s, 30_100).mode).toBe("cut-off");
    });

    test("peers that said 'API down' now say 'API fine': fence at once", () => {
        const holding = state({ votes: votes(60_000, 3, 1) });
        expect(mode(holding, 60_500).mode).toBe("holding");
        const changed = state({ votes: votes(61_000, 1, 3) });
        expect(mode(changed, 61_000)).toMatchObject({ mode: "fencing", fence: true, startFence: true });
    });
});

describe("once fenced, stay fenced until a renewal sent after the fence began succeeds", () => {
    test.each([
        { what: "no renewal since", lastOkSentAt: 0, mode: "fencing", fence: true },
        { what: "a renewal sent before the fence began whose answer came late does not unfence", lastOkSentAt: 31_000, mode: "fencing", fence: true },
        { what: "a renewal sent after the fence began succeeded", lastOkSentAt: 31_201, mode: "healthy", fence: false },
    ])("$what → $mode", ({ lastOkSentAt, mode: m, fence }) => {
        const s = mode(state({ fencedSince: 31_200, lastOkSentAt }), 40_000);
        expect(s.mode).toBe(m);
        expect(s.fence).toBe(fence);
        expect(s.unfence).toBe(!fence);
    });
});

describe("the controller's claim", () => {
    test("claimed: fence (even with a fresh renewal time) and start the fence clock", () => {
        expect(mode(state({ claim: "claimed" }), 1_000)).toMatchObject({ mode: "claimed", fence: true, startFence: true });
        expect(mode(state({ claim: "claimed", fencedSince: 500 }), 1_000)).toMatchObject({ mode: "claimed", fence: true, startFence: false });
    });

    test("claimed and remediated: the pods are gone from the API; stop fencing so the kubelet can bring the node back", () => {
        expect(mode(state({ claim: "remediated", fencedSince: 500 }), 1_000)).toMatchObject({ mode: "remediated", fence: false });
    });

    test("claimed while self-fencing is switched off: nothing to fence with", () => {
        expect(mode(state({ claim: "claimed", capable: false, committed: false }), 1_000)).toMatchObject({ mode: "claimed", fence: false });
    });
});

describe("the agent's token refused (its pod deleted while cut off)", () => {
    test.each([
        { what: "fencing", o: { fencedSince: 31_200 } },
        { what: "claimed", o: { claim: "claimed" as const, fencedSince: 31_200 } },
    ])("while $what, a peer's read of the Lease as remediated or absent stands the agent down", ({ o }) => {
        expect(mode(state(o), 90_000).fence).toBe(true);
        for (const standDown of ["remediated", "absent"] as const) {
            const s = mode(state({ ...o, standDown }), 90_000);
            expect(s).toMatchObject({ mode: "stood-down", fence: false, startFence: false });
        }
    });
});

describe("watchdog petting", () => {
    const wd = { ...CFG, watchdogTimeoutMs: 4_000 };
    test.each([
        { what: "healthy", s: state(), now: 1_000, pet: true },
        { what: "holding in an outage", s: state({ votes: votes(30_500, 3, 0) }), now: 31_000, pet: true },
        { what: "fencing, before deadline − watchdog timeout", s: state({ fencedSince: 31_200 }), now: 31_200 + 5_999, pet: true },
        {
            what: "fencing, unconfirmed at deadline − watchdog timeout: stop (reset by the deadline)",
            s: state({ fencedSince: 31_200 }),
            now: 31_200 + 6_000,
            pet: false,
        },
        { what: "fencing, confirmed: keep petting", s: state({ fencedSince: 31_200, fenceConfirmed: true }), now: 31_200 + 60_000, pet: true },
        { what: "claimed, unconfirmed past the deadline", s: state({ claim: "claimed", fencedSince: 0 }), now: 7_000, pet: false },
    ])("$what → pet=$pet", ({ s, now, pet }) => {
        expect(mode(s, now, wd).petWatchdog).toBe(pet);
    });
});
