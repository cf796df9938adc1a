import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CAP_KILL, findProcesses, hasCapability, podProcesses, signalAll } from "../../../liberator/host";
import { Watchdog } from "../../../liberator/watchdog";

let proc: string;
beforeEach(() => {
    proc = fs.mkdtempSync(path.join(os.tmpdir(), "fake-proc-"));
});
afterEach(() => fs.rmSync(proc, { recursive: true, force: true }));

function fakeProcess(pid: number, comm: string, cgroup = "0::/\n"): void {
    fs.mkdirSync(path.join(proc, String(pid)));
    fs.writeFileSync(path.join(proc, String(pid), "comm"), `${comm}\n`);
    fs.writeFileSync(path.join(proc, String(pid), "cgroup"), cgroup);
}

const UID = "5f0c3c52-1d3e-4a7e-9d8a-0b3e3f1c2a11";

describe("the kubelet finder against a fake /proc", () => {
    test("finds processes by exact comm, ignores others and non-numeric entries", () => {
        fakeProcess(1, "init");
        fakeProcess(812, "kubelet");
        fakeProcess(813, "kubelet-helper");
        fakeProcess(900, "containerd");
        fs.mkdirSync(path.join(proc, "self"));
        fs.writeFileSync(path.join(proc, "cpuinfo"), "");
        expect(findProcesses(proc, "kubelet")).toEqual([812]);
        expect(findProcesses(proc, "containerd")).toEqual([900]);
    });

    test("comm holds 15 characters: a long name matches its truncation", () => {
        fakeProcess(5, "kube-controller");
        expect(findProcesses(proc, "kube-controller-manager")).toEqual([5]);
    });

    test("a process that exits between readdir and read is skipped", () => {
        fs.mkdirSync(path.join(proc, "77"));
        expect(findProcesses(proc, "kubelet")).toEqual([]);
    });

    test("a missing proc root finds nothing", () => {
        expect(findProcesses(path.join(proc, "nope"), "kubelet")).toEqual([]);
    });
});

describe("processes of a pod by the uid in their cgroup", () => {
    test.each([
        { driver: "cgroupfs (v1)", cgroup: `12:memory:/kubepods/besteffort/pod${UID}/0123abcd\n4:cpu:/kubepods/besteffort/pod${UID}/0123abcd\n` },
        { driver: "cgroupfs, the pod's own cgroup (pause)", cgroup: `0::/kubepods/burstable/pod${UID}\n` },
        {
            driver: "systemd",
            cgroup: `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, "_")}.slice/cri-containerd-ab.scope\n`,
        },
        { driver: "a custom cgroupRoot (the test nodes)", cgroup: `7:pids:/pets-node-1/kubepods/pod${UID}/ff\n` },
    ])("$driver", ({ cgroup }) => {
        fakeProcess(100, "mysqld", cgroup);
        fakeProcess(101, "nginx", "0::/kubepods/besteffort/podother/1\n");
        fakeProcess(102, "bash", "0::/user.slice\n");
        expect(podProcesses(proc, [UID])).toEqual(new Map([[UID, [100]]]));
    });

    test("no uids: nothing scanned", () => {
        expect(podProcesses(proc, [])).toEqual(new Map());
    });
});

describe("signalling and capabilities", () => {
    test("signalAll skips processes that are already gone and rethrows anything else", () => {
        const sent: string[] = [];
        const kill = (pid: number, s: NodeJS.Signals) => {
            if (pid === 2) throw Object.assign(new Error("gone"), { code: "ESRCH" });
            if (pid === 3) throw Object.assign(new Error("no"), { code: "EPERM" });
            sent.push(`${pid}:${s}`);
        };
        expect(signalAll([1, 2], "SIGKILL", kill)).toEqual([1]);
        expect(sent).toEqual(["1:SIGKILL"]);
        expect(() => signalAll([3], "SIGKILL", kill)).toThrow("no");
    });

    test.each([
        { capEff: "0000000000000020", kill: true },
        { capEff: "000001fffeffffff", kill: true },
        { capEff: "0000000000000000", kill: false },
        { capEff: "00000000000000df", kill: false },
    ])("CapEff $capEff → CAP_KILL $kill", ({ capEff, kill }) => {
        expect(hasCapability(`Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`, CAP_KILL)).toBe(kill);
    });
});

describe("watchdog against a fake device file (no watchdog on this machine: untested on hardware)", () => {
    test("open, pet, magic close", () => {
        const dev = path.join(proc, "watchdog");
        fs.writeFileSync(dev, "");
        const w = new Watchdog(dev);
        expect(w.isOpen).toBe(false);
        w.pet(); // not open: nothing
        w.open();
        w.pet();
        w.pet();
        expect(fs.readFileSync(dev, "utf8")).toBe("\0\0");
        w.disarm();
        expect(fs.readFileSync(dev, "utf8")).toBe("\0\0V");
        expect(w.isOpen).toBe(false);
        expect(w.pets).toBe(2);
    });

    test("the timeout comes from sysfs", () => {
        const sys = path.join(proc, "class");
        fs.mkdirSync(path.join(sys, "watchdog0"), { recursive: true });
        fs.writeFileSync(path.join(sys, "watchdog0", "timeout"), "30\n");
        expect(new Watchdog("/dev/watchdog0").timeoutSeconds(sys)).toBe(30);
        expect(new Watchdog("/dev/watchdog9").timeoutSeconds(sys)).toBeUndefined();
    });
});
