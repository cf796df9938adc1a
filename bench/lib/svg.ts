// A grouped bar chart with min–max whiskers, as a standalone SVG string (no plotting dependency).
// Bars are medians; the whisker spans the fastest and the slowest run.

export interface ChartSeries {
    id: string;
    label: string;
    color?: string;
}

export interface ChartBar {
    series: string;
    median: number;
    min: number;
    max: number;
}

export interface ChartGroup {
    label: string;
    bars: ChartBar[];
}

export interface ChartSpec {
    title: string;
    subtitle?: string;
    /** Y axis label, with its unit, e.g. "time (ms)". */
    yLabel: string;
    xLabel?: string;
    series: ChartSeries[];
    groups: ChartGroup[];
    /** "log" when groups differ by orders of magnitude (sizes 1, 10, 100). @default "linear" */
    scale?: "linear" | "log";
    width?: number;
    height?: number;
    /** Lines of small print under the chart (machine, load, command). */
    notes?: string[];
    format?: (v: number) => string;
    /** Dashed horizontal lines with a label, e.g. a goal or a limit to compare with. */
    references?: { value: number; label: string }[];
}

const PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2"];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function escapeXml(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

export function formatValue(v: number): string {
    const a = Math.abs(v);
    if (a >= 100 || v === 0) return String(Math.round(v));
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
}

/** A tick label: as few digits as the tick needs (10, 2.5, 0.2). */
export function formatTick(v: number): string {
    return String(Number(v.toPrecision(4)));
}

/** Round numbers 0 … ≥max, about `count` steps of 1, 2, 2.5 or 5 × 10^k. */
export function linearTicks(max: number, count = 5): number[] {
    if (!(max > 0)) return [0, 1];
    const raw = max / count;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
    const ticks: number[] = [];
    for (let t = 0; t < max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
    if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
    return ticks;
}

/** Powers of ten spanning [min, max] (with 2 and 5 between them when the span is short). */
export function logTicks(min: number, max: number): number[] {
    if (!(min > 0) || !(max > 0)) throw new Error("a log scale needs positive values");
    const lo = Math.floor(Math.log10(min));
    const hi = Math.max(Math.ceil(Math.log10(max)), lo + 1);
    const ticks: number[] = [];
    for (let k = lo; k <= hi; k++) {
        ticks.push(Number((10 ** k).toPrecision(12)));
        if (hi - lo <= 2 && k < hi) for (const m of [2, 5]) ticks.push(Number((m * 10 ** k).toPrecision(12)));
    }
    return ticks;
}

/** Splits text into lines of at most `max` characters, at spaces where possible. */
export function wrap(text: string, max: number): string[] {
    const lines: string[] = [];
    let line = "";
    for (const word of text.split(" ")) {
        if (line && line.length + 1 + word.length > max) {
            lines.push(line);
            line = "";
        }
        line = line ? `${line} ${word}` : word;
        while (line.length > max) {
            lines.push(line.slice(0, max));
            line = line.slice(max);
        }
    }
    if (line) lines.push(line);
    return lines;
}

export function groupedBarChart(spec: ChartSpec): string {
    const width = spec.width ?? 820;
    // Small print at 11 px is about 6 px a character: wrap it to the chart's width.
    const notes = (spec.notes ?? []).flatMap((n) => wrap(n, Math.floor((width - 100) / 6.2)));
    const height = spec.height ?? 460 + notes.length * 16;
    const fmt = spec.format ?? formatValue;
    const colors = new Map(spec.series.map((s, i) => [s.id, s.color ?? PALETTE[i % PALETTE.length]]));
    for (const g of spec.groups)
        for (const b of g.bars) if (!colors.has(b.series)) throw new Error(`bar of unknown series "${b.series}" in group "${g.label}"`);

    const left = 90;
    const right = 24;
    const top = spec.subtitle ? 92 : 74;
    const bottom = 78 + notes.length * 16;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const bars = spec.groups.flatMap((g) => g.bars);
    const refs = spec.references ?? [];
    const maxV = Math.max(...bars.map((b) => b.max), ...refs.map((x) => x.value), 0);
    const log = spec.scale === "log";
    // Headroom above the highest whisker or reference for its label.
    const ticks = log ? logTicks(Math.min(...bars.map((b) => b.min)), maxV * 1.15) : linearTicks(maxV * 1.08);
    const lo = log ? ticks[0] : 0;
    const hi = ticks[ticks.length - 1];
    const y = (v: number): number => {
        const f = log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo);
        return top + plotH - f * plotH;
    };
    const r = (n: number) => Number(n.toFixed(2));

    const out: string[] = [];
    out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`);
    out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
    out.push(`<text x="${left}" y="28" font-size="18" font-weight="bold" fill="#222">${escapeXml(spec.title)}</text>`);
    if (spec.subtitle) out.push(`<text x="${left}" y="50" font-size="13" fill="#555">${escapeXml(spec.subtitle)}</text>`);

    // Legend, in one row above the plot.
    let lx = left;
    const ly = top - 18;
    for (const s of spec.series) {
        out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${colors.get(s.id)}"/>`);
        out.push(`<text x="${lx + 17}" y="${ly}" font-size="13" fill="#222">${escapeXml(s.label)}</text>`);
        lx += 17 + s.label.length * 7.2 + 22;
    }
    out.push(`<text x="${width - right}" y="${ly}" font-size="11" fill="#555" text-anchor="end">bar: median · whisker: min–max</text>`);

    // Grid and y axis.
    for (const t of ticks) {
        const ty = r(y(t));
        out.push(`<line x1="${left}" y1="${ty}" x2="${left + plotW}" y2="${ty}" stroke="#e3e3e3" stroke-width="1"/>`);
        out.push(`<text x="${left - 8}" y="${ty + 4}" font-size="12" fill="#333" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
    }
    out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333" stroke-width="1"/>`);
    out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333" stroke-width="1"/>`);
    const yMid = r(top + plotH / 2);
    out.push(
        `<text x="22" y="${yMid}" font-size="13" fill="#222" text-anchor="middle" transform="rotate(-90 22 ${yMid})">${escapeXml(spec.yLabel + (log ? ", log scale" : ""))}</text>`,
    );

    // Groups of bars.
    const groupW = plotW / Math.max(spec.groups.length, 1);
    spec.groups.forEach((g, gi) => {
        const inner = groupW * 0.72;
        const barW = inner / Math.max(g.bars.length, 1);
        const x0 = left + gi * groupW + (groupW - inner) / 2;
        g.bars.forEach((b, bi) => {
            const x = x0 + bi * barW + barW * 0.08;
            const w = barW * 0.84;
            const cx = r(x + w / 2);
            const yTop = y(b.median);
            out.push(
                `<rect class="bar" x="${r(x)}" y="${r(yTop)}" width="${r(w)}" height="${r(top + plotH - yTop)}" fill="${colors.get(b.series)}"><title>${escapeXml(
                    `${g.label} · ${spec.series.find((s) => s.id === b.series)!.label}: median ${fmt(b.median)}, min ${fmt(b.min)}, max ${fmt(b.max)}`,
                )}</title></rect>`,
            );
            const cap = r(w / 4);
            const yMin = r(y(b.min));
            const yMax = r(y(b.max));
            out.push(`<line class="whisker" x1="${cx}" y1="${yMin}" x2="${cx}" y2="${yMax}" stroke="#222" stroke-width="1.5"/>`);
            out.push(`<line x1="${r(cx - cap)}" y1="${yMin}" x2="${r(cx + cap)}" y2="${yMin}" stroke="#222" stroke-width="1.5"/>`);
            out.push(`<line x1="${r(cx - cap)}" y1="${yMax}" x2="${r(cx + cap)}" y2="${yMax}" stroke="#222" stroke-width="1.5"/>`);
            out.push(`<text x="${cx}" y="${r(yMax - 5)}" font-size="11" fill="#222" text-anchor="middle">${escapeXml(fmt(b.median))}</text>`);
        });
        out.push(
            `<text x="${r(left + gi * groupW + groupW / 2)}" y="${top + plotH + 20}" font-size="13" fill="#222" text-anchor="middle">${escapeXml(g.label)}</text>`,
        );
    });
    for (const ref of refs) {
        const ry = r(y(ref.value));
        out.push(
            `<line class="reference" x1="${left}" y1="${ry}" x2="${left + plotW}" y2="${ry}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>`,
        );
        out.push(`<text x="${left + plotW - 4}" y="${ry - 5}" font-size="12" fill="#c0392b" text-anchor="end">${escapeXml(ref.label)}</text>`);
    }
    if (spec.xLabel)
        out.push(`<text x="${r(left + plotW / 2)}" y="${top + plotH + 44}" font-size="13" fill="#222" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
    notes.forEach((n, i) => out.push(`<text x="${left}" y="${top + plotH + 66 + i * 16}" font-size="11" fill="#555">${escapeXml(n)}</text>`));
    out.push("</svg>");
    return out.join("\n") + "\n";
}
