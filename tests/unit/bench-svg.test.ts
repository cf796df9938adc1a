// The SVG chart writer (bench/lib/svg.ts): a well-formed document, bars at the right heights,
// whiskers from min to max, readable labels.
import { escapeXml, formatTick, groupedBarChart, linearTicks, logTicks, wrap } from "../../bench/lib/svg";

/** Tags open and close in order (a tiny well-formedness check; Node has no XML parser). */
function wellFormed(svg: string): boolean {
    const stack: string[] = [];
    for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
        const [, close, name, selfClose] = m;
        if (selfClose) continue;
        if (close) {
            if (stack.pop() !== name) return false;
        } else stack.push(name);
    }
    return stack.length === 0;
}

const attr = (el: string, name: string) => Number(new RegExp(`${name}="([^"]+)"`).exec(el)![1]);

const spec = {
    title: "Program <scale> & more",
    yLabel: "time (ms)",
    xLabel: "workloads",
    series: [
        { id: "plain", label: "plain" },
        { id: "component", label: "StatefulWorkload" },
    ],
    groups: [
        {
            label: "1",
            bars: [
                { series: "plain", median: 20, min: 10, max: 30 },
                { series: "component", median: 40, min: 35, max: 45 },
            ],
        },
        {
            label: "10",
            bars: [
                { series: "plain", median: 80, min: 70, max: 90 },
                { series: "component", median: 100, min: 95, max: 100 },
            ],
        },
    ],
    notes: ["2 cores, load 4.2"],
};

test("a well-formed SVG with one bar and one whisker per series and group, title and labels escaped", () => {
    const svg = groupedBarChart(spec);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(wellFormed(svg)).toBe(true);
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(4);
    expect(svg.match(/class="whisker"/g)).toHaveLength(4);
    expect(svg).toContain("Program &lt;scale&gt; &amp; more");
    expect(svg).not.toContain("<scale>");
    expect(svg).toContain(">time (ms)</text>");
    expect(svg).toContain(">workloads</text>");
    expect(svg).toContain(">StatefulWorkload</text>");
    expect(svg).toContain(">2 cores, load 4.2</text>");
    expect(svg).toContain("bar: median · whisker: min–max");
});

test("linear scale: bar heights are proportional to the medians, whiskers span min to max", () => {
    const svg = groupedBarChart(spec);
    const bars = [...svg.matchAll(/<rect class="bar"[^>]*>/g)].map((m) => m[0]);
    const heights = bars.map((b) => attr(b, "height"));
    const bottom = attr(bars[0], "y") + heights[0];
    // 20, 40, 80, 100 on an axis from 0
    expect(heights[1] / heights[0]).toBeCloseTo(2, 1);
    expect(heights[3] / heights[0]).toBeCloseTo(5, 1);
    for (const b of bars) expect(attr(b, "y") + attr(b, "height")).toBeCloseTo(bottom, 1);
    const whisker = /<line class="whisker"[^>]*>/.exec(svg)![0];
    const perUnit = heights[0] / 20;
    expect(attr(whisker, "y1") - attr(whisker, "y2")).toBeCloseTo((30 - 10) * perUnit, 0);
});

test("log scale: equal ratios are equal distances", () => {
    const svg = groupedBarChart({
        ...spec,
        scale: "log",
        groups: [
            { label: "a", bars: [{ series: "plain", median: 10, min: 10, max: 10 }] },
            { label: "b", bars: [{ series: "plain", median: 100, min: 100, max: 100 }] },
            { label: "c", bars: [{ series: "plain", median: 1000, min: 1000, max: 1000 }] },
        ],
    });
    expect(wellFormed(svg)).toBe(true);
    const h = [...svg.matchAll(/<rect class="bar"[^>]*>/g)].map((m) => attr(m[0], "height"));
    expect(h[1] - h[0]).toBeCloseTo(h[2] - h[1], 1);
    expect(svg).toContain("time (ms), log scale");
});

test("a reference line is drawn with its label, and the axis reaches it", () => {
    const svg = groupedBarChart({ ...spec, references: [{ value: 200, label: "classic: 200 MiB" }] });
    expect(svg).toContain('class="reference"');
    expect(svg).toContain(">classic: 200 MiB</text>");
    expect(svg).toContain(">200</text>");
});

test("a bar of a series the chart does not know is refused", () => {
    expect(() => groupedBarChart({ ...spec, groups: [{ label: "x", bars: [{ series: "nope", median: 1, min: 1, max: 1 }] }] })).toThrow(
        'bar of unknown series "nope" in group "x"',
    );
});

test("ticks are round numbers that cover the data; labels carry no spurious decimals", () => {
    expect(linearTicks(93)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(linearTicks(0.9)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(logTicks(3, 70)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(3, 700)).toEqual([1, 10, 100, 1000]);
    expect(logTicks(3, 70000)).toEqual([1, 10, 100, 1000, 10000, 100000]);
    expect(formatTick(50)).toBe("50");
    expect(formatTick(0.2)).toBe("0.2");
    expect(escapeXml(`a<b>&"c'`)).toBe("a&lt;b&gt;&amp;&quot;c&apos;");
});

test("long small print wraps to the chart's width at spaces", () => {
    expect(wrap("aaa bbb ccc", 7)).toEqual(["aaa bbb", "ccc"]);
    expect(wrap("abcdefghij", 4)).toEqual(["abcd", "efgh", "ij"]);
    const svg = groupedBarChart({ ...spec, notes: ["word ".repeat(60).trim()] });
    expect(svg.match(/<text[^>]*font-size="11" fill="#555">word/g)!.length).toBeGreaterThan(1);
});
