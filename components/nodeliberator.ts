import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import {
    ANN,
    DEFAULT_OPT_OUT_LABEL,
    DEFAULTS,
    HEARTBEAT_PREFIX,
    LIMITS,
    TOKEN_NODE_NAME_EXTRA,
    TOKEN_NODE_UID_EXTRA,
    timingProblems,
} from "../liberator/contract";
import { GeneratedPassword } from "./generatedpassword";
import * as v from "./validation";

/**
 * The NodeLiberator frees a dead node's StatefulSet pods so they start elsewhere, and never lets
 * two copies of one ordinal run: a per-node agent (DaemonSet) renews a heartbeat and fences its
 * own node when it is cut off from the API server (kubelet killed, StatefulSet sandboxes stopped
 * through the CRI); a controller (Deployment, two replicas, leader-elected) claims a node only
 * once its agent must have fenced it, then taints it out-of-service and force-deletes its pods.
 * Both run this package's own code (../liberator) from a ConfigMap on an official Node.js image.
 */

export type LiberatorMode = "outOfServiceTaint" | "deleteNode";
export type OrphanedVolumesPolicy = "ignore" | "report" | "delete";

/** The official Node.js image, pinned to a release so every node runs the same runtime. */
export const DEFAULT_LIBERATOR_IMAGE = "node:22.12.0-alpine";
export const DEFAULT_LIBERATOR_NAMESPACE = "tkr-system";
/** The controller's ServiceAccount (the only holder of write verbs); the agents' is `<this>-agent`. */
export const DEFAULT_LIBERATOR_SERVICE_ACCOUNT = "high-availability";
/** Nodes carrying this label are never remediated. Same value as the controller's default. */
export const DEFAULT_LIBERATOR_OPT_OUT_LABEL = DEFAULT_OPT_OUT_LABEL;
/** Put on a StatefulSet (label or annotation) with the value "delete-pvc" to opt in to losing a dead node's local volume. */
export const LIBERATOR_LOCAL_VOLUME_POLICY_KEY = ANN.localVolumePolicy;
/** Where the ConfigMap with the code is mounted. */
export const LIBERATOR_CODE_PATH = "/opt/liberator";
/** Where the agents' peer key is mounted. */
export const LIBERATOR_PEER_KEY_PATH = "/etc/liberator/peer-key";
/** A ConfigMap holds at most 1 MiB, keys and metadata included. */
export const MAX_CONFIGMAP_DATA_BYTES = 1_000_000;
/** The controller: measured about 50 MiB resident on Node 22 watching 50 nodes. */
export const DEFAULT_LIBERATOR_RESOURCES = { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } };
/** The agent: about 13 MiB of its own (anonymous) memory; the rest of its RSS is the node binary's shared, reclaimable text. */
export const DEFAULT_AGENT_RESOURCES = { requests: { cpu: "5m", memory: "48Mi" }, limits: { memory: "96Mi" } };
/** The official node image's unprivileged user (the controller). */
export const NODE_IMAGE_UID = 1000;
/** Node flags: small heaps; the agent also runs without a JIT (fewer code pages resident). */
export const CONTROLLER_NODE_FLAGS = ["--jitless", "--max-old-space-size=48", "--max-semi-space-size=2"];
export const AGENT_NODE_FLAGS = ["--jitless", "--max-old-space-size=24", "--max-semi-space-size=1"];

/** An HTTP fence hook: a 2xx answer means the node is off. */
export interface HttpFenceArgs {
    /** URL to call; `{node}` is replaced with the node name. A token requires https://. */
    url: string;
    /** @default "POST" */
    method?: "POST" | "PUT" | "GET";
    /** A Secret key whose value is sent as `Authorization: Bearer <value>` (https only). @default none */
    tokenSecret?: { name: pulumi.Input<string>; key: pulumi.Input<string> };
    /** A ConfigMap key holding the PEM CA bundle that verifies the hook's server. @default the image's system CAs */
    caConfigMap?: { name: pulumi.Input<string>; key: pulumi.Input<string> };
    /** Overall deadline of one run: connect, answer and body. @default 30 */
    timeoutSeconds?: number;
    /** Seconds to wait after a failed fence before trying again. @default 30 */
    retrySeconds?: number;
}

/** A command fence hook: exit code 0 means the node is off. It runs in the controller container. */
export interface CommandFenceArgs {
    /** Program and arguments; the node name is appended and also in $NODE_NAME. Mount scripts with `extraVolumes`. */
    command: string[];
    /** Overall deadline; then the hook's whole process group gets SIGKILL. @default 30 */
    timeoutSeconds?: number;
    /** @default 30 */
    retrySeconds?: number;
}

/** The agents' self-fence. */
export interface SelfFenceArgs {
    /** Arm the agents. Off: they only renew their heartbeat, and their nodes are reported unprotected (never remediated without a fence hook or unsafeNoFencing). @default true */
    enabled?: boolean;
    /** T_sf: an agent that could not renew its heartbeat for this long fences its node. @default 30 */
    timeoutSeconds?: number;
    /** T_exec: the fence (kubelet killed, StatefulSet sandboxes stopped) completes within this. @default 10 */
    execSeconds?: number;
    /** Added by the controller to T_sf + T_exec before it claims a node (clock rate, scheduling, the peer round). @default 5 */
    marginSeconds?: number;
    /** Quorum (half of the participating nodes with fresh heartbeats) must hold this long before a claim. @default 20 */
    settleSeconds?: number;
    /** The container runtime's CRI socket on the nodes. @default "/run/containerd/containerd.sock" */
    criSocket?: string;
    /** The kubelet's process name (/proc/<pid>/comm). @default "kubelet" */
    kubeletProcessName?: string;
    /** The agents' peer and metrics port on each node's network. @default 9465 */
    peerPort?: number;
    /** A watchdog device to pet while healthy; needs a privileged agent container. Untested on hardware. @default none */
    watchdog?: { device: string; timeoutSeconds?: number };
}

export interface NodeLiberatorArgs {
    /** Namespace of everything the liberator creates and of its Leases. @default "tkr-system" */
    namespace?: string;
    /** Create the namespace (Pod Security level `privileged`: the agent needs hostPID, hostNetwork and the CRI socket). @default true */
    createNamespace?: boolean;
    /** The controller's ServiceAccount; the agents' is `<this>-agent`. @default "high-availability" */
    serviceAccountName?: string;
    /** "outOfServiceTaint" (remove the taint when the node is Ready again) or "deleteNode". @default "outOfServiceTaint" */
    mode?: LiberatorMode;
    /** Extra wait after the control plane marks a node not Ready (its grace period, 50 s in 1.34, comes first). @default 0 */
    unhealthyAfterSeconds?: number;
    /** Most nodes that may be unhealthy at once for the liberator to act: a count or a percentage such as "34%". @default 1 */
    maxUnhealthy?: number | string;
    /** After more nodes than maxUnhealthy were unhealthy, wait this long once the count drops before remediating anything. @default 60 */
    stormCooldownSeconds?: number;
    /** Only report (logs, Events, metrics); no write verbs beyond leader election. @default false */
    dryRun?: boolean;
    /** Nodes carrying this label (any value) are never remediated. @default "liberator.pets/exclude" */
    optOutLabel?: string;
    /** Force-delete (grace period 0) a fenced node's StatefulSet pods right after the taint, instead of waiting for the pod garbage collector (up to 20 s more). @default true */
    forceDeletePods?: boolean;
    /**
     * Honour `liberator.pets/local-volume-policy: delete-pvc` on StatefulSets: once a node is fenced
     * and remediated, delete its pods' PVCs whose volume lives on it (and the Pending replacement
     * that still names them), so the replacement gets fresh storage elsewhere. @default false
     */
    releaseLocalVolumes?: boolean;
    /** PVs pinned to nodes that no longer exist: "ignore", "report" or "delete" (Delete reclaim policy only; Retain PVs are never deleted). @default "report" */
    orphanedVolumes?: OrphanedVolumesPolicy;
    /** @default 600 */
    orphanedVolumeGraceSeconds?: number;
    /** deleteNode mode: seconds a deleted node still counts against maxUnhealthy. @default 600 */
    stormWindowSeconds?: number;
    /** H: seconds between the agents' heartbeat renewals; at most a third of the self-fence timeout. @default 5 */
    heartbeatIntervalSeconds?: number;
    /** The agents' self-fence (default: armed). */
    selfFence?: SelfFenceArgs;
    /** An external fence (power off through a PDU, BMC, hypervisor) run after the claim and before the taint; for nodes without an armed agent it is the fence. @default none */
    fence?: HttpFenceArgs | CommandFenceArgs;
    /** UNSAFE: remediate nodes nothing fences (no armed agent, no hook) — the old behaviour; a node that is only cut off may then run its pods twice. Logs and emits a Warning Event at start. @default false */
    unsafeNoFencing?: boolean;
    /** Also remediate control-plane nodes (clusters where every node is one), one at a time, while more than half of them are Ready. @default false */
    remediateControlPlane?: boolean;
    /** Controller replicas (leader-elected). @default 2 */
    controllerReplicas?: number;
    /** An existing Secret (key `key`) with the agents' peer HMAC key, e.g. for render mode. @default one is generated */
    peerKeySecret?: string;
    /** Controller leader election. @default { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 } */
    leaderElection?: { leaseDurationSeconds?: number; renewDeadlineSeconds?: number; retryPeriodSeconds?: number };
    /** Node.js image that runs the code from the ConfigMap, or your own image when `codeSource` is "image". @default "node:22.12.0-alpine" */
    image?: pulumi.Input<string>;
    /** @default "IfNotPresent" */
    imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
    /** "configMap": the compiled code ships in a ConfigMap. "image": the image has it in /opt/liberator (see liberator/Dockerfile). @default "configMap" */
    codeSource?: "configMap" | "image";
    /** The controller's. @default { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } } */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** The agent's. @default { requests: { cpu: "5m", memory: "48Mi" }, limits: { memory: "96Mi" } } */
    agentResources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** The controller's priority class. @default none */
    priorityClassName?: pulumi.Input<string>;
    /** The agent's, e.g. "system-node-critical", so it survives node pressure. @default none */
    agentPriorityClassName?: pulumi.Input<string>;
    /** The agent's: every node needs one. @default [{ operator: "Exists" }] */
    tolerations?: pulumi.Input<k8s.types.input.core.v1.Toleration>[];
    /** The agent's: nodes without an agent are never remediated (reported unprotected). @default none */
    nodeSelector?: Record<string, string>;
    /** The controller's /metrics, /healthz and /livez. @default 8080 */
    metricsPort?: number;
    /** @default "info" */
    logLevel?: "debug" | "info" | "warn" | "error";
    /** Extra volumes of the controller pod (a fence script, say). @default [] */
    extraVolumes?: pulumi.Input<k8s.types.input.core.v1.Volume>[];
    /** @default [] */
    extraVolumeMounts?: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[];
    /** Labels added to every object. @default {} */
    labels?: Record<string, string>;
}

export type ResolvedFence =
    | {
          type: "http";
          url: string;
          method: string;
          timeoutSeconds: number;
          retrySeconds: number;
          tokenSecret?: HttpFenceArgs["tokenSecret"];
          caConfigMap?: HttpFenceArgs["caConfigMap"];
      }
    | { type: "command"; command: string[]; timeoutSeconds: number; retrySeconds: number };

/** The args with every default applied; produced by `resolveNodeLiberatorArgs`. */
export interface ResolvedNodeLiberator {
    name: string;
    namespace: string;
    createNamespace: boolean;
    serviceAccountName: string;
    agentServiceAccountName: string;
    clusterRoleName: string;
    leaseName: string;
    controllerName: string;
    policyName: string;
    peerKeySecretName: string;
    generatePeerKey: boolean;
    mode: LiberatorMode;
    unhealthyAfterSeconds: number;
    maxUnhealthy: number | string;
    stormCooldownSeconds: number;
    dryRun: boolean;
    optOutLabel: string;
    forceDeletePods: boolean;
    releaseLocalVolumes: boolean;
    orphanedVolumes: OrphanedVolumesPolicy;
    orphanedVolumeGraceSeconds: number;
    stormWindowSeconds: number;
    heartbeatIntervalSeconds: number;
    selfFence: {
        enabled: boolean;
        timeoutSeconds: number;
        execSeconds: number;
        marginSeconds: number;
        settleSeconds: number;
        criSocket: string;
        kubeletProcessName: string;
        peerPort: number;
        watchdog?: { device: string; timeoutSeconds?: number };
    };
    fence?: ResolvedFence;
    unsafeNoFencing: boolean;
    remediateControlPlane: boolean;
    controllerReplicas: number;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
    codeSource: "configMap" | "image";
    imagePullPolicy: "Always" | "IfNotPresent" | "Never";
    metricsPort: number;
    logLevel: "debug" | "info" | "warn" | "error";
    labels: Record<string, string>;
}

const isBool = (x: unknown) => x === undefined || typeof x === "boolean";

/**
 * Applies defaults and validates every plain argument. Throws a ValidationError listing every
 * invalid field before any resource exists.
 */
export function resolveNodeLiberatorArgs(name: string, args: NodeLiberatorArgs = {}, context = `NodeLiberator "${name}"`): ResolvedNodeLiberator {
    const val = new v.Validator(context);
    args = args ?? {};
    val.check("name", name, v.dns1123Label(name, 40));
    const namespace = args.namespace ?? DEFAULT_LIBERATOR_NAMESPACE;
    val.check("namespace", namespace, v.dns1123Label(namespace));
    const serviceAccountName = args.serviceAccountName ?? DEFAULT_LIBERATOR_SERVICE_ACCOUNT;
    val.check("serviceAccountName", serviceAccountName, v.dns1123Label(serviceAccountName, 57));
    const mode = args.mode ?? "outOfServiceTaint";
    val.check("mode", mode, v.oneOf(mode, ["outOfServiceTaint", "deleteNode"]));

    const unhealthyAfterSeconds = args.unhealthyAfterSeconds ?? DEFAULTS.unhealthyAfterSeconds;
    val.check("unhealthyAfterSeconds", unhealthyAfterSeconds, v.wholeNumber(unhealthyAfterSeconds, 0, 86_400));
    const maxUnhealthy = args.maxUnhealthy ?? 1;
    val.check("maxUnhealthy", maxUnhealthy, v.intOrPercent(maxUnhealthy, 0));
    const stormCooldownSeconds = args.stormCooldownSeconds ?? DEFAULTS.stormCooldownSeconds;
    val.check("stormCooldownSeconds", stormCooldownSeconds, v.wholeNumber(stormCooldownSeconds, 0, 86_400));
    const optOutLabel = args.optOutLabel ?? DEFAULT_LIBERATOR_OPT_OUT_LABEL;
    val.check("optOutLabel", optOutLabel, v.labelKey(optOutLabel));
    const orphanedVolumes = args.orphanedVolumes ?? "report";
    val.check("orphanedVolumes", orphanedVolumes, v.oneOf(orphanedVolumes, ["ignore", "report", "delete"]));
    const orphanedVolumeGraceSeconds = args.orphanedVolumeGraceSeconds ?? 600;
    val.check("orphanedVolumeGraceSeconds", orphanedVolumeGraceSeconds, v.wholeNumber(orphanedVolumeGraceSeconds, 0));
    const stormWindowSeconds = args.stormWindowSeconds ?? 600;
    val.check("stormWindowSeconds", stormWindowSeconds, v.wholeNumber(stormWindowSeconds, 0));
    for (const flag of ["dryRun", "forceDeletePods", "releaseLocalVolumes", "createNamespace", "unsafeNoFencing", "remediateControlPlane"] as const) {
        if (!isBool(args[flag])) val.fail(flag, args[flag], "must be true or false");
    }
    const controllerReplicas = args.controllerReplicas ?? DEFAULTS.controllerReplicas;
    val.check("controllerReplicas", controllerReplicas, v.wholeNumber(controllerReplicas, 1, 5));

    // The self-fence and its timing rules (the same module the agent and the controller check with).
    const sf = args.selfFence ?? {};
    if (typeof sf !== "object" || sf === null || Array.isArray(sf)) val.fail("selfFence", sf, "must be an object such as { timeoutSeconds: 30 }");
    const known = ["enabled", "timeoutSeconds", "execSeconds", "marginSeconds", "settleSeconds", "criSocket", "kubeletProcessName", "peerPort", "watchdog"];
    for (const k of Object.keys(sf ?? {}))
        if (!known.includes(k))
            val.fail(`selfFence.${k}`, (sf as Record<string, unknown>)[k], `is not a known setting; known settings are ${known.join(", ")}`);
    const heartbeatIntervalSeconds = args.heartbeatIntervalSeconds ?? DEFAULTS.renewIntervalSeconds;
    const timing = {
        renewIntervalSeconds: heartbeatIntervalSeconds,
        selfFenceSeconds: sf.timeoutSeconds ?? DEFAULTS.selfFenceSeconds,
        fenceExecSeconds: sf.execSeconds ?? DEFAULTS.fenceExecSeconds,
        marginSeconds: sf.marginSeconds ?? DEFAULTS.marginSeconds,
        settleSeconds: sf.settleSeconds ?? DEFAULTS.settleSeconds,
    };
    const okTiming = [
        val.check("heartbeatIntervalSeconds", timing.renewIntervalSeconds, v.wholeNumber(timing.renewIntervalSeconds, ...LIMITS.renewIntervalSeconds)),
        val.check("selfFence.timeoutSeconds", timing.selfFenceSeconds, v.wholeNumber(timing.selfFenceSeconds, ...LIMITS.selfFenceSeconds)),
        val.check("selfFence.execSeconds", timing.fenceExecSeconds, v.wholeNumber(timing.fenceExecSeconds, ...LIMITS.fenceExecSeconds)),
        val.check("selfFence.marginSeconds", timing.marginSeconds, v.wholeNumber(timing.marginSeconds, ...LIMITS.marginSeconds)),
        val.check("selfFence.settleSeconds", timing.settleSeconds, v.wholeNumber(timing.settleSeconds, ...LIMITS.settleSeconds)),
    ].every(Boolean);
    if (okTiming) {
        for (const p of timingProblems(timing))
            val.fail(p.field === "renewIntervalSeconds" ? "heartbeatIntervalSeconds" : `selfFence.${p.field}`, p.value, p.expected);
    }
    if (!isBool(sf.enabled)) val.fail("selfFence.enabled", sf.enabled, "must be true or false");
    const criSocket = sf.criSocket ?? DEFAULTS.criSocket;
    val.check("selfFence.criSocket", criSocket, v.absolutePath(criSocket));
    const kubeletProcessName = sf.kubeletProcessName ?? DEFAULTS.kubeletProcessName;
    if (typeof kubeletProcessName !== "string" || !/^[^/\s]{1,64}$/.test(kubeletProcessName))
        val.fail("selfFence.kubeletProcessName", kubeletProcessName, 'must be a process name such as "kubelet"');
    const peerPort = sf.peerPort ?? DEFAULTS.peerPort;
    val.check("selfFence.peerPort", peerPort, v.wholeNumber(peerPort, 1024, 65535));
    let watchdog: ResolvedNodeLiberator["selfFence"]["watchdog"];
    if (sf.watchdog !== undefined) {
        const w = sf.watchdog as Partial<{ device: string; timeoutSeconds: number }>;
        if (val.check("selfFence.watchdog.device", w?.device, v.absolutePath(w?.device))) watchdog = { device: w.device! };
        if (w?.timeoutSeconds !== undefined && val.check("selfFence.watchdog.timeoutSeconds", w.timeoutSeconds, v.wholeNumber(w.timeoutSeconds, 1, 600))) {
            if (okTiming && w.timeoutSeconds >= timing.fenceExecSeconds)
                val.fail(
                    "selfFence.watchdog.timeoutSeconds",
                    w.timeoutSeconds,
                    `must be less than selfFence.execSeconds (${timing.fenceExecSeconds}), or the watchdog resets the node only after the fence deadline`,
                );
            if (watchdog) watchdog.timeoutSeconds = w.timeoutSeconds;
        }
    }
    const unsafeNoFencing = args.unsafeNoFencing ?? false;

    const le = args.leaderElection ?? {};
    const leaseDurationSeconds = le.leaseDurationSeconds ?? DEFAULTS.leaseDurationSeconds;
    const renewDeadlineSeconds = le.renewDeadlineSeconds ?? DEFAULTS.renewDeadlineSeconds;
    const retryPeriodSeconds = le.retryPeriodSeconds ?? DEFAULTS.retryPeriodSeconds;
    const okLease = val.check("leaderElection.leaseDurationSeconds", leaseDurationSeconds, v.wholeNumber(leaseDurationSeconds, 2));
    const okRenew = val.check("leaderElection.renewDeadlineSeconds", renewDeadlineSeconds, v.wholeNumber(renewDeadlineSeconds, 1));
    const okRetry = val.check("leaderElection.retryPeriodSeconds", retryPeriodSeconds, v.wholeNumber(retryPeriodSeconds, 1));
    if (okLease && okRenew && renewDeadlineSeconds >= leaseDurationSeconds) {
        val.fail(
            "leaderElection.renewDeadlineSeconds",
            renewDeadlineSeconds,
            `must be less than leaseDurationSeconds (${leaseDurationSeconds}), so a leader stops acting before another may start`,
        );
    }
    if (okRenew && okRetry && retryPeriodSeconds >= renewDeadlineSeconds) {
        val.fail("leaderElection.retryPeriodSeconds", retryPeriodSeconds, `must be less than renewDeadlineSeconds (${renewDeadlineSeconds})`);
    }

    let fence: ResolvedFence | undefined;
    if (args.fence !== undefined) {
        const f = args.fence as Partial<HttpFenceArgs & CommandFenceArgs>;
        const timeoutSeconds = f.timeoutSeconds ?? 30;
        const retrySeconds = f.retrySeconds ?? 30;
        val.check("fence.timeoutSeconds", timeoutSeconds, v.wholeNumber(timeoutSeconds, 1, 600));
        val.check("fence.retrySeconds", retrySeconds, v.wholeNumber(retrySeconds, 1));
        if ((f.url === undefined) === (f.command === undefined)) {
            val.fail("fence", args.fence, "must have either url (an HTTP hook) or command (a program), not both or neither");
        } else if (f.url !== undefined) {
            if (typeof f.url !== "string" || !/^https?:\/\/[^\s]+$/.test(f.url))
                val.fail("fence.url", f.url, 'must be an http:// or https:// URL such as "https://pdu.example/off/{node}"');
            else if (!f.url.startsWith("https://") && f.tokenSecret)
                val.fail("fence.url", f.url, "must be an https:// URL when fence.tokenSecret is set: a bearer token is never sent in clear text");
            else if (!f.url.startsWith("https://") && f.caConfigMap) val.fail("fence.url", f.url, "must be an https:// URL when fence.caConfigMap is set");
            const method = f.method ?? "POST";
            val.check("fence.method", method, v.oneOf(method, ["POST", "PUT", "GET"]));
            fence = {
                type: "http",
                url: f.url,
                method,
                timeoutSeconds,
                retrySeconds,
                ...(f.tokenSecret ? { tokenSecret: f.tokenSecret } : {}),
                ...(f.caConfigMap ? { caConfigMap: f.caConfigMap } : {}),
            };
        } else {
            const cmd = f.command;
            if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === "string" && c !== "")) {
                val.fail("fence.command", cmd, 'must be a non-empty list of non-empty strings such as ["/hooks/poweroff"]');
            } else val.check("fence.command[0]", cmd[0], v.absolutePath(cmd[0]));
            fence = { type: "command", command: cmd ?? [], timeoutSeconds, retrySeconds };
        }
    }

    const codeSource = args.codeSource ?? "configMap";
    val.check("codeSource", codeSource, v.oneOf(codeSource, ["configMap", "image"]));
    if (v.isKnown(args.image) && args.image !== undefined) val.check("image", args.image, v.image(args.image));
    if (codeSource === "image" && args.image === undefined)
        val.fail("image", args.image, 'must name your liberator image when codeSource is "image" (build one with liberator/Dockerfile)');
    const imagePullPolicy = args.imagePullPolicy ?? "IfNotPresent";
    val.check("imagePullPolicy", imagePullPolicy, v.oneOf(imagePullPolicy, ["Always", "IfNotPresent", "Never"]));
    const metricsPort = args.metricsPort ?? 8080;
    val.check(
        "metricsPort",
        metricsPort,
        v.wholeNumber(metricsPort, 1024, 65535) === undefined ? undefined : "must be a whole number from 1024 to 65535 (the container runs unprivileged)",
    );
    const logLevel = args.logLevel ?? "info";
    val.check("logLevel", logLevel, v.oneOf(logLevel, ["debug", "info", "warn", "error"]));
    if (args.peerKeySecret !== undefined) val.check("peerKeySecret", args.peerKeySecret, v.dns1123Subdomain(args.peerKeySecret));

    const labels = args.labels ?? {};
    v.checkLabels(val, "labels", labels);
    v.checkLabels(val, "nodeSelector", args.nodeSelector);
    for (const reserved of ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"]) {
        if (reserved in labels)
            val.fail(`labels["${reserved}"]`, labels[reserved], "is set by the component (it selects the liberator's pods) and cannot be overridden");
    }

    val.throwIfInvalid();
    return {
        name,
        namespace,
        createNamespace: args.createNamespace ?? true,
        serviceAccountName,
        agentServiceAccountName: `${serviceAccountName}-agent`,
        clusterRoleName: `${namespace}:${name}`,
        leaseName: name,
        controllerName: `${name}-controller`,
        policyName: `${name}-agent-heartbeat.${namespace}.liberator.pets`,
        peerKeySecretName: args.peerKeySecret ?? `${name}-peer-key`,
        generatePeerKey: args.peerKeySecret === undefined,
        mode,
        unhealthyAfterSeconds,
        maxUnhealthy,
        stormCooldownSeconds,
        dryRun: args.dryRun ?? false,
        optOutLabel,
        forceDeletePods: args.forceDeletePods ?? true,
        releaseLocalVolumes: args.releaseLocalVolumes ?? false,
        orphanedVolumes,
        orphanedVolumeGraceSeconds,
        stormWindowSeconds,
        heartbeatIntervalSeconds,
        selfFence: {
            enabled: sf.enabled ?? true,
            timeoutSeconds: timing.selfFenceSeconds,
            execSeconds: timing.fenceExecSeconds,
            marginSeconds: timing.marginSeconds,
            settleSeconds: timing.settleSeconds,
            criSocket,
            kubeletProcessName,
            peerPort,
            ...(watchdog ? { watchdog } : {}),
        },
        fence,
        unsafeNoFencing,
        remediateControlPlane: args.remediateControlPlane ?? false,
        controllerReplicas,
        leaseDurationSeconds,
        renewDeadlineSeconds,
        retryPeriodSeconds,
        codeSource,
        imagePullPolicy,
        metricsPort,
        logLevel,
        labels,
    };
}

export interface RuleOptions {
    dryRun?: boolean;
    forceDeletePods?: boolean;
    releaseLocalVolumes?: boolean;
    orphanedVolumes?: OrphanedVolumesPolicy;
}

/**
 * The controller's cluster-wide permissions: exactly the verbs it uses in this configuration.
 * Nodes are watched; patched (taint mode) or deleted (deleteNode mode). A fenced node's pods are
 * listed (to confirm its StatefulSet pods are gone) and force-deleted; with delete-pvc, PVCs,
 * PVs and StatefulSets are read and the PVC and its Pending replacement pod deleted; PVs are
 * watched only to find orphans. A dry run gets no write verb. The agents hold none of these.
 */
export function clusterRoleRules(mode: LiberatorMode, options: RuleOptions = {}): k8s.types.input.rbac.v1.PolicyRule[] {
    const write = !options.dryRun;
    const orphaned = options.orphanedVolumes ?? "report";
    const forceDelete = options.forceDeletePods ?? true;
    const rules: k8s.types.input.rbac.v1.PolicyRule[] = [
        { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch", ...(write ? [mode === "outOfServiceTaint" ? "patch" : "delete"] : [])] },
    ];
    const podVerbs = [...(options.releaseLocalVolumes ? ["get"] : []), "list", ...(write && (forceDelete || options.releaseLocalVolumes) ? ["delete"] : [])];
    rules.push({ apiGroups: [""], resources: ["pods"], verbs: podVerbs });
    if (options.releaseLocalVolumes) rules.push({ apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["get", ...(write ? ["delete"] : [])] });
    const pvVerbs = [
        ...(options.releaseLocalVolumes ? ["get"] : []),
        ...(orphaned !== "ignore" ? ["list", "watch"] : []),
        ...(orphaned === "delete" && write ? ["delete"] : []),
    ];
    if (pvVerbs.length > 0) rules.push({ apiGroups: [""], resources: ["persistentvolumes"], verbs: pvVerbs });
    if (options.releaseLocalVolumes) rules.push({ apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get"] });
    return rules;
}

/**
 * The controller in its namespace: its leader Lease (create, update) and the agents' heartbeat
 * Leases (watch; claim, mark and release with patch; delete those whose agent is gone), the agent
 * pods (to tell a gone agent), and the Event it writes at start with unsafeNoFencing.
 */
export function leaseRoleRules(options: { dryRun?: boolean } = {}): k8s.types.input.rbac.v1.PolicyRule[] {
    return [
        {
            apiGroups: ["coordination.k8s.io"],
            resources: ["leases"],
            verbs: ["get", "list", "watch", "create", "update", ...(options.dryRun ? [] : ["patch", "delete"])],
        },
        { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
        { apiGroups: [""], resources: ["events"], verbs: ["create"] },
    ];
}

/** The agent in its namespace: its own Lease (the admission policy narrows it to heartbeat.<its node>) and the list of its peers. No watch. */
export function agentLeaseRoleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "create", "update"] }];
}

/** In kube-node-lease: read the kubelets' Leases. */
export function nodeLeaseRoleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["list", "watch"] }];
}

/** In "default", where Events about cluster-scoped objects (Nodes, PVs) must be written. */
export function eventRoleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [{ apiGroups: [""], resources: ["events"], verbs: ["create"] }];
}

/**
 * The ValidatingAdmissionPolicy that narrows the agents' lease writes to their own node: the
 * bound service-account token of a pod carries its node's name (and uid) in userInfo.extra, so an
 * agent — or root on its node holding its token — can write only `heartbeat.<that node>`, only for
 * that node, never over a claim and never a claim of its own.
 */
export function agentPolicySpec(namespace: string, agentServiceAccount: string): k8s.types.input.admissionregistration.v1.ValidatingAdmissionPolicySpec {
    const extra = (k: string) => `request.userInfo.extra[${JSON.stringify(k)}]`;
    const ann = (k: string) => JSON.stringify(k);
    return {
        failurePolicy: "Fail",
        matchConstraints: {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
            resourceRules: [{ apiGroups: ["coordination.k8s.io"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["leases"] }],
        },
        matchConditions: [
            { name: "agent", expression: `request.userInfo.username == ${JSON.stringify(`system:serviceaccount:${namespace}:${agentServiceAccount}`)}` },
        ],
        variables: [
            { name: "node", expression: `${JSON.stringify(TOKEN_NODE_NAME_EXTRA)} in request.userInfo.extra ? ${extra(TOKEN_NODE_NAME_EXTRA)}[0] : ""` },
            { name: "nodeUid", expression: `${JSON.stringify(TOKEN_NODE_UID_EXTRA)} in request.userInfo.extra ? ${extra(TOKEN_NODE_UID_EXTRA)}[0] : ""` },
            { name: "annotations", expression: "has(object.metadata.annotations) ? object.metadata.annotations : {}" },
        ],
        validations: [
            { expression: 'variables.node != ""', message: "an agent must use a service-account token bound to a pod on a node", reason: "Forbidden" },
            {
                expression: `object.metadata.name == ${JSON.stringify(HEARTBEAT_PREFIX)} + variables.node`,
                messageExpression: `"an agent may write only its own node's heartbeat Lease ${HEARTBEAT_PREFIX}" + variables.node`,
                reason: "Forbidden",
            },
            {
                expression: `${ann(ANN.node)} in variables.annotations && variables.annotations[${ann(ANN.node)}] == variables.node`,
                messageExpression: `"the heartbeat Lease must name its node in ${ANN.node}: " + variables.node`,
                reason: "Forbidden",
            },
            {
                expression: `!(${ann(ANN.claimedBy)} in variables.annotations) && !(${ann(ANN.claimPhase)} in variables.annotations)`,
                message: "only the controller claims a heartbeat Lease",
                reason: "Forbidden",
            },
            {
                expression: `oldObject == null || !has(oldObject.metadata.annotations) || !(${ann(ANN.claimedBy)} in oldObject.metadata.annotations)`,
                message: "the heartbeat Lease is claimed by the controller; the agent must not overwrite it",
                reason: "Forbidden",
            },
            {
                expression:
                    '!has(object.metadata.ownerReferences) || object.metadata.ownerReferences.all(o, o.kind == "Node" && o.name == variables.node && (variables.nodeUid == "" || o.uid == variables.nodeUid))',
                message: "a heartbeat Lease may only be owned by its own Node",
                reason: "Forbidden",
            },
        ],
    };
}

/** The controller's environment (its flags as LIBERATOR_* variables), without the pod fields. */
export function controllerEnv(r: ResolvedNodeLiberator, agentSelector?: string): { name: string; value: string }[] {
    const env: Record<string, string> = {
        LIBERATOR_NAMESPACE: r.namespace,
        LIBERATOR_LEASE_NAME: r.leaseName,
        LIBERATOR_MODE: r.mode,
        LIBERATOR_UNHEALTHY_AFTER: `${r.unhealthyAfterSeconds}s`,
        LIBERATOR_MAX_UNHEALTHY: String(r.maxUnhealthy),
        LIBERATOR_STORM_COOLDOWN: `${r.stormCooldownSeconds}s`,
        LIBERATOR_MARGIN: `${r.selfFence.marginSeconds}s`,
        LIBERATOR_SETTLE: `${r.selfFence.settleSeconds}s`,
        LIBERATOR_RENEW_INTERVAL: `${r.heartbeatIntervalSeconds}s`,
        LIBERATOR_UNSAFE_NO_FENCING: String(r.unsafeNoFencing),
        LIBERATOR_REMEDIATE_CONTROL_PLANE: String(r.remediateControlPlane),
        LIBERATOR_DRY_RUN: String(r.dryRun),
        LIBERATOR_OPT_OUT_LABEL: r.optOutLabel,
        LIBERATOR_FORCE_DELETE_PODS: String(r.forceDeletePods),
        LIBERATOR_RELEASE_LOCAL_VOLUMES: String(r.releaseLocalVolumes),
        LIBERATOR_ORPHANED_VOLUMES: r.orphanedVolumes,
        LIBERATOR_ORPHANED_VOLUME_GRACE: `${r.orphanedVolumeGraceSeconds}s`,
        LIBERATOR_STORM_WINDOW: `${r.stormWindowSeconds}s`,
        LIBERATOR_LEASE_DURATION: `${r.leaseDurationSeconds}s`,
        LIBERATOR_RENEW_DEADLINE: `${r.renewDeadlineSeconds}s`,
        LIBERATOR_RETRY_PERIOD: `${r.retryPeriodSeconds}s`,
        LIBERATOR_METRICS_ADDRESS: `0.0.0.0:${r.metricsPort}`,
        LIBERATOR_LOG_LEVEL: r.logLevel,
        ...(agentSelector ? { LIBERATOR_AGENT_SELECTOR: agentSelector } : {}),
    };
    if (r.fence) {
        env.LIBERATOR_FENCE_TIMEOUT = `${r.fence.timeoutSeconds}s`;
        env.LIBERATOR_FENCE_RETRY = `${r.fence.retrySeconds}s`;
        if (r.fence.type === "http") {
            env.LIBERATOR_FENCE_URL = r.fence.url;
            env.LIBERATOR_FENCE_METHOD = r.fence.method;
            if (r.fence.caConfigMap) env.LIBERATOR_FENCE_CA_FILE = FENCE_CA_FILE;
        } else env.LIBERATOR_FENCE_COMMAND = JSON.stringify(r.fence.command);
    }
    return Object.entries(env).map(([name, value]) => ({ name, value }));
}

export const FENCE_CA_FILE = "/etc/liberator/fence-ca/ca.crt";

/** The agent's environment, without the pod fields. */
export function agentEnv(r: ResolvedNodeLiberator): { name: string; value: string }[] {
    const sf = r.selfFence;
    const env: Record<string, string> = {
        LIBERATOR_NAMESPACE: r.namespace,
        LIBERATOR_RENEW_INTERVAL: `${r.heartbeatIntervalSeconds}s`,
        LIBERATOR_SELF_FENCE_TIMEOUT: `${sf.timeoutSeconds}s`,
        LIBERATOR_FENCE_EXEC: `${sf.execSeconds}s`,
        LIBERATOR_SELF_FENCE: String(sf.enabled),
        LIBERATOR_LISTEN_ADDRESS: `0.0.0.0:${sf.peerPort}`,
        LIBERATOR_PEER_KEY_FILE: `${LIBERATOR_PEER_KEY_PATH}/key`,
        LIBERATOR_CRI_SOCKET: sf.criSocket,
        LIBERATOR_KUBELET_NAME: sf.kubeletProcessName,
        LIBERATOR_LOG_LEVEL: r.logLevel,
    };
    if (sf.watchdog) {
        env.LIBERATOR_WATCHDOG_DEVICE = sf.watchdog.device;
        if (sf.watchdog.timeoutSeconds !== undefined) env.LIBERATOR_WATCHDOG_TIMEOUT = `${sf.watchdog.timeoutSeconds}s`;
    }
    return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/** @deprecated the controller's environment; see controllerEnv. */
export const liberatorEnv = controllerEnv;

let codeCache: Record<string, string> | undefined;

/**
 * The liberator's JavaScript, file name → source, for the ConfigMap (controller and agent). From
 * the published package (this file is dist/components/nodeliberator.js) it reads the compiled
 * dist/liberator/*.js; from TypeScript source (ts-node, jest) it compiles liberator/*.ts with the
 * `typescript` package's transpileModule, so the ConfigMap always matches the code beside it.
 */
export function liberatorCode(dir?: string, fromSource?: boolean): Record<string, string> {
    const isDefault = dir === undefined && fromSource === undefined;
    if (isDefault && codeCache) return codeCache;
    const where = dir ?? path.join(__dirname, "..", "liberator");
    const source = fromSource ?? __filename.endsWith(".ts");
    if (!fs.existsSync(where)) {
        throw new Error(
            `NodeLiberator: the controller's code is missing: ${where} does not exist. A package build must contain dist/liberator (package.json "files"), or use codeSource "image".`,
        );
    }
    const ext = source ? ".ts" : ".js";
    const files = fs
        .readdirSync(where)
        .filter((f) => f.endsWith(ext) && !f.endsWith(".d.ts") && !f.endsWith(".test.ts"))
        .sort();
    let ts: typeof import("typescript") | undefined;
    const out: Record<string, string> = {};
    for (const f of files) {
        const text = fs.readFileSync(path.join(where, f), "utf8");
        if (source) {
            // typescript is a devDependency: present wherever the TypeScript sources are.
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when running from source
            ts ??= require("typescript") as typeof import("typescript");
            const js = ts.transpileModule(text, {
                fileName: f,
                compilerOptions: {
                    target: ts.ScriptTarget.ES2022,
                    module: ts.ModuleKind.CommonJS,
                    esModuleInterop: true,
                    removeComments: true,
                    sourceMap: false,
                },
            }).outputText;
            out[f.replace(/\.ts$/, ".js")] = js;
        } else {
            out[f] = text.replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n");
        }
    }
    for (const entry of ["main", "agent"]) if (!(`${entry}.js` in out)) throw new Error(`NodeLiberator: no ${entry}${ext} in ${where}`);
    if (isDefault) codeCache = out;
    return out;
}

/** Bytes the data of a ConfigMap takes (keys and values). */
export function configMapDataBytes(data: Record<string, string>): number {
    return Object.entries(data).reduce((n, [k, val]) => n + Buffer.byteLength(k) + Buffer.byteLength(val), 0);
}

/** Labels that select the agents' pods (the DaemonSet's selector, unchanged since the single-DaemonSet design). */
export function liberatorSelector(name: string): Record<string, string> {
    return { "app.kubernetes.io/name": "liberator", "app.kubernetes.io/instance": name };
}

/** "k=v,k2=v2", as a label selector. */
export function selectorText(labels: Record<string, string>): string {
    return Object.entries(labels)
        .map(([k, val]) => `${k}=${val}`)
        .join(",");
}

/** Labels that select the controller's pods. */
export function controllerSelector(name: string): Record<string, string> {
    return { "app.kubernetes.io/name": "liberator-controller", "app.kubernetes.io/instance": name };
}

/**
 * Namespace, a ServiceAccount and least-privilege RBAC per role, the agents' admission policy, the
 * peer key, the code in a ConfigMap, the agent DaemonSet and the controller Deployment.
 */
export class NodeLiberator extends pulumi.ComponentResource {
    public readonly namespaceResource?: k8s.core.v1.Namespace;
    /** The controller's ServiceAccount. */
    public readonly serviceAccount: k8s.core.v1.ServiceAccount;
    public readonly agentServiceAccount: k8s.core.v1.ServiceAccount;
    public readonly clusterRole: k8s.rbac.v1.ClusterRole;
    public readonly agentPolicy: k8s.admissionregistration.v1.ValidatingAdmissionPolicy;
    public readonly codeConfigMap?: k8s.core.v1.ConfigMap;
    public readonly peerKeySecret?: k8s.core.v1.Secret;
    /** The agents. */
    public readonly daemonSet: k8s.apps.v1.DaemonSet;
    /** The controller. */
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly namespace: pulumi.Output<string>;
    public readonly serviceAccountName: pulumi.Output<string>;
    public readonly agentServiceAccountName: pulumi.Output<string>;
    public readonly daemonSetName: pulumi.Output<string>;
    public readonly deploymentName: pulumi.Output<string>;
    public readonly clusterRoleName: pulumi.Output<string>;
    /** The coordination Lease whose holder is the acting controller replica (`kubectl get lease -n <ns> <name>`). */
    public readonly leaderLeaseName: pulumi.Output<string>;

    constructor(name: string, args: NodeLiberatorArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const context = `NodeLiberator "${name}"`;
        const r = resolveNodeLiberatorArgs(name, args, context);
        super("pets:index:NodeLiberator", name, {}, opts);

        const image = v.checkInput(context, "image", args.image ?? DEFAULT_LIBERATOR_IMAGE, v.image);
        const base = { ...r.labels, "app.kubernetes.io/part-of": "liberator", "app.kubernetes.io/managed-by": "pulumi" };
        const agentLabels = { ...base, ...liberatorSelector(name), "app.kubernetes.io/component": "agent" };
        const controllerLabels = { ...base, ...controllerSelector(name), "app.kubernetes.io/component": "controller" };
        const parent = { parent: this };

        let namespace: pulumi.Output<string> = pulumi.output(r.namespace);
        if (r.createNamespace) {
            this.namespaceResource = new k8s.core.v1.Namespace(
                `${name}-ns`,
                {
                    // The agent needs hostPID, hostNetwork, a hostPath to the CRI socket and runs as
                    // root with CAP_KILL: only the privileged level admits that. The controller's
                    // pod meets the restricted level (tested).
                    metadata: {
                        name: r.namespace,
                        labels: { ...r.labels, "pod-security.kubernetes.io/enforce": "privileged", "app.kubernetes.io/managed-by": "pulumi" },
                    },
                },
                parent,
            );
            namespace = this.namespaceResource.metadata.name;
        }

        this.serviceAccount = new k8s.core.v1.ServiceAccount(
            `${name}-sa`,
            { metadata: { name: r.serviceAccountName, namespace, labels: controllerLabels } },
            parent,
        );
        this.agentServiceAccount = new k8s.core.v1.ServiceAccount(
            `${name}-agent-sa`,
            { metadata: { name: r.agentServiceAccountName, namespace, labels: agentLabels } },
            parent,
        );
        const controllerSubject = { kind: "ServiceAccount", name: this.serviceAccount.metadata.name, namespace };
        const agentSubject = { kind: "ServiceAccount", name: this.agentServiceAccount.metadata.name, namespace };

        this.clusterRole = new k8s.rbac.v1.ClusterRole(
            `${name}-cr`,
            { metadata: { name: r.clusterRoleName, labels: controllerLabels }, rules: clusterRoleRules(r.mode, r) },
            parent,
        );
        const bindings: pulumi.Resource[] = [
            new k8s.rbac.v1.ClusterRoleBinding(
                `${name}-crb`,
                {
                    metadata: { name: r.clusterRoleName, labels: controllerLabels },
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: this.clusterRole.metadata.name },
                    subjects: [controllerSubject],
                },
                parent,
            ),
        ];
        const role = (
            suffix: string,
            ns: pulumi.Input<string>,
            rules: k8s.types.input.rbac.v1.PolicyRule[],
            subject: typeof agentSubject,
            labels: Record<string, string>,
        ) => {
            const roleName = `${name}-${suffix}`;
            const created = new k8s.rbac.v1.Role(roleName, { metadata: { name: roleName, namespace: ns, labels }, rules }, parent);
            bindings.push(
                new k8s.rbac.v1.RoleBinding(
                    roleName,
                    {
                        metadata: { name: roleName, namespace: ns, labels },
                        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: created.metadata.name },
                        subjects: [subject],
                    },
                    parent,
                ),
            );
        };
        role("leases", namespace, leaseRoleRules(r), controllerSubject, controllerLabels);
        role("node-leases", "kube-node-lease", nodeLeaseRoleRules(), controllerSubject, controllerLabels);
        role("events", "default", eventRoleRules(), controllerSubject, controllerLabels);
        role("agent-leases", namespace, agentLeaseRoleRules(), agentSubject, agentLabels);

        this.agentPolicy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            `${name}-agent-policy`,
            { metadata: { name: r.policyName, labels: agentLabels }, spec: agentPolicySpec(r.namespace, r.agentServiceAccountName) },
            parent,
        );
        const policyBinding = new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            `${name}-agent-policy`,
            { metadata: { name: r.policyName, labels: agentLabels }, spec: { policyName: this.agentPolicy.metadata.name, validationActions: ["Deny"] } },
            parent,
        );

        let peerKeySecretName: pulumi.Input<string> = r.peerKeySecretName;
        if (r.generatePeerKey) {
            // Generated once (a CSPRNG, kept as a Pulumi secret); never a literal.
            const key = new GeneratedPassword(`${name}-peer-key`, { length: 64 }, parent);
            this.peerKeySecret = new k8s.core.v1.Secret(
                `${name}-peer-key`,
                { metadata: { name: r.peerKeySecretName, namespace, labels: agentLabels }, type: "Opaque", stringData: { key: key.result } },
                parent,
            );
            peerKeySecretName = this.peerKeySecret.metadata.name;
        }

        const codeVolumes: k8s.types.input.core.v1.Volume[] = [];
        const codeMounts: k8s.types.input.core.v1.VolumeMount[] = [];
        const annotations: Record<string, string> = {};
        let controllerCommand: string[] | undefined;
        if (r.codeSource === "configMap") {
            const data = liberatorCode();
            const bytes = configMapDataBytes(data);
            if (bytes > MAX_CONFIGMAP_DATA_BYTES)
                throw new v.ValidationError(context, [
                    {
                        field: "codeSource",
                        value: "configMap",
                        expected: `needs the code (${bytes} bytes) to fit a ConfigMap (${MAX_CONFIGMAP_DATA_BYTES}); use "image"`,
                    },
                ]);
            this.codeConfigMap = new k8s.core.v1.ConfigMap(`${name}-code`, { metadata: { name: `${name}-code`, namespace, labels: base }, data }, parent);
            codeVolumes.push({ name: "code", configMap: { name: this.codeConfigMap.metadata.name, defaultMode: 0o444 } });
            codeMounts.push({ name: "code", mountPath: LIBERATOR_CODE_PATH, readOnly: true });
            // A new hash rolls the pods when the code changes (the ConfigMap keeps its name).
            annotations[ANN.codeSha256] = crypto
                .createHash("sha256")
                .update(JSON.stringify(Object.entries(data)))
                .digest("hex");
            controllerCommand = ["node", ...CONTROLLER_NODE_FLAGS, `${LIBERATOR_CODE_PATH}/main.js`];
        }
        // Your own image has the code in the same place (liberator/Dockerfile); its entry point is the controller.
        const agentCommand = ["node", ...AGENT_NODE_FLAGS, `${LIBERATOR_CODE_PATH}/agent.js`];
        const podEnv = [
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        ];

        // --- the agents ---------------------------------------------------------------------
        const sf = r.selfFence;
        const agentVolumes: pulumi.Input<k8s.types.input.core.v1.Volume>[] = [
            ...codeVolumes,
            { name: "peer-key", secret: { secretName: peerKeySecretName, defaultMode: 0o400 } },
            { name: "cri-socket", hostPath: { path: sf.criSocket, type: "Socket" } },
        ];
        const agentMounts: k8s.types.input.core.v1.VolumeMount[] = [
            ...codeMounts,
            { name: "peer-key", mountPath: LIBERATOR_PEER_KEY_PATH, readOnly: true },
            { name: "cri-socket", mountPath: sf.criSocket },
        ];
        if (sf.watchdog) {
            agentVolumes.push({ name: "watchdog", hostPath: { path: sf.watchdog.device, type: "CharDevice" } });
            agentMounts.push({ name: "watchdog", mountPath: sf.watchdog.device });
        }
        this.daemonSet = new k8s.apps.v1.DaemonSet(
            name,
            {
                metadata: { name, namespace, labels: agentLabels },
                spec: {
                    selector: { matchLabels: liberatorSelector(name) },
                    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
                    template: {
                        metadata: {
                            labels: agentLabels,
                            annotations: { ...annotations, "prometheus.io/scrape": "true", "prometheus.io/port": String(sf.peerPort) },
                        },
                        spec: {
                            serviceAccountName: this.agentServiceAccount.metadata.name,
                            automountServiceAccountToken: true,
                            // hostPID: the agent finds and kills its node's kubelet; hostNetwork: the
                            // peer check must test the node's network, not the pod network.
                            hostPID: true,
                            hostNetwork: true,
                            dnsPolicy: "ClusterFirstWithHostNet",
                            ...(args.agentPriorityClassName ? { priorityClassName: args.agentPriorityClassName } : {}),
                            tolerations: args.tolerations ?? [{ operator: "Exists" }],
                            ...(args.nodeSelector ? { nodeSelector: args.nodeSelector } : {}),
                            terminationGracePeriodSeconds: 10,
                            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                            containers: [
                                {
                                    name: "agent",
                                    image,
                                    imagePullPolicy: r.imagePullPolicy,
                                    command: agentCommand,
                                    env: [
                                        { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                                        { name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
                                        ...podEnv,
                                        ...agentEnv(r),
                                    ],
                                    ports: [{ name: "peer", containerPort: sf.peerPort, hostPort: sf.peerPort, protocol: "TCP" }],
                                    livenessProbe: {
                                        httpGet: { path: "/livez", port: "peer" },
                                        initialDelaySeconds: 10,
                                        periodSeconds: 20,
                                        failureThreshold: 3,
                                    },
                                    resources: args.agentResources ?? DEFAULT_AGENT_RESOURCES,
                                    securityContext: {
                                        // Root for the root-owned CRI socket; of all capabilities only KILL (the kubelet, and what is left in a fenced pod).
                                        runAsUser: 0,
                                        runAsGroup: 0,
                                        runAsNonRoot: false,
                                        allowPrivilegeEscalation: false,
                                        readOnlyRootFilesystem: true,
                                        capabilities: { drop: ["ALL"], add: ["KILL"] },
                                        // A device node is only writable in a privileged container.
                                        ...(sf.watchdog ? { privileged: true, allowPrivilegeEscalation: true } : {}),
                                    },
                                    volumeMounts: agentMounts,
                                },
                            ],
                            volumes: agentVolumes,
                        },
                    },
                },
            },
            { parent: this, dependsOn: [...bindings, policyBinding] },
        );

        // --- the controller -----------------------------------------------------------------
        const ctlVolumes: pulumi.Input<k8s.types.input.core.v1.Volume>[] = [...(args.extraVolumes ?? []), ...codeVolumes];
        const ctlMounts: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[] = [...(args.extraVolumeMounts ?? []), ...codeMounts];
        const ctlEnv: pulumi.Input<k8s.types.input.core.v1.EnvVar>[] = [...podEnv, ...controllerEnv(r, selectorText(liberatorSelector(name)))];
        if (r.fence?.type === "http" && r.fence.tokenSecret) {
            ctlEnv.push({ name: "LIBERATOR_FENCE_TOKEN", valueFrom: { secretKeyRef: { name: r.fence.tokenSecret.name, key: r.fence.tokenSecret.key } } });
        }
        if (r.fence?.type === "http" && r.fence.caConfigMap) {
            ctlVolumes.push({ name: "fence-ca", configMap: { name: r.fence.caConfigMap.name, items: [{ key: r.fence.caConfigMap.key, path: "ca.crt" }] } });
            ctlMounts.push({ name: "fence-ca", mountPath: path.posix.dirname(FENCE_CA_FILE), readOnly: true });
        }
        this.deployment = new k8s.apps.v1.Deployment(
            r.controllerName,
            {
                metadata: { name: r.controllerName, namespace, labels: controllerLabels },
                spec: {
                    replicas: r.controllerReplicas,
                    selector: { matchLabels: controllerSelector(name) },
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
                    template: {
                        metadata: {
                            labels: controllerLabels,
                            annotations: {
                                ...annotations,
                                "prometheus.io/scrape": "true",
                                "prometheus.io/port": String(r.metricsPort),
                                "prometheus.io/path": "/metrics",
                            },
                        },
                        spec: {
                            serviceAccountName: this.serviceAccount.metadata.name,
                            automountServiceAccountToken: true,
                            ...(args.priorityClassName ? { priorityClassName: args.priorityClassName } : {}),
                            // Replicas on different nodes, so losing one node never takes both.
                            affinity: {
                                podAntiAffinity: {
                                    preferredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            weight: 100,
                                            podAffinityTerm: {
                                                topologyKey: "kubernetes.io/hostname",
                                                labelSelector: { matchLabels: controllerSelector(name) },
                                            },
                                        },
                                    ],
                                },
                            },
                            terminationGracePeriodSeconds: 15,
                            securityContext: {
                                runAsNonRoot: true,
                                runAsUser: NODE_IMAGE_UID,
                                runAsGroup: NODE_IMAGE_UID,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            containers: [
                                {
                                    name: "controller",
                                    image,
                                    imagePullPolicy: r.imagePullPolicy,
                                    ...(controllerCommand ? { command: controllerCommand } : {}),
                                    env: ctlEnv,
                                    ports: [{ name: "metrics", containerPort: r.metricsPort, protocol: "TCP" }],
                                    readinessProbe: { httpGet: { path: "/healthz", port: "metrics" }, periodSeconds: 10, failureThreshold: 3 },
                                    livenessProbe: {
                                        httpGet: { path: "/livez", port: "metrics" },
                                        initialDelaySeconds: 10,
                                        periodSeconds: 20,
                                        failureThreshold: 3,
                                    },
                                    resources: args.resources ?? DEFAULT_LIBERATOR_RESOURCES,
                                    securityContext: {
                                        allowPrivilegeEscalation: false,
                                        capabilities: { drop: ["ALL"] },
                                        readOnlyRootFilesystem: true,
                                        runAsNonRoot: true,
                                    },
                                    volumeMounts: ctlMounts,
                                },
                            ],
                            ...(ctlVolumes.length > 0 ? { volumes: ctlVolumes } : {}),
                        },
                    },
                },
            },
            { parent: this, dependsOn: bindings },
        );

        this.namespace = namespace;
        this.serviceAccountName = this.serviceAccount.metadata.name;
        this.agentServiceAccountName = this.agentServiceAccount.metadata.name;
        this.daemonSetName = this.daemonSet.metadata.name;
        this.deploymentName = this.deployment.metadata.name;
        this.clusterRoleName = this.clusterRole.metadata.name;
        this.leaderLeaseName = pulumi.output(r.leaseName);
        this.registerOutputs({
            namespace: this.namespace,
            serviceAccountName: this.serviceAccountName,
            agentServiceAccountName: this.agentServiceAccountName,
            daemonSetName: this.daemonSetName,
            deploymentName: this.deploymentName,
            clusterRoleName: this.clusterRoleName,
            leaderLeaseName: this.leaderLeaseName,
        });
    }
}
