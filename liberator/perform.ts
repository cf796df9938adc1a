/**
 * How decided actions reach the API server. `run` takes the actions grouped by subject (plan.ts),
 * skips the subjects the gate holds back, performs each group in order while this replica leads,
 * and stops a group at its first failure: a conflict (the object changed since we decided) is
 * decided again on the newer state, any other failure backs the subject off. `perform` turns one
 * action into its API call, log line, Event and counter.
 */
import { Clock, rfc3339 } from "./clock";
import { ANN, OUT_OF_SERVICE_TAINT } from "./contract";
import { Action, NodeView } from "./decide";
import { FenceConfig, FenceResult, runFence } from "./fence";
import { Inspector } from "./inspect";
import { isConflict, isNotFound, KubeClient } from "./kube";
import { ControllerMemory } from "./memory";
import { Logger } from "./metrics";
import { AWAIT_WRITE_MS, backoffDelayMs, gate, writeKey } from "./plan";
import { COMPONENT, Reporter } from "./report";

export type FenceRunner = (cfg: FenceConfig, node: string, reason: string) => Promise<FenceResult>;

export interface ActuatorOptions {
    client: KubeClient;
    /** The liberator's namespace (heartbeat Leases). */
    namespace: string;
    identity: string;
    fence?: FenceConfig;
    fenceRunner?: FenceRunner;
    memory: ControllerMemory;
    inspector: Inspector;
    reporter: Reporter;
    log: Logger;
    clock: Clock;
    /** Asks for a reconcile now (an action's result changes what to decide). */
    reconcileNow: () => void;
}

const TAINT_TEXT = `${OUT_OF_SERVICE_TAINT.key}=${OUT_OF_SERVICE_TAINT.value}:${OUT_OF_SERVICE_TAINT.effect}`;

export class Actuator {
    private readonly memory: ControllerMemory;
    private readonly reporter: Reporter;
    private readonly log: Logger;

    constructor(private readonly o: ActuatorOptions) {
        this.memory = o.memory;
        this.reporter = o.reporter;
        this.log = o.log;
    }

    private now(): number {
        return this.o.clock.mono();
    }

    /** Performs the groups in order while `isLeader()` holds; each group stops at its first failure. */
    async run(groups: { subject: string; actions: Action[] }[], nodes: NodeView[], isLeader: () => boolean): Promise<void> {
        for (const { subject, actions } of groups) {
            const view = nodes.find((n) => n.name === subject);
            const g = gate(subject, { now: this.now(), view, backoff: this.memory.backoff, awaiting: this.memory.awaiting });
            for (const key of g.seen) this.memory.awaiting.delete(key);
            if (!g.open) continue;
            let touchedPods = false;
            let ok = true;
            for (const a of actions) {
                // Leadership can lapse while we work; never act on a lapsed one.
                if (!isLeader()) return;
                touchedPods ||= a.kind === "forceDeletePod";
                try {
                    await this.perform(a, view);
                    this.awaitWrite(a, view);
                } catch (e) {
                    ok = false;
                    this.failed(subject, a, e);
                    break;
                }
            }
            if (ok) this.memory.backoff.delete(subject);
            const listing = this.memory.podListings.get(subject);
            if (touchedPods && listing) listing.attemptedAt = this.now();
        }
    }

    /** Skip the node until the watch shows this write (to the Node, or to its heartbeat Lease). */
    private awaitWrite(a: Action, view: NodeView | undefined): void {
        const key = writeKey(a);
        const rv = key?.startsWith("lease:") ? view?.heartbeat?.resourceVersion : view?.resourceVersion;
        if (key !== undefined && rv !== undefined) this.memory.awaiting.set(key, { rv, until: this.now() + AWAIT_WRITE_MS });
    }

    private failed(subject: string, a: Action, e: unknown): void {
        this.reporter.count(a.kind, false);
        const about = subject.startsWith("pv/") ? { pv: subject.slice(3) } : subject.startsWith("lease/") ? { lease: subject.slice(6) } : { node: subject };
        if (isConflict(e)) {
            // The object changed since we decided (for a claim: the agent renewed, and the clock
            // starts again); decide again on the newer state.
            this.log.info("conflict; deciding again on the current state", { ...about, action: a.kind });
            return;
        }
        const failures = this.memory.backoff.get(subject)?.failures ?? 0;
        const delay = backoffDelayMs(failures);
        this.memory.backoff.set(subject, { until: this.now() + delay, failures: failures + 1 });
        this.log.error("action failed; retrying later", { ...about, action: a.kind, retryInSeconds: delay / 1000, error: String((e as Error)?.message ?? e) });
    }

    /** One action: its API call, then its counter, log line and Event. */
    async perform(a: Action, view: NodeView | undefined): Promise<void> {
        switch (a.kind) {
            case "claim":
                return this.claim(a, view);
            case "markRemediated":
                return this.markRemediated(a);
            case "releaseClaim":
                return this.releaseClaim(a, view);
            case "listPods":
                await this.o.inspector.listPods(a.node, view);
                return this.o.reconcileNow();
            case "fence":
                return this.runFenceHook(a.node, view);
            case "taint":
                return this.taint(a, view);
            case "untaint":
                return this.untaint(a, view);
            case "deleteNode":
                return this.deleteNode(a, view);
            case "forceDeletePod":
                return this.forceDeletePod(a, view);
            case "deletePvc":
                return this.deletePvc(a, view);
            case "deleteReplacementPod":
                return this.deleteReplacementPod(a);
            case "deletePv":
                return this.deletePv(a);
            case "deleteHeartbeat":
                return this.deleteHeartbeat(a);
        }
    }

    private leasePath(name: string): string {
        return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases/${name}`;
    }

    private nodeRef(node: string, view: NodeView | undefined) {
        return { kind: "Node", name: node, uid: view?.uid };
    }

    /** Deletes an object; one already gone counts as deleted. */
    private async deleteIfPresent(path: string, options: Record<string, unknown>): Promise<void> {
        try {
            await this.o.client.delete(path, options);
        } catch (e) {
            if (!isNotFound(e)) throw e;
        }
    }

    private why(v: NodeView): string {
        const now = this.now();
        const age = (t?: number) => (t === undefined ? "never" : `${Math.round((now - t) / 1000)}s ago`);
        return `Ready=${v.ready} since ${age(v.notReadySince)}, kubelet Lease renewed ${age(v.kubeletLeaseAt)}, heartbeat renewed ${age(v.heartbeat?.renewedAt)}`;
    }

    private async claim(a: Extract<Action, { kind: "claim" }>, view: NodeView | undefined): Promise<void> {
        // Compare-and-swap on the version we observed: if the agent renewed since, this fails
        // with 409 and the node's clock starts again.
        await this.o.client.mergePatch(this.leasePath(a.lease), {
            metadata: {
                resourceVersion: a.resourceVersion,
                annotations: { [ANN.claimedBy]: this.o.identity, [ANN.claimedAt]: rfc3339(this.o.clock.wall()), [ANN.claimPhase]: "claimed" },
            },
            spec: { holderIdentity: `${COMPONENT}/${this.o.identity}` },
        });
        this.reporter.count("claim", true);
        this.log.warn("node failed: claimed its heartbeat Lease", { node: a.node, why: view ? this.why(view) : "" });
        this.reporter.event(
            this.nodeRef(a.node, view),
            "Claimed",
            `node failed (${view ? this.why(view) : "dead"}): claimed its heartbeat Lease; its agent has fenced it`,
            true,
        );
    }

    private async markRemediated(a: Extract<Action, { kind: "markRemediated" }>): Promise<void> {
        await this.o.client.mergePatch(this.leasePath(a.lease), {
            metadata: { resourceVersion: a.resourceVersion, annotations: { [ANN.claimPhase]: "remediated" } },
        });
        this.reporter.count("markRemediated", true);
        this.log.info("node remediated: its StatefulSet pods are gone from the API", { node: a.node });
    }

    private async releaseClaim(a: Extract<Action, { kind: "releaseClaim" }>, view: NodeView | undefined): Promise<void> {
        await this.o.client.mergePatch(this.leasePath(a.lease), {
            metadata: { resourceVersion: a.resourceVersion, annotations: { [ANN.claimedBy]: null, [ANN.claimedAt]: null, [ANN.claimPhase]: null } },
            spec: { holderIdentity: null },
        });
        this.reporter.count("releaseClaim", true);
        this.log.info("node Ready again: released the claim on its heartbeat Lease", { node: a.node });
        this.reporter.event(
            this.nodeRef(a.node, view),
            "ClaimReleased",
            "node is Ready again: released the claim; its agent renews its heartbeat again",
            false,
        );
    }

    /** Runs the fence hook in the background: a slow hook must not hold up decisions about other nodes. */
    private runFenceHook(node: string, view: NodeView | undefined): void {
        const fence = this.o.fence;
        if (!fence) return;
        const runner = this.o.fenceRunner ?? runFence;
        const ref = this.nodeRef(node, view);
        this.memory.fences.set(node, { state: "running", at: this.now() });
        this.log.warn("running the fence hook before the taint", { node });
        this.reporter.event(ref, "Fencing", "running the fence hook before remediation", true);
        void runner(fence, node, "node failed")
            .catch((e): FenceResult => ({ ok: false, message: String((e as Error)?.message ?? e) }))
            .then((r) => {
                this.memory.fences.set(node, { state: r.ok ? "succeeded" : "failed", at: this.now(), message: r.message });
                this.reporter.count("fence", r.ok);
                (r.ok ? this.log.warn : this.log.error)(r.ok ? "fence hook succeeded" : "fence hook failed", { node, result: r.message });
                this.reporter.event(ref, r.ok ? "Fenced" : r.timedOut ? "FenceTimedOut" : "FenceFailed", `fence hook: ${r.message}`, true);
                this.o.reconcileNow();
            });
    }

    private async taint(a: Extract<Action, { kind: "taint" }>, view: NodeView | undefined): Promise<void> {
        const since = rfc3339(this.o.clock.wall());
        await this.o.client.mergePatch(`/api/v1/nodes/${a.node}`, {
            metadata: { resourceVersion: a.resourceVersion, annotations: { [ANN.taintedSince]: since } },
            spec: { taints: [...(view?.taints ?? []), { ...OUT_OF_SERVICE_TAINT, timeAdded: since }] },
        });
        this.reporter.count("taint", true);
        this.log.warn("node fenced: added the out-of-service taint", { node: a.node, taint: TAINT_TEXT });
        this.reporter.event(
            this.nodeRef(a.node, view),
            "OutOfServiceTainted",
            `node fenced: tainted ${TAINT_TEXT}; its pods are deleted and volumes detached so StatefulSet pods start elsewhere`,
            true,
        );
    }

    private async untaint(a: Extract<Action, { kind: "untaint" }>, view: NodeView | undefined): Promise<void> {
        const taints = (view?.taints ?? []).filter((t) => !(t.key === OUT_OF_SERVICE_TAINT.key && t.effect === OUT_OF_SERVICE_TAINT.effect));
        await this.o.client.mergePatch(`/api/v1/nodes/${a.node}`, {
            metadata: { resourceVersion: a.resourceVersion, annotations: { [ANN.taintedSince]: null } },
            spec: { taints },
        });
        this.reporter.count("untaint", true);
        this.log.info("node Ready again: removed the out-of-service taint", { node: a.node });
        this.reporter.event(this.nodeRef(a.node, view), "OutOfServiceRemoved", "node is Ready again: removed the out-of-service taint", false);
    }

    private async deleteNode(a: Extract<Action, { kind: "deleteNode" }>, view: NodeView | undefined): Promise<void> {
        this.reporter.event(this.nodeRef(a.node, view), "DeletingNode", "node fenced and its StatefulSet pods freed: deleting the Node", true);
        await this.deleteIfPresent(`/api/v1/nodes/${a.node}`, { preconditions: { uid: a.uid, resourceVersion: a.resourceVersion } });
        this.memory.recentlyDeleted.push({ name: a.node, at: this.now() });
        this.reporter.count("deleteNode", true);
        this.log.warn("node failed: deleted the Node", { node: a.node });
    }

    private async forceDeletePod(a: Extract<Action, { kind: "forceDeletePod" }>, view: NodeView | undefined): Promise<void> {
        await this.deleteIfPresent(`/api/v1/namespaces/${a.namespace}/pods/${a.name}`, { gracePeriodSeconds: 0, preconditions: { uid: a.uid } });
        this.reporter.count("forceDeletePod", true);
        this.log.warn("force-deleted pod of a fenced node", { node: a.node, pod: `${a.namespace}/${a.name}` });
        this.reporter.event(
            this.nodeRef(a.node, view),
            "PodForceDeleted",
            `force-deleted StatefulSet pod ${a.namespace}/${a.name} so its replacement can start`,
            true,
        );
    }

    private async deletePvc(a: Extract<Action, { kind: "deletePvc" }>, view: NodeView | undefined): Promise<void> {
        await this.deleteIfPresent(`/api/v1/namespaces/${a.namespace}/persistentvolumeclaims/${a.name}`, { preconditions: { uid: a.uid } });
        const r = this.memory.releases.get(`${a.namespace}/${a.name}`);
        if (r) r.pvcDeleted = true;
        this.reporter.count("deletePvc", true);
        this.log.warn("deleted PVC on a remediated node's local volume (StatefulSet opted in)", { node: a.node, pvc: `${a.namespace}/${a.name}`, pod: a.pod });
        this.reporter.event(
            this.nodeRef(a.node, view),
            "PVCDeleted",
            `deleted PVC ${a.namespace}/${a.name} of pod ${a.pod}: its volume lives on this remediated node and the StatefulSet opted in with ${ANN.localVolumePolicy}=delete-pvc; the replacement gets fresh storage`,
            true,
        );
    }

    private async deleteReplacementPod(a: Extract<Action, { kind: "deleteReplacementPod" }>): Promise<void> {
        await this.deleteIfPresent(`/api/v1/namespaces/${a.namespace}/pods/${a.name}`, { preconditions: { uid: a.uid } });
        for (const r of this.memory.releases.values()) if (r.namespace === a.namespace && r.pod === a.name) r.replacementDeleted = true;
        this.reporter.count("deleteReplacementPod", true);
        this.log.info("deleted the pending replacement pod so the StatefulSet makes a fresh PVC", { node: a.node, pod: `${a.namespace}/${a.name}` });
    }

    /** A PV pinned to nodes that are gone; one already gone is not counted. */
    private async deletePv(a: Extract<Action, { kind: "deletePv" }>): Promise<void> {
        try {
            await this.o.client.delete(`/api/v1/persistentvolumes/${a.name}`, { preconditions: { uid: a.uid, resourceVersion: a.resourceVersion } });
        } catch (e) {
            if (isNotFound(e)) return;
            throw e;
        }
        this.reporter.count("deletePv", true);
        this.log.warn("deleted orphaned PV", { pv: a.name });
        this.reporter.event(
            { kind: "PersistentVolume", name: a.name, uid: a.uid },
            "OrphanedVolumeDeleted",
            "deleted PV pinned to a node that no longer exists",
            true,
        );
    }

    /** A heartbeat Lease whose agent is gone; one already gone, or renewed or claimed since (a conflict), is left alone. */
    private async deleteHeartbeat(a: Extract<Action, { kind: "deleteHeartbeat" }>): Promise<void> {
        try {
            await this.o.client.delete(this.leasePath(a.lease), { preconditions: { uid: a.uid, resourceVersion: a.resourceVersion } });
        } catch (e) {
            if (isNotFound(e) || isConflict(e)) return;
            throw e;
        }
        this.reporter.count("deleteHeartbeat", true);
        this.log.warn("deleted the heartbeat Lease of an agent that is gone", { node: a.node, lease: a.lease, holder: a.holder });
        delete this.memory.agentGoneSince[a.lease];
    }
}
