// The drills' writer file (tests/integration/fixtures/failover): parsed, and checked for two live
// copies of one ordinal. Pure, so the check itself is unit-tested (tests/unit/writes.test.ts).

/** One line of the writer: `<ordinal> <pod uid> <seconds since boot>`. */
export interface Write {
    ordinal: string;
    uid: string;
    /** /proc/uptime when it was written: one clock for every real node (they share the kernel). */
    t: number;
}

/**
 * The writer's lines. A line still being written (no newline yet) is left out; any other line
 * that does not parse is returned in `bad` (a torn or lost write would show there).
 */
export function parseWrites(text: string): { writes: Write[]; bad: string[] } {
    const writes: Write[] = [];
    const bad: string[] = [];
    const lines = text.split("\n");
    lines.pop(); // after the last newline: empty, or a line not yet complete
    for (const line of lines) {
        const m = /^(\d+) ([0-9a-f-]{36}) (\d+\.\d+)$/.exec(line);
        if (m) writes.push({ ordinal: m[1], uid: m[2], t: Number(m[3]) });
        else bad.push(line);
    }
    return { writes, bad };
}

/** The span of time one pod (uid) wrote, by its own lines. */
export interface Interval {
    ordinal: string;
    uid: string;
    first: number;
    last: number;
    lines: number;
}

export interface OverlapReport {
    intervals: Interval[];
    /** Pairs of copies of one ordinal whose write intervals intersect: two live writers. */
    overlaps: { ordinal: string; earlier: string; later: string; seconds: number; linesOfEarlierAfterLaterStarted: number }[];
}

/** Per ordinal, the write intervals of its copies in order of their first line; any intersection is an overlap. */
export function checkOverlap(writes: Write[]): OverlapReport {
    const byUid = new Map<string, Interval>();
    for (const w of writes) {
        const i = byUid.get(w.uid);
        if (!i) byUid.set(w.uid, { ordinal: w.ordinal, uid: w.uid, first: w.t, last: w.t, lines: 1 });
        else {
            i.first = Math.min(i.first, w.t);
            i.last = Math.max(i.last, w.t);
            i.lines++;
        }
    }
    const intervals = [...byUid.values()].sort((a, b) => a.first - b.first);
    const overlaps: OverlapReport["overlaps"] = [];
    for (let i = 0; i < intervals.length; i++) {
        for (let j = i + 1; j < intervals.length; j++) {
            const a = intervals[i];
            const b = intervals[j];
            if (a.ordinal !== b.ordinal || b.first > a.last) continue;
            overlaps.push({
                ordinal: a.ordinal,
                earlier: a.uid,
                later: b.uid,
                seconds: Number((a.last - b.first).toFixed(2)),
                linesOfEarlierAfterLaterStarted: writes.filter((w) => w.uid === a.uid && w.t >= b.first).length,
            });
        }
    }
    return { intervals, overlaps };
}
