/**
 * A fake container runtime for the agent's tests: an http2 server on a unix socket speaking
 * gRPC's framing by hand, with messages encoded and decoded by protobufjs from the field numbers of
 * k8s.io/cri-api v0.34.4 (pkg/apis/runtime/v1/api.proto) — a codec independent of the agent's.
 */
import * as http2 from "http2";
import * as protobuf from "protobufjs";
import { grpcFrame, grpcUnframe } from "../../../liberator/cri";

// The messages the agent uses, with api.proto's field numbers.
const PROTO = `
syntax = "proto3";
package runtime.v1;
message VersionRequest { string version = 1; }
message VersionResponse { string version = 1; string runtime_name = 2; string runtime_version = 3; string runtime_api_version = 4; }
enum PodSandboxState { SANDBOX_READY = 0; SANDBOX_NOTREADY = 1; }
message PodSandboxStateValue { PodSandboxState state = 1; }
message PodSandboxFilter { string id = 1; PodSandboxStateValue state = 2; map<string, string> label_selector = 3; }
message ListPodSandboxRequest { PodSandboxFilter filter = 1; }
message PodSandboxMetadata { string name = 1; string uid = 2; string namespace = 3; uint32 attempt = 4; }
message PodSandbox { string id = 1; PodSandboxMetadata metadata = 2; PodSandboxState state = 3; int64 created_at = 4; map<string, string> labels = 5; map<string, string> annotations = 6; string runtime_handler = 7; }
message ListPodSandboxResponse { repeated PodSandbox items = 1; }
message StopPodSandboxRequest { string pod_sandbox_id = 1; }
message StopPodSandboxResponse {}
`;
export const root = protobuf.parse(PROTO, { keepCase: true }).root;
export const T = (n: string) => root.lookupType(`runtime.v1.${n}`);

export const SANDBOXES: any[] = [
    {
        id: "sb-web-1",
        metadata: { name: "web-1", uid: "uid-web-1", namespace: "pets", attempt: 0 },
        state: 0,
        created_at: 1700000000000000000,
        labels: { "statefulset.kubernetes.io/pod-name": "web-1", "io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "pets" },
        annotations: { a: "b" },
        runtime_handler: "runc",
    },
    { id: "sb-agent", metadata: { name: "liberator-agent-x", uid: "uid-agent", namespace: "tkr-system" }, state: 0, labels: { app: "agent" } },
    { id: "sb-old", metadata: { name: "web-0", uid: "uid-web-0-old", namespace: "pets" }, state: 1, labels: { "statefulset.kubernetes.io/pod-name": "web-0" } },
];

/** A fake runtime: an http2 server on a unix socket speaking gRPC's framing by hand. */
export function fakeRuntime(
    socket: string,
    opts: { stopError?: { code: number; message: string }; hang?: string; trailersOnly?: boolean; sandboxes?: any[] } = {},
): { server: http2.Http2Server; stopped: string[]; requests: { path: string; body: any }[] } {
    const stopped: string[] = [];
    const requests: { path: string; body: any }[] = [];
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
        const p = String(headers[":path"]);
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
            const method = p.split("/").pop()!;
            if (headers["content-type"] !== "application/grpc" || !p.startsWith("/runtime.v1.RuntimeService/")) {
                stream.respond({ ":status": 415 });
                stream.end();
                return;
            }
            const [msg] = grpcUnframe(Buffer.concat(chunks));
            const reqType = method === "ListPodSandbox" ? "ListPodSandboxRequest" : method === "StopPodSandbox" ? "StopPodSandboxRequest" : "VersionRequest";
            const body = T(reqType).toObject(T(reqType).decode(msg), { defaults: false });
            requests.push({ path: p, body });
            if (opts.hang === method) return;
            let reply: Buffer;
            let status = 0;
            let message = "";
            if (method === "Version")
                reply = Buffer.from(
                    T("VersionResponse")
                        .encode({ version: "0.1.0", runtime_name: "containerd", runtime_version: "v1.6.20", runtime_api_version: "v1" })
                        .finish(),
                );
            else if (method === "ListPodSandbox") {
                const wantReady = body.filter?.state !== undefined;
                const items = (opts.sandboxes ?? SANDBOXES).filter((s) => !wantReady || (s.state ?? 0) === (body.filter.state.state ?? 0));
                reply = Buffer.from(T("ListPodSandboxResponse").encode({ items }).finish());
            } else {
                reply = Buffer.alloc(0);
                if (opts.stopError) ({ code: status, message } = opts.stopError);
                else stopped.push(body.pod_sandbox_id);
            }
            if (status !== 0 && opts.trailersOnly) {
                stream.respond(
                    { ":status": 200, "content-type": "application/grpc", "grpc-status": String(status), "grpc-message": encodeURIComponent(message) },
                    { endStream: true },
                );
                return;
            }
            stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
            stream.on("wantTrailers", () =>
                stream.sendTrailers({ "grpc-status": String(status), ...(message ? { "grpc-message": encodeURIComponent(message) } : {}) }),
            );
            stream.end(status === 0 ? grpcFrame(reply) : undefined);
        });
    });
    server.listen(socket);
    return { server, stopped, requests };
}
