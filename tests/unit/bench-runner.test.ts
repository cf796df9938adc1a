// The benchmark engine (bench/lib/benchmark.ts), its report and the command line, with a fake
// benchmark; and the failover timeline arithmetic (bench/lib/failover.ts).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Benchmark, Options, runBenchmark } from "../../bench/lib/benchmark";
import { defaultCharts, resultsTable, saveResults } from "../../bench/lib/report";
import { failoverTimeline, twoLiveCopies } from "../../bench/lib/failover";
import { parseArgs } from "../../bench/run";

const opts = (o: Partial<Options> = {}): Options => ({ quick: false, skipIntegration: false, settings: {}, log: () => undefined, ...o });

function fakeBenchmark(calls: string[], value: (c: string, v: string, round: number) => number): Benchmark {
    return {
        name: "fake",
        title: "Fake",
        description: "a fake",
        plan: () => ({
            cases: [
                { id: "s1", label: "1 thing", size: 1 },
                { id: "s10", label: "10 things", size: 10 },
            ],
            variants: [
                { id: "base", label: "baseline", role: "baseline" },
                { id: "cand", label: "candidate", role: "candidate" },
            ],
            metrics: [{ id: "ms", label: "time", unit: "ms" }],
            rounds: 3,
            warmup: 1,
        }),
        async setup() {
            calls.push("setup");
        },
        async run(c, v, round) {
            calls.push(`${c.id}/${v.id}/${round}`);
            return { metrics: { ms: value(c.id, v.id, round) } };
        },
        async teardown() {
            calls.push("teardown");
        },
    };
}

test("runs interleaved, drops warm-ups, summarizes, and pairs candidate with baseline round by round", async () => {
    const calls: string[] = [];
    // The machine gets slower every round; the candidate is always 1.5× its baseline.
    const b = fakeBenchmark(calls, (c, v, round) => (c === "s1" ? 10 : 100) * (round + 2) * (v === "cand" ? 1.5 : 1));
    const r = await runBenchmark(b, opts(), "npm run bench -- fake");
    expect(calls.slice(0, 6)).toEqual(["setup", "s1/base/-1", "s1/cand/-1", "s10/base/-1", "s10/cand/-1", "s1/base/0"]);
    expect(calls[calls.length - 1]).toBe("teardown");
    expect(r.samples).toHaveLength(12);
    expect(r.samples.every((s) => s.round >= 0)).toBe(true);
    const base1 = r.summary.find((s) => s.caseId === "s1" && s.variantId === "base")!;
    expect(base1).toMatchObject({ n: 3, median: 30, min: 20, max: 40 });
    const ratio = r.ratios.find((x) => x.caseId === "s10")!;
    expect(ratio.ofMedians).toBeCloseTo(1.5, 10);
    expect(ratio.paired).toEqual({ median: 1.5, min: 1.5, max: 1.5, n: 3 });
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.machine.loadBefore).toHaveLength(3);
    expect(r.machine.node).toBe(process.version);
    expect(r.command).toBe("npm run bench -- fake");

    const table = resultsTable(r);
    expect(table).toMatch(/10 things\s+candidate\s+time \(ms\)\s+3\s+450\s+300\s+600\s+1\.50×\s+1\.50 \(1\.50–1\.50\)/);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-bench-out-"));
    try {
        const files = saveResults(r, dir, defaultCharts(r));
        expect(files.map((f) => path.basename(f))).toEqual(["fake.json", "fake.svg"]);
        expect(JSON.parse(fs.readFileSync(files[0], "utf8")).samples).toHaveLength(12);
        expect(fs.readFileSync(files[1], "utf8")).toContain("Fake: time");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test("a failing run is recorded with what ran before it, and teardown still runs", async () => {
    const calls: string[] = [];
    const b = fakeBenchmark(calls, (c, v, round) => {
        if (round === 1 && v === "cand") throw new Error("preview failed");
        return 5;
    });
    const r = await runBenchmark(b, opts({ warmup: 0 }), "x");
    expect(r.error).toMatch(/preview failed/);
    expect(r.samples).toHaveLength(5);
    expect(calls[calls.length - 1]).toBe("teardown");
});

test("--rounds overrides every case's rounds", async () => {
    const calls: string[] = [];
    const r = await runBenchmark(
        fakeBenchmark(calls, () => 1),
        opts({ rounds: 1, warmup: 0 }),
        "x",
    );
    expect(r.samples).toHaveLength(4);
    expect(r.options).toMatchObject({ rounds: 1, warmup: 0 });
});

test("the command line: names, flags, settings; mistakes are named", () => {
    expect(parseArgs(["program-scale", "--quick", "--rounds", "2", "--set", "sizes=1,10", "--skip-integration"])).toMatchObject({
        names: ["program-scale"],
        quick: true,
        rounds: 2,
        skipIntegration: true,
        settings: { sizes: "1,10" },
    });
    expect(() => parseArgs(["nope"])).toThrow('unknown benchmark "nope": known benchmarks are program-scale, test-loop, failover, footprint');
    expect(() => parseArgs(["--rounds", "0"])).toThrow("--rounds 0 is invalid: needs a whole number ≥ 1");
    expect(() => parseArgs(["--set", "novalue"])).toThrow("--set novalue is invalid: expected key=value");
    expect(() => parseArgs(["--fast"])).toThrow(/unknown option --fast/);
});

describe("failover timeline", () => {
    const t = (s: number) => Date.parse("2026-11-29T22:00:00Z") + s * 1000;

    test("phases between consecutive milestones, and the total from kill to Ready", () => {
        const tl = failoverTimeline({ killed: t(0), notReady: t(51), remediated: t(56), oldPodGone: t(57), newPodScheduled: t(58), newPodReady: t(61) });
        expect(tl.phases).toEqual({ detect: 51, decide: 5, release: 1, schedule: 1, start: 3 });
        expect(tl.totalS).toBe(61);
        expect(tl.reached).toBe("newPodReady");
        expect(tl.outOfOrder).toEqual([]);
    });

    test("a drill that never got past NotReady has no total and no later phases", () => {
        const tl = failoverTimeline({ killed: t(0), notReady: t(50), newPodReady: t(400) });
        expect(tl.phases).toEqual({ detect: 50 });
        expect(tl.totalS).toBeUndefined();
        expect(tl.reached).toBe("notReady");
    });

    test("second-resolution timestamps may read a little early; more than a second is flagged", () => {
        const tl = failoverTimeline({ killed: t(10.4), notReady: t(10) });
        expect(tl.phases.detect).toBe(0);
        expect(tl.outOfOrder).toEqual([]);
        expect(failoverTimeline({ killed: t(10), notReady: t(5) }).outOfOrder).toEqual(["notReady is 5.0 s before killed"]);
    });

    test("two live copies: new copy Ready before the old pod was gone, or the old one still writing after the new one started", () => {
        expect(twoLiveCopies({ killed: t(0), oldPodGone: t(60), newPodReady: t(59) })).toBe(true);
        expect(twoLiveCopies({ killed: t(0), oldPodGone: t(57), newPodReady: t(61) })).toBe(false);
        expect(twoLiveCopies({ killed: t(0), oldPodGone: t(57), newPodReady: t(61), firstByte: t(62) }, t(63))).toBe(true);
    });
});
