// The failover drills' verdict (tests/integration/support/writes.ts): it must find two live
// writers of one ordinal when there are, and only then.
import { checkOverlap, parseWrites } from "../integration/support/writes";

const A = "11111111-1111-1111-1111-111111111111";
const B = "22222222-2222-2222-2222-222222222222";
const C = "33333333-3333-3333-3333-333333333333";
const lines = (rows: [string, string, number][]) => rows.map(([o, u, t]) => `${o} ${u} ${t.toFixed(2)}\n`).join("");

test("lines parse; a line not yet complete is left out; anything else is reported", () => {
    const text = lines([["0", A, 10.1]]) + "0 garbage\n" + `0 ${A} 10.3`;
    const r = parseWrites(text);
    expect(r.writes).toEqual([{ ordinal: "0", uid: A, t: 10.1 }]);
    expect(r.bad).toEqual(["0 garbage"]);
});

test("a copy that started after the old one's last line: no overlap", () => {
    const { writes } = parseWrites(
        lines([
            ["0", A, 10.0],
            ["0", A, 10.1],
            ["0", B, 55.2],
            ["0", B, 55.3],
        ]),
    );
    const r = checkOverlap(writes);
    expect(r.overlaps).toEqual([]);
    expect(r.intervals.map((i) => [i.uid, i.first, i.last, i.lines])).toEqual([
        [A, 10.0, 10.1, 2],
        [B, 55.2, 55.3, 2],
    ]);
});

test("two copies of one ordinal writing at the same time: an overlap, with its length and the old copy's late lines", () => {
    const { writes } = parseWrites(
        lines([
            ["0", A, 10.0],
            ["0", B, 20.0],
            ["0", A, 20.1],
            ["0", B, 20.2],
            ["0", A, 23.5],
        ]),
    );
    expect(checkOverlap(writes).overlaps).toEqual([{ ordinal: "0", earlier: A, later: B, seconds: 3.5, linesOfEarlierAfterLaterStarted: 2 }]);
});

test("different ordinals may write at the same time", () => {
    const { writes } = parseWrites(
        lines([
            ["0", A, 10.0],
            ["1", C, 10.05],
            ["0", A, 10.1],
            ["1", C, 10.15],
        ]),
    );
    expect(checkOverlap(writes).overlaps).toEqual([]);
});
