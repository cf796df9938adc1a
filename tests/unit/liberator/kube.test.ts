import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { ApiError, Backoff, inClusterConfig, Informer, InformerEvent, KObject, KubeClient, loadKubeconfig } from "../../../liberator/kube";
import { parseYaml } from "../../../liberator/yaml";
import { FakeApiServer, node, NODES, waitFor } from "./fakeapi";
import { haveOpenssl, makeTestPki } from "./testpki";

let fake: FakeApiServer;
let client: KubeClient;
const informers: Informer[] = [];

beforeEach(async () => {
    fake = new FakeApiServer();
    await fake.start();
    client = new KubeClient({ server: fake.url, source: "test" });
});

afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
    client.close();
    await fake.stop();
});

function nodeInformer(opts: Partial<ConstructorParameters<typeof Informer>[2]> = {}) {
    const events: InformerEvent<KObject>[] = [];
    const inf = new Informer<KObject>(client, "nodes", {
        path: NODES,
        backoff: new Backoff(10, 40),
        onEvent: (e) => events.push(e),
        sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
        ...opts,
    });
    informers.push(inf);
    return { inf, events };
}

const names = (inf: Informer) => [...inf.store.keys()].sort();

describe("list+watch informer against a fake API server", () => {
    test("lists in pages, then watches from the list's resourceVersion", async () => {
        for (const n of ["a", "b", "c", "d", "e"]) fake.upsert(NODES, node(n, "True"));
        const listRv = String(fake.resourceVersion);
        const { inf, events } = nodeInformer({ pageSize: 2 });
        inf.start();
        await waitFor(() => inf.connected, 2000, "watch open");
        expect(names(inf)).toEqual(["a", "b", "c", "d", "e"]);
        const lists = fake.requests.filter((r) => r.method === "GET" && r.path === NODES && r.query.watch === undefined);
        expect(lists.map((r) => r.query.limit)).toEqual(["2", "2", "2"]);
        const watch = fake.requests.find((r) => r.query.watch === "true")!;
        expect(watch.query.resourceVersion).toBe(listRv);
        expect(watch.query.allowWatchBookmarks).toBe("true");
        expect(Number(watch.query.timeoutSeconds)).toBeGreaterThanOrEqual(300);
        expect(events[0]).toEqual({ type: "SYNC", objects: expect.any(Array) });

        fake.upsert(NODES, node("f", "True"));
        fake.upsert(NODES, node("a", "False"));
        fake.remove("nodes", undefined, "b");
        await waitFor(() => inf.store.has("f") && !inf.store.has("b"), 2000, "events");
        expect(inf.store.get("a")!.status.conditions[1].status).toBe("False");
        expect(events.slice(1).map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "DELETED"]);
        expect(inf.resourceVersion).toBe(String(fake.resourceVersion));
        expect(inf.fresh()).toBe(true);
    });

    test("a bookmark moves the resourceVersion; the next watch starts there, not from the list", async () => {
        fake.upsert(NODES, node("a", "True"));
        const { inf } = nodeInformer();
        inf.start();
        await waitFor(() => inf.connected);
        fake.upsert("/api/v1/namespaces/x/pods", { metadata: { name: "unrelated" } }); // moves the global rv only
        fake.bookmark();
        await waitFor(() => inf.stats.bookmarks === 1);
        expect(inf.resourceVersion).toBe(String(fake.resourceVersion));
        fake.endWatches(); // the server's timeoutSeconds ran out
        await waitFor(() => fake.requests.filter((r) => r.query.watch === "true").length === 2);
        const second = fake.requests.filter((r) => r.query.watch === "true")[1];
        expect(second.query.resourceVersion).toBe(String(fake.resourceVersion));
        expect(inf.stats.lists).toBe(1);
    });

    test("after a disconnect it re-watches from the last version and receives what it missed, without a relist", async () => {
        fake.upsert(NODES, node("a", "True"));
        const { inf, events } = nodeInformer();
        inf.start();
        await waitFor(() => inf.connected);
        const rvBefore = inf.resourceVersion;
        fake.blackhole = true; // the reconnect attempts hang for a while…
        fake.dropWatches();
        await waitFor(() => !inf.connected, 2000, "disconnect noticed");
        expect(inf.fresh()).toBe(false);
        fake.upsert(NODES, node("b", "True")); // …while a change happens
        fake.blackhole = false;
        fake.releaseHanging();
        await waitFor(() => inf.store.has("b"), 3000, "missed event replayed");
        const rewatch = fake.requests.filter((r) => r.query.watch === "true").map((r) => r.query.resourceVersion);
        expect(rewatch[0]).toBe(rvBefore);
        expect(rewatch[rewatch.length - 1]).toBe(rvBefore);
        expect(inf.stats.lists).toBe(1);
        expect(inf.stats.errors).toBeGreaterThanOrEqual(1);
        expect(events.filter((e) => e.type === "ADDED").length).toBe(1);
    });

    test.each(["event", "status"] as const)("410 Gone delivered as %s makes it list again, dropping objects deleted meanwhile", async (goneAs) => {
        fake.goneAs = goneAs;
        fake.upsert(NODES, node("a", "True"));
        fake.upsert(NODES, node("b", "True"));
        const { inf, events } = nodeInformer();
        inf.start();
        await waitFor(() => inf.connected);
        fake.blackhole = true;
        fake.dropWatches();
        await waitFor(() => !inf.connected);
        fake.remove("nodes", undefined, "a");
        fake.upsert(NODES, node("c", "True"));
        fake.compact(); // history is gone: resuming from our version is impossible
        fake.blackhole = false;
        fake.releaseHanging();
        await waitFor(() => inf.stats.relists === 1 && inf.connected, 3000, "relist");
        expect(names(inf)).toEqual(["b", "c"]);
        expect(inf.stats.lists).toBe(2);
        expect(events.filter((e) => e.type === "SYNC")).toHaveLength(2);
        const watches = fake.requests.filter((r) => r.query.watch === "true");
        expect(watches[watches.length - 1].query.resourceVersion).toBe(String(fake.resourceVersion));
    });

    test("an expired continue token during a paged list restarts the list", async () => {
        for (const n of ["a", "b", "c"]) fake.upsert(NODES, node(n, "True"));
        fake.failNext("GET", /^\/api\/v1\/nodes$/, 500, 1); // first page fails: retried with backoff
        const { inf } = nodeInformer({ pageSize: 2 });
        inf.start();
        await waitFor(() => inf.synced);
        expect(inf.stats.errors).toBe(1);
        expect(names(inf)).toEqual(["a", "b", "c"]);
    });

    test("a watch that stays silent past the idle timeout is reopened (half-open connections)", async () => {
        fake.upsert(NODES, node("a", "True"));
        const { inf } = nodeInformer({ idleTimeoutMs: 150 });
        inf.start();
        await waitFor(() => inf.stats.idleReconnects >= 1, 3000, "idle reconnect");
        await waitFor(() => fake.requests.filter((r) => r.query.watch === "true").length >= 2, 2000, "second watch");
        expect(inf.stats.lists).toBe(1);
    });

    test("a server that keeps closing watches at once is retried with backoff, not in a busy loop", async () => {
        fake.maxWatchSeconds = 0;
        const { inf } = nodeInformer({ backoff: new Backoff(100, 100, () => 1), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
        inf.start();
        await new Promise((r) => setTimeout(r, 450));
        const watches = fake.requests.filter((r) => r.query.watch === "true").length;
        expect(watches).toBeGreaterThanOrEqual(2);
        expect(watches).toBeLessThanOrEqual(6);
    });

    test("fresh() is false before the first list and after stop", async () => {
        const { inf } = nodeInformer();
        expect(inf.fresh()).toBe(false);
        inf.start();
        await waitFor(() => inf.connected);
        expect(inf.fresh()).toBe(true);
        await inf.stop();
        expect(inf.fresh()).toBe(false);
    });
});

describe("KubeClient requests", () => {
    test("sends the bearer token and JSON; maps Status errors to ApiError", async () => {
        fake.token = "s3cr3t-token";
        const authed = new KubeClient({ server: fake.url, token: "s3cr3t-token", source: "test" });
        const created = await authed.create("/api/v1/namespaces/default/events", { metadata: { generateName: "n1." }, reason: "X" });
        expect(created.metadata.name).toMatch(/^n1\.[0-9a-f]{6}$/);
        expect(fake.requests[0].auth).toBe("Bearer s3cr3t-token");
        const err = await client.get("/api/v1/nodes/x").catch((e) => e);
        expect(err).toBeInstanceOf(ApiError);
        expect(err.status).toBe(401);
        const missing = await authed.get("/api/v1/nodes/nope").catch((e) => e);
        expect([missing.status, missing.reason]).toEqual([404, "NotFound"]);
        authed.close();
    });

    test("merge patch carries resourceVersion for optimistic concurrency", async () => {
        const n = fake.upsert(NODES, node("a", "True"));
        await client.mergePatch("/api/v1/nodes/a", {
            metadata: { resourceVersion: n.metadata.resourceVersion },
            spec: { taints: [{ key: "k", effect: "NoExecute" }] },
        });
        const stale = await client
            .mergePatch("/api/v1/nodes/a", { metadata: { resourceVersion: n.metadata.resourceVersion }, spec: { taints: [] } })
            .catch((e) => e);
        expect(stale.status).toBe(409);
        expect(fake.get("nodes", undefined, "a")!.spec.taints).toEqual([{ key: "k", effect: "NoExecute" }]);
        expect(fake.requests.find((r) => r.method === "PATCH")!.body.metadata.resourceVersion).toBe(n.metadata.resourceVersion);
    });

    test("the server path prefix of a proxied API server is kept", () => {
        const c = new KubeClient({ server: "https://rancher.example/k8s/clusters/c-1", source: "test" });
        expect(c.url("/api/v1/nodes", { limit: 5 }).toString()).toBe("https://rancher.example/k8s/clusters/c-1/api/v1/nodes?limit=5");
        c.close();
    });
});

describe("kubeconfig and in-cluster settings", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "liberator-kc-"));
    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

    test("a kind-style kubeconfig with inline certificate data", () => {
        const file = path.join(tmp, "kind.yaml");
        fs.writeFileSync(
            file,
            `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${Buffer.from("CA PEM").toString("base64")}
    server: https://127.0.0.1:6443
  name: kind-kind
contexts:
- context:
    cluster: kind-kind
    user: kind-kind
  name: kind-kind
current-context: kind-kind
kind: Config
preferences: {}
users:
- name: kind-kind
  user:
    client-certificate-data: ${Buffer.from("CERT PEM").toString("base64")}
    client-key-data: ${Buffer.from("KEY PEM").toString("base64")}
`,
        );
        const c = loadKubeconfig(file);
        expect(c.server).toBe("https://127.0.0.1:6443");
        expect([c.ca?.toString(), c.cert?.toString(), c.key?.toString()]).toEqual(["CA PEM", "CERT PEM", "KEY PEM"]);
        expect(c.token).toBeUndefined();
    });

    test("file references are relative to the kubeconfig; a named context with a token and namespace", () => {
        fs.writeFileSync(path.join(tmp, "ca.crt"), "FILE CA");
        const file = path.join(tmp, "multi.yaml");
        fs.writeFileSync(
            file,
            `# two clusters
current-context: a
contexts:
  - name: a
    context: {cluster: one, user: u1}
  - name: b
    context:
      cluster: two
      user: u2
      namespace: tkr-system
clusters:
  - name: one
    cluster: {server: "https://one:6443"}
  - name: two
    cluster:
      server: 'https://two:6443'
      certificate-authority: ca.crt
      insecure-skip-tls-verify: false
      tls-server-name: kubernetes
users:
  - name: u1
    user: {}
  - name: u2
    user:
      token: "abc.def"   # a comment
`,
        );
        expect(loadKubeconfig(file).server).toBe("https://one:6443");
        const b = loadKubeconfig(file, "b");
        expect(b).toMatchObject({
            server: "https://two:6443",
            token: "abc.def",
            namespace: "tkr-system",
            tlsServerName: "kubernetes",
            insecureSkipTLSVerify: false,
        });
        expect(b.ca?.toString()).toBe("FILE CA");
        expect(() => loadKubeconfig(file, "zzz")).toThrow('kubeconfig has no context named "zzz"');
    });

    test("exec plugins are refused with a clear message", () => {
        const file = path.join(tmp, "exec.yaml");
        fs.writeFileSync(
            file,
            "current-context: c\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nclusters:\n- name: k\n  cluster:\n    server: https://k\nusers:\n- name: u\n  user:\n    exec:\n      command: aws\n      args: [eks, get-token]\n",
        );
        expect(() => loadKubeconfig(file)).toThrow(/exec plugin or auth provider/);
    });

    test("in-cluster: service host and port, CA, token file and namespace", () => {
        const dir = path.join(tmp, "sa");
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "token"), "tok\n");
        fs.writeFileSync(path.join(dir, "ca.crt"), "SA CA");
        fs.writeFileSync(path.join(dir, "namespace"), "tkr-system");
        const c = inClusterConfig({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }, dir);
        expect(c).toMatchObject({ server: "https://10.96.0.1:443", tokenFile: path.join(dir, "token"), namespace: "tkr-system" });
        expect(() => inClusterConfig({}, dir)).toThrow(/pass --kubeconfig/);
    });

    (haveOpenssl ? test : test.skip)("TLS: verifies the server against the kubeconfig CA and presents the client certificate", async () => {
        const d = fs.mkdtempSync(path.join(tmp, "tls-"));
        makeTestPki(d, "/CN=liberator/O=system:masters");
        const read = (f: string) => fs.readFileSync(path.join(d, f));
        const seen: string[] = [];
        const server = https.createServer(
            { key: read("server.key"), cert: read("server.crt"), ca: read("ca.crt"), requestCert: true, rejectUnauthorized: true },
            (req, res) => {
                seen.push((req.socket as any).getPeerCertificate().subject.CN);
                res.writeHead(200, { "Content-Type": "application/json" });
                res.end(JSON.stringify({ kind: "NodeList", metadata: { resourceVersion: "1" }, items: [] }));
            },
        );
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        const port = (server.address() as any).port;
        const file = path.join(d, "kubeconfig");
        fs.writeFileSync(
            file,
            `current-context: t\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\nclusters:\n- name: t\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority: ca.crt\nusers:\n- name: t\n  user:\n    client-certificate: client.crt\n    client-key: client.key\n`,
        );
        const c = new KubeClient(loadKubeconfig(file));
        try {
            expect((await c.get("/api/v1/nodes")).kind).toBe("NodeList");
            expect(seen).toEqual(["liberator"]);
            const noCa = new KubeClient({ ...loadKubeconfig(file), ca: undefined });
            await expect(noCa.get("/api/v1/nodes")).rejects.toThrow(/certificate/);
            noCa.close();
        } finally {
            c.close();
            server.close();
        }
    });
});

describe("the kubeconfig YAML subset", () => {
    test.each([
        ["nested maps and sequences at the key's indentation", "a:\n- x: 1\n  y: two\n- z\nb: {}\n", { a: [{ x: 1, y: "two" }, "z"], b: {} }],
        ["quoted scalars keep colons and hashes", `s: "http://h:1/#x"\nt: 'it''s'\nu: plain # comment\n`, { s: "http://h:1/#x", t: "it's", u: "plain" }],
        ["flow sequences and booleans", 'args: [a, "b c", 3]\nok: true\nno: null\n', { args: ["a", "b c", 3], ok: true, no: null }],
        ["block scalars", "cert: |\n  line1\n  line2\nfolded: >-\n  a\n  b\nnext: 1\n", { cert: "line1\nline2\n", folded: "a b", next: 1 }],
        ["JSON is YAML", '{"a": [1, 2]}', { a: [1, 2] }],
        ["a leading document marker", "---\na: 1\n", { a: 1 }],
    ])("%s", (_what, text, expected) => {
        expect(parseYaml(text)).toEqual(expected);
    });

    test.each([
        ["anchors", "a: &x 1\n", /anchors/],
        ["two documents", "a: 1\n---\nb: 2\n", /one YAML document/],
        ["tabs", "a:\n\tb: 1\n", /tabs/],
    ])("refuses %s", (_what, text, error) => {
        expect(() => parseYaml(text)).toThrow(error);
    });
});
