/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the
 * Lease every retry period; others take it over only when they have seen no change to it for its
 * lease duration (measured on their own monotonic clock, so neither clock skew nor a wall-clock
 * step matters); a holder that could not renew within the renew deadline stops acting, before
 * anyone else may start. Only the leader among the controller replicas remediates.
 */
import { Clock, microTime, systemClock } from "./clock";
import { ApiError, isConflict, isNotFound, KObject, KubeClient } from "./kube";

export { microTime };

export interface LeaseSpec {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
}

export interface LeaseObject extends KObject {
    spec?: LeaseSpec;
}

export interface ElectionConfig {
    identity: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
}

export interface ElectionState {
    /** The Lease record as last seen, and the monotonic time we first saw it so. */
    observed?: { record: string; at: number };
    /** Monotonic time at which the last successful acquire/renew request was sent. */
    renewedAt?: number;
}

export type ElectionStep =
    { kind: "create"; spec: LeaseSpec } | { kind: "update"; spec: LeaseSpec; resourceVersion: string } | { kind: "wait"; holder: string; expiresAt: number };

/** The fields whose change shows the holder is alive. */
export function leaseRecord(spec: LeaseSpec | undefined): string {
    const s = spec ?? {};
    return JSON.stringify([s.holderIdentity ?? "", s.renewTime ?? "", s.acquireTime ?? "", s.leaseTransitions ?? 0, s.leaseDurationSeconds ?? 0]);
}

/**
 * Decides whether to create, take over, renew, or wait. Pure: the caller performs the write.
 * `now` is monotonic and decides everything; `wallNow` only fills the timestamps written.
 */
export function electionStep(
    lease: LeaseObject | undefined,
    state: ElectionState,
    now: number,
    cfg: ElectionConfig,
    wallNow: number = Date.now(),
): { step: ElectionStep; state: ElectionState } {
    const durationSeconds = Math.ceil(cfg.leaseDurationMs / 1000);
    if (!lease) {
        const t = microTime(wallNow);
        return {
            step: {
                kind: "create",
                spec: { holderIdentity: cfg.identity, leaseDurationSeconds: durationSeconds, acquireTime: t, renewTime: t, leaseTransitions: 0 },
            },
            state,
        };
    }
    const spec = lease.spec ?? {};
    const record = leaseRecord(spec);
    const observed = state.observed?.record === record ? state.observed : { record, at: now };
    const next: ElectionState = { ...state, observed };
    const holder = spec.holderIdentity ?? "";
    const mine = holder === cfg.identity;
    const recordDuration = (spec.leaseDurationSeconds ?? 0) > 0 ? spec.leaseDurationSeconds! * 1000 : cfg.leaseDurationMs;
    const expiresAt = observed.at + recordDuration;
    if (!mine && holder !== "" && now < expiresAt) return { step: { kind: "wait", holder, expiresAt }, state: next };
    const t = microTime(wallNow);
    const transitions = spec.leaseTransitions ?? 0;
    return {
        step: {
            kind: "update",
            resourceVersion: lease.metadata.resourceVersion ?? "",
            spec: {
                holderIdentity: cfg.identity,
                leaseDurationSeconds: durationSeconds,
                acquireTime: mine && spec.acquireTime ? spec.acquireTime : t,
                renewTime: t,
                leaseTransitions: mine ? transitions : transitions + 1,
            },
        },
        state: next,
    };
}

/** Leader while the last successful renewal was sent less than the renew deadline ago. */
export function isLeaderAt(state: ElectionState, now: number, cfg: Pick<ElectionConfig, "renewDeadlineMs">): boolean {
    return state.renewedAt !== undefined && now - state.renewedAt < cfg.renewDeadlineMs;
}

export interface LeaderElectorOptions extends ElectionConfig {
    namespace: string;
    name: string;
    /** A watch-backed copy of the Lease, saving a GET per retry for replicas that do not lead. */
    readCached?: () => LeaseObject | undefined | "unsynced";
    onChange?: (leader: boolean) => void;
    onError?: (e: unknown) => void;
    clock?: Clock;
    random?: () => number;
}

export class LeaderElector {
    private state: ElectionState = {};
    private lastSeen?: LeaseObject;
    private needFresh = false;
    private timer?: NodeJS.Timeout;
    private stopped = true;
    private wasLeader = false;
    private ticking?: Promise<void>;
    private readonly clock: Clock;
    private readonly random: () => number;
    /** Failed rounds (a test waits for one). */
    readonly stats = { failures: 0 };

    constructor(
        private readonly client: KubeClient,
        private readonly opts: LeaderElectorOptions,
    ) {
        this.clock = opts.clock ?? systemClock;
        this.random = opts.random ?? Math.random;
    }

    private now(): number {
        return this.clock.mono();
    }

    private get path(): string {
        return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`;
    }

    /** A renewal that takes longer than this could not keep the lease anyway. */
    private get timeoutMs(): number {
        return Math.max(1000, Math.floor(this.opts.renewDeadlineMs / 2));
    }

    isLeader(now = this.now()): boolean {
        return isLeaderAt(this.state, now, this.opts);
    }

    start(): void {
        if (!this.stopped) return;
        this.stopped = false;
        this.schedule(0);
    }

    private schedule(ms: number): void {
        if (this.stopped) return;
        this.timer = setTimeout(() => {
            this.ticking = this.tick().finally(() => {
                this.ticking = undefined;
                const leader = this.isLeader();
                // Candidates retry with jitter (client-go's factor 1.2) so they do not collide.
                this.schedule(leader ? this.opts.retryPeriodMs : Math.round(this.opts.retryPeriodMs * (1 + 0.2 * this.random())));
            });
        }, ms);
    }

    private notify(): void {
        const leader = this.isLeader();
        if (leader !== this.wasLeader) {
            this.wasLeader = leader;
            this.opts.onChange?.(leader);
        }
    }

    private async read(): Promise<LeaseObject | undefined> {
        // While we hold the Lease nobody else may write it: our own last write is current.
        const ours = this.lastSeen && this.lastSeen.spec?.holderIdentity === this.opts.identity && this.isLeader();
        if (ours && !this.needFresh) return this.lastSeen;
        const cached = this.opts.readCached && !this.needFresh ? this.opts.readCached() : "unsynced";
        if (cached !== "unsynced") return cached;
        try {
            const got = await this.client.get<LeaseObject>(`${this.path}/${this.opts.name}`, undefined, this.timeoutMs);
            this.needFresh = false;
            return got;
        } catch (e) {
            if (isNotFound(e)) {
                this.needFresh = false;
                return undefined;
            }
            throw e;
        }
    }

    /** One round: read, decide, write. Exposed for tests. */
    async tick(): Promise<void> {
        try {
            const lease = await this.read();
            const sentAt = this.now();
            const { step, state } = electionStep(lease, this.state, sentAt, this.opts, this.clock.wall());
            this.state = state;
            if (step.kind === "wait") {
                this.lastSeen = lease;
                return;
            }
            const meta = { name: this.opts.name, namespace: this.opts.namespace, labels: { "app.kubernetes.io/component": "leader-election" } };
            const written =
                step.kind === "create"
                    ? await this.client.create<LeaseObject>(
                          this.path,
                          { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: meta, spec: step.spec },
                          this.timeoutMs,
                      )
                    : await this.client.replace<LeaseObject>(
                          `${this.path}/${this.opts.name}`,
                          {
                              apiVersion: "coordination.k8s.io/v1",
                              kind: "Lease",
                              metadata: { ...(lease?.metadata ?? meta), resourceVersion: step.resourceVersion },
                              spec: step.spec,
                          },
                          this.timeoutMs,
                      );
            this.lastSeen = written;
            this.state = { observed: { record: leaseRecord(written.spec), at: sentAt }, renewedAt: sentAt };
        } catch (e) {
            this.stats.failures++;
            // Someone else wrote the Lease (or it vanished): read it fresh next time.
            if (isConflict(e) || isNotFound(e) || (e instanceof ApiError && e.status === 422)) this.needFresh = true;
            if (isConflict(e)) this.lastSeen = undefined;
            this.opts.onError?.(e);
        } finally {
            this.notify();
        }
    }

    /** Stops; a leader hands the Lease back so another replica can take over at once. */
    async stop(release = true): Promise<void> {
        this.stopped = true;
        if (this.timer) clearTimeout(this.timer);
        await this.ticking;
        if (release && this.isLeader() && this.lastSeen) {
            try {
                await this.client.replace(`${this.path}/${this.opts.name}`, {
                    ...this.lastSeen,
                    spec: { ...this.lastSeen.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(this.clock.wall()) },
                });
            } catch (e) {
                this.opts.onError?.(e);
            }
        }
        this.state = {};
        this.notify();
    }
}
