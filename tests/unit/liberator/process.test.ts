/**
 * The controller as it ships: the JavaScript the NodeLiberator component puts in its ConfigMap,
 * run as a separate `node main.js --kubeconfig <file>` process against the fake API server
 * (the out-of-cluster mode integration tests use against a real one). Also measures its memory.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { liberatorCode } from "../../../components/nodeliberator";
import { microTime } from "../../../liberator/leader";
import { FakeApiServer, lease, leasesIn, node, NODE_LEASES, NODES, waitFor } from "./fakeapi";

let fake: FakeApiServer;
let child: ChildProcess | undefined;
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
    if (child && child.exitCode === null) child.kill("SIGKILL");
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

function rssKiB(pid: number): number | undefined {
    try {
        const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
        return m ? Number(m[1]) : undefined;
    } catch {
        return undefined;
    }
}

test("node main.js --kubeconfig <file>: elects itself, taints a dead node, serves metrics and health, releases the Lease on SIGTERM", async () => {
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(
        kubeconfig,
        `apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: ${fake.url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: me\n    namespace: tkr-system\nusers:\n- name: me\n  user:\n    token: proc-test-token\n`,
    );
    const nodes = Array.from({ length: 20 }, (_, i) => `w${i}`);
    const alive = new Set(nodes);
    for (const n of nodes) fake.upsert(NODES, node(n, "True"));
    const renew = () => {
        const t = microTime(Date.now());
        for (const n of alive) {
            fake.upsert(NODE_LEASES, lease(n, "kube-node-lease", t));
            fake.upsert(leasesIn("tkr-system"), lease(`heartbeat.${n}`, "tkr-system", t, { annotations: { "liberator.pets/node": n } }));
        }
    };
    renew();
    renewTimer = setInterval(renew, 200);

    let out = "";
    child = spawn(
        process.execPath,
        [
            path.join(dir, "main.js"),
            "--kubeconfig",
            kubeconfig,
            "--identity=proc-1",
            "--metrics-address=127.0.0.1:0",
            "--unhealthy-after=1s",
            "--heartbeat-interval=300ms",
            "--lease-duration=2s",
            "--renew-deadline=1500ms",
            "--retry-period=200ms",
            "--log-level=info",
        ],
        { env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir() }, stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (out += c));
    await waitFor(() => /"msg":"liberator starting"/.test(out), 10_000, "start-up log");
    const startLine = JSON.parse(out.split("\n").find((l) => l.includes("liberator starting"))!);
    expect(startLine).toMatchObject({ level: "info", server: fake.url, namespace: "tkr-system", identity: "proc-1", mode: "outOfServiceTaint" });
    const port = Number(String(startLine.metrics).split(":").pop());
    await waitFor(() => fake.get("leases", "tkr-system", "liberator")?.spec.holderIdentity === "proc-1", 10_000, "leadership");
    expect(fake.requests.every((r) => r.auth === "Bearer proc-test-token")).toBe(true);

    alive.delete("w7");
    const w7 = fake.get("nodes", undefined, "w7")!;
    w7.status.conditions[1].status = "Unknown";
    fake.upsert(NODES, w7);
    await waitFor(() => (fake.get("nodes", undefined, "w7")!.spec.taints ?? []).length === 1, 10_000, "taint").catch((e) => {
        throw new Error(`${e.message}; controller output:\n${out.slice(-3000)}`);
    });

    const health = await get(port, "/healthz");
    expect(health).toEqual({ status: 200, body: '{"ok":true,"problems":[]}\n' });
    expect((await get(port, "/livez")).status).toBe(200);
    const metrics = (await get(port, "/metrics")).body;
    expect(metrics).toContain('liberator_actions_total{action="taint",result="success"} 1');
    expect(metrics).toContain("liberator_leader 1");
    expect(metrics).toMatch(/process_resident_memory_bytes \d+/);

    // Let it run a while with 20 nodes renewing every 200 ms, then read its resident memory.
    await new Promise((r) => setTimeout(r, 3000));
    const rss = rssKiB(child.pid!);
    if (rss !== undefined) {
        process.stdout.write(`liberator RSS on Node ${process.version} after ~5 s with 20 nodes: ${(rss / 1024).toFixed(1)} MiB\n`);
        expect(rss / 1024).toBeLessThan(96);
    }

    const exited = new Promise<number | null>((r) => child!.on("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(fake.get("leases", "tkr-system", "liberator")!.spec.holderIdentity).toBeNull();
}, 40_000);

test("bad flags stop it with exit code 2 and a list of problems", async () => {
    child = spawn(process.execPath, [path.join(dir, "main.js"), "--mode=kill", "--max-unhealthy=lots"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr!.on("data", (c) => (err += c));
    const code = await new Promise<number | null>((r) => child!.on("exit", (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain('--mode = "kill" is invalid: must be outOfServiceTaint or deleteNode');
    expect(err).toContain('--max-unhealthy = "lots" is invalid');
});
