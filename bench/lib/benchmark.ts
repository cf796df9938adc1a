// What a benchmark is, and the engine that runs one: the plan's cases × variants in interleaved
// order (lib/schedule.ts), every sample recorded with its round, then summaries, the
// candidate/baseline ratios and the benchmark's own analysis.
import { ChartSpec } from "./svg";
import { interleave, Slot } from "./schedule";
import { summarize, Summary, median } from "./stats";
import { loadAverage, machineFacts, MachineFacts } from "./machine";

export interface Variant {
    id: string;
    label: string;
    /** Ratios are candidate / baseline, per case and metric. */
    role?: "baseline" | "candidate";
}

export interface Case {
    id: string;
    label: string;
    /** A numeric size (e.g. workloads), for growth fits. */
    size?: number;
    /** Overrides the plan's rounds for this case. */
    rounds?: number;
}

export interface Metric {
    id: string;
    label: string;
    /** Unit of the values, e.g. "ms", "s", "MiB", "req/min". */
    unit: string;
    /** Draw this metric on a log axis (sizes spanning decades). */
    logScale?: boolean;
}

/** A named stretch of one run, e.g. "NotReady → tainted"; phases of a run add up to its total. */
export interface Phase {
    id: string;
    label: string;
}

export interface Plan {
    cases: Case[];
    variants: Variant[];
    metrics: Metric[];
    /** Phases a run is split into, in order (failover: kill → NotReady → … → Ready). */
    phases?: Phase[];
    rounds: number;
    warmup: number;
    /** What the cases are, for the chart's x axis. */
    caseAxis?: string;
}

export interface RunResult {
    /** One value per metric id of the plan. */
    metrics: Record<string, number>;
    /** Duration of each phase (same unit as the first metric); missing when not reached. */
    phases?: Record<string, number>;
    /** Anything else worth keeping in the JSON (per-file times, counts). */
    detail?: unknown;
}

export interface Options {
    quick: boolean;
    skipIntegration: boolean;
    /** Overrides the plan's rounds / warm-up. */
    rounds?: number;
    warmup?: number;
    /** Benchmark-specific choices, `--set key=value`. */
    settings: Record<string, string>;
    log: (msg: string) => void;
}

export interface Analysis {
    /** Printed after the table. */
    lines: string[];
    /** Stored in the JSON under `analysis`. */
    data: Record<string, unknown>;
}

export interface Benchmark {
    name: string;
    title: string;
    /** One line: what it measures. */
    description: string;
    /** Why it cannot run here, or undefined when it can. */
    unavailable?(opts: Options): string | undefined;
    plan(opts: Options): Plan;
    setup?(plan: Plan, opts: Options): Promise<void>;
    run(c: Case, v: Variant, round: number, opts: Options): Promise<RunResult>;
    teardown?(opts: Options): Promise<void>;
    analyze?(results: BenchResults): Analysis;
    /** Charts to draw; default: one grouped bar chart per metric (groups = cases, bars = variants). */
    charts?(results: BenchResults): { file: string; spec: ChartSpec }[];
    /** Another run order than plain round-robin (failover: configurations grouped by the cluster they need). */
    order?(plan: Plan, opts: { rounds: number; warmup: number }): Slot[];
}

export interface Sample {
    caseId: string;
    variantId: string;
    round: number;
    startedAt: string;
    metrics: Record<string, number>;
    phases?: Record<string, number>;
    detail?: unknown;
}

export interface SummaryRow extends Summary {
    caseId: string;
    variantId: string;
    metric: string;
}

export interface RatioRow {
    caseId: string;
    metric: string;
    baseline: string;
    candidate: string;
    /** candidate median / baseline median. */
    ofMedians: number;
    /** Median (min, max) of candidate/baseline within each round: the pairs ran back to back. */
    paired: { median: number; min: number; max: number; n: number };
}

export interface BenchResults {
    benchmark: string;
    title: string;
    description: string;
    command: string;
    quick: boolean;
    options: { rounds: number; warmup: number; skipIntegration: boolean; settings: Record<string, string> };
    machine: MachineFacts & { loadBefore: number[]; loadAfter: number[] };
    startedAt: string;
    finishedAt: string;
    durationSeconds: number;
    plan: Plan;
    order: Slot[];
    samples: Sample[];
    summary: SummaryRow[];
    phaseSummary: (Summary & { caseId: string; variantId: string; phase: string })[];
    ratios: RatioRow[];
    analysis?: Analysis;
    error?: string;
}

export function summarizeSamples(plan: Plan, samples: Sample[]): SummaryRow[] {
    const rows: SummaryRow[] = [];
    for (const c of plan.cases) {
        for (const v of plan.variants) {
            const mine = samples.filter((s) => s.caseId === c.id && s.variantId === v.id);
            if (mine.length === 0) continue;
            for (const m of plan.metrics) {
                const values = mine.map((s) => s.metrics[m.id]).filter((x) => typeof x === "number" && Number.isFinite(x));
                if (values.length) rows.push({ caseId: c.id, variantId: v.id, metric: m.id, ...summarize(values) });
            }
        }
    }
    return rows;
}

export function phaseSummary(plan: Plan, samples: Sample[]): BenchResults["phaseSummary"] {
    const rows: BenchResults["phaseSummary"] = [];
    for (const c of plan.cases)
        for (const v of plan.variants)
            for (const p of plan.phases ?? []) {
                const values = samples
                    .filter((s) => s.caseId === c.id && s.variantId === v.id)
                    .map((s) => s.phases?.[p.id])
                    .filter((x): x is number => typeof x === "number" && Number.isFinite(x));
                if (values.length) rows.push({ caseId: c.id, variantId: v.id, phase: p.id, ...summarize(values) });
            }
    return rows;
}

export function ratios(plan: Plan, samples: Sample[]): RatioRow[] {
    const base = plan.variants.find((v) => v.role === "baseline");
    if (!base) return [];
    const rows: RatioRow[] = [];
    for (const cand of plan.variants.filter((v) => v.role === "candidate")) {
        for (const c of plan.cases) {
            for (const m of plan.metrics) {
                const of = (v: Variant) => samples.filter((s) => s.caseId === c.id && s.variantId === v.id && Number.isFinite(s.metrics[m.id]));
                const b = of(base);
                const k = of(cand);
                if (!b.length || !k.length) continue;
                const pairs = k
                    .map((s) => ({ s, b: b.find((x) => x.round === s.round) }))
                    .filter((p) => p.b && p.b.metrics[m.id] > 0)
                    .map((p) => p.s.metrics[m.id] / p.b!.metrics[m.id]);
                rows.push({
                    caseId: c.id,
                    metric: m.id,
                    baseline: base.id,
                    candidate: cand.id,
                    ofMedians: median(k.map((s) => s.metrics[m.id])) / median(b.map((s) => s.metrics[m.id])),
                    paired: pairs.length
                        ? { median: median(pairs), min: Math.min(...pairs), max: Math.max(...pairs), n: pairs.length }
                        : { median: NaN, min: NaN, max: NaN, n: 0 },
                });
            }
        }
    }
    return rows;
}

/** Runs one benchmark: setup, the interleaved runs, teardown; never throws (errors are recorded). */
export async function runBenchmark(b: Benchmark, opts: Options, command: string): Promise<BenchResults> {
    const plan = b.plan(opts);
    const rounds = opts.rounds ?? plan.rounds;
    const warmup = opts.warmup ?? plan.warmup;
    // An explicit --rounds applies to every case, even those that choose their own.
    const cases = opts.rounds !== undefined ? plan.cases.map((c) => ({ ...c, rounds: undefined })) : plan.cases;
    const order =
        b.order?.(plan, { rounds, warmup }) ??
        interleave(
            cases,
            plan.variants.map((v) => v.id),
            { rounds, warmup },
        );
    const loadBefore = loadAverage();
    const machine = machineFacts();
    const started = Date.now();
    const samples: Sample[] = [];
    let error: string | undefined;
    try {
        opts.log(`${b.name}: setup`);
        await b.setup?.(plan, opts);
        let i = 0;
        for (const slot of order) {
            i++;
            const c = plan.cases.find((x) => x.id === slot.caseId)!;
            const v = plan.variants.find((x) => x.id === slot.variantId)!;
            const t = new Date().toISOString();
            const r = await b.run(c, v, slot.round, opts);
            const shown = plan.metrics
                .filter((m) => m.id in r.metrics)
                .map((m) => `${m.id}=${fmt(r.metrics[m.id])}${m.unit}`)
                .join(" ");
            opts.log(`${b.name}: [${i}/${order.length}] ${slot.warmup ? "warm-up " : ""}${c.label} · ${v.label}: ${shown}`);
            if (slot.warmup) continue;
            samples.push({ caseId: c.id, variantId: v.id, round: slot.round, startedAt: t, metrics: r.metrics, phases: r.phases, detail: r.detail });
        }
    } catch (e) {
        error = e instanceof Error ? (e.stack ?? e.message) : String(e);
        opts.log(`${b.name}: FAILED: ${error}`);
    } finally {
        try {
            await b.teardown?.(opts);
        } catch (e) {
            opts.log(`${b.name}: teardown failed: ${e instanceof Error ? e.message : String(e)}`);
            error ??= `teardown: ${String(e)}`;
        }
    }
    const finished = Date.now();
    const results: BenchResults = {
        benchmark: b.name,
        title: b.title,
        description: b.description,
        command,
        quick: opts.quick,
        options: { rounds, warmup, skipIntegration: opts.skipIntegration, settings: opts.settings },
        machine: { ...machine, loadBefore, loadAfter: loadAverage() },
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        durationSeconds: Math.round((finished - started) / 100) / 10,
        plan,
        order,
        samples,
        summary: summarizeSamples(plan, samples),
        phaseSummary: phaseSummary(plan, samples),
        ratios: ratios(plan, samples),
        ...(error ? { error } : {}),
    };
    if (b.analyze && !error) {
        try {
            results.analysis = b.analyze(results);
        } catch (e) {
            results.analysis = { lines: [`analysis failed: ${String(e)}`], data: {} };
        }
    }
    return results;
}

function fmt(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return "?";
    return Math.abs(v) >= 100 ? String(Math.round(v)) : v.toFixed(2);
}
