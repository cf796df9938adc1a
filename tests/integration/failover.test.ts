// The NodeLiberator's node-failure drills on real nodes, checked with bytes: the dev stack's
// local-path provisioner (one directory every node mounts, the stand-in for NFS) and liberator
// (agent DaemonSet + controller Deployment, real pods from the local Node image) deployed by the
// real pulumi CLI, plus a writer StatefulSet whose pod appends `<ordinal> <pod uid> <uptime>` to
// its volume every 100 ms (tests/integration/fixtures/failover). Three real nodes; a node loses
// power (every process killed) or is cut off (its network down, its processes running). The
// writer's file must show that the old and the new copy of the pod never wrote at the same time,
// except where the drill switches the fence off and asks the liberator to act anyway.
//
// Timings: up.sh's short grace period (20 s) by default; PETS_STOCK_TIMINGS=1 runs every drill
// with Kubernetes' stock node-monitor-grace-period of 50 s and the kubelet's stock 40 s Lease.
import * as fs from "fs";
import * as path from "path";
import { isReady, kubectl, TestStack, waitFor } from "./support/harness";
import { Api, drillDiagnostics, FAILOVER_FIXTURE, failoverStackConfig, jsonLines, podLogOnNode, podProcessesOnHost, wallOfUptime } from "./support/drills";
import { checkOverlap, OverlapReport, parseWrites, Write } from "./support/writes";
import {
    ensureRealCluster,
    healNode,
    killNode,
    partitionNode,
    PhaseClock,
    realNodes,
    realNodesInfo,
    restoreAllRealNodes,
    startNode,
} from "./support/realnodes";

const NS = "pets";
const LIB_NS = "tkr-system";
const POD = "writer-0";
const STOCK = process.env.PETS_STOCK_TIMINGS === "1";
const HEARTBEAT = (node: string) => `/apis/coordination.k8s.io/v1/namespaces/${LIB_NS}/leases/heartbeat.${node}`;
const OUT_OF_SERVICE = "node.kubernetes.io/out-of-service";
const ANN = { claimedBy: "liberator.pets/claimed-by", claimedAt: "liberator.pets/claimed-at", armed: "liberator.pets/armed", peers: "liberator.pets/peers" };

let stack: TestStack;
let api: Api;
let nodes: string[];
let writesFile: string;
const figures: string[] = [];

const node = (name: string) => api.get(`/api/v1/nodes/${name}`);
const readyOf = (n: any): string | undefined => (n?.status?.conditions ?? []).find((c: any) => c.type === "Ready")?.status;
const tainted = (n: any) => (n?.spec?.taints ?? []).some((t: any) => t.key === OUT_OF_SERVICE);
const writerPod = () => api.get(`/api/v1/namespaces/${NS}/pods/${POD}`);
const heartbeat = (n: string) => api.get(HEARTBEAT(n));
const nodeEvents = async (n: string) =>
    ((await api.get(`/api/v1/namespaces/default/events?fieldSelector=involvedObject.kind%3DNode,involvedObject.name%3D${n}`))?.items ?? []) as any[];
const writes = (): { writes: Write[]; bad: string[]; text: string } => {
    const text = fs.readFileSync(writesFile, "utf8");
    return { ...parseWrites(text), text };
};
const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/**
 * Runs a drill's body; on failure prints what is needed to understand it, and brings every node
 * back (a node left cut off would hang the next drill's rollout), then fails.
 */
async function drill(body: () => Promise<void>): Promise<void> {
    try {
        await body();
    } catch (e) {
        process.stdout.write(drillDiagnostics([NS], LIB_NS));
        restoreAllRealNodes();
        throw e;
    }
}

/** The liberator agent's pod on a node: the DaemonSet's (a controller replica may run there too). */
async function agentPodOn(n: string): Promise<any> {
    const pods = (await api.get(`/api/v1/namespaces/${LIB_NS}/pods?fieldSelector=spec.nodeName%3D${n}`))?.items ?? [];
    return pods.find((p: any) => !p.metadata.deletionTimestamp && (p.metadata.ownerReferences ?? []).some((o: any) => o.kind === "DaemonSet"));
}

/** Every real node's agent armed, renewing, and counting every other real node as a peer. */
async function liberatorSettled(armed = true): Promise<void> {
    await waitFor(
        `every agent ${armed ? "armed and knowing its peers" : "renewing, not armed"}`,
        async () => {
            for (const n of nodes) {
                const l = await heartbeat(n);
                const a = l?.metadata?.annotations ?? {};
                if (a[ANN.armed] !== String(armed) || a[ANN.claimedBy]) return false;
                if (armed && !nodes.every((p) => (a[ANN.peers] ?? "").split(",").includes(p))) return false;
            }
            return true;
        },
        180_000,
        1000,
    );
}

async function writerRunning(): Promise<any> {
    return waitFor(
        `${POD} Ready and writing`,
        async () => {
            const p = await writerPod();
            if (!p || p.metadata.deletionTimestamp || !isReady(p)) return false;
            const mine = writes().writes.filter((w) => w.uid === p.metadata.uid);
            return mine.length > 0 && wallOfUptime(mine[mine.length - 1].t) > Date.now() - 2000 ? p : false;
        },
        180_000,
        500,
    );
}

interface Failover {
    clock: PhaseClock;
    t0: number;
    oldUid: string;
    newPod: any;
    /** ms after the cut, by what was observed */
    at: Record<string, number>;
    snapshot: string;
}

/**
 * Cuts the writer's node (`cut`), then polls every 250 ms and marks each phase when first seen:
 * NotReady, the agent's fence (from its log on the node's disk), the claim, the taint, the old
 * pod gone from the API, the new one scheduled, Ready, and its first line in the file.
 */
async function failover(label: string, victim: string, old: any, cut: () => void, opts: { fence: boolean }): Promise<Failover> {
    const agentPod = await agentPodOn(victim);
    if (opts.fence && !agentPod) throw new Error(`no liberator agent pod on ${victim}`);
    const snapshot = writes().text;
    const clock = new PhaseClock(label);
    const t0 = Date.now();
    cut();
    clock.mark(label.startsWith("power loss") ? "kill (every process gone)" : "network cut");
    const at: Record<string, number> = {};
    const phases: [string, () => Promise<boolean>][] = [
        ["NotReady", async () => readyOf(await node(victim)) !== "True"],
        ...(opts.fence
            ? ([
                  [
                      "agent fenced",
                      async () =>
                          agentPod !== undefined &&
                          jsonLines(podLogOnNode(victim, LIB_NS, agentPod.metadata.name, agentPod.metadata.uid, "agent")).some(
                              (l) => l.mode === "fencing" && l.node === victim,
                          ),
                  ],
              ] as [string, () => Promise<boolean>][])
            : []),
        ["Claimed", async () => Boolean((await heartbeat(victim))?.metadata?.annotations?.[ANN.claimedBy])],
        ["tainted out-of-service", async () => tainted(await node(victim))],
        ["old pod gone", async () => (await writerPod())?.metadata?.uid !== old.metadata.uid],
        [
            "new pod scheduled",
            async () => {
                const p = await writerPod();
                return Boolean(p && p.metadata.uid !== old.metadata.uid && p.spec.nodeName);
            },
        ],
        [
            "Running/Ready",
            async () => {
                const p = await writerPod();
                return Boolean(p && p.metadata.uid !== old.metadata.uid && isReady(p));
            },
        ],
    ];
    let newPod: any;
    await waitFor(
        `${label}: ${POD} back and writing`,
        async () => {
            for (const [name, seen] of phases) {
                if (name in at) continue;
                try {
                    if (await seen()) {
                        at[name] = Date.now() - t0;
                        clock.mark(name);
                    }
                } catch {
                    // a failed poll is retried on the next round
                }
            }
            if (!("Running/Ready" in at)) return false;
            newPod ??= await writerPod();
            if (writes().writes.some((w) => w.uid === newPod.metadata.uid)) {
                at["first line by the new copy"] = Date.now() - t0;
                clock.mark("first line by the new copy");
                return true;
            }
            return false;
        },
        300_000,
        250,
    );
    return { clock, t0, oldUid: old.metadata.uid, newPod, at, snapshot };
}

/** The bytes: nothing lost or torn, and the overlap between the old and the new copy. */
function verdict(f: Failover): OverlapReport & { lastOldAfterCut: number; firstNewAfterCut: number; gap: number } {
    const { writes: ws, bad, text } = writes();
    expect(bad).toEqual([]);
    expect(text.startsWith(f.snapshot)).toBe(true); // every line written before the cut is still there, unchanged
    const report = checkOverlap(ws.filter((w) => w.ordinal === "0"));
    const old = report.intervals.find((i) => i.uid === f.oldUid)!;
    const fresh = report.intervals.find((i) => i.uid === f.newPod.metadata.uid)!;
    return {
        ...report,
        lastOldAfterCut: wallOfUptime(old.last) - f.t0,
        firstNewAfterCut: wallOfUptime(fresh.first) - f.t0,
        gap: Number((fresh.first - old.last).toFixed(2)),
    };
}

function report(f: Failover, v: ReturnType<typeof verdict>): void {
    f.clock.print();
    const line =
        `[${f.clock.label}] old copy's last line at ${s(v.lastOldAfterCut)}, new copy's first at ${s(v.firstNewAfterCut)} after the cut: ` +
        (v.overlaps.length === 0
            ? `no overlap (gap ${v.gap}s)`
            : `OVERLAP, two live writers: ${v.overlaps.map((o) => `${o.seconds}s, ${o.linesOfEarlierAfterLaterStarted} lines by the old copy after the new one started`).join("; ")}`);
    process.stdout.write(line + "\n");
    figures.push(f.clock.report(), line);
}

/** The node is back and clean: Ready, our taint gone, the claim released, its agent renewing again. */
async function backClean(victim: string, clock: PhaseClock): Promise<void> {
    await waitFor(`${victim} Ready`, async () => readyOf(await node(victim)) === "True", 180_000, 500);
    clock.mark("Ready");
    await waitFor(
        `${victim} untainted and its claim released`,
        async () => {
            const [n, l] = await Promise.all([node(victim), heartbeat(victim)]);
            return !tainted(n) && l && !l.metadata.annotations?.[ANN.claimedBy];
        },
        180_000,
        500,
    );
    clock.mark("untainted, claim released");
}

beforeAll(async () => {
    const clock = new PhaseClock("setup");
    ensureRealCluster(3, { fresh: true, kwokWorkers: 0, gracePeriod: STOCK ? "50s" : "20s" });
    clock.mark("cluster with 3 real nodes");
    const info = realNodesInfo();
    figures.push(
        `[failover] node-monitor-grace-period ${info.nodeMonitorGracePeriodSeconds}s, kubelet Lease ${info.kubeletLeaseDurationSeconds}s; liberator defaults (T_sf 30 s, T_exec 10 s, margin 5 s)`,
    );
    nodes = realNodes();
    api = new Api();
    stack = new TestStack("failover", failoverStackConfig(info), { main: FAILOVER_FIXTURE });
    await stack.init();
    const up = await stack.up();
    clock.mark(`pulumi up (${up.seconds.toFixed(0)}s)`);
    const pvc = JSON.parse(kubectl(["-n", NS, "get", "pvc", `data-${POD}`, "-o", "json"]));
    const pv = JSON.parse(kubectl(["get", "pv", pvc.spec.volumeName, "-o", "json"]));
    expect(pv.spec.nodeAffinity).toBeUndefined(); // a shared volume: the pod may run on any node
    writesFile = path.join(info.sharedDir, path.relative(info.sharedPathOnNodes, pv.spec.hostPath.path), "writes");
    await writerRunning();
    await liberatorSettled();
    clock.mark("writer writing, every agent armed and knowing its peers");
    figures.push(clock.report());
}, 900_000);

afterAll(async () => {
    try {
        restoreAllRealNodes();
        if (stack) {
            const r = await stack.destroy();
            figures.push(`[failover] pulumi destroy ${r.seconds.toFixed(0)}s`);
            kubectl(["delete", "namespace", NS, "--wait=false"], { allowFail: true }); // kept by the stack (retainOnDelete)
        }
    } finally {
        api?.close();
        stack?.cleanup();
        if (writesFile) fs.rmSync(path.dirname(writesFile), { recursive: true, force: true });
        process.stdout.write(figures.join("\n") + "\n");
    }
}, 600_000);

test(
    "power loss, defaults: the writer comes back on another node, its lines intact, never two writers",
    () =>
        drill(async () => {
            const old = await writerRunning();
            const victim = old.spec.nodeName;
            const f = await failover(`power loss of ${victim}`, victim, old, () => killNode(victim), { fence: false });
            await new Promise((r) => setTimeout(r, 1000));
            const v = verdict(f);
            report(f, v);
            figures.push(`[power loss] kill → Ready on another node: ${s(f.at["Running/Ready"])}`);
            expect(v.overlaps).toEqual([]);
            expect(v.gap).toBeGreaterThan(0);
            expect(f.newPod.spec.nodeName).not.toBe(victim);
            expect((await nodeEvents(victim)).map((e) => e.reason)).toEqual(expect.arrayContaining(["Claimed", "OutOfServiceTainted"]));

            const back = new PhaseClock(`${victim} boots again`);
            startNode(victim);
            back.mark("booted");
            await backClean(victim, back);
            back.print();
            figures.push(back.report());
            expect(podProcessesOnHost(f.oldUid)).toEqual([]);
        }),
    600_000,
);

test(
    "partition, defaults: the cut-off agent fences its node before the controller takes over; healed (its agent's pod deleted meanwhile, as a rollout does), the node comes back clean",
    () =>
        drill(async () => {
            await liberatorSettled();
            const old = await writerRunning();
            const victim = old.spec.nodeName;
            const f = await failover(`partition of ${victim}`, victim, old, () => partitionNode(victim), { fence: true });
            await new Promise((r) => setTimeout(r, 1000));
            const v = verdict(f);
            report(f, v);
            expect(v.overlaps).toEqual([]);
            expect(v.gap).toBeGreaterThan(0);
            // The old container stopped writing because its node fenced itself, before the claim.
            expect(f.at).toHaveProperty(["agent fenced"]);
            expect(f.at["agent fenced"]).toBeLessThan(f.at.Claimed);
            expect(v.lastOldAfterCut).toBeLessThan(f.at.Claimed);
            figures.push(
                `[partition] agent fenced at ${s(f.at["agent fenced"])}, old copy's last line ${s(v.lastOldAfterCut)}, claim at ${s(f.at.Claimed)} after the cut`,
            );
            // Its processes are gone although the node still runs (the agent stopped the sandbox).
            await waitFor("the old pod's processes gone", () => podProcessesOnHost(f.oldUid).length === 0, 30_000, 500);
            // Meanwhile its agent's pod is deleted, as a DaemonSet rollout (or deleteNode mode's
            // garbage collection) does while a node is cut off: the agent still running there has
            // its token refused from now on, and must learn from its peers that it may stand down.
            const oldAgent = await agentPodOn(victim);
            kubectl(["-n", LIB_NS, "delete", "pod", oldAgent.metadata.name, "--grace-period=0", "--force", "--wait=false"]);

            const back = new PhaseClock(`${victim} healed`);
            healNode(victim);
            back.mark("network back");
            const t0 = Date.now();
            let stoodDown: number | undefined;
            const watchOldAgent = (async () => {
                while (stoodDown === undefined && Date.now() - t0 < 60_000) {
                    const log = podLogOnNode(victim, LIB_NS, oldAgent.metadata.name, oldAgent.metadata.uid, "agent");
                    if (jsonLines(log).some((l) => l.mode === "stood-down")) stoodDown = Date.now() - t0;
                    await new Promise((r) => setTimeout(r, 250));
                }
            })();
            await backClean(victim, back);
            const fresh = await waitFor(
                `a new agent on ${victim} renewing its heartbeat`,
                async () => {
                    const [p, l] = await Promise.all([agentPodOn(victim), heartbeat(victim)]);
                    return p && p.metadata.uid !== oldAgent.metadata.uid && isReady(p) && l?.spec?.holderIdentity === p.metadata.name ? p : false;
                },
                120_000,
                500,
            );
            await liberatorSettled();
            back.mark("a new agent armed and renewing");
            await watchOldAgent;
            expect(podProcessesOnHost(oldAgent.metadata.uid)).toEqual([]);
            back.print();
            figures.push(
                back.report(),
                `[partition] the old agent (token refused) stood down ${stoodDown === undefined ? "(its log was gone before it was read)" : `${s(stoodDown)} after the heal`}; new agent ${fresh.metadata.name}`,
            );
            const healedAt = Date.now();
            await new Promise((r) => setTimeout(r, 5000));
            // No deleted pod restarted on it: no line of the old copy after the heal, nothing of it running.
            const late = writes().writes.filter((w) => w.uid === f.oldUid && wallOfUptime(w.t) > healedAt - 1000);
            expect(late).toEqual([]);
            expect(podProcessesOnHost(f.oldUid)).toEqual([]);
            const onVictim = (await api.get(`/api/v1/namespaces/${NS}/pods?fieldSelector=spec.nodeName%3D${victim}`))?.items ?? [];
            expect(onVictim.map((p: any) => p.metadata.uid)).not.toContain(f.oldUid);
        }),
    600_000,
);

test(
    "partition with self-fencing off: the controller refuses (NotFenced) and the pod stays",
    () =>
        drill(async () => {
            stack.set({ "pets:liberator": { selfFence: { enabled: false } } });
            const up = await stack.up();
            figures.push(`[self-fence off] pulumi up ${up.seconds.toFixed(0)}s (agents rolled)`);
            await liberatorSettled(false);
            const old = await writerRunning();
            const victim = old.spec.nodeName;
            const clock = new PhaseClock(`partition of ${victim}, self-fencing off`);
            const t0 = Date.now();
            partitionNode(victim);
            clock.mark("network cut");
            await waitFor(`${victim} NotReady`, async () => readyOf(await node(victim)) !== "True", 180_000, 500);
            clock.mark("NotReady");
            const ev = await waitFor("a NotFenced event", async () => (await nodeEvents(victim)).find((e) => e.reason === "NotFenced"), 120_000, 1000);
            clock.mark("NotFenced");
            expect(ev.message).toContain("AgentNotArmed");
            // Well past the moment the defaults claim a node (T_sf + T_exec + margin = 45 s after its
            // last heartbeat, and not before NotReady).
            const holdUntil = Math.max(t0 + 55_000, Date.now() + 10_000);
            while (Date.now() < holdUntil) {
                const [p, n, l] = await Promise.all([writerPod(), node(victim), heartbeat(victim)]);
                expect(p.metadata.uid).toBe(old.metadata.uid);
                expect(tainted(n)).toBe(false);
                expect(l.metadata.annotations?.[ANN.claimedBy]).toBeUndefined();
                await new Promise((r) => setTimeout(r, 2000));
            }
            clock.mark("pod stays, not tainted, not claimed");
            // The cut-off copy still runs (nothing fenced it): the only copy, and it keeps writing.
            const mine = writes().writes.filter((w) => w.uid === old.metadata.uid);
            expect(wallOfUptime(mine[mine.length - 1].t)).toBeGreaterThan(Date.now() - 2000);
            clock.print();
            figures.push(clock.report(), `[self-fence off] NotFenced: ${ev.message}`);
            healNode(victim);
            await waitFor(`${victim} Ready`, async () => readyOf(await node(victim)) === "True", 180_000, 500);
            const after = await writerRunning();
            expect(after.metadata.uid).toBe(old.metadata.uid);
            expect(checkOverlap(writes().writes).overlaps).toEqual([]);
        }),
    600_000,
);

test(
    "partition with self-fencing off and unsafeNoFencing: the liberator acts anyway and the drill catches two live writers",
    () =>
        drill(async () => {
            stack.set({ "pets:liberator": { selfFence: { enabled: false }, unsafeNoFencing: true } });
            const up = await stack.up();
            figures.push(`[unsafe] pulumi up ${up.seconds.toFixed(0)}s (controller rolled)`);
            await waitFor(
                "the UnsafeNoFencing Warning",
                async () =>
                    ((await api.get(`/api/v1/namespaces/${LIB_NS}/events?fieldSelector=reason%3DUnsafeNoFencing`))?.items ?? []).some(
                        (e: any) => e.type === "Warning",
                    ),
                120_000,
                1000,
            );
            await liberatorSettled(false);
            const old = await writerRunning();
            const victim = old.spec.nodeName;
            const f = await failover(`partition of ${victim}, unsafeNoFencing`, victim, old, () => partitionNode(victim), { fence: false });
            expect((await nodeEvents(victim)).map((e) => e.reason)).toEqual(expect.arrayContaining(["UnsafeRemediation", "Claimed"]));
            await new Promise((r) => setTimeout(r, 3000));

            // Nothing stops the cut-off copy until its kubelet hears, after the heal, that its pod is gone.
            const back = new PhaseClock(`${victim} healed`);
            healNode(victim);
            back.mark("network back");
            await backClean(victim, back);
            await waitFor("the old copy stopped by its kubelet", () => podProcessesOnHost(f.oldUid).length === 0, 60_000, 500);
            back.mark("old copy stopped by its kubelet");
            back.print();
            figures.push(back.report());

            const v = verdict(f);
            report(f, v);
            // The check can fail: the old copy never stopped while cut off, so both wrote at once.
            expect(v.overlaps).toHaveLength(1);
            expect(v.overlaps[0]).toMatchObject({ earlier: f.oldUid, later: f.newPod.metadata.uid });
            expect(v.overlaps[0].linesOfEarlierAfterLaterStarted).toBeGreaterThan(10);
        }),
    600_000,
);
