// The /proc sampler (bench/lib/procfs.ts) against a fake /proc directory: RSS, peak and steady
// values per process kind, CPU in cores from clock ticks, processes that come and go.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ProcSampler, readProc } from "../../bench/lib/procfs";

let proc: string;
beforeEach(() => (proc = fs.mkdtempSync(path.join(os.tmpdir(), "pets-fakeproc-"))));
afterEach(() => fs.rmSync(proc, { recursive: true, force: true }));

/** Writes /proc/<pid>/status and stat as Linux does (only the fields that matter filled in). */
function setProc(pid: number, o: { rssKiB: number; hwmKiB?: number; fileKiB?: number; utime: number; stime: number; comm?: string; state?: string }): void {
    const dir = path.join(proc, String(pid));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
        path.join(dir, "status"),
        `Name:\t${o.comm ?? "node"}\nState:\t${o.state ?? "S"} (sleeping)\nVmPeak:\t  999999 kB\nVmHWM:\t${String(o.hwmKiB ?? o.rssKiB).padStart(8)} kB\nVmRSS:\t${String(o.rssKiB).padStart(8)} kB\n` +
            `RssAnon:\t${String(o.rssKiB - (o.fileKiB ?? 0)).padStart(8)} kB\nRssFile:\t${String(o.fileKiB ?? 0).padStart(8)} kB\nRssShmem:\t       0 kB\nThreads:\t7\n`,
    );
    // Fields 3..: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const rest = [o.state ?? "S", 1, pid, pid, 0, -1, 4194560, 100, 0, 0, 0, o.utime, o.stime, 0, 0, 20, 0, 7, 0, 12345];
    fs.writeFileSync(path.join(dir, "stat"), `${pid} (${o.comm ?? "node"}) ${rest.join(" ")}\n`);
}
const MiB = 1024;

test("readProc: RSS and peak from status, user+system ticks from stat, even with ') ' in the command name", () => {
    setProc(42, { rssKiB: 30 * MiB, hwmKiB: 41 * MiB, fileKiB: 22 * MiB, utime: 150, stime: 50, comm: "weird ) name (x" });
    expect(readProc(42, proc)).toEqual({ rssBytes: 30 * 2 ** 20, hwmBytes: 41 * 2 ** 20, anonBytes: 8 * 2 ** 20, fileBytes: 22 * 2 ** 20, cpuTicks: 200 });
    expect(readProc(43, proc)).toBeUndefined();
    setProc(44, { rssKiB: 0, utime: 1, stime: 1, state: "Z" });
    expect(readProc(44, proc)).toBeUndefined();
});

test("per kind: peak and steady RSS, peak and steady CPU; a process that dies and one that appears are followed", () => {
    const pids: Record<string, number[]> = { agent: [1, 2], controller: [9] };
    const s = new ProcSampler(() => pids, { procRoot: proc, clockTicksPerSecond: 100 });
    // t=0: start-up
    setProc(1, { rssKiB: 40 * MiB, utime: 0, stime: 0 });
    setProc(2, { rssKiB: 30 * MiB, utime: 0, stime: 0 });
    setProc(9, { rssKiB: 50 * MiB, utime: 0, stime: 0 });
    s.sample(0);
    // t=1s: agent 1 busy (a full core), peak memory 44 MiB
    setProc(1, { rssKiB: 44 * MiB, utime: 80, stime: 20 });
    setProc(2, { rssKiB: 30 * MiB, utime: 5, stime: 0 });
    setProc(9, { rssKiB: 55 * MiB, utime: 10, stime: 0 });
    s.sample(1000);
    // t=10s … 20s: steady; agent 2 dies at 15 s, agent 3 (its node came back) appears
    setProc(1, { rssKiB: 32 * MiB, utime: 100, stime: 20 });
    setProc(2, { rssKiB: 28 * MiB, utime: 10, stime: 0 });
    setProc(9, { rssKiB: 52 * MiB, utime: 20, stime: 0 });
    s.sample(10_000);
    fs.rmSync(path.join(proc, "2"), { recursive: true });
    pids.agent = [1, 2, 3];
    setProc(3, { rssKiB: 26 * MiB, utime: 0, stime: 0 });
    setProc(1, { rssKiB: 34 * MiB, utime: 110, stime: 20 });
    setProc(9, { rssKiB: 54 * MiB, utime: 40, stime: 0 });
    s.sample(15_000);
    setProc(1, { rssKiB: 33 * MiB, utime: 120, stime: 20 });
    setProc(3, { rssKiB: 27 * MiB, utime: 5, stime: 0 });
    setProc(9, { rssKiB: 53 * MiB, utime: 60, stime: 0 });
    s.sample(20_000);

    const [agent, controller] = s.summary(10_000);
    expect(agent.kind).toBe("agent");
    expect(agent.processes).toBe(3);
    expect(agent.peakRssBytes).toBe(44 * 2 ** 20);
    // steady: medians per process over t ≥ 10 s — 1: 33, 2: 28, 3: 26.5 → median 28; max 33
    expect(agent.steadyRssBytes).toBe(28 * 2 ** 20);
    expect(agent.steadyRssMaxBytes).toBe(33 * 2 ** 20);
    // peak CPU: agent 1 used 100 ticks in 1 s = 1 core
    expect(agent.peakCpuCores).toBeCloseTo(1, 10);
    // steady CPU: agent 1 20 ticks in 10 s = 0.02; agent 3 5 ticks in 5 s = 0.01; agent 2 one sample only
    expect(agent.steadyCpuCores).toBeCloseTo(0.015, 10);
    expect(agent.steadyCpuCoresTotal).toBeCloseTo(0.03, 10);

    expect(controller.peakRssBytes).toBe(55 * 2 ** 20);
    expect(controller.steadyRssBytes).toBe(53 * 2 ** 20);
    expect(controller.steadyCpuCores).toBeCloseTo(0.04, 10); // 40 ticks (0.4 s) in 10 s
    expect(controller.peakCpuCores).toBeCloseTo(0.1, 10); // 10 ticks in the first second
});

test("steady RSS split into anonymous and file-backed pages; the busier replica's CPU", () => {
    const s = new ProcSampler(() => ({ controller: [5, 6] }), { procRoot: proc, clockTicksPerSecond: 100 });
    setProc(5, { rssKiB: 50 * MiB, fileKiB: 37 * MiB, utime: 0, stime: 0 });
    setProc(6, { rssKiB: 48 * MiB, fileKiB: 36 * MiB, utime: 0, stime: 0 });
    s.sample(0);
    setProc(5, { rssKiB: 52 * MiB, fileKiB: 37 * MiB, utime: 30, stime: 10 });
    setProc(6, { rssKiB: 48 * MiB, fileKiB: 36 * MiB, utime: 5, stime: 5 });
    s.sample(10_000);
    const [c] = s.summary();
    // medians per process: 5 → 51 (anon 14, file 37), 6 → 48 (anon 12, file 36); over the two: 49.5, 13, 36.5
    expect(c.steadyRssBytes).toBe(49.5 * 2 ** 20);
    expect(c.steadyAnonBytes).toBe(13 * 2 ** 20);
    expect(c.steadyFileBytes).toBe(36.5 * 2 ** 20);
    expect(c.steadyAnonMaxBytes).toBe(14 * 2 ** 20);
    expect(c.steadyCpuMaxCores).toBeCloseTo(0.04, 10); // 40 ticks in 10 s (the leader)
    expect(c.steadyCpuCores).toBeCloseTo(0.025, 10);
});

test("the kernel's VmHWM counts as a peak even when no sample caught it", () => {
    setProc(7, { rssKiB: 20 * MiB, hwmKiB: 61 * MiB, utime: 0, stime: 0 });
    const s = new ProcSampler(() => ({ controller: [7] }), { procRoot: proc });
    s.sample(0);
    expect(s.summary()[0].peakRssBytes).toBe(61 * 2 ** 20);
});
