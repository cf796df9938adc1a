// The CPU profile summary used to say where program evaluation spends its time
// (bench/lib/cpuprofile.ts), and reading bash's `times` for a command tree's CPU time.
import { CpuProfile, mergeProfiles, sourceOf, summarizeProfile } from "../../bench/lib/cpuprofile";
import { parseTimes } from "../../bench/benchmarks/program-scale";

const NM = "file:///work/x/node_modules";
// main → (program) StatefulWorkload ctor → pulumi output.js;  main → rpc.js;  GC
const profile: CpuProfile = {
    nodes: [
        { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 }, children: [2, 5] },
        { id: 2, callFrame: { functionName: "declare", url: "file:///tmp/b/bench/workloads.js", lineNumber: 9 }, children: [3] },
        { id: 3, callFrame: { functionName: "StatefulWorkload", url: "file:///tmp/b/components/statefulworkload.js", lineNumber: 99 }, children: [4] },
        { id: 4, callFrame: { functionName: "OutputImpl", url: `${NM}/@pulumi/pulumi/output.js`, lineNumber: 70 }, children: [] },
        { id: 5, callFrame: { functionName: "serializeProperty", url: `${NM}/@pulumi/pulumi/runtime/rpc.js`, lineNumber: 324 }, children: [6] },
        { id: 6, callFrame: { functionName: "mb", url: `${NM}/google-protobuf/google-protobuf.js`, lineNumber: 91 }, children: [] },
        { id: 7, callFrame: { functionName: "(garbage collector)", url: "", lineNumber: -1 }, children: [] },
    ],
    startTime: 0,
    endTime: 10_000,
    samples: [3, 4, 4, 5, 6, 6, 6, 7, 7, 7],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

test("sources: packages by name, the Pulumi SDK by file, our files relative to the build root", () => {
    expect(sourceOf(`${NM}/@pulumi/pulumi/runtime/rpc.js`, "f")).toBe("@pulumi/pulumi/runtime/rpc.js");
    expect(sourceOf(`${NM}/google-protobuf/google-protobuf.js`, "f")).toBe("google-protobuf");
    expect(sourceOf(`${NM}/@grpc/grpc-js/build/src/x.js`, "f")).toBe("@grpc/grpc-js");
    expect(sourceOf("file:///tmp/b/components/statefulworkload.js", "f", "/tmp/b")).toBe("components/statefulworkload.js");
    expect(sourceOf("node:internal/errors", "f")).toBe("node:internal/errors");
    expect(sourceOf("", "(garbage collector)")).toBe("((garbage collector))");
});

test("self time by source and function, and inclusive time under chosen files", () => {
    const s = summarizeProfile(profile, { root: "/tmp/b", inclusive: ["/components/", "rpc.js"] });
    expect(s.totalMs).toBe(10);
    expect(s.bySource.map((e) => [e.key, e.ms])).toEqual([
        ["google-protobuf", 3],
        ["((garbage collector))", 3],
        ["@pulumi/pulumi/output.js", 2],
        ["components/statefulworkload.js", 1],
        ["@pulumi/pulumi/runtime/rpc.js", 1],
    ]);
    expect(s.byFunction[0]).toEqual({ key: "mb google-protobuf:92", ms: 3, share: 0.3 });
    expect(s.inclusive).toEqual([
        { key: "rpc.js", ms: 4, share: 0.4 },
        { key: "/components/", ms: 3, share: 0.3 },
    ]);
});

test("merged profiles add up", () => {
    const m = summarizeProfile(mergeProfiles([profile, profile]));
    expect(m.totalMs).toBe(20);
    expect(m.bySource[0]).toMatchObject({ ms: 6, share: 0.3 });
});

test("bash's times line gives user + system seconds", () => {
    expect(parseTimes("0m1.250s 0m0.250s")).toBe(1.5);
    expect(parseTimes("2m3.000s 1m0.500s")).toBe(183.5);
    expect(() => parseTimes("nonsense")).toThrow('cannot read CPU times from "nonsense"');
});
