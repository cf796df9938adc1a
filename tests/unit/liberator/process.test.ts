/**
 * The controller and the agent as they ship: the JavaScript the NodeLiberator component puts in
 * its ConfigMap, run as separate `node main.js` / `node agent.js` processes against the fake API
 * server (the controller with 50 nodes; the agent with a fake /proc and a fake runtime), with the
 * component's node flags. Also reads their memory from /proc/<pid>/status.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AGENT_NODE_FLAGS, CONTROLLER_NODE_FLAGS, liberatorCode } from "../../../components/liberatorspecs";
import { ANN } from "../../../liberator/contract";
import { microTime } from "../../../liberator/leader";
import { FakeApiServer, lease, leasesIn, node, NODE_LEASES, NODES, waitFor } from "./fakeapi";
import { fakeRuntime } from "./fakecri";

/** The node that runs them: this one, or another (PETS_LIBERATOR_NODE=<path to node 22>) to measure. */
const NODE = process.env.PETS_LIBERATOR_NODE ?? process.execPath;
let fake: FakeApiServer;
const children: ChildProcess[] = [];
let dir: string;
let renewTimer: NodeJS.Timeout | undefined;

beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "liberator-proc-"));
    for (const [f, js] of Object.entries(liberatorCode())) fs.writeFileSync(path.join(dir, f), js);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
    fake = new FakeApiServer();
    fake.token = "proc-test-token";
    await fake.start();
});
afterEach(async () => {
    if (renewTimer) clearInterval(renewTimer);
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
    await fake.stop();
});

function get(port: number, p: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path: p }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        }).on("error", reject);
    });
}

/** VmRSS and RssAnon in MiB (RSS also counts the node binary's shared, file-backed text), and CPU seconds used. */
function memory(pid: number): { rss: number; anon: number; cpu: number } | undefined {
    try {
        const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
        const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)![1]);
        const stat = fs
            .readFileSync(`/proc/${pid}/stat`, "utf8")
            .replace(/^.*\) /, "")
            .split(" ");
        return { rss: kb("VmRSS") / 1024, anon: kb("RssAnon") / 1024, cpu: (Number(stat[11]) + Number(stat[12])) / 100 };
    } catch {
        return undefined;
    }
}

function kubeconfig(): string {
    const file = path.join(dir, "kubeconfig");
    fs.writeFileSync(
        file,
        `apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: ${fake.url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: me\n    namespace: tkr-system\nusers:\n- name: me\n  user:\n    token: proc-test-token\n`,
    );
    return file;
}

function run(script: string, flags: string[], args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string } {
    let out = "";
    const child = spawn(NODE, [...flags, path.join(dir, script), ...args], {
        env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (out += c));
    children.push(child);
    return { child, out: () => out };
}

test("node main.js: with 50 nodes it elects itself, claims and taints a dead one, serves metrics and health, releases the Lease on SIGTERM", async () => {
    const nodes = Array.from({ length: 50 }, (_, i) => `w${i}`);
    const alive = new Set(nodes);
    for (const n of nodes) fake.upsert(NODES, node(n, "True"));
    const renew = () => {
        const t = microTime(Date.now());
        for (const n of alive) {
            fake.upsert(NODE_LEASES, lease(n, "kube-node-lease", t));
            const l = fake.get("leases", "tkr-system", `heartbeat.${n}`);
            if (l?.metadata.annotations?.[ANN.claimedBy]) continue;
            fake.upsert(
                leasesIn("tkr-system"),
                lease(`heartbeat.${n}`, "tkr-system", t, {
                    annotations: {
                        [ANN.node]: n,
                        [ANN.armed]: "true",
                        [ANN.armedSince]: "2026-01-01T00:00:00Z",
                        [ANN.selfFenceSeconds]: "0.6",
                        [ANN.fenceExecSeconds]: "0.2",
                        [ANN.renewIntervalSeconds]: "0.2",
                        [ANN.peers]: nodes.join(","),
                    },
                }),
            );
        }
    };
    renew();
    renewTimer = setInterval(renew, 200);

    const startedAt = Date.now();
    const { child, out } = run("main.js", CONTROLLER_NODE_FLAGS, [
        "--kubeconfig",
        kubeconfig(),
        "--identity=proc-1",
        "--metrics-address=127.0.0.1:0",
        "--margin=1s",
        "--settle=2s",
        "--lease-duration=2s",
        "--renew-deadline=1500ms",
        "--retry-period=200ms",
        "--orphaned-volumes=ignore",
        "--log-level=info",
    ]);
    await waitFor(() => /"msg":"liberator controller starting"/.test(out()), 10_000, "start-up log");
    const startLine = JSON.parse(
        out()
            .split("\n")
            .find((l) => l.includes("liberator controller starting"))!,
    );
    expect(startLine).toMatchObject({
        level: "info",
        server: fake.url,
        namespace: "tkr-system",
        identity: "proc-1",
        mode: "outOfServiceTaint",
        unsafeNoFencing: false,
    });
    const port = Number(String(startLine.metrics).split(":").pop());
    await waitFor(() => fake.get("leases", "tkr-system", "liberator")?.spec.holderIdentity === "proc-1", 10_000, "leadership");
    expect(fake.requests.every((r) => r.auth === "Bearer proc-test-token")).toBe(true);
    await new Promise((r) => setTimeout(r, 2_500)); // the settle period

    alive.delete("w7");
    const w7 = fake.get("nodes", undefined, "w7")!;
    w7.status.conditions[1].status = "Unknown";
    fake.upsert(NODES, w7);
    await waitFor(() => (fake.get("nodes", undefined, "w7")!.spec.taints ?? []).length === 1, 10_000, "taint").catch((e) => {
        throw new Error(`${e.message}; controller output:\n${out().slice(-3000)}`);
    });
    expect(fake.get("leases", "tkr-system", "heartbeat.w7")!.metadata.annotations[ANN.claimedBy]).toBe("proc-1");

    expect(await get(port, "/healthz")).toEqual({ status: 200, body: '{"ok":true,"problems":[]}\n' });
    expect((await get(port, "/livez")).status).toBe(200);
    const metrics = (await get(port, "/metrics")).body;
    expect(metrics).toContain('liberator_actions_total{action="claim",result="success"} 1');
    expect(metrics).toContain('liberator_actions_total{action="taint",result="success"} 1');
    expect(metrics).toContain("liberator_leader 1");
    expect(metrics).toContain("liberator_participants 50");

    // Let it run with 50 nodes renewing every 200 ms, then read its memory.
    await new Promise((r) => setTimeout(r, 3000));
    const mem = memory(child.pid!);
    if (mem) {
        process.stdout.write(
            `controller on ${NODE}, 50 nodes: VmRSS ${mem.rss.toFixed(1)} MiB, RssAnon ${mem.anon.toFixed(1)} MiB, CPU ${mem.cpu.toFixed(2)} s in ~${((Date.now() - startedAt) / 1000).toFixed(0)} s\n`,
        );
        expect(mem.rss).toBeLessThan(96);
    }

    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(fake.get("leases", "tkr-system", "liberator")!.spec.holderIdentity).toBeNull();
}, 60_000);

test("node agent.js: arms (kubelet in /proc, runtime answers), renews its Lease, answers nothing unauthenticated, marks itself unarmed on SIGTERM", async () => {
    const proc = path.join(dir, "proc");
    fs.mkdirSync(path.join(proc, "4242"), { recursive: true });
    fs.writeFileSync(path.join(proc, "4242", "comm"), "kubelet\n");
    const socket = path.join(dir, "containerd.sock");
    const runtime = fakeRuntime(socket, { sandboxes: [] });
    await new Promise((r) => runtime.server.once("listening", r));
    fs.writeFileSync(path.join(dir, "peer-key"), "k".repeat(64));
    try {
        const { child, out } = run("agent.js", AGENT_NODE_FLAGS, ["--kubeconfig", kubeconfig(), "--listen-address=127.0.0.1:0", "--log-level=info"], {
            NODE_NAME: "w1",
            POD_NAME: "agent-w1",
            HOST_IP: "127.0.0.1",
            LIBERATOR_PROC_ROOT: proc,
            LIBERATOR_CRI_SOCKET: socket,
            LIBERATOR_PEER_KEY_FILE: path.join(dir, "peer-key"),
            LIBERATOR_RENEW_INTERVAL: "1s",
            LIBERATOR_TOKEN_FILE: path.join(dir, "no-token"),
        });
        await waitFor(() => /"msg":"liberator agent starting"/.test(out()), 10_000, "start-up log");
        await waitFor(() => fake.get("leases", "tkr-system", "heartbeat.w1")?.metadata.annotations?.[ANN.armed] === "true", 10_000, "armed Lease").catch(
            (e) => {
                throw new Error(`${e.message}; agent output:\n${out().slice(-3000)}`);
            },
        );
        // CAP_KILL: this test runs as root here; as another user the agent reports it and stays unarmed.
        const startLine = JSON.parse(
            out()
                .split("\n")
                .find((l) => l.includes("liberator agent starting"))!,
        );
        const port = Number(String(startLine.listen).split(":").pop());
        expect((await get(port, "/livez")).status).toBe(200);
        const forged = await new Promise<number>((resolve, reject) => {
            const req = http.request({ host: "127.0.0.1", port, path: "/v1/peer", method: "POST", headers: { "Content-Type": "application/json" } }, (res) => {
                res.resume();
                resolve(res.statusCode ?? 0);
            });
            req.on("error", reject);
            req.end(JSON.stringify({ from: "x", nonce: "0123456789abcdef", mac: "0".repeat(64) }));
        });
        expect(forged).toBe(403);
        await new Promise((r) => setTimeout(r, 5000));
        const mem = memory(child.pid!);
        if (mem)
            process.stdout.write(`agent on ${NODE} (${AGENT_NODE_FLAGS.join(" ")}): VmRSS ${mem.rss.toFixed(1)} MiB, RssAnon ${mem.anon.toFixed(1)} MiB\n`);
        const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
        child.kill("SIGTERM");
        expect(await exited).toBe(0);
        expect(fake.get("leases", "tkr-system", "heartbeat.w1")!.metadata.annotations).toMatchObject({
            [ANN.armed]: "false",
            [ANN.armProblems]: "the agent is stopping",
        });
    } finally {
        runtime.server.close();
    }
}, 60_000);

test("bad flags stop either with exit code 2 and a list of problems", async () => {
    for (const [script, args, expected] of [
        [
            "main.js",
            ["--mode=kill", "--max-unhealthy=lots"],
            ['--mode = "kill" is invalid: must be outOfServiceTaint or deleteNode', '--max-unhealthy = "lots" is invalid'],
        ],
        ["agent.js", ["--self-fence-timeout=1s"], ["--node-name (NODE_NAME) is required", '--self-fence-timeout = "1s" is invalid']],
    ] as const) {
        const { child, out } = run(script, [], [...args]);
        const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
        expect(code).toBe(2);
        for (const e of expected) expect(out()).toContain(e);
    }
});
