/**
 * What the controller reads on demand, beyond its watches: a remediating node's StatefulSet pods
 * (and, for the local-volume policy, their StatefulSets, claims and volumes), and the state of
 * delete-pvc releases in progress. Results go into the controller's memory, where the next
 * decision finds them.
 */
import { ANN, STATEFULSET_POD_LABEL } from "./contract";
import { DecideConfig, HOSTNAME_LABEL, NodeView, PodView, pvOnNode } from "./decide";
import { isNotFound, KubeClient } from "./kube";
import { ControllerMemory } from "./memory";
import { Logger } from "./metrics";

type Policy = "wait" | "delete-pvc";

export class Inspector {
    constructor(
        private readonly client: KubeClient,
        private readonly memory: ControllerMemory,
        private readonly config: Pick<DecideConfig, "releaseLocalVolumes" | "podRecheckMs">,
        private readonly log: Logger,
        private readonly now: () => number,
    ) {}

    /** Lists the node's StatefulSet pods and, for the local-volume policy, their claims. */
    async listPods(node: string, view: NodeView | undefined): Promise<void> {
        const list: any = await this.client.get("/api/v1/pods", { fieldSelector: `spec.nodeName=${node}` });
        const items: PodView[] = [];
        const policies = new Map<string, Policy>();
        for (const p of list.items ?? []) {
            const owner = (p.metadata.ownerReferences ?? []).find((o: any) => o.kind === "StatefulSet" && o.controller);
            if (!owner && !(STATEFULSET_POD_LABEL in (p.metadata.labels ?? {}))) continue;
            const ns = p.metadata.namespace;
            const stsName = owner?.name ?? "";
            const claims: PodView["claims"] = [];
            if (this.config.releaseLocalVolumes && owner) {
                const stsKey = `${ns}/${stsName}`;
                if (!policies.has(stsKey)) policies.set(stsKey, await this.policyOf(ns, stsName));
                for (const vol of p.spec?.volumes ?? []) {
                    const claim = await this.claimOf(ns, vol.persistentVolumeClaim?.claimName, node, view, policies.get(stsKey)!);
                    if (!claim) continue;
                    claims.push(claim);
                    this.trackRelease(node, ns, p, claim);
                }
            }
            items.push({ namespace: ns, name: p.metadata.name, uid: p.metadata.uid, statefulSet: stsName, claims });
        }
        this.memory.podListings.set(node, { listedAt: this.now(), items });
        this.log.info("listed the node's StatefulSet pods", { node, pods: items.map((p) => `${p.namespace}/${p.name}`) });
    }

    /** The StatefulSet's local-volume policy (annotation, or label): "delete-pvc" only when it opted in. */
    private async policyOf(namespace: string, statefulSet: string): Promise<Policy> {
        try {
            const sts: any = await this.client.get(`/apis/apps/v1/namespaces/${namespace}/statefulsets/${statefulSet}`);
            const v = sts.metadata?.annotations?.[ANN.localVolumePolicy] ?? sts.metadata?.labels?.[ANN.localVolumePolicy];
            return v === "delete-pvc" ? "delete-pvc" : "wait";
        } catch (e) {
            if (!isNotFound(e)) throw e;
            return "wait";
        }
    }

    /** A pod's claim and whether its volume lives on the node; undefined when it is no claim or gone. */
    private async claimOf(namespace: string, claimName: string | undefined, node: string, view: NodeView | undefined, policy: Policy) {
        if (!claimName) return undefined;
        let pvc: any;
        try {
            pvc = await this.client.get(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/${claimName}`);
        } catch (e) {
            if (isNotFound(e)) return undefined;
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
        return { name: claimName, uid: pvc.metadata.uid as string, deleting: Boolean(pvc.metadata.deletionTimestamp), localToNode: local, policy };
    }

    /** Remembers an opted-in local claim, gathered before the pods go, to give up once the node is remediated. */
    private trackRelease(node: string, namespace: string, pod: any, claim: PodView["claims"][number]): void {
        const key = `${namespace}/${claim.name}`;
        if (!claim.localToNode || claim.policy !== "delete-pvc" || this.memory.releases.has(key)) return;
        this.memory.releases.set(key, {
            node,
            namespace,
            pvc: claim.name,
            pvcUid: claim.uid,
            pvcDeleted: claim.deleting,
            pod: pod.metadata.name,
            oldPodUid: pod.metadata.uid,
            addedAt: this.now(),
        });
    }

    /** Reads the PVCs and replacement pods of pending delete-pvc work (at most every podRecheck). */
    async refreshReleases(): Promise<void> {
        const now = this.now();
        for (const [key, r] of this.memory.releases) {
            if (r.checkedAt !== undefined && now - r.checkedAt < this.config.podRecheckMs) continue;
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
                if (r.freshPvc || now - r.addedAt > 3_600_000) this.memory.releases.delete(key);
            } catch (e) {
                this.log.warn("could not read the state of a delete-pvc release", { pvc: key, error: String((e as Error).message) });
            }
        }
    }
}
