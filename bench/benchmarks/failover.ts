// Failover time (issue #13, item 1) — a skeleton. It needs real kubelet nodes (so "Ready" and
// "first byte written" mean a process really ran) and the new liberator agent/controller; both
// are in progress. What is here: the configurations, the phases, and the timeline arithmetic
// (lib/failover.ts, unit-tested). A drill plugs in as `drill` below: kill a node, read the
// milestones from the API server, return them.
import { Benchmark, Case, Options, Plan, RunResult, Variant } from "../lib/benchmark";
import { FAILOVER_PHASES, FailoverMilestones, failoverTimeline, twoLiveCopies } from "../lib/failover";

export const FAILOVER_CONFIGURATIONS: Variant[] = [
    { id: "defaults-stock", label: "liberator defaults, stock timings (grace 50 s)" },
    { id: "defaults-short", label: "liberator defaults, test harness timings" },
    { id: "delete-node", label: "deleteNode mode" },
    { id: "no-liberator", label: "stock cluster, no liberator" },
];
/** The goal for the defaults with stock timings: kill → Ready within 90 s, never two live copies. */
export const FAILOVER_GOAL_S = 90;

/** One drill: kill a node running the pet, wait (at most `allowMs`), return what happened when. */
export type Drill = (configuration: string, opts: { allowMs: number }) => Promise<{ milestones: FailoverMilestones; lastOldWrite?: number }>;

/** Set by the drill implementation once real nodes and the new liberator exist. */
export let drill: Drill | undefined;
export function registerDrill(d: Drill): void {
    drill = d;
}

export const failover: Benchmark = {
    name: "failover",
    title: "Failover time",
    description: "node killed → NotReady → remediation → old pod gone → new pod scheduled → Ready (→ first byte), 5 drills per configuration",

    unavailable(): string | undefined {
        if (drill) return undefined;
        return "needs real kubelet nodes and the new liberator agent/controller (work in progress); the configurations, phases and timeline code are in place (bench/benchmarks/failover.ts, bench/lib/failover.ts)";
    },

    plan(opts: Options): Plan {
        return {
            cases: [{ id: "one-node-killed", label: "one node killed" }],
            variants: FAILOVER_CONFIGURATIONS,
            metrics: [
                { id: "totalS", label: "kill → Ready", unit: "s" },
                { id: "stuckS", label: "pod stuck (no copy Ready)", unit: "s" },
                { id: "twoCopies", label: "moments with two live copies", unit: "count" },
            ],
            phases: FAILOVER_PHASES.map((p) => ({ id: p.id, label: p.label })),
            rounds: opts.quick ? 1 : 5,
            warmup: 0,
        };
    },

    async run(_c: Case, v: Variant): Promise<RunResult> {
        if (!drill) throw new Error("no failover drill registered");
        // Stock timings: NotReady after 50 s, then eviction/pod GC; allow well past the goal.
        const allowMs = v.id === "defaults-short" ? 120_000 : 300_000;
        const { milestones, lastOldWrite } = await drill(v.id, { allowMs });
        const t = failoverTimeline(milestones);
        return {
            metrics: {
                totalS: t.totalS ?? NaN,
                stuckS: t.totalS ?? allowMs / 1000,
                twoCopies: twoLiveCopies(milestones, lastOldWrite) ? 1 : 0,
            },
            phases: t.phases,
            detail: { milestones, reached: t.reached, outOfOrder: t.outOfOrder },
        };
    },
};
