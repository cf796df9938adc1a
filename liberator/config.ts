/**
 * The controller's settings, from command-line flags or LIBERATOR_* environment variables (the
 * component sets the variables; flags win). Every value is checked; a bad one stops the start.
 */
import * as os from "os";
import { DecideConfig, DEFAULT_DECIDE_CONFIG, Mode, OrphanedVolumes } from "./decide";
import { FenceConfig } from "./fence";
import { Level } from "./metrics";

export interface Config {
    kubeconfig?: string;
    context?: string;
    /** Namespace of the leader Lease and heartbeat Leases. */
    namespace?: string;
    /** The node this replica runs on; without it there is no heartbeat (out-of-cluster runs). */
    nodeName?: string;
    identity: string;
    leaseName: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
    heartbeatIntervalMs: number;
    metricsHost: string;
    metricsPort: number;
    logLevel: Level;
    fence?: FenceConfig;
    decide: DecideConfig;
}

interface Option {
    flag: string;
    env: string;
    help: string;
    boolean?: boolean;
}

/** Every option; the environment variable is LIBERATOR_ plus the flag in upper snake case. */
export const OPTIONS: Option[] = [
    {
        flag: "kubeconfig",
        env: "LIBERATOR_KUBECONFIG",
        help: "kubeconfig file for running outside the cluster (default: in-cluster service account, else $KUBECONFIG or ~/.kube/config)",
    },
    { flag: "context", env: "LIBERATOR_CONTEXT", help: "kubeconfig context (default: current-context)" },
    { flag: "namespace", env: "LIBERATOR_NAMESPACE", help: "namespace of the leader and heartbeat Leases (default: the pod's, the context's, or tkr-system)" },
    { flag: "node-name", env: "NODE_NAME", help: "node this replica runs on; its heartbeat Lease is renewed for it (unset: no heartbeat)" },
    { flag: "identity", env: "POD_NAME", help: "leader-election identity (default: hostname_pid)" },
    { flag: "mode", env: "LIBERATOR_MODE", help: "outOfServiceTaint (default) or deleteNode" },
    {
        flag: "unhealthy-after",
        env: "LIBERATOR_UNHEALTHY_AFTER",
        help: "how long Ready must be False/Unknown and both Leases stale before acting (default 60s)",
    },
    { flag: "max-unhealthy", env: "LIBERATOR_MAX_UNHEALTHY", help: "most unhealthy nodes at which the liberator still acts: a count or N% (default 1)" },
    { flag: "dry-run", env: "LIBERATOR_DRY_RUN", help: "only report what would be done", boolean: true },
    {
        flag: "opt-out-label",
        env: "LIBERATOR_OPT_OUT_LABEL",
        help: `nodes carrying this label are never remediated (default ${DEFAULT_DECIDE_CONFIG.optOutLabel})`,
    },
    { flag: "force-delete-pods", env: "LIBERATOR_FORCE_DELETE_PODS", help: "force-delete the failed node's StatefulSet pods after remediation", boolean: true },
    {
        flag: "release-local-volumes",
        env: "LIBERATOR_RELEASE_LOCAL_VOLUMES",
        help: "delete PVCs on the failed node's local volumes for StatefulSets that opted in",
        boolean: true,
    },
    { flag: "orphaned-volumes", env: "LIBERATOR_ORPHANED_VOLUMES", help: "PVs pinned to deleted nodes: ignore, report (default) or delete" },
    { flag: "orphaned-volume-grace", env: "LIBERATOR_ORPHANED_VOLUME_GRACE", help: "how long a PV must stay orphaned before deletion (default 10m)" },
    { flag: "storm-window", env: "LIBERATOR_STORM_WINDOW", help: "deleteNode mode: how long a deleted node still counts as unhealthy (default 10m)" },
    { flag: "pod-recheck", env: "LIBERATOR_POD_RECHECK", help: "how often a remediated node's pods are listed again while some remain (default 30s)" },
    { flag: "fence-url", env: "LIBERATOR_FENCE_URL", help: "fence hook URL ({node} is replaced); must answer 2xx before remediation" },
    { flag: "fence-method", env: "LIBERATOR_FENCE_METHOD", help: "fence hook HTTP method (default POST)" },
    {
        flag: "fence-command",
        env: "LIBERATOR_FENCE_COMMAND",
        help: 'fence hook command as a JSON array, e.g. ["/hooks/poweroff"]; the node name is appended; must exit 0',
    },
    { flag: "fence-timeout", env: "LIBERATOR_FENCE_TIMEOUT", help: "fence hook timeout (default 30s)" },
    { flag: "fence-retry", env: "LIBERATOR_FENCE_RETRY", help: "wait after a failed fence before retrying (default 30s)" },
    { flag: "lease-name", env: "LIBERATOR_LEASE_NAME", help: "leader-election Lease name (default liberator)" },
    { flag: "lease-duration", env: "LIBERATOR_LEASE_DURATION", help: "leader Lease duration (default 15s)" },
    { flag: "renew-deadline", env: "LIBERATOR_RENEW_DEADLINE", help: "leader stops acting when it could not renew for this long (default 10s)" },
    { flag: "retry-period", env: "LIBERATOR_RETRY_PERIOD", help: "leader-election retry period (default 2s)" },
    { flag: "heartbeat-interval", env: "LIBERATOR_HEARTBEAT_INTERVAL", help: "heartbeat Lease renewal interval (default 10s)" },
    { flag: "metrics-address", env: "LIBERATOR_METRICS_ADDRESS", help: "host:port for /metrics, /healthz, /livez (default 0.0.0.0:8080; port 0 picks one)" },
    { flag: "log-level", env: "LIBERATOR_LOG_LEVEL", help: "debug, info (default), warn or error" },
];

export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`invalid settings:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

export function usage(): string {
    const lines = OPTIONS.map((o) => `  --${o.flag}${o.boolean ? "" : "=VALUE"}  (env ${o.env})\n      ${o.help}`);
    return `usage: node main.js [flags]\n\n${lines.join("\n")}\n  --help\n`;
}

/** Parses "--flag=value", "--flag value" and "--flag" (booleans). */
export function parseArgs(argv: string[]): { values: Record<string, string>; help: boolean; problems: string[] } {
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
        const opt = OPTIONS.find((o) => o.flag === name);
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

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
    const args = parseArgs(argv);
    const problems = [...args.problems];
    const get = (flag: string): string | undefined => {
        if (flag in args.values) return args.values[flag];
        const opt = OPTIONS.find((o) => o.flag === flag)!;
        const v = env[opt.env];
        return v === undefined || v === "" ? undefined : v;
    };
    const bool = (flag: string): boolean => {
        const v = get(flag);
        if (v === undefined) return false;
        if (/^(true|1|yes)$/i.test(v)) return true;
        if (/^(false|0|no)$/i.test(v)) return false;
        problems.push(`--${flag} = ${JSON.stringify(v)} is invalid: must be true or false`);
        return false;
    };
    const duration = (flag: string, def: number, min = 1): number => {
        const v = get(flag);
        if (v === undefined) return def;
        const ms = parseDuration(v);
        if (ms === undefined || ms < min) {
            problems.push(`--${flag} = ${JSON.stringify(v)} is invalid: must be a duration such as 60, 60s, 2m or 500ms, at least ${min} ms`);
            return def;
        }
        return ms;
    };

    const mode = (get("mode") ?? "outOfServiceTaint") as Mode;
    if (mode !== "outOfServiceTaint" && mode !== "deleteNode")
        problems.push(`--mode = ${JSON.stringify(mode)} is invalid: must be outOfServiceTaint or deleteNode`);

    const rawMax = get("max-unhealthy") ?? "1";
    let maxUnhealthy: number | string = 1;
    if (/^\d+$/.test(rawMax)) maxUnhealthy = Number(rawMax);
    else if (/^\d{1,3}%$/.test(rawMax) && Number(rawMax.slice(0, -1)) <= 100) maxUnhealthy = rawMax;
    else problems.push(`--max-unhealthy = ${JSON.stringify(rawMax)} is invalid: must be a whole number >= 0 or a percentage such as "34%"`);

    const orphanedVolumes = (get("orphaned-volumes") ?? "report") as OrphanedVolumes;
    if (!["ignore", "report", "delete"].includes(orphanedVolumes))
        problems.push(`--orphaned-volumes = ${JSON.stringify(orphanedVolumes)} is invalid: must be ignore, report or delete`);

    const optOutLabel = get("opt-out-label") ?? DEFAULT_DECIDE_CONFIG.optOutLabel;
    if (!LABEL_KEY.test(optOutLabel)) problems.push(`--opt-out-label = ${JSON.stringify(optOutLabel)} is invalid: must be a label key`);

    const logLevel = (get("log-level") ?? "info") as Level;
    if (!["debug", "info", "warn", "error"].includes(logLevel))
        problems.push(`--log-level = ${JSON.stringify(logLevel)} is invalid: must be debug, info, warn or error`);

    const address = get("metrics-address") ?? "0.0.0.0:8080";
    const am = /^(.*):(\d{1,5})$/.exec(address);
    if (!am || Number(am[2]) > 65535) problems.push(`--metrics-address = ${JSON.stringify(address)} is invalid: must be host:port`);

    let fence: FenceConfig | undefined;
    const fenceTimeoutMs = duration("fence-timeout", 30_000);
    const fenceUrl = get("fence-url");
    const fenceCommand = get("fence-command");
    if (fenceUrl && fenceCommand) problems.push("--fence-url and --fence-command are exclusive: configure one fence hook");
    else if (fenceUrl) {
        const method = (get("fence-method") ?? "POST").toUpperCase();
        if (!/^https?:\/\//.test(fenceUrl)) problems.push(`--fence-url = ${JSON.stringify(fenceUrl)} is invalid: must be an http:// or https:// URL`);
        if (!["POST", "PUT", "GET"].includes(method)) problems.push(`--fence-method = ${JSON.stringify(method)} is invalid: must be POST, PUT or GET`);
        fence = { type: "http", url: fenceUrl, method, timeoutMs: fenceTimeoutMs, token: env.LIBERATOR_FENCE_TOKEN || undefined };
    } else if (fenceCommand) {
        let cmd: unknown;
        try {
            cmd = JSON.parse(fenceCommand);
        } catch {
            cmd = undefined;
        }
        if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === "string" && c !== "")) {
            problems.push(`--fence-command = ${JSON.stringify(fenceCommand)} is invalid: must be a JSON array of strings such as ["/hooks/poweroff"]`);
        } else fence = { type: "command", command: cmd as string[], timeoutMs: fenceTimeoutMs };
    }

    const unhealthyAfterMs = duration("unhealthy-after", 60_000, 1000);
    const leaseDurationMs = duration("lease-duration", 15_000, 1000);
    const renewDeadlineMs = duration("renew-deadline", 10_000, 1000);
    const retryPeriodMs = duration("retry-period", 2_000, 100);
    const heartbeatIntervalMs = duration("heartbeat-interval", 10_000, 100);
    if (renewDeadlineMs >= leaseDurationMs)
        problems.push(
            `--renew-deadline (${renewDeadlineMs} ms) must be shorter than --lease-duration (${leaseDurationMs} ms), so a leader stops before another may start`,
        );
    if (retryPeriodMs >= renewDeadlineMs) problems.push(`--retry-period (${retryPeriodMs} ms) must be shorter than --renew-deadline (${renewDeadlineMs} ms)`);
    if (heartbeatIntervalMs * 3 > unhealthyAfterMs)
        problems.push(
            `--heartbeat-interval (${heartbeatIntervalMs} ms) must be at most a third of --unhealthy-after (${unhealthyAfterMs} ms), or a live node could look dead`,
        );

    const config: Config = {
        kubeconfig: get("kubeconfig"),
        context: get("context"),
        namespace: get("namespace") ?? (env.POD_NAMESPACE || undefined),
        nodeName: get("node-name"),
        identity: get("identity") ?? `${os.hostname()}_${process.pid}`,
        leaseName: get("lease-name") ?? "liberator",
        leaseDurationMs,
        renewDeadlineMs,
        retryPeriodMs,
        heartbeatIntervalMs,
        metricsHost: am ? am[1] : "0.0.0.0",
        metricsPort: am ? Number(am[2]) : 8080,
        logLevel,
        fence,
        decide: {
            mode,
            unhealthyAfterMs,
            maxUnhealthy,
            dryRun: bool("dry-run"),
            optOutLabel,
            forceDeletePods: bool("force-delete-pods"),
            releaseLocalVolumes: bool("release-local-volumes"),
            fence: fence !== undefined,
            fenceRetryMs: duration("fence-retry", 30_000),
            podRecheckMs: duration("pod-recheck", 30_000),
            stormWindowMs: duration("storm-window", 600_000, 0),
            orphanedVolumes,
            orphanedVolumeGraceMs: duration("orphaned-volume-grace", 600_000, 0),
        },
    };
    if (problems.length > 0) throw new ConfigError(problems);
    return config;
}
