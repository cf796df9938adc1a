// Measuring a footprint over a stretch of time: RSS and CPU of each process kind from /proc, and
// API requests per minute by client from the API server's audit log. Independent of what is being
// measured: the caller says which pids make up each kind and which clients to count.
import * as fs from "fs";
import { readAuditLog, RateReport, requestRates, ClientKey, AuditRequest } from "./audit";
import { KindSummary, ProcSampler } from "./procfs";

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
        result.auditSkippedLines = parsed.skippedLines;
    }
    return result;
}
