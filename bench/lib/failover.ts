// The failover timeline: from the moment a node is killed to the new copy of its pod serving,
// split into phases. Each milestone is a time (ms since the epoch) read from the API server
// (condition and taint times, deletion and creation timestamps — second resolution) or from the
// drill's own clock (the kill); a milestone not reached leaves its phase and all later ones open.

export interface FailoverMilestones {
    /** The node's kubelet (or kwok process) was killed. */
    killed: number;
    /** Node Ready condition went Unknown/False. */
    notReady?: number;
    /** The remediation: out-of-service taint added, node deleted, or pods force-deleted. */
    remediated?: number;
    /** The old pod object is gone from the API server. */
    oldPodGone?: number;
    /** The replacement pod has a node (PodScheduled). */
    newPodScheduled?: number;
    /** The replacement pod is Running and Ready. */
    newPodReady?: number;
    /** The replacement wrote its first byte to its volume (real nodes only). */
    firstByte?: number;
}

export const FAILOVER_PHASES = [
    { id: "detect", label: "killed → NotReady", from: "killed", to: "notReady" },
    { id: "decide", label: "NotReady → remediation", from: "notReady", to: "remediated" },
    { id: "release", label: "remediation → old pod gone", from: "remediated", to: "oldPodGone" },
    { id: "schedule", label: "old pod gone → new pod scheduled", from: "oldPodGone", to: "newPodScheduled" },
    { id: "start", label: "scheduled → Running/Ready", from: "newPodScheduled", to: "newPodReady" },
    { id: "firstByte", label: "Ready → first byte written", from: "newPodReady", to: "firstByte" },
] as const;

export interface FailoverTimeline {
    /** Seconds per phase, for the phases whose both ends were reached. */
    phases: Record<string, number>;
    /** Kill → Ready in seconds, when Ready was reached. */
    totalS?: number;
    /** The last milestone reached. */
    reached: keyof FailoverMilestones;
    /** Milestones that came before the one they should follow (clock skew or a wrong reading). */
    outOfOrder: string[];
}

export function failoverTimeline(m: FailoverMilestones): FailoverTimeline {
    const phases: Record<string, number> = {};
    const outOfOrder: string[] = [];
    let reached: keyof FailoverMilestones = "killed";
    for (const p of FAILOVER_PHASES) {
        const a = m[p.from];
        const b = m[p.to];
        if (a === undefined || b === undefined) break;
        // API timestamps have whole seconds: a later milestone may read up to 1 s "early".
        if (b < a - 1000) outOfOrder.push(`${p.to} is ${((a - b) / 1000).toFixed(1)} s before ${p.from}`);
        phases[p.id] = Math.max(0, b - a) / 1000;
        reached = p.to;
    }
    return {
        phases,
        ...(m.newPodReady !== undefined && phases.start !== undefined ? { totalS: (m.newPodReady - m.killed) / 1000 } : {}),
        reached,
        outOfOrder,
    };
}

/**
 * Whether two copies of one ordinal were ever live together: the new pod was Ready before the
 * old one was gone. With real nodes, also whether the old process could still write (the drill
 * supplies the last write it saw from the old copy).
 */
export function twoLiveCopies(m: FailoverMilestones, lastOldWrite?: number): boolean {
    if (m.newPodReady !== undefined && m.oldPodGone !== undefined && m.newPodReady < m.oldPodGone) return true;
    if (lastOldWrite !== undefined && m.firstByte !== undefined && lastOldWrite >= m.firstByte) return true;
    return false;
}

/**
 * The run order when configurations need different clusters (a grace period is a flag of the
 * controller manager: another value means another cluster start). Every round runs every
 * configuration once, those of one cluster back to back in the order given; rounds alternate
 * which cluster comes first, so a round ends on the cluster the next one starts with: one
 * cluster restart per round instead of one per configuration change.
 */
export function failoverOrder(
    configs: { id: string; cluster: string }[],
    caseId: string,
    opts: { rounds: number; warmup: number },
): { caseId: string; variantId: string; round: number; warmup: boolean }[] {
    const clusters = [...new Set(configs.map((c) => c.cluster))];
    const out: { caseId: string; variantId: string; round: number; warmup: boolean }[] = [];
    for (let i = 0; i < opts.warmup + opts.rounds; i++) {
        const round = i - opts.warmup;
        const order = i % 2 === 0 ? clusters : [...clusters].reverse();
        for (const cl of order) for (const c of configs.filter((x) => x.cluster === cl)) out.push({ caseId, variantId: c.id, round, warmup: round < 0 });
    }
    return out;
}

/** The remediation milestone: whichever came first of the taint, the Node's deletion, the old pod's removal. */
export function remediationTime(seen: { tainted?: number; nodeDeleted?: number; oldPodGone?: number }): number | undefined {
    const ts = [seen.tainted, seen.nodeDeleted, seen.oldPodGone].filter((x): x is number => x !== undefined);
    return ts.length ? Math.min(...ts) : undefined;
}

/** One line of the drills' writer file, as tests/integration/support/writes.ts parses it. */
export interface WriterLine {
    uid: string;
    /** The writer's clock (seconds since boot). */
    t: number;
}

/**
 * What the writer's file says about one failover: when the old copy last wrote and the new one
 * first wrote (on the writers' clock), the gap between, and whether they overlapped (the old copy
 * wrote at or after the new copy's first line: two live copies).
 */
export function writerOutcome(
    lines: WriterLine[],
    oldUid: string,
    newUid: string | undefined,
): { oldLast?: number; newFirst?: number; gapS?: number; overlapS: number; oldLinesAfterNewStarted: number } {
    let oldLast: number | undefined;
    let newFirst: number | undefined;
    for (const l of lines) {
        if (l.uid === oldUid) oldLast = oldLast === undefined ? l.t : Math.max(oldLast, l.t);
        else if (newUid !== undefined && l.uid === newUid) newFirst = newFirst === undefined ? l.t : Math.min(newFirst, l.t);
    }
    if (newFirst === undefined || oldLast === undefined) return { oldLast, newFirst, overlapS: 0, oldLinesAfterNewStarted: 0 };
    const after = lines.filter((l) => l.uid === oldUid && l.t >= newFirst!).length;
    return {
        oldLast,
        newFirst,
        gapS: Number((newFirst - oldLast).toFixed(2)),
        overlapS: after ? Number((oldLast - newFirst).toFixed(2)) : 0,
        oldLinesAfterNewStarted: after,
    };
}
