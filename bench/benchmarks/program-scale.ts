// Program scale (issue #13, item 3): what StatefulWorkload costs over writing the same objects as
// plain @pulumi/kubernetes resources, at 1, 10 and 100 workloads:
//   mocks   — evaluating the program under Pulumi mocks (a fresh node process per run);
//   preview — `pulumi preview` of a new stack with the real CLI and provider against the bench
//             control plane (every object is a create; the provider asks the API server to
//             dry-run each one).
// The program is compiled once with tsc, so neither figure includes TypeScript compilation.
import { spawn, execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Analysis, Benchmark, BenchResults, Case, Options, Plan, RunResult, Variant } from "../lib/benchmark";
import { benchEnv, clusterDown, clusterUp, kubectl, requireTools } from "../lib/cluster";
import { repoRoot } from "../lib/machine";
import { growth } from "../lib/stats";
import { CpuProfile, mergeProfiles, summarizeProfile } from "../lib/cpuprofile";

const VARIANTS: Variant[] = [
    { id: "plain", label: "plain @pulumi/kubernetes resources", role: "baseline" },
    { id: "component", label: "StatefulWorkload", role: "candidate" },
];
const NAMESPACE = "bench-scale";
/** The goal from the issue: the component costs at most 1.2× the plain resources. */
export const RATIO_GOAL = 1.2;
/** Marginal cost per workload (10→100) over (1→10) above this is called superlinear. */
export const LINEAR_TOLERANCE = 1.5;

interface State {
    dir: string;
    build: string;
    project: string;
    startedCluster: boolean;
    kubeconfig?: string;
}
let state: State | undefined;
let profiles: ProfileSummary[] | undefined;

interface ProfileSummary {
    variant: string;
    workloads: number;
    runs: number;
    summary: ReturnType<typeof summarizeProfile>;
}

/** `--set profile=1`: CPU profiles of the evaluation at the largest size, summed over 3 runs per variant. */
async function profileEvaluation(s: State, sizes: number[], log: (m: string) => void): Promise<ProfileSummary[]> {
    const n = Math.max(...sizes);
    const script = path.join(s.build, "bench", "benchmarks", "program-scale", "mock-eval.js");
    const out: ProfileSummary[] = [];
    for (const v of VARIANTS) {
        const merged: CpuProfile[] = [];
        for (let i = 0; i < 3; i++) {
            const file = path.join(s.dir, `${v.id}-${i}.cpuprofile`);
            const r = await spawnTimed(process.execPath, [script, v.id, String(n), file], process.env, 300_000);
            if (r.code !== 0) throw new Error(`profiling (${v.id}, ${n}) failed:\n${r.stderr}`);
            merged.push(JSON.parse(fs.readFileSync(file, "utf8")));
        }
        const summary = summarizeProfile(mergeProfiles(merged), { root: s.build, top: 12, inclusive: ["/components/"] });
        out.push({ variant: v.id, workloads: n, runs: merged.length, summary });
        log(`program-scale: profiled ${v.id} × ${n}: ${summary.totalMs.toFixed(0)} ms of samples`);
    }
    return out;
}

function kindOf(c: Case): "mocks" | "preview" {
    return c.id.startsWith("mocks") ? "mocks" : "preview";
}

/** Resources a run must register: per workload the component and its 3 objects, or the 3 objects. */
export function expectedResources(variant: string, count: number): number {
    return variant === "component" ? 4 * count : 3 * count;
}

function workloadsLabel(n: number): string {
    return `${n} workload${n === 1 ? "" : "s"}`;
}

/** bash's `times`: "0m1.234s 0m0.056s" → seconds, user + system. */
export function parseTimes(line: string): number {
    const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(line);
    if (!m) throw new Error(`cannot read CPU times from "${line}"`);
    return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

/**
 * Runs a command and times it: wall time, and the CPU time (user + system) of the command and
 * all its descendants (bash's `times` for its children), which a busy machine disturbs far less.
 */
function spawnTimed(
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string; ms: number; cpuS: number }> {
    const t0 = process.hrtime.bigint();
    return new Promise((resolve) => {
        const script = '"$@"; rc=$?; times >&3; exit $rc';
        const child = spawn("bash", ["-c", script, "bash", cmd, ...args], { env, stdio: ["ignore", "pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        let times = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d) => (stderr += d));
        (child.stdio[3] as NodeJS.ReadableStream).on("data", (d) => (times += d));
        const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
        child.on("close", (code) => {
            clearTimeout(timer);
            const children = times.trim().split("\n")[1];
            resolve({ code: code ?? -1, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuS: children ? parseTimes(children) : NaN });
        });
    });
}

function pulumiEnv(s: State): NodeJS.ProcessEnv {
    const env = benchEnv({
        PULUMI_BACKEND_URL: `file://${path.join(s.dir, "backend")}`,
        PULUMI_CONFIG_PASSPHRASE_FILE: path.join(s.dir, "passphrase"),
    });
    delete env.PULUMI_CONFIG_PASSPHRASE;
    return env;
}

const stackName = (variant: string, size: number) => `${variant}-${size}`;

export const programScale: Benchmark = {
    name: "program-scale",
    title: "Program scale",
    description:
        "StatefulWorkload vs the same objects as plain resources, 1/10/100 workloads: evaluation under mocks, and pulumi preview against a real API server",

    plan(opts: Options): Plan {
        const sizes = (opts.settings.sizes ?? (opts.quick ? "1,10" : "1,10,100")).split(",").map(Number);
        for (const n of sizes)
            if (!Number.isInteger(n) || n < 1) throw new Error(`--set sizes: ${n} is invalid: sizes are whole numbers ≥ 1, e.g. sizes=1,10,100`);
        const preview = opts.settings.preview !== "0";
        const cases: Case[] = sizes.map((n) => ({ id: `mocks-${n}`, label: workloadsLabel(n), size: n, rounds: opts.quick ? 2 : 10 }));
        if (preview) cases.push(...sizes.map((n) => ({ id: `preview-${n}`, label: workloadsLabel(n), size: n, rounds: opts.quick ? 1 : 5 })));
        return {
            cases,
            variants: VARIANTS,
            metrics: [
                { id: "mocksMs", label: "evaluation under mocks", unit: "ms", logScale: true },
                { id: "mocksCpuMs", label: "evaluation under mocks, CPU time", unit: "ms", logScale: true },
                { id: "previewS", label: "pulumi preview", unit: "s", logScale: true },
                { id: "previewCpuS", label: "pulumi preview, CPU time", unit: "s", logScale: true },
            ],
            rounds: opts.quick ? 1 : 5,
            warmup: opts.quick ? 0 : 1,
            caseAxis: "program size: workloads (each a headless Service, a StatefulSet of 3 and a PodDisruptionBudget)",
        };
    },

    async setup(plan: Plan, opts: Options): Promise<void> {
        const preview = plan.cases.some((c) => kindOf(c) === "preview");
        if (preview) requireTools(["pulumi", "control-plane"]);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-bench-scale-"));
        const s: State = { dir, build: path.join(dir, "build"), project: dir, startedCluster: false };
        state = s;
        // Compile the program (and the components it imports) once; node_modules is the repo's.
        fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"));
        const tsconfig = {
            extends: path.join(repoRoot, "tsconfig.json"),
            compilerOptions: { outDir: s.build, rootDir: repoRoot, noEmit: false, declaration: false, sourceMap: false, types: ["node"] },
            include: [],
            files: ["main.ts", "mock-eval.ts"].map((f) => path.join(repoRoot, "bench", "benchmarks", "program-scale", f)),
        };
        fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
        const t0 = Date.now();
        execFileSync(path.join(repoRoot, "node_modules", ".bin", "tsc"), ["-p", path.join(dir, "tsconfig.json")], { stdio: "inherit" });
        opts.log(`program-scale: program compiled in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
        if (!preview) return;

        s.kubeconfig = clusterUp();
        s.startedCluster = true;
        try {
            kubectl(["create", "namespace", NAMESPACE]);
        } catch (e) {
            if (!/AlreadyExists/.test(String((e as { stderr?: string }).stderr ?? e))) throw e;
        }
        fs.mkdirSync(path.join(dir, "backend"));
        fs.writeFileSync(path.join(dir, "passphrase"), crypto.randomBytes(18).toString("base64url"), { mode: 0o600 });
        const main = path.relative(s.project, path.join(s.build, "bench", "benchmarks", "program-scale", "main.js"));
        fs.writeFileSync(path.join(s.project, "Pulumi.yaml"), `name: pets-bench\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: ${main}\n`);
        // Every (variant, size) is its own new stack: each preview plans creates only.
        for (const c of plan.cases.filter((x) => kindOf(x) === "preview")) {
            for (const v of plan.variants) {
                const stack = stackName(v.id, c.size!);
                const r = await spawnTimed("pulumi", ["stack", "init", stack, "--non-interactive", "--cwd", s.project], pulumiEnv(s), 120_000);
                if (r.code !== 0) throw new Error(`pulumi stack init ${stack} failed:\n${r.stdout}${r.stderr}`);
                const file = path.join(s.project, `Pulumi.${stack}.yaml`);
                const config = {
                    "pets-bench:variant": v.id,
                    "pets-bench:count": String(c.size),
                    "pets-bench:namespace": NAMESPACE,
                    "kubernetes:kubeconfig": s.kubeconfig,
                };
                // JSON strings are YAML strings: no YAML library needed.
                const lines = Object.entries(config).map(([k, val]) => `  ${k}: ${JSON.stringify(val)}`);
                fs.appendFileSync(file, `\nconfig:\n${lines.join("\n")}\n`);
            }
        }
        opts.log(`program-scale: ${plan.variants.length * plan.cases.filter((x) => kindOf(x) === "preview").length} stacks ready in ${s.project}`);
    },

    async run(c: Case, v: Variant): Promise<RunResult> {
        const s = state!;
        const n = c.size!;
        if (kindOf(c) === "mocks") {
            const script = path.join(s.build, "bench", "benchmarks", "program-scale", "mock-eval.js");
            const r = await spawnTimed(process.execPath, [script, v.id, String(n)], process.env, 300_000);
            if (r.code !== 0) throw new Error(`mock evaluation (${v.id}, ${n}) failed:\n${r.stderr}`);
            const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
            if (out.registered !== expectedResources(v.id, n))
                throw new Error(`mock evaluation (${v.id}, ${n}) registered ${out.registered} resources, expected ${expectedResources(v.id, n)}`);
            return { metrics: { mocksMs: out.evalMs, mocksCpuMs: out.cpuMs }, detail: { ...out, spawnMs: r.ms } };
        }
        const stack = stackName(v.id, n);
        const r = await spawnTimed(
            "pulumi",
            ["preview", "--stack", stack, "--non-interactive", "--suppress-progress", "--cwd", s.project],
            pulumiEnv(s),
            900_000,
        );
        if (r.code !== 0) throw new Error(`pulumi preview of ${stack} failed (${(r.ms / 1000).toFixed(1)}s):\n${r.stdout}\n${r.stderr}`);
        const creates = Number(/\+ (\d+) to create/.exec(r.stdout)?.[1] ?? NaN);
        // The stack resource itself is one more create.
        if (creates !== expectedResources(v.id, n) + 1)
            throw new Error(`pulumi preview of ${stack} plans ${creates} creates, expected ${expectedResources(v.id, n) + 1}:\n${r.stdout}`);
        return { metrics: { previewS: r.ms / 1000, previewCpuS: r.cpuS }, detail: { creates } };
    },

    async teardown(opts: Options): Promise<void> {
        const s = state;
        state = undefined;
        if (!s) return;
        profiles = undefined;
        try {
            if (opts.settings.profile === "1")
                profiles = await profileEvaluation(
                    s,
                    this.plan(opts).cases.map((c) => c.size!),
                    opts.log,
                );
        } catch (e) {
            opts.log(`program-scale: profiling failed: ${String(e)}`);
        }
        if (s.startedCluster && opts.settings.keepCluster !== "1") clusterDown();
        fs.rmSync(s.dir, { recursive: true, force: true });
    },

    analyze(r: BenchResults): Analysis {
        const a = analyzeScale(r);
        if (profiles) {
            a.data.profiles = profiles;
            for (const p of profiles) {
                a.lines.push(`where the time goes, ${p.variant} × ${p.workloads} (self time, ${p.runs} profiled runs, ${p.summary.totalMs.toFixed(0)} ms):`);
                for (const e of p.summary.bySource.slice(0, 8)) a.lines.push(`  ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.key}`);
                for (const e of p.summary.inclusive) a.lines.push(`  ${(e.share * 100).toFixed(1).padStart(5)}%  inclusive: anything called from ${e.key}`);
            }
        }
        return a;
    },
};

export interface ScaleVerdict {
    kind: "mocks" | "preview";
    metric: string;
    unit: string;
    /** candidate/baseline ratio of medians, by size. */
    ratios: { size: number; ratio: number; paired: number }[];
    growth: Record<
        string,
        { slopePerWorkload: number; intercept: number; r2: number; marginal: { from: number; to: number; perUnit: number }[]; marginalRatio: number }
    >;
    /** Extra cost per workload of the component, from the fitted slopes. */
    slopeRatio?: number;
    withinRatioGoal: boolean;
    linear?: boolean;
}

export function analyzeScale(r: BenchResults): Analysis {
    const verdicts: ScaleVerdict[] = [];
    const lines: string[] = [];
    for (const m of r.plan.metrics) {
        const kind = m.id.startsWith("mocks") ? "mocks" : "preview";
        const metric = m.id;
        const unit = m.unit;
        const cases = r.plan.cases.filter((c) => c.id.startsWith(kind) && r.samples.some((s) => s.caseId === c.id && Number.isFinite(s.metrics[metric])));
        if (!cases.length) continue;
        const ratios = cases
            .map((c) => ({ c, row: r.ratios.find((x) => x.caseId === c.id && x.metric === metric) }))
            .filter((x) => x.row)
            .map((x) => ({ size: x.c.size!, ratio: x.row!.ofMedians, paired: x.row!.paired.median }));
        const v: ScaleVerdict = { kind, metric, unit, ratios, growth: {}, withinRatioGoal: ratios.every((x) => x.ratio <= RATIO_GOAL) };
        if (cases.length >= 2) {
            for (const variant of r.plan.variants) {
                const bySize = new Map<number, number[]>();
                for (const c of cases) {
                    const vals = r.samples
                        .filter((s) => s.caseId === c.id && s.variantId === variant.id && Number.isFinite(s.metrics[metric]))
                        .map((s) => s.metrics[metric]);
                    if (vals.length) bySize.set(c.size!, vals);
                }
                if (bySize.size < 2) continue;
                const g = growth(bySize);
                v.growth[variant.id] = {
                    slopePerWorkload: g.fit.slope,
                    intercept: g.fit.intercept,
                    r2: g.fit.r2,
                    marginal: g.marginal,
                    marginalRatio: g.marginalRatio,
                };
            }
            const cand = v.growth.component;
            const base = v.growth.plain;
            if (cand && base) v.slopeRatio = cand.slopePerWorkload / base.slopePerWorkload;
            if (cand && cases.length >= 3) v.linear = cand.marginalRatio <= LINEAR_TOLERANCE;
        }
        verdicts.push(v);
        const label = m.label;
        lines.push(
            `${label}: StatefulWorkload ÷ plain = ${ratios.map((x) => `${x.ratio.toFixed(2)}× at ${x.size}`).join(", ")} — ${v.withinRatioGoal ? "within" : "MISSES"} the ${RATIO_GOAL}× goal`,
        );
        for (const [id, g] of Object.entries(v.growth)) {
            lines.push(
                `  ${id}: ${g.slopePerWorkload.toFixed(unit === "ms" ? 2 : 3)} ${unit}/workload + ${g.intercept.toFixed(unit === "ms" ? 1 : 2)} ${unit} fixed (r² ${g.r2.toFixed(3)}); ` +
                    `marginal ${g.marginal.map((m) => `${m.from}→${m.to}: ${m.perUnit.toFixed(unit === "ms" ? 2 : 3)}`).join(", ")} ${unit}/workload`,
            );
        }
        if (v.slopeRatio !== undefined) lines.push(`  per-workload cost (fitted slopes) StatefulWorkload ÷ plain = ${v.slopeRatio.toFixed(2)}×`);
        if (v.linear !== undefined)
            lines.push(
                `  growth of StatefulWorkload: ${v.linear ? "linear" : "SUPERLINEAR"} (marginal cost at the largest step ÷ the smallest = ${v.growth.component.marginalRatio.toFixed(2)}, tolerance ${LINEAR_TOLERANCE})`,
            );
    }
    return { lines, data: { ratioGoal: RATIO_GOAL, linearTolerance: LINEAR_TOLERANCE, verdicts } };
}
