// npm run bench [-- <name>… ] [--quick] [--skip-integration] [--rounds N] [--warmup N] [--set key=value] [--list]
// Runs the named benchmarks (default: all that can run here), prints a table per benchmark, and
// writes bench/results/<name>.json and its SVG charts (--quick: bench/results/quick/, not committed).
import * as path from "path";
import { BENCHMARKS } from "./benchmarks";
import { Options, runBenchmark } from "./lib/benchmark";
import { defaultCharts, resultsTable, saveResults } from "./lib/report";

const USAGE = `usage: npm run bench -- [name…] [options]

benchmarks:
${BENCHMARKS.map((b) => `  ${b.name.padEnd(14)} ${b.description}`).join("\n")}

options:
  --quick              a short smoke run (fewer sizes and rounds); results go to bench/results/quick/
  --skip-integration   test-loop: leave out the integration project
  --rounds N           runs per case and variant (overrides each benchmark's default)
  --warmup N           unrecorded warm-up rounds before the measured ones
  --set key=value      a benchmark setting (program-scale: sizes=1,10,100 preview=0;
                       footprint: nodes=10,25,50 seconds=300 churn=0 node=<path of a Node 22 binary> target=control-plane;
                       failover: configs=defaults-stock,delete-node stuckSeconds=150 stopAt=<ISO time>;
                       any: keepCluster=1 leaves the bench cluster running)
  --out DIR            where results go (default bench/results)
  --list               list the benchmarks and whether each can run here`;

export interface Args {
    names: string[];
    quick: boolean;
    skipIntegration: boolean;
    rounds?: number;
    warmup?: number;
    settings: Record<string, string>;
    out?: string;
    list: boolean;
    help: boolean;
}

export function parseArgs(argv: string[]): Args {
    const a: Args = { names: [], quick: false, skipIntegration: false, settings: {}, list: false, help: false };
    const count = (flag: string, v: string | undefined, min: number): number => {
        const n = Number(v);
        if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`${flag} ${v ?? ""} is invalid: needs a whole number ≥ ${min}`);
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const x = argv[i];
        if (x === "--quick") a.quick = true;
        else if (x === "--skip-integration") a.skipIntegration = true;
        else if (x === "--rounds") a.rounds = count(x, argv[++i], 1);
        else if (x === "--warmup") a.warmup = count(x, argv[++i], 0);
        else if (x === "--out") a.out = argv[++i];
        else if (x === "--list") a.list = true;
        else if (x === "--help" || x === "-h") a.help = true;
        else if (x === "--set") {
            const kv = argv[++i] ?? "";
            const eq = kv.indexOf("=");
            if (eq < 1) throw new Error(`--set ${kv} is invalid: expected key=value`);
            a.settings[kv.slice(0, eq)] = kv.slice(eq + 1);
        } else if (x.startsWith("-")) throw new Error(`unknown option ${x}\n\n${USAGE}`);
        else {
            if (!BENCHMARKS.some((b) => b.name === x))
                throw new Error(`unknown benchmark "${x}": known benchmarks are ${BENCHMARKS.map((b) => b.name).join(", ")}`);
            a.names.push(x);
        }
    }
    return a;
}

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    if (args.help) {
        console.log(USAGE);
        return 0;
    }
    const opts: Options = {
        quick: args.quick,
        skipIntegration: args.skipIntegration,
        rounds: args.rounds,
        warmup: args.warmup,
        settings: args.settings,
        log: (m) => console.error(`[bench] ${m}`),
    };
    if (args.list) {
        for (const b of BENCHMARKS) {
            const why = b.unavailable?.(opts);
            console.log(`${b.name.padEnd(14)} ${why ? `not available: ${why}` : "ready"}`);
        }
        return 0;
    }
    const out = path.resolve(args.out ?? path.join(__dirname, "results", args.quick ? "quick" : ""));
    const command = ["npm run bench --", ...process.argv.slice(2)].join(" ").replace(/ --$/, "");
    const chosen = args.names.length ? BENCHMARKS.filter((b) => args.names.includes(b.name)) : BENCHMARKS;
    let failed = 0;
    for (const b of chosen) {
        const why = b.unavailable?.(opts);
        if (why) {
            console.log(`\n== ${b.name}: skipped — ${why}`);
            // Asked for by name and not runnable: that is a failure; in "all" it is a note.
            if (args.names.includes(b.name)) failed++;
            continue;
        }
        console.log(`\n== ${b.name}: ${b.description}`);
        const r = await runBenchmark(b, opts, command);
        console.log(
            `\n${b.title} — median, min and max of ${r.options.rounds === 1 ? "the" : "interleaved"} runs (${r.durationSeconds} s; load ${r.machine.loadBefore[0]} → ${r.machine.loadAfter[0]} on ${r.machine.cores} cores)`,
        );
        if (r.samples.length) console.log(resultsTable(r));
        for (const l of r.analysis?.lines ?? []) console.log(l);
        if (r.error) {
            console.log(`FAILED: ${r.error.split("\n")[0]}`);
            failed++;
        }
        if (r.samples.length) {
            const files = saveResults(r, out, b.charts ? b.charts(r) : defaultCharts(r));
            console.log(`wrote ${files.map((f) => path.relative(process.cwd(), f)).join(", ")}`);
        }
    }
    return failed ? 1 : 0;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e) => {
            console.error(e instanceof Error ? e.message : String(e));
            process.exit(2);
        },
    );
}
