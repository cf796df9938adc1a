/**
 * The agent's self-fence rule as a pure function of its state and the monotonic time, so every
 * timing is unit-tested with a fake clock.
 *
 * - Renewals succeed: healthy. The reference is the *send* time of the last renewal that
 *   succeeded (its write committed after it was sent, and the controller observed it later still).
 * - None succeeded for T_sf: cut off. Ask the peers; hold back only while a strict majority of all
 *   participating nodes (ourselves included) say they cannot reach the API server either — a
 *   control-plane outage, in which no controller can act. Otherwise fence at once; the fence
 *   completes within T_exec.
 * - Once fenced, only a renewal *sent after the fence began* lifts it: its compare-and-swap
 *   success proves the controller has not claimed the node meanwhile.
 * - Claimed by the controller: stay fenced until it marks the claim remediated (the pods are gone
 *   from the API), then let the kubelet run; never write the claimed Lease.
 * - The API server refuses our token (our pod was deleted while the node was cut off, so we can
 *   never renew or read again): stand down only once a peer has read our Lease for us as
 *   remediated, or gone (no claim can be made then). The kubelet then runs and stops this
 *   container; a new agent takes over.
 */
import { ClaimPhase } from "./contract";
import { holdBack, Votes } from "./peers";

export interface SelfFenceConfig {
    selfFenceMs: number;
    fenceExecMs: number;
    /** P: peer re-check and fence re-application period. */
    peerRecheckMs: number;
    /** Longest a peer round may take before we fence without its answers. */
    peerRoundMs: number;
    /** The watchdog device's timeout; 0 without a watchdog. */
    watchdogTimeoutMs: number;
}

export interface SelfFenceState {
    /** Send time of the last renewal that succeeded (monotonic). */
    lastOkSentAt: number;
    /** The last successful renewal said "armed": we promised to fence. */
    committed: boolean;
    /** We can fence now (self-fence enabled and the tools to do it). */
    capable: boolean;
    claim?: ClaimPhase;
    /** The latest completed peer round. */
    votes?: Votes;
    /** When we began fencing; undefined while not fenced. */
    fencedSince?: number;
    /** The latest fence application found nothing left running. */
    fenceConfirmed: boolean;
    /** Our token is refused, and a peer read our Lease as remediated or absent. */
    standDown?: "remediated" | "absent";
}

export type SelfFenceMode = "healthy" | "cut-off" | "holding" | "fencing" | "claimed" | "remediated" | "unarmed" | "stood-down";

export interface SelfFenceStep {
    mode: SelfFenceMode;
    /** Start a peer round now (if none is in flight). */
    askPeers: boolean;
    /** Apply the fence now (kill the kubelet, stop the StatefulSet sandboxes). */
    fence: boolean;
    /** Set fencedSince = now. */
    startFence: boolean;
    /** A renewal sent after the fence began succeeded: clear fencedSince. */
    unfence: boolean;
    petWatchdog: boolean;
    why: string;
}

const step = (mode: SelfFenceMode, why: string, o: Partial<SelfFenceStep> = {}): SelfFenceStep => ({
    mode,
    askPeers: false,
    fence: false,
    startFence: false,
    unfence: false,
    petWatchdog: true,
    why,
    ...o,
});

/** Pet while the fence is confirmed or its deadline (less the watchdog's own timeout) is ahead. */
function petWhileFencing(s: SelfFenceState, now: number, cfg: SelfFenceConfig, since: number): boolean {
    return s.fenceConfirmed || now < since + cfg.fenceExecMs - cfg.watchdogTimeoutMs;
}

export function selfFenceStep(s: SelfFenceState, now: number, cfg: SelfFenceConfig): SelfFenceStep {
    if (s.standDown) {
        return step(
            "stood-down",
            `the API server refuses this agent's token (its pod was deleted) and a peer read the node's heartbeat Lease as ${s.standDown === "absent" ? "gone" : "remediated"}: not fencing; the kubelet may run, and stops this container`,
        );
    }
    if (s.claim === "remediated") return step("remediated", "claimed and remediated: the node's StatefulSet pods are gone from the API; the kubelet may run");
    if (s.claim === "claimed") {
        if (!s.capable && !s.committed) return step("claimed", "claimed by the controller; self-fencing is not armed here");
        const since = s.fencedSince ?? now;
        return step("claimed", "claimed by the controller: staying fenced until it marks the claim remediated", {
            fence: true,
            startFence: s.fencedSince === undefined,
            petWatchdog: petWhileFencing(s, now, cfg, since),
        });
    }
    if (s.fencedSince !== undefined) {
        if (s.lastOkSentAt > s.fencedSince) return step("healthy", "a renewal sent after the fence began succeeded: unfenced", { unfence: true });
        return step("fencing", "fenced: no renewal sent since the fence began has succeeded", {
            fence: true,
            petWatchdog: petWhileFencing(s, now, cfg, s.fencedSince),
        });
    }
    const cutOffAt = s.lastOkSentAt + cfg.selfFenceMs;
    if (now < cutOffAt) return step("healthy", "renewing");
    if (!s.committed) return step("unarmed", "cut off from the API server, but self-fencing was not armed; this node is reported unprotected");
    const v = s.votes;
    const current = v !== undefined && v.at >= cutOffAt && now - v.at <= cfg.peerRecheckMs + cfg.peerRoundMs;
    if (!current) {
        if (now < cutOffAt + cfg.peerRoundMs) return step("cut-off", "cut off from the API server: asking the peers", { askPeers: true });
        return step("fencing", "cut off from the API server and no current answer from the peers: fencing", { fence: true, startFence: true });
    }
    if (holdBack(v)) {
        return step(
            "holding",
            `${v.down.length} of ${v.total} participating nodes cannot reach the API server (a control-plane outage): holding the fence back`,
            {
                askPeers: true,
            },
        );
    }
    return step(
        "fencing",
        `cut off from the API server while ${v.up.length} of ${v.total} participating nodes can reach it (${v.silent.length} silent): fencing`,
        { fence: true, startFence: true },
    );
}
