// Summary statistics for benchmark samples. Medians, not means: on a shared, noisy machine one
// slow run (another job compiling) moves a mean a lot and a median hardly at all.

export interface Summary {
    n: number;
    median: number;
    min: number;
    max: number;
    mean: number;
}

export function median(values: number[]): number {
    if (values.length === 0) throw new Error("median of no values");
    const s = [...values].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(values: number[]): Summary {
    if (values.length === 0) throw new Error("summary of no values");
    for (const v of values) if (!Number.isFinite(v)) throw new Error(`not a finite sample: ${v}`);
    return {
        n: values.length,
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
        mean: values.reduce((a, b) => a + b, 0) / values.length,
    };
}

export interface LinearFit {
    /** y per unit of x (e.g. ms per workload). */
    slope: number;
    /** y at x = 0 (the fixed cost). */
    intercept: number;
    /** Coefficient of determination; 1 is a perfect line. */
    r2: number;
}

/** Ordinary least squares y = intercept + slope·x. */
export function linearFit(xs: number[], ys: number[]): LinearFit {
    if (xs.length !== ys.length) throw new Error(`linearFit: ${xs.length} x values but ${ys.length} y values`);
    if (new Set(xs).size < 2) throw new Error("linearFit needs at least two distinct x values");
    const n = xs.length;
    const mx = xs.reduce((a, b) => a + b, 0) / n;
    const my = ys.reduce((a, b) => a + b, 0) / n;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = 0; i < n; i++) {
        sxy += (xs[i] - mx) * (ys[i] - my);
        sxx += (xs[i] - mx) ** 2;
        syy += (ys[i] - my) ** 2;
    }
    const slope = sxy / sxx;
    const intercept = my - slope * mx;
    const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
    return { slope, intercept, r2 };
}

export interface Growth {
    fit: LinearFit;
    /** Cost of one more unit between consecutive sizes, from the medians: (m[i+1]-m[i])/(x[i+1]-x[i]). */
    marginal: { from: number; to: number; perUnit: number }[];
    /** Last marginal cost over the first: about 1 when growth is linear, well above 1 when it is not. */
    marginalRatio: number;
    /** Largest size's median divided by its size, for a per-unit figure that includes fixed costs. */
    perUnitAtLargest: number;
}

/**
 * How a cost grows with size: a least-squares line through every sample, and the marginal cost
 * per unit between consecutive sizes. `samples` maps each size to its samples.
 */
export function growth(samples: Map<number, number[]>): Growth {
    const sizes = [...samples.keys()].sort((a, b) => a - b);
    if (sizes.length < 2) throw new Error("growth needs at least two sizes");
    const xs: number[] = [];
    const ys: number[] = [];
    for (const x of sizes) {
        for (const y of samples.get(x)!) {
            xs.push(x);
            ys.push(y);
        }
    }
    const medians = sizes.map((x) => median(samples.get(x)!));
    const marginal = sizes.slice(1).map((to, i) => ({ from: sizes[i], to, perUnit: (medians[i + 1] - medians[i]) / (to - sizes[i]) }));
    const first = marginal[0].perUnit;
    const last = marginal[marginal.length - 1].perUnit;
    return {
        fit: linearFit(xs, ys),
        marginal,
        marginalRatio: first === 0 ? (last === 0 ? 1 : Infinity) : last / first,
        perUnitAtLargest: medians[medians.length - 1] / sizes[sizes.length - 1],
    };
}
