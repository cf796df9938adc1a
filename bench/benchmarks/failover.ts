// Failover time (issue #13, item 1): power loss of the real node running a StatefulSet pod, on
// three real kubelet nodes of the bench cluster, timed phase by phase from the kill to the new
// copy's first line (bench/lib/failover-drill.ts), under four configurations. Configurations that
// need another cluster (grace period) run grouped by cluster within each round (lib/failover.ts).
import { BenchResults, Benchmark, Case, Options, Plan, RunResult, Variant } from "../lib/benchmark";
import { clusterDown, missingTools } from "../lib/cluster";
import { FAILOVER_PHASES, failoverOrder, failoverTimeline, twoLiveCopies } from "../lib/failover";
import { FailoverRig, RigConfig } from "../lib/failover-drill";
import { chartNotes } from "../lib/report";
import { ChartSpec } from "../lib/svg";

export interface FailoverConfiguration extends Variant, RigConfig {
    /** Seconds to wait from the kill for the new copy (the no-liberator case: how long we watch it stay stuck). */
    allowS: number;
}

/** Kubernetes' stock node-monitor-grace-period (1.32+); up.sh then gives the kubelets the stock 40 s Lease. */
const STOCK = "50s";
/** The test harness's (up.sh's default): 20 s grace, 20 s kubelet Lease. */
const SHORT = "20s";

export function failoverConfigurations(settings: Record<string, string> = {}): FailoverConfiguration[] {
    const stuckS = Number(settings.stuckSeconds ?? 150);
    if (!Number.isFinite(stuckS) || stuckS < 60) throw new Error(`--set stuckSeconds=${settings.stuckSeconds} is invalid: needs a number of seconds ≥ 60`);
    return [
        {
            id: "defaults-stock",
            label: "liberator defaults, stock timings (grace 50 s)",
            gracePeriod: STOCK,
            mode: "outOfServiceTaint",
            liberator: true,
            allowS: 240,
        },
        { id: "delete-node", label: "deleteNode mode, stock timings", gracePeriod: STOCK, mode: "deleteNode", liberator: true, allowS: 240 },
        { id: "no-liberator", label: "no liberator, stock timings", gracePeriod: STOCK, mode: "deleteNode", liberator: false, allowS: stuckS },
        {
            id: "defaults-short",
            label: "liberator defaults, harness timings (grace 20 s)",
            gracePeriod: SHORT,
            mode: "outOfServiceTaint",
            liberator: true,
            allowS: 180,
        },
    ];
}
/** The goal for the defaults with stock timings: kill → Ready within 90 s, never two live copies. */
export const FAILOVER_GOAL_S = 90;

let rig: FailoverRig | undefined;

export const failover: Benchmark = {
    name: "failover",
    title: "Failover time",
    description:
        "power loss of a real node: killed → NotReady → remediation → old pod gone → new pod scheduled → Ready → first line, 5 drills per configuration",

    unavailable(): string | undefined {
        const missing = missingTools(["pulumi", "control-plane"]);
        if (missing.length) return `tools not built: ${missing.join(", ")} (scripts/tools/build.sh all)`;
        if (process.getuid?.() !== 0) return "real kubelet nodes need root (network, PID and mount namespaces)";
        return undefined;
    },

    plan(opts: Options): Plan {
        const only = opts.settings.configs?.split(",");
        const all = failoverConfigurations(opts.settings);
        if (only) {
            const unknown = only.filter((id) => !all.some((c) => c.id === id));
            if (unknown.length)
                throw new Error(`--set configs=${opts.settings.configs} is invalid: ${unknown.join(", ")} unknown; known: ${all.map((c) => c.id).join(", ")}`);
        }
        return {
            cases: [{ id: "power-loss", label: "power loss of the pod's node" }],
            variants: all.filter((c) => !only || only.includes(c.id)),
            metrics: [
                { id: "totalS", label: "kill → Ready", unit: "s" },
                { id: "firstLineS", label: "kill → first line by the new copy", unit: "s" },
                { id: "stuckS", label: "no copy running", unit: "s" },
                { id: "twoCopies", label: "drills with two live copies", unit: "count" },
            ],
            phases: FAILOVER_PHASES.map((p) => ({ id: p.id, label: p.label })),
            rounds: opts.quick ? 1 : 5,
            warmup: 0,
        };
    },

    order(plan, o) {
        return failoverOrder(
            (plan.variants as FailoverConfiguration[]).map((v) => ({ id: v.id, cluster: v.gracePeriod })),
            plan.cases[0].id,
            o,
        );
    },

    async setup(_plan, opts) {
        rig = new FailoverRig(opts.log);
    },

    async run(_c: Case, v: Variant, _round: number, opts: Options): Promise<RunResult> {
        const c = v as FailoverConfiguration;
        const stopAt = opts.settings.stopAt ? Date.parse(opts.settings.stopAt) : undefined;
        if (stopAt !== undefined && Date.now() > stopAt)
            throw new Error(`time budget spent (--set stopAt=${opts.settings.stopAt}): the drills so far are kept`);
        const prepareS = await rig!.prepare(c);
        const r = await rig!.drill(c.allowS * 1000, prepareS, c.mode === "deleteNode" && c.liberator ? 60_000 : 0);
        const t = failoverTimeline(r.milestones);
        const m = r.milestones;
        const firstLineS = m.firstByte !== undefined && m.newPodReady !== undefined ? (m.firstByte - m.killed) / 1000 : NaN;
        // From the old copy's last line to the new copy's first: how long nothing ran.
        const stuckS = r.writer.gapS ?? (r.lastOldWrite !== undefined ? Math.max(c.allowS, (Date.now() - r.lastOldWrite) / 1000) : c.allowS);
        const two = twoLiveCopies(m, r.lastOldWrite) || r.writer.oldLinesAfterNewStarted > 0;
        opts.log(
            `failover: ${c.id}: ${r.victim} killed; ` +
                FAILOVER_PHASES.filter((p) => p.id in t.phases)
                    .map((p) => `${p.id} ${t.phases[p.id].toFixed(1)}s`)
                    .join(", ") +
                (t.totalS === undefined ? `; no copy Ready within ${c.allowS}s` : `; new copy on ${r.newNode}`) +
                (r.nodeDeleted !== undefined ? `; Node deleted ${((r.nodeDeleted - m.killed) / 1000).toFixed(1)}s after the kill` : "") +
                `; writer gap ${r.writer.gapS ?? "—"}s, ${two ? "TWO LIVE COPIES" : "never two copies"}`,
        );
        return {
            metrics: { totalS: t.totalS ?? NaN, firstLineS, stuckS, twoCopies: two ? 1 : 0 },
            phases: t.phases,
            detail: { ...r, reached: t.reached, outOfOrder: t.outOfOrder, allowS: c.allowS },
        };
    },

    async teardown(opts) {
        rig?.close();
        rig = undefined;
        if (opts.settings.keepCluster === "1") return;
        clusterDown();
    },

    analyze(r: BenchResults) {
        const lines: string[] = [];
        const data: Record<string, unknown> = {};
        for (const v of r.plan.variants as FailoverConfiguration[]) {
            const mine = r.samples.filter((s) => s.variantId === v.id);
            if (!mine.length) continue;
            const ready = mine.filter((s) => Number.isFinite(s.metrics.totalS));
            const two = mine.filter((s) => s.metrics.twoCopies > 0).length;
            const stuck = mine.length - ready.length;
            const row = r.summary.find((s) => s.variantId === v.id && s.metric === "totalS");
            let line = `${v.label}: ${ready.length}/${mine.length} drills Ready`;
            if (row) line += `, kill → Ready median ${row.median.toFixed(1)} s (${row.min.toFixed(1)}–${row.max.toFixed(1)})`;
            if (stuck) line += `; ${stuck} stuck ≥ ${v.allowS} s (no copy Ready when the drill gave up)`;
            line += `; two live copies in ${two} of ${mine.length}`;
            if (v.id === "defaults-stock" && row)
                line += ` — goal ≤ ${FAILOVER_GOAL_S} s: ${row.max <= FAILOVER_GOAL_S ? "met by every drill" : row.median <= FAILOVER_GOAL_S ? "met by the median, not every drill" : "NOT met"}`;
            lines.push(line);
            data[v.id] = { drills: mine.length, ready: ready.length, stuck, twoCopies: two, allowS: v.allowS };
        }
        return { lines, data };
    },

    charts(r: BenchResults): { file: string; spec: ChartSpec }[] {
        const vs = (r.plan.variants as FailoverConfiguration[]).filter((v) => r.samples.some((s) => s.variantId === v.id));
        // Short names: the legend is one row.
        const short: Record<string, string> = {
            "defaults-stock": "defaults, 50 s",
            "delete-node": "deleteNode, 50 s",
            "no-liberator": "no liberator, 50 s",
            "defaults-short": "defaults, 20 s",
        };
        const series = vs.map((v) => ({ id: v.id, label: short[v.id] ?? v.id }));
        const phaseName: Record<string, string> = {
            detect: "kill → NotReady",
            decide: "→ remediation",
            release: "→ old pod gone",
            schedule: "→ scheduled",
            start: "→ Ready",
            firstByte: "→ first line",
        };
        const bar = (v: FailoverConfiguration, metric: string) => {
            const row = r.summary.find((s) => s.variantId === v.id && s.metric === metric);
            return row ? { series: v.id, median: row.median, min: row.min, max: row.max } : undefined;
        };
        const total: ChartSpec = {
            title: "Failover: power loss of the pod's node (grace period 50 s or 20 s)",
            subtitle: "no liberator: no copy Ready within the time allowed; the bar shows how long the drill watched it stay stuck",
            yLabel: "seconds",
            width: 960,
            series,
            groups: [
                {
                    label: "kill → Ready (no liberator: stuck ≥)",
                    bars: vs.map((v) => (v.liberator ? bar(v, "totalS") : bar(v, "stuckS"))).filter((b): b is NonNullable<typeof b> => b !== undefined),
                },
                {
                    label: "kill → first line by the new copy",
                    bars: vs.map((v) => bar(v, "firstLineS")).filter((b): b is NonNullable<typeof b> => b !== undefined),
                },
            ],
            references: [{ value: FAILOVER_GOAL_S, label: `goal ≤ ${FAILOVER_GOAL_S} s (stock timings)` }],
            notes: chartNotes(r, "stuckS"),
        };
        const phases: ChartSpec = {
            title: "Failover phases after a power loss (grace period 50 s or 20 s)",
            width: 960,
            yLabel: "seconds",
            series,
            groups: FAILOVER_PHASES.map((p) => ({
                label: phaseName[p.id] ?? p.id,
                bars: r.phaseSummary
                    .filter((s) => s.phase === p.id && vs.some((v) => v.id === s.variantId))
                    .map((s) => ({ series: s.variantId, median: s.median, min: s.min, max: s.max })),
            })).filter((g) => g.bars.length),
            notes: chartNotes(r, "stuckS"),
        };
        return [
            { file: "failover.svg", spec: total },
            { file: "failover-phases.svg", spec: phases },
        ];
    },
};
