// The failover benchmark's pure parts (bench/lib/failover.ts, bench/benchmarks/failover.ts): the
// run order grouped by cluster, the remediation milestone, the writer's verdict, the plan, and
// the engine honouring a benchmark's own order.
import { Benchmark, Options, runBenchmark } from "../../bench/lib/benchmark";
import { failover, failoverConfigurations } from "../../bench/benchmarks/failover";
import { failoverOrder, remediationTime, writerOutcome } from "../../bench/lib/failover";

const opts = (o: Partial<Options> = {}): Options => ({ quick: false, skipIntegration: false, settings: {}, log: () => undefined, ...o });

describe("failoverOrder", () => {
    const configs = [
        { id: "A", cluster: "50s" },
        { id: "C", cluster: "50s" },
        { id: "D", cluster: "50s" },
        { id: "B", cluster: "20s" },
    ];
    const ids = (slots: { variantId: string }[]) => slots.map((s) => s.variantId).join("");

    test("every round runs each configuration once, one cluster's back to back, the clusters alternating first", () => {
        const slots = failoverOrder(configs, "k", { rounds: 3, warmup: 0 });
        expect(ids(slots)).toBe("ACDB" + "BACD" + "ACDB");
        expect(slots.map((s) => s.round)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        expect(slots.every((s) => s.caseId === "k" && !s.warmup)).toBe(true);
    });

    test("one cluster change per round: a round ends on the cluster the next one starts with", () => {
        const slots = failoverOrder(configs, "k", { rounds: 5, warmup: 0 });
        const cluster = (id: string) => configs.find((c) => c.id === id)!.cluster;
        let changes = 0;
        for (let i = 1; i < slots.length; i++) if (cluster(slots[i].variantId) !== cluster(slots[i - 1].variantId)) changes++;
        expect(changes).toBe(5);
    });

    test("warm-up rounds come first and are marked", () => {
        const slots = failoverOrder(configs.slice(0, 2), "k", { rounds: 1, warmup: 1 });
        expect(slots.map((s) => [s.variantId, s.round, s.warmup])).toEqual([
            ["A", -1, true],
            ["C", -1, true],
            ["A", 0, false],
            ["C", 0, false],
        ]);
    });
});

test("the remediation is whichever came first: taint, node deleted, old pod gone", () => {
    expect(remediationTime({ tainted: 50, oldPodGone: 51 })).toBe(50);
    expect(remediationTime({ oldPodGone: 48, nodeDeleted: 49 })).toBe(48);
    expect(remediationTime({})).toBeUndefined();
});

describe("writerOutcome", () => {
    const lines = (uid: string, from: number, to: number) => Array.from({ length: Math.round((to - from) * 10) + 1 }, (_, i) => ({ uid, t: from + i / 10 }));

    test("a clean handover: the gap from the old copy's last line to the new one's first, no overlap", () => {
        const o = writerOutcome([...lines("old", 100, 110), ...lines("new", 160, 165)], "old", "new");
        expect(o).toEqual({ oldLast: 110, newFirst: 160, gapS: 50, overlapS: 0, oldLinesAfterNewStarted: 0 });
    });

    test("two live copies: the old copy still wrote after the new one's first line", () => {
        const o = writerOutcome([...lines("old", 100, 110), ...lines("new", 108, 112)], "old", "new");
        expect(o.overlapS).toBe(2);
        expect(o.oldLinesAfterNewStarted).toBe(21);
        expect(o.gapS).toBe(-2);
    });

    test("no new copy yet (stuck): only the old copy's last line", () => {
        expect(writerOutcome(lines("old", 100, 101), "old", undefined)).toEqual({ oldLast: 101, newFirst: undefined, overlapS: 0, oldLinesAfterNewStarted: 0 });
        expect(writerOutcome(lines("old", 100, 101), "old", "new")).toEqual({ oldLast: 101, newFirst: undefined, overlapS: 0, oldLinesAfterNewStarted: 0 });
    });
});

describe("the failover plan", () => {
    test("four configurations, stock timings grouped apart from the harness's, 5 drills each (1 with --quick)", () => {
        const p = failover.plan(opts());
        expect(p.variants.map((v) => v.id)).toEqual(["defaults-stock", "delete-node", "no-liberator", "defaults-short"]);
        expect(p.rounds).toBe(5);
        expect(failover.plan(opts({ quick: true })).rounds).toBe(1);
        const c = failoverConfigurations();
        expect(c.filter((x) => x.gracePeriod === "50s").map((x) => x.id)).toEqual(["defaults-stock", "delete-node", "no-liberator"]);
        expect(c.find((x) => x.id === "no-liberator")).toMatchObject({ liberator: false, allowS: 150 });
        expect(failover.order!(p, { rounds: 2, warmup: 0 }).map((s) => s.variantId)).toEqual([
            "defaults-stock",
            "delete-node",
            "no-liberator",
            "defaults-short",
            "defaults-short",
            "defaults-stock",
            "delete-node",
            "no-liberator",
        ]);
    });

    test("settings are checked before anything runs", () => {
        expect(() => failover.plan(opts({ settings: { configs: "defaults-stock,nope" } }))).toThrow(
            "--set configs=defaults-stock,nope is invalid: nope unknown; known: defaults-stock, delete-node, no-liberator, defaults-short",
        );
        expect(() => failoverConfigurations({ stuckSeconds: "10" })).toThrow("--set stuckSeconds=10 is invalid: needs a number of seconds ≥ 60");
        expect(failover.plan(opts({ settings: { configs: "no-liberator" } })).variants.map((v) => v.id)).toEqual(["no-liberator"]);
    });
});

test("the engine runs a benchmark's own order when it gives one", async () => {
    const ran: string[] = [];
    const b: Benchmark = {
        name: "ordered",
        title: "Ordered",
        description: "",
        plan: () => ({
            cases: [{ id: "k", label: "k" }],
            variants: [
                { id: "A", label: "A" },
                { id: "B", label: "B" },
            ],
            metrics: [{ id: "x", label: "x", unit: "s" }],
            rounds: 2,
            warmup: 0,
        }),
        order: (_p, o) =>
            failoverOrder(
                [
                    { id: "A", cluster: "1" },
                    { id: "B", cluster: "2" },
                ],
                "k",
                o,
            ),
        run: async (_c, v) => {
            ran.push(v.id);
            return { metrics: { x: 1 } };
        },
    };
    const r = await runBenchmark(b, opts(), "test");
    expect(ran.join("")).toBe("ABBA");
    expect(r.samples.map((s) => `${s.variantId}${s.round}`)).toEqual(["A0", "B0", "B1", "A1"]);
});
