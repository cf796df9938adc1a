/**
 * Each liberator replica renews a Lease named after its own node. It is the second, independent
 * sign of life the leader needs before it remediates a node: the kubelet's Lease can stop because
 * the kubelet crashed while the machine and its pods keep running; then this heartbeat continues
 * and the leader holds back. The Lease is owned by the Node, so it goes when the Node is deleted.
 */
import * as crypto from "crypto";
import { isAlreadyExists, isConflict, isNotFound, KubeClient } from "./kube";
import { LeaseObject, microTime } from "./leader";

export const HEARTBEAT_PREFIX = "heartbeat.";
/** Names the node on the Lease; node names can exceed the 63-character limit of label values. */
export const HEARTBEAT_NODE_ANNOTATION = "liberator.pets/node";

/** `heartbeat.<node>`; names that would exceed 253 characters are shortened with a hash. */
export function heartbeatLeaseName(node: string): string {
    const name = HEARTBEAT_PREFIX + node;
    if (name.length <= 253) return name;
    const hash = crypto.createHash("sha256").update(node).digest("hex").slice(0, 16);
    return `${HEARTBEAT_PREFIX}${node.slice(0, 253 - HEARTBEAT_PREFIX.length - 17).replace(/[.-]+$/, "")}-${hash}`;
}

/** The node a heartbeat Lease speaks for, or undefined if the Lease is not a heartbeat. */
export function heartbeatNode(lease: LeaseObject): string | undefined {
    if (!lease.metadata.name.startsWith(HEARTBEAT_PREFIX)) return undefined;
    return lease.metadata.annotations?.[HEARTBEAT_NODE_ANNOTATION] ?? lease.metadata.name.slice(HEARTBEAT_PREFIX.length);
}

export interface HeartbeatOptions {
    namespace: string;
    nodeName: string;
    identity: string;
    intervalMs: number;
    /** The Node's uid, once known, for the owner reference. */
    nodeUid: () => string | undefined;
    onError?: (e: unknown) => void;
    now?: () => number;
}

export class Heartbeat {
    /** Local time of the last successful renewal; 0 before the first. */
    lastRenewedAt = 0;
    readonly startedAt: number;
    readonly stats = { renewals: 0, failures: 0 };
    private last?: LeaseObject;
    private timer?: NodeJS.Timeout;
    private stopped = true;
    private ticking?: Promise<void>;
    private readonly now: () => number;

    constructor(
        private readonly client: KubeClient,
        private readonly opts: HeartbeatOptions,
    ) {
        this.now = opts.now ?? Date.now;
        this.startedAt = this.now();
    }

    get name(): string {
        return heartbeatLeaseName(this.opts.nodeName);
    }

    private get path(): string {
        return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`;
    }

    start(): void {
        if (!this.stopped) return;
        this.stopped = false;
        const loop = () => {
            if (this.stopped) return;
            this.ticking = this.beat().finally(() => {
                this.ticking = undefined;
                if (!this.stopped) this.timer = setTimeout(loop, this.opts.intervalMs);
            });
        };
        loop();
    }

    async stop(): Promise<void> {
        this.stopped = true;
        if (this.timer) clearTimeout(this.timer);
        await this.ticking;
    }

    /** The Lease as we want it now (owner reference once the Node's uid is known). */
    body(resourceVersion?: string): LeaseObject {
        const uid = this.opts.nodeUid();
        return {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: {
                name: this.name,
                namespace: this.opts.namespace,
                ...(resourceVersion ? { resourceVersion } : {}),
                labels: { "app.kubernetes.io/component": "heartbeat" },
                annotations: { [HEARTBEAT_NODE_ANNOTATION]: this.opts.nodeName },
                ...(uid ? { ownerReferences: [{ apiVersion: "v1", kind: "Node", name: this.opts.nodeName, uid }] } : {}),
            },
            spec: {
                holderIdentity: this.opts.identity,
                leaseDurationSeconds: Math.ceil((3 * this.opts.intervalMs) / 1000),
                renewTime: microTime(this.now()),
            },
        };
    }

    /** One renewal: update what we wrote last, create if missing, re-read on conflict. */
    async beat(): Promise<void> {
        const timeoutMs = Math.max(1000, this.opts.intervalMs);
        try {
            if (this.last?.metadata.resourceVersion) {
                try {
                    this.last = await this.client.replace(`${this.path}/${this.name}`, this.body(this.last.metadata.resourceVersion), timeoutMs);
                } catch (e) {
                    if (isNotFound(e)) this.last = await this.client.create(this.path, this.body(), timeoutMs);
                    else if (isConflict(e)) {
                        const cur = await this.client.get<LeaseObject>(`${this.path}/${this.name}`, undefined, timeoutMs);
                        this.last = await this.client.replace(`${this.path}/${this.name}`, this.body(cur.metadata.resourceVersion), timeoutMs);
                    } else throw e;
                }
            } else {
                try {
                    this.last = await this.client.create(this.path, this.body(), timeoutMs);
                } catch (e) {
                    if (!isAlreadyExists(e) && !isConflict(e)) throw e;
                    const cur = await this.client.get<LeaseObject>(`${this.path}/${this.name}`, undefined, timeoutMs);
                    this.last = await this.client.replace(`${this.path}/${this.name}`, this.body(cur.metadata.resourceVersion), timeoutMs);
                }
            }
            this.lastRenewedAt = this.now();
            this.stats.renewals++;
        } catch (e) {
            this.stats.failures++;
            this.opts.onError?.(e);
        }
    }
}
