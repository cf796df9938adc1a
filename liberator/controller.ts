/**
 * Wires the pieces: informers on Nodes, kubelet Leases, our own Leases (leader + heartbeats) and,
 * if wanted, PersistentVolumes; leader election; the heartbeat; then, on every change and at the
 * next deadline `decide` names, one reconcile that turns decisions into API calls, Events, logs
 * and metrics.
 */
import {
    Action,
    ConditionStatus,
    decide,
    Decision,
    decideOrphanedVolumes,
    FenceState,
    HOSTNAME_LABEL,
    LOCAL_VOLUME_POLICY_KEY,
    NodeView,
    Observations,
    OUT_OF_SERVICE_TAINT,
    pinnedNodes,
    PodView,
    pvOnNode,
    PvView,
    Report,
    TAINTED_ANNOTATION,
    Taint,
    trackOrphans,
} from "./decide";
import { FenceConfig, FenceResult, runFence } from "./fence";
import { Heartbeat, HEARTBEAT_NODE_ANNOTATION, heartbeatNode } from "./heartbeat";
import { Informer, InformerEvent, isConflict, isNotFound, KObject, KubeClient } from "./kube";
import { LeaderElector, LeaseObject } from "./leader";
import { Config } from "./config";
import { Health, Logger, Metrics } from "./metrics";

export const NODE_LEASE_NAMESPACE = "kube-node-lease";
/** Events about cluster-scoped objects (Nodes, PVs) must live in "default". */
export const EVENT_NAMESPACE = "default";
export const COMPONENT = "liberator";

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

function slimLease(o: any): LeaseObject {
    const ann = o.metadata?.annotations ?? {};
    return {
        metadata: {
            name: o.metadata.name,
            namespace: o.metadata.namespace,
            uid: o.metadata.uid,
            resourceVersion: o.metadata.resourceVersion,
            annotations: HEARTBEAT_NODE_ANNOTATION in ann ? { [HEARTBEAT_NODE_ANNOTATION]: ann[HEARTBEAT_NODE_ANNOTATION] } : {},
        },
        spec: o.spec ?? {},
    };
}

function slimPv(o: any): KObject {
    return {
        metadata: { name: o.metadata.name, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion },
        spec: {
            nodeAffinity: o.spec?.nodeAffinity,
            claimRef: o.spec?.claimRef ? { namespace: o.spec.claimRef.namespace, name: o.spec.claimRef.name } : undefined,
        },
        status: { phase: o.status?.phase ?? "" },
    };
}

export function readyStatus(n: NodeObject): ConditionStatus {
    const c = (n.status.conditions ?? []).find((x) => x.type === "Ready");
    return c?.status === "True" || c?.status === "False" ? c.status : "Unknown";
}

export interface ControllerOptions {
    config: Config;
    client: KubeClient;
    namespace: string;
    log: Logger;
    metrics: Metrics;
    now?: () => number;
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
    readonly pvs?: Informer<KObject>;
    readonly elector: LeaderElector;
    readonly heartbeat?: Heartbeat;
    readonly observations = new Observations();
    readonly startedAt: number;
    lastDecision?: Decision;
    private readonly lastStates = new Map<string, string>();
    private readonly podListings = new Map<string, NonNullable<NodeView["pods"]>>();
    private readonly fences = new Map<string, FenceState>();
    private recentlyDeleted: { name: string; at: number }[] = [];
    private orphanSince: Record<string, number> = {};
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
    private lastUnhealthyLog = 0;
    private readonly now: () => number;
    private readonly cfg: Config;
    private readonly log: Logger;
    private readonly metrics: Metrics;
    private readonly client: KubeClient;

    constructor(private readonly opts: ControllerOptions) {
        this.cfg = opts.config;
        this.log = opts.log;
        this.metrics = opts.metrics;
        this.client = opts.client;
        this.now = opts.now ?? Date.now;
        this.startedAt = this.now();
        const onError = (what: string) => (e: unknown, phase: string) => {
            this.metrics.inc("liberator_watch_errors_total", "Watch and list errors by resource and phase.", { resource: what, phase });
            (phase === "gone" ? this.log.info : this.log.warn)(
                phase === "gone" ? "resourceVersion expired; listing again" : "watch failed; retrying with backoff",
                { resource: what, phase, error: String((e as Error)?.message ?? e) },
            );
        };
        const leaseIdle = Math.max(30_000, 3 * this.cfg.heartbeatIntervalMs);
        this.nodes = new Informer<NodeObject>(this.client, "nodes", {
            path: "/api/v1/nodes",
            transform: slimNode,
            idleTimeoutMs: 150_000,
            onEvent: (e) => this.onNode(e),
            onError: onError("nodes"),
            now: this.now,
        });
        // Kubelets renew every 10 s, so a silent lease watch is a broken one.
        this.nodeLeases = new Informer<LeaseObject>(this.client, "node-leases", {
            path: `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`,
            transform: slimLease,
            idleTimeoutMs: leaseIdle,
            onEvent: (e) => this.onNodeLease(e),
            onError: onError("node-leases"),
            now: this.now,
        });
        this.ownLeases = new Informer<LeaseObject>(this.client, "leases", {
            path: `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`,
            transform: slimLease,
            idleTimeoutMs: leaseIdle,
            onEvent: (e) => this.onOwnLease(e),
            onError: onError("leases"),
            now: this.now,
        });
        if (this.cfg.decide.orphanedVolumes !== "ignore") {
            this.pvs = new Informer<KObject>(this.client, "persistentvolumes", {
                path: "/api/v1/persistentvolumes",
                transform: slimPv,
                idleTimeoutMs: 150_000,
                onEvent: () => this.reconcileSoon(),
                onError: onError("persistentvolumes"),
                now: this.now,
            });
        }
        this.elector = new LeaderElector(this.client, {
            namespace: opts.namespace,
            name: this.cfg.leaseName,
            identity: this.cfg.identity,
            leaseDurationMs: this.cfg.leaseDurationMs,
            renewDeadlineMs: this.cfg.renewDeadlineMs,
            retryPeriodMs: this.cfg.retryPeriodMs,
            now: this.now,
            readCached: () => (this.ownLeases.synced ? this.ownLeases.store.get(`${opts.namespace}/${this.cfg.leaseName}`) : "unsynced"),
            onChange: (leader) => {
                this.log.info(leader ? "became leader" : "not the leader any more", { identity: this.cfg.identity, lease: this.cfg.leaseName });
                this.metrics.set("liberator_leader", "1 while this replica holds the leader Lease.", leader ? 1 : 0);
                this.reconcileSoon();
            },
            onError: (e) => this.log.debug("leader election round failed", { error: String((e as Error)?.message ?? e) }),
        });
        if (this.cfg.nodeName) {
            const nodeName = this.cfg.nodeName;
            this.heartbeat = new Heartbeat(this.client, {
                namespace: opts.namespace,
                nodeName,
                identity: this.cfg.identity,
                intervalMs: this.cfg.heartbeatIntervalMs,
                nodeUid: () => this.nodes.store.get(nodeName)?.metadata.uid,
                now: this.now,
                onError: (e) => this.log.warn("heartbeat renewal failed", { node: nodeName, error: String((e as Error)?.message ?? e) }),
            });
        }
        this.metrics.set("liberator_leader", "1 while this replica holds the leader Lease.", 0);
        this.metrics.set("liberator_dry_run", "1 when the liberator only reports.", this.cfg.decide.dryRun ? 1 : 0);
        for (const r of ["success", "failure"]) {
            for (const a of ["taint", "untaint", "deleteNode", "forceDeletePod", "deletePvc", "fence", "deletePv"]) {
                this.metrics.declare("liberator_actions_total", "Remediation actions taken, by action and result.", "counter", { action: a, result: r });
            }
        }
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
            else this.observations.observeLease(`heartbeat/${node}`, l.spec?.renewTime, now);
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
        this.pvs?.start();
        this.heartbeat?.start();
        this.elector.start();
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
        await Promise.all([this.nodes.stop(), this.nodeLeases.stop(), this.ownLeases.stop(), this.pvs?.stop(), this.heartbeat?.stop()]);
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

    /** Unhealthy when the API server or our own heartbeat has been out of reach for unhealthyAfter. */
    health(now = this.now()): Health {
        const limit = this.cfg.decide.unhealthyAfterMs;
        const problems: string[] = [];
        const contact = Math.max(this.client.lastContactAt, this.startedAt);
        if (now - contact > limit) problems.push(`no answer from the API server for ${Math.round((now - contact) / 1000)}s`);
        if (this.heartbeat) {
            const hb = Math.max(this.heartbeat.lastRenewedAt, this.startedAt);
            if (now - hb > limit) problems.push(`heartbeat Lease not renewed for ${Math.round((now - hb) / 1000)}s`);
        }
        return { ok: problems.length === 0, problems };
    }

    private checkHealth(): void {
        const now = this.now();
        const h = this.health(now);
        this.metrics.set("liberator_healthy", "1 while this replica reaches the API server and renews its heartbeat.", h.ok ? 1 : 0);
        this.metrics.set(
            "liberator_api_last_contact_age_seconds",
            "Seconds since the API server last answered.",
            this.client.lastContactAt ? (now - this.client.lastContactAt) / 1000 : -1,
        );
        if (!h.ok && (this.wasHealthy || now - this.lastUnhealthyLog >= 30_000)) {
            // Loud on purpose: a replica cut off from the API server cannot renew its heartbeat, so the
            // leader may soon remediate this node while it still runs. Only a fence hook prevents that.
            this.log.error("CANNOT REACH THE API SERVER: this node may be remediated as dead while it still runs", {
                node: this.cfg.nodeName,
                problems: h.problems,
            });
            this.lastUnhealthyLog = now;
        } else if (h.ok && !this.wasHealthy) this.log.info("API server reachable again", { node: this.cfg.nodeName });
        this.wasHealthy = h.ok;
    }

    // --- reconcile -------------------------------------------------------------------------

    cacheFresh(now = this.now()): boolean {
        return this.nodes.fresh(now) && this.nodeLeases.fresh(now) && this.ownLeases.fresh(now);
    }

    nodeViews(): NodeView[] {
        const heartbeats = new Set<string>();
        for (const l of this.ownLeases.list()) {
            const n = heartbeatNode(l);
            if (n !== undefined) heartbeats.add(n);
        }
        return this.nodes.list().map((n) => {
            const name = n.metadata.name;
            return {
                name,
                uid: n.metadata.uid ?? "",
                resourceVersion: n.metadata.resourceVersion ?? "",
                labels: n.metadata.labels ?? {},
                annotations: n.metadata.annotations ?? {},
                taints: n.spec.taints ?? [],
                ready: readyStatus(n),
                notReadySince: this.observations.notReadySince(name),
                kubeletLeaseAt: this.nodeLeases.store.has(`${NODE_LEASE_NAMESPACE}/${name}`) ? this.observations.leaseAt(`kubelet/${name}`) : undefined,
                heartbeatAt: heartbeats.has(name) ? this.observations.leaseAt(`heartbeat/${name}`) : undefined,
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
        const now = this.now();
        const leader = this.elector.isLeader(now);
        const cacheFresh = this.cacheFresh(now);
        this.recentlyDeleted = this.recentlyDeleted.filter((d) => now - d.at < this.cfg.decide.stormWindowMs);
        const nodes = this.nodeViews();
        const d = decide({ now, config: this.cfg.decide, leader, cacheFresh, nodes, recentlyDeleted: this.recentlyDeleted });
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

        let orphanedCount = 0;
        let nextCheckAt = d.nextCheckAt;
        if (this.pvs) {
            const pvViews: PvView[] = this.pvs.list().map((pv) => ({
                name: pv.metadata.name,
                uid: pv.metadata.uid ?? "",
                resourceVersion: pv.metadata.resourceVersion ?? "",
                phase: pv.status?.phase ?? "",
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
            orphanedCount = o.orphaned.length;
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
            nextCheckAt = nextCheckAt === undefined ? o.nextCheckAt : o.nextCheckAt === undefined ? nextCheckAt : Math.min(nextCheckAt, o.nextCheckAt);
        }

        this.publish(d, nodes, cacheFresh, orphanedCount);
        for (const b of this.backoff.values()) nextCheckAt = nextCheckAt === undefined ? b.until : Math.min(nextCheckAt, b.until);
        if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
        if (nextCheckAt !== undefined && !this.stopped) {
            this.deadlineTimer = setTimeout(() => this.reconcileSoon(0), Math.max(0, nextCheckAt - this.now()) + 20);
        }
    }

    private clearEpisode(node: string): void {
        this.awaiting.delete(node);
        this.reported.delete(`node/${node}`);
        this.fences.delete(node);
        this.podListings.delete(node);
        this.backoff.delete(node);
    }

    private publish(d: Decision, nodes: NodeView[], cacheFresh: boolean, orphaned: number): void {
        const m = this.metrics;
        const counts: Record<string, number> = { healthy: 0, suspect: 0, unconfirmed: 0, failed: 0, remediated: 0, recovering: 0 };
        for (const n of nodes) counts[d.states[n.name]]++;
        m.reset("liberator_nodes");
        for (const [state, v] of Object.entries(counts)) m.set("liberator_nodes", "Nodes by liberator state.", v, { state });
        m.set("liberator_unhealthy_nodes", "Nodes that are not Ready (plus nodes deleted within the storm window).", d.unhealthy);
        m.set("liberator_max_unhealthy", "Most unhealthy nodes at which the liberator still acts.", d.allowed);
        m.set("liberator_storm", "1 while more nodes are unhealthy than maxUnhealthy allows, so nothing is remediated.", d.storm ? 1 : 0);
        m.set("liberator_cache_fresh", "1 while every watch is open and current.", cacheFresh ? 1 : 0);
        m.set("liberator_orphaned_volumes", "PVs pinned to nodes that no longer exist.", orphaned);
        m.set(
            "liberator_heartbeat_age_seconds",
            "Seconds since this replica last renewed its heartbeat Lease (-1: none).",
            this.heartbeat?.lastRenewedAt ? (this.now() - this.heartbeat.lastRenewedAt) / 1000 : -1,
        );
        for (const inf of [this.nodes, this.nodeLeases, this.ownLeases, ...(this.pvs ? [this.pvs] : [])]) {
            m.set("liberator_watch_lists_total", "Complete lists, by resource (relists after 410 Gone included).", inf.stats.lists, { resource: inf.name });
            m.set("liberator_watch_bookmarks_total", "Bookmarks received, by resource.", inf.stats.bookmarks, { resource: inf.name });
        }
    }

    private count(action: string, ok: boolean): void {
        this.metrics.inc("liberator_actions_total", "Remediation actions taken, by action and result.", { action, result: ok ? "success" : "failure" });
    }

    /** Records a report once per subject and reason: logs it and writes an Event. */
    private report(subject: string, r: Report, obj: { kind: string; name: string; uid?: string }): void {
        const key = `${r.reason}`;
        if (this.reported.get(subject) === key) return;
        this.reported.set(subject, key);
        this.metrics.inc("liberator_reports_total", "Decisions reported without action, by reason.", { reason: r.reason });
        (r.warning ? this.log.warn : this.log.info)(r.message, { [obj.kind === "Node" ? "node" : "pv"]: obj.name, reason: r.reason });
        this.event(obj, r.reason, r.message, r.warning);
    }

    /** Writes a core/v1 Event; failures are logged, never fatal. */
    event(obj: { kind: string; name: string; uid?: string }, reason: string, message: string, warning: boolean): void {
        const t = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
        const body = {
            apiVersion: "v1",
            kind: "Event",
            metadata: { generateName: `${obj.name}.`, namespace: EVENT_NAMESPACE },
            involvedObject: { apiVersion: "v1", kind: obj.kind, name: obj.name, ...(obj.uid ? { uid: obj.uid } : {}) },
            reason,
            message: message.slice(0, 1024),
            type: warning ? "Warning" : "Normal",
            source: { component: COMPONENT, ...(this.cfg.nodeName ? { host: this.cfg.nodeName } : {}) },
            firstTimestamp: t,
            lastTimestamp: t,
            count: 1,
        };
        this.client
            .create(`/api/v1/namespaces/${EVENT_NAMESPACE}/events`, body)
            .catch((e) => this.log.warn("could not record event", { reason, object: obj.name, error: String((e as Error).message) }));
    }

    private async execute(actions: Action[], nodes: NodeView[]): Promise<void> {
        const byNode = new Map<string, Action[]>();
        for (const a of actions) byNode.set(a.node, [...(byNode.get(a.node) ?? []), a]);
        for (const [node, list] of byNode) {
            const b = this.backoff.get(node);
            if (b && this.now() < b.until) continue;
            const view = nodes.find((n) => n.name === node);
            const wait = this.awaiting.get(node);
            if (wait && view && wait.rv === view.resourceVersion && this.now() < wait.until) continue;
            this.awaiting.delete(node);
            let touchedPods = false;
            let ok = true;
            for (const a of list) {
                // Leadership can lapse while we work; never act on a lapsed one.
                if (!this.elector.isLeader(this.now())) return;
                if (a.kind !== "listPods" && a.kind !== "fence") touchedPods ||= a.kind === "deletePvc" || a.kind === "forceDeletePod";
                try {
                    await this.perform(a, view);
                    if ((a.kind === "taint" || a.kind === "untaint") && view) this.awaiting.set(node, { rv: view.resourceVersion, until: this.now() + 10_000 });
                } catch (e) {
                    ok = false;
                    if (isConflict(e)) {
                        // The object changed since we decided: decide again on the newer state.
                        this.log.debug("conflict; deciding again on the current state", { node, action: a.kind });
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

    private async perform(a: Action, view: NodeView | undefined): Promise<void> {
        const nodePath = `/api/v1/nodes/${a.node}`;
        const nodeRef = { kind: "Node", name: a.node, uid: view?.uid };
        switch (a.kind) {
            case "listPods": {
                await this.listPods(a.node, view);
                return;
            }
            case "fence": {
                const fence = this.cfg.fence;
                if (!fence) return;
                const runner = this.opts.fenceRunner ?? runFence;
                this.fences.set(a.node, { state: "running", at: this.now() });
                this.log.warn("fencing node before remediation", { node: a.node });
                this.event(nodeRef, "Fencing", "running the fence hook before remediation", true);
                // Runs in the background: a slow hook must not hold up decisions about other nodes.
                void runner(fence, a.node, "node failed")
                    .catch((e): FenceResult => ({ ok: false, message: String((e as Error)?.message ?? e) }))
                    .then((r) => {
                        this.fences.set(a.node, { state: r.ok ? "succeeded" : "failed", at: this.now(), message: r.message });
                        this.count("fence", r.ok);
                        (r.ok ? this.log.warn : this.log.error)(r.ok ? "fence hook succeeded" : "fence hook failed", { node: a.node, result: r.message });
                        this.event(nodeRef, r.ok ? "Fenced" : "FenceFailed", `fence hook: ${r.message}`, true);
                        this.reconcileSoon(0);
                    });
                return;
            }
            case "taint": {
                const taints = view?.taints ?? [];
                const since = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
                await this.client.mergePatch(nodePath, {
                    metadata: { resourceVersion: a.resourceVersion, annotations: { [TAINTED_ANNOTATION]: since } },
                    spec: { taints: [...taints, { ...OUT_OF_SERVICE_TAINT, timeAdded: since }] },
                });
                this.count("taint", true);
                this.log.warn("node failed: added the out-of-service taint", {
                    node: a.node,
                    taint: `${OUT_OF_SERVICE_TAINT.key}=${OUT_OF_SERVICE_TAINT.value}:${OUT_OF_SERVICE_TAINT.effect}`,
                });
                this.event(
                    nodeRef,
                    "OutOfServiceTainted",
                    `node failed (${view ? this.why(view) : "dead"}): tainted ${OUT_OF_SERVICE_TAINT.key}=${OUT_OF_SERVICE_TAINT.value}:${OUT_OF_SERVICE_TAINT.effect}; its pods are deleted and volumes detached so StatefulSet pods start elsewhere`,
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
                this.event(
                    nodeRef,
                    "DeletingNode",
                    `node failed (${view ? this.why(view) : "dead"}): deleting the Node so its StatefulSet pods start elsewhere`,
                    true,
                );
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
                this.log.warn("force-deleted pod of failed node", { node: a.node, pod: `${a.namespace}/${a.name}` });
                this.event(nodeRef, "PodForceDeleted", `force-deleted StatefulSet pod ${a.namespace}/${a.name} so its replacement can start`, true);
                return;
            }
            case "deletePvc": {
                try {
                    await this.client.delete(`/api/v1/namespaces/${a.namespace}/persistentvolumeclaims/${a.name}`, { preconditions: { uid: a.uid } });
                } catch (e) {
                    if (!isNotFound(e)) throw e;
                }
                this.count("deletePvc", true);
                this.log.warn("deleted PVC on a failed node's local volume (StatefulSet opted in)", {
                    node: a.node,
                    pvc: `${a.namespace}/${a.name}`,
                    pod: a.pod,
                });
                this.event(
                    nodeRef,
                    "PVCDeleted",
                    `deleted PVC ${a.namespace}/${a.name} of pod ${a.pod}: its volume lives on this failed node and the StatefulSet opted in with ${LOCAL_VOLUME_POLICY_KEY}=delete-pvc; the replacement gets fresh storage`,
                    true,
                );
                return;
            }
        }
    }

    private why(v: NodeView): string {
        const now = this.now();
        const age = (t?: number) => (t === undefined ? "never" : `${Math.round((now - t) / 1000)}s ago`);
        return `Ready=${v.ready} since ${age(v.notReadySince)}, kubelet Lease renewed ${age(v.kubeletLeaseAt)}, heartbeat renewed ${age(v.heartbeatAt)}`;
    }

    /** Lists the node's StatefulSet pods and, for the local-volume policy, their claims. */
    private async listPods(node: string, view: NodeView | undefined): Promise<void> {
        const list: any = await this.client.get("/api/v1/pods", { fieldSelector: `spec.nodeName=${node}` });
        const items: PodView[] = [];
        const policies = new Map<string, "wait" | "delete-pvc">();
        for (const p of list.items ?? []) {
            const owner = (p.metadata.ownerReferences ?? []).find((o: any) => o.kind === "StatefulSet" && o.controller);
            if (!owner) continue;
            const ns = p.metadata.namespace;
            const claims: PodView["claims"] = [];
            if (this.cfg.decide.releaseLocalVolumes) {
                const stsKey = `${ns}/${owner.name}`;
                if (!policies.has(stsKey)) {
                    let policy: "wait" | "delete-pvc" = "wait";
                    try {
                        const sts: any = await this.client.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/${owner.name}`);
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
                    claims.push({
                        name: claimName,
                        uid: pvc.metadata.uid,
                        deleting: Boolean(pvc.metadata.deletionTimestamp),
                        localToNode: local,
                        policy: policies.get(stsKey)!,
                    });
                }
            }
            items.push({ namespace: ns, name: p.metadata.name, uid: p.metadata.uid, statefulSet: owner.name, claims });
        }
        this.podListings.set(node, { listedAt: this.now(), items });
        this.log.info("listed the failed node's StatefulSet pods", { node, pods: items.map((p) => `${p.namespace}/${p.name}`) });
        this.reconcileSoon(0);
    }
}
