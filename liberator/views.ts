/**
 * What the controller reads: API objects slimmed to what decisions need (the watch caches keep
 * only these), and the views `decide` takes, built from those objects and from what we observed
 * of them on our monotonic clock.
 */
import { ANN, FenceTiming, LIMITS } from "./contract";
import { ConditionStatus, FenceState, HeartbeatView, NodeView, Observations, pinnedNodes, PvView, Taint } from "./decide";
import { KObject } from "./kube";
import { LeaseObject } from "./leader";

export interface NodeObject extends KObject {
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
            annotations: ANN.taintedSince in ann ? { [ANN.taintedSince]: ann[ANN.taintedSince] } : {},
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

export function slimPod(o: any): KObject {
    return { metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion } };
}

export function slimPv(o: any): KObject {
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

/** What we know of one node besides its Node object: its Leases as observed, and our own work on it. */
export interface NodeExtras {
    observations: Observations;
    /** Its heartbeat Lease, if any. */
    heartbeat?: LeaseObject;
    /** Its kubelet has a Lease in kube-node-lease. */
    hasKubeletLease: boolean;
    pods?: NodeView["pods"];
    fence?: FenceState;
}

/** The node as `decide` sees it. */
export function nodeView(n: NodeObject, x: NodeExtras): NodeView {
    const name = n.metadata.name;
    const kubelet = x.hasKubeletLease ? x.observations.lease(`kubelet/${name}`) : undefined;
    return {
        name,
        uid: n.metadata.uid ?? "",
        resourceVersion: n.metadata.resourceVersion ?? "",
        labels: n.metadata.labels ?? {},
        annotations: n.metadata.annotations ?? {},
        taints: n.spec.taints ?? [],
        ready: readyStatus(n),
        notReadySince: x.observations.notReadySince(name),
        kubeletLeaseAt: kubelet?.at,
        kubeletLeaseInitial: kubelet?.initial,
        heartbeat: x.heartbeat ? heartbeatView(x.heartbeat, x.observations, name) : undefined,
        pods: x.pods,
        fence: x.fence,
    };
}

/** A PV (slimmed by slimPv) as `decideOrphanedVolumes` sees it. */
export function pvView(pv: KObject): PvView {
    return {
        name: pv.metadata.name,
        uid: pv.metadata.uid ?? "",
        resourceVersion: pv.metadata.resourceVersion ?? "",
        phase: pv.status?.phase ?? "",
        reclaimPolicy: pv.spec?.persistentVolumeReclaimPolicy ?? "",
        claim: pv.spec?.claimRef ? `${pv.spec.claimRef.namespace}/${pv.spec.claimRef.name}` : undefined,
        pinnedTo: pinnedNodes(pv),
    };
}
