/**
 * The deciding controller (a Deployment of two replicas; only the leader acts). Informers on
 * Nodes, kubelet Leases, the Leases in its own namespace (leader + the agents' heartbeats), the
 * agent pods and, if wanted, PersistentVolumes; then, on every change and at the next deadline
 * `decide` names, one reconcile that turns decisions into API calls, Events, logs and metrics.
 * Every duration is measured on the monotonic clock.
 */
import { Clock, rfc3339, systemClock } from "./clock";
import { Config } from "./config";
import { ANN, freshWindowMs, FenceTiming, heartbeatNode, LIMITS, STATEFULSET_POD_LABEL } from "./contract";
import {
    Action,
    ConditionStatus,
    decide,
    Decision,
    DecideMemory,
    decideOrphanedVolumes,
    FenceState,
    HeartbeatView,
    HOSTNAME_LABEL,
    LOCAL_VOLUME_POLICY_KEY,
    NodeView,
    Observations,
    OUT_OF_SERVICE_TAINT,
    pinnedNodes,
    PodView,
    pvOnNode,
    PvView,
    ReleaseView,
    Report,
    TAINTED_ANNOTATION,
    Taint,
    trackOrphans,
} from "./decide";
import { FenceConfig, FenceResult, runFence } from "./fence";
import { Informer, InformerEvent, isConflict, isNotFound, KObject, KubeClient } from "./kube";
import { LeaderElector, LeaseObject } from "./leader";
import { Health, Logger, Metrics } from "./metrics";

export const NODE_LEASE_NAMESPACE = "kube-node-lease";
/** Events about cluster-scoped objects (Nodes, PVs) must live in "default". */
export const EVENT_NAMESPACE = "default";
export const COMPONENT = "liberator";
/** The controller is unhealthy after this long without an answer from the API server. */
export const API_SILENCE_LIMIT_MS = 30_000;

interface NodeObject extends KObject {
    spec: { taints?: Taint[] };
    status: { conditions?: { type: string; status: ConditionStatus }[] };
}

/** Keeps only what decisions read: Node objects carry image lists and more we never need. */
export function slimNode(o: any): NodeObject {
    const ann = o.metadata?.annotations ?? {};
    return {
        metadata: {
            name: o.metadata.name,
            uid: o.metadata.uid,
            resourceVersion: o.metadata.resourceVersion,
            labels: o.metadata.labels ?? {},
            annotations: TAINTED_ANNOTATION in ann ? { [TAINTED_ANNOTATION]: ann[TAINTED_ANNOTATION] } : {},
        },
        spec: { taints: o.spec?.taints ?? [] },
        status: { conditions: (o.status?.conditions ?? []).filter((c: any) => c.type === "Ready").map((c: any) => ({ type: c.type, status: c.status })) },
    };
}

/** Keeps the spec and our own annotations. */
export function slimLease(o: any): LeaseObject {
    const ann: Record<string, string> = o.metadata?.annotations ?? {};
    const ours: Record<string, string> = {};
    for (const [k, v] of Object.entries(ann)) if (k.startsWith("liberator.pets/")) ours[k] = v;
    return {
        metadata: {
            name: o.metadata.name,
            namespace: o.metadata.namespace,
            uid: o.metadata.uid,
            resourceVersion: o.metadata.resourceVersion,
            annotations: ours,
        },
        spec: o.spec ?? {},
    };
}

function slimPod(o: any): KObject {
    return { metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion } };
}

function slimPv(o: any): KObject {
    return {
        metadata: { name: o.metadata.name, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion },
        spec: {
            nodeAffinity: o.spec?.nodeAffinity,
            persistentVolumeReclaimPolicy: o.spec?.persistentVolumeReclaimPolicy ?? "",
            claimRef: o.spec?.claimRef ? { namespace: o.spec.claimRef.namespace, name: o.spec.claimRef.name } : undefined,
        },
        status: { phase: o.status?.phase ?? "" },
    };
}

export function readyStatus(n: NodeObject): ConditionStatus {
    const c = (n.status.conditions ?? []).find((x) => x.type === "Ready");
    return c?.status === "True" || c?.status === "False" ? c.status : "Unknown";
}

/** T_sf, T_exec and H an agent advertises, or undefined when missing or out of bounds. */
export function advertisedTiming(ann: Record<string, string>): FenceTiming | undefined {
    // Below the agents' own minimums is fine (a faster fence only helps); above the maximums or
    // not a number means something is wrong: treat the agent as not armed.
    const secs = (key: string, [, max]: readonly [number, number]) => {
        const v = ann[key];
        if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) return undefined;
        const n = Number(v);
        return n > 0 && n <= max ? n * 1000 : undefined;
    };
    const selfFenceMs = secs(ANN.selfFenceSeconds, LIMITS.selfFenceSeconds);
    const fenceExecMs = secs(ANN.fenceExecSeconds, LIMITS.fenceExecSeconds);
    const renewIntervalMs = secs(ANN.renewIntervalSeconds, LIMITS.renewIntervalSeconds);
    if (selfFenceMs === undefined || fenceExecMs === undefined || renewIntervalMs === undefined) return undefined;
    return { selfFenceMs, fenceExecMs, renewIntervalMs };
}

/** What a heartbeat Lease says, with our observations of it. */
export function heartbeatView(lease: LeaseObject, observations: Observations, node: string): HeartbeatView {
    const ann = lease.metadata.annotations ?? {};
    const seen = observations.lease(`heartbeat/${node}`);
    const by = ann[ANN.claimedBy];
    return {
        name: lease.metadata.name,
        resourceVersion: lease.metadata.resourceVersion ?? "",
        renewedAt: lease.spec?.renewTime ? seen?.at : undefined,
        freshSince: lease.spec?.renewTime ? seen?.runStart : undefined,
        armed: ann[ANN.armed] === "true",
        participant: ANN.armedSince in ann,
        timing: advertisedTiming(ann),
        peers: (ann[ANN.peers] ?? "").split(",").filter((p: string) => p !== ""),
        ...(by ? { claim: { by, phase: ann[ANN.claimPhase] === "remediated" ? ("remediated" as const) : ("claimed" as const) } } : {}),
    };
}

export interface ControllerOptions {
    config: Config;
    client: KubeClient;
    namespace: string;
    log: Logger;
    metrics: Metrics;
    clock?: Clock;
    fenceRunner?: (cfg: FenceConfig, node: string, reason: string) => Promise<FenceResult>;
    /** Reconcile at least this often even without events (no API calls; a safety net). @default 60000 */
    resyncMs?: number;
    /** Collapse bursts of events into one reconcile. @default 200 */
    debounceMs?: number;
}

export class Controller {
    readonly nodes: Informer<NodeObject>;
    readonly nodeLeases: Informer<LeaseObject>;
    readonly ownLeases: Informer<LeaseObject>;
    readonly agentPods?: Informer<KObject>;
    readonly pvs?: Informer<KObject>;
    readonly elector: LeaderElector;
    readonly observations = new Observations();
    readonly startedAt: number;
    lastDecision?: Decision;
    private memory: DecideMemory = { stormActive: false };
    private readonly lastStates = new Map<string, string>();
    private readonly podListings = new Map<string, NonNullable<NodeView["pods"]>>();
    private readonly fences = new Map<string, FenceState>();
    /** ns/pvc → what to give up once its node is remediated (delete-pvc). */
    private readonly releases = new Map<string, ReleaseView & { checkedAt?: number; addedAt: number }>();
    private recentlyDeleted: { name: string; at: number }[] = [];
    private orphanSince: Record<string, number> = {};
    /** heartbeat Lease name → monotonic time its agent pod was first seen gone. */
    private agentGoneSince = new Map<string, number>();
    /** subject → last reported reason, so an Event is recorded once per change, not per reconcile. */
    private readonly reported = new Map<string, string>();
    private readonly backoff = new Map<string, { until: number; failures: number }>();
    /** Node → the resourceVersion we last wrote against: skip it until the watch shows our write. */
    private readonly awaiting = new Map<string, { rv: string; until: number }>();
    private timer?: NodeJS.Timeout;
    private deadlineTimer?: NodeJS.Timeout;
    private resyncTimer?: NodeJS.Timeout;
    private healthTimer?: NodeJS.Timeout;
    private running = false;
    private again = false;
    private stopped = true;
    private reconciling?: Promise<void>;
    private wasHealthy = true;
    private readonly clock: Clock;
    private readonly cfg: Config;
    private readonly log: Logger;
    private readonly metrics: Metrics;
    private readonly client: KubeClient;

    constructor(private readonly opts: ControllerOptions) {
        this.cfg = opts.config;
        this.log = opts.log;
        this.metrics = opts.metrics;
        this.client = opts.client;
        this.clock = opts.clock ?? systemClock;
        const now = () => this.clock.mono();
        this.startedAt = now();
        const onError = (what: string) => (e: unknown, phase: string) => {
            this.metrics.inc("liberator_watch_errors_total", "Watch and list errors by resource and phase.", { resource: what, phase });
            (phase === "gone" ? this.log.info : this.log.warn)(
                phase === "gone" ? "resourceVersion expired; listing again" : "watch failed; retrying with backoff",
                { resource: what, phase, error: String((e as Error)?.message ?? e) },
            );
        };
        // Kubelets renew every 10 s and agents every few seconds, so a silent Lease watch is a broken one.
        const leaseIdle = 30_000;
        this.nodes = new Informer<NodeObject>(this.client, "nodes", {
            path: "/api/v1/nodes",
            transform: slimNode,
            idleTimeoutMs: 150_000,
            onEvent: (e) => this.onNode(e),
            onError: onError("nodes"),
            now,
        });
        this.nodeLeases = new Informer<LeaseObject>(this.client, "node-leases", {
            path: `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`,
            transform: slimLease,
            idleTimeoutMs: leaseIdle,
            onEvent: (e) => this.onNodeLease(e),
            onError: onError("node-leases"),
            now,
        });
        this.ownLeases = new Informer<LeaseObject>(this.client, "leases", {
            path: `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`,
            transform: slimLease,
            idleTimeoutMs: leaseIdle,
            onEvent: (e) => this.onOwnLease(e),
            onError: onError("leases"),
            now,
        });
        if (this.cfg.agentSelector) {
            this.agentPods = new Informer<KObject>(this.client, "agent-pods", {
                path: `/api/v1/namespaces/${opts.namespace}/pods`,
                labelSelector: this.cfg.agentSelector,
                transform: slimPod,
                idleTimeoutMs: 600_000,
                onEvent: () => this.reconcileSoon(),
                onError: onError("agent-pods"),
                now,
            });
        }
        if (this.cfg.decide.orphanedVolumes !== "ignore") {
            this.pvs = new Informer<KObject>(this.client, "persistentvolumes", {
                path: "/api/v1/persistentvolumes",
                transform: slimPv,
                idleTimeoutMs: 600_000,
                onEvent: () => this.reconcileSoon(),
                onError: onError("persistentvolumes"),
                now,
            });
        }
        this.elector = new LeaderElector(this.client, {
            namespace: opts.namespace,
            name: this.cfg.leaseName,
            identity: this.cfg.identity,
            leaseDurationMs: this.cfg.leaseDurationMs,
            renewDeadlineMs: this.cfg.renewDeadlineMs,
            retryPeriodMs: this.cfg.retryPeriodMs,
            clock: this.clock,
            readCached: () => (this.ownLeases.synced ? this.ownLeases.store.get(`${opts.namespace}/${this.cfg.leaseName}`) : "unsynced"),
            onChange: (leader) => {
                this.log.info(leader ? "became leader" : "not the leader any more", { identity: this.cfg.identity, lease: this.cfg.leaseName });
                this.metrics.set("liberator_leader", "1 while this replica holds the leader Lease.", leader ? 1 : 0);
                this.reconcileSoon();
            },
            onError: (e) => this.log.debug("leader election round failed", { error: String((e as Error)?.message ?? e) }),
        });
        this.metrics.set("liberator_leader", "1 while this replica holds the leader Lease.", 0);
        this.metrics.set("liberator_dry_run", "1 when the liberator only reports.", this.cfg.decide.dryRun ? 1 : 0);
        this.metrics.set("liberator_unsafe_no_fencing", "1 when nodes nothing fences are remediated anyway (unsafe).", this.cfg.decide.unsafeNoFencing ? 1 : 0);
        for (const r of ["success", "failure"]) {
            for (const a of ACTION_KINDS) {
                this.metrics.declare("liberator_actions_total", "Remediation actions taken, by action and result.", "counter", { action: a, result: r });
            }
        }
    }

    private now(): number {
        return this.clock.mono();
    }

    // --- informer events -------------------------------------------------------------------

    private onNode(e: InformerEvent<NodeObject>): void {
        const now = this.now();
        if (e.type === "SYNC") {
            const names = new Set(e.objects.map((n) => n.metadata.name));
            for (const n of e.objects) this.observations.observeNode(n.metadata.name, readyStatus(n), now);
            for (const name of [...this.podListings.keys(), ...this.fences.keys()]) if (!names.has(name)) this.forgetNode(name);
        } else if (e.type === "DELETED") this.forgetNode(e.object.metadata.name);
        else this.observations.observeNode(e.object.metadata.name, readyStatus(e.object), now);
        this.reconcileSoon();
    }

    private forgetNode(name: string): void {
        this.observations.forgetNode(name);
        this.podListings.delete(name);
        this.fences.delete(name);
        this.reported.delete(`node/${name}`);
        this.backoff.delete(name);
        this.awaiting.delete(name);
        this.awaiting.delete(`lease:${name}`);
    }

    private onNodeLease(e: InformerEvent<LeaseObject>): void {
        const now = this.now();
        const items = e.type === "SYNC" ? e.objects : [e.object];
        if (e.type === "DELETED") this.observations.forgetLease(`kubelet/${e.object.metadata.name}`);
        else for (const l of items) this.observations.observeLease(`kubelet/${l.metadata.name}`, l.spec?.renewTime, now);
        this.reconcileSoon();
    }

    private onOwnLease(e: InformerEvent<LeaseObject>): void {
        const now = this.now();
        const items = e.type === "SYNC" ? e.objects : [e.object];
        for (const l of items) {
            const node = heartbeatNode(l);
            if (node === undefined) continue;
            if (e.type === "DELETED") this.observations.forgetLease(`heartbeat/${node}`);
            else {
                const h = advertisedTiming(l.metadata.annotations ?? {})?.renewIntervalMs ?? this.cfg.decide.renewIntervalMs;
                this.observations.observeLease(`heartbeat/${node}`, l.spec?.renewTime, now, freshWindowMs({ renewIntervalMs: h }));
            }
        }
        this.reconcileSoon();
    }

    // --- lifecycle -------------------------------------------------------------------------

    start(): void {
        if (!this.stopped) return;
        this.stopped = false;
        this.nodes.start();
        this.nodeLeases.start();
        this.ownLeases.start();
        this.agentPods?.start();
        this.pvs?.start();
        this.elector.start();
        if (this.cfg.decide.unsafeNoFencing) {
            this.log.warn("UNSAFE: unsafeNoFencing is set; nodes that nothing fences are remediated anyway, so two copies of a pod may run at once", {});
            this.event(
                { kind: "Lease", name: this.cfg.leaseName, namespace: this.opts.namespace },
                "UnsafeNoFencing",
                "unsafeNoFencing is set: nodes with no armed agent and no fence hook are remediated anyway; a node that is only cut off may run its pods twice",
                true,
            );
        }
        const resync = () => {
            this.reconcileSoon(0);
            this.resyncTimer = setTimeout(resync, this.opts.resyncMs ?? 60_000);
        };
        this.resyncTimer = setTimeout(resync, this.opts.resyncMs ?? 60_000);
        const watchdog = () => {
            this.checkHealth();
            this.healthTimer = setTimeout(watchdog, 5_000);
        };
        this.healthTimer = setTimeout(watchdog, 5_000);
    }

    async stop(): Promise<void> {
        this.stopped = true;
        for (const t of [this.timer, this.deadlineTimer, this.resyncTimer, this.healthTimer]) if (t) clearTimeout(t);
        await this.reconciling;
        await this.elector.stop(true);
        await Promise.all([this.nodes.stop(), this.nodeLeases.stop(), this.ownLeases.stop(), this.agentPods?.stop(), this.pvs?.stop()]);
    }

    reconcileSoon(delay = this.opts.debounceMs ?? 200): void {
        if (this.stopped) return;
        if (this.running) {
            this.again = true;
            return;
        }
        // Coalesce, never postpone: with a steady stream of Lease renewals a debounce that restarts
        // its timer on every event would never fire.
        if (this.timer) {
            if (delay > 0) return;
            clearTimeout(this.timer);
        }
        this.timer = setTimeout(() => {
            this.timer = undefined;
            this.reconciling = this.reconcile();
        }, delay);
    }

    // --- health ----------------------------------------------------------------------------

    /** Unhealthy when the API server has not answered for API_SILENCE_LIMIT_MS. */
    health(now = this.now()): Health {
        const problems: string[] = [];
        const contact = Math.max(this.client.lastContactAt, this.startedAt);
        if (now - contact > API_SILENCE_LIMIT_MS) problems.push(`no answer from the API server for ${Math.round((now - contact) / 1000)}s`);
        return { ok: problems.length === 0, problems };
    }

    private checkHealth(): void {
        const now = this.now();
        const h = this.health(now);
        this.metrics.set("liberator_healthy", "1 while this replica reaches the API server.", h.ok ? 1 : 0);
        this.metrics.set(
            "liberator_api_last_contact_age_seconds",
            "Seconds since the API server last answered.",
            this.client.lastContactAt ? (now - this.client.lastContactAt) / 1000 : -1,
        );
        if (!h.ok && this.wasHealthy) this.log.error("cannot reach the API server; not acting", { problems: h.problems });
        else if (h.ok && !this.wasHealthy) this.log.info("API server reachable again", {});
        this.wasHealthy = h.ok;
    }

    // --- reconcile -------------------------------------------------------------------------

    cacheFresh(now = this.now()): boolean {
        return this.nodes.fresh(now) && this.nodeLeases.fresh(now) && this.ownLeases.fresh(now);
    }

    /** The heartbeat Lease of each node, by node name. */
    heartbeats(): Map<string, LeaseObject> {
        const out = new Map<string, LeaseObject>();
        for (const l of this.ownLeases.list()) {
            const n = heartbeatNode(l);
            if (n !== undefined) out.set(n, l);
        }
        return out;
    }

    nodeViews(): NodeView[] {
        const heartbeats = this.heartbeats();
        return this.nodes.list().map((n) => {
            const name = n.metadata.name;
            const hb = heartbeats.get(name);
            const kubelet = this.nodeLeases.store.has(`${NODE_LEASE_NAMESPACE}/${name}`) ? this.observations.lease(`kubelet/${name}`) : undefined;
            return {
                name,
                uid: n.metadata.uid ?? "",
                resourceVersion: n.metadata.resourceVersion ?? "",
                labels: n.metadata.labels ?? {},
                annotations: n.metadata.annotations ?? {},
                taints: n.spec.taints ?? [],
                ready: readyStatus(n),
                notReadySince: this.observations.notReadySince(name),
                kubeletLeaseAt: kubelet?.at,
                kubeletLeaseInitial: kubelet?.initial,
                heartbeat: hb ? heartbeatView(hb, this.observations, name) : undefined,
                pods: this.podListings.get(name),
                fence: this.fences.get(name),
            };
        });
    }

    async reconcile(): Promise<void> {
        if (this.running) {
            this.again = true;
            return;
        }
        this.running = true;
        try {
            do {
                this.again = false;
                await this.reconcileOnce();
            } while (this.again && !this.stopped);
        } catch (e) {
            this.log.error("reconcile failed", { error: String((e as Error)?.stack ?? e) });
        } finally {
            this.running = false;
        }
    }

    private async reconcileOnce(): Promise<void> {
        let now = this.now();
        const leader = this.elector.isLeader(now);
        const cacheFresh = this.cacheFresh(now);
        this.recentlyDeleted = this.recentlyDeleted.filter((d) => now - d.at < this.cfg.decide.stormWindowMs);
        if (leader && cacheFresh && this.cfg.decide.releaseLocalVolumes) {
            await this.refreshReleases();
            now = this.now();
        }
        const nodes = this.nodeViews();
        const d = decide({
            now,
            config: this.cfg.decide,
            leader,
            cacheFresh,
            nodes,
            recentlyDeleted: this.recentlyDeleted,
            releases: [...this.releases.values()],
            memory: this.memory,
        });
        this.memory = d.memory;
        if (d.blocked === "cache-stale" && this.lastDecision?.blocked !== "cache-stale") {
            this.log.warn("leader holds back: the watch cache is not current", {
                nodes: this.nodes.fresh(now),
                nodeLeases: this.nodeLeases.fresh(now),
                leases: this.ownLeases.fresh(now),
            });
        }
        if (d.storm && !this.lastDecision?.storm) {
            this.log.error("too many unhealthy nodes: remediation suspended", { unhealthy: d.unhealthy, maxUnhealthy: d.allowed });
        }
        this.lastDecision = d;
        for (const n of nodes) {
            const prev = this.lastStates.get(n.name);
            if (prev !== d.states[n.name]) {
                (d.states[n.name] === "healthy" ? this.log.info : this.log.warn)("node state changed", {
                    node: n.name,
                    from: prev ?? null,
                    to: d.states[n.name],
                    why: d.why[n.name],
                });
                this.lastStates.set(n.name, d.states[n.name]);
            }
        }
        for (const name of this.lastStates.keys()) if (!(name in d.states)) this.lastStates.delete(name);
        for (const n of nodes) if (d.states[n.name] === "healthy") this.clearEpisode(n.name);
        for (const r of d.reports) this.report(`node/${r.node}`, r, { kind: "Node", name: r.node, uid: nodes.find((n) => n.name === r.node)?.uid });
        if (d.storm && leader) this.metrics.inc("liberator_storm_reconciles_total", "Reconciles in which too many nodes were unhealthy to act.");
        await this.execute(d.actions, nodes);

        let nextCheckAt = d.nextCheckAt;
        const later = (t: number | undefined) => (nextCheckAt = t === undefined ? nextCheckAt : nextCheckAt === undefined ? t : Math.min(nextCheckAt, t));
        const orphaned = await this.orphanedVolumes(now, leader, cacheFresh, nodes, later);
        if (leader && cacheFresh) await this.cleanUpHeartbeats(now, nodes, later);

        this.publish(d, nodes, cacheFresh, orphaned);
        for (const b of this.backoff.values()) later(b.until);
        for (const r of this.releases.values()) if (r.checkedAt !== undefined) later(r.checkedAt + this.cfg.decide.podRecheckMs);
        if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
        if (nextCheckAt !== undefined && !this.stopped) {
            this.deadlineTimer = setTimeout(() => this.reconcileSoon(0), Math.max(0, nextCheckAt - this.now()) + 20);
        }
    }

    private async orphanedVolumes(now: number, leader: boolean, cacheFresh: boolean, nodes: NodeView[], later: (t?: number) => void): Promise<number> {
        if (!this.pvs) return 0;
        const pvViews: PvView[] = this.pvs.list().map((pv) => ({
            name: pv.metadata.name,
            uid: pv.metadata.uid ?? "",
            resourceVersion: pv.metadata.resourceVersion ?? "",
            phase: pv.status?.phase ?? "",
            reclaimPolicy: pv.spec?.persistentVolumeReclaimPolicy ?? "",
            claim: pv.spec?.claimRef ? `${pv.spec.claimRef.namespace}/${pv.spec.claimRef.name}` : undefined,
            pinnedTo: pinnedNodes(pv),
        }));
        const o = decideOrphanedVolumes({
            now,
            config: this.cfg.decide,
            leader: this.elector.isLeader(this.now()),
            cacheFresh: cacheFresh && this.pvs.fresh(now),
            nodes: nodes.map((n) => ({ name: n.name, labels: n.labels })),
            pvs: pvViews,
            orphanSince: this.orphanSince,
        });
        if (leader && cacheFresh) this.orphanSince = trackOrphans(this.orphanSince, o.orphaned, now);
        for (const r of o.reports)
            this.report(
                `pv/${r.pv}`,
                { node: r.pv, reason: r.reason, message: r.message, warning: r.warning },
                { kind: "PersistentVolume", name: r.pv, uid: pvViews.find((p) => p.name === r.pv)?.uid },
            );
        for (const a of o.actions) {
            if (!this.elector.isLeader(this.now())) break;
            try {
                await this.client.delete(`/api/v1/persistentvolumes/${a.name}`, { preconditions: { uid: a.uid, resourceVersion: a.resourceVersion } });
                this.count("deletePv", true);
                this.log.warn("deleted orphaned PV", { pv: a.name });
                this.event(
                    { kind: "PersistentVolume", name: a.name, uid: a.uid },
                    "OrphanedVolumeDeleted",
                    "deleted PV pinned to a node that no longer exists",
                    true,
                );
            } catch (e) {
                if (isNotFound(e)) continue;
                this.count("deletePv", false);
                this.log.error("could not delete orphaned PV", { pv: a.name, error: String((e as Error).message) });
            }
        }
        later(o.nextCheckAt);
        return o.orphaned.length;
    }

    /**
     * A heartbeat Lease outlives its agent when the pod is evicted, deleted or moved; a stale one
     * would then read as "agent gone since" forever. Delete Leases whose agent pod (the holder) has
     * been gone for the grace period, unless claimed or renewed meanwhile.
     */
    private async cleanUpHeartbeats(now: number, nodes: NodeView[], later: (t?: number) => void): Promise<void> {
        if (!this.agentPods?.fresh(now)) return;
        const pods = new Set(this.agentPods.list().map((p) => p.metadata.name));
        const nodeNames = new Set(nodes.map((n) => n.name));
        const seen = new Set<string>();
        for (const [node, lease] of this.heartbeats()) {
            const name = lease.metadata.name;
            seen.add(name);
            const holder = lease.spec?.holderIdentity ?? "";
            const claimed = ANN.claimedBy in (lease.metadata.annotations ?? {});
            const view = heartbeatView(lease, this.observations, node);
            const fresh = view.renewedAt !== undefined && now - view.renewedAt < freshWindowMs({ renewIntervalMs: view.timing?.renewIntervalMs ?? 5000 });
            const gone = !claimed && !fresh && (!pods.has(holder) || !nodeNames.has(node));
            if (!gone) {
                this.agentGoneSince.delete(name);
                continue;
            }
            const since = this.agentGoneSince.get(name) ?? now;
            this.agentGoneSince.set(name, since);
            if (now - since < this.cfg.orphanedHeartbeatMs) {
                later(since + this.cfg.orphanedHeartbeatMs);
                continue;
            }
            if (this.cfg.decide.dryRun) continue;
            try {
                await this.client.delete(`/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${name}`, {
                    preconditions: { uid: lease.metadata.uid, resourceVersion: lease.metadata.resourceVersion },
                });
                this.count("deleteHeartbeat", true);
                this.log.warn("deleted the heartbeat Lease of an agent that is gone", { node, lease: name, holder });
                this.agentGoneSince.delete(name);
            } catch (e) {
                if (isNotFound(e) || isConflict(e)) continue;
                this.count("deleteHeartbeat", false);
                this.log.error("could not delete a stale heartbeat Lease", { lease: name, error: String((e as Error).message) });
            }
        }
        for (const name of this.agentGoneSince.keys()) if (!seen.has(name)) this.agentGoneSince.delete(name);
    }

    private clearEpisode(node: string): void {
        this.awaiting.delete(node);
        this.awaiting.delete(`lease:${node}`);
        this.reported.delete(`node/${node}`);
        this.fences.delete(node);
        this.podListings.delete(node);
        this.backoff.delete(node);
        for (const [k, r] of this.releases) if (r.node === node) this.releases.delete(k);
    }

    private publish(d: Decision, nodes: NodeView[], cacheFresh: boolean, orphaned: number): void {
        const m = this.metrics;
        const counts: Record<string, number> = {
            healthy: 0,
            suspect: 0,
            unconfirmed: 0,
            unprotected: 0,
            failed: 0,
            remediating: 0,
            remediated: 0,
            recovering: 0,
        };
        for (const n of nodes) counts[d.states[n.name]]++;
        m.reset("liberator_nodes");
        for (const [state, v] of Object.entries(counts)) m.set("liberator_nodes", "Nodes by liberator state.", v, { state });
        m.set("liberator_unhealthy_nodes", "Nodes that are not Ready (plus nodes deleted within the storm window).", d.unhealthy);
        m.set("liberator_max_unhealthy", "Most unhealthy nodes at which the liberator still acts.", d.allowed);
        m.set("liberator_storm", "1 while more nodes are unhealthy than maxUnhealthy allows, so nothing is remediated.", d.storm ? 1 : 0);
        m.set("liberator_storm_cooldown", "1 while remediation waits for the storm cooldown.", d.cooldownUntil !== undefined ? 1 : 0);
        m.set("liberator_participants", "Nodes whose agent armed at least once.", d.quorum.participants);
        m.set("liberator_participants_settled", "Participants with fresh heartbeats for the whole settle period.", d.quorum.settled);
        m.set("liberator_quorum", "1 while at least half of the participants have settled heartbeats.", d.quorum.ok ? 1 : 0);
        m.set("liberator_cache_fresh", "1 while every watch is open and current.", cacheFresh ? 1 : 0);
        m.set("liberator_orphaned_volumes", "PVs pinned to nodes that no longer exist.", orphaned);
        for (const inf of [this.nodes, this.nodeLeases, this.ownLeases, ...(this.agentPods ? [this.agentPods] : []), ...(this.pvs ? [this.pvs] : [])]) {
            m.set("liberator_watch_lists_total", "Complete lists, by resource (relists after 410 Gone included).", inf.stats.lists, { resource: inf.name });
            m.set("liberator_watch_bookmarks_total", "Bookmarks received, by resource.", inf.stats.bookmarks, { resource: inf.name });
        }
    }

    private count(action: string, ok: boolean): void {
        this.metrics.inc("liberator_actions_total", "Remediation actions taken, by action and result.", { action, result: ok ? "success" : "failure" });
    }

    /** Records a report once per subject and reason: logs it and writes an Event. */
    private report(subject: string, r: Report, obj: { kind: string; name: string; uid?: string }): void {
        if (this.reported.get(subject) === r.reason) return;
        this.reported.set(subject, r.reason);
        this.metrics.inc("liberator_reports_total", "Decisions reported without action, by reason.", { reason: r.reason });
        (r.warning ? this.log.warn : this.log.info)(r.message, { [obj.kind === "Node" ? "node" : "pv"]: obj.name, reason: r.reason });
        this.event(obj, r.reason, r.message, r.warning);
    }

    /** Writes a core/v1 Event; failures are logged, never fatal. */
    event(obj: { kind: string; name: string; uid?: string; namespace?: string }, reason: string, message: string, warning: boolean): void {
        const t = rfc3339(this.clock.wall());
        const namespace = obj.namespace ?? EVENT_NAMESPACE;
        const apiVersion = obj.kind === "Lease" ? "coordination.k8s.io/v1" : "v1";
        const body = {
            apiVersion: "v1",
            kind: "Event",
            metadata: { generateName: `${obj.name}.`, namespace },
            involvedObject: {
                apiVersion,
                kind: obj.kind,
                name: obj.name,
                ...(obj.namespace ? { namespace: obj.namespace } : {}),
                ...(obj.uid ? { uid: obj.uid } : {}),
            },
            reason,
            message: message.slice(0, 1024),
            type: warning ? "Warning" : "Normal",
            source: { component: COMPONENT },
            firstTimestamp: t,
            lastTimestamp: t,
            count: 1,
        };
        this.client
            .create(`/api/v1/namespaces/${namespace}/events`, body)
            .catch((e) => this.log.warn("could not record event", { reason, object: obj.name, error: String((e as Error).message) }));
    }

    private async execute(actions: Action[], nodes: NodeView[]): Promise<void> {
        const byNode = new Map<string, Action[]>();
        for (const a of actions) byNode.set(a.node, [...(byNode.get(a.node) ?? []), a]);
        for (const [node, list] of byNode) {
            const b = this.backoff.get(node);
            if (b && this.now() < b.until) continue;
            const view = nodes.find((n) => n.name === node);
            // Skip a node until the watch shows our last write (to the Node or to its Lease).
            const wait = this.awaiting.get(node);
            if (wait && view && wait.rv === view.resourceVersion && this.now() < wait.until) continue;
            this.awaiting.delete(node);
            const leaseWait = this.awaiting.get(`lease:${node}`);
            if (leaseWait && view?.heartbeat && leaseWait.rv === view.heartbeat.resourceVersion && this.now() < leaseWait.until) continue;
            this.awaiting.delete(`lease:${node}`);
            let touchedPods = false;
            let ok = true;
            for (const a of list) {
                // Leadership can lapse while we work; never act on a lapsed one.
                if (!this.elector.isLeader(this.now())) return;
                touchedPods ||= a.kind === "forceDeletePod";
                try {
                    await this.perform(a, view);
                    if ((a.kind === "taint" || a.kind === "untaint" || a.kind === "deleteNode") && view)
                        this.awaiting.set(node, { rv: view.resourceVersion, until: this.now() + 10_000 });
                    if ((a.kind === "claim" || a.kind === "markRemediated" || a.kind === "releaseClaim") && view?.heartbeat)
                        this.awaiting.set(`lease:${node}`, { rv: view.heartbeat.resourceVersion, until: this.now() + 10_000 });
                } catch (e) {
                    ok = false;
                    if (isConflict(e)) {
                        // The object changed since we decided (for a claim: the agent renewed, and
                        // the clock starts again); decide again on the newer state.
                        this.count(a.kind, false);
                        this.log.info("conflict; deciding again on the current state", { node, action: a.kind });
                        break;
                    }
                    this.count(a.kind, false);
                    const prev = this.backoff.get(node)?.failures ?? 0;
                    const delay = Math.min(300_000, 5_000 * 2 ** prev);
                    this.backoff.set(node, { until: this.now() + delay, failures: prev + 1 });
                    this.log.error("action failed; retrying later", {
                        node,
                        action: a.kind,
                        retryInSeconds: delay / 1000,
                        error: String((e as Error)?.message ?? e),
                    });
                    break;
                }
            }
            if (ok) this.backoff.delete(node);
            const listing = this.podListings.get(node);
            if (touchedPods && listing) listing.attemptedAt = this.now();
        }
    }

    private leasePath(name: string): string {
        return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${name}`;
    }

    private async perform(a: Action, view: NodeView | undefined): Promise<void> {
        const nodePath = `/api/v1/nodes/${a.node}`;
        const nodeRef = { kind: "Node", name: a.node, uid: view?.uid };
        const since = rfc3339(this.clock.wall());
        switch (a.kind) {
            case "claim": {
                // Compare-and-swap on the version we observed: if the agent renewed since, this
                // fails with 409 and the node's clock starts again.
                await this.client.mergePatch(this.leasePath(a.lease), {
                    metadata: {
                        resourceVersion: a.resourceVersion,
                        annotations: { [ANN.claimedBy]: this.cfg.identity, [ANN.claimedAt]: since, [ANN.claimPhase]: "claimed" },
                    },
                    spec: { holderIdentity: `${COMPONENT}/${this.cfg.identity}` },
                });
                this.count("claim", true);
                this.log.warn("node failed: claimed its heartbeat Lease", { node: a.node, why: view ? this.why(view) : "" });
                this.event(nodeRef, "Claimed", `node failed (${view ? this.why(view) : "dead"}): claimed its heartbeat Lease; its agent has fenced it`, true);
                return;
            }
            case "markRemediated": {
                await this.client.mergePatch(this.leasePath(a.lease), {
                    metadata: { resourceVersion: a.resourceVersion, annotations: { [ANN.claimPhase]: "remediated" } },
                });
                this.count("markRemediated", true);
                this.log.info("node remediated: its StatefulSet pods are gone from the API", { node: a.node });
                return;
            }
            case "releaseClaim": {
                await this.client.mergePatch(this.leasePath(a.lease), {
                    metadata: { resourceVersion: a.resourceVersion, annotations: { [ANN.claimedBy]: null, [ANN.claimedAt]: null, [ANN.claimPhase]: null } },
                    spec: { holderIdentity: null },
                });
                this.count("releaseClaim", true);
                this.log.info("node Ready again: released the claim on its heartbeat Lease", { node: a.node });
                this.event(nodeRef, "ClaimReleased", "node is Ready again: released the claim; its agent renews its heartbeat again", false);
                return;
            }
            case "listPods": {
                await this.listPods(a.node, view);
                return;
            }
            case "fence": {
                const fence = this.cfg.fence;
                if (!fence) return;
                const runner = this.opts.fenceRunner ?? runFence;
                this.fences.set(a.node, { state: "running", at: this.now() });
                this.log.warn("running the fence hook before the taint", { node: a.node });
                this.event(nodeRef, "Fencing", "running the fence hook before remediation", true);
                // In the background: a slow hook must not hold up decisions about other nodes.
                void runner(fence, a.node, "node failed")
                    .catch((e): FenceResult => ({ ok: false, message: String((e as Error)?.message ?? e) }))
                    .then((r) => {
                        this.fences.set(a.node, { state: r.ok ? "succeeded" : "failed", at: this.now(), message: r.message });
                        this.count("fence", r.ok);
                        (r.ok ? this.log.warn : this.log.error)(r.ok ? "fence hook succeeded" : "fence hook failed", { node: a.node, result: r.message });
                        this.event(nodeRef, r.ok ? "Fenced" : r.timedOut ? "FenceTimedOut" : "FenceFailed", `fence hook: ${r.message}`, true);
                        this.reconcileSoon(0);
                    });
                return;
            }
            case "taint": {
                const taints = view?.taints ?? [];
                await this.client.mergePatch(nodePath, {
                    metadata: { resourceVersion: a.resourceVersion, annotations: { [TAINTED_ANNOTATION]: since } },
                    spec: { taints: [...taints, { ...OUT_OF_SERVICE_TAINT, timeAdded: since }] },
                });
                this.count("taint", true);
                this.log.warn("node fenced: added the out-of-service taint", {
                    node: a.node,
                    taint: `${OUT_OF_SERVICE_TAINT.key}=${OUT_OF_SERVICE_TAINT.value}:${OUT_OF_SERVICE_TAINT.effect}`,
                });
                this.event(
                    nodeRef,
                    "OutOfServiceTainted",
                    `node fenced: tainted ${OUT_OF_SERVICE_TAINT.key}=${OUT_OF_SERVICE_TAINT.value}:${OUT_OF_SERVICE_TAINT.effect}; its pods are deleted and volumes detached so StatefulSet pods start elsewhere`,
                    true,
                );
                return;
            }
            case "untaint": {
                const taints = (view?.taints ?? []).filter((t) => !(t.key === OUT_OF_SERVICE_TAINT.key && t.effect === OUT_OF_SERVICE_TAINT.effect));
                await this.client.mergePatch(nodePath, {
                    metadata: { resourceVersion: a.resourceVersion, annotations: { [TAINTED_ANNOTATION]: null } },
                    spec: { taints },
                });
                this.count("untaint", true);
                this.log.info("node Ready again: removed the out-of-service taint", { node: a.node });
                this.event(nodeRef, "OutOfServiceRemoved", "node is Ready again: removed the out-of-service taint", false);
                return;
            }
            case "deleteNode": {
                this.event(nodeRef, "DeletingNode", "node fenced and its StatefulSet pods freed: deleting the Node", true);
                try {
                    await this.client.delete(nodePath, { preconditions: { uid: a.uid, resourceVersion: a.resourceVersion } });
                } catch (e) {
                    if (!isNotFound(e)) throw e;
                }
                this.recentlyDeleted.push({ name: a.node, at: this.now() });
                this.count("deleteNode", true);
                this.log.warn("node failed: deleted the Node", { node: a.node });
                return;
            }
            case "forceDeletePod": {
                try {
                    await this.client.delete(`/api/v1/namespaces/${a.namespace}/pods/${a.name}`, { gracePeriodSeconds: 0, preconditions: { uid: a.uid } });
                } catch (e) {
                    if (!isNotFound(e)) throw e;
                }
                this.count("forceDeletePod", true);
                this.log.warn("force-deleted pod of a fenced node", { node: a.node, pod: `${a.namespace}/${a.name}` });
                this.event(nodeRef, "PodForceDeleted", `force-deleted StatefulSet pod ${a.namespace}/${a.name} so its replacement can start`, true);
                return;
            }
            case "deletePvc": {
                try {
                    await this.client.delete(`/api/v1/namespaces/${a.namespace}/persistentvolumeclaims/${a.name}`, { preconditions: { uid: a.uid } });
                } catch (e) {
                    if (!isNotFound(e)) throw e;
                }
                const r = this.releases.get(`${a.namespace}/${a.name}`);
                if (r) r.pvcDeleted = true;
                this.count("deletePvc", true);
                this.log.warn("deleted PVC on a remediated node's local volume (StatefulSet opted in)", {
                    node: a.node,
                    pvc: `${a.namespace}/${a.name}`,
                    pod: a.pod,
                });
                this.event(
                    nodeRef,
                    "PVCDeleted",
                    `deleted PVC ${a.namespace}/${a.name} of pod ${a.pod}: its volume lives on this remediated node and the StatefulSet opted in with ${LOCAL_VOLUME_POLICY_KEY}=delete-pvc; the replacement gets fresh storage`,
                    true,
                );
                return;
            }
            case "deleteReplacementPod": {
                try {
                    await this.client.delete(`/api/v1/namespaces/${a.namespace}/pods/${a.name}`, { preconditions: { uid: a.uid } });
                } catch (e) {
                    if (!isNotFound(e)) throw e;
                }
                for (const r of this.releases.values()) if (r.namespace === a.namespace && r.pod === a.name) r.replacementDeleted = true;
                this.count("deleteReplacementPod", true);
                this.log.info("deleted the pending replacement pod so the StatefulSet makes a fresh PVC", { node: a.node, pod: `${a.namespace}/${a.name}` });
                return;
            }
        }
    }

    private why(v: NodeView): string {
        const now = this.now();
        const age = (t?: number) => (t === undefined ? "never" : `${Math.round((now - t) / 1000)}s ago`);
        return `Ready=${v.ready} since ${age(v.notReadySince)}, kubelet Lease renewed ${age(v.kubeletLeaseAt)}, heartbeat renewed ${age(v.heartbeat?.renewedAt)}`;
    }

    /** Lists the node's StatefulSet pods and, for the local-volume policy, their claims. */
    private async listPods(node: string, view: NodeView | undefined): Promise<void> {
        const list: any = await this.client.get("/api/v1/pods", { fieldSelector: `spec.nodeName=${node}` });
        const items: PodView[] = [];
        const policies = new Map<string, "wait" | "delete-pvc">();
        for (const p of list.items ?? []) {
            const owner = (p.metadata.ownerReferences ?? []).find((o: any) => o.kind === "StatefulSet" && o.controller);
            if (!owner && !(STATEFULSET_POD_LABEL in (p.metadata.labels ?? {}))) continue;
            const ns = p.metadata.namespace;
            const stsName = owner?.name ?? "";
            const claims: PodView["claims"] = [];
            if (this.cfg.decide.releaseLocalVolumes && owner) {
                const stsKey = `${ns}/${stsName}`;
                if (!policies.has(stsKey)) {
                    let policy: "wait" | "delete-pvc" = "wait";
                    try {
                        const sts: any = await this.client.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/${stsName}`);
                        const v = sts.metadata?.annotations?.[LOCAL_VOLUME_POLICY_KEY] ?? sts.metadata?.labels?.[LOCAL_VOLUME_POLICY_KEY];
                        if (v === "delete-pvc") policy = "delete-pvc";
                    } catch (e) {
                        if (!isNotFound(e)) throw e;
                    }
                    policies.set(stsKey, policy);
                }
                for (const vol of p.spec?.volumes ?? []) {
                    const claimName = vol.persistentVolumeClaim?.claimName;
                    if (!claimName) continue;
                    let pvc: any;
                    try {
                        pvc = await this.client.get(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${claimName}`);
                    } catch (e) {
                        if (isNotFound(e)) continue;
                        throw e;
                    }
                    let local = false;
                    if (pvc.spec?.volumeName) {
                        try {
                            const pv = await this.client.get(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
                            local = pvOnNode(pv, { name: node, labels: view?.labels ?? { [HOSTNAME_LABEL]: node } });
                        } catch (e) {
                            if (!isNotFound(e)) throw e;
                        }
                    }
                    const policy = policies.get(stsKey)!;
                    claims.push({ name: claimName, uid: pvc.metadata.uid, deleting: Boolean(pvc.metadata.deletionTimestamp), localToNode: local, policy });
                    const key = `${ns}/${claimName}`;
                    if (local && policy === "delete-pvc" && !this.releases.has(key)) {
                        this.releases.set(key, {
                            node,
                            namespace: ns,
                            pvc: claimName,
                            pvcUid: pvc.metadata.uid,
                            pvcDeleted: Boolean(pvc.metadata.deletionTimestamp),
                            pod: p.metadata.name,
                            oldPodUid: p.metadata.uid,
                            addedAt: this.now(),
                        });
                    }
                }
            }
            items.push({ namespace: ns, name: p.metadata.name, uid: p.metadata.uid, statefulSet: stsName, claims });
        }
        this.podListings.set(node, { listedAt: this.now(), items });
        this.log.info("listed the node's StatefulSet pods", { node, pods: items.map((p) => `${p.namespace}/${p.name}`) });
        this.reconcileSoon(0);
    }

    /** Reads the PVCs and replacement pods of pending delete-pvc work (at most every podRecheck). */
    private async refreshReleases(): Promise<void> {
        const now = this.now();
        for (const [key, r] of this.releases) {
            if (r.checkedAt !== undefined && now - r.checkedAt < this.cfg.decide.podRecheckMs) continue;
            r.checkedAt = now;
            try {
                try {
                    const pvc: any = await this.client.get(`/api/v1/namespaces/${r.namespace}/persistentvolumeclaims/${r.pvc}`);
                    if (pvc.metadata.uid !== r.pvcUid) r.freshPvc = r.pvcDeleted = true;
                    else if (pvc.metadata.deletionTimestamp) r.pvcDeleted = true;
                } catch (e) {
                    if (!isNotFound(e)) throw e;
                    r.pvcDeleted = true;
                }
                try {
                    const pod: any = await this.client.get(`/api/v1/namespaces/${r.namespace}/pods/${r.pod}`);
                    r.replacement = { uid: pod.metadata.uid, phase: pod.status?.phase ?? "", deleting: Boolean(pod.metadata.deletionTimestamp) };
                } catch (e) {
                    if (!isNotFound(e)) throw e;
                    r.replacement = undefined;
                }
                // Done once the StatefulSet made a fresh claim of that name: the rest is its usual work.
                if (r.freshPvc || now - r.addedAt > 3_600_000) this.releases.delete(key);
            } catch (e) {
                this.log.warn("could not read the state of a delete-pvc release", { pvc: key, error: String((e as Error).message) });
            }
        }
    }
}

const ACTION_KINDS = [
    "claim",
    "fence",
    "taint",
    "forceDeletePod",
    "markRemediated",
    "deleteNode",
    "deletePvc",
    "deleteReplacementPod",
    "untaint",
    "releaseClaim",
    "deletePv",
    "deleteHeartbeat",
];
