// Liberator footprint (issue #13, item 2): the NodeLiberator deployed by the real pulumi CLI on
// the bench cluster's kwok nodes, its agents (one process per node, each with a token bound to the
// DaemonSet's pod on that node) and its controller (2 replicas as processes, one leading) run as
// the drills run them (tests/integration/support/nodes.ts), with the node flags and settings the
// DaemonSet and Deployment ship. Memory and CPU from /proc, API requests from the audit log,
// with node churn (a node's kwok and its agent killed together, both back later).
// kwok runs no containers and no kubelet, so the agents cannot arm (the CRI socket and kubelet
// name point at nothing on purpose: an armed agent here could kill another cluster's kubelets).
// `--set target=control-plane` measures the bench cluster's own kwok processes and
// kube-controller-manager the same way instead: a self-check of the measuring parts.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { Analysis, Benchmark, BenchResults, Case, Options, Plan, RunResult } from "../lib/benchmark";
import { BENCH_CLUSTER_ENV, benchEnv, clusterDown, clusterUp, kubectl, missingTools } from "../lib/cluster";
import { aliveNodeMinutes, Footprint, KindRequests, linearity, measureFootprint } from "../lib/footprint";
import { loadAverage } from "../lib/machine";
import { median } from "../lib/stats";
import { chartNotes } from "../lib/report";
import { formatValue } from "../lib/svg";
import { AuditRequest } from "../lib/audit";
import { createLocalPVs, kubectlJson, TestStack, waitFor } from "../../tests/integration/support/harness";
import {
    killNode,
    NodeRuntime,
    Replica,
    restoreNode,
    serviceAccountKubeconfig,
    startAgents,
    startController,
    stopLiberators,
} from "../../tests/integration/support/nodes";

/** What the classic liberator requests per node; the comparison the issue asks for. */
export const CLASSIC_LIBERATOR_REQUEST_MIB = 200;
export const GOALS_MIB = { agent: 45, controller: 60 };
const LIB_NS = "tkr-system";

export interface FootprintTarget {
    /** Process kinds, e.g. { agent: "per-node agent", controller: "deciding controller" }. */
    kinds: Record<string, string>;
    /** Starts the target on the bench cluster (nodes already there). */
    start(nodes: string[], opts: Options): Promise<void>;
    pids(): Record<string, number[]>;
    /** Whose an API request is (a kind), or undefined when it is not the target's. */
    requestKind(r: AuditRequest): string | undefined;
    /** How many processes of each kind run at a time with `nodes` nodes. */
    processCount(nodes: number): Record<string, number>;
    /** A node dies (after its kwok was killed) / comes back (after its kwok was restarted). */
    nodeDown?(node: string): void;
    nodeUp?(node: string): void;
    /** Called about once a second while measuring. */
    tick?(elapsedMs: number): Promise<void>;
    /** Highest V8 heap in use seen per kind, bytes (the headroom under --max-old-space-size). */
    heapPeaks?(): Record<string, number>;
    /** What ran: node binary and version, flags, settings (kept in the JSON). */
    describe?(): TargetFacts;
    stop(): Promise<void>;
}

/** What ran (kept in each run's detail). */
export interface TargetFacts {
    node?: string;
    nodeVersion?: string;
    agentNodeFlags?: string[];
    controllerNodeFlags?: string[];
    shippedAgentNodeFlags?: string[];
    shippedControllerNodeFlags?: string[];
    agentFlagSets?: { name: string; flags: string[] }[];
    agentEnv?: Record<string, string>;
    controllerFlags?: string[];
    logDir?: string;
}

/** The parts of a DaemonSet or Deployment read here. */
interface Workload {
    metadata: { name: string };
    spec: { template: { spec: { serviceAccountName: string; containers: { command?: string[]; env?: { name: string; value?: string }[] }[] } } };
}

const clusterDir = () => BENCH_CLUSTER_ENV.PETS_CLUSTER_DIR;
function readPid(name: string): number | undefined {
    try {
        const pid = Number(fs.readFileSync(path.join(clusterDir(), "pids", `${name}.pid`), "utf8").trim());
        return Number.isInteger(pid) ? pid : undefined;
    } catch {
        return undefined;
    }
}

/** The drills' helpers (harness, nodes) read the cluster from the environment: point it at the bench cluster. */
function useBenchCluster(): void {
    const env = benchEnv();
    for (const k of ["PETS_CLUSTER_DIR", "PETS_KUBECONFIG", "PATH", "PETS_TOOLS_CACHE"]) process.env[k] = env[k];
}

/** The bench cluster's own processes, as a stand-in target for checking the measuring parts. */
const controlPlaneTarget: FootprintTarget = {
    kinds: { agent: "kwok (one per node)", controller: "kube-controller-manager" },
    async start() {},
    pids() {
        const kwok = fs
            .readdirSync(path.join(clusterDir(), "pids"))
            .filter((f) => f.startsWith("kwok-"))
            .map((f) => readPid(f.replace(/\.pid$/, "")))
            .filter((p): p is number => p !== undefined);
        const kcm = readPid("kube-controller-manager");
        return { agent: kwok, controller: kcm ? [kcm] : [] };
    },
    requestKind: (r) => (r.userAgent.startsWith("kwok") ? "agent" : r.userAgent.startsWith("kube-controller-manager") ? "controller" : undefined),
    processCount: (n) => ({ agent: n + 1, controller: 1 }),
    async stop() {},
};

/** Comma-separated node flags from a setting ("" = none), or undefined when not set. */
function flagList(v: string | undefined): string[] | undefined {
    if (v === undefined) return undefined;
    return v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
}

/**
 * `--set agentFlagSets=a:--jitless,--max-semi-space-size=1;b:--jitless`: node flag sets tried side
 * by side in one run, node i getting set i mod k (their agents are also a kind `agent@<name>`).
 */
export function parseFlagSets(v: string | undefined): { name: string; flags: string[] }[] {
    if (v === undefined) return [];
    const sets = v
        .split(";")
        .map((x) => x.trim())
        .filter(Boolean)
        .map((x) => {
            const colon = x.indexOf(":");
            if (colon < 1) throw new Error(`--set agentFlagSets: "${x}" is invalid: expected name:flag,flag (sets separated by ;)`);
            return { name: x.slice(0, colon), flags: flagList(x.slice(colon + 1))! };
        });
    const names = sets.map((x) => x.name);
    if (new Set(names).size !== names.length) throw new Error(`--set agentFlagSets: names must differ, got ${names.join(", ")}`);
    return sets;
}

/** A container's command split into node flags and script, as the component renders it: ["node", …flags, script]. */
function nodeFlagsOf(command: string[] | undefined, what: string): string[] {
    if (!command || command[0] !== "node" || !command[command.length - 1].endsWith(".js"))
        throw new Error(`${what}: expected a command ["node", …flags, "<script>.js"], got ${JSON.stringify(command)}`);
    return command.slice(1, -1);
}

/** Plain env values of a container (not the downward-API ones). */
function plainEnv(container: { env?: { name: string; value?: string }[] }): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of container.env ?? []) if (typeof e.value === "string") out[e.name] = e.value;
    return out;
}

/** LIBERATOR_RENEW_INTERVAL=5s → --renew-interval=5s (the flags and variables are the same settings). */
export function envToFlags(env: Record<string, string>, skip: string[] = []): string[] {
    return Object.entries(env)
        .filter(([k]) => k.startsWith("LIBERATOR_") && !skip.includes(k))
        .map(([k, v]) => `--${k.slice("LIBERATOR_".length).toLowerCase().replace(/_/g, "-")}=${v}`);
}

/** The NodeLiberator, deployed by pulumi with the dev stack's defaults, its code run as processes. */
class LiberatorTarget implements FootprintTarget {
    kinds = { agent: "liberator agent (one per node)", controller: "liberator controller (2 replicas)" };
    private stack?: TestStack;
    private logDir = "";
    private agents = new Map<string, Replica>();
    private controllers: Replica[] = [];
    private agentArgs?: { daemonSet: string; serviceAccount: string; env: Record<string, string>; runtime: NodeRuntime };
    /** Flag set of each node's agent, when several are tried side by side. */
    private flagSetOf = new Map<string, { name: string; flags: string[] }>();
    private users: Record<string, string> = {};
    private facts: TargetFacts = {};
    private heap: Record<string, number> = {};
    private nextHeapAt = 0;
    private readonly addresses = new WeakMap<Replica, string>();

    async start(nodes: string[], opts: Options): Promise<void> {
        useBenchCluster();
        this.logDir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-footprint-"));
        // The drills' stack: web (3 replicas on local PVs, as kwok cannot provision), no MySQL, the liberator.
        createLocalPVs(nodes, 1, "local-path");
        this.stack = new TestStack("footprint", {
            "pets:web": { replicas: 3 },
            "pets:mysql": { enabled: false },
            "pets:liberator": { enabled: true },
        });
        await this.stack.init();
        const up = await this.stack.up();
        opts.log(`footprint: pulumi up in ${up.seconds.toFixed(0)}s`);

        const ds = kubectlJson<{ items: Workload[] }>(["-n", LIB_NS, "get", "daemonsets"]).items;
        const deps = kubectlJson<{ items: Workload[] }>(["-n", LIB_NS, "get", "deployments"]).items;
        if (ds.length !== 1 || deps.length !== 1)
            throw new Error(`expected one DaemonSet and one Deployment in ${LIB_NS}, found ${ds.length} and ${deps.length}`);
        const agentC = ds[0].spec.template.spec.containers[0];
        const ctrlC = deps[0].spec.template.spec.containers[0];
        const node = opts.settings.node ?? process.execPath;
        const agentFlags = flagList(opts.settings.agentFlags) ?? nodeFlagsOf(agentC.command, "the agent container");
        const controllerFlags = flagList(opts.settings.controllerFlags) ?? nodeFlagsOf(ctrlC.command, "the controller container");
        // The DaemonSet's settings, except where the agents run here: peers on 127.0.0.1 with a
        // random port, the key file startAgents writes, and a CRI socket and kubelet name that
        // exist nowhere, so that no agent can arm on this shared machine.
        const env = plainEnv(agentC);
        for (const k of ["LIBERATOR_LISTEN_ADDRESS", "LIBERATOR_PEER_KEY_FILE"]) delete env[k];
        env.LIBERATOR_CRI_SOCKET = path.join(this.logDir, "no-cri.sock");
        env.LIBERATOR_KUBELET_NAME = "pets-fp-none";
        const ctrlArgs = [...envToFlags(plainEnv(ctrlC), ["LIBERATOR_METRICS_ADDRESS"])];
        this.agentArgs = {
            daemonSet: ds[0].metadata.name,
            serviceAccount: ds[0].spec.template.spec.serviceAccountName,
            env,
            runtime: { node, nodeFlags: agentFlags },
        };
        const controllerSa = deps[0].spec.template.spec.serviceAccountName;
        this.users = {
            [`system:serviceaccount:${LIB_NS}:${this.agentArgs.serviceAccount}`]: "agent",
            [`system:serviceaccount:${LIB_NS}:${controllerSa}`]: "controller",
        };
        const kc = serviceAccountKubeconfig(LIB_NS, controllerSa, path.join(this.logDir, "kubeconfig-controller"));
        const sets = parseFlagSets(opts.settings.agentFlagSets);
        nodes.forEach((n, i) => sets.length && this.flagSetOf.set(n, sets[i % sets.length]));
        for (const n of nodes) this.startAgent(n);
        this.controllers = [0, 1].map((i) => startController(kc, ctrlArgs, this.logDir, `controller-${i}`, { node, nodeFlags: controllerFlags }));
        this.facts = {
            node,
            nodeVersion: execFileSync(node, ["--version"], { encoding: "utf8" }).trim(),
            agentNodeFlags: agentFlags,
            ...(sets.length ? { agentFlagSets: sets } : {}),
            controllerNodeFlags: controllerFlags,
            shippedAgentNodeFlags: nodeFlagsOf(agentC.command, "the agent container"),
            shippedControllerNodeFlags: nodeFlagsOf(ctrlC.command, "the controller container"),
            agentEnv: env,
            controllerFlags: ctrlArgs,
            logDir: this.logDir,
        };
        await waitFor(
            "every agent's heartbeat Lease",
            () => {
                const leases = new Set(
                    kubectlJson<{ items: { metadata: { name: string } }[] }>(["-n", LIB_NS, "get", "leases"]).items.map((l) => l.metadata.name),
                );
                const dead = [...this.agents.values(), ...this.controllers].find((r) => r.child.exitCode !== null);
                if (dead) throw new Error(`a liberator process exited early (code ${dead.child.exitCode}): see ${dead.log}`);
                return nodes.every((n) => leases.has(`heartbeat.${n}`));
            },
            180_000,
            2000,
        );
    }

    private startAgent(node: string): void {
        const a = this.agentArgs!;
        const set = this.flagSetOf.get(node);
        const runtime = set ? { ...a.runtime, nodeFlags: set.flags } : a.runtime;
        const [r] = startAgents([node], LIB_NS, a.daemonSet, a.serviceAccount, a.env, this.logDir, runtime);
        this.agents.set(node, r);
    }

    pids(): Record<string, number[]> {
        const alive = (rs: Replica[]) => rs.filter((r) => r.child.exitCode === null && r.child.signalCode === null && r.child.pid).map((r) => r.child.pid!);
        const out: Record<string, number[]> = { agent: alive([...this.agents.values()]), controller: alive(this.controllers) };
        for (const [node, set] of this.flagSetOf) {
            const r = this.agents.get(node);
            if (r) out[`agent@${set.name}`] = [...(out[`agent@${set.name}`] ?? []), ...alive([r])];
        }
        return out;
    }

    requestKind(r: AuditRequest): string | undefined {
        return this.users[r.username];
    }

    processCount(nodes: number): Record<string, number> {
        return { agent: nodes, controller: this.controllers.length };
    }

    /** Power loss: the agent dies with its node. */
    nodeDown(node: string): void {
        this.agents.get(node)?.child.kill("SIGKILL");
    }

    /** The node's agent starts again, as the kubelet would restart the DaemonSet's pod. */
    nodeUp(node: string): void {
        this.startAgent(node);
    }

    /** Every 15 s: each process's own /metrics (nodejs_heap_used_bytes), a request each, on 127.0.0.1. */
    async tick(elapsedMs: number): Promise<void> {
        if (elapsedMs < this.nextHeapAt) return;
        this.nextHeapAt = elapsedMs + 15_000;
        const kinds: [string, Replica[], RegExp][] = [
            ["agent", [...this.agents.values()], /"listen":"([^"]+)"/],
            ["controller", this.controllers, /"metrics":"([^"]+)"/],
        ];
        await Promise.all(
            kinds.flatMap(([kind, rs, re]) =>
                rs
                    .filter((r) => r.child.exitCode === null && r.child.signalCode === null)
                    .map(async (r) => {
                        let addr = this.addresses.get(r);
                        if (!addr) {
                            addr = re.exec(fs.readFileSync(r.log, "utf8"))?.[1];
                            if (!addr) return;
                            this.addresses.set(r, addr);
                        }
                        const used = heapUsed(await httpText(`http://${addr}/metrics`, 2000).catch(() => ""));
                        if (used !== undefined) this.heap[kind] = Math.max(this.heap[kind] ?? 0, used);
                    }),
            ),
        );
    }

    heapPeaks(): Record<string, number> {
        return this.heap;
    }

    describe(): TargetFacts {
        return this.facts;
    }

    async stop(): Promise<void> {
        await stopLiberators([...this.agents.values(), ...this.controllers]);
        this.agents.clear();
        this.controllers = [];
        this.flagSetOf.clear();
        this.stack?.cleanup();
        this.stack = undefined;
    }
}

function httpText(url: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { timeout: timeoutMs }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve(body));
        });
        req.on("timeout", () => req.destroy(new Error(`${url}: no answer in ${timeoutMs} ms`)));
        req.on("error", reject);
    });
}

/** `nodejs_heap_used_bytes` from a Prometheus text page. */
export function heapUsed(metrics: string): number | undefined {
    const m = /^nodejs_heap_used_bytes (\d+(?:\.\d+)?)$/m.exec(metrics);
    return m ? Number(m[1]) : undefined;
}

const TARGETS: Record<string, () => FootprintTarget> = {
    liberator: () => new LiberatorTarget(),
    "control-plane": () => controlPlaneTarget,
};

/**
 * Node churn: every `everyMs`, one node dies (its kwok process SIGKILLed, then the target's
 * nodeDown), and comes back `downMs` later with the same command line (then nodeUp).
 */
class Churn {
    private down: { node: string; at: number }[] = [];
    private next = 0;
    private i = 0;
    events: { node: string; event: "down" | "up"; atMs: number }[] = [];
    constructor(
        private readonly nodes: string[],
        private readonly everyMs: number,
        private readonly downMs: number,
        private readonly target: FootprintTarget,
    ) {}

    tick(elapsedMs: number): void {
        this.restartDue(elapsedMs);
        if (this.nodes.length === 0 || elapsedMs < this.next) return;
        this.next = elapsedMs + this.everyMs;
        const node = this.nodes[this.i++ % this.nodes.length];
        if (this.down.some((d) => d.node === node)) return;
        killNode(node);
        this.target.nodeDown?.(node);
        this.down.push({ node, at: elapsedMs });
        this.events.push({ node, event: "down", atMs: elapsedMs });
    }

    private restartDue(elapsedMs: number): void {
        for (const d of this.down.filter((x) => elapsedMs - x.at >= this.downMs)) {
            restoreNode(d.node);
            this.target.nodeUp?.(d.node);
            this.events.push({ node: d.node, event: "up", atMs: elapsedMs });
        }
        this.down = this.down.filter((x) => elapsedMs - x.at < this.downMs);
    }

    /** Brings every node still down back, so the cluster is whole again. */
    restoreAll(): void {
        this.restartDue(Number.MAX_SAFE_INTEGER);
    }
}

interface FootprintDetail {
    nodes: number;
    kinds: Footprint["kinds"];
    byKind?: KindRequests[];
    requests?: Footprint["requests"];
    requestsByUser?: Footprint["requestsByUser"];
    churn: Churn["events"];
    kindLabels: Record<string, string>;
    target: TargetFacts;
    loadDuring: { before: number[]; after: number[] };
}

/** All agents' requests over the node-minutes their nodes were up (churn takes more of a small cluster down). */
export function perLiveNode(d: Pick<FootprintDetail, "nodes" | "byKind" | "requests" | "churn">): number {
    const total = d.byKind?.find((k) => k.kind === "agent")?.total;
    if (total === undefined || !d.requests) return NaN;
    return total / aliveNodeMinutes(d.nodes, d.requests.endMs - d.requests.startMs, d.churn);
}

function kindLabel(r: BenchResults, kind: string): string {
    return (r.samples[0]?.detail as FootprintDetail | undefined)?.kindLabels[kind] ?? kind;
}

let current: FootprintTarget | undefined;

const mib = (b: number | undefined) => (b ?? NaN) / 2 ** 20;

export const footprint: Benchmark = {
    name: "footprint",
    title: "Liberator footprint",
    description: "peak and steady RSS and CPU per process kind, and API requests per minute by the target's identity, with node churn",

    unavailable(opts: Options): string | undefined {
        const name = opts.settings.target ?? "liberator";
        if (!(name in TARGETS)) return `unknown target "${name}": known targets are ${Object.keys(TARGETS).join(", ")}`;
        const missing = missingTools(name === "liberator" ? ["pulumi", "control-plane"] : ["control-plane"]);
        if (missing.length) return `tools not built: ${missing.join(", ")} (scripts/tools/build.sh pulumi control-plane)`;
        return undefined;
    },

    plan(opts: Options): Plan {
        const nodes = (opts.settings.nodes ?? (opts.quick ? "3" : "10,25,50")).split(",").map(Number);
        const bad = nodes.find((n) => !Number.isInteger(n) || n < 1 || n > 200);
        if (bad !== undefined) throw new Error(`--set nodes=${opts.settings.nodes} is invalid: whole numbers from 1 to 200, comma-separated`);
        const target = opts.settings.target ?? "liberator";
        return {
            cases: nodes.map((n) => ({ id: `nodes-${n}`, label: `${n} nodes`, size: n })),
            variants: [{ id: target, label: target }],
            metrics: [
                { id: "agentPeakRssMiB", label: "agent peak RSS", unit: "MiB" },
                { id: "agentSteadyRssMiB", label: "agent steady RSS", unit: "MiB" },
                { id: "agentSteadyAnonMiB", label: "agent steady RSS, anonymous part", unit: "MiB" },
                { id: "controllerPeakRssMiB", label: "controller peak RSS", unit: "MiB" },
                { id: "controllerSteadyRssMiB", label: "controller steady RSS (larger replica)", unit: "MiB" },
                { id: "controllerSteadyAnonMiB", label: "controller steady RSS, anonymous part (larger replica)", unit: "MiB" },
                { id: "agentPeakHeapMiB", label: "agent peak V8 heap in use", unit: "MiB" },
                { id: "controllerPeakHeapMiB", label: "controller peak V8 heap in use", unit: "MiB" },
                { id: "agentSteadyCpuMilli", label: "agent steady CPU", unit: "millicores" },
                { id: "controllerSteadyCpuMilli", label: "controller steady CPU (busier replica)", unit: "millicores" },
                { id: "agentRequestsPerMin", label: "API requests by all agents", unit: "req/min" },
                { id: "controllerRequestsPerMin", label: "API requests by the controllers", unit: "req/min" },
                { id: "requestsPerMin", label: "API requests by the target", unit: "req/min" },
                { id: "agentRequestsPerNodeMin", label: "API requests per agent (per minute its node was up)", unit: "req/min" },
            ],
            rounds: opts.quick ? 1 : 2,
            warmup: 0,
            caseAxis: "nodes",
        };
    },

    async run(c: Case, v, _round, opts: Options): Promise<RunResult> {
        const target = TARGETS[v.id]();
        const n = c.size!;
        // A fresh cluster per run, with the audit log on.
        clusterDown();
        clusterUp({ audit: true, workers: n });
        useBenchCluster();
        const nodes = (JSON.parse(kubectl(["get", "nodes", "-o", "json"])) as { items: { metadata: { name: string } }[] }).items
            .map((x) => x.metadata.name)
            .filter((x) => x.startsWith("pets-worker-"));
        current = target;
        let fp: Footprint;
        let churn: Churn;
        const loadBefore = loadAverage();
        try {
            await target.start(nodes, opts);
            const durationMs = Number(opts.settings.seconds ?? (opts.quick ? 60 : 300)) * 1000;
            const everyS = Number(opts.settings.churnEverySeconds ?? 20);
            churn = new Churn(opts.settings.churn === "0" ? [] : nodes, everyS * 1000, Number(opts.settings.downSeconds ?? 60) * 1000, target);
            opts.log(`footprint: measuring ${n} nodes for ${durationMs / 1000}s (a node dies every ${everyS}s)`);
            try {
                fp = await measureFootprint({
                    pids: () => target.pids(),
                    durationMs,
                    intervalMs: 1000,
                    auditLog: path.join(clusterDir(), "logs", "audit.log"),
                    clientKey: "agent",
                    matchRequest: (r) => target.requestKind(r) !== undefined,
                    classify: (r) => target.requestKind(r),
                    processCount: target.processCount(n),
                    onTick: async (ms) => {
                        churn.tick(ms);
                        await target.tick?.(ms);
                    },
                });
            } finally {
                churn.restoreAll();
            }
        } finally {
            await target.stop();
            current = undefined;
        }
        const heap = target.heapPeaks?.() ?? {};
        const kind = (k: string) => fp.kinds.find((x) => x.kind === k);
        const reqs = (k: string) => fp.byKind?.find((x) => x.kind === k)?.perMinute ?? (fp.byKind ? 0 : NaN);
        const detail: FootprintDetail = {
            nodes: n,
            kinds: fp.kinds,
            byKind: fp.byKind,
            requests: fp.requests,
            requestsByUser: fp.requestsByUser,
            churn: churn.events,
            kindLabels: target.kinds,
            target: target.describe?.() ?? {},
            loadDuring: { before: loadBefore, after: loadAverage() },
        };
        return {
            metrics: {
                agentPeakRssMiB: mib(kind("agent")?.peakRssBytes),
                agentSteadyRssMiB: mib(kind("agent")?.steadyRssBytes),
                agentSteadyAnonMiB: mib(kind("agent")?.steadyAnonBytes),
                controllerPeakRssMiB: mib(kind("controller")?.peakRssBytes),
                controllerSteadyRssMiB: mib(kind("controller")?.steadyRssMaxBytes),
                controllerSteadyAnonMiB: mib(kind("controller")?.steadyAnonMaxBytes),
                agentPeakHeapMiB: mib(heap.agent),
                controllerPeakHeapMiB: mib(heap.controller),
                agentSteadyCpuMilli: (kind("agent")?.steadyCpuCores ?? NaN) * 1000,
                controllerSteadyCpuMilli: (kind("controller")?.steadyCpuMaxCores ?? NaN) * 1000,
                agentRequestsPerMin: reqs("agent"),
                controllerRequestsPerMin: reqs("controller"),
                requestsPerMin: reqs("agent") + reqs("controller"),
                agentRequestsPerNodeMin: perLiveNode(detail),
            },
            detail,
        };
    },

    async teardown(opts: Options): Promise<void> {
        await current?.stop();
        current = undefined;
        if (opts.settings.keepCluster !== "1") clusterDown();
    },

    analyze(r: BenchResults): Analysis {
        const lines: string[] = [];
        const data: Record<string, unknown> = { goalsMiB: GOALS_MIB, classicRequestMiB: CLASSIC_LIBERATOR_REQUEST_MIB };
        const first = r.samples[0]?.detail as FootprintDetail | undefined;
        if (first?.target.nodeVersion)
            lines.push(
                `ran on node ${first.target.nodeVersion}; agent flags ${(first.target.agentNodeFlags ?? []).join(" ")}; controller flags ${(first.target.controllerNodeFlags ?? []).join(" ")}`,
            );
        for (const s of r.samples) {
            const d = s.detail as FootprintDetail;
            for (const k of d.byKind ?? [])
                lines.push(
                    `${s.caseId} round ${s.round}: ${k.kind}: ${formatValue(k.perMinute)} req/min` +
                        (k.perMinutePerProcess !== undefined ? ` (${formatValue(k.perMinutePerProcess)} per process)` : "") +
                        `; ${Object.entries(k.byVerb)
                            .map(([verb, x]) => `${verb} ${x}`)
                            .join(", ")}`,
                );
            const clients = (rep: FootprintDetail["requests"]) => (rep?.clients ?? []).map((c) => `${c.client} ${formatValue(c.perMinute)}`).join(", ");
            if (d.requests) lines.push(`${s.caseId} round ${s.round}: req/min by user agent: ${clients(d.requests)}; by user: ${clients(d.requestsByUser)}`);
            const downs = d.churn.filter((e) => e.event === "down").length;
            lines.push(
                `${s.caseId} round ${s.round}: ${downs} node deaths, ${d.churn.length - downs} returns; load average ${d.loadDuring.before[0]} → ${d.loadDuring.after[0]}`,
            );
        }
        // Flag sets tried side by side: one line each, from every run.
        const sets = new Map<string, { steady: number[]; anon: number[]; file: number[]; peak: number[] }>();
        for (const s of r.samples)
            for (const k of (s.detail as FootprintDetail).kinds.filter((x) => x.kind.startsWith("agent@"))) {
                const e = sets.get(k.kind) ?? { steady: [], anon: [], file: [], peak: [] };
                e.steady.push(mib(k.steadyRssBytes));
                e.anon.push(mib(k.steadyAnonBytes));
                e.file.push(mib(k.steadyFileBytes));
                e.peak.push(mib(k.peakRssBytes));
                sets.set(k.kind, e);
            }
        if (sets.size) {
            const flagsOf = (name: string) => (first?.target.agentFlagSets ?? []).find((x) => `agent@${x.name}` === name)?.flags.join(" ");
            lines.push("agent flag sets (steady RSS = anonymous + file-backed; peak = highest of any process, VmHWM):");
            for (const [name, e] of sets)
                lines.push(
                    `  ${name} [${flagsOf(name)}]: steady ${formatValue(median(e.steady))} MiB (anon ${formatValue(median(e.anon))}, file ${formatValue(median(e.file))}), peak ${formatValue(Math.max(...e.peak))} MiB`,
                );
            data.flagSets = Object.fromEntries([...sets].map(([k, e]) => [k, { flags: flagsOf(k), ...e }]));
        }
        // Traffic against the node count: a line through every run.
        const sizes = [...new Set(r.plan.cases.map((c) => c.size!))];
        if (sizes.length >= 2) {
            const lin: Record<string, unknown> = {};
            for (const metric of ["agentRequestsPerMin", "controllerRequestsPerMin", "requestsPerMin"]) {
                const samples = new Map<number, number[]>();
                for (const s of r.samples) {
                    const size = r.plan.cases.find((c) => c.id === s.caseId)!.size!;
                    if (Number.isFinite(s.metrics[metric])) samples.set(size, [...(samples.get(size) ?? []), s.metrics[metric]]);
                }
                if (samples.size < 2) continue;
                const l = linearity(samples);
                lin[metric] = l;
                lines.push(
                    `${metric}: ${formatValue(l.slopePerNode)} req/min per node + ${formatValue(l.intercept)} (r² ${l.r2.toFixed(3)}); per node: ${l.perNode
                        .map((p) => `${p.nodes} → ${formatValue(p.perNode)}`)
                        .join(", ")}; last/first marginal ${formatValue(l.marginalRatio)} → ${l.linear ? "at most linear" : "NOT linear"}`,
                );
            }
            data.linearity = lin;
            const flat = sizes
                .sort((x, y) => x - y)
                .map((n) => {
                    const v = r.summary.find((x) => x.caseId === r.plan.cases.find((c) => c.size === n)!.id && x.metric === "agentRequestsPerNodeMin");
                    return v ? `${n} → ${formatValue(v.median)}` : undefined;
                })
                .filter(Boolean);
            if (flat.length) lines.push(`agent requests per node-minute up: ${flat.join(", ")} (flat = linear in the nodes that are up)`);
        }
        if (r.plan.variants[0].id !== "control-plane") {
            const worst = (metric: string) => Math.max(...r.summary.filter((s) => s.metric === metric).map((s) => s.max));
            const verdict = (k: "agent" | "controller") => {
                const steady = worst(`${k}SteadyRssMiB`);
                const peak = worst(`${k}PeakRssMiB`);
                return `${k}: steady ≤ ${formatValue(steady)} MiB, peak ≤ ${formatValue(peak)} MiB against the goal ${GOALS_MIB[k]} MiB → steady ${steady <= GOALS_MIB[k] ? "meets it" : "MISSES it"}, peak ${peak <= GOALS_MIB[k] ? "meets it" : "MISSES it"}`;
            };
            lines.push(verdict("agent"), verdict("controller"));
            lines.push(`the classic liberator requests ${CLASSIC_LIBERATOR_REQUEST_MIB} MiB per node`);
        }
        return { lines, data };
    },

    charts(r: BenchResults) {
        const cases = r.plan.cases.filter((c) => r.summary.some((s) => s.caseId === c.id));
        const bar = (caseId: string, metric: string, series: string) => {
            const s = r.summary.find((x) => x.caseId === caseId && x.metric === metric);
            return s && Number.isFinite(s.median) ? [{ series, median: s.median, min: s.min, max: s.max }] : [];
        };
        const nodeVersion = (r.samples[0]?.detail as FootprintDetail | undefined)?.target.nodeVersion;
        const isTarget = r.plan.variants[0].id !== "control-plane";
        // One memory chart per kind, so that its goal line and the classic request stand apart.
        const memory = (["agent", "controller"] as const).map((k) => ({
            file: `footprint-${k}.svg`,
            spec: {
                title: `Footprint: ${kindLabel(r, k)}, resident memory`,
                subtitle: `${nodeVersion ? `liberator processes on node ${nodeVersion}; ` : ""}bars: median of runs; whiskers: min–max`,
                yLabel: "RSS (MiB)",
                xLabel: "nodes",
                series: [
                    { id: "peak", label: "peak" },
                    { id: "steady", label: "steady" },
                    { id: "anon", label: "steady, anonymous part" },
                ],
                groups: cases.map((c) => ({
                    label: c.label,
                    bars: [...bar(c.id, `${k}PeakRssMiB`, "peak"), ...bar(c.id, `${k}SteadyRssMiB`, "steady"), ...bar(c.id, `${k}SteadyAnonMiB`, "anon")],
                })),
                references: [
                    { value: CLASSIC_LIBERATOR_REQUEST_MIB, label: `classic liberator: ${CLASSIC_LIBERATOR_REQUEST_MIB} MiB requested per node` },
                    ...(isTarget ? [{ value: GOALS_MIB[k], label: `goal ≤ ${GOALS_MIB[k]} MiB` }] : []),
                ],
                notes: chartNotes(r),
            },
        }));
        return [
            ...memory,
            {
                file: "footprint-requests.svg",
                spec: {
                    title: `Footprint: API requests per minute by ${r.plan.variants[0].label}, against the node count`,
                    subtitle: "from the API server's audit log, by identity; bars: median of runs; whiskers: min–max",
                    yLabel: "requests per minute",
                    xLabel: "nodes",
                    series: [
                        { id: "agents", label: "all agents" },
                        { id: "controllers", label: "controllers (2 replicas)" },
                    ],
                    groups: cases.map((c) => ({
                        label: c.label,
                        bars: [...bar(c.id, "agentRequestsPerMin", "agents"), ...bar(c.id, "controllerRequestsPerMin", "controllers")],
                    })),
                    notes: chartNotes(r),
                },
            },
        ];
    },
};
