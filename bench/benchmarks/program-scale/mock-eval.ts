// One evaluation of the benchmark program under Pulumi mocks, in a fresh process:
//   node mock-eval.js <component|plain> <count> [<cpuprofile file>]
// Prints one JSON line: evaluation time (from declaring the first resource until every
// registration has reached the mock engine) as wall time and as this process's CPU time,
// resources registered, process wall time and RSS. With a file, the evaluation (only) is
// CPU-profiled into it.
import * as fs from "fs";
import * as inspector from "inspector";
import * as pulumi from "@pulumi/pulumi";
import { declareWorkloads, ProgramVariant } from "./workloads";

async function main(): Promise<void> {
    const [variant, countText, profileFile] = process.argv.slice(2);
    if (variant !== "component" && variant !== "plain") throw new Error(`variant = ${variant} is invalid: must be component or plain`);
    const count = Number(countText);
    if (!Number.isInteger(count) || count < 0) throw new Error(`count = ${countText} is invalid: must be a whole number ≥ 0`);
    let registered = 0;
    await pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                registered++;
                return { id: args.inputs?.metadata?.name ?? `${args.name}-id`, state: args.inputs };
            },
            call(args: pulumi.runtime.MockCallArgs) {
                return args.inputs;
            },
        },
        "pets-bench",
        "bench",
        false,
    );
    const session = profileFile ? new inspector.Session() : undefined;
    const post = (method: string, params?: object) =>
        new Promise<{ profile?: object }>((resolve, reject) =>
            session!.post(method, params, (err, res) => (err ? reject(err) : resolve(res as { profile?: object }))),
        );
    if (session) {
        session.connect();
        await post("Profiler.enable");
        await post("Profiler.setSamplingInterval", { interval: 100 });
        await post("Profiler.start");
    }
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    declareWorkloads(variant as ProgramVariant, count, "bench");
    const declared = process.hrtime.bigint();
    await pulumi.runtime.disconnect();
    const t1 = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    if (session) fs.writeFileSync(profileFile, JSON.stringify((await post("Profiler.stop")).profile));
    const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
    process.stdout.write(
        JSON.stringify({
            evalMs: ms(t0, t1),
            cpuMs: (cpu.user + cpu.system) / 1000,
            declareMs: ms(t0, declared),
            processMs: process.uptime() * 1000,
            registered,
            rssMiB: process.memoryUsage().rss / 2 ** 20,
        }) + "\n",
    );
}

main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
});
