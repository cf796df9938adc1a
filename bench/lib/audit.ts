// API requests per minute by client, from the API server's audit log (JSON lines, one
// audit.k8s.io/v1 Event per stage). The API server's own /metrics count requests by verb and
// resource but not by client, so this is where "requests by the liberator" can be read.
// scripts/cluster/up.sh writes the log with PETS_APISERVER_AUDIT=1 (Metadata level).
import * as fs from "fs";
import * as readline from "readline";

/** The fields of an audit event this parser reads. */
export interface AuditRequest {
    auditID: string;
    verb: string;
    userAgent: string;
    username: string;
    /** When the API server received the request (ms since the epoch). */
    receivedMs: number;
    resource?: string;
    namespace?: string;
    code?: number;
}

/** The parts of an audit.k8s.io/v1 Event read here. */
interface AuditEvent {
    kind?: string;
    auditID?: string;
    verb?: string;
    userAgent?: string;
    user?: { username?: string };
    requestReceivedTimestamp?: string;
    stageTimestamp?: string;
    objectRef?: { resource?: string; namespace?: string };
    responseStatus?: { code?: number };
}

/** Who made a request: the user agent's product name ("kube-scheduler", "kwok"), or the user. */
export type ClientKey = "agent" | "userAgent" | "username";

/** The product of a user agent: "kube-controller-manager/v1.34.4 (linux/amd64) …" → "kube-controller-manager". */
export function agentName(userAgent: string): string {
    const first = userAgent.trim().split(/\s+/)[0] ?? "";
    return first.split("/")[0] || "(none)";
}

export interface AuditParse {
    requests: AuditRequest[];
    /** Lines that were not audit events (e.g. a line cut off while the API server was writing). */
    skippedLines: number;
}

/**
 * Reads audit events into one record per request. A request can have several events (stages
 * RequestReceived, ResponseStarted for watches, ResponseComplete or Panic); they share an
 * auditID, and are counted once.
 */
export class AuditParser {
    private readonly seen = new Map<string, AuditRequest>();
    skippedLines = 0;

    line(text: string): void {
        const t = text.trim();
        if (!t) return;
        let e: AuditEvent;
        try {
            e = JSON.parse(t);
        } catch {
            this.skippedLines++;
            return;
        }
        if (!e || e.kind !== "Event" || typeof e.auditID !== "string") {
            this.skippedLines++;
            return;
        }
        const received = Date.parse(e.requestReceivedTimestamp ?? e.stageTimestamp ?? "");
        if (!Number.isFinite(received)) {
            this.skippedLines++;
            return;
        }
        const code = e.responseStatus?.code;
        const prev = this.seen.get(e.auditID);
        if (prev) {
            if (typeof code === "number") prev.code = code;
            return;
        }
        this.seen.set(e.auditID, {
            auditID: e.auditID,
            verb: String(e.verb ?? ""),
            userAgent: String(e.userAgent ?? ""),
            username: String(e.user?.username ?? ""),
            receivedMs: received,
            ...(e.objectRef?.resource ? { resource: String(e.objectRef.resource) } : {}),
            ...(e.objectRef?.namespace ? { namespace: String(e.objectRef.namespace) } : {}),
            ...(typeof code === "number" ? { code } : {}),
        });
    }

    result(): AuditParse {
        return { requests: [...this.seen.values()].sort((a, b) => a.receivedMs - b.receivedMs), skippedLines: this.skippedLines };
    }
}

export function parseAuditLog(text: string): AuditParse {
    const p = new AuditParser();
    for (const l of text.split("\n")) p.line(l);
    return p.result();
}

/** Streams a (possibly large) audit log file. */
export async function readAuditLog(file: string): Promise<AuditParse> {
    const p = new AuditParser();
    const rl = readline.createInterface({ input: fs.createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
    for await (const l of rl) p.line(l);
    return p.result();
}

export interface ClientRate {
    client: string;
    total: number;
    /** total / window length in minutes. */
    perMinute: number;
    /** Requests in each whole minute of the window, from its start. */
    byMinute: number[];
    byVerb: Record<string, number>;
}

export interface RateReport {
    startMs: number;
    endMs: number;
    minutes: number;
    clients: ClientRate[];
}

/**
 * Requests per minute by client within [startMs, endMs) (default: the first to the last request).
 * `match` keeps only some requests (e.g. the liberator's identity); clients come out busiest first.
 */
export function requestRates(
    requests: AuditRequest[],
    opts: { key?: ClientKey; startMs?: number; endMs?: number; match?: (r: AuditRequest) => boolean } = {},
): RateReport {
    const key = opts.key ?? "agent";
    // A loop, not Math.min(...all): a long audit log has more requests than a call has arguments.
    let first = Infinity;
    let last = -Infinity;
    for (const r of requests) {
        if (r.receivedMs < first) first = r.receivedMs;
        if (r.receivedMs > last) last = r.receivedMs;
    }
    const startMs = opts.startMs ?? (requests.length ? first : 0);
    const endMs = opts.endMs ?? (requests.length ? last + 1 : startMs);
    const minutes = Math.max(endMs - startMs, 1) / 60_000;
    const buckets = Math.max(Math.ceil(minutes), 1);
    const byClient = new Map<string, ClientRate>();
    for (const r of requests) {
        if (!(r.receivedMs >= startMs && r.receivedMs < endMs)) continue;
        if (opts.match && !opts.match(r)) continue;
        const client = key === "agent" ? agentName(r.userAgent) : key === "userAgent" ? r.userAgent || "(none)" : r.username || "(none)";
        let c = byClient.get(client);
        if (!c) {
            c = { client, total: 0, perMinute: 0, byMinute: new Array(buckets).fill(0), byVerb: {} };
            byClient.set(client, c);
        }
        c.total++;
        c.byMinute[Math.min(Math.floor((r.receivedMs - startMs) / 60_000), buckets - 1)]++;
        c.byVerb[r.verb] = (c.byVerb[r.verb] ?? 0) + 1;
    }
    const clients = [...byClient.values()]
        .map((c) => ({ ...c, perMinute: c.total / minutes }))
        .sort((a, b) => b.total - a.total || a.client.localeCompare(b.client));
    return { startMs, endMs, minutes, clients };
}
