// Memory and CPU of running processes, read from /proc (Linux). Used for the liberator footprint:
// each process kind (per-node agent, deciding controller) is a set of pids sampled together.
import * as fs from "fs";
import * as path from "path";
import { median } from "./stats";

export interface ProcReading {
    /** Resident set size now (VmRSS), bytes. */
    rssBytes: number;
    /** Peak resident set size the kernel recorded (VmHWM), bytes. */
    hwmBytes: number;
    /** Of the RSS: anonymous memory (heap, stacks; RssAnon), and file-backed pages (the node binary's text; RssFile). */
    anonBytes: number;
    fileBytes: number;
    /** User + system CPU time used so far, in clock ticks. */
    cpuTicks: number;
}

/** One reading of /proc/<pid>/status and /proc/<pid>/stat; undefined when the process is gone. */
export function readProc(pid: number, procRoot = "/proc"): ProcReading | undefined {
    let status: string;
    let stat: string;
    try {
        status = fs.readFileSync(path.join(procRoot, String(pid), "status"), "utf8");
        stat = fs.readFileSync(path.join(procRoot, String(pid), "stat"), "utf8");
    } catch {
        return undefined;
    }
    const kb = (field: string): number => {
        const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(status);
        return m ? Number(m[1]) * 1024 : 0;
    };
    // The command name (2nd field) is in parentheses and may hold spaces or ')': split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse ${path.join(procRoot, String(pid), "stat")}: ${stat.slice(0, 120)}`);
    // A zombie has no memory left (no VmRSS line): report it as gone.
    if (rest[0] === "Z") return undefined;
    return { rssBytes: kb("VmRSS"), hwmBytes: kb("VmHWM"), anonBytes: kb("RssAnon"), fileBytes: kb("RssFile"), cpuTicks: utime + stime };
}

interface Point {
    tMs: number;
    rssBytes: number;
    anonBytes: number;
    fileBytes: number;
    cpuTicks: number;
}

export interface KindSummary {
    kind: string;
    processes: number;
    /** Highest RSS of any one process of this kind (sampled or VmHWM), bytes. */
    peakRssBytes: number;
    /** Median over processes of each one's median RSS in the steady window, bytes. */
    steadyRssBytes: number;
    /** Highest steady RSS of any one process, bytes. */
    steadyRssMaxBytes: number;
    /** Median over processes of each one's median anonymous / file-backed RSS in the steady window, bytes. */
    steadyAnonBytes: number;
    steadyFileBytes: number;
    /** Highest steady anonymous RSS of any one process, bytes. */
    steadyAnonMaxBytes: number;
    /** Highest CPU of any one process between two samples, in cores (1 = one core busy). */
    peakCpuCores: number;
    /** Median over processes of each one's average CPU in the steady window, in cores. */
    steadyCpuCores: number;
    /** Highest average CPU of any one process in the steady window, in cores (a leader among replicas). */
    steadyCpuMaxCores: number;
    /** Sum of all processes' average CPU in the steady window, in cores. */
    steadyCpuCoresTotal: number;
}

/**
 * Samples groups of processes ("kinds") at the times it is called. Processes may come and go
 * (node churn): each pid is followed while it lives; `pids` is asked again at every sample.
 */
export class ProcSampler {
    private readonly series = new Map<string, Map<number, Point[]>>();
    private readonly hwm = new Map<string, number>();
    constructor(
        private readonly pids: () => Record<string, number[]>,
        private readonly opts: { procRoot?: string; clockTicksPerSecond?: number } = {},
    ) {}

    sample(tMs = Date.now()): void {
        for (const [kind, pids] of Object.entries(this.pids())) {
            let byPid = this.series.get(kind);
            if (!byPid) this.series.set(kind, (byPid = new Map()));
            for (const pid of pids) {
                const r = readProc(pid, this.opts.procRoot);
                if (!r) continue;
                let points = byPid.get(pid);
                if (!points) byPid.set(pid, (points = []));
                points.push({ tMs, rssBytes: r.rssBytes, anonBytes: r.anonBytes, fileBytes: r.fileBytes, cpuTicks: r.cpuTicks });
                this.hwm.set(kind, Math.max(this.hwm.get(kind) ?? 0, r.hwmBytes));
            }
        }
    }

    /** Samples every `intervalMs` until `stop()` is called. */
    start(intervalMs: number): { stop: () => void } {
        this.sample();
        const timer = setInterval(() => this.sample(), intervalMs);
        return { stop: () => clearInterval(timer) };
    }

    /** Per kind: peak over the whole run, steady over samples taken at or after `steadyFromMs`. */
    summary(steadyFromMs = -Infinity): KindSummary[] {
        const hz = this.opts.clockTicksPerSecond ?? 100;
        const out: KindSummary[] = [];
        for (const [kind, byPid] of this.series) {
            let peakRss = this.hwm.get(kind) ?? 0;
            let peakCpu = 0;
            const steadyRss: number[] = [];
            const steadyAnon: number[] = [];
            const steadyFile: number[] = [];
            const steadyCpu: number[] = [];
            for (const points of byPid.values()) {
                for (let i = 0; i < points.length; i++) {
                    peakRss = Math.max(peakRss, points[i].rssBytes);
                    if (i > 0 && points[i].tMs > points[i - 1].tMs) {
                        const cores = (points[i].cpuTicks - points[i - 1].cpuTicks) / hz / ((points[i].tMs - points[i - 1].tMs) / 1000);
                        peakCpu = Math.max(peakCpu, cores);
                    }
                }
                const steady = points.filter((p) => p.tMs >= steadyFromMs);
                if (steady.length > 0) {
                    steadyRss.push(median(steady.map((p) => p.rssBytes)));
                    steadyAnon.push(median(steady.map((p) => p.anonBytes)));
                    steadyFile.push(median(steady.map((p) => p.fileBytes)));
                }
                if (steady.length > 1) {
                    const a = steady[0];
                    const b = steady[steady.length - 1];
                    if (b.tMs > a.tMs) steadyCpu.push((b.cpuTicks - a.cpuTicks) / hz / ((b.tMs - a.tMs) / 1000));
                }
            }
            out.push({
                kind,
                processes: byPid.size,
                peakRssBytes: peakRss,
                steadyRssBytes: steadyRss.length ? median(steadyRss) : 0,
                steadyRssMaxBytes: steadyRss.length ? Math.max(...steadyRss) : 0,
                steadyAnonBytes: steadyAnon.length ? median(steadyAnon) : 0,
                steadyFileBytes: steadyFile.length ? median(steadyFile) : 0,
                steadyAnonMaxBytes: steadyAnon.length ? Math.max(...steadyAnon) : 0,
                peakCpuCores: peakCpu,
                steadyCpuCores: steadyCpu.length ? median(steadyCpu) : 0,
                steadyCpuMaxCores: steadyCpu.length ? Math.max(...steadyCpu) : 0,
                steadyCpuCoresTotal: steadyCpu.reduce((a, b) => a + b, 0),
            });
        }
        return out.sort((a, b) => a.kind.localeCompare(b.kind));
    }
}
