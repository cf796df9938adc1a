/**
 * The CRI client against fake runtimes on a unix socket: a Node http2 server speaking gRPC's
 * framing by hand, and grpc-js (a real gRPC implementation). Messages on the fake's side are
 * encoded and decoded with protobufjs from the field numbers of k8s.io/cri-api v0.34.4
 * (pkg/apis/runtime/v1/api.proto), so the client's hand-written codec is checked against an
 * independent one.
 */
import * as grpc from "@grpc/grpc-js";
import * as fs from "fs";
import * as http2 from "http2";
import * as os from "os";
import * as path from "path";
import { CriClient, encodeListPodSandboxRequest, encodeStopPodSandboxRequest, encodeVarint, grpcFrame, grpcUnframe, pbDecode } from "../../../liberator/cri";
import { fakeRuntime, SANDBOXES, T } from "./fakecri";

let dir: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cri-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("protobuf and gRPC framing", () => {
    test("requests decode with protobufjs to the intended messages", () => {
        // proto3 leaves the zero enum out (protobufjs writes it when set explicitly; both decode alike).
        const list = T("ListPodSandboxRequest").decode(encodeListPodSandboxRequest(true));
        expect(T("ListPodSandboxRequest").toObject(list, { defaults: true })).toEqual({ filter: { id: "", label_selector: {}, state: { state: 0 } } });
        expect(encodeListPodSandboxRequest(true).toString("hex")).toBe("0a021200");
        expect(encodeListPodSandboxRequest(false).length).toBe(0);
        const stop = Buffer.from(T("StopPodSandboxRequest").encode({ pod_sandbox_id: "abc" }).finish());
        expect(encodeStopPodSandboxRequest("abc").toString("hex")).toBe(stop.toString("hex"));
    });

    test("varints, including 64-bit values", () => {
        expect(encodeVarint(300).toString("hex")).toBe("ac02");
        const big = Buffer.from(T("PodSandbox").encode({ created_at: 1700000000000000000 }).finish());
        expect(pbDecode(big).get(4)![0]).toEqual({ wire: 0, value: 1700000000000000000n });
    });

    test("frames: flag, big-endian length, bytes; several messages; errors", () => {
        const f = grpcFrame(Buffer.from("hi"));
        expect(f.toString("hex")).toBe("00000000026869");
        expect(grpcUnframe(Buffer.concat([f, grpcFrame(Buffer.alloc(0))])).map((b) => b.toString())).toEqual(["hi", ""]);
        expect(() => grpcUnframe(Buffer.from("0100000000", "hex"))).toThrow("gRPC: compressed messages are not supported");
        expect(() => grpcUnframe(Buffer.from("000000000568", "hex"))).toThrow("gRPC: truncated message");
    });
});

const closeServer = (s: http2.Http2Server) => new Promise<void>((r) => s.close(() => r()));

describe("CriClient against a hand-made gRPC runtime on a unix socket", () => {
    test("Version, ListPodSandbox (all and ready only), StopPodSandbox", async () => {
        const socket = path.join(dir, "containerd.sock");
        const fake = fakeRuntime(socket);
        await new Promise((r) => fake.server.once("listening", r));
        const cri = new CriClient(socket, 2000);
        try {
            expect(await cri.version()).toEqual({ version: "0.1.0", runtimeName: "containerd", runtimeVersion: "v1.6.20", runtimeApiVersion: "v1" });
            const all = await cri.listPodSandboxes(false);
            expect(all).toEqual([
                {
                    id: "sb-web-1",
                    name: "web-1",
                    uid: "uid-web-1",
                    namespace: "pets",
                    state: "SANDBOX_READY",
                    labels: { "statefulset.kubernetes.io/pod-name": "web-1", "io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "pets" },
                },
                { id: "sb-agent", name: "liberator-agent-x", uid: "uid-agent", namespace: "tkr-system", state: "SANDBOX_READY", labels: { app: "agent" } },
                {
                    id: "sb-old",
                    name: "web-0",
                    uid: "uid-web-0-old",
                    namespace: "pets",
                    state: "SANDBOX_NOTREADY",
                    labels: { "statefulset.kubernetes.io/pod-name": "web-0" },
                },
            ]);
            expect((await cri.listPodSandboxes(true)).map((s) => s.id)).toEqual(["sb-web-1", "sb-agent"]);
            await cri.stopPodSandbox("sb-web-1");
            expect(fake.stopped).toEqual(["sb-web-1"]);
            expect(fake.requests.map((r) => r.path)).toEqual([
                "/runtime.v1.RuntimeService/Version",
                "/runtime.v1.RuntimeService/ListPodSandbox",
                "/runtime.v1.RuntimeService/ListPodSandbox",
                "/runtime.v1.RuntimeService/StopPodSandbox",
            ]);
            expect(fake.requests[2].body).toEqual({ filter: { state: {} } });
        } finally {
            cri.close();
            await closeServer(fake.server);
        }
    });

    test.each([false, true])("a non-zero grpc-status is an error with its message (trailers-only: %s)", async (trailersOnly) => {
        const socket = path.join(dir, "c.sock");
        const fake = fakeRuntime(socket, { stopError: { code: 5, message: "sandbox sb-x not found" }, trailersOnly });
        await new Promise((r) => fake.server.once("listening", r));
        const cri = new CriClient(socket, 2000);
        try {
            await expect(cri.stopPodSandbox("sb-x")).rejects.toThrow("StopPodSandbox: grpc-status 5: sandbox sb-x not found");
        } finally {
            cri.close();
            await closeServer(fake.server);
        }
    });

    test("a runtime that hangs: the deadline rejects, and the next call uses a fresh connection", async () => {
        const socket = path.join(dir, "h.sock");
        const fake = fakeRuntime(socket, { hang: "StopPodSandbox" });
        await new Promise((r) => fake.server.once("listening", r));
        const cri = new CriClient(socket, 300);
        try {
            const t0 = Date.now();
            await expect(cri.stopPodSandbox("sb-web-1")).rejects.toThrow(/StopPodSandbox: no answer from .* within 300 ms/);
            expect(Date.now() - t0).toBeLessThan(2_000);
            expect((await cri.listPodSandboxes(true)).length).toBe(2);
        } finally {
            cri.close();
            fake.server.close();
        }
    });

    test("no runtime at the socket: a clear error", async () => {
        const cri = new CriClient(path.join(dir, "missing.sock"), 500);
        await expect(cri.version()).rejects.toThrow(/ENOENT/);
        cri.close();
    });
});

describe("CriClient against grpc-js, a real gRPC server", () => {
    test("ListPodSandbox and StopPodSandbox", async () => {
        const socket = path.join(dir, "grpc.sock");
        const server = new grpc.Server();
        const unary = (req: string, res: string) => ({
            requestStream: false,
            responseStream: false,
            requestSerialize: (o: any) => Buffer.from(T(req).encode(o).finish()),
            requestDeserialize: (b: Buffer) => T(req).toObject(T(req).decode(b)),
            responseSerialize: (o: any) => Buffer.from(T(res).encode(o).finish()),
            responseDeserialize: (b: Buffer) => T(res).toObject(T(res).decode(b)),
        });
        const stopped: string[] = [];
        server.addService(
            {
                ListPodSandbox: { path: "/runtime.v1.RuntimeService/ListPodSandbox", ...unary("ListPodSandboxRequest", "ListPodSandboxResponse") },
                StopPodSandbox: { path: "/runtime.v1.RuntimeService/StopPodSandbox", ...unary("StopPodSandboxRequest", "StopPodSandboxResponse") },
            } as any,
            {
                ListPodSandbox: (_call: any, cb: any) => cb(null, { items: SANDBOXES.slice(0, 1) }),
                StopPodSandbox: (call: any, cb: any) => {
                    stopped.push(call.request.pod_sandbox_id);
                    cb(null, {});
                },
            } as any,
        );
        await new Promise<void>((resolve, reject) =>
            server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
        );
        const cri = new CriClient(socket, 2000);
        try {
            expect((await cri.listPodSandboxes(true)).map((s) => `${s.namespace}/${s.name} ${s.state}`)).toEqual(["pets/web-1 SANDBOX_READY"]);
            await cri.stopPodSandbox("sb-web-1");
            expect(stopped).toEqual(["sb-web-1"]);
        } finally {
            cri.close();
            await new Promise<void>((r) => server.tryShutdown(() => r()));
        }
    });
});
