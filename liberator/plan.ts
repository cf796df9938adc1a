/**
 * The last pure step between the decisions and the API server: the decided actions grouped by
 * what they act on (a node, a PV, a stale heartbeat Lease), and the gate each group passes right
 * before it is performed: not while its subject backs off after a failed action, nor while the
 * watch has not shown our last write to it yet (deciding again on a stale cache would repeat it).
 */
import { Action, NodeView } from "./decide";

/** Retry a failed subject after 5 s, doubling up to 5 min. */
export const BACKOFF_BASE_MS = 5_000;
export const BACKOFF_MAX_MS = 300_000;
/** How long we wait for the watch to show a write of ours before deciding on that object again. */
export const AWAIT_WRITE_MS = 10_000;

/** What an action acts on: its node (node and heartbeat-claim actions), a PV, or a stale heartbeat Lease. */
export function subjectOf(a: Action): string {
    if (a.kind === "deletePv") return `pv/${a.name}`;
    if (a.kind === "deleteHeartbeat") return `lease/${a.lease}`;
    return a.node;
}

/** The object a successful action wrote: the Node (its resourceVersion changes) or the node's heartbeat Lease. */
export function writeKey(a: Action): string | undefined {
    if (a.kind === "taint" || a.kind === "untaint" || a.kind === "deleteNode") return a.node;
    if (a.kind === "claim" || a.kind === "markRemediated" || a.kind === "releaseClaim") return `lease:${a.node}`;
    return undefined;
}

export interface Backoff {
    /** Monotonic time before which the subject is not acted on. */
    until: number;
    failures: number;
}

/** How long to wait after the subject's last action failed, having failed `failures` times before. */
export function backoffDelayMs(failures: number): number {
    return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** failures);
}

/** A write of ours the watch has not shown yet: the object's resourceVersion when we wrote it. */
export interface Awaiting {
    rv: string;
    until: number;
}

/** The actions by subject, subjects in the order first decided, actions in the order decided. */
export function groupBySubject(actions: Action[]): { subject: string; actions: Action[] }[] {
    const groups = new Map<string, Action[]>();
    for (const a of actions) groups.set(subjectOf(a), [...(groups.get(subjectOf(a)) ?? []), a]);
    return [...groups].map(([subject, list]) => ({ subject, actions: list }));
}

/**
 * Whether a subject may be acted on now: not in backoff, and (for a node) the cache already shows
 * our last write to the Node and to its heartbeat Lease. `seen`: awaited writes to forget, because
 * the cache shows them (or they timed out).
 */
export function gate(
    subject: string,
    s: { now: number; view?: NodeView; backoff: Map<string, Backoff>; awaiting: Map<string, Awaiting> },
): { open: boolean; seen: string[] } {
    const b = s.backoff.get(subject);
    if (b && s.now < b.until) return { open: false, seen: [] };
    const pending = (key: string, rv: string | undefined) => {
        const w = s.awaiting.get(key);
        return w !== undefined && rv !== undefined && w.rv === rv && s.now < w.until;
    };
    if (pending(subject, s.view?.resourceVersion)) return { open: false, seen: [] };
    if (pending(`lease:${subject}`, s.view?.heartbeat?.resourceVersion)) return { open: false, seen: [subject] };
    return { open: true, seen: [subject, `lease:${subject}`] };
}
