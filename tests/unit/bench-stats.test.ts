// The benchmarks' statistics and run order (bench/lib/stats.ts, bench/lib/schedule.ts).
import { growth, linearFit, median, summarize } from "../../bench/lib/stats";
import { interleave } from "../../bench/lib/schedule";

describe("statistics", () => {
    test("median of odd and even counts, unsorted input left as it was", () => {
        const xs = [5, 1, 3];
        expect(median(xs)).toBe(3);
        expect(xs).toEqual([5, 1, 3]);
        expect(median([4, 1, 3, 2])).toBe(2.5);
        expect(median([7])).toBe(7);
        expect(() => median([])).toThrow(/no values/);
    });

    test("summary: median, min, max, mean; a non-finite sample is refused", () => {
        expect(summarize([10, 30, 20, 100])).toEqual({ n: 4, median: 25, min: 10, max: 100, mean: 40 });
        expect(() => summarize([1, NaN])).toThrow(/not a finite sample/);
    });

    test("least squares recovers a line exactly, and r² drops with scatter", () => {
        const fit = linearFit([1, 10, 100], [7, 25, 205]);
        expect(fit.slope).toBeCloseTo(2, 10);
        expect(fit.intercept).toBeCloseTo(5, 10);
        expect(fit.r2).toBeCloseTo(1, 10);
        expect(linearFit([1, 2, 3, 4], [1, 3, 2, 4]).r2).toBeLessThan(0.9);
        expect(() => linearFit([3, 3], [1, 2])).toThrow(/two distinct/);
        expect(() => linearFit([1, 2], [1])).toThrow(/2 x values but 1 y values/);
    });

    test("growth: a linear cost has a marginal ratio of 1, a quadratic one of about 10 per decade", () => {
        const linear = growth(
            new Map([
                [1, [105, 95]],
                [10, [145, 145]],
                [100, [595, 595]],
            ]),
        );
        expect(linear.marginal).toEqual([
            { from: 1, to: 10, perUnit: 5 },
            { from: 10, to: 100, perUnit: 5 },
        ]);
        expect(linear.marginalRatio).toBeCloseTo(1, 10);
        expect(linear.perUnitAtLargest).toBe(5.95);
        expect(linear.fit.slope).toBeCloseTo(5, 5);

        const quadratic = growth(new Map([1, 10, 100].map((n) => [n, [n * n]])));
        expect(quadratic.marginalRatio).toBeCloseTo(110 / 11, 10);
    });
});

describe("interleaved order", () => {
    test("baseline and candidate alternate run by run (A B A B), never all A then all B", () => {
        const order = interleave([{ id: "n1" }], ["A", "B"], { rounds: 3 });
        expect(order.map((s) => s.variantId).join("")).toBe("ABABAB");
        expect(order.map((s) => s.round)).toEqual([0, 0, 1, 1, 2, 2]);
    });

    test("every case comes round again each round, so slow minutes spread over all sizes", () => {
        const order = interleave([{ id: "1" }, { id: "10" }], ["A", "B"], { rounds: 2 });
        expect(order.map((s) => `${s.caseId}${s.variantId}`)).toEqual(["1A", "1B", "10A", "10B", "1A", "1B", "10A", "10B"]);
    });

    test("warm-up rounds come first, are flagged, and are not counted as rounds", () => {
        const order = interleave([{ id: "c" }], ["A", "B"], { rounds: 2, warmup: 1 });
        expect(order.map((s) => [s.variantId, s.round, s.warmup])).toEqual([
            ["A", -1, true],
            ["B", -1, true],
            ["A", 0, false],
            ["B", 0, false],
            ["A", 1, false],
            ["B", 1, false],
        ]);
    });

    test("a case with its own rounds stops early and the others keep alternating", () => {
        const order = interleave(
            [
                { id: "fast", rounds: 3 },
                { id: "slow", rounds: 1 },
            ],
            ["A", "B"],
            { rounds: 2 },
        );
        expect(order.map((s) => `${s.caseId}:${s.variantId}${s.round}`)).toEqual([
            "fast:A0",
            "fast:B0",
            "slow:A0",
            "slow:B0",
            "fast:A1",
            "fast:B1",
            "fast:A2",
            "fast:B2",
        ]);
    });

    test("bad rounds are named", () => {
        expect(() => interleave([{ id: "c" }], ["A"], { rounds: 0 })).toThrow("rounds = 0 is invalid: must be a whole number ≥ 1");
        expect(() => interleave([{ id: "c" }], ["A"], { rounds: 1, warmup: -1 })).toThrow(/warmup = -1 is invalid/);
        expect(() => interleave([], ["A"], { rounds: 1 })).toThrow(/no cases/);
    });
});
