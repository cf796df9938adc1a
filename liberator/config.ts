/**
 * The controller's settings, from command-line flags or LIBERATOR_* environment variables (the
 * component sets the variables; flags win). Every value is checked; a bad one stops the start.
 */
import * as os from "os";
import { DEFAULTS, FENCE_TOKEN_ENV, LIMITS, POD_ENV } from "./contract";
import { DecideConfig, DEFAULT_DECIDE_CONFIG, Mode, OrphanedVolumes } from "./decide";
import { FenceConfig, fenceConfigProblems } from "./fence";
import { ConfigError, Option, Reader, usage as usageOf } from "./flags";
import { Level } from "./metrics";

export { ConfigError };

export interface Config {
    kubeconfig?: string;
    context?: string;
    /** Namespace of the leader Lease and the heartbeat Leases. */
    namespace?: string;
    identity: string;
    leaseName: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
    /** Label selector of the agent pods in the namespace (to clean up Leases whose agent is gone). */
    agentSelector?: string;
    /** A heartbeat Lease whose agent pod is gone is deleted after this long. */
    orphanedHeartbeatMs: number;
    metricsHost: string;
    metricsPort: number;
    logLevel: Level;
    fence?: FenceConfig;
    decide: DecideConfig;
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
    { flag: "identity", env: "POD_NAME", help: "leader-election identity (default: hostname_pid)" },
    { flag: "mode", env: "LIBERATOR_MODE", help: "outOfServiceTaint (default) or deleteNode" },
    {
        flag: "unhealthy-after",
        env: "LIBERATOR_UNHEALTHY_AFTER",
        help: "extra wait after the control plane marks a node not Ready, on top of its grace period (default 0s)",
    },
    { flag: "max-unhealthy", env: "LIBERATOR_MAX_UNHEALTHY", help: "most unhealthy nodes at which the liberator still acts: a count or N% (default 1)" },
    {
        flag: "storm-cooldown",
        env: "LIBERATOR_STORM_COOLDOWN",
        help: `after a storm ends, remediate nothing for this long (default ${DEFAULTS.stormCooldownSeconds}s)`,
    },
    { flag: "margin", env: "LIBERATOR_MARGIN", help: `added to an agent's self-fence + execution time before a claim (default ${DEFAULTS.marginSeconds}s)` },
    { flag: "settle", env: "LIBERATOR_SETTLE", help: `quorum must have held this long before a claim (default ${DEFAULTS.settleSeconds}s)` },
    {
        flag: "renew-interval",
        env: "LIBERATOR_RENEW_INTERVAL",
        help: `the agents' heartbeat interval, for agents that do not advertise theirs (default ${DEFAULTS.renewIntervalSeconds}s)`,
    },
    {
        flag: "unsafe-no-fencing",
        env: "LIBERATOR_UNSAFE_NO_FENCING",
        help: "UNSAFE: remediate nodes that nothing fences (no armed agent, no hook); two copies of a pod may run",
        boolean: true,
    },
    {
        flag: "remediate-control-plane",
        env: "LIBERATOR_REMEDIATE_CONTROL_PLANE",
        help: "also remediate control-plane nodes, one at a time, while more than half of them are Ready",
        boolean: true,
    },
    { flag: "dry-run", env: "LIBERATOR_DRY_RUN", help: "only report what would be done", boolean: true },
    {
        flag: "opt-out-label",
        env: "LIBERATOR_OPT_OUT_LABEL",
        help: `nodes carrying this label are never remediated (default ${DEFAULT_DECIDE_CONFIG.optOutLabel})`,
    },
    {
        flag: "force-delete-pods",
        env: "LIBERATOR_FORCE_DELETE_PODS",
        help: "force-delete the node's StatefulSet pods once it is fenced and tainted (default true)",
    },
    {
        flag: "release-local-volumes",
        env: "LIBERATOR_RELEASE_LOCAL_VOLUMES",
        help: "after remediation, delete PVCs on the node's local volumes for StatefulSets that opted in",
        boolean: true,
    },
    {
        flag: "orphaned-volumes",
        env: "LIBERATOR_ORPHANED_VOLUMES",
        help: "PVs pinned to deleted nodes: ignore, report (default) or delete (Delete policy only)",
    },
    { flag: "orphaned-volume-grace", env: "LIBERATOR_ORPHANED_VOLUME_GRACE", help: "how long a PV must stay orphaned before deletion (default 10m)" },
    { flag: "storm-window", env: "LIBERATOR_STORM_WINDOW", help: "deleteNode mode: how long a deleted node still counts as unhealthy (default 10m)" },
    { flag: "pod-recheck", env: "LIBERATOR_POD_RECHECK", help: "how often a remediated node's pods are listed again while some remain (default 5s)" },
    { flag: "agent-selector", env: "LIBERATOR_AGENT_SELECTOR", help: "label selector of the agent pods; Leases of agents that are gone are deleted" },
    {
        flag: "orphaned-heartbeat-grace",
        env: "LIBERATOR_ORPHANED_HEARTBEAT_GRACE",
        help: `delete a heartbeat Lease this long after its agent pod is gone (default ${DEFAULTS.orphanedHeartbeatSeconds}s)`,
    },
    { flag: "fence-url", env: "LIBERATOR_FENCE_URL", help: "fence hook URL ({node} is replaced); must answer 2xx before the taint" },
    { flag: "fence-method", env: "LIBERATOR_FENCE_METHOD", help: "fence hook HTTP method (default POST)" },
    { flag: "fence-ca-file", env: "LIBERATOR_FENCE_CA_FILE", help: "CA bundle (PEM) to verify an https:// fence hook" },
    {
        flag: "fence-command",
        env: "LIBERATOR_FENCE_COMMAND",
        help: 'fence hook command as a JSON array, e.g. ["/hooks/poweroff"]; the node name is appended; must exit 0',
    },
    { flag: "fence-timeout", env: "LIBERATOR_FENCE_TIMEOUT", help: "overall deadline of one fence hook run; then it is killed (default 30s)" },
    { flag: "fence-retry", env: "LIBERATOR_FENCE_RETRY", help: "wait after a failed fence before retrying (default 30s)" },
    { flag: "lease-name", env: "LIBERATOR_LEASE_NAME", help: "leader-election Lease name (default liberator)" },
    { flag: "lease-duration", env: "LIBERATOR_LEASE_DURATION", help: "leader Lease duration (default 15s)" },
    { flag: "renew-deadline", env: "LIBERATOR_RENEW_DEADLINE", help: "leader stops acting when it could not renew for this long (default 10s)" },
    { flag: "retry-period", env: "LIBERATOR_RETRY_PERIOD", help: "leader-election retry period (default 2s)" },
    { flag: "metrics-address", env: "LIBERATOR_METRICS_ADDRESS", help: "host:port for /metrics, /healthz, /livez (default 0.0.0.0:8080; port 0 picks one)" },
    { flag: "log-level", env: "LIBERATOR_LOG_LEVEL", help: "debug, info (default), warn or error" },
];

export function usage(): string {
    return usageOf("main.js", OPTIONS);
}

export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
    const r = new Reader(argv, OPTIONS, env);
    const problems = r.problems;
    const mode = r.choice<Mode>("mode", ["outOfServiceTaint", "deleteNode"], "outOfServiceTaint");

    const rawMax = r.get("max-unhealthy") ?? "1";
    let maxUnhealthy: number | string = 1;
    if (/^\d+$/.test(rawMax)) maxUnhealthy = Number(rawMax);
    else if (/^\d{1,3}%$/.test(rawMax) && Number(rawMax.slice(0, -1)) <= 100) maxUnhealthy = rawMax;
    else problems.push(`--max-unhealthy = ${JSON.stringify(rawMax)} is invalid: must be a whole number >= 0 or a percentage such as "34%"`);

    const orphanedVolumes = r.choice<OrphanedVolumes>("orphaned-volumes", ["ignore", "report", "delete"], "report");
    const optOutLabel = r.get("opt-out-label") ?? DEFAULT_DECIDE_CONFIG.optOutLabel;
    if (!LABEL_KEY.test(optOutLabel)) problems.push(`--opt-out-label = ${JSON.stringify(optOutLabel)} is invalid: must be a label key`);
    const logLevel = r.choice<Level>("log-level", ["debug", "info", "warn", "error"], "info");
    const metrics = r.address("metrics-address", "0.0.0.0:8080");

    let fence: FenceConfig | undefined;
    const fenceTimeoutMs = r.duration("fence-timeout", 30_000, 1000, 600_000);
    const fenceUrl = r.get("fence-url");
    const fenceCommand = r.get("fence-command");
    if (fenceUrl && fenceCommand) problems.push("--fence-url and --fence-command are exclusive: configure one fence hook");
    else if (fenceUrl) {
        const method = (r.get("fence-method") ?? "POST").toUpperCase();
        if (!/^https?:\/\/[^\s]+$/.test(fenceUrl)) problems.push(`--fence-url = ${JSON.stringify(fenceUrl)} is invalid: must be an http:// or https:// URL`);
        if (!["POST", "PUT", "GET"].includes(method)) problems.push(`--fence-method = ${JSON.stringify(method)} is invalid: must be POST, PUT or GET`);
        fence = {
            type: "http",
            url: fenceUrl,
            method,
            timeoutMs: fenceTimeoutMs,
            token: env[FENCE_TOKEN_ENV] || undefined,
            caFile: r.get("fence-ca-file"),
        };
        problems.push(...fenceConfigProblems(fence));
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
    } else if (r.get("fence-ca-file")) problems.push("--fence-ca-file is set without --fence-url");

    const s = (x: readonly [number, number]) => [x[0] * 1000, x[1] * 1000] as const;
    const marginMs = r.duration("margin", DEFAULTS.marginSeconds * 1000, ...s(LIMITS.marginSeconds));
    const settleMs = r.duration("settle", DEFAULTS.settleSeconds * 1000, ...s(LIMITS.settleSeconds));
    const renewIntervalMs = r.duration("renew-interval", DEFAULTS.renewIntervalSeconds * 1000, ...s(LIMITS.renewIntervalSeconds));
    // The settle period is stretched per agent to cover its advertised T_exec (decide.ts); the
    // component checks the configured combination (contract.timingProblems).
    const leaseDurationMs = r.duration("lease-duration", DEFAULTS.leaseDurationSeconds * 1000, 1000);
    const renewDeadlineMs = r.duration("renew-deadline", DEFAULTS.renewDeadlineSeconds * 1000, 1000);
    const retryPeriodMs = r.duration("retry-period", DEFAULTS.retryPeriodSeconds * 1000, 100);
    if (renewDeadlineMs >= leaseDurationMs)
        problems.push(
            `--renew-deadline (${renewDeadlineMs} ms) must be shorter than --lease-duration (${leaseDurationMs} ms), so a leader stops before another may start`,
        );
    if (retryPeriodMs >= renewDeadlineMs) problems.push(`--retry-period (${retryPeriodMs} ms) must be shorter than --renew-deadline (${renewDeadlineMs} ms)`);

    const config: Config = {
        kubeconfig: r.get("kubeconfig"),
        context: r.get("context"),
        namespace: r.get("namespace") ?? (env[POD_ENV.namespace] || undefined),
        identity: r.get("identity") ?? `${os.hostname()}_${process.pid}`,
        leaseName: r.get("lease-name") ?? "liberator",
        leaseDurationMs,
        renewDeadlineMs,
        retryPeriodMs,
        agentSelector: r.get("agent-selector"),
        orphanedHeartbeatMs: r.duration("orphaned-heartbeat-grace", DEFAULTS.orphanedHeartbeatSeconds * 1000, 0),
        metricsHost: metrics.host,
        metricsPort: metrics.port,
        logLevel,
        fence,
        decide: {
            mode,
            unhealthyAfterMs: r.duration("unhealthy-after", DEFAULTS.unhealthyAfterSeconds * 1000, 0, 86_400_000),
            maxUnhealthy,
            dryRun: r.bool("dry-run"),
            optOutLabel,
            forceDeletePods: r.bool("force-delete-pods", true),
            releaseLocalVolumes: r.bool("release-local-volumes"),
            fence: fence !== undefined,
            fenceRetryMs: r.duration("fence-retry", 30_000),
            podRecheckMs: r.duration("pod-recheck", DEFAULT_DECIDE_CONFIG.podRecheckMs),
            stormWindowMs: r.duration("storm-window", 600_000, 0),
            stormCooldownMs: r.duration("storm-cooldown", DEFAULTS.stormCooldownSeconds * 1000, 0),
            orphanedVolumes,
            orphanedVolumeGraceMs: r.duration("orphaned-volume-grace", 600_000, 0),
            marginMs,
            settleMs,
            unsafeNoFencing: r.bool("unsafe-no-fencing"),
            remediateControlPlane: r.bool("remediate-control-plane"),
            renewIntervalMs,
        },
    };
    if (problems.length > 0) throw new ConfigError(problems);
    return config;
}
