/**
 * The per-node agent (DaemonSet; entry point `node agent.js`). It renews its node's heartbeat
 * Lease with compare-and-swap writes, advertising what the controller needs (T_sf, T_exec, H,
 * whether it is armed, where its peers reach it), and fences its own node when it cannot renew:
 * SIGKILL to the kubelet (found in /proc; the init system restarts it, and a kubelet that cannot
 * reach the API server starts no pods), then StopPodSandbox through the CRI for every StatefulSet
 * pod, then SIGKILL to anything still in those pods' cgroups. It holds no watch, no cluster-wide
 * verb and writes only its own Lease (enforced by a ValidatingAdmissionPolicy).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import { Clock, microTime, rfc3339, systemClock } from "./clock";
import {
    AGENT_VERSION,
    ANN,
    apiDownAfterMs,
    ClaimPhase,
    DEFAULT_NAMESPACE,
    DEFAULTS,
    HEARTBEAT_COMPONENT_LABEL,
    heartbeatLeaseName,
    heartbeatNode,
    HTTP_PATHS,
    LIMITS,
    peerRecheckMs,
    POD_ENV,
    STATEFULSET_POD_LABEL,
    startupGraceMs,
} from "./contract";
import { CriClient, Sandbox } from "./cri";
import { ConfigError, exitWith, Option, Reader, untilSignal, usage as usageOf } from "./flags";
import { CAP_KILL, findProcesses, hasCapability, podProcesses, signalAll } from "./host";
import { ApiError, isAlreadyExists, isConflict, isNotFound, KObject, KubeClient, resolveClusterConfig, SERVICE_ACCOUNT_DIR } from "./kube";
import { jsonLogger, Level, Logger, Metrics } from "./metrics";
import { answer, askLeaseState, askPeers, authenticLeaseQuestion, leaseAnswer, LeaseState, PEER_PATH, Transport, Votes } from "./peers";
import { SelfFenceMode, selfFenceStep, SelfFenceStep } from "./selffence";
import { Watchdog } from "./watchdog";

/** While fenced, a restarted kubelet is killed within this. */
export const FENCED_KUBELET_RECHECK_MS = 100;

export interface AgentConfig {
    kubeconfig?: string;
    context?: string;
    namespace?: string;
    nodeName: string;
    identity: string;
    listenHost: string;
    listenPort: number;
    /** The node's IP (HOST_IP). */
    hostIp?: string;
    /** host:port peers use; default HOST_IP and the listen port. */
    advertiseAddress?: string;
    renewIntervalMs: number;
    selfFenceMs: number;
    fenceExecMs: number;
    peerRecheckMs: number;
    peerTimeoutMs: number;
    peerListMs: number;
    apiTimeoutMs: number;
    selfFence: boolean;
    peerKeyFile: string;
    criSocket: string;
    procRoot: string;
    kubeletName: string;
    watchdogDevice?: string;
    watchdogTimeoutMs?: number;
    tokenFile: string;
    logLevel: Level;
}

export const AGENT_OPTIONS: Option[] = [
    { flag: "kubeconfig", env: "LIBERATOR_KUBECONFIG", help: "kubeconfig file (default: in-cluster service account)" },
    { flag: "context", env: "LIBERATOR_CONTEXT", help: "kubeconfig context" },
    { flag: "namespace", env: "LIBERATOR_NAMESPACE", help: "namespace of the heartbeat Leases (default: the pod's, the context's, or tkr-system)" },
    { flag: "node-name", env: "NODE_NAME", help: "the node this agent runs on (required)" },
    { flag: "identity", env: "POD_NAME", help: "holder identity written into the Lease (default: hostname_pid)" },
    { flag: "host-ip", env: "HOST_IP", help: "the node's IP, where peers reach this agent" },
    {
        flag: "listen-address",
        env: "LIBERATOR_LISTEN_ADDRESS",
        help: `host:port of the peer, metrics and health server (default 0.0.0.0:${DEFAULTS.peerPort})`,
    },
    { flag: "advertise-address", env: "LIBERATOR_ADVERTISE_ADDRESS", help: "host:port peers use (default: --host-ip and the listen port)" },
    { flag: "renew-interval", env: "LIBERATOR_RENEW_INTERVAL", help: `heartbeat renewal interval H (default ${DEFAULTS.renewIntervalSeconds}s)` },
    {
        flag: "self-fence-timeout",
        env: "LIBERATOR_SELF_FENCE_TIMEOUT",
        help: `fence after no renewal succeeded for this long, T_sf (default ${DEFAULTS.selfFenceSeconds}s)`,
    },
    { flag: "fence-exec", env: "LIBERATOR_FENCE_EXEC", help: `the fence completes within this, T_exec (default ${DEFAULTS.fenceExecSeconds}s)` },
    { flag: "self-fence", env: "LIBERATOR_SELF_FENCE", help: "arm self-fencing (default true); false: heartbeat only, the node is reported unprotected" },
    { flag: "peer-key-file", env: "LIBERATOR_PEER_KEY_FILE", help: "file with the peers' shared HMAC key (default /etc/liberator/peer-key/key)" },
    { flag: "peer-timeout", env: "LIBERATOR_PEER_TIMEOUT", help: "how long a peer round waits for answers (default 1s)" },
    { flag: "peer-list-interval", env: "LIBERATOR_PEER_LIST_INTERVAL", help: `how often the peer list is refreshed (default ${DEFAULTS.peerListSeconds}s)` },
    { flag: "api-timeout", env: "LIBERATOR_API_TIMEOUT", help: "timeout of one API request (default 2s)" },
    { flag: "cri-socket", env: "LIBERATOR_CRI_SOCKET", help: `the container runtime's CRI socket (default ${DEFAULTS.criSocket})` },
    { flag: "proc-root", env: "LIBERATOR_PROC_ROOT", help: "the node's /proc (hostPID) (default /proc)" },
    { flag: "kubelet-name", env: "LIBERATOR_KUBELET_NAME", help: `the kubelet's process name in /proc/*/comm (default ${DEFAULTS.kubeletProcessName})` },
    { flag: "watchdog-device", env: "LIBERATOR_WATCHDOG_DEVICE", help: "a watchdog device to pet while healthy, e.g. /dev/watchdog (default none)" },
    { flag: "watchdog-timeout", env: "LIBERATOR_WATCHDOG_TIMEOUT", help: "the watchdog's timeout (default: read from /sys/class/watchdog)" },
    { flag: "token-file", env: "LIBERATOR_TOKEN_FILE", help: "service-account token to read the node's uid from (default the mounted one)" },
    { flag: "log-level", env: "LIBERATOR_LOG_LEVEL", help: "debug, info (default), warn or error" },
];

export function agentUsage(): string {
    return usageOf("agent.js", AGENT_OPTIONS);
}

export function loadAgentConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
    const r = new Reader(argv, AGENT_OPTIONS, env);
    const problems = r.problems;
    const s = (x: readonly [number, number]) => [x[0] * 1000, x[1] * 1000] as const;
    const renewIntervalMs = r.duration("renew-interval", DEFAULTS.renewIntervalSeconds * 1000, ...s(LIMITS.renewIntervalSeconds));
    const selfFenceMs = r.duration("self-fence-timeout", DEFAULTS.selfFenceSeconds * 1000, ...s(LIMITS.selfFenceSeconds));
    const fenceExecMs = r.duration("fence-exec", DEFAULTS.fenceExecSeconds * 1000, ...s(LIMITS.fenceExecSeconds));
    if (renewIntervalMs * 3 > selfFenceMs)
        problems.push(`--renew-interval (${renewIntervalMs} ms) must be at most a third of --self-fence-timeout (${selfFenceMs} ms)`);
    const nodeName = r.get("node-name");
    if (!nodeName) problems.push("--node-name (NODE_NAME) is required: the agent renews its own node's heartbeat");
    else if (!heartbeatLeaseName(nodeName)) problems.push(`--node-name = ${JSON.stringify(nodeName)} is invalid: too long for a heartbeat Lease name`);
    const listen = r.address("listen-address", `0.0.0.0:${DEFAULTS.peerPort}`);
    const hostIp = r.get("host-ip");
    const advertise = r.get("advertise-address") ?? (hostIp ? `${hostIp.includes(":") ? `[${hostIp}]` : hostIp}:${listen.port}` : undefined);
    const peerTimeoutMs = r.duration("peer-timeout", 1000, 100, 10_000);
    if (peerTimeoutMs * 2 > fenceExecMs) problems.push(`--peer-timeout (${peerTimeoutMs} ms) must be at most half of --fence-exec (${fenceExecMs} ms)`);
    const watchdogTimeout = r.get("watchdog-timeout");
    const cfg: AgentConfig = {
        kubeconfig: r.get("kubeconfig"),
        context: r.get("context"),
        namespace: r.get("namespace") ?? (env[POD_ENV.namespace] || undefined),
        nodeName: nodeName ?? "",
        identity: r.get("identity") ?? `agent_${process.pid}`,
        listenHost: listen.host,
        listenPort: listen.port,
        hostIp,
        advertiseAddress: advertise,
        renewIntervalMs,
        selfFenceMs,
        fenceExecMs,
        peerRecheckMs: peerRecheckMs({ renewIntervalMs }),
        peerTimeoutMs,
        peerListMs: r.duration("peer-list-interval", DEFAULTS.peerListSeconds * 1000, 1000),
        apiTimeoutMs: r.duration("api-timeout", 2000, 100, 30_000),
        selfFence: r.bool("self-fence", true),
        peerKeyFile: r.get("peer-key-file") ?? "/etc/liberator/peer-key/key",
        criSocket: r.get("cri-socket") ?? DEFAULTS.criSocket,
        procRoot: r.get("proc-root") ?? "/proc",
        kubeletName: r.get("kubelet-name") ?? DEFAULTS.kubeletProcessName,
        watchdogDevice: r.get("watchdog-device"),
        watchdogTimeoutMs: watchdogTimeout === undefined ? undefined : r.duration("watchdog-timeout", 60_000, 1000),
        tokenFile: r.get("token-file") ?? `${SERVICE_ACCOUNT_DIR}/token`,
        logLevel: r.choice<Level>("log-level", ["debug", "info", "warn", "error"], "info"),
    };
    if (problems.length > 0) throw new ConfigError(problems);
    return cfg;
}

/** The node name and uid in a bound service-account token (its payload; we do not verify our own token). */
export function tokenNode(token: string): { name?: string; uid?: string } {
    try {
        const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
        const node = payload?.["kubernetes.io"]?.node;
        return { name: typeof node?.name === "string" ? node.name : undefined, uid: typeof node?.uid === "string" ? node.uid : undefined };
    } catch {
        return {};
    }
}

/** What the agent needs from the runtime (the CRI client, or a fake). */
export interface Runtime {
    version(): Promise<unknown>;
    listPodSandboxes(readyOnly: boolean): Promise<Sandbox[]>;
    stopPodSandbox(id: string): Promise<void>;
    close?(): void;
}

export interface AgentDeps {
    client: KubeClient;
    log: Logger;
    metrics: Metrics;
    clock?: Clock;
    runtime: Runtime;
    peerKey?: Buffer;
    nodeUid?: string;
    transport?: Transport;
    watchdog?: Watchdog;
    kill?: (pid: number, signal: NodeJS.Signals) => void;
    /** /proc/self/status text, for the capability check. */
    ownStatus?: () => string;
}

interface LeaseBody extends KObject {
    spec: { holderIdentity?: string | null; leaseDurationSeconds?: number; renewTime?: string };
}

export interface FenceReport {
    kubeletKilled: number[];
    stopped: string[];
    processesKilled: number[];
    runtimeError?: string;
    /** Nothing of a StatefulSet pod was found running before acting. */
    clean: boolean;
}

export class Agent {
    /** Send time of the last successful renewal (monotonic). */
    lastOkSentAt: number;
    /** Last successful answer from the API server (monotonic); peers learn from it. */
    lastApiOkAt = -Infinity;
    claim?: ClaimPhase;
    armed = false;
    armProblems: string[] = ["not checked yet"];
    /** The last successful renewal said "armed". */
    committed = false;
    fencedSince?: number;
    fenceConfirmed = false;
    votes?: Votes;
    lastStep?: SelfFenceStep;
    /** Peers from the Leases in our namespace: node → host:port. */
    readonly peers = new Map<string, string>();
    /** The peer set our last successful renewal advertised. */
    advertised: string[] = [];
    /** StatefulSet pod uids seen through the runtime; the fallback kill looks for their cgroups. */
    readonly statefulPods = new Map<string, string>();
    private lease?: LeaseBody;
    private armedSince?: string;
    private kubeletSeenAt = -Infinity;
    private roundInFlight = false;
    /** The API server refused our token (401) in our latest request; cleared by any success. */
    authRefusedAt?: number;
    /** Our token is refused and a peer read our Lease as remediated or absent: not fencing. */
    standDown?: "remediated" | "absent";
    private leaseRoundInFlight = false;
    private leaseRoundAt = -Infinity;
    private stopped = true;
    /** Pending sleeps (a fired one is dropped: kept, they grew by ~35 MiB a day). */
    private readonly timers = new Set<NodeJS.Timeout>();
    private readonly clock: Clock;
    private readonly leaseName: string;
    private server?: http.Server;

    constructor(
        readonly cfg: AgentConfig,
        readonly namespace: string,
        private readonly deps: AgentDeps,
    ) {
        this.clock = deps.clock ?? systemClock;
        this.leaseName = heartbeatLeaseName(cfg.nodeName)!;
        // A restart does not know when the previous process last renewed: if the first renewals
        // fail, fence soon rather than a full T_sf after the start.
        this.lastOkSentAt = this.now() - cfg.selfFenceMs + startupGraceMs(cfg);
        const m = deps.metrics;
        m.set("liberator_agent_armed", "1 while this agent can and will fence its node.", 0);
        for (const n of ["kubelet_kills", "sandboxes_stopped", "processes_killed", "fence_applications", "renewals", "renewal_failures"]) {
            m.declare(`liberator_agent_${n}_total`, `Agent ${n.replace(/_/g, " ")}.`, "counter");
        }
    }

    private now(): number {
        return this.clock.mono();
    }

    private get path(): string {
        return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`;
    }

    /** The vote is over ourselves, every peer we know and every node we last advertised. */
    members(): string[] {
        return [...new Set([this.cfg.nodeName, ...this.advertised, ...this.peers.keys()])].sort();
    }

    apiReachable(now = this.now()): boolean {
        return now - this.lastApiOkAt < apiDownAfterMs(this.cfg);
    }

    // --- arming ------------------------------------------------------------------------------

    async arm(): Promise<void> {
        const problems: string[] = [];
        if (!this.cfg.selfFence) problems.push("self-fencing is switched off (--self-fence=false)");
        if (!this.deps.peerKey || this.deps.peerKey.length < 16) problems.push(`no peer key (at least 16 bytes) in ${this.cfg.peerKeyFile}`);
        const status = (this.deps.ownStatus ?? (() => fs.readFileSync("/proc/self/status", "utf8")))();
        if (!hasCapability(status, CAP_KILL)) problems.push("the agent lacks CAP_KILL");
        if (findProcesses(this.cfg.procRoot, this.cfg.kubeletName).length > 0) this.kubeletSeenAt = this.now();
        // A kubelet that is restarting at the moment of the check does not disarm us.
        if (this.now() - this.kubeletSeenAt > 60_000) problems.push(`no process named ${this.cfg.kubeletName} in ${this.cfg.procRoot} (is hostPID set?)`);
        try {
            await this.deps.runtime.version();
            await this.refreshStatefulPods();
        } catch (e) {
            problems.push(`the container runtime at ${this.cfg.criSocket} does not answer: ${(e as Error).message}`);
        }
        const was = this.armed;
        this.armed = problems.length === 0;
        this.armProblems = problems;
        if (this.armed && !this.armedSince) this.armedSince = rfc3339(this.clock.wall());
        this.deps.metrics.set("liberator_agent_armed", "1 while this agent can and will fence its node.", this.armed ? 1 : 0);
        if (this.armed !== was || !this.armed) {
            (this.armed ? this.deps.log.info : this.deps.log.warn)(
                this.armed ? "armed for self-fencing" : "NOT armed for self-fencing: this node is unprotected",
                {
                    node: this.cfg.nodeName,
                    problems,
                },
            );
        }
    }

    private async refreshStatefulPods(): Promise<Sandbox[]> {
        const all = await this.deps.runtime.listPodSandboxes(false);
        const sts = all.filter((s) => STATEFULSET_POD_LABEL in s.labels);
        for (const s of sts) this.statefulPods.set(s.uid, `${s.namespace}/${s.name}`);
        return sts;
    }

    // --- the heartbeat -----------------------------------------------------------------------

    /** The Lease as we want it now. */
    body(resourceVersion?: string): LeaseBody {
        const t = this.cfg;
        const ann: Record<string, string> = {
            [ANN.node]: t.nodeName,
            [ANN.selfFenceSeconds]: String(t.selfFenceMs / 1000),
            [ANN.fenceExecSeconds]: String(t.fenceExecMs / 1000),
            [ANN.renewIntervalSeconds]: String(t.renewIntervalMs / 1000),
            [ANN.armed]: String(this.armed),
            [ANN.peers]: this.members().join(","),
            [ANN.watchdog]: String(this.deps.watchdog?.isOpen ?? false),
            [ANN.version]: AGENT_VERSION,
        };
        if (!this.armed) ann[ANN.armProblems] = this.armProblems.join("; ").slice(0, 1000);
        if (this.armedSince) ann[ANN.armedSince] = this.armedSince;
        if (t.advertiseAddress) ann[ANN.peerAddress] = t.advertiseAddress;
        const owners = this.deps.nodeUid
            ? [{ apiVersion: "v1", kind: "Node", name: t.nodeName, uid: this.deps.nodeUid }]
            : this.lease?.metadata.ownerReferences;
        return {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: {
                name: this.leaseName,
                namespace: this.namespace,
                ...(resourceVersion ? { resourceVersion } : {}),
                labels: { "app.kubernetes.io/component": HEARTBEAT_COMPONENT_LABEL, "app.kubernetes.io/managed-by": "liberator" },
                annotations: ann,
                ...(owners ? { ownerReferences: owners } : {}),
            },
            spec: { holderIdentity: t.identity, leaseDurationSeconds: Math.ceil(t.selfFenceMs / 1000), renewTime: microTime(this.clock.wall()) },
        };
    }

    /** Reads our Lease: its version, whether it is claimed, when we first armed. */
    private async read(): Promise<LeaseBody | undefined> {
        try {
            const cur = await this.deps.client.get<LeaseBody>(`${this.path}/${this.leaseName}`, undefined, this.cfg.apiTimeoutMs);
            this.lastApiOkAt = this.now();
            this.credentialsAccepted();
            this.lease = cur;
            const ann = cur.metadata.annotations ?? {};
            this.armedSince ??= ann[ANN.armedSince];
            const claimed = ann[ANN.claimedBy] ? (ann[ANN.claimPhase] === "remediated" ? "remediated" : "claimed") : undefined;
            if (claimed !== this.claim) {
                (claimed ? this.deps.log.warn : this.deps.log.info)(
                    claimed ? `the controller claimed this node (${claimed}); not renewing` : "the controller released its claim; renewing again",
                    { node: this.cfg.nodeName, by: ann[ANN.claimedBy] ?? null },
                );
            }
            this.claim = claimed;
            return cur;
        } catch (e) {
            if (isNotFound(e)) {
                this.lastApiOkAt = this.now();
                this.credentialsAccepted();
                this.lease = undefined;
                this.claim = undefined;
                return undefined;
            }
            throw e;
        }
    }

    /** One write of our Lease; the send time counts only if it succeeds. */
    private async write(rv: string | undefined): Promise<boolean> {
        const body = this.body(rv);
        const sentAt = this.now();
        const written = rv
            ? await this.deps.client.replace<LeaseBody>(`${this.path}/${this.leaseName}`, body, this.cfg.apiTimeoutMs)
            : await this.deps.client.create<LeaseBody>(this.path, body, this.cfg.apiTimeoutMs);
        this.lease = written;
        this.lastOkSentAt = Math.max(this.lastOkSentAt, sentAt);
        this.lastApiOkAt = this.now();
        this.credentialsAccepted();
        this.committed = body.metadata.annotations![ANN.armed] === "true";
        this.advertised = body.metadata.annotations![ANN.peers].split(",");
        this.deps.metrics.inc("liberator_agent_renewals_total", "Agent renewals.");
        return true;
    }

    /** One renewal: never over a claim; on a conflict read the Lease again and decide. */
    async renew(): Promise<boolean> {
        try {
            if (this.claim || !this.lease) {
                const cur = await this.read();
                if (this.claim) return false;
                return await this.write(cur?.metadata.resourceVersion);
            }
            try {
                return await this.write(this.lease.metadata.resourceVersion);
            } catch (e) {
                // A claim shows up as a conflict (the version moved) or, where the admission
                // policy sees it first, as a refusal: read the Lease in either case.
                if (!(e instanceof ApiError)) throw e;
                const cur = await this.read();
                if (this.claim) return false;
                if (!isConflict(e) && !isNotFound(e) && !isAlreadyExists(e)) throw e;
                return await this.write(cur?.metadata.resourceVersion);
            }
        } catch (e) {
            this.deps.metrics.inc("liberator_agent_renewal_failures_total", "Agent renewal failures.");
            if (e instanceof ApiError) this.lastApiOkAt = this.now();
            if (e instanceof ApiError && e.status === 401 && this.authRefusedAt === undefined) {
                this.authRefusedAt = this.now();
                this.deps.log.error("the API server refuses this agent's token (was its pod deleted?): it can no longer renew or read its Lease", {
                    node: this.cfg.nodeName,
                    error: e.message,
                });
            }
            this.deps.log.debug("heartbeat renewal failed", { node: this.cfg.nodeName, error: String((e as Error)?.message ?? e) });
            return false;
        }
    }

    private credentialsAccepted(): void {
        if (this.authRefusedAt === undefined) return;
        this.authRefusedAt = undefined;
        this.standDown = undefined;
        this.deps.log.info("the API server accepts this agent's token again", { node: this.cfg.nodeName });
    }

    /**
     * Fenced, with our token refused: ask the peers to read our Lease (at most every P). Stand
     * down once one reads it as remediated or absent; otherwise stay fenced.
     */
    private askForOurLease(): void {
        const now = this.now();
        if (this.leaseRoundInFlight || !this.deps.peerKey || now - this.leaseRoundAt < this.cfg.peerRecheckMs) return;
        this.leaseRoundInFlight = true;
        this.leaseRoundAt = now;
        void askLeaseState({
            key: this.deps.peerKey,
            self: this.cfg.nodeName,
            addresses: this.peers,
            timeoutMs: this.cfg.peerTimeoutMs,
            transport: this.deps.transport,
        })
            .then((answers) => {
                const pick = (st: LeaseState) => [...answers].find(([, v]) => v === st)?.[0];
                const by = pick("remediated") ?? pick("absent");
                if (by === undefined || this.authRefusedAt === undefined || this.standDown) return;
                this.standDown = answers.get(by) as "remediated" | "absent";
                this.deps.log.warn("a peer read this node's heartbeat Lease for this agent: standing down", {
                    node: this.cfg.nodeName,
                    peer: by,
                    state: this.standDown,
                    answers: Object.fromEntries(answers),
                });
            })
            .finally(() => (this.leaseRoundInFlight = false));
    }

    /** What a peer asks us to read for it: its heartbeat Lease's claim, or that it is gone. */
    async leaseStateOf(node: string): Promise<LeaseState> {
        const name = heartbeatLeaseName(node);
        if (!name) return "absent";
        try {
            const l = await this.deps.client.get<LeaseBody>(`${this.path}/${name}`, undefined, this.cfg.apiTimeoutMs);
            const ann = l.metadata.annotations ?? {};
            if (!ann[ANN.claimedBy]) return "unclaimed";
            return ann[ANN.claimPhase] === "remediated" ? "remediated" : "claimed";
        } catch (e) {
            if (isNotFound(e)) return "absent";
            throw e;
        }
    }

    /** Peers: every armed agent's Lease in our namespace that says where to reach it. */
    async listPeers(): Promise<void> {
        const list: any = await this.deps.client.get(
            this.path,
            { labelSelector: `app.kubernetes.io/component=${HEARTBEAT_COMPONENT_LABEL}` },
            this.cfg.apiTimeoutMs,
        );
        this.lastApiOkAt = this.now();
        const next = new Map<string, string>();
        for (const l of list.items ?? []) {
            const node = heartbeatNode(l);
            const ann = l.metadata?.annotations ?? {};
            if (!node || node === this.cfg.nodeName || !(ANN.armedSince in ann) || !ann[ANN.peerAddress]) continue;
            next.set(node, ann[ANN.peerAddress]);
        }
        this.peers.clear();
        for (const [k, v] of next) this.peers.set(k, v);
    }

    // --- the fence ---------------------------------------------------------------------------

    /** SIGKILL to every kubelet process; the pids killed. */
    killKubelet(): number[] {
        const killed = signalAll(findProcesses(this.cfg.procRoot, this.cfg.kubeletName), "SIGKILL", this.deps.kill ?? process.kill);
        if (killed.length > 0) this.kubeletSeenAt = this.now(); // it exists: arming still holds
        this.deps.metrics.inc("liberator_agent_kubelet_kills_total", "Agent kubelet kills.", {}, killed.length);
        return killed;
    }

    /**
     * How often to look for a (restarted) kubelet: every 100 ms while fenced, so that one the init
     * system restarts dies before it can report the node Ready (a kubelet living a second at a
     * time did, and the controller then released its claim as if the node were back), else P.
     */
    kubeletRecheckMs(): number {
        return this.lastStep?.fence ? FENCED_KUBELET_RECHECK_MS : this.cfg.peerRecheckMs;
    }

    /** Kills the kubelet, stops every StatefulSet sandbox, kills what is left in their cgroups. */
    async applyFence(): Promise<FenceReport> {
        const kill = this.deps.kill ?? process.kill;
        const m = this.deps.metrics;
        m.inc("liberator_agent_fence_applications_total", "Agent fence applications.");
        const kubeletKilled = this.killKubelet();
        const report: FenceReport = { kubeletKilled, stopped: [], processesKilled: [], clean: true };
        try {
            const sts = await this.refreshStatefulPods();
            const ready = sts.filter((s) => s.state === "SANDBOX_READY");
            if (ready.length > 0) report.clean = false;
            const results = await Promise.allSettled(ready.map((s) => this.deps.runtime.stopPodSandbox(s.id).then(() => s)));
            for (const r of results) {
                if (r.status === "fulfilled") report.stopped.push(`${r.value.namespace}/${r.value.name}`);
                else report.runtimeError = String((r.reason as Error)?.message ?? r.reason);
            }
            m.inc("liberator_agent_sandboxes_stopped_total", "Agent sandboxes stopped.", {}, report.stopped.length);
        } catch (e) {
            report.runtimeError = (e as Error).message;
        }
        // Whatever the runtime did or could not do: nothing may keep running in those pods.
        const left = podProcesses(this.cfg.procRoot, [...this.statefulPods.keys()]);
        for (const list of left.values()) {
            report.clean = false;
            report.processesKilled.push(...signalAll(list, "SIGKILL", kill));
        }
        m.inc("liberator_agent_processes_killed_total", "Agent processes killed.", {}, report.processesKilled.length);
        return report;
    }

    /** One tick of the self-fence rule: ask peers, fence, pet the watchdog. */
    async tick(): Promise<SelfFenceStep> {
        const now = this.now();
        const s = selfFenceStep(
            {
                lastOkSentAt: this.lastOkSentAt,
                committed: this.committed,
                capable: this.armed,
                claim: this.claim,
                votes: this.votes,
                fencedSince: this.fencedSince,
                fenceConfirmed: this.fenceConfirmed,
                standDown: this.standDown,
            },
            now,
            {
                selfFenceMs: this.cfg.selfFenceMs,
                fenceExecMs: this.cfg.fenceExecMs,
                peerRecheckMs: this.cfg.peerRecheckMs,
                peerRoundMs: this.cfg.peerTimeoutMs + 200,
                watchdogTimeoutMs: this.deps.watchdog?.isOpen ? (this.cfg.watchdogTimeoutMs ?? 60_000) : 0,
            },
        );
        if (s.mode !== this.lastStep?.mode) {
            const level =
                s.mode === "healthy" || s.mode === "remediated"
                    ? this.deps.log.info
                    : s.mode === "fencing" || s.mode === "claimed"
                      ? this.deps.log.error
                      : this.deps.log.warn;
            level(s.why, {
                node: this.cfg.nodeName,
                mode: s.mode,
                from: this.lastStep?.mode ?? null,
                votes: this.votes ? { down: this.votes.down, up: this.votes.up, silent: this.votes.silent } : null,
            });
        }
        this.lastStep = s;
        if (s.unfence) {
            this.fencedSince = undefined;
            this.fenceConfirmed = false;
        }
        if (s.startFence) this.fencedSince = now;
        if (s.askPeers && !this.roundInFlight && this.deps.peerKey) {
            this.roundInFlight = true;
            void askPeers({
                key: this.deps.peerKey,
                self: this.cfg.nodeName,
                selfApiReachable: this.apiReachable(),
                members: this.members(),
                addresses: this.peers,
                timeoutMs: this.cfg.peerTimeoutMs,
                transport: this.deps.transport,
                now: () => this.now(),
            })
                .then((v) => (this.votes = v))
                .finally(() => (this.roundInFlight = false));
        }
        if (s.fence && this.authRefusedAt !== undefined) this.askForOurLease();
        if (s.fence) {
            const r = await this.applyFence();
            this.fenceConfirmed = r.clean && !r.runtimeError;
            if (!r.clean || r.kubeletKilled.length > 0 || r.runtimeError) {
                this.deps.log.error("fence applied", { node: this.cfg.nodeName, mode: s.mode, ...r });
            }
        }
        if (s.petWatchdog) this.deps.watchdog?.pet();
        this.deps.metrics.set("liberator_agent_fenced", "1 while this agent keeps its node fenced.", s.fence ? 1 : 0);
        return s;
    }

    mode(): SelfFenceMode | undefined {
        return this.lastStep?.mode;
    }

    // --- serving peers -----------------------------------------------------------------------

    handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        const url = (req.url ?? "/").split("?")[0];
        if (url === PEER_PATH && req.method === "POST") {
            let text = "";
            req.setEncoding("utf8");
            req.on("data", (c: string) => {
                text += c;
                if (text.length > 4096) req.destroy();
            });
            req.on("end", () => {
                let q: unknown;
                try {
                    q = JSON.parse(text);
                } catch {
                    q = undefined;
                }
                const lq = this.deps.peerKey ? authenticLeaseQuestion(this.deps.peerKey, q) : undefined;
                if (lq && lq.from !== this.cfg.nodeName) {
                    // A fenced peer whose token is refused: read its Lease with ours.
                    void this.leaseStateOf(lq.from).then(
                        (state) => {
                            res.writeHead(200, { "Content-Type": "application/json" });
                            res.end(JSON.stringify(leaseAnswer(this.deps.peerKey!, this.cfg.nodeName, lq, state)));
                        },
                        () => {
                            res.writeHead(503, { "Content-Type": "application/json" });
                            res.end('{"error":"cannot read the Lease"}');
                        },
                    );
                    return;
                }
                const a = this.deps.peerKey ? answer(this.deps.peerKey, this.cfg.nodeName, q, this.apiReachable()) : undefined;
                res.writeHead(a ? 200 : 403, { "Content-Type": "application/json" });
                res.end(a ? JSON.stringify(a) : '{"error":"not authenticated"}');
            });
            return;
        }
        if (url === HTTP_PATHS.metrics) {
            res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
            res.end(this.deps.metrics.render());
            return;
        }
        if (url === HTTP_PATHS.healthz || url === HTTP_PATHS.livez) {
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ ok: true, mode: this.mode() ?? "starting", armed: this.armed }) + "\n");
            return;
        }
        res.writeHead(404);
        res.end();
    }

    async listen(): Promise<http.Server> {
        const server = http.createServer((req, res) => this.handle(req, res));
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen(this.cfg.listenPort, this.cfg.listenHost, () => resolve());
        });
        this.server = server;
        return server;
    }

    // --- lifecycle ---------------------------------------------------------------------------

    private sleep(ms: number): Promise<void> {
        return new Promise((r) => {
            const t = setTimeout(() => {
                this.timers.delete(t);
                r();
            }, ms);
            this.timers.add(t);
        });
    }

    async start(): Promise<void> {
        this.stopped = false;
        if (this.deps.watchdog) {
            this.deps.watchdog.open();
            this.deps.watchdog.pet();
        }
        await this.arm();
        const loop = async (fn: () => Promise<unknown>, every: () => number) => {
            while (!this.stopped) {
                try {
                    await fn();
                } catch (e) {
                    this.deps.log.debug("agent loop step failed", { error: String((e as Error)?.message ?? e) });
                }
                if (this.stopped) break;
                await this.sleep(every());
            }
        };
        // Renew every H while healthy; every P while failing, so a return is noticed at once.
        let lastRenewOk = true;
        void Promise.all([
            loop(
                async () => (lastRenewOk = await this.renew()),
                () => (lastRenewOk && !this.claim ? this.cfg.renewIntervalMs : this.cfg.peerRecheckMs),
            ),
            loop(
                () => this.tick(),
                () => this.cfg.peerRecheckMs,
            ),
            loop(
                async () => {
                    if (this.lastStep?.fence) this.killKubelet();
                },
                () => this.kubeletRecheckMs(),
            ),
            loop(
                async () => {
                    if (this.mode() !== "healthy" && this.mode() !== undefined) return;
                    await this.listPeers();
                    if (this.armed) await this.refreshStatefulPods();
                },
                () => this.cfg.peerListMs,
            ),
            loop(
                async () => {
                    await this.sleep(30_000);
                    if (!this.stopped) await this.arm();
                },
                () => 0,
            ),
        ]);
    }

    /** Stops; a clean stop says so in the Lease (armed: false) and disarms the watchdog. */
    async stop(): Promise<void> {
        this.stopped = true;
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        if (this.lastStep?.mode === "healthy" && !this.claim && this.lease) {
            this.armed = false;
            this.armProblems = ["the agent is stopping"];
            try {
                await this.write(this.lease.metadata.resourceVersion);
            } catch (e) {
                this.deps.log.warn("could not mark the heartbeat unarmed on stop", { error: String((e as Error)?.message ?? e) });
            }
        }
        this.deps.watchdog?.disarm();
        this.deps.runtime.close?.();
        await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    }
}

function advertisedExplicitly(argv: string[], env: NodeJS.ProcessEnv): boolean {
    return argv.some((a) => a.startsWith("--advertise-address")) || Boolean(env.LIBERATOR_ADVERTISE_ADDRESS);
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) {
        process.stdout.write(agentUsage());
        return 0;
    }
    let cfg: AgentConfig;
    try {
        cfg = loadAgentConfig(argv, env);
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n\n${e instanceof ConfigError ? agentUsage() : ""}`);
        return 2;
    }
    const log = jsonLogger(cfg.logLevel);
    let client: KubeClient;
    let namespace: string;
    try {
        const cluster = resolveClusterConfig(cfg.kubeconfig, cfg.context, env);
        namespace = cfg.namespace ?? cluster.namespace ?? DEFAULT_NAMESPACE;
        client = new KubeClient(cluster, { userAgent: `pets-liberator-agent/${cfg.nodeName}` });
    } catch (e) {
        log.error("cannot configure the API client", { error: (e as Error).message });
        return 2;
    }
    let peerKey: Buffer | undefined;
    try {
        peerKey = Buffer.from(fs.readFileSync(cfg.peerKeyFile, "utf8").trim(), "utf8");
    } catch (e) {
        log.warn("no peer key: cannot arm", { file: cfg.peerKeyFile, error: (e as Error).message });
    }
    let nodeUid: string | undefined;
    try {
        const t = tokenNode(fs.readFileSync(cfg.tokenFile, "utf8").trim());
        if (t.name && t.name !== cfg.nodeName) log.warn("the service-account token names another node", { token: t.name, node: cfg.nodeName });
        else nodeUid = t.uid;
    } catch {
        // Outside a pod (tests, drills): no owner reference.
    }
    let watchdog: Watchdog | undefined;
    if (cfg.watchdogDevice) {
        watchdog = new Watchdog(cfg.watchdogDevice);
        const t = cfg.watchdogTimeoutMs ?? (watchdog.timeoutSeconds() ?? 60) * 1000;
        cfg.watchdogTimeoutMs = t;
        if (t >= cfg.fenceExecMs)
            log.warn("the watchdog's timeout is not shorter than --fence-exec: it fires only after the fence deadline", { watchdogMs: t });
    }
    const metrics = new Metrics();
    const agent = new Agent(cfg, namespace, { client, log, metrics, runtime: new CriClient(cfg.criSocket, 3000), peerKey, nodeUid, watchdog });
    const server = await agent.listen();
    const addr = server.address();
    // Port 0 (tests, drills): advertise the port actually bound.
    if (cfg.listenPort === 0 && cfg.hostIp && typeof addr === "object" && addr && !advertisedExplicitly(argv, env))
        cfg.advertiseAddress = `${cfg.hostIp}:${addr.port}`;
    log.info("liberator agent starting", {
        server: client.config.server,
        namespace,
        node: cfg.nodeName,
        lease: heartbeatLeaseName(cfg.nodeName),
        renewIntervalSeconds: cfg.renewIntervalMs / 1000,
        selfFenceSeconds: cfg.selfFenceMs / 1000,
        fenceExecSeconds: cfg.fenceExecMs / 1000,
        selfFence: cfg.selfFence,
        criSocket: cfg.criSocket,
        watchdog: cfg.watchdogDevice ?? null,
        listen: typeof addr === "object" && addr ? `${addr.address}:${addr.port}` : String(addr),
        advertise: cfg.advertiseAddress ?? null,
        peerKeySha256: peerKey ? crypto.createHash("sha256").update(peerKey).digest("hex").slice(0, 12) : null,
    });
    await agent.start();
    return untilSignal(
        log,
        () => agent.stop(),
        () => client.close(),
        5_000,
    );
}

if (require.main === module) exitWith(main(process.argv.slice(2)));
