/**
 * The liberator's decisions as pure functions: the state of nodes, leases, pods and volumes plus
 * the time and the configuration in, actions and reports out. Nothing here talks to the API
 * server, so every safety rule is tested as a table of inputs and expected outputs.
 */

export type Mode = "outOfServiceTaint" | "deleteNode";
export type OrphanedVolumes = "ignore" | "report" | "delete";

/** The non-graceful-shutdown taint: pods without a toleration are force-deleted, volumes detached. */
export const OUT_OF_SERVICE_TAINT = { key: "node.kubernetes.io/out-of-service", value: "nodeshutdown", effect: "NoExecute" } as const;
/** Set together with the taint, so we only ever remove a taint we added. */
export const TAINTED_ANNOTATION = "liberator.pets/out-of-service-since";
/** On a StatefulSet (label or annotation): "delete-pvc" lets the liberator drop a pod's local PVC. */
export const LOCAL_VOLUME_POLICY_KEY = "liberator.pets/local-volume-policy";
export const DEFAULT_OPT_OUT_LABEL = "liberator.pets/exclude";
export const CONTROL_PLANE_LABELS = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

export interface DecideConfig {
    mode: Mode;
    /** How long the Ready condition and both leases must have been stale. */
    unhealthyAfterMs: number;
    /** Most nodes that may be unhealthy at once for the liberator to act: a count or "N%". */
    maxUnhealthy: number | string;
    dryRun: boolean;
    optOutLabel: string;
    /** Force-delete the failed node's StatefulSet pods (grace period 0) once it is remediated. */
    forceDeletePods: boolean;
    /** Honour the per-StatefulSet "delete-pvc" policy for PVCs bound to volumes on the failed node. */
    releaseLocalVolumes: boolean;
    /** A fence hook is configured and must succeed first. */
    fence: boolean;
    /** Wait this long after a failed fence before trying again. */
    fenceRetryMs: number;
    /** Re-list a remediated node's pods at most this often while some remain. */
    podRecheckMs: number;
    /** deleteNode mode: a node we deleted counts as unhealthy for this long. */
    stormWindowMs: number;
    orphanedVolumes: OrphanedVolumes;
    /** A PV must look orphaned this long before it is deleted. */
    orphanedVolumeGraceMs: number;
}

export const DEFAULT_DECIDE_CONFIG: DecideConfig = {
    mode: "outOfServiceTaint",
    unhealthyAfterMs: 60_000,
    maxUnhealthy: 1,
    dryRun: false,
    optOutLabel: DEFAULT_OPT_OUT_LABEL,
    forceDeletePods: false,
    releaseLocalVolumes: false,
    fence: false,
    fenceRetryMs: 30_000,
    podRecheckMs: 30_000,
    stormWindowMs: 600_000,
    orphanedVolumes: "report",
    orphanedVolumeGraceMs: 600_000,
};

export interface Taint {
    key: string;
    value?: string;
    effect: string;
    timeAdded?: string;
}

export type ConditionStatus = "True" | "False" | "Unknown";

/** One PVC a pod mounts, as far as the local-volume policy cares. */
export interface ClaimView {
    name: string;
    uid: string;
    /** The PVC already has a deletionTimestamp. */
    deleting: boolean;
    /** Its PV is pinned to the failed node (local / local-path / hostPath with node affinity). */
    localToNode: boolean;
    /** The owning StatefulSet's policy. */
    policy: "wait" | "delete-pvc";
}

/** A StatefulSet pod on the failed node. */
export interface PodView {
    namespace: string;
    name: string;
    uid: string;
    statefulSet: string;
    claims: ClaimView[];
}

export interface FenceState {
    state: "running" | "succeeded" | "failed";
    /** Local time the state was entered. */
    at: number;
    message?: string;
}

export interface NodeView {
    name: string;
    uid: string;
    resourceVersion: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    taints: Taint[];
    ready: ConditionStatus;
    /** Local time we saw Ready leave True (or first saw the node not Ready). Undefined while Ready. */
    notReadySince?: number;
    /** Local time we last saw the kubelet's Lease renewed; undefined if it has none. */
    kubeletLeaseAt?: number;
    /** Local time we last saw this node's liberator heartbeat renewed; undefined if it has none. */
    heartbeatAt?: number;
    /** The node's StatefulSet pods, when listed (only needed for pod and volume actions). */
    pods?: { listedAt: number; items: PodView[]; attemptedAt?: number };
    fence?: FenceState;
}

export type Action =
    | { kind: "fence"; node: string }
    | { kind: "listPods"; node: string }
    | { kind: "deletePvc"; node: string; namespace: string; name: string; uid: string; pod: string }
    | { kind: "taint"; node: string; uid: string; resourceVersion: string }
    | { kind: "forceDeletePod"; node: string; namespace: string; name: string; uid: string }
    | { kind: "deleteNode"; node: string; uid: string; resourceVersion: string }
    | { kind: "untaint"; node: string; uid: string; resourceVersion: string };

/** Something worth an Event and a log line, even though nothing is done. */
export interface Report {
    node: string;
    reason: string;
    message: string;
    warning: boolean;
}

/**
 * healthy: Ready. suspect: not Ready, but some signal is younger than unhealthyAfter.
 * unconfirmed: not Ready and the kubelet is silent, but the liberator's heartbeat for the node is
 * fresh or missing, so the node may still run. failed: every signal stale. remediated: failed and
 * tainted (the action is done). recovering: Ready again with our taint still on it.
 */
export type NodeState = "healthy" | "suspect" | "unconfirmed" | "failed" | "remediated" | "recovering";

export interface DecideInput {
    now: number;
    config: DecideConfig;
    /** This replica holds the leader Lease (and renewed it within the renew deadline). */
    leader: boolean;
    /** Every watch is open and heard from the server recently, so the cache is current. */
    cacheFresh: boolean;
    nodes: NodeView[];
    /** Nodes this leader deleted, with the local time (deleteNode mode's storm memory). */
    recentlyDeleted?: { name: string; at: number }[];
}

export interface Decision {
    actions: Action[];
    reports: Report[];
    states: Record<string, NodeState>;
    /** Why each node is in its state, for logs. */
    why: Record<string, string>;
    unhealthy: number;
    /** The most unhealthy nodes that still allow remediation. */
    allowed: number;
    storm: boolean;
    /** Why no action was even considered. */
    blocked?: "not-leader" | "cache-stale";
    /** The earliest local time at which the decision could change without any new event. */
    nextCheckAt?: number;
}

/** Resolves maxUnhealthy against the cluster size; percentages round down. */
export function allowedUnhealthy(maxUnhealthy: number | string, totalNodes: number): number {
    if (typeof maxUnhealthy === "number") return maxUnhealthy;
    const m = /^(\d{1,3})%$/.exec(maxUnhealthy);
    if (!m) throw new Error(`maxUnhealthy ${JSON.stringify(maxUnhealthy)} is neither a count nor a percentage`);
    return Math.floor((totalNodes * Number(m[1])) / 100);
}

export function hasOutOfServiceTaint(taints: Taint[]): boolean {
    return taints.some((t) => t.key === OUT_OF_SERVICE_TAINT.key && t.effect === OUT_OF_SERVICE_TAINT.effect);
}

export function isControlPlane(labels: Record<string, string>): boolean {
    return CONTROL_PLANE_LABELS.some((l) => l in labels);
}

/** Why a not-Ready node is not (yet) treated as failed. */
export type HoldReason = "NoKubeletLease" | "NoHeartbeatLease" | "HeartbeatAlive";

/** How a node's signals look now; pure classification, no gates applied. */
export function classify(
    n: NodeView,
    now: number,
    config: Pick<DecideConfig, "unhealthyAfterMs" | "mode">,
): { state: NodeState; recheckAt?: number; why: string; hold?: HoldReason } {
    const u = config.unhealthyAfterMs;
    const ourTaint = hasOutOfServiceTaint(n.taints) && TAINTED_ANNOTATION in n.annotations;
    if (n.ready === "True") return ourTaint ? { state: "recovering", why: "Ready again" } : { state: "healthy", why: "Ready" };
    const since = n.notReadySince ?? now;
    if (now - since < u) return { state: "suspect", recheckAt: since + u, why: `not Ready for ${secs(now - since)}` };
    if (n.kubeletLeaseAt === undefined)
        return { state: "unconfirmed", hold: "NoKubeletLease", why: "the node has no kubelet Lease in kube-node-lease, so its death cannot be confirmed" };
    if (now - n.kubeletLeaseAt < u) {
        return { state: "suspect", recheckAt: n.kubeletLeaseAt + u, why: `the kubelet renewed its Lease ${secs(now - n.kubeletLeaseAt)} ago` };
    }
    if (n.heartbeatAt === undefined) {
        return {
            state: "unconfirmed",
            hold: "NoHeartbeatLease",
            why: "no liberator heartbeat Lease exists for the node (is the DaemonSet running there?), so its death cannot be confirmed",
        };
    }
    if (now - n.heartbeatAt < u) {
        return {
            state: "unconfirmed",
            hold: "HeartbeatAlive",
            recheckAt: n.heartbeatAt + u,
            why: `the kubelet is silent but the liberator on the node renewed its heartbeat ${secs(now - n.heartbeatAt)} ago (network partition or kubelet crash?)`,
        };
    }
    const state = config.mode === "outOfServiceTaint" && hasOutOfServiceTaint(n.taints) ? "remediated" : "failed";
    return {
        state,
        why: `not Ready for ${secs(now - since)}; kubelet Lease and liberator heartbeat stale for ${secs(now - Math.max(n.kubeletLeaseAt, n.heartbeatAt))}`,
    };
}

function secs(ms: number): string {
    return `${Math.round(ms / 1000)}s`;
}

const earliest = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

/** Pod-level actions for a failed node whose pods have been listed. */
export function podActions(n: NodeView, config: DecideConfig): { pvcs: Action[]; pods: Action[]; reports: Report[] } {
    const pvcs: Action[] = [];
    const pods: Action[] = [];
    const reports: Report[] = [];
    for (const p of n.pods?.items ?? []) {
        for (const c of p.claims) {
            if (!c.localToNode) continue;
            if (config.releaseLocalVolumes && c.policy === "delete-pvc") {
                if (!c.deleting) pvcs.push({ kind: "deletePvc", node: n.name, namespace: p.namespace, name: c.name, uid: c.uid, pod: p.name });
            } else {
                reports.push({
                    node: n.name,
                    reason: "WaitingForLocalVolume",
                    message: `pod ${p.namespace}/${p.name} keeps PVC ${c.name}, whose volume lives on ${n.name}; it will start again when the node returns (StatefulSet ${p.statefulSet} has no "${LOCAL_VOLUME_POLICY_KEY}: delete-pvc")`,
                    warning: false,
                });
            }
        }
        if (config.forceDeletePods) pods.push({ kind: "forceDeletePod", node: n.name, namespace: p.namespace, name: p.name, uid: p.uid });
    }
    return { pvcs, pods, reports };
}

function describe(a: Action): string {
    switch (a.kind) {
        case "fence":
            return "run the fence hook";
        case "listPods":
            return "list the node's pods";
        case "deletePvc":
            return `delete PVC ${a.namespace}/${a.name} of pod ${a.pod}`;
        case "taint":
            return `taint the node ${OUT_OF_SERVICE_TAINT.key}=${OUT_OF_SERVICE_TAINT.value}:${OUT_OF_SERVICE_TAINT.effect}`;
        case "forceDeletePod":
            return `force-delete pod ${a.namespace}/${a.name}`;
        case "deleteNode":
            return "delete the node";
        case "untaint":
            return `remove the ${OUT_OF_SERVICE_TAINT.key} taint`;
    }
}

/**
 * Decides what to do about every node. Rules, in order: only the leader acts, and only on a
 * current cache; nodes that are Ready and carry our taint get it back off; a node is failed only
 * when Ready has been False/Unknown, the kubelet Lease and the liberator heartbeat all stale for
 * unhealthyAfter; if more nodes are unhealthy than maxUnhealthy allows, nothing is remediated;
 * control-plane and opted-out nodes are never remediated; a configured fence must succeed first;
 * dry-run turns every action into a report.
 */
export function decide(input: DecideInput): Decision {
    const { now, config } = input;
    const states: Record<string, NodeState> = {};
    const whys: Record<string, string> = {};
    const holds: Record<string, HoldReason> = {};
    let nextCheckAt: number | undefined;
    for (const n of input.nodes) {
        const c = classify(n, now, config);
        states[n.name] = c.state;
        whys[n.name] = c.why;
        if (c.hold) holds[n.name] = c.hold;
        nextCheckAt = earliest(nextCheckAt, c.recheckAt);
    }
    const recent = (input.recentlyDeleted ?? []).filter((d) => now - d.at < config.stormWindowMs && !(d.name in states));
    for (const d of recent) nextCheckAt = earliest(nextCheckAt, d.at + config.stormWindowMs);
    // Every node that is not Ready counts, whatever the reason: if many look dead at once the
    // likelier cause is the network or ourselves, and acting would make it worse.
    const unhealthy = input.nodes.filter((n) => n.ready !== "True").length + recent.length;
    const allowed = allowedUnhealthy(config.maxUnhealthy, input.nodes.length + recent.length);
    const storm = unhealthy > allowed;
    const base = { states, why: whys, unhealthy, allowed, storm };
    if (!input.leader) return { ...base, actions: [], reports: [], blocked: "not-leader", nextCheckAt };
    if (!input.cacheFresh) return { ...base, actions: [], reports: [], blocked: "cache-stale", nextCheckAt };

    const actions: Action[] = [];
    const reports: Report[] = [];
    const act = (node: string, planned: Action[]) => {
        if (planned.length === 0) return;
        if (config.dryRun) {
            reports.push({ node, reason: "DryRun", message: `dry run: would ${planned.map(describe).join(", then ")}`, warning: false });
        } else actions.push(...planned);
    };

    for (const n of input.nodes) {
        const state = states[n.name];
        if (state === "recovering") {
            act(n.name, [{ kind: "untaint", node: n.name, uid: n.uid, resourceVersion: n.resourceVersion }]);
            continue;
        }
        if (state === "unconfirmed") {
            reports.push({ node: n.name, reason: holds[n.name], message: `not remediating: ${whys[n.name]}`, warning: true });
            continue;
        }
        if (state !== "failed" && state !== "remediated") continue;
        if (isControlPlane(n.labels)) {
            reports.push({
                node: n.name,
                reason: "ControlPlaneSkipped",
                message: `control-plane node is down (${whys[n.name]}); the liberator never remediates control-plane nodes`,
                warning: true,
            });
            continue;
        }
        if (config.optOutLabel in n.labels) {
            reports.push({ node: n.name, reason: "OptedOut", message: `node is down but carries the opt-out label ${config.optOutLabel}`, warning: false });
            continue;
        }
        if (storm) {
            reports.push({
                node: n.name,
                reason: "TooManyUnhealthy",
                message: `${unhealthy} nodes are unhealthy, more than maxUnhealthy allows (${allowed}); doing nothing, since a network problem or the liberator itself is the likelier cause`,
                warning: true,
            });
            continue;
        }
        const needPods = config.forceDeletePods || config.releaseLocalVolumes;
        // Pods are listed on demand; after we acted on a listing we wait podRecheckMs before
        // listing again, so a failing deletion is retried at that pace and not on every event.
        const listing = n.pods;
        const podsFresh = listing !== undefined && now - listing.listedAt < config.podRecheckMs;
        const podsWaiting = podsFresh && listing.attemptedAt !== undefined && listing.attemptedAt >= listing.listedAt;
        if (podsWaiting) nextCheckAt = earliest(nextCheckAt, listing.listedAt + config.podRecheckMs);
        if (state === "remediated") {
            // Tainted already: only pod clean-up remains (the taint does the rest).
            if (!config.forceDeletePods || (listing && listing.items.length === 0)) continue;
            if (!podsFresh) actions.push({ kind: "listPods", node: n.name });
            else if (!podsWaiting) act(n.name, podActions(n, config).pods);
            continue;
        }
        // state === "failed": not yet remediated.
        if (config.fence && !config.dryRun) {
            const f = n.fence;
            if (!f || (f.state === "failed" && now - f.at >= config.fenceRetryMs)) {
                actions.push({ kind: "fence", node: n.name });
                continue;
            }
            if (f.state === "running") continue;
            if (f.state === "failed") {
                nextCheckAt = earliest(nextCheckAt, f.at + config.fenceRetryMs);
                reports.push({
                    node: n.name,
                    reason: "FenceFailed",
                    message: `fence hook failed (${f.message ?? "no detail"}); not remediating until it succeeds`,
                    warning: true,
                });
                continue;
            }
        }
        if (needPods && !podsFresh) {
            // Reading is harmless, so a dry run lists pods too and can say what it would do to them.
            actions.push({ kind: "listPods", node: n.name });
            continue;
        }
        if (needPods && podsWaiting) continue;
        const { pvcs, pods, reports: podReports } = podActions(n, config);
        reports.push(...podReports);
        const remediate: Action =
            config.mode === "outOfServiceTaint"
                ? { kind: "taint", node: n.name, uid: n.uid, resourceVersion: n.resourceVersion }
                : { kind: "deleteNode", node: n.name, uid: n.uid, resourceVersion: n.resourceVersion };
        // PVCs go first, so the StatefulSet controller finds them terminating and waits instead of
        // recreating the pod on the old volume; pods are force-deleted only once the node is fenced
        // off by the taint (taint mode) or before the node object disappears (deleteNode mode).
        const plan = config.fence && config.dryRun ? [{ kind: "fence", node: n.name } as Action] : [];
        if (config.mode === "outOfServiceTaint") plan.push(...pvcs, remediate, ...pods);
        else plan.push(...pvcs, ...pods, remediate);
        act(n.name, plan);
    }
    return { ...base, actions, reports, nextCheckAt };
}

/** Values a PV's required node affinity pins it to (hostname label or node name), or [] if none. */
export function pinnedNodes(pv: any): string[] {
    const terms: any[] = pv?.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
    if (terms.length === 0) return [];
    const values: string[] = [];
    for (const t of terms) {
        const exprs = [
            ...(t.matchExpressions ?? []).filter((e: any) => e.key === HOSTNAME_LABEL && e.operator === "In"),
            ...(t.matchFields ?? []).filter((e: any) => e.key === "metadata.name" && e.operator === "In"),
        ];
        // A term without a host constraint can match other nodes: the PV is not pinned.
        if (exprs.length === 0) return [];
        for (const e of exprs) values.push(...(e.values ?? []));
    }
    return [...new Set(values)];
}

/** True when a PV lives on the given node (by node name or its hostname label). */
export function pvOnNode(pv: any, node: { name: string; labels: Record<string, string> }): boolean {
    const pinned = pinnedNodes(pv);
    return pinned.length > 0 && pinned.every((v) => v === node.name || v === node.labels[HOSTNAME_LABEL]);
}

export interface PvView {
    name: string;
    uid: string;
    resourceVersion: string;
    phase: string;
    /** namespace/name of the claim it was bound to, if any. */
    claim?: string;
    pinnedTo: string[];
}

export interface OrphanDecision {
    orphaned: string[];
    actions: { kind: "deletePv"; name: string; uid: string; resourceVersion: string }[];
    reports: { pv: string; reason: string; message: string; warning: boolean }[];
    nextCheckAt?: number;
}

/** Phases in which a PV holds no claim (or a claim that is gone); Bound PVs are never deleted. */
const DELETABLE_PHASES = ["Released", "Failed", "Available"];

/**
 * Local PVs whose node affinity names only nodes that no longer exist can never be used again:
 * report them, and delete the unclaimed ones when the user opted in and they stayed orphaned for
 * the grace period (a node re-registering under the same name makes them valid again).
 */
export function decideOrphanedVolumes(input: {
    now: number;
    config: Pick<DecideConfig, "orphanedVolumes" | "orphanedVolumeGraceMs" | "dryRun">;
    leader: boolean;
    cacheFresh: boolean;
    nodes: { name: string; labels: Record<string, string> }[];
    pvs: PvView[];
    /** Local time each PV was first seen orphaned. */
    orphanSince: Record<string, number>;
}): OrphanDecision {
    const { now, config } = input;
    const out: OrphanDecision = { orphaned: [], actions: [], reports: [] };
    if (config.orphanedVolumes === "ignore" || !input.leader || !input.cacheFresh || input.nodes.length === 0) return out;
    const known = new Set<string>();
    for (const n of input.nodes) {
        known.add(n.name);
        if (n.labels[HOSTNAME_LABEL]) known.add(n.labels[HOSTNAME_LABEL]);
    }
    for (const pv of input.pvs) {
        if (pv.pinnedTo.length === 0 || pv.pinnedTo.some((v) => known.has(v))) continue;
        out.orphaned.push(pv.name);
        const on = pv.pinnedTo.join(", ");
        if (!DELETABLE_PHASES.includes(pv.phase)) {
            out.reports.push({
                pv: pv.name,
                reason: "VolumeOnMissingNode",
                message: `PV is ${pv.phase}${pv.claim ? ` to ${pv.claim}` : ""} but pinned to node ${on}, which no longer exists; its pod cannot start until a node of that name returns or the claim is deleted`,
                warning: true,
            });
            continue;
        }
        const since = input.orphanSince[pv.name] ?? now;
        const canDelete = config.orphanedVolumes === "delete";
        if (canDelete && now - since >= config.orphanedVolumeGraceMs) {
            if (config.dryRun)
                out.reports.push({
                    pv: pv.name,
                    reason: "DryRun",
                    message: `dry run: would delete ${pv.phase} PV pinned to deleted node ${on}`,
                    warning: false,
                });
            else out.actions.push({ kind: "deletePv", name: pv.name, uid: pv.uid, resourceVersion: pv.resourceVersion });
        } else {
            if (canDelete) out.nextCheckAt = earliest(out.nextCheckAt, since + config.orphanedVolumeGraceMs);
            out.reports.push({
                pv: pv.name,
                reason: "OrphanedVolume",
                message: `${pv.phase} PV is pinned to node ${on}, which no longer exists${canDelete ? `; deleting it after ${secs(config.orphanedVolumeGraceMs)}` : '; set orphanedVolumes to "delete" to remove such PVs'}`,
                warning: true,
            });
        }
    }
    return out;
}

/** Carries first-seen times forward: keeps those still orphaned, starts new ones at `now`. */
export function trackOrphans(prev: Record<string, number>, orphaned: string[], now: number): Record<string, number> {
    const next: Record<string, number> = {};
    for (const name of orphaned) next[name] = prev[name] ?? now;
    return next;
}

/**
 * Remembers, in local time, when each signal last changed. Staleness is measured against our own
 * clock from the moment we saw a change, never against timestamps written by other machines,
 * so clock skew between nodes cannot make a live node look dead. A signal first seen at start-up
 * counts as fresh: after a restart the liberator waits a full unhealthyAfter before acting.
 */
export class Observations {
    private readonly ready = new Map<string, { status: ConditionStatus; notReadySince?: number }>();
    private readonly leases = new Map<string, { renewTime: string; at: number }>();

    observeNode(name: string, status: ConditionStatus, now: number): void {
        const prev = this.ready.get(name);
        if (status === "True") this.ready.set(name, { status });
        else if (!prev || prev.status === "True") this.ready.set(name, { status, notReadySince: now });
        else this.ready.set(name, { status, notReadySince: prev.notReadySince });
    }

    notReadySince(name: string): number | undefined {
        return this.ready.get(name)?.notReadySince;
    }

    /** `key` identifies the lease (namespace/name); `renewTime` is its spec.renewTime as written. */
    observeLease(key: string, renewTime: string | undefined, now: number): void {
        const value = renewTime ?? "";
        const prev = this.leases.get(key);
        if (!prev || prev.renewTime !== value) this.leases.set(key, { renewTime: value, at: now });
    }

    leaseAt(key: string): number | undefined {
        return this.leases.get(key)?.at;
    }

    forgetNode(name: string): void {
        this.ready.delete(name);
    }

    forgetLease(key: string): void {
        this.leases.delete(key);
    }
}
