/**
 * The contract between the NodeLiberator component, the per-node agent and the controller: names,
 * annotation keys, defaults and the timing rules that make "never two live copies" hold. One
 * module, imported by all three, so a rule cannot drift between them. Pure: no imports, no I/O.
 */

/** Everything time-related is in milliseconds unless the name says seconds. */
export const DEFAULTS = {
    /** H: the agent renews its heartbeat Lease this often. */
    renewIntervalSeconds: 5,
    /** T_sf: no renewal succeeded for this long (from the send time of the last one that did) → the agent fences. */
    selfFenceSeconds: 30,
    /** T_exec: the agent's fence (kubelet killed, StatefulSet sandboxes stopped) completes within this. */
    fenceExecSeconds: 10,
    /** Added by the controller on top of T_sf + T_exec: scheduling, request latency, clock rate. */
    marginSeconds: 5,
    /** P: while cut off the agent re-asks its peers and re-applies its fence this often. */
    peerRecheckSeconds: 1,
    /** Quorum must have held this long without a break before a claim; ≥ P + T_exec + margin. */
    settleSeconds: 20,
    /** After a storm (too many unhealthy nodes) ends, wait this long before remediating anything. */
    stormCooldownSeconds: 60,
    /** Extra wait after the control plane marks a node not Ready (its grace period already passed). */
    unhealthyAfterSeconds: 0,
    /** Agents refresh their list of peers (a list of Leases in their namespace) this often. */
    peerListSeconds: 30,
    /** The agent's peer and metrics port on the node's network. */
    peerPort: 9465,
    /** Leader election of the controller replicas. */
    leaseDurationSeconds: 15,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: 2,
    /** A heartbeat Lease whose agent pod is gone (and not claimed) is deleted after this long. */
    orphanedHeartbeatSeconds: 300,
    controllerReplicas: 2,
    criSocket: "/run/containerd/containerd.sock",
    kubeletProcessName: "kubelet",
} as const;

/**
 * A kubelet renews its Lease every 10 s (Kubernetes' default). One not seen renewed for longer than
 * this counts against the storm guard before the control plane even marks its node not Ready, so
 * nodes that fail together are counted together.
 */
export const KUBELET_LEASE_STALE_MS = 15_000;

/** Bounds the component and both processes enforce on the self-fence settings. */
export const LIMITS = {
    renewIntervalSeconds: [1, 60],
    selfFenceSeconds: [5, 600],
    fenceExecSeconds: [2, 300],
    marginSeconds: [1, 300],
    settleSeconds: [1, 3600],
} as const;

/** Where the component installs everything, and where the processes look when nothing says otherwise. */
export const DEFAULT_NAMESPACE = "tkr-system";
/** Where the kubelets' Leases live; the controller watches them (and may read nothing else there). */
export const NODE_LEASE_NAMESPACE = "kube-node-lease";
/** Events about cluster-scoped objects (Nodes, PVs) must live in "default". */
export const EVENT_NAMESPACE = "default";

/**
 * The processes take their settings as flags or as environment variables (flags win); the
 * component sets the variables. A flag's variable is LIBERATOR_ and the flag in upper snake case.
 */
export function flagEnv(flag: string): string {
    return `LIBERATOR_${flag.toUpperCase().replace(/-/g, "_")}`;
}
/** The pod's own fields, which the component passes in through the downward API. */
export const POD_ENV = { name: "POD_NAME", namespace: "POD_NAMESPACE", node: "NODE_NAME", hostIp: "HOST_IP" } as const;
/** The fence hook's bearer token: from a Secret, in the environment only (never a flag). */
export const FENCE_TOKEN_ENV = "LIBERATOR_FENCE_TOKEN";
/** The processes' HTTP endpoints (metrics, readiness, liveness), which the component's probes and scrape annotations name. */
export const HTTP_PATHS = { metrics: "/metrics", healthz: "/healthz", livez: "/livez" } as const;

/** Heartbeat Leases are `heartbeat.<node>` in the liberator's namespace. */
export const HEARTBEAT_PREFIX = "heartbeat.";
/** Longest node name whose Lease name fits 253 characters; longer nodes cannot take part. */
export const MAX_HEARTBEAT_NODE_NAME = 253 - HEARTBEAT_PREFIX.length;
export const HEARTBEAT_COMPONENT_LABEL = "heartbeat";

/** Annotation keys, all under one prefix. */
export const ANN = {
    /** The node the Lease speaks for. */
    node: "liberator.pets/node",
    /** T_sf, T_exec and H the agent works with, in seconds. */
    selfFenceSeconds: "liberator.pets/self-fence-seconds",
    fenceExecSeconds: "liberator.pets/fence-exec-seconds",
    renewIntervalSeconds: "liberator.pets/renew-interval-seconds",
    /** "true" while the agent can and will fence itself; "false" otherwise (see armProblems). */
    armed: "liberator.pets/armed",
    armProblems: "liberator.pets/arm-problems",
    /** Set the first time the agent armed; its presence makes the node a participant for quorum. */
    armedSince: "liberator.pets/armed-since",
    /** host:port where peers reach the agent. */
    peerAddress: "liberator.pets/peer-address",
    /** Comma-separated nodes the agent counts in its peer vote (itself included). */
    peers: "liberator.pets/peers",
    watchdog: "liberator.pets/watchdog",
    version: "liberator.pets/agent-version",
    /** Written only by the controller: the node is being remediated; the agent must not renew. */
    claimedBy: "liberator.pets/claimed-by",
    claimedAt: "liberator.pets/claimed-at",
    /** "claimed": keep fenced. "remediated": the node's StatefulSet pods are gone from the API; the kubelet may run. */
    claimPhase: "liberator.pets/claim-phase",
    /** Set on the Node with the out-of-service taint, so only our own taint is removed. */
    taintedSince: "liberator.pets/out-of-service-since",
    /** On a StatefulSet: "delete-pvc" lets the liberator drop a dead node's local PVC. */
    localVolumePolicy: "liberator.pets/local-volume-policy",
    /** Rolls pods when the shipped code changes. */
    codeSha256: "liberator.pets/code-sha256",
} as const;

export type ClaimPhase = "claimed" | "remediated";
export const DEFAULT_OPT_OUT_LABEL = "liberator.pets/exclude";
export const STATEFULSET_POD_LABEL = "statefulset.kubernetes.io/pod-name";
export const OUT_OF_SERVICE_TAINT = { key: "node.kubernetes.io/out-of-service", value: "nodeshutdown", effect: "NoExecute" } as const;
/** The bound service-account token's extra field naming the pod's node (Kubernetes ≥ 1.30). */
export const TOKEN_NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";
export const TOKEN_NODE_UID_EXTRA = "authentication.kubernetes.io/node-uid";
export const AGENT_VERSION = "2";

/** `heartbeat.<node>`; undefined for node names too long to fit (such nodes never take part). */
export function heartbeatLeaseName(node: string): string | undefined {
    return node.length <= MAX_HEARTBEAT_NODE_NAME ? HEARTBEAT_PREFIX + node : undefined;
}

/** The node a heartbeat Lease speaks for, or undefined if it is not a heartbeat Lease. */
export function heartbeatNode(lease: { metadata: { name: string; annotations?: Record<string, string> } }): string | undefined {
    if (!lease.metadata.name.startsWith(HEARTBEAT_PREFIX)) return undefined;
    return lease.metadata.annotations?.[ANN.node] ?? lease.metadata.name.slice(HEARTBEAT_PREFIX.length);
}

/** The self-fence settings every agent advertises and the controller reads back. */
export interface FenceTiming {
    renewIntervalMs: number;
    selfFenceMs: number;
    fenceExecMs: number;
}

/**
 * A peer answers "I cannot reach the API server" once its own last successful renewal is this
 * old. It is longer than the controller's fresh window plus the time a renewal takes to reach the
 * controller's cache, so a node that votes "down" is never also counted fresh by the controller.
 */
export function apiDownAfterMs(t: Pick<FenceTiming, "renewIntervalMs">): number {
    return 3 * t.renewIntervalMs;
}

/** The controller counts a heartbeat fresh while its last renewal was observed less than this ago. */
export function freshWindowMs(t: Pick<FenceTiming, "renewIntervalMs">): number {
    return 2 * t.renewIntervalMs + Math.min(1000, t.renewIntervalMs);
}

/** P: how often a cut-off agent re-asks its peers and re-applies its fence (1 s; faster only with a faster H). */
export function peerRecheckMs(t: Pick<FenceTiming, "renewIntervalMs">): number {
    return Math.min(DEFAULTS.peerRecheckSeconds * 1000, t.renewIntervalMs);
}

/**
 * How long the controller waits, from the moment it observed the last renewal, before it may claim
 * the node: the agent fences by (send time of that renewal) + T_sf + T_exec on its own clock; the
 * send came before our observation, and the margin covers clock-rate differences and scheduling.
 */
export function claimAfterMs(t: Pick<FenceTiming, "selfFenceMs" | "fenceExecMs">, marginMs: number): number {
    return t.selfFenceMs + t.fenceExecMs + marginMs;
}

/**
 * A restarted agent does not know when the previous process last renewed, so it treats its start
 * as if it had last renewed this long before its deadline: if its first renewals fail, it fences
 * soon rather than a full T_sf later.
 */
export function startupGraceMs(t: Pick<FenceTiming, "selfFenceMs">): number {
    return Math.min(10_000, Math.floor(t.selfFenceMs / 2));
}

/**
 * Shortest settle period that covers an agent's re-check, its fence and the margin, and is longer
 * than a heartbeat's fresh window (so one stray renewal cannot make a node count as settled).
 */
export function minSettleMs(t: Pick<FenceTiming, "fenceExecMs" | "renewIntervalMs">, marginMs: number): number {
    return Math.max(peerRecheckMs(t) + t.fenceExecMs + marginMs, freshWindowMs(t) + peerRecheckMs(t));
}

/**
 * The timing relations, as messages naming the setting (seconds). Used by the component, the
 * agent and the controller so all three refuse the same bad combinations.
 */
export function timingProblems(s: {
    renewIntervalSeconds: number;
    selfFenceSeconds: number;
    fenceExecSeconds: number;
    marginSeconds: number;
    settleSeconds: number;
}): { field: string; value: number; expected: string }[] {
    const out: { field: string; value: number; expected: string }[] = [];
    if (s.renewIntervalSeconds * 3 > s.selfFenceSeconds) {
        out.push({
            field: "renewIntervalSeconds",
            value: s.renewIntervalSeconds,
            expected: `must be at most a third of the self-fence timeout (${s.selfFenceSeconds} s), so a node gets at least three tries before it fences itself`,
        });
    }
    const minSettle = minSettleMs({ fenceExecMs: s.fenceExecSeconds * 1000, renewIntervalMs: s.renewIntervalSeconds * 1000 }, s.marginSeconds * 1000);
    if (s.settleSeconds * 1000 < minSettle) {
        out.push({
            field: "settleSeconds",
            value: s.settleSeconds,
            expected: `must be at least ${Math.ceil(minSettle / 1000)} (the agents' peer re-check + fence execution + margin, and longer than a heartbeat's fresh window)`,
        });
    }
    return out;
}
