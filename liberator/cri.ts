/**
 * A minimal client of the container runtime's CRI (runtime.v1.RuntimeService: Version,
 * ListPodSandbox, StopPodSandbox): gRPC over HTTP/2 on the runtime's unix socket, with Node's
 * http2 module and a hand-written protobuf codec for the few messages involved (field numbers
 * from k8s.io/cri-api pkg/apis/runtime/v1/api.proto). No gRPC library: the agent must stay small.
 */
import * as http2 from "http2";
import * as net from "net";

// --- protobuf (proto3, the wire types these messages use) ------------------------------------

/** A decoded field: varint as bigint, length-delimited as bytes. */
export type PbValue = { wire: 0; value: bigint } | { wire: 2; value: Buffer };

export function encodeVarint(n: number | bigint): Buffer {
    let v = BigInt(n);
    if (v < 0n) v &= (1n << 64n) - 1n;
    const out: number[] = [];
    while (v >= 0x80n) {
        out.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
    }
    out.push(Number(v));
    return Buffer.from(out);
}

function key(field: number, wire: number): Buffer {
    return encodeVarint((field << 3) | wire);
}

/** Field `field` as a length-delimited value (string, bytes, or an embedded message). */
export function pbBytes(field: number, value: string | Buffer): Buffer {
    const b = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    return Buffer.concat([key(field, 2), encodeVarint(b.length), b]);
}

export function pbVarint(field: number, value: number | bigint): Buffer {
    return Buffer.concat([key(field, 0), encodeVarint(value)]);
}

/** Decodes one message into field number → values (repeated fields keep every value). */
export function pbDecode(buf: Buffer): Map<number, PbValue[]> {
    const out = new Map<number, PbValue[]>();
    let i = 0;
    const varint = (): bigint => {
        let shift = 0n;
        let result = 0n;
        for (;;) {
            if (i >= buf.length) throw new Error("protobuf: truncated varint");
            const b = buf[i++];
            result |= BigInt(b & 0x7f) << shift;
            if ((b & 0x80) === 0) return result;
            shift += 7n;
            if (shift > 70n) throw new Error("protobuf: varint too long");
        }
    };
    while (i < buf.length) {
        const k = Number(varint());
        const field = k >>> 3;
        const wire = k & 7;
        let v: PbValue;
        if (wire === 0) v = { wire: 0, value: varint() };
        else if (wire === 2) {
            const len = Number(varint());
            if (i + len > buf.length) throw new Error("protobuf: truncated field");
            v = { wire: 2, value: buf.subarray(i, i + len) };
            i += len;
        } else if (wire === 1) {
            i += 8;
            continue;
        } else if (wire === 5) {
            i += 4;
            continue;
        } else throw new Error(`protobuf: unsupported wire type ${wire}`);
        const list = out.get(field);
        if (list) list.push(v);
        else out.set(field, [v]);
    }
    return out;
}

function str(m: Map<number, PbValue[]>, field: number): string {
    const v = m.get(field)?.at(-1);
    return v?.wire === 2 ? v.value.toString("utf8") : "";
}

function num(m: Map<number, PbValue[]>, field: number): number {
    const v = m.get(field)?.at(-1);
    return v?.wire === 0 ? Number(v.value) : 0;
}

/** A map<string,string> field: repeated entries with key = 1, value = 2. */
function strMap(m: Map<number, PbValue[]>, field: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of m.get(field) ?? []) {
        if (e.wire !== 2) continue;
        const entry = pbDecode(e.value);
        out[str(entry, 1)] = str(entry, 2);
    }
    return out;
}

// --- the messages ------------------------------------------------------------------------------

export const SANDBOX_READY = 0;
export const SANDBOX_NOTREADY = 1;

export interface Sandbox {
    id: string;
    name: string;
    uid: string;
    namespace: string;
    state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
    labels: Record<string, string>;
}

/** ListPodSandboxRequest{ filter: PodSandboxFilter{ state: PodSandboxStateValue{ state } } }. */
export function encodeListPodSandboxRequest(readyOnly: boolean): Buffer {
    if (!readyOnly) return Buffer.alloc(0);
    // proto3 leaves a zero enum out; an empty PodSandboxStateValue still means SANDBOX_READY.
    const stateValue = pbBytes(2, Buffer.alloc(0));
    return pbBytes(1, stateValue);
}

export function decodeListPodSandboxResponse(buf: Buffer): Sandbox[] {
    const m = pbDecode(buf);
    return (m.get(1) ?? []).flatMap((item) => {
        if (item.wire !== 2) return [];
        const s = pbDecode(item.value);
        const metaField = s.get(2)?.at(-1);
        const meta = metaField?.wire === 2 ? pbDecode(metaField.value) : new Map<number, PbValue[]>();
        return [
            {
                id: str(s, 1),
                name: str(meta, 1),
                uid: str(meta, 2),
                namespace: str(meta, 3),
                state: num(s, 3) === SANDBOX_NOTREADY ? "SANDBOX_NOTREADY" : "SANDBOX_READY",
                labels: strMap(s, 5),
            } as Sandbox,
        ];
    });
}

export function encodeStopPodSandboxRequest(id: string): Buffer {
    return pbBytes(1, id);
}

export function decodeVersionResponse(buf: Buffer): { version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string } {
    const m = pbDecode(buf);
    return { version: str(m, 1), runtimeName: str(m, 2), runtimeVersion: str(m, 3), runtimeApiVersion: str(m, 4) };
}

// --- gRPC framing ------------------------------------------------------------------------------

/** One gRPC message: a zero compression flag, a 4-byte big-endian length, the bytes. */
export function grpcFrame(payload: Buffer): Buffer {
    const head = Buffer.alloc(5);
    head.writeUInt8(0, 0);
    head.writeUInt32BE(payload.length, 1);
    return Buffer.concat([head, payload]);
}

/** Splits a response body into its messages. */
export function grpcUnframe(body: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i + 5 <= body.length) {
        if (body[i] !== 0) throw new Error("gRPC: compressed messages are not supported");
        const len = body.readUInt32BE(i + 1);
        if (i + 5 + len > body.length) throw new Error("gRPC: truncated message");
        out.push(body.subarray(i + 5, i + 5 + len));
        i += 5 + len;
    }
    if (i !== body.length) throw new Error("gRPC: trailing bytes after the last message");
    return out;
}

export class GrpcError extends Error {
    constructor(
        public readonly code: number,
        message: string,
    ) {
        super(message);
        this.name = "GrpcError";
    }
}

export const RUNTIME_SERVICE = "runtime.v1.RuntimeService";

/** The CRI client; one HTTP/2 connection, opened on demand, reopened after an error. */
export class CriClient {
    private session?: http2.ClientHttp2Session;

    constructor(
        readonly socketPath: string,
        private readonly timeoutMs = 3000,
    ) {}

    private connect(): http2.ClientHttp2Session {
        if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
        const session = http2.connect("http://localhost", { createConnection: () => net.connect(this.socketPath) });
        session.on("error", () => session.destroy());
        session.on("close", () => {
            if (this.session === session) this.session = undefined;
        });
        // The agent's event loop must not be kept alive by an idle runtime connection.
        session.unref();
        this.session = session;
        return session;
    }

    /** One unary call; rejects with GrpcError on a non-zero grpc-status, or on the deadline. */
    call(method: string, request: Buffer, timeoutMs = this.timeoutMs): Promise<Buffer> {
        return new Promise((resolve, reject) => {
            let session: http2.ClientHttp2Session;
            try {
                session = this.connect();
            } catch (e) {
                reject(e as Error);
                return;
            }
            let settled = false;
            const finish = (e: Error | undefined, body?: Buffer) => {
                if (settled) return;
                settled = true;
                clearTimeout(timer);
                if (e) {
                    req.close(http2.constants.NGHTTP2_CANCEL);
                    reject(e);
                } else resolve(body!);
            };
            const req = session.request({
                ":method": "POST",
                ":path": `/${RUNTIME_SERVICE}/${method}`,
                "content-type": "application/grpc",
                te: "trailers",
                "grpc-timeout": `${Math.max(1, Math.floor(timeoutMs))}m`,
            });
            const timer = setTimeout(() => {
                finish(new GrpcError(4, `${method}: no answer from ${this.socketPath} within ${timeoutMs} ms`));
                // A runtime that does not answer may have a broken connection: start afresh.
                session.destroy();
            }, timeoutMs);
            const chunks: Buffer[] = [];
            let status: string | undefined;
            let message = "";
            const readStatus = (h: http2.IncomingHttpHeaders) => {
                if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
                if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
            };
            req.on("response", (h) => {
                const code = Number(h[":status"]);
                if (code !== 200) finish(new GrpcError(14, `${method}: HTTP ${code}`));
                readStatus(h);
            });
            req.on("trailers", readStatus);
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("error", (e) => finish(e));
            req.on("end", () => {
                if (status === undefined) return finish(new GrpcError(2, `${method}: no grpc-status`));
                if (status !== "0") return finish(new GrpcError(Number(status), `${method}: grpc-status ${status}${message ? `: ${message}` : ""}`));
                try {
                    const messages = grpcUnframe(Buffer.concat(chunks));
                    finish(undefined, messages[0] ?? Buffer.alloc(0));
                } catch (e) {
                    finish(e as Error);
                }
            });
            req.end(grpcFrame(request));
        });
    }

    async version(): Promise<ReturnType<typeof decodeVersionResponse>> {
        return decodeVersionResponse(await this.call("Version", pbBytes(1, "v1")));
    }

    async listPodSandboxes(readyOnly = true): Promise<Sandbox[]> {
        return decodeListPodSandboxResponse(await this.call("ListPodSandbox", encodeListPodSandboxRequest(readyOnly)));
    }

    async stopPodSandbox(id: string): Promise<void> {
        await this.call("StopPodSandbox", encodeStopPodSandboxRequest(id));
    }

    close(): void {
        this.session?.close();
        this.session = undefined;
    }
}
