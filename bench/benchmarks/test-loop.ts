// Test loop (issue #13, item 4): how long a developer waits for the unit suite and for the
// integration suite with everything warm (tools built, jest's transform cache filled), per jest
// project, from jest's own JSON report (--json --outputFile) of each run.
// The integration suite runs on the bench control plane (own dir and ports), never the test one.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Analysis, Benchmark, BenchResults, Case, Options, Plan, RunResult } from "../lib/benchmark";
import { benchEnv, clusterDown, clusterUp, requireTools } from "../lib/cluster";
import { repoRoot } from "../lib/machine";
import { formatValue } from "../lib/svg";
import { chartNotes } from "../lib/report";

let startedCluster = false;

interface FileTime {
    file: string;
    seconds: number;
    tests: number;
    failed: number;
}

/** The parts of jest's --json report read here. */
export interface JestReport {
    startTime: number;
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
    numRuntimeErrorTestSuites: number;
    /** Per test file; --json writes perfStats.start/end as startTime/endTime (ms since the epoch). */
    testResults?: { name?: string; startTime?: number; endTime?: number; assertionResults?: { status: string }[] }[];
}

/** Per test file: runtime from jest's perfStats, slowest first. */
export function fileTimes(report: JestReport): FileTime[] {
    return (report.testResults ?? [])
        .map((t) => ({
            file: path.relative(repoRoot, t.name ?? ""),
            seconds: ((t.endTime ?? 0) - (t.startTime ?? 0)) / 1000,
            tests: (t.assertionResults ?? []).length,
            failed: (t.assertionResults ?? []).filter((a) => a.status === "failed").length,
        }))
        .sort((a, b) => b.seconds - a.seconds);
}

/** Wall time jest reports: its start to the end of the last test file. */
export function jestWallSeconds(report: JestReport): number {
    const ends = (report.testResults ?? []).map((t) => t.endTime ?? 0);
    return ends.length ? (Math.max(...ends) - report.startTime) / 1000 : 0;
}

function runJest(project: string, extra: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; ms: number; json: JestReport; stderrTail: string }> {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pets-bench-jest-")), "results.json");
    const args = [path.join(repoRoot, "node_modules", "jest", "bin", "jest.js"), "--selectProjects", project, "--ci", "--json", "--outputFile", out, ...extra];
    const t0 = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d) => {
            stderr += d;
            if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
        });
        child.on("error", reject);
        child.on("close", (code) => {
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            let json: JestReport;
            try {
                json = JSON.parse(fs.readFileSync(out, "utf8"));
            } catch {
                return reject(new Error(`jest (${project}) wrote no JSON report (exit ${code}):\n${stderr.slice(-4000)}`));
            } finally {
                fs.rmSync(path.dirname(out), { recursive: true, force: true });
            }
            resolve({ code: code ?? -1, ms, json, stderrTail: stderr.slice(-4000) });
        });
    });
}

export const testLoop: Benchmark = {
    name: "test-loop",
    title: "Test loop",
    description: "wall time of the unit and the (warm) integration jest projects, and the sum of their test files' times, from jest's JSON report",

    plan(opts: Options): Plan {
        const cases: Case[] = [{ id: "unit", label: "unit", rounds: opts.quick ? 1 : 3 }];
        if (!opts.skipIntegration) cases.push({ id: "integration", label: "integration (warm)", rounds: opts.quick ? 1 : 2 });
        return {
            cases,
            variants: [{ id: "current", label: "this commit" }],
            metrics: [
                { id: "wallS", label: "wall time", unit: "s" },
                { id: "filesS", label: "sum of test-file times", unit: "s" },
            ],
            rounds: 1,
            warmup: 0,
        };
    },

    async setup(plan: Plan, opts: Options): Promise<void> {
        if (plan.cases.some((c) => c.id === "integration")) {
            requireTools(["pulumi", "control-plane"]);
            const t0 = Date.now();
            clusterUp();
            startedCluster = true;
            opts.log(`test-loop: bench cluster up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
        }
    },

    async run(c: Case, _v, _round, opts: Options): Promise<RunResult> {
        const env = c.id === "integration" ? benchEnv() : { ...process.env };
        // Not scripts/test.sh's run: keep jest's summary reporter from writing into one.
        delete env.PETS_TEST_SUMMARY;
        const r = await runJest(c.id, c.id === "integration" ? ["--runInBand"] : [], env);
        const files = fileTimes(r.json);
        const failed = r.json.numFailedTests + r.json.numRuntimeErrorTestSuites;
        const wallS = r.ms / 1000;
        const filesS = files.reduce((a, f) => a + f.seconds, 0);
        // A failing suite is not the suite: a test that fails early skips the rest of its file's
        // work. Its times stay in the JSON (detail) but not in the figures.
        const ok = failed === 0 && r.code === 0;
        if (!ok) opts.log(`test-loop: ${c.id}: ${failed} failed test(s), exit ${r.code}: this run is left out of the figures\n${r.stderrTail}`);
        return {
            metrics: ok ? { wallS, filesS } : { wallS: NaN, filesS: NaN },
            detail: {
                wallS,
                filesS,
                jestWallS: jestWallSeconds(r.json),
                exitCode: r.code,
                passed: r.json.numPassedTests,
                failed,
                skipped: r.json.numPendingTests + r.json.numTodoTests,
                files,
            },
        };
    },

    async teardown(opts: Options): Promise<void> {
        if (startedCluster && opts.settings.keepCluster !== "1") clusterDown();
        startedCluster = false;
    },

    analyze(r: BenchResults): Analysis {
        const lines: string[] = [];
        const data: Record<string, unknown> = {};
        for (const c of r.plan.cases) {
            const samples = r.samples.filter((s) => s.caseId === c.id);
            if (!samples.length) continue;
            const details = samples.map((s) => s.detail as { failed: number; files: FileTime[] });
            const failed = details.map((d) => d.failed);
            // Slowest files: median seconds over the rounds.
            const byFile = new Map<string, number[]>();
            for (const d of details.filter((x) => x.failed === 0)) for (const f of d.files) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f.seconds]);
            const slowest = [...byFile.entries()]
                .map(([file, v]) => ({ file, seconds: [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] }))
                .sort((a, b) => b.seconds - a.seconds);
            data[c.id] = { slowest, failedTests: failed };
            lines.push(
                `${c.label}: slowest files ${slowest
                    .slice(0, 4)
                    .map((f) => `${path.basename(f.file)} ${formatValue(f.seconds)} s`)
                    .join(", ")}`,
            );
            if (failed.some((x) => x > 0))
                lines.push(
                    `  WARNING: ${failed.filter((x) => x > 0).length} of ${failed.length} runs had failed tests (${failed.join(", ")}) and are left out of the figures`,
                );
        }
        return { lines, data };
    },

    charts(r: BenchResults) {
        const cases = r.plan.cases.filter((c) => r.summary.some((s) => s.caseId === c.id));
        return [
            {
                file: "test-loop.svg",
                spec: {
                    title: "Test loop: time per jest project",
                    subtitle: "wall time of `jest --selectProjects <project>` vs the sum of its test files' own times",
                    yLabel: "time (s)",
                    series: r.plan.metrics.map((m) => ({ id: m.id, label: m.label })),
                    groups: cases.map((c) => ({
                        label: c.label,
                        bars: r.summary.filter((s) => s.caseId === c.id).map((s) => ({ series: s.metric, median: s.median, min: s.min, max: s.max })),
                    })),
                    notes: chartNotes(r),
                },
            },
        ];
    },
};
