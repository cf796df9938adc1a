/**
 * The controller's decisions as pure functions: the state of nodes, Leases, pods and volumes plus
 * the (monotonic) time and the configuration in, actions and reports out. Nothing here talks to
 * the API server, so every safety rule is tested as a table of inputs and expected outputs.
 *
 * The safety argument in short (docs/liberator.md has it in full): a node is remediated only when
 * its agent, alive and armed when the node was last alive, must have fenced itself by now —
 * its heartbeat has been silent for T_sf + T_exec + margin on our clock, measured from when we
 * observed the last renewal — and the agent cannot be holding its fence back, because at least
 * half of the participating nodes have had fresh heartbeats for the settle period. Then the
 * heartbeat Lease is claimed with a compare-and-swap on the version we observed, so a renewal in
 * between makes the claim fail instead of racing it.
 */
import {
    ANN,
    claimAfterMs,
    ClaimPhase,
    DEFAULT_OPT_OUT_LABEL,
    DEFAULTS,
    FenceTiming,
    freshWindowMs,
    KUBELET_LEASE_STALE_MS,
    minSettleMs,
    OUT_OF_SERVICE_TAINT as TAINT,
} from "./contract";

export type Mode = "outOfServiceTaint" | "deleteNode";
export type OrphanedVolumes = "ignore" | "report" | "delete";

export const CONTROL_PLANE_LABELS = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

export interface DecideConfig {
    mode: Mode;
    /** Extra wait after the control plane marks a node not Ready. */
    unhealthyAfterMs: number;
    /** Most nodes that may be unhealthy at once for the liberator to act: a count or "N%". */
    maxUnhealthy: number | string;
    dryRun: boolean;
    optOutLabel: string;
    /** Force-delete the node's StatefulSet pods (grace period 0) once it is tainted. */
    forceDeletePods: boolean;
    /** Honour the per-StatefulSet "delete-pvc" policy for PVCs bound to volumes on the node. */
    releaseLocalVolumes: boolean;
    /** An external fence hook is configured: it must succeed before the taint. */
    fence: boolean;
    fenceRetryMs: number;
    /** Re-list a remediated node's pods at most this often while some remain. */
    podRecheckMs: number;
    /** deleteNode mode: a node we deleted counts as unhealthy for this long. */
    stormWindowMs: number;
    /** After the unhealthy count drops back to the limit, remediate nothing for this long. */
    stormCooldownMs: number;
    orphanedVolumes: OrphanedVolumes;
    orphanedVolumeGraceMs: number;
    /** Added to an agent's T_sf + T_exec before its node may be claimed. */
    marginMs: number;
    /** Quorum must have held this long, without a break, before a claim. */
    settleMs: number;
    /** Remediate nodes no fence protects (no armed agent, no hook): the old, unsafe behaviour. */
    unsafeNoFencing: boolean;
    /** Remediate control-plane nodes too, one at a time, while more than half of them are Ready. */
    remediateControlPlane: boolean;
    /** H assumed for agents that do not advertise one. */
    renewIntervalMs: number;
}

export const DEFAULT_DECIDE_CONFIG: DecideConfig = {
    mode: "outOfServiceTaint",
    unhealthyAfterMs: DEFAULTS.unhealthyAfterSeconds * 1000,
    maxUnhealthy: 1,
    dryRun: false,
    optOutLabel: DEFAULT_OPT_OUT_LABEL,
    forceDeletePods: true,
    releaseLocalVolumes: false,
    fence: false,
    fenceRetryMs: 30_000,
    podRecheckMs: 5_000,
    stormWindowMs: 600_000,
    stormCooldownMs: DEFAULTS.stormCooldownSeconds * 1000,
    orphanedVolumes: "report",
    orphanedVolumeGraceMs: 600_000,
    marginMs: DEFAULTS.marginSeconds * 1000,
    settleMs: DEFAULTS.settleSeconds * 1000,
    unsafeNoFencing: false,
    remediateControlPlane: false,
    renewIntervalMs: DEFAULTS.renewIntervalSeconds * 1000,
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
    deleting: boolean;
    /** Its PV is pinned to the node (local / local-path / hostPath with node affinity). */
    localToNode: boolean;
    policy: "wait" | "delete-pvc";
}

/** A StatefulSet pod bound to the node. */
export interface PodView {
    namespace: string;
    name: string;
    uid: string;
    statefulSet: string;
    claims: ClaimView[];
}

/** A local PVC of an opted-in StatefulSet to give up once its node is remediated (or gone). */
export interface ReleaseView {
    node: string;
    namespace: string;
    pvc: string;
    pvcUid: string;
    /** The PVC is gone or Terminating. */
    pvcDeleted: boolean;
    /** A new PVC of that name exists (the StatefulSet made it): nothing more to do. */
    freshPvc?: boolean;
    pod: string;
    /** The pod that ran on the node; its replacement has another uid. */
    oldPodUid: string;
    /** The pod of that name as last read, if any: the replacement the StatefulSet made. */
    replacement?: { uid: string; phase: string; deleting: boolean };
    /** We deleted that replacement already (so the StatefulSet makes a fresh PVC). */
    replacementDeleted?: boolean;
}

export interface FenceState {
    state: "running" | "succeeded" | "failed";
    /** Monotonic time the state was entered. */
    at: number;
    message?: string;
}

/** What the controller knows of a node's heartbeat Lease. */
export interface HeartbeatView {
    name: string;
    resourceVersion: string;
    /** Monotonic time we observed the last renewal (a changed renewTime); undefined: never. */
    renewedAt?: number;
    /** Start of the current run of renewals without a gap longer than the fresh window. */
    freshSince?: number;
    /** The agent said, in its last renewal, that it can and will fence itself. */
    armed: boolean;
    /** The agent armed at least once: the node counts for quorum. */
    participant: boolean;
    /** T_sf, T_exec, H as advertised; undefined when missing or out of bounds. */
    timing?: FenceTiming;
    /** Nodes the agent counts in its peer vote, itself included. */
    peers: string[];
    claim?: { by: string; phase: ClaimPhase };
}

export interface NodeView {
    name: string;
    uid: string;
    resourceVersion: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    taints: Taint[];
    ready: ConditionStatus;
    /** Monotonic time we saw Ready leave True (or first saw the node not Ready). */
    notReadySince?: number;
    /** Monotonic time we last observed the kubelet's Lease renewed; undefined: no Lease. */
    kubeletLeaseAt?: number;
    /** The kubelet Lease was only seen at start-up, never seen to change. */
    kubeletLeaseInitial?: boolean;
    heartbeat?: HeartbeatView;
    /** The node's StatefulSet pods, when listed. */
    pods?: { listedAt: number; items: PodView[]; attemptedAt?: number };
    fence?: FenceState;
}

/** What `decide` does about a node (or its heartbeat Lease, its pods and their claims). */
export type NodeAction =
    | { kind: "claim"; node: string; lease: string; resourceVersion: string }
    | { kind: "fence"; node: string }
    | { kind: "listPods"; node: string }
    | { kind: "taint"; node: string; uid: string; resourceVersion: string }
    | { kind: "forceDeletePod"; node: string; namespace: string; name: string; uid: string }
    | { kind: "markRemediated"; node: string; lease: string; resourceVersion: string }
    | { kind: "deleteNode"; node: string; uid: string; resourceVersion: string }
    | { kind: "deletePvc"; node: string; namespace: string; name: string; uid: string; pod: string }
    | { kind: "deleteReplacementPod"; node: string; namespace: string; name: string; uid: string }
    | { kind: "untaint"; node: string; uid: string; resourceVersion: string }
    | { kind: "releaseClaim"; node: string; lease: string; resourceVersion: string };

/** A PV pinned to nodes that no longer exist (decideOrphanedVolumes). */
export type PvAction = { kind: "deletePv"; name: string; uid: string; resourceVersion: string };

/** A heartbeat Lease whose agent is gone (decideStaleHeartbeats). */
export type HeartbeatAction = { kind: "deleteHeartbeat"; node: string; lease: string; uid: string; resourceVersion: string; holder: string };

/** Every action the controller performs; all of them are decided here and performed by perform.ts. */
export type Action = NodeAction | PvAction | HeartbeatAction;

/** Something worth an Event and a log line, even though nothing is done. */
export interface Report {
    node: string;
    reason: string;
    message: string;
    warning: boolean;
}

/**
 * healthy: Ready. suspect: not Ready, some wait still running. unconfirmed: not Ready but its
 * agent still renews (kubelet crash or a partition of the kubelet alone). unprotected: looks dead
 * but nothing fences it (its agent is missing, stale since before the kubelet, or not armed).
 * failed: every condition for a claim holds (quorum and storm are checked next). remediating:
 * claimed by us, remediation in progress. remediated: done, waiting for the node to return.
 * recovering: Ready again with our taint or claim still on it.
 */
export type NodeState = "healthy" | "suspect" | "unconfirmed" | "unprotected" | "failed" | "remediating" | "remediated" | "recovering";

/** How a failed node is kept from running its pods while they start elsewhere. */
export type Protection = "agent" | "hook" | "unsafe";

/** Carried from one decision to the next (the storm cooldown). */
export interface DecideMemory {
    stormActive: boolean;
    /** Monotonic time the unhealthy count last dropped back to the limit. */
    stormEndedAt?: number;
}

export interface DecideInput {
    now: number;
    config: DecideConfig;
    /** This replica holds the leader Lease (renewed within the renew deadline). */
    leader: boolean;
    /** Every watch is open and heard from recently, so the cache is current. */
    cacheFresh: boolean;
    nodes: NodeView[];
    /** Nodes this leader deleted (deleteNode mode's storm memory), monotonic times. */
    recentlyDeleted?: { name: string; at: number }[];
    /** Local PVCs to give up (delete-pvc), gathered from pod listings before the pods went. */
    releases?: ReleaseView[];
    memory?: DecideMemory;
}

export interface Decision {
    actions: NodeAction[];
    reports: Report[];
    states: Record<string, NodeState>;
    why: Record<string, string>;
    protection: Record<string, Protection | undefined>;
    unhealthy: number;
    allowed: number;
    storm: boolean;
    /** Remediation waits for the storm cooldown until this monotonic time. */
    cooldownUntil?: number;
    /** Participating nodes and how many have been fresh for the settle period. */
    quorum: { participants: number; settled: number; ok: boolean };
    blocked?: "not-leader" | "cache-stale";
    memory: DecideMemory;
    /** The earliest monotonic time at which the decision could change without any new event. */
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
    return taints.some((t) => t.key === TAINT.key && t.effect === TAINT.effect);
}

function ourTaint(n: NodeView): boolean {
    return hasOutOfServiceTaint(n.taints) && ANN.taintedSince in n.annotations;
}

export function isControlPlane(labels: Record<string, string>): boolean {
    return CONTROL_PLANE_LABELS.some((l) => l in labels);
}

function hbWindow(hb: HeartbeatView | undefined, config: Pick<DecideConfig, "renewIntervalMs">): number {
    return freshWindowMs({ renewIntervalMs: hb?.timing?.renewIntervalMs ?? config.renewIntervalMs });
}

/** The heartbeat was observed renewed within its fresh window, and the Lease is not claimed. */
export function heartbeatFresh(hb: HeartbeatView | undefined, now: number, config: Pick<DecideConfig, "renewIntervalMs">): boolean {
    return hb?.renewedAt !== undefined && !hb.claim && now - hb.renewedAt < hbWindow(hb, config);
}

/** Fresh now and without a break for the settle period. */
export function settled(hb: HeartbeatView | undefined, now: number, config: Pick<DecideConfig, "renewIntervalMs" | "settleMs">): boolean {
    return heartbeatFresh(hb, now, config) && hb!.freshSince !== undefined && now - hb!.freshSince >= config.settleMs;
}

export type HoldReason = "NoKubeletLease" | "HeartbeatAlive" | "NoHeartbeatLease" | "AgentMissing" | "AgentNotArmed";

export interface Classification {
    state: NodeState;
    why: string;
    protection?: Protection;
    hold?: HoldReason;
    recheckAt?: number;
}

/** How one node's signals look now; no cluster-wide gates applied. */
export function classify(n: NodeView, now: number, config: DecideConfig): Classification {
    const hb = n.heartbeat;
    if (n.ready === "True") {
        if (ourTaint(n)) return { state: "recovering", why: "Ready again with our out-of-service taint" };
        if (hb?.claim) return { state: "recovering", why: "Ready again with its heartbeat Lease still claimed" };
        return { state: "healthy", why: "Ready" };
    }
    if (hb?.claim) {
        const done = hb.claim.phase === "remediated" && (config.mode === "deleteNode" || hasOutOfServiceTaint(n.taints));
        return done
            ? { state: "remediated", why: "claimed, fenced and its StatefulSet pods freed; waiting for the node to return" }
            : { state: "remediating", why: `claimed by ${hb.claim.by}; remediation in progress` };
    }
    if (ourTaint(n) && !hb) return { state: "remediating", why: "tainted out-of-service by the liberator" };
    const since = n.notReadySince ?? now;
    if (now - since < config.unhealthyAfterMs) {
        return { state: "suspect", recheckAt: since + config.unhealthyAfterMs, why: `not Ready for ${secs(now - since)}` };
    }
    if (n.kubeletLeaseAt === undefined) {
        return { state: "unconfirmed", hold: "NoKubeletLease", why: "the node has no kubelet Lease in kube-node-lease, so its death cannot be confirmed" };
    }
    if (!n.kubeletLeaseInitial && n.kubeletLeaseAt > since) {
        return { state: "suspect", why: `the kubelet renewed its Lease ${secs(now - n.kubeletLeaseAt)} ago, after the node went not Ready` };
    }
    const window = hbWindow(hb, config);
    if (hb?.renewedAt !== undefined && now - hb.renewedAt < window) {
        return {
            state: "unconfirmed",
            hold: "HeartbeatAlive",
            recheckAt: hb.renewedAt + window,
            why: `the kubelet is silent but the node's agent renewed its heartbeat ${secs(now - hb.renewedAt)} ago (kubelet crash, or only the kubelet cut off)`,
        };
    }
    // The agent protects the node only if it was alive and armed when the node was last alive:
    // a heartbeat that went silent well before the kubelet means the agent was gone, and nobody
    // fences a node whose agent is gone.
    const alongside = hb?.renewedAt !== undefined && n.kubeletLeaseAt - hb.renewedAt <= window;
    if (hb && hb.armed && hb.timing && alongside) {
        const due = hb.renewedAt! + claimAfterMs(hb.timing, config.marginMs);
        if (now < due) {
            return {
                state: "suspect",
                protection: "agent",
                recheckAt: due,
                why: `heartbeat silent for ${secs(now - hb.renewedAt!)}; its agent fences itself within ${secs(hb.timing.selfFenceMs + hb.timing.fenceExecMs)}, claim possible in ${secs(due - now)}`,
            };
        }
        return {
            state: "failed",
            protection: "agent",
            why: `not Ready for ${secs(now - since)}; heartbeat silent for ${secs(now - hb.renewedAt!)}, past its agent's self-fence (${secs(hb.timing.selfFenceMs)}) + execution (${secs(hb.timing.fenceExecMs)}) + margin (${secs(config.marginMs)})`,
        };
    }
    let hold: HoldReason;
    let why: string;
    if (!hb) {
        hold = "NoHeartbeatLease";
        why = "no agent heartbeat Lease exists for the node (no agent runs there), so nothing fences it";
    } else if (!hb.armed || !hb.timing) {
        hold = "AgentNotArmed";
        why = "its agent was not armed for self-fencing (see the Lease's arm-problems annotation), so nothing fences it";
    } else {
        hold = "AgentMissing";
        why = `its agent's heartbeat stopped ${hb.renewedAt === undefined ? "before we ever saw it" : `${secs(n.kubeletLeaseAt - hb.renewedAt)} before the kubelet's`}: the agent was gone while the node ran, so nothing fences it`;
    }
    if (config.fence) return { state: "failed", protection: "hook", why: `${why}; the external fence hook will` };
    if (config.unsafeNoFencing) return { state: "failed", protection: "unsafe", why: `${why}; unsafeNoFencing is set` };
    return { state: "unprotected", hold, why };
}

function secs(ms: number): string {
    return `${Math.round(ms / 1000)}s`;
}

const earliest = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

function describe(a: NodeAction): string {
    switch (a.kind) {
        case "claim":
            return `claim the heartbeat Lease ${a.lease}`;
        case "fence":
            return "run the fence hook";
        case "listPods":
            return "list the node's pods";
        case "taint":
            return `taint the node ${TAINT.key}=${TAINT.value}:${TAINT.effect}`;
        case "forceDeletePod":
            return `force-delete pod ${a.namespace}/${a.name}`;
        case "markRemediated":
            return "mark the claim remediated";
        case "deleteNode":
            return "delete the node";
        case "deletePvc":
            return `delete PVC ${a.namespace}/${a.name} of pod ${a.pod}`;
        case "deleteReplacementPod":
            return `delete the pending replacement pod ${a.namespace}/${a.name}`;
        case "untaint":
            return `remove the ${TAINT.key} taint`;
        case "releaseClaim":
            return `release the claim on ${a.lease}`;
    }
}

/** Quorum for claiming `target`: over all participants, and over the peers its agent counts. */
export function quorumFor(
    target: NodeView,
    byName: Map<string, NodeView>,
    participants: NodeView[],
    now: number,
    config: DecideConfig,
): { ok: boolean; why: string } {
    const settledCount = (names: string[]) => names.filter((p) => p !== target.name && settled(byName.get(p)?.heartbeat, now, config)).length;
    const all = participants.map((n) => n.name);
    if (!all.includes(target.name)) all.push(target.name);
    const f1 = settledCount(all);
    if (2 * f1 < all.length) {
        return { ok: false, why: `${f1} of ${all.length} participating nodes have had fresh heartbeats for ${secs(config.settleMs)}; at least half must` };
    }
    const peers = new Set(target.heartbeat?.peers ?? []);
    peers.add(target.name);
    const f2 = settledCount([...peers]);
    if (2 * f2 < peers.size) {
        return {
            ok: false,
            why: `${f2} of the ${peers.size} nodes its agent counts in its peer vote have had fresh heartbeats for ${secs(config.settleMs)}; at least half must, or its agent may be holding its fence back`,
        };
    }
    return { ok: true, why: `quorum: ${f1}/${all.length} participants and ${f2}/${peers.size} of its agent's peers settled` };
}

/** Pod clean-up of a remediating node, once its pods are listed. */
function podSteps(n: NodeView, config: DecideConfig, now: number): { actions: NodeAction[]; waiting: boolean; empty: boolean; recheckAt?: number } {
    const listing = n.pods;
    const fresh = listing !== undefined && now - listing.listedAt < config.podRecheckMs;
    if (!fresh) return { actions: [{ kind: "listPods", node: n.name }], waiting: false, empty: false };
    if (listing.items.length === 0) return { actions: [], waiting: false, empty: true };
    // After acting on a listing, list again only after podRecheck, so a failing deletion is
    // retried at that pace and not on every event.
    if (listing.attemptedAt !== undefined && listing.attemptedAt >= listing.listedAt) {
        return { actions: [], waiting: true, empty: false, recheckAt: listing.listedAt + config.podRecheckMs };
    }
    if (!config.forceDeletePods) {
        // The taint's NoExecute effect and the pod garbage collector remove them; we only watch.
        return { actions: [], waiting: true, empty: false, recheckAt: listing.listedAt + config.podRecheckMs };
    }
    return {
        actions: listing.items.map((p) => ({ kind: "forceDeletePod", node: n.name, namespace: p.namespace, name: p.name, uid: p.uid }) as NodeAction),
        waiting: false,
        empty: false,
    };
}

/**
 * delete-pvc, strictly after remediation: the PVC first, then the replacement pod the StatefulSet
 * made meanwhile (Pending, naming the old claim), so the StatefulSet makes a fresh PVC with it.
 */
export function releaseSteps(r: ReleaseView): NodeAction[] {
    if (!r.pvcDeleted) return [{ kind: "deletePvc", node: r.node, namespace: r.namespace, name: r.pvc, uid: r.pvcUid, pod: r.pod }];
    const rep = r.replacement;
    if (rep && !r.freshPvc && !r.replacementDeleted && !rep.deleting && rep.uid !== r.oldPodUid && rep.phase === "Pending") {
        return [{ kind: "deleteReplacementPod", node: r.node, namespace: r.namespace, name: r.pod, uid: rep.uid }];
    }
    return [];
}

/**
 * Decides what to do about every node. Gates, in order: only the leader acts, only on a current
 * cache; a node must be failed (classify); control-plane nodes only with the opt-in and their own
 * quorum; opted-out nodes never; no claim (and no taint) during a storm or its cooldown; a node
 * its agent protects only with quorum; then claim → hook → taint → pods → mark remediated →
 * (deleteNode) → delete-pvc. Dry run turns every action into a report.
 */
export function decide(input: DecideInput): Decision {
    const { now, config } = input;
    const states: Record<string, NodeState> = {};
    const whys: Record<string, string> = {};
    const protection: Record<string, Protection | undefined> = {};
    const holds: Record<string, HoldReason> = {};
    let nextCheckAt: number | undefined;
    const byName = new Map(input.nodes.map((n) => [n.name, n]));
    for (const n of input.nodes) {
        const c = classify(n, now, config);
        states[n.name] = c.state;
        whys[n.name] = c.why;
        protection[n.name] = c.protection;
        if (c.hold) holds[n.name] = c.hold;
        nextCheckAt = earliest(nextCheckAt, c.recheckAt);
    }
    const recent = (input.recentlyDeleted ?? []).filter((d) => now - d.at < config.stormWindowMs && !(d.name in states));
    for (const d of recent) nextCheckAt = earliest(nextCheckAt, d.at + config.stormWindowMs);
    // Every node that is not Ready, or whose kubelet has gone quiet, counts: if many look dead at
    // once the likelier cause is the network or ourselves, and acting would make it worse. The
    // kubelet's Lease goes quiet long before the control plane's grace period ends, so nodes cut
    // off together are counted together even when one of them turns NotReady first.
    const quiet = (n: NodeView) => n.kubeletLeaseAt !== undefined && now - n.kubeletLeaseAt > KUBELET_LEASE_STALE_MS;
    const unhealthy = input.nodes.filter((n) => n.ready !== "True" || quiet(n)).length + recent.length;
    const allowed = allowedUnhealthy(config.maxUnhealthy, input.nodes.length + recent.length);
    const storm = unhealthy > allowed;
    const prev = input.memory ?? { stormActive: false };
    const memory: DecideMemory = storm ? { stormActive: true } : prev.stormActive ? { stormActive: false, stormEndedAt: now } : { ...prev };
    const cooldownUntil =
        !storm && memory.stormEndedAt !== undefined && now - memory.stormEndedAt < config.stormCooldownMs
            ? memory.stormEndedAt + config.stormCooldownMs
            : undefined;
    nextCheckAt = earliest(nextCheckAt, cooldownUntil);

    const participants = input.nodes.filter((n) => n.heartbeat?.participant);
    // The settle period must cover every participant's re-check + fence execution + margin.
    let settleMs = config.settleMs;
    for (const n of participants) {
        const t = n.heartbeat!.timing;
        if (t) settleMs = Math.max(settleMs, minSettleMs(t, config.marginMs));
    }
    const qconfig = settleMs === config.settleMs ? config : { ...config, settleMs };
    const settledNow = participants.filter((n) => settled(n.heartbeat, now, qconfig)).length;
    for (const n of participants) {
        const hb = n.heartbeat!;
        if (heartbeatFresh(hb, now, config) && hb.freshSince !== undefined && now - hb.freshSince < settleMs) {
            nextCheckAt = earliest(nextCheckAt, hb.freshSince + settleMs);
        }
    }
    const quorum = { participants: participants.length, settled: settledNow, ok: participants.length > 0 && 2 * settledNow >= participants.length };
    const base = { states, why: whys, protection, unhealthy, allowed, storm, cooldownUntil, quorum, memory };
    if (!input.leader) return { ...base, actions: [], reports: [], blocked: "not-leader", nextCheckAt };
    if (!input.cacheFresh) return { ...base, actions: [], reports: [], blocked: "cache-stale", nextCheckAt };

    const actions: NodeAction[] = [];
    const reports: Report[] = [];
    const act = (node: string, planned: NodeAction[]) => {
        if (planned.length === 0) return;
        if (config.dryRun) reports.push({ node, reason: "DryRun", message: `dry run: would ${planned.map(describe).join(", then ")}`, warning: false });
        else actions.push(...planned);
    };
    const report = (node: string, reason: string, message: string, warning = true) => reports.push({ node, reason, message, warning });
    const stormReason = (): [string, string] | undefined => {
        if (storm)
            return [
                "TooManyUnhealthy",
                `${unhealthy} nodes are unhealthy, more than maxUnhealthy allows (${allowed}); doing nothing, since a network problem or the liberator itself is the likelier cause`,
            ];
        if (cooldownUntil !== undefined)
            return [
                "StormCooldown",
                `the number of unhealthy nodes dropped back to the limit ${secs(now - memory.stormEndedAt!)} ago; remediating nothing for another ${secs(cooldownUntil - now)} (stormCooldownSeconds)`,
            ];
        return undefined;
    };
    const controlPlane = input.nodes.filter((n) => isControlPlane(n.labels));
    const cpBusy = controlPlane.some((n) => states[n.name] === "remediating");

    for (const n of input.nodes) {
        const state = states[n.name];
        const hb = n.heartbeat;
        if (state === "recovering") {
            if (ourTaint(n)) act(n.name, [{ kind: "untaint", node: n.name, uid: n.uid, resourceVersion: n.resourceVersion }]);
            else if (hb?.claim) act(n.name, [{ kind: "releaseClaim", node: n.name, lease: hb.name, resourceVersion: hb.resourceVersion }]);
            continue;
        }
        if (state === "unconfirmed" || state === "unprotected") {
            const reason = state === "unprotected" ? "NotFenced" : holds[n.name];
            report(n.name, reason, `not remediating: ${whys[n.name]}${state === "unprotected" ? ` (${holds[n.name]})` : ""}`);
            continue;
        }
        if (state === "failed") {
            if (protection[n.name] === "unsafe") {
                report(n.name, "UnsafeRemediation", `remediating without any fence (unsafeNoFencing): ${whys[n.name]}; two copies of its pods may run at once`);
            }
            if (isControlPlane(n.labels)) {
                if (!config.remediateControlPlane) {
                    report(n.name, "ControlPlaneSkipped", `control-plane node is down (${whys[n.name]}); remediateControlPlane is off`);
                    continue;
                }
                const readyCp = controlPlane.filter((c) => c.ready === "True").length;
                if (2 * readyCp <= controlPlane.length || cpBusy) {
                    report(
                        n.name,
                        "ControlPlaneQuorum",
                        cpBusy
                            ? "another control-plane node is being remediated; one at a time"
                            : `only ${readyCp} of ${controlPlane.length} control-plane nodes are Ready; more than half must be`,
                    );
                    continue;
                }
            }
            if (config.optOutLabel in n.labels) {
                report(n.name, "OptedOut", `node is down but carries the opt-out label ${config.optOutLabel}`, false);
                continue;
            }
            const s = stormReason();
            if (s) {
                report(n.name, s[0], s[1]);
                continue;
            }
            if (protection[n.name] === "agent") {
                const q = quorumFor(n, byName, participants, now, qconfig);
                if (!q.ok) {
                    report(n.name, "QuorumLost", `not remediating: ${q.why}`);
                    continue;
                }
            }
            if (hb) {
                act(n.name, [{ kind: "claim", node: n.name, lease: hb.name, resourceVersion: hb.resourceVersion }]);
                continue;
            }
            // No Lease to claim (hook or unsafe path): go straight on.
        }
        if (state !== "failed" && state !== "remediating" && state !== "remediated") continue;
        // Claimed (or, without a Lease, failed or tainted by us): finish the remediation.
        const tainted = hasOutOfServiceTaint(n.taints);
        const beforeTaint = config.mode === "outOfServiceTaint" ? !tainted : state !== "remediated";
        if (beforeTaint) {
            const s = stormReason();
            if (s) {
                report(n.name, s[0], s[1]);
                continue;
            }
        }
        // A dry run shows the hook with the rest of the plan below.
        if (config.fence && beforeTaint && !config.dryRun) {
            const f = n.fence;
            if (!f || (f.state === "failed" && now - f.at >= config.fenceRetryMs)) {
                actions.push({ kind: "fence", node: n.name });
                continue;
            }
            if (f.state === "running") continue;
            if (f.state === "failed") {
                nextCheckAt = earliest(nextCheckAt, f.at + config.fenceRetryMs);
                report(n.name, "FenceFailed", `fence hook failed (${f.message ?? "no detail"}); not remediating until it succeeds`);
                continue;
            }
        }
        const plan: NodeAction[] = config.fence && config.dryRun && beforeTaint ? [{ kind: "fence", node: n.name }] : [];
        if (config.mode === "outOfServiceTaint" && !tainted) {
            plan.push({ kind: "taint", node: n.name, uid: n.uid, resourceVersion: n.resourceVersion });
            act(n.name, plan);
            continue;
        }
        if (state === "remediated") {
            if (config.mode === "deleteNode") act(n.name, [{ kind: "deleteNode", node: n.name, uid: n.uid, resourceVersion: n.resourceVersion }]);
            continue;
        }
        const pods = podSteps(n, config, now);
        nextCheckAt = earliest(nextCheckAt, pods.recheckAt);
        if (pods.actions.some((a) => a.kind === "listPods")) {
            // Reading is harmless: a dry run lists too, so it can say what it would do to the pods.
            actions.push(...pods.actions);
            continue;
        }
        if (!pods.empty) {
            act(n.name, [...plan, ...pods.actions]);
            continue;
        }
        if (hb?.claim && hb.claim.phase !== "remediated")
            plan.push({ kind: "markRemediated", node: n.name, lease: hb.name, resourceVersion: hb.resourceVersion });
        if (config.mode === "deleteNode") plan.push({ kind: "deleteNode", node: n.name, uid: n.uid, resourceVersion: n.resourceVersion });
        act(n.name, plan);
    }
    if (config.releaseLocalVolumes) {
        // Only once the node is remediated, or gone (deleteNode mode): never while it may return
        // with the volume intact, and never before its pods were freed.
        for (const r of input.releases ?? []) {
            const node = byName.get(r.node);
            if (node && states[node.name] !== "remediated") continue;
            act(r.node, releaseSteps(r));
        }
    }
    for (const n of input.nodes) {
        if (states[n.name] !== "remediated" && states[n.name] !== "remediating") continue;
        for (const p of n.pods?.items ?? []) {
            for (const c of p.claims) {
                if (c.localToNode && !(config.releaseLocalVolumes && c.policy === "delete-pvc")) {
                    report(
                        n.name,
                        "WaitingForLocalVolume",
                        `pod ${p.namespace}/${p.name} keeps PVC ${c.name}, whose volume lives on ${n.name}; it will start again when the node returns (StatefulSet ${p.statefulSet} has no "${ANN.localVolumePolicy}: delete-pvc")`,
                        false,
                    );
                }
            }
        }
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
    /** Delete, Retain or Recycle. */
    reclaimPolicy: string;
    claim?: string;
    pinnedTo: string[];
}

export interface OrphanDecision {
    orphaned: string[];
    actions: PvAction[];
    reports: { pv: string; reason: string; message: string; warning: boolean }[];
    nextCheckAt?: number;
}

/** Phases in which a PV holds no claim (or a claim that is gone); Bound PVs are never deleted. */
const DELETABLE_PHASES = ["Released", "Failed", "Available"];

/**
 * Local PVs whose node affinity names only nodes that no longer exist can never be used again:
 * report them, and delete the unclaimed ones whose reclaim policy is Delete when the user opted in
 * and they stayed orphaned for the grace period. A Retain PV is never deleted: the policy is the
 * owner's statement that the data outlives the claim (a node away for repair comes back with it).
 */
export function decideOrphanedVolumes(input: {
    now: number;
    config: Pick<DecideConfig, "orphanedVolumes" | "orphanedVolumeGraceMs" | "dryRun">;
    leader: boolean;
    cacheFresh: boolean;
    nodes: { name: string; labels: Record<string, string> }[];
    pvs: PvView[];
    /** Monotonic time each PV was first seen orphaned. */
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
        if (pv.reclaimPolicy !== "Delete") {
            out.reports.push({
                pv: pv.name,
                reason: "OrphanedVolumeRetained",
                message: `${pv.phase} PV is pinned to node ${on}, which no longer exists; its reclaim policy is ${pv.reclaimPolicy || "unset"}, so the liberator never deletes it (delete it yourself once the data is not needed)`,
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

/** A heartbeat Lease, as the clean-up of stale ones sees it. */
export interface HeartbeatLeaseView {
    node: string;
    name: string;
    uid: string;
    resourceVersion: string;
    /** The agent pod that last wrote it. */
    holder: string;
    claimed: boolean;
    /** Observed renewed within its fresh window. */
    fresh: boolean;
}

/**
 * A heartbeat Lease outlives its agent when the pod is evicted, deleted or moved; a stale one
 * would then read as "agent gone since" forever. Delete the Leases whose agent pod (the holder),
 * or whose node, has been gone for the grace period, unless claimed or renewed meanwhile. A dry
 * run deletes none. `goneSince` carries when each was first seen gone to the next decision.
 */
export function decideStaleHeartbeats(input: {
    now: number;
    graceMs: number;
    dryRun: boolean;
    leases: HeartbeatLeaseView[];
    agentPods: Set<string>;
    nodes: Set<string>;
    goneSince: Record<string, number>;
}): { actions: HeartbeatAction[]; goneSince: Record<string, number>; nextCheckAt?: number } {
    const { now } = input;
    const out: { actions: HeartbeatAction[]; goneSince: Record<string, number>; nextCheckAt?: number } = { actions: [], goneSince: {} };
    for (const l of input.leases) {
        const gone = !l.claimed && !l.fresh && (!input.agentPods.has(l.holder) || !input.nodes.has(l.node));
        if (!gone) continue;
        const since = input.goneSince[l.name] ?? now;
        out.goneSince[l.name] = since;
        if (now - since < input.graceMs) {
            out.nextCheckAt = earliest(out.nextCheckAt, since + input.graceMs);
            continue;
        }
        if (input.dryRun) continue;
        out.actions.push({ kind: "deleteHeartbeat", node: l.node, lease: l.name, uid: l.uid, resourceVersion: l.resourceVersion, holder: l.holder });
    }
    return out;
}

interface LeaseSeen {
    renewTime: string;
    /** Monotonic time we saw this renewTime first. */
    at: number;
    /** Only seen at start-up (or first sight), never seen to change. */
    initial: boolean;
    /** Start of the run of renewals with no gap longer than the window given on observation. */
    runStart: number;
}

/**
 * Remembers, on the monotonic clock, when each signal last changed. Staleness is measured from
 * the moment we saw a change, never against timestamps other machines wrote, so neither clock
 * skew nor a wall-clock step can make a live node look dead. A signal first seen counts as
 * renewed at that moment: after a restart the controller waits a full period before acting.
 */
export class Observations {
    private readonly ready = new Map<string, { status: ConditionStatus; notReadySince?: number }>();
    private readonly leases = new Map<string, LeaseSeen>();

    observeNode(name: string, status: ConditionStatus, now: number): void {
        const prev = this.ready.get(name);
        if (status === "True") this.ready.set(name, { status });
        else if (!prev || prev.status === "True") this.ready.set(name, { status, notReadySince: now });
        else this.ready.set(name, { status, notReadySince: prev.notReadySince });
    }

    notReadySince(name: string): number | undefined {
        return this.ready.get(name)?.notReadySince;
    }

    /**
     * `key` identifies the Lease; `renewTime` is its spec.renewTime as written. `windowMs`: a gap
     * between renewals longer than this ends the current fresh run.
     */
    observeLease(key: string, renewTime: string | undefined, now: number, windowMs = Infinity): void {
        const value = renewTime ?? "";
        const prev = this.leases.get(key);
        if (!prev) this.leases.set(key, { renewTime: value, at: now, initial: true, runStart: now });
        else if (prev.renewTime !== value) {
            this.leases.set(key, { renewTime: value, at: now, initial: false, runStart: now - prev.at < windowMs ? prev.runStart : now });
        }
    }

    lease(key: string): Readonly<LeaseSeen> | undefined {
        return this.leases.get(key);
    }

    forgetNode(name: string): void {
        this.ready.delete(name);
    }

    forgetLease(key: string): void {
        this.leases.delete(key);
    }
}
