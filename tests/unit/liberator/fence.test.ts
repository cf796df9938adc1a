import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { loadConfig } from "../../../liberator/config";
import { fenceConfigProblems, fenceUrl, runFence } from "../../../liberator/fence";
import { haveOpenssl, makeTestPki } from "./testpki";

let dir: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "fence-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
    const f = path.join(dir, name);
    fs.writeFileSync(f, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return f;
}

/** Running (a killed process whose parent died may linger as a zombie until init reaps it). */
const alive = (pid: number) => {
    try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
        return false;
    }
};

describe("command hook", () => {
    test("exit 0 with the node as last argument and in $NODE_NAME", async () => {
        const f = script("off", 'echo "off $1 $NODE_NAME $FENCE_REASON"');
        expect(await runFence({ type: "command", command: [f], timeoutMs: 5000 }, "w1", "node failed")).toEqual({ ok: true, message: "off w1 w1 node failed" });
    });

    test("a non-zero exit is a failure with its output", async () => {
        const f = script("fail", "echo PDU unreachable >&2; exit 3");
        expect(await runFence({ type: "command", command: [f], timeoutMs: 5000 }, "w1", "x")).toEqual({
            ok: false,
            message: `${f} failed: exit code 3: PDU unreachable`,
        });
    });

    test("the deadline kills a hung hook and everything it started (SIGKILL to its process group)", async () => {
        const pidFile = path.join(dir, "child.pid");
        // A hook that ignores SIGTERM and leaves a grandchild holding its stdout open.
        const f = script("hang", `trap '' TERM\nsleep 60 &\necho $! > ${pidFile}\nwait`);
        const t0 = Date.now();
        const r = await runFence({ type: "command", command: [f], timeoutMs: 500 }, "w1", "x");
        expect(Date.now() - t0).toBeLessThan(2000);
        expect(r).toEqual({ ok: false, timedOut: true, message: `${f} did not finish within 500 ms; killed` });
        const grandchild = Number(fs.readFileSync(pidFile, "utf8"));
        await new Promise((res) => setTimeout(res, 200));
        expect(alive(grandchild)).toBe(false);
    });

    test("a missing program is a failure", async () => {
        expect(await runFence({ type: "command", command: [path.join(dir, "nope")], timeoutMs: 1000 }, "w1", "x")).toMatchObject({
            ok: false,
            message: expect.stringContaining("ENOENT"),
        });
    });
});

describe("HTTP hook", () => {
    let server: http.Server;
    let port: number;
    let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
    const seen: { method?: string; url?: string; auth?: string; body: string }[] = [];
    beforeEach(async () => {
        seen.length = 0;
        server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
                handler(req, res);
            });
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        port = (server.address() as any).port;
    });
    afterEach(() => {
        server.closeAllConnections();
        server.close();
    });

    test("2xx is success; the body names the node", async () => {
        handler = (_q, res) => res.writeHead(202).end("powering off");
        const r = await runFence({ type: "http", url: `http://127.0.0.1:${port}/off/{node}`, method: "POST", timeoutMs: 2000 }, "w 1", "node failed");
        expect(r).toEqual({ ok: true, message: "HTTP 202: powering off" });
        expect(seen).toEqual([{ method: "POST", url: "/off/w%201", auth: undefined, body: '{"node":"w 1","reason":"node failed"}' }]);
    });

    test("a server that never answers: the overall deadline aborts it", async () => {
        handler = () => undefined;
        const t0 = Date.now();
        const r = await runFence({ type: "http", url: `http://127.0.0.1:${port}/off`, method: "POST", timeoutMs: 400 }, "w1", "x");
        expect(Date.now() - t0).toBeLessThan(1500);
        expect(r).toEqual({ ok: false, timedOut: true, message: "no complete answer within 400 ms; request aborted" });
    });

    test("a body that trickles a byte at a time (no socket ever idle) still hits the deadline", async () => {
        handler = (_q, res) => {
            res.writeHead(200);
            const t = setInterval(() => res.write("."), 50);
            res.on("close", () => clearInterval(t));
        };
        const t0 = Date.now();
        const r = await runFence({ type: "http", url: `http://127.0.0.1:${port}/off`, method: "POST", timeoutMs: 600 }, "w1", "x");
        expect(Date.now() - t0).toBeLessThan(2000);
        expect(r.timedOut).toBe(true);
    });

    test("a bearer token is never sent over http:// (also refused as configuration)", async () => {
        handler = (_q, res) => res.writeHead(200).end();
        await runFence({ type: "http", url: `http://127.0.0.1:${port}/off`, method: "POST", timeoutMs: 2000, token: "secret" }, "w1", "x");
        expect(seen[0].auth).toBeUndefined();
        expect(fenceConfigProblems({ type: "http", url: "http://pdu/off", method: "POST", timeoutMs: 1, token: "t" })).toEqual([
            '--fence-url = "http://pdu/off" is invalid: a bearer token (LIBERATOR_FENCE_TOKEN) is only sent over https://',
        ]);
        expect(() => loadConfig(["--fence-url=http://pdu/off/{node}"], { LIBERATOR_FENCE_TOKEN: "t" })).toThrow(
            '--fence-url = "http://pdu/off/{node}" is invalid: a bearer token (LIBERATOR_FENCE_TOKEN) is only sent over https://',
        );
        expect(() => loadConfig(["--fence-ca-file=/ca.pem"], {})).toThrow("--fence-ca-file is set without --fence-url");
    });

    test("the URL template", () => {
        expect(fenceUrl("https://pdu/{node}/off?n={node}", "a/b")).toBe("https://pdu/a%2Fb/off?n=a%2Fb");
    });
});

(haveOpenssl ? test : test.skip)("https with a CA bundle: verified, and the token is sent; without the CA the hook fails", async () => {
    makeTestPki(dir);
    const auth: (string | undefined)[] = [];
    const server = https.createServer(
        { key: fs.readFileSync(path.join(dir, "server.key")), cert: fs.readFileSync(path.join(dir, "server.crt")) },
        (req, res) => {
            auth.push(req.headers.authorization);
            res.writeHead(200).end("off");
        },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `https://127.0.0.1:${(server.address() as any).port}/off`;
    try {
        expect(await runFence({ type: "http", url, method: "POST", timeoutMs: 3000, token: "s3cret", caFile: path.join(dir, "ca.crt") }, "w1", "x")).toEqual({
            ok: true,
            message: "HTTP 200: off",
        });
        expect(auth).toEqual(["Bearer s3cret"]);
        const r = await runFence({ type: "http", url, method: "POST", timeoutMs: 3000, token: "s3cret" }, "w1", "x");
        expect(r.ok).toBe(false);
        expect(r.message).toMatch(/self[- ]signed|unable to verify/);
        expect(auth).toHaveLength(1);
    } finally {
        server.closeAllConnections();
        server.close();
    }
});
