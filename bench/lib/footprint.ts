// Measuring a footprint over a stretch of time: RSS and CPU of each process kind from /proc, and
// API requests per minute by client from the API server's audit log. Independent of what is being
// measured: the caller says which pids make up each kind and which clients to count.
import * as fs from "fs";
import { readAuditLog, RateReport, requestRates, ClientKey, AuditRequest } from "./audit";
import { KindSummary, ProcSampler } from "./procfs";
import { growth, median } from "./stats";

export interface FootprintOptions {
    /** Pids of each process kind, asked again at every sample (processes come and go). */
    pids: () => Record<string, number[]>;
    durationMs: number;
    intervalMs: number;
    /** Steady state: samples from this fraction of the duration on (the start is warm-up). @default 0.5 */
    steadyFrom?: number;
    /** The API server's audit log; requests are counted within the measured stretch only. */
    auditLog?: string;
    clientKey?: ClientKey;
    matchRequest?: (r: AuditRequest) => boolean;
    /** Whose a request is (a process kind), for requests per kind; undefined: not the target's. */
    classify?: (r: AuditRequest) => string | undefined;
    /** How many processes of each kind run at a time (for requests per process). */
    processCount?: Record<string, number>;
    clockTicksPerSecond?: number;
    procRoot?: string;
    /** Called once a second while measuring (node churn hooks in here). */
    onTick?: (elapsedMs: number) => void | Promise<void>;
}

export interface Footprint {
    startMs: number;
    endMs: number;
    kinds: KindSummary[];
    requests?: RateReport;
    /** The same requests by identity (user name). */
    requestsByUser?: RateReport;
    byKind?: KindRequests[];
    auditSkippedLines?: number;
}

export async function measureFootprint(o: FootprintOptions): Promise<Footprint> {
    const sampler = new ProcSampler(o.pids, { procRoot: o.procRoot, clockTicksPerSecond: o.clockTicksPerSecond });
    const startMs = Date.now();
    const steadyFromMs = startMs + o.durationMs * (o.steadyFrom ?? 0.5);
    const timer = sampler.start(o.intervalMs);
    try {
        while (Date.now() - startMs < o.durationMs) {
            await new Promise((r) => setTimeout(r, Math.min(1000, o.durationMs - (Date.now() - startMs))));
            await o.onTick?.(Date.now() - startMs);
        }
    } finally {
        timer.stop();
    }
    sampler.sample();
    const endMs = Date.now();
    const result: Footprint = { startMs, endMs, kinds: sampler.summary(steadyFromMs) };
    if (o.auditLog) {
        if (!fs.existsSync(o.auditLog)) throw new Error(`audit log ${o.auditLog} missing: start the cluster with PETS_APISERVER_AUDIT=1`);
        // The API server may still be writing the last events of the stretch.
        await new Promise((r) => setTimeout(r, 1500));
        const parsed = await readAuditLog(o.auditLog);
        result.requests = requestRates(parsed.requests, { key: o.clientKey, startMs, endMs, match: o.matchRequest });
        result.requestsByUser = requestRates(parsed.requests, { key: "username", startMs, endMs, match: o.matchRequest });
        if (o.classify) result.byKind = requestsByKind(parsed.requests, o.classify, { startMs, endMs }, o.processCount);
        result.auditSkippedLines = parsed.skippedLines;
    }
    return result;
}

export interface KindRequests {
    kind: string;
    total: number;
    perMinute: number;
    /** Requests per minute divided by the number of processes of the kind (e.g. per agent). */
    perMinutePerProcess?: number;
    byVerb: Record<string, number>;
    /** By resource ("leases", "nodes", …), watches included. */
    byResource: Record<string, number>;
}

/**
 * API requests of each process kind within [startMs, endMs): `classify` says whose a request is
 * (e.g. by the service account it authenticated as), undefined for anybody else's.
 */
export function requestsByKind(
    requests: AuditRequest[],
    classify: (r: AuditRequest) => string | undefined,
    window: { startMs: number; endMs: number },
    processes: Record<string, number> = {},
): KindRequests[] {
    const minutes = Math.max(window.endMs - window.startMs, 1) / 60_000;
    const byKind = new Map<string, KindRequests>();
    for (const r of requests) {
        if (!(r.receivedMs >= window.startMs && r.receivedMs < window.endMs)) continue;
        const kind = classify(r);
        if (kind === undefined) continue;
        let k = byKind.get(kind);
        if (!k) byKind.set(kind, (k = { kind, total: 0, perMinute: 0, byVerb: {}, byResource: {} }));
        k.total++;
        k.byVerb[r.verb] = (k.byVerb[r.verb] ?? 0) + 1;
        const res = r.resource ?? "(none)";
        k.byResource[res] = (k.byResource[res] ?? 0) + 1;
    }
    return [...byKind.values()]
        .map((k) => ({
            ...k,
            perMinute: k.total / minutes,
            ...(processes[k.kind] ? { perMinutePerProcess: k.total / minutes / processes[k.kind] } : {}),
        }))
        .sort((a, b) => a.kind.localeCompare(b.kind));
}

export interface Linearity {
    /** Least squares through every run: requests/min = slope × nodes + intercept. */
    slopePerNode: number;
    intercept: number;
    r2: number;
    /** Median per node at each node count. */
    perNode: { nodes: number; perNode: number }[];
    /** Marginal cost of the largest step over the smallest (about 1 when linear). */
    marginalRatio: number;
    /** At most linear: the last step costs at most 1.5× per node what the first did. */
    linear: boolean;
}

/** Whether a rate grows at most linearly with the node count (`samples`: node count → runs). */
export function linearity(samples: Map<number, number[]>): Linearity {
    const g = growth(samples);
    const sizes = [...samples.keys()].sort((a, b) => a - b);
    return {
        slopePerNode: g.fit.slope,
        intercept: g.fit.intercept,
        r2: g.fit.r2,
        perNode: sizes.map((n) => ({ nodes: n, perNode: median(samples.get(n)!) / n })),
        marginalRatio: g.marginalRatio,
        linear: g.marginalRatio <= 1.5,
    };
}

/**
 * Node-minutes with the node alive within [0, durationMs): `nodes` × the duration, less each
 * down → up stretch (an "up" after the end, or none, counts as down until the end). Per-node
 * rates are taken over these, as churn takes a larger share of a small cluster down.
 */
export function aliveNodeMinutes(nodes: number, durationMs: number, events: { node: string; event: "down" | "up"; atMs: number }[]): number {
    let downMs = 0;
    const downSince = new Map<string, number>();
    for (const e of [...events].sort((a, b) => a.atMs - b.atMs)) {
        const at = Math.min(Math.max(e.atMs, 0), durationMs);
        if (e.event === "down") downSince.set(e.node, at);
        else if (downSince.has(e.node)) {
            downMs += at - downSince.get(e.node)!;
            downSince.delete(e.node);
        }
    }
    for (const at of downSince.values()) downMs += durationMs - at;
    return (nodes * durationMs - downMs) / 60_000;
}
