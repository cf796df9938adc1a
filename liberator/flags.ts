/**
 * The command line of both programs, the controller and the agent: flags and LIBERATOR_*
 * environment variables (flags win over the environment; every value is checked, and problems are
 * collected so a bad start lists all of them at once), and how each runs until it is signalled.
 */
import type { Logger } from "./metrics";

export interface Option {
    flag: string;
    env: string;
    help: string;
    boolean?: boolean;
}

export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`invalid settings:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

export function usage(command: string, options: Option[]): string {
    const lines = options.map((o) => `  --${o.flag}${o.boolean ? "" : "=VALUE"}  (env ${o.env})\n      ${o.help}`);
    return `usage: node ${command} [flags]\n\n${lines.join("\n")}\n  --help\n`;
}

/** Parses "--flag=value", "--flag value" and "--flag" (booleans). */
export function parseArgs(argv: string[], options: Option[]): { values: Record<string, string>; help: boolean; problems: string[] } {
    const values: Record<string, string> = {};
    const problems: string[] = [];
    let help = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--help" || a === "-h") {
            help = true;
            continue;
        }
        if (!a.startsWith("--")) {
            problems.push(`unexpected argument ${JSON.stringify(a)}`);
            continue;
        }
        const eq = a.indexOf("=");
        const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
        const opt = options.find((o) => o.flag === name);
        if (!opt) {
            problems.push(`unknown flag --${name}`);
            continue;
        }
        if (eq >= 0) values[name] = a.slice(eq + 1);
        else if (opt.boolean) values[name] = "true";
        else if (i + 1 < argv.length) values[name] = argv[++i];
        else problems.push(`--${name} needs a value`);
    }
    return { values, help, problems };
}

/** "90", "90s", "2m", "1h", "500ms" → milliseconds. */
export function parseDuration(v: string): number | undefined {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
    if (!m) return undefined;
    const n = Number(m[1]);
    const unit = m[2] ?? "s";
    return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

/** Typed readers over parsed flags and the environment; problems accumulate in `problems`. */
export class Reader {
    readonly problems: string[];
    readonly help: boolean;
    private readonly values: Record<string, string>;

    constructor(
        argv: string[],
        private readonly options: Option[],
        private readonly env: NodeJS.ProcessEnv,
    ) {
        const args = parseArgs(argv, options);
        this.values = args.values;
        this.problems = [...args.problems];
        this.help = args.help;
    }

    get(flag: string): string | undefined {
        if (flag in this.values) return this.values[flag];
        const opt = this.options.find((o) => o.flag === flag);
        if (!opt) throw new Error(`no option --${flag}`);
        const v = this.env[opt.env];
        return v === undefined || v === "" ? undefined : v;
    }

    bool(flag: string, def = false): boolean {
        const v = this.get(flag);
        if (v === undefined) return def;
        if (/^(true|1|yes)$/i.test(v)) return true;
        if (/^(false|0|no)$/i.test(v)) return false;
        this.problems.push(`--${flag} = ${JSON.stringify(v)} is invalid: must be true or false`);
        return def;
    }

    duration(flag: string, def: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
        const v = this.get(flag);
        if (v === undefined) return def;
        const ms = parseDuration(v);
        if (ms === undefined || ms < min || ms > max) {
            const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min} ms` : `from ${min} to ${max} ms`;
            this.problems.push(`--${flag} = ${JSON.stringify(v)} is invalid: must be a duration such as 60, 60s, 2m or 500ms, ${range}`);
            return def;
        }
        return ms;
    }

    choice<T extends string>(flag: string, allowed: readonly T[], def: T): T {
        const v = this.get(flag) ?? def;
        if (!(allowed as readonly string[]).includes(v)) {
            this.problems.push(`--${flag} = ${JSON.stringify(v)} is invalid: must be ${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}`);
            return def;
        }
        return v as T;
    }

    /** host:port; port 0 picks a free one. */
    address(flag: string, def: string): { host: string; port: number } {
        const v = this.get(flag) ?? def;
        const m = /^(.*):(\d{1,5})$/.exec(v);
        if (!m || Number(m[2]) > 65535) {
            this.problems.push(`--${flag} = ${JSON.stringify(v)} is invalid: must be host:port`);
            const d = /^(.*):(\d+)$/.exec(def)!;
            return { host: d[1], port: Number(d[2]) };
        }
        return { host: m[1], port: Number(m[2]) };
    }
}

/**
 * Resolves 0 once SIGTERM or SIGINT has been handled: `stop` runs once, then `close`; a `stop`
 * that hangs gets `forceMs`, so it never keeps the process from exiting.
 */
export function untilSignal(log: Logger, stop: () => Promise<void>, close: () => void, forceMs: number): Promise<number> {
    return new Promise<number>((resolve) => {
        let stopping = false;
        const onSignal = (signal: string) => {
            if (stopping) return;
            stopping = true;
            log.info("stopping", { signal });
            let closed = false;
            const done = () => {
                if (closed) return;
                closed = true;
                clearTimeout(force);
                close();
                resolve(0);
            };
            const force = setTimeout(done, forceMs);
            void stop().finally(done);
        };
        process.on("SIGTERM", () => onSignal("SIGTERM"));
        process.on("SIGINT", () => onSignal("SIGINT"));
    });
}

/** An entry point's last step: exit with `main`'s code, or 1 with the stack when it throws. */
export function exitWith(code: Promise<number>): void {
    code.then(
        (c) => process.exit(c),
        (e) => {
            process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
            process.exit(1);
        },
    );
}
