/**
 * What the controller remembers between reconciles — everything that is not in the watch caches:
 * its own work in progress per node (pod listings, fence hook runs, delete-pvc releases), when
 * things were first seen (orphaned PVs, gone agents, deleted nodes), and the pacing of its writes
 * (backoff after a failure, our last writes the watch has not shown yet). One place, so that a
 * node that recovers or disappears is forgotten everywhere at once.
 */
import { DecideMemory, FenceState, NodeView, ReleaseView } from "./decide";
import { Awaiting, Backoff } from "./plan";

/** A delete-pvc release in progress, with when we last read its PVC and pod and when it started. */
export type TrackedRelease = ReleaseView & { checkedAt?: number; addedAt: number };

export class ControllerMemory {
    /** The storm cooldown, carried from one decision to the next. */
    decide: DecideMemory = { stormActive: false };
    /** Node → its StatefulSet pods as last listed. */
    readonly podListings = new Map<string, NonNullable<NodeView["pods"]>>();
    /** Node → the fence hook's run. */
    readonly fences = new Map<string, FenceState>();
    /** ns/pvc → what to give up once its node is remediated (delete-pvc). */
    readonly releases = new Map<string, TrackedRelease>();
    /** Nodes this leader deleted (deleteNode mode), for the storm window. */
    recentlyDeleted: { name: string; at: number }[] = [];
    /** PV → monotonic time first seen orphaned. */
    orphanSince: Record<string, number> = {};
    /** Heartbeat Lease → monotonic time its agent pod was first seen gone. */
    agentGoneSince: Record<string, number> = {};
    /** Subject → when it may be acted on again after a failure. */
    readonly backoff = new Map<string, Backoff>();
    /** Node, or `lease:<node>` → the resourceVersion we last wrote against: skip it until the watch shows our write. */
    readonly awaiting = new Map<string, Awaiting>();

    /** The node is gone from the cluster. */
    forgetNode(name: string): void {
        this.podListings.delete(name);
        this.fences.delete(name);
        this.backoff.delete(name);
        this.awaiting.delete(name);
        this.awaiting.delete(`lease:${name}`);
    }

    /** The node is healthy again: its remediation episode is over. */
    endEpisode(node: string): void {
        this.forgetNode(node);
        for (const [k, r] of this.releases) if (r.node === node) this.releases.delete(k);
    }
}
