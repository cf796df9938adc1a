// Printing and saving results: a plain-text table, the JSON file, and the SVG charts.
import * as fs from "fs";
import * as path from "path";
import { BenchResults } from "./benchmark";
import { ChartSpec, formatValue, groupedBarChart } from "./svg";

export function formatTable(header: string[], rows: string[][], rightAligned: boolean[] = []): string {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function resultsTable(r: BenchResults): string {
    const caseLabel = (id: string) => r.plan.cases.find((c) => c.id === id)?.label ?? id;
    const variantLabel = (id: string) => r.plan.variants.find((v) => v.id === id)?.label ?? id;
    const rows = r.summary.map((s) => {
        const m = r.plan.metrics.find((x) => x.id === s.metric)!;
        const ratio = r.ratios.find((x) => x.caseId === s.caseId && x.metric === s.metric && x.candidate === s.variantId);
        return [
            caseLabel(s.caseId),
            variantLabel(s.variantId),
            `${m.label} (${m.unit})`,
            String(s.n),
            formatValue(s.median),
            formatValue(s.min),
            formatValue(s.max),
            ratio ? `${ratio.ofMedians.toFixed(2)}×` : "",
            ratio && ratio.paired.n ? `${ratio.paired.median.toFixed(2)} (${ratio.paired.min.toFixed(2)}–${ratio.paired.max.toFixed(2)})` : "",
        ];
    });
    let out = formatTable(["case", "variant", "metric", "n", "median", "min", "max", "÷baseline", "paired ratio (min–max)"], rows, [
        false,
        false,
        false,
        true,
        true,
        true,
        true,
        true,
        false,
    ]);
    if (r.phaseSummary.length) {
        const unit = r.plan.metrics[0]?.unit ?? "";
        out +=
            "\n\n" +
            formatTable(
                ["case", "variant", "phase", "n", `median (${unit})`, "min", "max"],
                r.phaseSummary.map((p) => [
                    caseLabel(p.caseId),
                    variantLabel(p.variantId),
                    r.plan.phases?.find((x) => x.id === p.phase)?.label ?? p.phase,
                    String(p.n),
                    formatValue(p.median),
                    formatValue(p.min),
                    formatValue(p.max),
                ]),
                [false, false, false, true, true, true, true],
            );
    }
    return out;
}

/** The small print under a chart: where and how the figures were taken. */
export function chartNotes(r: BenchResults, metric?: string): string[] {
    const m = r.machine;
    const ns = r.summary.filter((s) => metric === undefined || s.metric === metric).map((s) => s.n);
    const n = ns.length ? (Math.min(...ns) === Math.max(...ns) ? String(ns[0]) : `${Math.min(...ns)}–${Math.max(...ns)}`) : "0";
    return [
        `${m.cores} cores (${m.cpuModel.trim()}), load average ${m.loadBefore[0]} before → ${m.loadAfter[0]} after; Node ${m.node}; ` +
            `commit ${(m.git.commit ?? "?").slice(0, 10)}${m.git.dirty ? "+dirty" : ""}; ${r.startedAt.slice(0, 16).replace("T", " ")} UTC`,
        `${n} interleaved run${n === "1" ? "" : "s"} per bar${r.options.warmup ? ` after ${r.options.warmup} warm-up round${r.options.warmup > 1 ? "s" : ""}` : ""}${r.quick ? " (--quick smoke run)" : ""}: ${r.command}`,
    ];
}

export function defaultCharts(r: BenchResults): { file: string; spec: ChartSpec }[] {
    return r.plan.metrics
        .filter((m) => r.summary.some((s) => s.metric === m.id))
        .map((m) => ({
            file: r.plan.metrics.length === 1 ? `${r.benchmark}.svg` : `${r.benchmark}-${m.id}.svg`,
            spec: {
                title: `${r.title}: ${m.label}`,
                yLabel: `${m.label} (${m.unit})`,
                xLabel: r.plan.caseAxis,
                series: r.plan.variants.filter((v) => r.summary.some((s) => s.variantId === v.id)).map((v) => ({ id: v.id, label: v.label })),
                groups: r.plan.cases
                    .filter((c) => r.summary.some((s) => s.caseId === c.id && s.metric === m.id))
                    .map((c) => ({
                        label: c.label,
                        bars: r.summary
                            .filter((s) => s.caseId === c.id && s.metric === m.id)
                            .map((s) => ({ series: s.variantId, median: s.median, min: s.min, max: s.max })),
                    })),
                scale: m.logScale ? "log" : "linear",
                notes: chartNotes(r, m.id),
            },
        }));
}

/** Writes <dir>/<bench>.json and its charts; returns the files written. */
export function saveResults(r: BenchResults, dir: string, charts: { file: string; spec: ChartSpec }[]): string[] {
    fs.mkdirSync(dir, { recursive: true });
    const written: string[] = [];
    const json = path.join(dir, `${r.benchmark}.json`);
    fs.writeFileSync(json, JSON.stringify(r, null, 2) + "\n");
    written.push(json);
    for (const c of charts) {
        const f = path.join(dir, c.file);
        fs.writeFileSync(f, groupedBarChart(c.spec));
        written.push(f);
    }
    return written;
}
