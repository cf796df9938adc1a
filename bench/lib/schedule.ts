// The order runs happen in. Baseline and candidate alternate run by run (A B A B …), and every
// case (size) comes round again each round, so a slow minute on a shared machine lands on both
// variants and all sizes alike instead of on whichever happened to run then (A A A … B B B …).

export interface Slot {
    caseId: string;
    variantId: string;
    /** 0-based; warm-up runs have round -1 … -warmup. */
    round: number;
    /** Warm-up runs are executed but not recorded. */
    warmup: boolean;
}

export interface ScheduleCase {
    id: string;
    /** Overrides the schedule's rounds for this case (e.g. a slow integration suite). */
    rounds?: number;
}

export function interleave(cases: ScheduleCase[], variantIds: string[], opts: { rounds: number; warmup?: number }): Slot[] {
    const warmup = opts.warmup ?? 0;
    if (!Number.isInteger(opts.rounds) || opts.rounds < 1) throw new Error(`rounds = ${opts.rounds} is invalid: must be a whole number ≥ 1`);
    if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`warmup = ${warmup} is invalid: must be a whole number ≥ 0`);
    if (cases.length === 0) throw new Error("no cases to run");
    if (variantIds.length === 0) throw new Error("no variants to run");
    const roundsOf = (c: ScheduleCase) => c.rounds ?? opts.rounds;
    const total = warmup + Math.max(...cases.map(roundsOf));
    const slots: Slot[] = [];
    for (let i = 0; i < total; i++) {
        const round = i - warmup;
        for (const c of cases) {
            if (round >= roundsOf(c)) continue;
            for (const v of variantIds) slots.push({ caseId: c.id, variantId: v, round, warmup: round < 0 });
        }
    }
    return slots;
}
