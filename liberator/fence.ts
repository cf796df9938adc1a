/**
 * The optional fence hook: something outside Kubernetes that makes sure a failed node is really
 * off (a power switch, a hypervisor or BMC API) before its pods are started elsewhere. The
 * out-of-service taint only tells Kubernetes the node is down; it does not stop a node that is
 * merely cut off. Remediation waits until the hook reports success.
 */
import { execFile } from "child_process";
import * as http from "http";
import * as https from "https";

export type FenceConfig =
    { type: "http"; url: string; method: string; timeoutMs: number; token?: string } | { type: "command"; command: string[]; timeoutMs: number };

export interface FenceResult {
    ok: boolean;
    message: string;
}

/** Replaces `{node}` in the URL with the (encoded) node name. */
export function fenceUrl(template: string, node: string): string {
    return template.split("{node}").join(encodeURIComponent(node));
}

/**
 * HTTP: a 2xx answer is success; the body sent is `{"node": ..., "reason": ...}` and, with a token,
 * an `Authorization: Bearer` header. Command: exit code 0 is success; the node name is the last
 * argument and in $NODE_NAME.
 */
export function runFence(cfg: FenceConfig, node: string, reason: string): Promise<FenceResult> {
    if (cfg.type === "command") {
        return new Promise((resolve) => {
            const [file, ...args] = cfg.command;
            execFile(
                file,
                [...args, node],
                { timeout: cfg.timeoutMs, env: { ...process.env, NODE_NAME: node, FENCE_REASON: reason }, maxBuffer: 64 * 1024 },
                (err, stdout, stderr) => {
                    const out = `${stdout}${stderr}`.trim().slice(0, 300);
                    if (err) resolve({ ok: false, message: `${cfg.command[0]} failed: ${err.message.split("\n")[0]}${out ? `: ${out}` : ""}` });
                    else resolve({ ok: true, message: out || `${cfg.command[0]} exited 0` });
                },
            );
        });
    }
    return new Promise((resolve) => {
        const url = new URL(fenceUrl(cfg.url, node));
        const body = Buffer.from(JSON.stringify({ node, reason }));
        const mod = url.protocol === "https:" ? https : http;
        const headers: http.OutgoingHttpHeaders = { "Content-Type": "application/json", "Content-Length": String(body.length) };
        if (cfg.token) headers.Authorization = `Bearer ${cfg.token}`;
        const req = mod.request(url, { method: cfg.method, headers, timeout: cfg.timeoutMs }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8").trim().slice(0, 300);
                const status = res.statusCode ?? 0;
                resolve(
                    status >= 200 && status < 300
                        ? { ok: true, message: `HTTP ${status}${text ? `: ${text}` : ""}` }
                        : { ok: false, message: `HTTP ${status}${text ? `: ${text}` : ""}` },
                );
            });
            res.on("error", (e) => resolve({ ok: false, message: e.message }));
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${cfg.timeoutMs} ms`)));
        req.on("error", (e) => resolve({ ok: false, message: e.message }));
        if (cfg.method !== "GET") req.write(body);
        req.end();
    });
}
