/**
 * What the controller tells people: Events (written in the background, failures only logged),
 * reports recorded once per subject and reason, node state changes logged once, and the metrics.
 */
import { Clock, rfc3339 } from "./clock";
import { EVENT_NAMESPACE } from "./contract";
import { Decision, NodeView, Report } from "./decide";
import { KubeClient } from "./kube";
import { Logger, Metrics } from "./metrics";

export const COMPONENT = "liberator";

/** Every action kind, so the actions counter exists (at 0) before the first action. */
export const ACTION_KINDS = [
    "claim",
    "fence",
    "taint",
    "forceDeletePod",
    "markRemediated",
    "deleteNode",
    "deletePvc",
    "deleteReplacementPod",
    "untaint",
    "releaseClaim",
    "deletePv",
    "deleteHeartbeat",
];

/** An object an Event is about. */
export interface EventSubject {
    kind: string;
    name: string;
    uid?: string;
    namespace?: string;
}

export class Reporter {
    /** subject → last reported reason, so an Event is recorded once per change, not per reconcile. */
    private readonly reported = new Map<string, string>();
    /** node → the state last logged. */
    private readonly states = new Map<string, string>();

    constructor(
        private readonly client: KubeClient,
        private readonly log: Logger,
        private readonly metrics: Metrics,
        private readonly clock: Clock,
    ) {
        for (const result of ["success", "failure"]) {
            for (const action of ACTION_KINDS) {
                this.metrics.declare("liberator_actions_total", "Remediation actions taken, by action and result.", "counter", { action, result });
            }
        }
    }

    count(action: string, ok: boolean): void {
        this.metrics.inc("liberator_actions_total", "Remediation actions taken, by action and result.", { action, result: ok ? "success" : "failure" });
    }

    /** Records a report once per subject and reason: logs it and writes an Event. */
    report(subject: string, r: Report, obj: EventSubject): void {
        if (this.reported.get(subject) === r.reason) return;
        this.reported.set(subject, r.reason);
        this.metrics.inc("liberator_reports_total", "Decisions reported without action, by reason.", { reason: r.reason });
        (r.warning ? this.log.warn : this.log.info)(r.message, { [obj.kind === "Node" ? "node" : "pv"]: obj.name, reason: r.reason });
        this.event(obj, r.reason, r.message, r.warning);
    }

    /** The subject's reports may be recorded again (a new episode). */
    forget(subject: string): void {
        this.reported.delete(subject);
    }

    /** Logs each node whose state changed since the last decision, and forgets nodes that are gone. */
    logStates(d: Decision, nodes: NodeView[]): void {
        for (const n of nodes) {
            const prev = this.states.get(n.name);
            if (prev !== d.states[n.name]) {
                (d.states[n.name] === "healthy" ? this.log.info : this.log.warn)("node state changed", {
                    node: n.name,
                    from: prev ?? null,
                    to: d.states[n.name],
                    why: d.why[n.name],
                });
                this.states.set(n.name, d.states[n.name]);
            }
        }
        for (const name of this.states.keys()) if (!(name in d.states)) this.states.delete(name);
    }

    /** Writes a core/v1 Event; failures are logged, never fatal. */
    event(obj: EventSubject, reason: string, message: string, warning: boolean): void {
        const t = rfc3339(this.clock.wall());
        const namespace = obj.namespace ?? EVENT_NAMESPACE;
        const apiVersion = obj.kind === "Lease" ? "coordination.k8s.io/v1" : "v1";
        const body = {
            apiVersion: "v1",
            kind: "Event",
            metadata: { generateName: `${obj.name}.`, namespace },
            involvedObject: {
                apiVersion,
                kind: obj.kind,
                name: obj.name,
                ...(obj.namespace ? { namespace: obj.namespace } : {}),
                ...(obj.uid ? { uid: obj.uid } : {}),
            },
            reason,
            message: message.slice(0, 1024),
            type: warning ? "Warning" : "Normal",
            source: { component: COMPONENT },
            firstTimestamp: t,
            lastTimestamp: t,
            count: 1,
        };
        this.client
            .create(`/api/v1/namespaces/${namespace}/events`, body)
            .catch((e) => this.log.warn("could not record event", { reason, object: obj.name, error: String((e as Error).message) }));
    }

    /** The decision's figures as metrics: nodes by state, the storm guard, quorum, the caches, orphaned PVs. */
    publish(
        d: Decision,
        nodes: NodeView[],
        cacheFresh: boolean,
        orphaned: number,
        watches: { name: string; stats: { lists: number; bookmarks: number } }[],
    ): void {
        const m = this.metrics;
        const counts: Record<string, number> = {
            healthy: 0,
            suspect: 0,
            unconfirmed: 0,
            unprotected: 0,
            failed: 0,
            remediating: 0,
            remediated: 0,
            recovering: 0,
        };
        for (const n of nodes) counts[d.states[n.name]]++;
        m.reset("liberator_nodes");
        for (const [state, v] of Object.entries(counts)) m.set("liberator_nodes", "Nodes by liberator state.", v, { state });
        m.set("liberator_unhealthy_nodes", "Nodes that are not Ready (plus nodes deleted within the storm window).", d.unhealthy);
        m.set("liberator_max_unhealthy", "Most unhealthy nodes at which the liberator still acts.", d.allowed);
        m.set("liberator_storm", "1 while more nodes are unhealthy than maxUnhealthy allows, so nothing is remediated.", d.storm ? 1 : 0);
        m.set("liberator_storm_cooldown", "1 while remediation waits for the storm cooldown.", d.cooldownUntil !== undefined ? 1 : 0);
        m.set("liberator_participants", "Nodes whose agent armed at least once.", d.quorum.participants);
        m.set("liberator_participants_settled", "Participants with fresh heartbeats for the whole settle period.", d.quorum.settled);
        m.set("liberator_quorum", "1 while at least half of the participants have settled heartbeats.", d.quorum.ok ? 1 : 0);
        m.set("liberator_cache_fresh", "1 while every watch is open and current.", cacheFresh ? 1 : 0);
        m.set("liberator_orphaned_volumes", "PVs pinned to nodes that no longer exist.", orphaned);
        for (const w of watches) {
            m.set("liberator_watch_lists_total", "Complete lists, by resource (relists after 410 Gone included).", w.stats.lists, { resource: w.name });
            m.set("liberator_watch_bookmarks_total", "Bookmarks received, by resource.", w.stats.bookmarks, { resource: w.name });
        }
    }
}
