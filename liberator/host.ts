/**
 * The agent's view of its node through /proc (it runs with hostPID): finding the kubelet by its
 * command name, finding the processes of a pod by the pod uid in their cgroup path, and checking
 * its own capabilities. The proc root is a parameter so tests use a fake directory.
 */
import * as fs from "fs";
import * as path from "path";

/** Numeric entries of the proc root. */
function pids(procRoot: string): number[] {
    let names: string[];
    try {
        names = fs.readdirSync(procRoot);
    } catch {
        return [];
    }
    return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

function read(file: string): string | undefined {
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        // The process may have exited between readdir and read.
        return undefined;
    }
}

/** Pids whose /proc/<pid>/comm is exactly `name` (comm holds at most 15 characters). */
export function findProcesses(procRoot: string, name: string): number[] {
    const want = name.slice(0, 15);
    return pids(procRoot).filter((pid) => read(path.join(procRoot, String(pid), "comm"))?.trim() === want);
}

/**
 * Pids in the cgroups of the given pods: kubelet names a pod's cgroup `pod<uid>` (cgroupfs driver)
 * or `...-pod<uid with _ for ->.slice` (systemd driver), under kubepods.
 */
export function podProcesses(procRoot: string, podUids: string[]): Map<string, number[]> {
    const out = new Map<string, number[]>();
    if (podUids.length === 0) return out;
    const forms = podUids.map((uid) => ({ uid, a: `pod${uid}`, b: `pod${uid.replace(/-/g, "_")}` }));
    for (const pid of pids(procRoot)) {
        const cg = read(path.join(procRoot, String(pid), "cgroup"));
        if (!cg || !cg.includes("kubepods")) continue;
        for (const f of forms) {
            if (cg.includes(`/${f.a}/`) || cg.includes(`/${f.a}\n`) || cg.includes(`-${f.b}.slice`)) {
                out.set(f.uid, [...(out.get(f.uid) ?? []), pid]);
                break;
            }
        }
    }
    return out;
}

/** Sends `signal` to each pid; returns those signalled (a pid that already exited is skipped). */
export function signalAll(pidList: number[], signal: NodeJS.Signals, kill: (pid: number, s: NodeJS.Signals) => void = process.kill): number[] {
    const done: number[] = [];
    for (const pid of pidList) {
        try {
            kill(pid, signal);
            done.push(pid);
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
        }
    }
    return done;
}

export const CAP_KILL = 5;

/** True when the effective capability set in a /proc/<pid>/status text has bit `cap`. */
export function hasCapability(status: string, cap: number): boolean {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}
