/**
 * The deciding controller (a Deployment of two replicas; only the leader acts). Informers on
 * Nodes, kubelet Leases, the Leases in its own namespace (leader + the agents' heartbeats), the
 * agent pods and, if wanted, PersistentVolumes; then, on every change and at the next deadline a
 * decision names, one reconcile: observe (views.ts) → decide (decide.ts, pure) → gate (plan.ts,
 * pure) → perform (perform.ts), with what it remembers in between in memory.ts and what it tells
 * people in report.ts. Every duration is measured on the monotonic clock.
 */
import { Clock, systemClock } from "./clock";
import { Config } from "./config";
import { ANN, DEFAULTS, freshWindowMs, heartbeatNode, NODE_LEASE_NAMESPACE } from "./contract";
import { Action, decide, Decision, decideOrphanedVolumes, decideStaleHeartbeats, NodeView, Observations, trackOrphans } from "./decide";
import { Inspector } from "./inspect";
import { Informer, InformerEvent, KObject, KubeClient } from "./kube";
import { LeaderElector, LeaseObject } from "./leader";
import { ReconcileLoop } from "./loop";
import { ControllerMemory } from "./memory";
import { Health, Logger, Metrics } from "./metrics";
import { Actuator, FenceRunner } from "./perform";
import { groupBySubject } from "./plan";
import { Reporter } from "./report";
import { advertisedTiming, heartbeatView, NodeObject, nodeView, pvView, readyStatus, slimLease, slimNode, slimPod, slimPv } from "./views";

/** The controller is unhealthy after this long without an answer from the API server. */
export const API_SILENCE_LIMIT_MS = 30_000;

export interface ControllerOptions {
    config: Config;
    client: KubeClient;
    namespace: string;
    log: Logger;
    metrics: Metrics;
    clock?: Clock;
    fenceRunner?: FenceRunner;
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
    private readonly memory = new ControllerMemory();
    private readonly loop: ReconcileLoop;
    private readonly reporter: Reporter;
    private readonly inspector: Inspector;
    private readonly actuator: Actuator;
    private healthTimer?: NodeJS.Timeout;
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
        this.loop = new ReconcileLoop(() => this.reconcileOnce(), {
            debounceMs: opts.debounceMs ?? 200,
            resyncMs: opts.resyncMs ?? 60_000,
            now,
            onError: (e) => this.log.error("reconcile failed", { error: String((e as Error)?.stack ?? e) }),
        });
        const onError = (what: string) => (e: unknown, phase: string) => {
            this.metrics.inc("liberator_watch_errors_total", "Watch and list errors by resource and phase.", { resource: what, phase });
            (phase === "gone" ? this.log.info : this.log.warn)(
                phase === "gone" ? "resourceVersion expired; listing again" : "watch failed; retrying with backoff",
                { resource: what, phase, error: String((e as Error)?.message ?? e) },
            );
        };
        const watch = <T extends KObject>(
            name: string,
            path: string,
            transform: (o: any) => T,
            idleTimeoutMs: number,
            onEvent: (e: InformerEvent<T>) => void,
            labelSelector?: string,
        ) => new Informer<T>(this.client, name, { path, labelSelector, transform, idleTimeoutMs, onEvent, onError: onError(name), now });
        // Kubelets renew every 10 s and agents every few seconds, so a silent Lease watch is a broken one.
        const leaseIdle = 30_000;
        this.nodes = watch("nodes", "/api/v1/nodes", slimNode, 150_000, (e) => this.onNode(e));
        this.nodeLeases = watch("node-leases", `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`, slimLease, leaseIdle, (e) =>
            this.onNodeLease(e),
        );
        this.ownLeases = watch("leases", `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`, slimLease, leaseIdle, (e) => this.onOwnLease(e));
        if (this.cfg.agentSelector) {
            this.agentPods = watch(
                "agent-pods",
                `/api/v1/namespaces/${opts.namespace}/pods`,
                slimPod,
                600_000,
                () => this.reconcileSoon(),
                this.cfg.agentSelector,
            );
        }
        if (this.cfg.decide.orphanedVolumes !== "ignore") {
            this.pvs = watch("persistentvolumes", "/api/v1/persistentvolumes", slimPv, 600_000, () => this.reconcileSoon());
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
        this.reporter = new Reporter(this.client, this.log, this.metrics, this.clock);
        this.inspector = new Inspector(this.client, this.memory, this.cfg.decide, this.log, now);
        this.actuator = new Actuator({
            client: this.client,
            namespace: opts.namespace,
            identity: this.cfg.identity,
            fence: this.cfg.fence,
            fenceRunner: opts.fenceRunner,
            memory: this.memory,
            inspector: this.inspector,
            reporter: this.reporter,
            log: this.log,
            clock: this.clock,
            reconcileNow: () => this.reconcileSoon(0),
        });
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
            for (const name of [...this.memory.podListings.keys(), ...this.memory.fences.keys()]) if (!names.has(name)) this.forgetNode(name);
        } else if (e.type === "DELETED") this.forgetNode(e.object.metadata.name);
        else this.observations.observeNode(e.object.metadata.name, readyStatus(e.object), now);
        this.reconcileSoon();
    }

    private forgetNode(name: string): void {
        this.observations.forgetNode(name);
        this.memory.forgetNode(name);
        this.reporter.forget(`node/${name}`);
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
        if (!this.loop.isStopped) return;
        this.loop.start();
        this.nodes.start();
        this.nodeLeases.start();
        this.ownLeases.start();
        this.agentPods?.start();
        this.pvs?.start();
        this.elector.start();
        if (this.cfg.decide.unsafeNoFencing) {
            this.log.warn("UNSAFE: unsafeNoFencing is set; nodes that nothing fences are remediated anyway, so two copies of a pod may run at once", {});
            this.reporter.event(
                { kind: "Lease", name: this.cfg.leaseName, namespace: this.opts.namespace },
                "UnsafeNoFencing",
                "unsafeNoFencing is set: nodes with no armed agent and no fence hook are remediated anyway; a node that is only cut off may run its pods twice",
                true,
            );
        }
        const watchdog = () => {
            this.checkHealth();
            this.healthTimer = setTimeout(watchdog, 5_000);
        };
        this.healthTimer = setTimeout(watchdog, 5_000);
    }

    async stop(): Promise<void> {
        if (this.healthTimer) clearTimeout(this.healthTimer);
        await this.loop.stop();
        await this.elector.stop(true);
        await Promise.all([this.nodes.stop(), this.nodeLeases.stop(), this.ownLeases.stop(), this.agentPods?.stop(), this.pvs?.stop()]);
    }

    reconcileSoon(delay?: number): void {
        this.loop.soon(delay);
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

    // --- observe ---------------------------------------------------------------------------

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
            return nodeView(n, {
                observations: this.observations,
                heartbeat: heartbeats.get(name),
                hasKubeletLease: this.nodeLeases.store.has(`${NODE_LEASE_NAMESPACE}/${name}`),
                pods: this.memory.podListings.get(name),
                fence: this.memory.fences.get(name),
            });
        });
    }

    // --- reconcile: observe → decide → gate → perform ---------------------------------------

    private async reconcileOnce(): Promise<void> {
        let now = this.now();
        const leader = this.elector.isLeader(now);
        const cacheFresh = this.cacheFresh(now);
        const m = this.memory;
        m.recentlyDeleted = m.recentlyDeleted.filter((d) => now - d.at < this.cfg.decide.stormWindowMs);
        if (leader && cacheFresh && this.cfg.decide.releaseLocalVolumes) {
            await this.inspector.refreshReleases();
            now = this.now();
        }
        const nodes = this.nodeViews();
        const d = decide({
            now,
            config: this.cfg.decide,
            leader,
            cacheFresh,
            nodes,
            recentlyDeleted: m.recentlyDeleted,
            releases: [...m.releases.values()],
            memory: m.decide,
        });
        m.decide = d.memory;
        this.logDecision(d, nodes, now, leader);
        const orphans = this.decideVolumes(now, leader, cacheFresh, nodes);
        const stale = leader && cacheFresh ? this.decideHeartbeats(now, nodes) : undefined;

        const actions: Action[] = [...d.actions, ...orphans.actions, ...(stale?.actions ?? [])];
        await this.actuator.run(groupBySubject(actions), nodes, () => this.elector.isLeader(this.now()));

        this.reporter.publish(d, nodes, cacheFresh, orphans.orphaned.length, this.watches());
        const next = [d.nextCheckAt, orphans.nextCheckAt, stale?.nextCheckAt, ...[...m.backoff.values()].map((b) => b.until)];
        for (const r of m.releases.values()) if (r.checkedAt !== undefined) next.push(r.checkedAt + this.cfg.decide.podRecheckMs);
        const times = next.filter((t): t is number => t !== undefined);
        this.loop.deadline(times.length > 0 ? Math.min(...times) : undefined);
    }

    /** Logs what changed since the last decision, ends the episodes of healthy nodes, and records the reports. */
    private logDecision(d: Decision, nodes: NodeView[], now: number, leader: boolean): void {
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
        this.reporter.logStates(d, nodes);
        for (const n of nodes) {
            if (d.states[n.name] !== "healthy") continue;
            this.memory.endEpisode(n.name);
            this.reporter.forget(`node/${n.name}`);
        }
        for (const r of d.reports) this.reporter.report(`node/${r.node}`, r, { kind: "Node", name: r.node, uid: nodes.find((n) => n.name === r.node)?.uid });
        if (d.storm && leader) this.metrics.inc("liberator_storm_reconciles_total", "Reconciles in which too many nodes were unhealthy to act.");
    }

    /** PVs pinned to nodes that no longer exist: reported, and deleted when the policy allows. */
    private decideVolumes(now: number, leader: boolean, cacheFresh: boolean, nodes: NodeView[]) {
        if (!this.pvs) return { orphaned: [], actions: [], reports: [] };
        const pvs = this.pvs.list().map(pvView);
        const o = decideOrphanedVolumes({
            now,
            config: this.cfg.decide,
            leader,
            cacheFresh: cacheFresh && this.pvs.fresh(now),
            nodes: nodes.map((n) => ({ name: n.name, labels: n.labels })),
            pvs,
            orphanSince: this.memory.orphanSince,
        });
        if (leader && cacheFresh) this.memory.orphanSince = trackOrphans(this.memory.orphanSince, o.orphaned, now);
        for (const r of o.reports) {
            const obj = { kind: "PersistentVolume", name: r.pv, uid: pvs.find((p) => p.name === r.pv)?.uid };
            this.reporter.report(`pv/${r.pv}`, { node: r.pv, reason: r.reason, message: r.message, warning: r.warning }, obj);
        }
        return o;
    }

    /** Heartbeat Leases whose agent pod has been gone for the grace period (an agent evicted, deleted or moved). */
    private decideHeartbeats(now: number, nodes: NodeView[]) {
        if (!this.agentPods?.fresh(now)) return undefined;
        const leases = [...this.heartbeats()].map(([node, lease]) => {
            const view = heartbeatView(lease, this.observations, node);
            const window = freshWindowMs({ renewIntervalMs: view.timing?.renewIntervalMs ?? DEFAULTS.renewIntervalSeconds * 1000 });
            return {
                node,
                name: lease.metadata.name,
                uid: lease.metadata.uid ?? "",
                resourceVersion: lease.metadata.resourceVersion ?? "",
                holder: lease.spec?.holderIdentity ?? "",
                claimed: ANN.claimedBy in (lease.metadata.annotations ?? {}),
                fresh: view.renewedAt !== undefined && now - view.renewedAt < window,
            };
        });
        const s = decideStaleHeartbeats({
            now,
            graceMs: this.cfg.orphanedHeartbeatMs,
            dryRun: this.cfg.decide.dryRun,
            leases,
            agentPods: new Set(this.agentPods.list().map((p) => p.metadata.name)),
            nodes: new Set(nodes.map((n) => n.name)),
            goneSince: this.memory.agentGoneSince,
        });
        this.memory.agentGoneSince = s.goneSince;
        return s;
    }

    private watches() {
        return [this.nodes, this.nodeLeases, this.ownLeases, ...(this.agentPods ? [this.agentPods] : []), ...(this.pvs ? [this.pvs] : [])];
    }
}
