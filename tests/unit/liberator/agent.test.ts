/**
 * The agent against the fake API server, a fake runtime and a fake /proc, on a fake monotonic
 * clock: its Lease, arming, the claim protocol, and the self-fence with real peer servers
 * (HMAC-checked HTTP between agents on 127.0.0.1).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Agent, AgentConfig, FENCED_KUBELET_RECHECK_MS, loadAgentConfig, Runtime, tokenNode } from "../../../liberator/agent";
import { Clock } from "../../../liberator/clock";
import { ANN } from "../../../liberator/contract";
import { Sandbox } from "../../../liberator/cri";
import { ApiError, KubeClient } from "../../../liberator/kube";
import { jsonLogger, Metrics } from "../../../liberator/metrics";
import { FakeApiServer, leasesIn, waitFor } from "./fakeapi";

const NS = "tkr-system";
const KEY = crypto.randomBytes(32);
const STS_LABEL = { "statefulset.kubernetes.io/pod-name": "web-1" };

/** A client whose network to the API server can be cut, or whose token the API server can refuse. */
class CuttableClient extends KubeClient {
    cut = false;
    refused = false;
    request<T = any>(method: string, p: string, opts: any = {}): Promise<T> {
        if (this.cut) return Promise.reject(new Error(`connect EHOSTUNREACH (${method} ${p})`));
        if (this.refused) return Promise.reject(new ApiError(401, "Unauthorized", "Unauthorized"));
        return super.request<T>(method, p, opts);
    }
}

class FakeRuntime implements Runtime {
    sandboxes: Sandbox[] = [];
    stopped: string[] = [];
    broken = false;
    async version() {
        if (this.broken) throw new Error("connect ENOENT /run/containerd/containerd.sock");
        return {};
    }
    async listPodSandboxes(readyOnly: boolean) {
        if (this.broken) throw new Error("deadline exceeded");
        return this.sandboxes.filter((s) => !readyOnly || s.state === "SANDBOX_READY");
    }
    async stopPodSandbox(id: string) {
        if (this.broken) throw new Error("deadline exceeded");
        this.stopped.push(id);
        for (const s of this.sandboxes) if (s.id === id) s.state = "SANDBOX_NOTREADY";
    }
}

interface Node {
    name: string;
    agent: Agent;
    client: CuttableClient;
    runtime: FakeRuntime;
    proc: string;
    killed: string[];
    clock: { t: number };
}

let fake: FakeApiServer;
let root: string;
const nodes: Node[] = [];

beforeEach(async () => {
    fake = new FakeApiServer();
    await fake.start();
    root = fs.mkdtempSync(path.join(os.tmpdir(), "agent-"));
});
afterEach(async () => {
    for (const n of nodes.splice(0)) {
        await n.agent.stop().catch(() => undefined);
        n.client.close();
    }
    await fake.stop();
    fs.rmSync(root, { recursive: true, force: true });
});

function proc(dir: string, pid: number, comm: string, cgroup = "0::/\n") {
    fs.mkdirSync(path.join(dir, String(pid)), { recursive: true });
    fs.writeFileSync(path.join(dir, String(pid), "comm"), comm + "\n");
    fs.writeFileSync(path.join(dir, String(pid), "cgroup"), cgroup);
}

async function agentOn(name: string, o: Partial<AgentConfig> = {}, key: Buffer = KEY): Promise<Node> {
    const dir = path.join(root, name);
    proc(dir, 10, "kubelet");
    proc(dir, 11, "containerd");
    const killed: string[] = [];
    const kill = (pid: number, s: NodeJS.Signals) => {
        killed.push(`${pid}:${s}`);
        fs.rmSync(path.join(dir, String(pid)), { recursive: true, force: true });
    };
    const clock = { t: 1_000_000 };
    const c: Clock = { mono: () => clock.t, wall: () => 1_760_000_000_000 + clock.t };
    const client = new CuttableClient({ server: fake.url, source: "test" }, { now: c.mono });
    const runtime = new FakeRuntime();
    const cfg = loadAgentConfig([], {
        NODE_NAME: name,
        POD_NAME: `agent-${name}`,
        LIBERATOR_LISTEN_ADDRESS: "127.0.0.1:0",
        LIBERATOR_PROC_ROOT: dir,
        LIBERATOR_PEER_TIMEOUT: "300ms",
    });
    const agent = new Agent({ ...cfg, ...o }, NS, {
        client,
        log: jsonLogger("error", () => undefined),
        metrics: new Metrics(),
        clock: c,
        runtime,
        peerKey: key,
        nodeUid: `uid-${name}`,
        kill,
        ownStatus: () => "CapEff:\t0000000000000020\n",
    });
    const server = await agent.listen();
    agent.cfg.advertiseAddress = `127.0.0.1:${(server.address() as any).port}`;
    const n = { name, agent, client, runtime, proc: dir, killed, clock };
    nodes.push(n);
    return n;
}

const leaseOf = (name: string) => fake.get("leases", NS, `heartbeat.${name}`);
const advance = (ns: Node[], ms: number) => ns.forEach((n) => (n.clock.t += ms));

/** One tick; if it started a peer round, wait for the round and tick again. */
async function tickSettled(n: Node) {
    const before = n.agent.votes;
    const s = await n.agent.tick();
    if (s.askPeers) {
        await waitFor(() => n.agent.votes !== before && n.agent.votes!.at === n.clock.t, 3000, `${n.name}'s peer round`);
        return n.agent.tick();
    }
    return s;
}

describe("the heartbeat Lease", () => {
    test("the first renewal creates it with everything the controller needs", async () => {
        const a = await agentOn("a");
        await a.agent.arm();
        expect(await a.agent.renew()).toBe(true);
        const l = leaseOf("a")!;
        expect(l.metadata.labels).toEqual({ "app.kubernetes.io/component": "heartbeat", "app.kubernetes.io/managed-by": "liberator" });
        expect(l.metadata.ownerReferences).toEqual([{ apiVersion: "v1", kind: "Node", name: "a", uid: "uid-a" }]);
        expect(l.metadata.annotations).toEqual({
            [ANN.node]: "a",
            [ANN.selfFenceSeconds]: "30",
            [ANN.fenceExecSeconds]: "10",
            [ANN.renewIntervalSeconds]: "5",
            [ANN.armed]: "true",
            [ANN.armedSince]: "2025-10-09T09:10:00Z",
            [ANN.peers]: "a",
            [ANN.peerAddress]: a.agent.cfg.advertiseAddress,
            [ANN.watchdog]: "false",
            [ANN.version]: "2",
        });
        expect(l.spec).toMatchObject({ holderIdentity: "agent-a", leaseDurationSeconds: 30 });
        // Renewals replace it with compare-and-swap.
        a.clock.t += 5_000;
        expect(await a.agent.renew()).toBe(true);
        const puts = fake.requests.filter((r) => r.method === "PUT");
        expect(puts.at(-1)!.body.metadata.resourceVersion).toBe(l.metadata.resourceVersion);
        expect(a.agent.lastOkSentAt).toBe(1_005_000);
    });

    test("not armed: says why; armed later: armed-since is set once and kept", async () => {
        const a = await agentOn("a");
        a.runtime.broken = true;
        await a.agent.arm();
        await a.agent.renew();
        expect(leaseOf("a")!.metadata.annotations).toMatchObject({
            [ANN.armed]: "false",
            [ANN.armProblems]: "the container runtime at /run/containerd/containerd.sock does not answer: connect ENOENT /run/containerd/containerd.sock",
        });
        expect(leaseOf("a")!.metadata.annotations[ANN.armedSince]).toBeUndefined();
        a.runtime.broken = false;
        await a.agent.arm();
        a.clock.t += 60_000;
        await a.agent.arm();
        await a.agent.renew();
        expect(leaseOf("a")!.metadata.annotations).toMatchObject({ [ANN.armed]: "true", [ANN.armedSince]: "2025-10-09T09:10:00Z" });
    });

    test.each([
        {
            what: "self-fencing switched off",
            o: { selfFence: false },
            status: "CapEff:\t0000000000000020\n",
            problem: "self-fencing is switched off (--self-fence=false)",
        },
        { what: "no CAP_KILL", o: {}, status: "CapEff:\t0000000000000000\n", problem: "the agent lacks CAP_KILL" },
    ])("not armed: $what", async ({ o, status, problem }) => {
        const a = await agentOn("a", o);
        (a.agent as any).deps.ownStatus = () => status;
        await a.agent.arm();
        expect(a.agent.armed).toBe(false);
        expect(a.agent.armProblems).toEqual([problem]);
    });

    test("no kubelet in /proc (hostPID missing): not armed", async () => {
        const a = await agentOn("a");
        fs.rmSync(path.join(a.proc, "10"), { recursive: true });
        a.clock.t += 61_000;
        await a.agent.arm();
        expect(a.agent.armProblems).toEqual([`no process named kubelet in ${a.proc} (is hostPID set?)`]);
    });

    test("a clean stop marks the Lease unarmed", async () => {
        const a = await agentOn("a");
        await a.agent.arm();
        await a.agent.renew();
        await a.agent.tick();
        await a.agent.stop();
        expect(leaseOf("a")!.metadata.annotations).toMatchObject({ [ANN.armed]: "false", [ANN.armProblems]: "the agent is stopping" });
    });
});

describe("the claim protocol", () => {
    test("claimed between two renewals: the renewal conflicts, the agent never overwrites the claim, and fences", async () => {
        const a = await agentOn("a");
        a.runtime.sandboxes = [
            { id: "sb1", name: "web-1", uid: "u-web-1", namespace: "pets", state: "SANDBOX_READY", labels: STS_LABEL },
            { id: "sb2", name: "agent", uid: "u-agent", namespace: "tkr-system", state: "SANDBOX_READY", labels: {} },
        ];
        await a.agent.arm();
        await a.agent.renew();
        const rv = leaseOf("a")!.metadata.resourceVersion;
        // The controller's claim: a merge patch with the observed resourceVersion.
        const claimed = await fetch(`${fake.url}${leasesIn(NS)}/heartbeat.a`, {
            method: "PATCH",
            headers: { "Content-Type": "application/merge-patch+json" },
            body: JSON.stringify({ metadata: { resourceVersion: rv, annotations: { [ANN.claimedBy]: "ctl", [ANN.claimPhase]: "claimed" } } }),
        });
        expect(claimed.status).toBe(200);
        a.clock.t += 5_000;
        expect(await a.agent.renew()).toBe(false);
        expect(a.agent.claim).toBe("claimed");
        expect(leaseOf("a")!.metadata.annotations[ANN.claimedBy]).toBe("ctl");
        const s = await a.agent.tick();
        expect(s.mode).toBe("claimed");
        expect(a.killed).toEqual(["10:SIGKILL"]);
        expect(a.runtime.stopped).toEqual(["sb1"]);
        // Still claimed on the next renewal: only reads.
        const writes = fake.requests.filter((r) => r.method === "PUT" || r.method === "POST").length;
        await a.agent.renew();
        expect(fake.requests.filter((r) => r.method === "PUT" || r.method === "POST").length).toBe(writes);
        // Marked remediated: the kubelet may run again (no more kills).
        fake.upsert(leasesIn(NS), {
            ...leaseOf("a")!,
            metadata: { ...leaseOf("a")!.metadata, annotations: { ...leaseOf("a")!.metadata.annotations, [ANN.claimPhase]: "remediated" } },
        });
        await a.agent.renew();
        proc(a.proc, 12, "kubelet");
        expect((await a.agent.tick()).mode).toBe("remediated");
        expect(a.killed).toEqual(["10:SIGKILL"]);
        // Released: the next renewal writes again, and the agent is healthy.
        const released = leaseOf("a")!;
        delete released.metadata.annotations[ANN.claimedBy];
        delete released.metadata.annotations[ANN.claimPhase];
        fake.upsert(leasesIn(NS), released);
        a.clock.t += 5_000;
        expect(await a.agent.renew()).toBe(true);
        expect((await a.agent.tick()).mode).toBe("healthy");
    });
});

test("a claim the admission policy reports first (403 instead of 409) is found by reading the Lease", async () => {
    const a = await agentOn("a");
    await a.agent.arm();
    await a.agent.renew();
    const cur = leaseOf("a")!;
    cur.metadata.annotations[ANN.claimedBy] = "ctl";
    fake.upsert(leasesIn(NS), cur);
    // The real API server's policy refuses the write before the version check.
    fake.failNext("PUT", /leases\/heartbeat\.a$/, 403, 1, "Forbidden");
    expect(await a.agent.renew()).toBe(false);
    expect(a.agent.claim).toBe("claimed");
});

describe("self-fencing with real peers", () => {
    async function cluster(names: string[], keys: Record<string, Buffer> = {}) {
        const ns: Node[] = [];
        for (const n of names) ns.push(await agentOn(n, {}, keys[n] ?? KEY));
        for (const n of ns) await n.agent.arm();
        for (const n of ns) await n.agent.renew();
        for (const n of ns) await n.agent.listPeers();
        for (const n of ns) await n.agent.renew(); // advertises its peers
        for (const n of ns) await n.agent.tick();
        return ns;
    }

    test("a node cut off while its peers reach the API server fences itself: kubelet SIGKILLed, StatefulSet sandboxes stopped", async () => {
        const [a, b, c] = await cluster(["a", "b", "c"]);
        expect(leaseOf("a")!.metadata.annotations[ANN.peers]).toBe("a,b,c");
        a.runtime.sandboxes = [{ id: "sb1", name: "web-1", uid: "u-web-1", namespace: "pets", state: "SANDBOX_READY", labels: STS_LABEL }];
        a.client.cut = true;
        for (let i = 0; i < 6; i++) {
            advance([a, b, c], 5_000);
            expect(await a.agent.renew()).toBe(false);
            await b.agent.renew();
            await c.agent.renew();
        }
        // 30 s after the last successful send: cut off.
        const s = await tickSettled(a);
        expect(a.agent.votes).toMatchObject({ total: 3, down: ["a"], up: ["b", "c"], silent: [] });
        expect(s.mode).toBe("fencing");
        expect(a.killed).toEqual(["10:SIGKILL"]);
        expect(a.runtime.stopped).toEqual(["sb1"]);
        // Re-checked every second: a restarted kubelet is killed again.
        proc(a.proc, 13, "kubelet");
        advance([a, b, c], 1_000);
        expect((await a.agent.tick()).mode).toBe("fencing");
        expect(a.killed).toEqual(["10:SIGKILL", "13:SIGKILL"]);
        expect(a.agent.fenceConfirmed).toBe(true);
        // Back: a renewal sent after the fence began lifts it.
        a.client.cut = false;
        advance([a, b, c], 1_000);
        expect(await a.agent.renew()).toBe(true);
        expect((await a.agent.tick()).mode).toBe("healthy");
    });

    test("control-plane outage: a strict majority cannot reach the API server, everybody holds; when the peers get it back, the cut-off node fences at once", async () => {
        const [a, b, c] = await cluster(["a", "b", "c"]);
        for (const n of [a, b, c]) n.client.cut = true;
        for (let i = 0; i < 6; i++) {
            advance([a, b, c], 5_000);
            for (const n of [a, b, c]) await n.agent.renew();
        }
        for (const n of [a, b, c]) expect((await tickSettled(n)).mode).toBe("holding");
        expect(a.agent.votes).toMatchObject({ down: ["a", "b", "c"], up: [], total: 3 });
        expect(a.killed).toEqual([]);
        // The API server returns for b and c, not for a.
        b.client.cut = c.client.cut = false;
        advance([a, b, c], 1_000);
        await b.agent.renew();
        await c.agent.renew();
        const s = await tickSettled(a);
        expect(s.mode).toBe("fencing");
        expect(a.killed).toEqual(["10:SIGKILL"]);
    });

    test("a stray process answering without the key cannot stop a fence", async () => {
        const [a, b] = await cluster(["a", "b"], { b: crypto.randomBytes(32) });
        a.client.cut = b.client.cut = true;
        advance([a, b], 30_000);
        const s = await tickSettled(a);
        // b's "API down" answer is signed with the wrong key: silent, not a vote.
        expect(a.agent.votes).toMatchObject({ down: ["a"], up: [], silent: ["b"], total: 2 });
        expect(s.mode).toBe("fencing");
    });

    describe("its pod deleted while cut off (a rollout, or deleteNode mode): the API server refuses its token", () => {
        /** a fenced and claimed by the controller; back on the network, but its token is refused. */
        async function fencedWithoutCredentials() {
            const [a, b, c] = await cluster(["a", "b", "c"]);
            a.runtime.sandboxes = [{ id: "sb1", name: "web-1", uid: "u-web-1", namespace: "pets", state: "SANDBOX_READY", labels: STS_LABEL }];
            a.client.cut = true;
            for (let i = 0; i < 6; i++) {
                advance([a, b, c], 5_000);
                await a.agent.renew();
                await b.agent.renew();
                await c.agent.renew();
            }
            expect((await tickSettled(a)).mode).toBe("fencing");
            setClaim("a", "claimed");
            a.client.cut = false;
            a.client.refused = true;
            advance([a, b, c], 1_000);
            expect(await a.agent.renew()).toBe(false);
            expect(a.agent.authRefusedAt).toBeDefined();
            return [a, b, c];
        }
        function setClaim(node: string, phase: "claimed" | "remediated" | undefined) {
            const l = leaseOf(node)!;
            const ann = { ...l.metadata.annotations };
            if (phase) Object.assign(ann, { [ANN.claimedBy]: "ctl", [ANN.claimPhase]: phase });
            else for (const k of [ANN.claimedBy, ANN.claimPhase]) delete ann[k];
            fake.upsert(leasesIn(NS), { ...l, metadata: { ...l.metadata, annotations: ann } });
        }
        const peerReads = () => fake.requests.filter((r) => r.method === "GET" && r.path.endsWith("/heartbeat.a")).length;
        /** One tick that asks the peers, then waits for their reads (a's own requests never reach the server). */
        async function tickAndAsk(a: Node, b: Node, c: Node) {
            const before = peerReads();
            advance([a, b, c], 1_000);
            const s = await a.agent.tick();
            await waitFor(() => peerReads() >= before + 2, 3000, "both peers reading a's Lease");
            await new Promise((r) => setTimeout(r, 50));
            return s;
        }

        test("claimed: it stays fenced; remediated: a peer's read stands it down and the kubelet may run", async () => {
            const [a, b, c] = await fencedWithoutCredentials();
            proc(a.proc, 13, "kubelet");
            expect((await tickAndAsk(a, b, c)).mode).toBe("fencing");
            expect(a.killed).toContain("13:SIGKILL");
            expect(a.agent.standDown).toBeUndefined();
            setClaim("a", "remediated");
            await tickAndAsk(a, b, c);
            expect(a.agent.standDown).toBe("remediated");
            proc(a.proc, 14, "kubelet");
            advance([a, b, c], 1_000);
            const s = await a.agent.tick();
            expect(s).toMatchObject({ mode: "stood-down", fence: false });
            expect(a.killed).not.toContain("14:SIGKILL");
            // Its token accepted again (not after a deletion, but a refusal may pass): the normal rules.
            a.client.refused = false;
            await a.agent.renew();
            expect(a.agent.standDown).toBeUndefined();
            expect((await a.agent.tick()).mode).toBe("remediated");
        });

        test("its Lease gone (deleteNode mode's garbage collection, or the controller's clean-up): it stands down", async () => {
            const [a, b, c] = await fencedWithoutCredentials();
            fake.remove("leases", NS, "heartbeat.a");
            await tickAndAsk(a, b, c);
            expect(a.agent.standDown).toBe("absent");
            expect((await a.agent.tick()).mode).toBe("stood-down");
        });

        test("unclaimed, or no peer can read it: it stays fenced (a claim could still come)", async () => {
            const [a, b, c] = await fencedWithoutCredentials();
            setClaim("a", undefined);
            await tickAndAsk(a, b, c);
            expect(a.agent.standDown).toBeUndefined();
            b.client.cut = c.client.cut = true;
            fake.remove("leases", NS, "heartbeat.a");
            advance([a, b, c], 1_000);
            await a.agent.tick();
            await new Promise((r) => setTimeout(r, 700)); // the round times out (300 ms)
            proc(a.proc, 15, "kubelet");
            advance([a, b, c], 1_000);
            expect((await a.agent.tick()).mode).toBe("fencing");
            expect(a.killed).toContain("15:SIGKILL");
            expect(a.agent.standDown).toBeUndefined();
        });
    });

    test("while fenced a restarted kubelet is looked for every 100 ms (it must not live long enough to report the node Ready)", async () => {
        const [a, b] = await cluster(["a", "b"]);
        expect(a.agent.kubeletRecheckMs()).toBe(1_000);
        a.client.cut = true;
        advance([a, b], 30_000);
        await b.agent.renew();
        expect((await tickSettled(a)).mode).toBe("fencing");
        expect(a.agent.kubeletRecheckMs()).toBe(FENCED_KUBELET_RECHECK_MS);
        proc(a.proc, 16, "kubelet");
        expect(a.agent.killKubelet()).toEqual([16]);
        expect(a.killed).toEqual(["10:SIGKILL", "16:SIGKILL"]);
    });

    test("the runtime hangs: what is left in the StatefulSet pods' cgroups is SIGKILLed", async () => {
        const [a] = await cluster(["a"]);
        a.runtime.sandboxes = [{ id: "sb1", name: "web-1", uid: "u-web-1", namespace: "pets", state: "SANDBOX_READY", labels: STS_LABEL }];
        await a.agent.arm(); // learns the StatefulSet pod's uid while healthy
        proc(a.proc, 40, "nginx", "0::/kubepods/besteffort/podu-web-1/c1\n");
        proc(a.proc, 41, "pause", "0::/kubepods/besteffort/podu-web-1\n");
        a.runtime.broken = true;
        const r = await a.agent.applyFence();
        expect(r).toMatchObject({ kubeletKilled: [10], stopped: [], processesKilled: [40, 41], runtimeError: "deadline exceeded", clean: false });
    });
});

test("a fired sleep is not kept (its timers grew by ~35 MiB a day)", async () => {
    const a = await agentOn("a");
    const sleep = (a.agent as unknown as { sleep(ms: number): Promise<void> }).sleep.bind(a.agent);
    for (let i = 0; i < 200; i++) await sleep(0);
    expect((a.agent as unknown as { timers: Set<unknown> }).timers.size).toBe(0);
});

describe("agent settings", () => {
    test("the service-account token's node name and uid", () => {
        const payload = Buffer.from(JSON.stringify({ "kubernetes.io": { node: { name: "w1", uid: "n-uid" }, pod: { name: "p" } } })).toString("base64url");
        expect(tokenNode(`h.${payload}.s`)).toEqual({ name: "w1", uid: "n-uid" });
        expect(tokenNode("garbage")).toEqual({});
    });

    test.each([
        { env: {}, message: "--node-name (NODE_NAME) is required: the agent renews its own node's heartbeat" },
        {
            env: { NODE_NAME: "w1", LIBERATOR_RENEW_INTERVAL: "20s" },
            message: "--renew-interval (20000 ms) must be at most a third of --self-fence-timeout (30000 ms)",
        },
        {
            env: { NODE_NAME: "w1", LIBERATOR_SELF_FENCE_TIMEOUT: "2s" },
            message: '--self-fence-timeout = "2s" is invalid: must be a duration such as 60, 60s, 2m or 500ms, from 5000 to 600000 ms',
        },
        {
            env: { NODE_NAME: "w1", LIBERATOR_FENCE_EXEC: "2s", LIBERATOR_PEER_TIMEOUT: "1500ms" },
            message: "--peer-timeout (1500 ms) must be at most half of --fence-exec (2000 ms)",
        },
        { env: { NODE_NAME: "w1", LIBERATOR_SELF_FENCE: "maybe" }, message: '--self-fence = "maybe" is invalid: must be true or false' },
    ])("$message", ({ env, message }) => {
        expect(() => loadAgentConfig([], env)).toThrow(message);
    });

    test("defaults and the advertised address from HOST_IP", () => {
        expect(loadAgentConfig([], { NODE_NAME: "w1", HOST_IP: "10.200.0.11" })).toMatchObject({
            renewIntervalMs: 5_000,
            selfFenceMs: 30_000,
            fenceExecMs: 10_000,
            selfFence: true,
            listenHost: "0.0.0.0",
            listenPort: 9465,
            advertiseAddress: "10.200.0.11:9465",
            criSocket: "/run/containerd/containerd.sock",
            procRoot: "/proc",
            kubeletName: "kubelet",
        });
    });
});
