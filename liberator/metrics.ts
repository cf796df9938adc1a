/**
 * Prometheus metrics in the text exposition format, a health endpoint and structured JSON logs,
 * without a metrics library.
 */
import * as http from "http";
import { HTTP_PATHS } from "./contract";

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
    const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
    return parts.length ? `{${parts.join(",")}}` : "";
}

interface Family {
    name: string;
    help: string;
    type: "counter" | "gauge";
    values: Map<string, { labels: Labels; value: number }>;
}

export class Metrics {
    private readonly families = new Map<string, Family>();

    private family(name: string, help: string, type: Family["type"]): Family {
        let f = this.families.get(name);
        if (!f) {
            f = { name, help, type, values: new Map() };
            this.families.set(name, f);
        }
        return f;
    }

    /** Declares a metric so it is exported (at 0) before its first use. */
    declare(name: string, help: string, type: Family["type"], labels: Labels = {}): void {
        const f = this.family(name, help, type);
        const key = labelText(labels);
        if (!f.values.has(key)) f.values.set(key, { labels, value: 0 });
    }

    set(name: string, help: string, value: number, labels: Labels = {}): void {
        this.family(name, help, "gauge").values.set(labelText(labels), { labels, value });
    }

    inc(name: string, help: string, labels: Labels = {}, by = 1): void {
        const f = this.family(name, help, "counter");
        const key = labelText(labels);
        const cur = f.values.get(key);
        f.values.set(key, { labels, value: (cur?.value ?? 0) + by });
    }

    /** Drops a gauge's series whose labels are no longer current (e.g. a deleted node). */
    reset(name: string): void {
        this.families.get(name)?.values.clear();
    }

    get(name: string, labels: Labels = {}): number | undefined {
        return this.families.get(name)?.values.get(labelText(labels))?.value;
    }

    render(): string {
        const out: string[] = [];
        for (const f of this.families.values()) {
            out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
            for (const v of f.values.values()) out.push(`${f.name}${labelText(v.labels)} ${Number.isFinite(v.value) ? v.value : 0}`);
        }
        const mem = process.memoryUsage();
        out.push(
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge",
            `process_resident_memory_bytes ${mem.rss}`,
            "# HELP nodejs_heap_used_bytes V8 heap in use.",
            "# TYPE nodejs_heap_used_bytes gauge",
            `nodejs_heap_used_bytes ${mem.heapUsed}`,
        );
        return out.join("\n") + "\n";
    }
}

export interface Health {
    ok: boolean;
    problems: string[];
}

/**
 * Serves /metrics, /healthz (503 when this replica cannot reach the API server or renew its
 * heartbeat; the readiness probe) and /livez (the process answers; the liveness probe).
 */
export function serve(metrics: Metrics, health: () => Health, host: string, port: number): Promise<http.Server> {
    const server = http.createServer((req, res) => {
        const url = (req.url ?? "/").split("?")[0];
        if (url === HTTP_PATHS.metrics) {
            res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
            res.end(metrics.render());
        } else if (url === HTTP_PATHS.healthz || url === "/readyz") {
            const h = health();
            res.writeHead(h.ok ? 200 : 503, { "Content-Type": "application/json" });
            res.end(JSON.stringify(h) + "\n");
        } else if (url === HTTP_PATHS.livez) {
            res.writeHead(200, { "Content-Type": "text/plain" });
            res.end("ok\n");
        } else {
            res.writeHead(404, { "Content-Type": "text/plain" });
            res.end("not found\n");
        }
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => resolve(server));
    });
}

export type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
    debug(msg: string, fields?: Record<string, unknown>): void;
    info(msg: string, fields?: Record<string, unknown>): void;
    warn(msg: string, fields?: Record<string, unknown>): void;
    error(msg: string, fields?: Record<string, unknown>): void;
}

/** One JSON object a line on stdout: time, level, msg, then the fields. */
export function jsonLogger(level: Level = "info", write: (line: string) => void = (l) => process.stdout.write(l), now: () => number = Date.now): Logger {
    const min = LEVELS[level];
    const log =
        (lvl: Level) =>
        (msg: string, fields: Record<string, unknown> = {}) => {
            if (LEVELS[lvl] < min) return;
            const entry: Record<string, unknown> = { time: new Date(now()).toISOString(), level: lvl, msg };
            for (const [k, v] of Object.entries(fields)) entry[k] = v instanceof Error ? v.message : v;
            write(JSON.stringify(entry) + "\n");
        };
    return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}
