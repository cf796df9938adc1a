/**
 * A discrete-time simulation of a small cluster that runs the real decision code on both sides —
 * the agents' `selfFenceStep` and `holdBack`, the controller's `decide` and `Observations` — over
 * a simulated API server (compare-and-swap Leases), kubelets, a node lifecycle controller with the
 * stock 50 s grace, and one StatefulSet pod per node. Each scenario checks the invariant "never
 * two live copies of an ordinal" at every 100 ms step and prints the failover time. Two scenarios
 * are expected to break it (an agent dying inside the fence window; the unsafe opt-in), which
 * proves the check can fail.
 */
import { apiDownAfterMs, claimAfterMs, DEFAULTS } from "../../../liberator/contract";
import { decide, DecideConfig, DecideMemory, DEFAULT_DECIDE_CONFIG, NodeView, Observations } from "../../../liberator/decide";
import { Votes } from "../../../liberator/peers";
import { SelfFenceConfig, selfFenceStep } from "../../../liberator/selffence";

const STEP = 100;
const H = DEFAULTS.renewIntervalSeconds * 1000;
const TIMING = { renewIntervalMs: H, selfFenceMs: DEFAULTS.selfFenceSeconds * 1000, fenceExecMs: DEFAULTS.fenceExecSeconds * 1000 };
const GRACE = 50_000; // kube-controller-manager 1.34 node-monitor-grace-period
const OBSERVE_DELAY = 300; // a write reaches the controller's watch cache
const POD_START = 5_000; // scheduling + start + readiness of the replacement

interface Agent {
    alive: boolean;
    rate: number; // its monotonic clock's rate against real time
    selfFence: boolean;
    lastOkSentAt: number;
    committed: boolean;
    claim?: "claimed" | "remediated";
    votes?: Votes;
    fencedSince?: number;
    fenceConfirmed: boolean;
    nextRenewAt: number;
    nextTickAt: number;
}

interface SimNode {
    name: string;
    power: boolean;
    /** Its network to the other nodes and to the API server (a partition cuts both). */
    net: boolean;
    /** Only its path to the API server (a partition of the control plane's side). */
    apiNet: boolean;
    kubeletUp: boolean;
    kubeletRestartAt?: number;
    lastKubeletRenew: number;
    ready: "True" | "Unknown";
    tainted: boolean;
    podInApi: boolean;
    podRunning: boolean;
    /** When the StatefulSet's replacement of this node's pod runs elsewhere. */
    replacementAt?: number;
    agent: Agent;
    lease: { rv: number; renewTime: number; armed: boolean; claim?: "claimed" | "remediated" };
}

interface Scenario {
    nodes?: number;
    config?: Partial<DecideConfig>;
    selfFence?: boolean;
    events: { at: number; do: (c: Sim) => void }[];
    until?: number;
}

class Sim {
    t = 0;
    apiUp = true;
    readonly nodes: SimNode[];
    readonly observations = new Observations();
    /** The controller's watch cache of each heartbeat Lease (as of its last observation). */
    readonly cached = new Map<string, SimNode["lease"]>();
    private readonly pending: { at: number; apply: () => void }[] = [];
    private memory: DecideMemory = { stormActive: false };
    private listings = new Map<string, { listedAt: number; items: any[]; attemptedAt?: number }>();
    readonly violations: string[] = [];
    readonly log: string[] = [];
    private nextControllerAt = 0;
    private nextLifecycleAt = 0;

    constructor(
        private readonly s: Scenario,
        readonly config: DecideConfig,
    ) {
        this.nodes = Array.from({ length: s.nodes ?? 3 }, (_, i) => {
            const name = `n${i + 1}`;
            return {
                name,
                power: true,
                net: true,
                apiNet: true,
                kubeletUp: true,
                lastKubeletRenew: 0,
                ready: "True",
                tainted: false,
                podInApi: true,
                podRunning: true,
                agent: {
                    alive: true,
                    rate: 1,
                    selfFence: s.selfFence ?? true,
                    lastOkSentAt: 0,
                    committed: false,
                    fenceConfirmed: false,
                    nextRenewAt: 0,
                    nextTickAt: 0,
                },
                lease: { rv: 1, renewTime: 0, armed: false },
            };
        });
    }

    node(name: string): SimNode {
        return this.nodes.find((n) => n.name === name)!;
    }

    private reachable(n: SimNode): boolean {
        return this.apiUp && n.power && n.net && n.apiNet;
    }

    private observe(n: SimNode): void {
        const snapshot = { ...n.lease };
        this.pending.push({
            at: this.t + OBSERVE_DELAY,
            apply: () => {
                this.cached.set(n.name, snapshot);
                this.observations.observeLease(`hb/${n.name}`, String(snapshot.renewTime), this.t, 2 * H + 1000);
            },
        });
    }

    private agentStep(n: SimNode): void {
        const a = n.agent;
        const now = this.t * a.rate;
        if (!n.power || !a.alive) return;
        if (this.t >= a.nextRenewAt) {
            let ok = false;
            if (this.reachable(n)) {
                if (n.lease.claim) a.claim = n.lease.claim;
                else {
                    a.claim = undefined;
                    n.lease = { rv: n.lease.rv + 1, renewTime: this.t, armed: a.selfFence };
                    a.lastOkSentAt = now;
                    a.committed = a.selfFence;
                    ok = true;
                    this.observe(n);
                }
            }
            a.nextRenewAt = this.t + (ok && !a.claim ? H : 1000);
        }
        if (this.t < a.nextTickAt) return;
        a.nextTickAt = this.t + 1000;
        const cfg: SelfFenceConfig = {
            selfFenceMs: TIMING.selfFenceMs,
            fenceExecMs: TIMING.fenceExecMs,
            peerRecheckMs: 1000,
            peerRoundMs: 1200,
            watchdogTimeoutMs: 0,
        };
        const s = selfFenceStep(
            {
                lastOkSentAt: a.lastOkSentAt,
                committed: a.committed,
                capable: a.selfFence,
                claim: a.claim,
                votes: a.votes,
                fencedSince: a.fencedSince,
                fenceConfirmed: a.fenceConfirmed,
            },
            now,
            cfg,
        );
        if (s.unfence) a.fencedSince = undefined;
        if (s.startFence) a.fencedSince = now;
        if (s.askPeers) {
            // A round over the peers this node can reach: each answers from its own last renewal.
            const v: Votes = { at: now, total: this.nodes.length, down: [n.name], up: [], silent: [] };
            for (const p of this.nodes) {
                if (p === n) continue;
                if (!(p.power && p.agent.alive && p.net && n.net)) v.silent.push(p.name);
                else if (p.agent.rate * this.t - p.agent.lastOkSentAt < apiDownAfterMs(TIMING)) v.up.push(p.name);
                else v.down.push(p.name);
            }
            a.votes = v;
        }
        if (s.fence) {
            if (n.kubeletUp) {
                n.kubeletUp = false;
                n.kubeletRestartAt = this.t + 2000; // the init system restarts it
            }
            n.podRunning = false;
            a.fenceConfirmed = true;
        }
        if (s.mode === "remediated" && !n.kubeletUp && n.kubeletRestartAt === undefined) n.kubeletRestartAt = this.t;
    }

    private kubeletStep(n: SimNode): void {
        if (!n.power) return;
        const fencing = n.agent.alive && n.agent.fencedSince !== undefined;
        if (!n.kubeletUp && n.kubeletRestartAt !== undefined && this.t >= n.kubeletRestartAt && !(fencing && n.agent.claim !== "remediated")) {
            n.kubeletUp = true;
            n.kubeletRestartAt = undefined;
        }
        if (!n.kubeletUp) return;
        if (this.reachable(n)) {
            if (this.t - n.lastKubeletRenew >= 10_000) n.lastKubeletRenew = this.t;
            // A connected kubelet runs what the API server says, and only that.
            if (n.podInApi && !n.podRunning) n.podRunning = true;
            if (!n.podInApi && n.podRunning) n.podRunning = false;
        }
    }

    private lifecycleStep(): void {
        if (this.t < this.nextLifecycleAt || !this.apiUp) return;
        this.nextLifecycleAt = this.t + 5_000;
        for (const n of this.nodes) {
            const ready = this.t - n.lastKubeletRenew <= GRACE ? "True" : "Unknown";
            if (ready !== n.ready) {
                n.ready = ready;
                this.log.push(`${this.t / 1000}s ${n.name} Ready=${ready}`);
            }
        }
    }

    private controllerStep(): void {
        if (this.t < this.nextControllerAt || !this.apiUp) return;
        this.nextControllerAt = this.t + 1000;
        for (const n of this.nodes) {
            this.observations.observeNode(n.name, n.ready, this.t);
            this.observations.observeLease(`kubelet/${n.name}`, String(n.lastKubeletRenew), this.t);
        }
        const views: NodeView[] = this.nodes.map((n): NodeView => {
            const l = this.cached.get(n.name);
            const seen = this.observations.lease(`hb/${n.name}`);
            const kubelet = this.observations.lease(`kubelet/${n.name}`)!;
            return {
                name: n.name,
                uid: n.name,
                resourceVersion: "1",
                labels: {},
                annotations: (n.tainted ? { "liberator.pets/out-of-service-since": "x" } : {}) as Record<string, string>,
                taints: n.tainted ? [{ key: "node.kubernetes.io/out-of-service", value: "nodeshutdown", effect: "NoExecute" }] : [],
                ready: n.ready,
                notReadySince: this.observations.notReadySince(n.name),
                kubeletLeaseAt: kubelet.at,
                kubeletLeaseInitial: kubelet.initial,
                heartbeat: l
                    ? {
                          name: `heartbeat.${n.name}`,
                          resourceVersion: String(l.rv),
                          renewedAt: seen?.at,
                          freshSince: seen?.runStart,
                          armed: l.armed,
                          participant: true,
                          timing: TIMING,
                          peers: this.nodes.map((x) => x.name),
                          ...(l.claim ? { claim: { by: "ctl", phase: l.claim } } : {}),
                      }
                    : undefined,
                pods: this.listings.get(n.name),
            };
        });
        const d = decide({ now: this.t, config: this.config, leader: true, cacheFresh: true, nodes: views, memory: this.memory });
        this.memory = d.memory;
        if (process.env.SIM_DEBUG && this.t % 10_000 === 0)
            this.log.push(
                `${this.t / 1000}s ${JSON.stringify(d.states)} ${JSON.stringify(d.why.n3)} ${JSON.stringify(d.reports)} ${JSON.stringify(d.actions)} ${JSON.stringify(d.blocked)} cooldown=${d.cooldownUntil} unhealthy=${d.unhealthy}`,
            );
        for (const a of d.actions) {
            const n = this.node(a.node);
            const write = (phase: "claimed" | "remediated" | undefined) => {
                n.lease = { ...n.lease, rv: n.lease.rv + 1, claim: phase };
                this.observe(n);
            };
            switch (a.kind) {
                case "claim":
                    if (String(n.lease.rv) !== a.resourceVersion) this.log.push(`${this.t / 1000}s claim of ${n.name} conflicted`);
                    else {
                        write("claimed");
                        this.log.push(`${this.t / 1000}s claimed ${n.name}`);
                    }
                    break;
                case "taint":
                    n.tainted = true;
                    break;
                case "listPods":
                    this.listings.set(n.name, {
                        listedAt: this.t,
                        items: n.podInApi ? [{ namespace: "db", name: `db-${n.name}`, uid: n.name, statefulSet: "db", claims: [] }] : [],
                    });
                    break;
                case "forceDeletePod":
                    n.podInApi = false;
                    n.replacementAt = this.t + POD_START;
                    this.listings.get(n.name)!.attemptedAt = this.t;
                    this.log.push(`${this.t / 1000}s force-deleted the pod of ${n.name}`);
                    break;
                case "markRemediated":
                    write("remediated");
                    break;
                case "untaint":
                    n.tainted = false;
                    break;
                case "releaseClaim":
                    write(undefined);
                    this.listings.delete(n.name);
                    break;
            }
        }
    }

    run(): this {
        const until = this.s.until ?? 300_000;
        const events = [...this.s.events].sort((a, b) => a.at - b.at);
        for (this.t = 0; this.t <= until; this.t += STEP) {
            while (events.length && events[0].at <= this.t) events.shift()!.do(this);
            for (let i = this.pending.length - 1; i >= 0; i--) {
                if (this.pending[i].at <= this.t) {
                    this.pending[i].apply();
                    this.pending.splice(i, 1);
                }
            }
            for (const n of this.nodes) this.agentStep(n);
            for (const n of this.nodes) this.kubeletStep(n);
            this.lifecycleStep();
            this.controllerStep();
            for (const n of this.nodes) {
                if (n.replacementAt !== undefined && this.t >= n.replacementAt && n.podRunning) {
                    this.violations.push(`${this.t / 1000}s: the pod of ${n.name} runs there and elsewhere`);
                }
            }
        }
        return this;
    }
}

const cfg = (o: Partial<DecideConfig> = {}): DecideConfig => ({ ...DEFAULT_DECIDE_CONFIG, podRecheckMs: 3000, ...o });
const sim = (s: Scenario) => new Sim(s, cfg(s.config)).run();
const at = (t: number, f: (c: Sim) => void) => ({ at: t, do: f });
const powerOff = (name: string) => (c: Sim) => {
    const n = c.node(name);
    n.power = false;
    n.podRunning = false;
    n.kubeletUp = false;
};
const cut = (name: string) => (c: Sim) => (c.node(name).net = false);
const heal = (name: string) => (c: Sim) => (c.node(name).net = true);
const T0 = 100_000; // let quorum settle first

describe("simulation: never two live copies (real decide, selfFenceStep and holdBack on both sides)", () => {
    test("power loss: remediated within the 90 s goal (stock 50 s grace)", () => {
        const s = sim({ events: [at(T0, powerOff("n3"))] });
        if (process.env.SIM_DEBUG) process.stdout.write(s.log.join("\n") + "\n");
        expect(s.violations).toEqual([]);
        const failover = s.node("n3").replacementAt! - T0;
        process.stdout.write(`simulated power loss: replacement Ready ${failover / 1000} s after it\n`);
        expect(failover).toBeLessThanOrEqual(90_000);
    });

    test.each([1, 0.99, 1.01])("partition with the pods running (agent clock rate %s): the agent fences before the claim", (rate) => {
        const s = sim({ events: [at(0, (c) => (c.node("n3").agent.rate = rate)), at(T0, cut("n3"))] });
        expect(s.violations).toEqual([]);
        const n3 = s.node("n3");
        expect(n3.replacementAt).toBeDefined();
        if (rate === 1)
            process.stdout.write(
                `simulated partition: fenced ${(n3.agent.fencedSince! - T0) / 1000} s, replacement Ready ${(n3.replacementAt! - T0) / 1000} s after it\n`,
            );
        expect(n3.replacementAt! - T0).toBeLessThanOrEqual(90_000);
        // The agent's fence began before the claim could be made.
        expect(n3.agent.fencedSince! / rate).toBeLessThan(T0 + claimAfterMs(TIMING, DEFAULT_DECIDE_CONFIG.marginMs));
    });

    test("the partition heals after remediation: the node stays fenced until remediated, then runs none of the deleted pods", () => {
        const s = sim({ events: [at(T0, cut("n3")), at(T0 + 120_000, heal("n3"))], until: T0 + 200_000 });
        expect(s.violations).toEqual([]);
        const n3 = s.node("n3");
        expect(n3.podRunning).toBe(false);
        expect(n3.kubeletUp).toBe(true);
        expect(n3.tainted).toBe(false);
        expect(n3.lease.claim).toBeUndefined();
    });

    test("a short partition (shorter than T_sf): nothing is fenced or remediated", () => {
        const s = sim({ events: [at(T0, cut("n3")), at(T0 + 20_000, heal("n3"))] });
        expect(s.violations).toEqual([]);
        expect(s.node("n3").agent.fencedSince).toBeUndefined();
        expect(s.node("n3").replacementAt).toBeUndefined();
    });

    test("control-plane outage: a strict majority says 'API down', every agent holds, nothing is stopped or remediated", () => {
        const s = sim({ events: [at(T0, (c) => (c.apiUp = false)), at(T0 + 120_000, (c) => (c.apiUp = true))] });
        expect(s.violations).toEqual([]);
        for (const n of s.nodes) {
            expect(n.agent.fencedSince).toBeUndefined();
            expect(n.replacementAt).toBeUndefined();
            expect(n.podRunning).toBe(true);
        }
    });

    test("three of five lose the API server but see each other (storm guard lifted): they hold, the other side has no quorum", () => {
        const s = sim({ nodes: 5, config: { maxUnhealthy: 3 }, events: [at(T0, (c) => ["n3", "n4", "n5"].forEach((x) => (c.node(x).apiNet = false)))] });
        expect(s.violations).toEqual([]);
        for (const x of ["n3", "n4", "n5"]) {
            expect(s.node(x).agent.fencedSince).toBeUndefined();
            expect(s.node(x).replacementAt).toBeUndefined();
        }
    });

    test("three of five cut off from everything (storm guard lifted): each is isolated and fences; the majority side lacks quorum, so nothing is remediated", () => {
        const s = sim({ nodes: 5, config: { maxUnhealthy: 3 }, events: [at(T0, (c) => ["n3", "n4", "n5"].forEach((x) => (c.node(x).net = false)))] });
        expect(s.violations).toEqual([]);
        for (const x of ["n3", "n4", "n5"]) {
            expect(s.node(x).agent.fencedSince).toBeDefined();
            expect(s.node(x).replacementAt).toBeUndefined();
        }
    });

    test("two of five lose the API server but see the others: the others say 'API fine', both fence, both are remediated", () => {
        const s = sim({ nodes: 5, config: { maxUnhealthy: 2 }, events: [at(T0, (c) => ["n4", "n5"].forEach((x) => (c.node(x).apiNet = false)))] });
        expect(s.violations).toEqual([]);
        for (const x of ["n4", "n5"]) expect(s.node(x).replacementAt).toBeDefined();
    });

    test("two nodes lose power together (maxUnhealthy 1): storm, nothing remediated", () => {
        const s = sim({ events: [at(T0, powerOff("n2")), at(T0, powerOff("n3"))] });
        expect(s.violations).toEqual([]);
        expect(s.nodes.map((n) => n.replacementAt)).toEqual([undefined, undefined, undefined]);
    });

    test("an agent gone while the node ran: the node is never remediated (no overlap, no failover)", () => {
        const s = sim({ events: [at(T0, (c) => (c.node("n3").agent.alive = false)), at(T0 + 60_000, cut("n3"))] });
        expect(s.violations).toEqual([]);
        expect(s.node("n3").replacementAt).toBeUndefined();
        expect(s.node("n3").podRunning).toBe(true);
    });

    test("self-fencing switched off: the controller refuses", () => {
        const s = sim({ selfFence: false, events: [at(T0, cut("n3"))] });
        expect(s.violations).toEqual([]);
        expect(s.node("n3").replacementAt).toBeUndefined();
    });

    test("the check can fail: the agent dies inside the fence window (the documented gap without a watchdog)", () => {
        const s = sim({ events: [at(T0, cut("n3")), at(T0 + 2_000, (c) => (c.node("n3").agent.alive = false))] });
        expect(s.violations.length).toBeGreaterThan(0);
    });

    test("the check can fail: self-fencing off with unsafeNoFencing runs two copies after a partition", () => {
        const s = sim({ selfFence: false, config: { unsafeNoFencing: true }, events: [at(T0, cut("n3"))] });
        expect(s.violations.length).toBeGreaterThan(0);
    });
});
