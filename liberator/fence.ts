/**
 * The optional external fence hook: something outside Kubernetes that makes sure a node is off (a
 * power switch, a hypervisor or BMC API) before its pods start elsewhere. With the agents'
 * self-fence it is an extra; for a node whose agent is missing it is the only fence.
 *
 * Every run has one overall deadline: a command is killed with SIGKILL (its whole process group),
 * an HTTP request is destroyed, whether it hangs, trickles its body or never connects.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";

export type FenceConfig =
    | { type: "http"; url: string; method: string; timeoutMs: number; token?: string; caFile?: string }
    | { type: "command"; command: string[]; timeoutMs: number };

export interface FenceResult {
    ok: boolean;
    message: string;
    /** The deadline passed before the hook answered. */
    timedOut?: boolean;
}

/** Replaces `{node}` in the URL with the (encoded) node name. */
export function fenceUrl(template: string, node: string): string {
    return template.split("{node}").join(encodeURIComponent(node));
}

/** Problems with a fence configuration, as messages; the controller refuses to start on any. */
export function fenceConfigProblems(cfg: FenceConfig): string[] {
    const out: string[] = [];
    if (cfg.type === "http") {
        if (cfg.token && !cfg.url.startsWith("https://"))
            out.push(`--fence-url = ${JSON.stringify(cfg.url)} is invalid: a bearer token (LIBERATOR_FENCE_TOKEN) is only sent over https://`);
        if (cfg.caFile && !cfg.url.startsWith("https://")) out.push(`--fence-ca-file is set but --fence-url is not https://`);
    }
    return out;
}

const MAX_OUTPUT = 64 * 1024;

/**
 * HTTP: a 2xx answer is success; the body sent is `{"node": ..., "reason": ...}` and, with a token,
 * an `Authorization: Bearer` header (https only). Command: exit code 0 is success; the node name is
 * the last argument and in $NODE_NAME.
 */
export function runFence(cfg: FenceConfig, node: string, reason: string): Promise<FenceResult> {
    return cfg.type === "command" ? runCommand(cfg, node, reason) : runHttp(cfg, node, reason);
}

function runCommand(cfg: Extract<FenceConfig, { type: "command" }>, node: string, reason: string): Promise<FenceResult> {
    return new Promise((resolve) => {
        const [file, ...args] = cfg.command;
        let out = "";
        let settled = false;
        const finish = (r: FenceResult) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(r);
        };
        // A process group of its own, so the deadline kills what the hook started too.
        const child = spawn(file, [...args, node], {
            env: { ...process.env, NODE_NAME: node, FENCE_REASON: reason },
            detached: true,
            stdio: ["ignore", "pipe", "pipe"],
        });
        const collect = (c: Buffer) => {
            if (out.length < MAX_OUTPUT) out += c.toString("utf8");
        };
        child.stdout.on("data", collect);
        child.stderr.on("data", collect);
        const timer = setTimeout(() => {
            try {
                if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
            } catch {
                child.kill("SIGKILL");
            }
            finish({ ok: false, timedOut: true, message: `${cfg.command[0]} did not finish within ${cfg.timeoutMs} ms; killed` });
        }, cfg.timeoutMs);
        child.on("error", (e) => finish({ ok: false, message: `${cfg.command[0]} failed: ${e.message}` }));
        child.on("close", (code, signal) => {
            const text = out.trim().slice(0, 300);
            if (code === 0) finish({ ok: true, message: text || `${cfg.command[0]} exited 0` });
            else finish({ ok: false, message: `${cfg.command[0]} failed: ${signal ? `killed by ${signal}` : `exit code ${code}`}${text ? `: ${text}` : ""}` });
        });
    });
}

function runHttp(cfg: Extract<FenceConfig, { type: "http" }>, node: string, reason: string): Promise<FenceResult> {
    return new Promise((resolve) => {
        let settled = false;
        const finish = (r: FenceResult) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(r);
        };
        const url = new URL(fenceUrl(cfg.url, node));
        const body = Buffer.from(JSON.stringify({ node, reason }));
        const tls = url.protocol === "https:";
        const headers: http.OutgoingHttpHeaders = { "Content-Type": "application/json", "Content-Length": String(body.length) };
        // Never a token in clear text (also refused at start-up).
        if (cfg.token && tls) headers.Authorization = `Bearer ${cfg.token}`;
        let ca: Buffer | undefined;
        try {
            ca = cfg.caFile ? fs.readFileSync(cfg.caFile) : undefined;
        } catch (e) {
            resolve({ ok: false, message: `cannot read the CA bundle ${cfg.caFile}: ${(e as Error).message}` });
            return;
        }
        const options: https.RequestOptions = { method: cfg.method, headers, ...(ca ? { ca } : {}) };
        const req = (tls ? https : http).request(url, options, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (c: Buffer) => {
                size += c.length;
                if (size <= MAX_OUTPUT) chunks.push(c);
            });
            res.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8").trim().slice(0, 300);
                const status = res.statusCode ?? 0;
                finish({ ok: status >= 200 && status < 300, message: `HTTP ${status}${text ? `: ${text}` : ""}` });
            });
            res.on("error", (e) => finish({ ok: false, message: e.message }));
        });
        // One deadline for connect, headers and a body that trickles.
        const timer = setTimeout(() => {
            finish({ ok: false, timedOut: true, message: `no complete answer within ${cfg.timeoutMs} ms; request aborted` });
            req.destroy();
        }, cfg.timeoutMs);
        req.on("error", (e) => finish({ ok: false, message: e.message }));
        if (cfg.method !== "GET") req.write(body);
        req.end();
    });
}
