// Liberator footprint (issue #13, item 2) — measuring parts ready, target pending. The target is
// what runs: the new per-node agent and deciding controller (work in progress: register it with
// registerFootprintTarget), or `--set target=control-plane`, a self-check that measures the bench
// cluster's own per-node processes (kwok) and kube-controller-manager the same way, so the
// sampler, the audit log option, the parser and the node churn are exercised end to end today.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Analysis, Benchmark, BenchResults, Case, Options, Plan, RunResult } from "../lib/benchmark";
import { BENCH_CLUSTER_ENV, clusterDown, clusterUp, kubectl } from "../lib/cluster";
import { measureFootprint } from "../lib/footprint";
import { chartNotes } from "../lib/report";
import { formatValue } from "../lib/svg";
import { AuditRequest, RateReport } from "../lib/audit";

/** What the classic liberator requests per node; the comparison the issue asks for. */
export const CLASSIC_LIBERATOR_REQUEST_MIB = 200;
export const GOALS_MIB = { agent: 45, controller: 60 };

export interface FootprintTarget {
    /** Process kinds, e.g. { agent: "per-node agent", controller: "deciding controller" }. */
    kinds: Record<string, string>;
    /** Starts the target on the bench cluster (nodes already there). */
    start(nodes: string[]): Promise<void>;
    pids(): Record<string, number[]>;
    /** Which API requests are the target's own (its user agent or identity). */
    isOwnRequest(r: AuditRequest): boolean;
    stop(): Promise<void>;
}

const targets: Record<string, FootprintTarget | undefined> = { liberator: undefined };
export function registerFootprintTarget(name: string, t: FootprintTarget): void {
    targets[name] = t;
}

const clusterDir = () => BENCH_CLUSTER_ENV.PETS_CLUSTER_DIR;
function readPid(name: string): number | undefined {
    try {
        const pid = Number(fs.readFileSync(path.join(clusterDir(), "pids", `${name}.pid`), "utf8").trim());
        return Number.isInteger(pid) ? pid : undefined;
    } catch {
        return undefined;
    }
}

/** The bench cluster's own processes, as a stand-in target for checking the measuring parts. */
const controlPlaneTarget: FootprintTarget = {
    kinds: { agent: "kwok (one per node)", controller: "kube-controller-manager" },
    async start() {},
    pids() {
        const kwok = fs
            .readdirSync(path.join(clusterDir(), "pids"))
            .filter((f) => f.startsWith("kwok-"))
            .map((f) => readPid(f.replace(/\.pid$/, "")))
            .filter((p): p is number => p !== undefined);
        const kcm = readPid("kube-controller-manager");
        return { agent: kwok, controller: kcm ? [kcm] : [] };
    },
    isOwnRequest: (r) => r.userAgent.startsWith("kwok") || r.userAgent.startsWith("kube-controller-manager"),
    async stop() {},
};

/**
 * Node churn: every `everyMs`, one node's process is stopped, and started again with the same
 * command line `downMs` later — a node dying and coming back.
 */
class Churn {
    private down: { node: string; argv: string[]; at: number }[] = [];
    private next = 0;
    private i = 0;
    events: { node: string; event: "down" | "up"; atMs: number }[] = [];
    constructor(
        private readonly nodes: string[],
        private readonly everyMs: number,
        private readonly downMs: number,
    ) {}

    tick(elapsedMs: number): void {
        this.restartDue(elapsedMs);
        if (this.nodes.length === 0 || elapsedMs < this.next) return;
        this.next = elapsedMs + this.everyMs;
        const node = this.nodes[this.i++ % this.nodes.length];
        if (this.down.some((d) => d.node === node)) return;
        const pid = readPid(`kwok-${node}`);
        if (!pid) return;
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
        process.kill(pid, "SIGKILL");
        this.down.push({ node, argv, at: elapsedMs });
        this.events.push({ node, event: "down", atMs: elapsedMs });
    }

    private restartDue(elapsedMs: number): void {
        for (const d of this.down.filter((x) => elapsedMs - x.at >= this.downMs)) {
            const log = fs.openSync(path.join(clusterDir(), "logs", `kwok-${d.node}.log`), "a");
            const child = spawn(d.argv[0], d.argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
            child.unref();
            fs.closeSync(log);
            fs.writeFileSync(path.join(clusterDir(), "pids", `kwok-${d.node}.pid`), `${child.pid}\n`);
            this.events.push({ node: d.node, event: "up", atMs: elapsedMs });
        }
        this.down = this.down.filter((x) => elapsedMs - x.at < this.downMs);
    }

    /** Brings every node still down back, so the cluster is whole again. */
    restoreAll(): void {
        this.restartDue(Number.MAX_SAFE_INTEGER);
    }
}

interface FootprintDetail {
    requests?: RateReport;
    churn: Churn["events"];
    kindLabels: Record<string, string>;
}

function kindLabel(r: BenchResults, kind: string): string {
    return (r.samples[0]?.detail as FootprintDetail | undefined)?.kindLabels[kind] ?? kind;
}

let current: { target: FootprintTarget; nodes: string[] } | undefined;

export const footprint: Benchmark = {
    name: "footprint",
    title: "Liberator footprint",
    description: "peak and steady RSS and CPU per process kind, and API requests per minute by the target's identity, with node churn",

    unavailable(opts: Options): string | undefined {
        const name = opts.settings.target ?? "liberator";
        if (name === "control-plane") return undefined;
        if (!(name in targets)) return `unknown target "${name}": known targets are ${[...Object.keys(targets), "control-plane"].join(", ")}`;
        if (!targets[name])
            return `target "${name}" is not available yet (the new liberator agent/controller is work in progress); the sampler, audit log and churn parts run today with --set target=control-plane`;
        return undefined;
    },

    plan(opts: Options): Plan {
        const nodes = (opts.settings.nodes ?? (opts.quick ? "3" : "50")).split(",").map(Number);
        const target = opts.settings.target ?? "liberator";
        return {
            cases: nodes.map((n) => ({ id: `nodes-${n}`, label: `${n} nodes`, size: n })),
            variants: [{ id: target, label: target }],
            metrics: [
                { id: "agentPeakRssMiB", label: "per-node process peak RSS", unit: "MiB" },
                { id: "agentSteadyRssMiB", label: "per-node process steady RSS", unit: "MiB" },
                { id: "controllerPeakRssMiB", label: "controller peak RSS", unit: "MiB" },
                { id: "controllerSteadyRssMiB", label: "controller steady RSS", unit: "MiB" },
                { id: "agentSteadyCpuMilli", label: "per-node process steady CPU", unit: "millicores" },
                { id: "controllerSteadyCpuMilli", label: "controller steady CPU", unit: "millicores" },
                { id: "requestsPerMin", label: "API requests by the target", unit: "req/min" },
            ],
            rounds: 1,
            warmup: 0,
        };
    },

    async run(c: Case, v, _round, opts: Options): Promise<RunResult> {
        const target = v.id === "control-plane" ? controlPlaneTarget : targets[v.id]!;
        const n = c.size!;
        // A fresh cluster per node count, with the audit log on.
        clusterDown();
        clusterUp({ audit: true, workers: n });
        const nodes = (JSON.parse(kubectl(["get", "nodes", "-o", "json"])) as { items: { metadata: { name: string } }[] }).items
            .map((x) => x.metadata.name)
            .filter((x) => x.startsWith("pets-worker-"));
        await target.start(nodes);
        current = { target, nodes };
        const durationMs = Number(opts.settings.seconds ?? (opts.quick ? 30 : 300)) * 1000;
        const churn = new Churn(
            opts.settings.churn === "0" ? [] : nodes,
            Number(opts.settings.churnEverySeconds ?? 20) * 1000,
            Number(opts.settings.downSeconds ?? 60) * 1000,
        );
        opts.log(`footprint: measuring ${n} nodes for ${durationMs / 1000}s (churn every ${opts.settings.churnEverySeconds ?? 20}s)`);
        let fp;
        try {
            fp = await measureFootprint({
                pids: () => target.pids(),
                durationMs,
                intervalMs: 1000,
                auditLog: path.join(clusterDir(), "logs", "audit.log"),
                clientKey: "agent",
                matchRequest: (r) => target.isOwnRequest(r),
                onTick: (ms) => churn.tick(ms),
            });
        } finally {
            churn.restoreAll();
        }
        const kind = (k: string) => fp.kinds.find((x) => x.kind === k);
        const mib = (b: number | undefined) => (b ?? NaN) / 2 ** 20;
        const total = (fp.requests?.clients ?? []).reduce((a, x) => a + x.total, 0);
        return {
            metrics: {
                agentPeakRssMiB: mib(kind("agent")?.peakRssBytes),
                agentSteadyRssMiB: mib(kind("agent")?.steadyRssBytes),
                controllerPeakRssMiB: mib(kind("controller")?.peakRssBytes),
                controllerSteadyRssMiB: mib(kind("controller")?.steadyRssBytes),
                agentSteadyCpuMilli: (kind("agent")?.steadyCpuCores ?? NaN) * 1000,
                controllerSteadyCpuMilli: (kind("controller")?.steadyCpuCores ?? NaN) * 1000,
                requestsPerMin: fp.requests ? total / fp.requests.minutes : NaN,
            },
            detail: { kinds: fp.kinds, requests: fp.requests, auditSkippedLines: fp.auditSkippedLines, churn: churn.events, kindLabels: target.kinds },
        };
    },

    async teardown(opts: Options): Promise<void> {
        await current?.target.stop();
        current = undefined;
        if (opts.settings.keepCluster !== "1") clusterDown();
    },

    analyze(r: BenchResults): Analysis {
        const lines: string[] = [];
        for (const s of r.samples) {
            const d = s.detail as FootprintDetail;
            for (const c of d.requests?.clients ?? [])
                lines.push(`${s.caseId}: ${c.client}: ${formatValue(c.perMinute)} req/min (${c.total} in ${formatValue(d.requests!.minutes)} min)`);
            lines.push(`${s.caseId}: churn events: ${d.churn.length}`);
        }
        if (r.plan.variants[0].id !== "control-plane")
            lines.push(
                `goals: agent ≤ ${GOALS_MIB.agent} MiB, controller ≤ ${GOALS_MIB.controller} MiB; classic liberator requests ${CLASSIC_LIBERATOR_REQUEST_MIB} MiB per node`,
            );
        return { lines, data: { goalsMiB: GOALS_MIB, classicRequestMiB: CLASSIC_LIBERATOR_REQUEST_MIB } };
    },

    charts(r: BenchResults) {
        const groups = r.plan.cases
            .filter((c) => r.summary.some((s) => s.caseId === c.id))
            .flatMap((c) =>
                (["agent", "controller"] as const).map((k) => ({
                    label: `${kindLabel(r, k)} · ${c.label}`,
                    bars: (["Peak", "Steady"] as const)
                        .map((p) => r.summary.find((s) => s.caseId === c.id && s.metric === `${k}${p}RssMiB`))
                        .filter((s) => s !== undefined && Number.isFinite(s.median))
                        .map((s) => ({ series: s!.metric.includes("Peak") ? "peak" : "steady", median: s!.median, min: s!.min, max: s!.max })),
                })),
            );
        return [
            {
                file: "footprint.svg",
                spec: {
                    title: `Footprint: resident memory per process (target: ${r.plan.variants[0].label})`,
                    yLabel: "RSS (MiB)",
                    series: [
                        { id: "peak", label: "peak" },
                        { id: "steady", label: "steady (median, second half)" },
                    ],
                    groups,
                    references: [{ value: CLASSIC_LIBERATOR_REQUEST_MIB, label: `classic liberator request: ${CLASSIC_LIBERATOR_REQUEST_MIB} MiB per node` }],
                    notes: chartNotes(r),
                },
            },
        ];
    },
};
