// The failover benchmark's drill on real kubelet nodes, built from the drills' own instruments
// (tests/integration/support: the real-node helpers, the quick API reader, the writer's file and
// its parser, the pulumi test stack) and their fixture (tests/integration/fixtures/failover: the
// dev stack's local-path provisioner and NodeLiberator plus a writer StatefulSet appending a line
// every 100 ms). One drill: power off the node running writer-0, poll the API every 250 ms for
// each milestone, read the writer's file for the new copy's first line and for two live copies.
import * as fs from "fs";
import * as path from "path";
import { isReady, kubectl, TestStack, waitFor } from "../../tests/integration/support/harness";
import { Api, drillDiagnostics, FAILOVER_FIXTURE, failoverStackConfig, wallOfUptime } from "../../tests/integration/support/drills";
import { parseWrites } from "../../tests/integration/support/writes";
import { killNode, realNodes, realNodesInfo, restoreAllRealNodes } from "../../tests/integration/support/realnodes";
import { benchEnv, clusterUp } from "./cluster";
import { FailoverMilestones, remediationTime, writerOutcome } from "./failover";

const NS = "pets";
const LIB_NS = "tkr-system";
const POD = "writer-0";
const OUT_OF_SERVICE = "node.kubernetes.io/out-of-service";
const ANN = { claimedBy: "liberator.pets/claimed-by", armed: "liberator.pets/armed", peers: "liberator.pets/peers" };

/** The real nodes' network of the bench cluster, apart from a test run's (10.200.0, pets, 100). */
export function realNodeEnv(): Record<string, string> {
    return {
        PETS_NET_PREFIX: process.env.PETS_NET_PREFIX ?? "petsb",
        PETS_REAL_NODE_SUBNET: process.env.PETS_REAL_NODE_SUBNET ?? "10.203.0",
        PETS_REAL_POD_OCTET: process.env.PETS_REAL_POD_OCTET ?? "230",
    };
}

export interface RigConfig {
    /** Which cluster: its node-monitor grace period. */
    gracePeriod: string;
    mode: "outOfServiceTaint" | "deleteNode";
    /** false: the liberator's controller scaled to 0 — nothing in the cluster acts on a dead node. */
    liberator: boolean;
}

export interface DrillResult {
    milestones: FailoverMilestones;
    /** Wall time of the old copy's last line. */
    lastOldWrite?: number;
    victim: string;
    newNode?: string;
    claimed?: number;
    tainted?: number;
    nodeDeleted?: number;
    writer: ReturnType<typeof writerOutcome> & { badLines: number; earlierLinesIntact: boolean };
    /** What preparing the drill took (cluster start, pulumi up, nodes back), seconds. */
    prepareS: Record<string, number>;
}

/** The few fields of Nodes, Pods and Leases the drill reads. */
interface Obj {
    metadata: { name: string; uid: string; deletionTimestamp?: string; annotations?: Record<string, string> };
    spec?: { nodeName?: string; taints?: { key: string }[] };
    status?: { conditions?: { type: string; status: string }[] };
}

const readyOf = (n: Obj | undefined): string | undefined => (n?.status?.conditions ?? []).find((c) => c.type === "Ready")?.status;
const tainted = (n: Obj | undefined) => (n?.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE);

export class FailoverRig {
    private grace?: string;
    private stack?: TestStack;
    private api?: Api;
    private mode?: RigConfig["mode"];
    private controllerOn = true;
    private writesFile = "";
    private nodes: string[] = [];

    constructor(private readonly log: (m: string) => void) {}

    /** Everything in place for a drill of `c`: its cluster, the liberator's mode, every node back and settled. */
    async prepare(c: RigConfig): Promise<Record<string, number>> {
        const took: Record<string, number> = {};
        let t = Date.now();
        const mark = (what: string) => {
            took[what] = (Date.now() - t) / 1000;
            t = Date.now();
        };
        if (this.grace !== c.gracePeriod) {
            await this.startCluster(c.gracePeriod);
            mark("cluster+deploy");
        }
        if (this.mode !== c.mode) {
            this.stack!.set({ "pets:liberator": { mode: c.mode } });
            const up = await this.stack!.up();
            this.mode = c.mode;
            this.controllerOn = true; // pulumi applies the Deployment's replicas again
            this.log(`failover: liberator mode ${c.mode} (pulumi up ${up.seconds.toFixed(0)}s)`);
            mark("pulumi up (mode)");
        }
        if (c.liberator && !this.controllerOn) {
            kubectl(["-n", LIB_NS, "scale", "deployment", this.controllerName(), "--replicas=2"]);
            this.controllerOn = true;
        }
        await this.nodesBack();
        mark("nodes back");
        await this.writerRunning();
        await this.liberatorSettled();
        mark("writer + agents settled");
        if (!c.liberator && this.controllerOn) {
            const name = this.controllerName();
            kubectl(["-n", LIB_NS, "scale", "deployment", name, "--replicas=0"]);
            await waitFor(
                "no liberator controller pod",
                async () =>
                    ((await this.api!.get<{ items: Obj[] }>(`/api/v1/namespaces/${LIB_NS}/pods`))?.items ?? []).every((p) => !p.metadata.name.startsWith(name)),
                120_000,
                500,
            );
            this.controllerOn = false;
            mark("controller scaled to 0");
        }
        return took;
    }

    private controllerName(): string {
        const ds = JSON.parse(kubectl(["-n", LIB_NS, "get", "deployments", "-o", "json"])).items as Obj[];
        if (ds.length !== 1) throw new Error(`expected one liberator Deployment in ${LIB_NS}, found ${ds.map((d) => d.metadata.name).join(", ") || "none"}`);
        return ds[0].metadata.name;
    }

    private async startCluster(grace: string): Promise<void> {
        this.close();
        const t0 = Date.now();
        const kc = clusterUp({ fresh: true, realNodes: 3, workers: 0, gracePeriod: grace, env: realNodeEnv() });
        // The drills' helpers read these from the process environment.
        Object.assign(process.env, benchEnv(realNodeEnv()), { PETS_KUBECONFIG: kc });
        this.grace = grace;
        const info = realNodesInfo();
        this.log(
            `failover: cluster up in ${((Date.now() - t0) / 1000).toFixed(0)}s: grace ${info.nodeMonitorGracePeriodSeconds}s, kubelet Lease ${info.kubeletLeaseDurationSeconds}s, real nodes ${info.nodes.map((n) => n.name).join(", ")}`,
        );
        this.nodes = realNodes();
        this.api = new Api(kc);
        this.stack = new TestStack("failover", failoverStackConfig(info, { mode: "outOfServiceTaint" }), { main: FAILOVER_FIXTURE });
        await this.stack.init();
        const up = await this.stack.up();
        this.mode = "outOfServiceTaint";
        this.controllerOn = true;
        this.log(`failover: pulumi up ${up.seconds.toFixed(0)}s`);
        const pvc = JSON.parse(kubectl(["-n", NS, "get", "pvc", `data-${POD}`, "-o", "json"]));
        const pv = JSON.parse(kubectl(["get", "pv", pvc.spec.volumeName, "-o", "json"]));
        this.writesFile = path.join(info.sharedDir, path.relative(info.sharedPathOnNodes, pv.spec.hostPath.path), "writes");
    }

    private writes() {
        const text = fs.readFileSync(this.writesFile, "utf8");
        return { ...parseWrites(text), text };
    }

    /** Every real node running, Ready, without our taint, its claim released. */
    private async nodesBack(): Promise<void> {
        restoreAllRealNodes();
        await waitFor(
            "every real node Ready, untainted, unclaimed",
            async () => {
                for (const n of this.nodes) {
                    const [node, lease] = await Promise.all([this.api!.get(`/api/v1/nodes/${n}`), this.heartbeat(n)]);
                    if (readyOf(node) !== "True" || tainted(node)) return false;
                    if (lease?.metadata?.annotations?.[ANN.claimedBy]) return false;
                }
                return true;
            },
            300_000,
            1000,
        );
    }

    private heartbeat(n: string): Promise<Obj | undefined> {
        return this.api!.get<Obj>(`/apis/coordination.k8s.io/v1/namespaces/${LIB_NS}/leases/heartbeat.${n}`);
    }

    private writerPod(): Promise<Obj | undefined> {
        return this.api!.get<Obj>(`/api/v1/namespaces/${NS}/pods/${POD}`);
    }

    private async writerRunning(): Promise<Obj> {
        return waitFor(
            `${POD} Ready and writing`,
            async () => {
                const p = await this.writerPod();
                if (!p || p.metadata.deletionTimestamp || !isReady(p)) return false;
                const mine = this.writes().writes.filter((w) => w.uid === p.metadata.uid);
                return mine.length > 0 && wallOfUptime(mine[mine.length - 1].t) > Date.now() - 2000 ? p : false;
            },
            300_000,
            500,
        );
    }

    /** Every agent armed, renewing, knowing every other real node as a peer (as the drills wait). */
    private async liberatorSettled(): Promise<void> {
        await waitFor(
            "every agent armed and knowing its peers",
            async () => {
                for (const n of this.nodes) {
                    const a = (await this.heartbeat(n))?.metadata?.annotations ?? {};
                    if (a[ANN.armed] !== "true" || a[ANN.claimedBy]) return false;
                    if (!this.nodes.every((p) => (a[ANN.peers] ?? "").split(",").includes(p))) return false;
                }
                return true;
            },
            300_000,
            1000,
        );
    }

    /** Power loss of the writer's node; milestones until the new copy's first line, or `allowMs`. */
    /**
     * `watchNodeDeleteMs`: in deleteNode mode the Node is deleted after its pods (so after the new
     * copy may already run); keep watching this long after the first line to time it too.
     */
    async drill(allowMs: number, prepareS: Record<string, number>, watchNodeDeleteMs = 0): Promise<DrillResult> {
        const api = this.api!;
        const old = await this.writerRunning();
        const victim = old.spec?.nodeName;
        if (!victim) throw new Error(`${POD} is Ready but has no node`);
        const oldUid: string = old.metadata.uid;
        const snapshot = this.writes().text;
        const killed = Date.now();
        killNode(victim);
        const seen: Record<string, number> = {};
        let newPod: Obj | undefined;
        const mark = (k: string) => (seen[k] ??= Date.now());
        const deadline = killed + allowMs;
        while (Date.now() < deadline) {
            try {
                const [node, lease, pod] = await Promise.all([api.get<Obj>(`/api/v1/nodes/${victim}`), this.heartbeat(victim), this.writerPod()]);
                if (!node) mark("nodeDeleted");
                if (readyOf(node) !== "True") mark("notReady");
                if (tainted(node)) mark("tainted");
                if (lease?.metadata?.annotations?.[ANN.claimedBy]) mark("claimed");
                if (pod?.metadata?.uid !== oldUid) mark("oldPodGone");
                if (pod && pod.metadata.uid !== oldUid) {
                    newPod = pod;
                    if (pod.spec?.nodeName) mark("newPodScheduled");
                    if (isReady(pod)) mark("newPodReady");
                }
                const uid = newPod?.metadata.uid;
                if (uid && seen.newPodReady && this.writes().writes.some((w) => w.uid === uid)) break;
            } catch {
                // a failed poll is retried
            }
            await new Promise((r) => setTimeout(r, 250));
        }
        const until = Date.now() + watchNodeDeleteMs;
        while (seen.newPodReady !== undefined && seen.nodeDeleted === undefined && Date.now() < until) {
            if (!(await api.get<Obj>(`/api/v1/nodes/${victim}`).catch(() => ({}) as Obj))) mark("nodeDeleted");
            else await new Promise((r) => setTimeout(r, 250));
        }
        if (Date.now() >= deadline && seen.newPodReady === undefined && allowMs > 200_000) {
            process.stdout.write(drillDiagnostics([NS], LIB_NS));
        }
        const { writes, bad, text } = this.writes();
        const outcome = writerOutcome(
            writes.filter((w) => w.ordinal === "0"),
            oldUid,
            newPod?.metadata?.uid,
        );
        const milestones: FailoverMilestones = {
            killed,
            ...(seen.notReady !== undefined ? { notReady: seen.notReady } : {}),
            ...(remediationTime(seen) !== undefined ? { remediated: remediationTime(seen) } : {}),
            ...(seen.oldPodGone !== undefined ? { oldPodGone: seen.oldPodGone } : {}),
            ...(seen.newPodScheduled !== undefined ? { newPodScheduled: seen.newPodScheduled } : {}),
            ...(seen.newPodReady !== undefined ? { newPodReady: seen.newPodReady } : {}),
            ...(outcome.newFirst !== undefined ? { firstByte: Math.round(wallOfUptime(outcome.newFirst)) } : {}),
        };
        return {
            milestones,
            ...(outcome.oldLast !== undefined ? { lastOldWrite: Math.round(wallOfUptime(outcome.oldLast)) } : {}),
            victim,
            ...(newPod?.spec?.nodeName ? { newNode: newPod.spec.nodeName } : {}),
            ...(seen.claimed !== undefined ? { claimed: seen.claimed } : {}),
            ...(seen.tainted !== undefined ? { tainted: seen.tainted } : {}),
            ...(seen.nodeDeleted !== undefined ? { nodeDeleted: seen.nodeDeleted } : {}),
            writer: { ...outcome, badLines: bad.length, earlierLinesIntact: text.startsWith(snapshot) },
            prepareS,
        };
    }

    close(): void {
        this.api?.close();
        this.api = undefined;
        this.stack?.cleanup(); // its cluster is stopped or started afresh: nothing to destroy
        this.stack = undefined;
        this.grace = undefined;
        this.mode = undefined;
    }
}
