import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ANN, DEFAULT_NAMESPACE, DEFAULT_OPT_OUT_LABEL, DEFAULTS, LIMITS, timingProblems } from "../liberator/contract";
import { GeneratedPassword } from "./generatedpassword";
import { checkReservedLabels, COMPONENT_LABEL, SELECTOR_LABEL_KEYS } from "./labels";
import * as specs from "./liberatorspecs";
import * as v from "./validation";

/**
 * The NodeLiberator frees a dead node's StatefulSet pods so they start elsewhere, and never lets
 * two copies of one ordinal run: a per-node agent (DaemonSet) renews a heartbeat and fences its
 * own node when it is cut off from the API server (kubelet killed, StatefulSet sandboxes stopped
 * through the CRI); a controller (Deployment, two replicas, leader-elected) claims a node only
 * once its agent must have fenced it, then taints it out-of-service and force-deletes its pods.
 * Both run this package's own code (../liberator) from a ConfigMap on an official Node.js image.
 * Here: the arguments, their defaults and validation, and the component; its objects are
 * rendered by ./liberatorspecs.
 */

export type LiberatorMode = "outOfServiceTaint" | "deleteNode";
export type OrphanedVolumesPolicy = "ignore" | "report" | "delete";

/** The official Node.js image, pinned to a release so every node runs the same runtime. */
export const DEFAULT_LIBERATOR_IMAGE = "node:22.12.0-alpine";
export const DEFAULT_LIBERATOR_NAMESPACE = DEFAULT_NAMESPACE;
/** The controller's ServiceAccount (the only holder of write verbs); the agents' is `<this>-agent`. */
export const DEFAULT_LIBERATOR_SERVICE_ACCOUNT = "high-availability";
/** Nodes carrying this label are never remediated. Same value as the controller's default. */
export const DEFAULT_LIBERATOR_OPT_OUT_LABEL = DEFAULT_OPT_OUT_LABEL;
/** Put on a StatefulSet (label or annotation) with the value "delete-pvc" to opt in to losing a dead node's local volume. */
export const LIBERATOR_LOCAL_VOLUME_POLICY_KEY = ANN.localVolumePolicy;
/** The controller: measured about 50 MiB resident on Node 22 watching 50 nodes. */
export const DEFAULT_LIBERATOR_RESOURCES = { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } };
/** The agent: about 13 MiB of its own (anonymous) memory; the rest of its RSS is the node binary's shared, reclaimable text. */
export const DEFAULT_AGENT_RESOURCES = { requests: { cpu: "5m", memory: "48Mi" }, limits: { memory: "96Mi" } };

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
    /** As given (or the default): checked now when plain; an Output is checked by the constructor when it resolves. */
    image: pulumi.Input<string>;
    imagePullPolicy: "Always" | "IfNotPresent" | "Never";
    /** The controller's. */
    resources: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    agentResources: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    priorityClassName?: pulumi.Input<string>;
    agentPriorityClassName?: pulumi.Input<string>;
    /** The agent's. */
    tolerations: pulumi.Input<k8s.types.input.core.v1.Toleration>[];
    /** The agent's. */
    nodeSelector?: Record<string, string>;
    /** The controller's. */
    extraVolumes: pulumi.Input<k8s.types.input.core.v1.Volume>[];
    extraVolumeMounts: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[];
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

    const { heartbeatIntervalSeconds, selfFence } = resolveSelfFence(val, args);
    const unsafeNoFencing = args.unsafeNoFencing ?? false;
    const leaderElection = resolveLeaderElection(val, args.leaderElection ?? {});
    const fence = args.fence === undefined ? undefined : resolveFence(val, args.fence);

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
    checkReservedLabels(val, labels, [...SELECTOR_LABEL_KEYS, COMPONENT_LABEL], "the liberator's pods");

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
        selfFence,
        fence,
        unsafeNoFencing,
        remediateControlPlane: args.remediateControlPlane ?? false,
        controllerReplicas,
        ...leaderElection,
        codeSource,
        image: args.image ?? DEFAULT_LIBERATOR_IMAGE,
        imagePullPolicy,
        resources: args.resources ?? DEFAULT_LIBERATOR_RESOURCES,
        agentResources: args.agentResources ?? DEFAULT_AGENT_RESOURCES,
        priorityClassName: args.priorityClassName,
        agentPriorityClassName: args.agentPriorityClassName,
        tolerations: args.tolerations ?? [{ operator: "Exists" }],
        nodeSelector: args.nodeSelector,
        extraVolumes: args.extraVolumes ?? [],
        extraVolumeMounts: args.extraVolumeMounts ?? [],
        metricsPort,
        logLevel,
        labels,
    };
}

const SELF_FENCE_KEYS = [
    "enabled",
    "timeoutSeconds",
    "execSeconds",
    "marginSeconds",
    "settleSeconds",
    "criSocket",
    "kubeletProcessName",
    "peerPort",
    "watchdog",
];

/** The self-fence and its timing rules (the contract the agent and the controller check with too). */
function resolveSelfFence(val: v.Validator, args: NodeLiberatorArgs): { heartbeatIntervalSeconds: number; selfFence: ResolvedNodeLiberator["selfFence"] } {
    const sf = args.selfFence ?? {};
    if (typeof sf !== "object" || sf === null || Array.isArray(sf)) val.fail("selfFence", sf, "must be an object such as { timeoutSeconds: 30 }");
    for (const k of Object.keys(sf ?? {}))
        if (!SELF_FENCE_KEYS.includes(k))
            val.fail(`selfFence.${k}`, (sf as Record<string, unknown>)[k], `is not a known setting; known settings are ${SELF_FENCE_KEYS.join(", ")}`);
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
    return {
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
    };
}

/** The controller replicas' leader election: renew deadline < lease duration, retry period < renew deadline. */
function resolveLeaderElection(
    val: v.Validator,
    le: NonNullable<NodeLiberatorArgs["leaderElection"]>,
): Pick<ResolvedNodeLiberator, "leaseDurationSeconds" | "renewDeadlineSeconds" | "retryPeriodSeconds"> {
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
    return { leaseDurationSeconds, renewDeadlineSeconds, retryPeriodSeconds };
}

/** An external fence hook: HTTP (a token only over https) or a command. */
function resolveFence(val: v.Validator, given: HttpFenceArgs | CommandFenceArgs): ResolvedFence | undefined {
    const f = given as Partial<HttpFenceArgs & CommandFenceArgs>;
    const timeoutSeconds = f.timeoutSeconds ?? 30;
    const retrySeconds = f.retrySeconds ?? 30;
    val.check("fence.timeoutSeconds", timeoutSeconds, v.wholeNumber(timeoutSeconds, 1, 600));
    val.check("fence.retrySeconds", retrySeconds, v.wholeNumber(retrySeconds, 1));
    if ((f.url === undefined) === (f.command === undefined)) {
        val.fail("fence", given, "must have either url (an HTTP hook) or command (a program), not both or neither");
        return undefined;
    }
    if (f.url !== undefined) {
        if (typeof f.url !== "string" || !/^https?:\/\/[^\s]+$/.test(f.url))
            val.fail("fence.url", f.url, 'must be an http:// or https:// URL such as "https://pdu.example/off/{node}"');
        else if (!f.url.startsWith("https://") && f.tokenSecret)
            val.fail("fence.url", f.url, "must be an https:// URL when fence.tokenSecret is set: a bearer token is never sent in clear text");
        else if (!f.url.startsWith("https://") && f.caConfigMap) val.fail("fence.url", f.url, "must be an https:// URL when fence.caConfigMap is set");
        const method = f.method ?? "POST";
        val.check("fence.method", method, v.oneOf(method, ["POST", "PUT", "GET"]));
        return {
            type: "http",
            url: f.url,
            method,
            timeoutSeconds,
            retrySeconds,
            ...(f.tokenSecret ? { tokenSecret: f.tokenSecret } : {}),
            ...(f.caConfigMap ? { caConfigMap: f.caConfigMap } : {}),
        };
    }
    const cmd = f.command;
    if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === "string" && c !== "")) {
        val.fail("fence.command", cmd, 'must be a non-empty list of non-empty strings such as ["/hooks/poweroff"]');
    } else val.check("fence.command[0]", cmd[0], v.absolutePath(cmd[0]));
    return { type: "command", command: cmd ?? [], timeoutSeconds, retrySeconds };
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
        // An image given as an Output is checked when it resolves.
        const image = v.checkInput(context, "image", r.image, v.image);
        const parent = { parent: this };

        if (r.createNamespace) this.namespaceResource = new k8s.core.v1.Namespace(`${name}-ns`, specs.renderNamespace(r), parent);
        const namespace = this.namespaceResource ? this.namespaceResource.metadata.name : pulumi.output(r.namespace);
        this.serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-sa`, specs.renderServiceAccount(r, "controller", namespace), parent);
        this.agentServiceAccount = new k8s.core.v1.ServiceAccount(`${name}-agent-sa`, specs.renderServiceAccount(r, "agent", namespace), parent);
        const subjects = {
            controller: { kind: "ServiceAccount", name: this.serviceAccount.metadata.name, namespace },
            agent: { kind: "ServiceAccount", name: this.agentServiceAccount.metadata.name, namespace },
        };

        this.clusterRole = new k8s.rbac.v1.ClusterRole(`${name}-cr`, specs.renderClusterRole(r), parent);
        const bindings: pulumi.Resource[] = [
            new k8s.rbac.v1.ClusterRoleBinding(`${name}-crb`, specs.renderClusterRoleBinding(r, this.clusterRole.metadata.name, subjects.controller), parent),
        ];
        for (const spec of specs.liberatorRoles(r)) {
            const ns = spec.namespace ?? namespace;
            const role = new k8s.rbac.v1.Role(spec.name, specs.renderRole(r, spec, ns), parent);
            bindings.push(new k8s.rbac.v1.RoleBinding(spec.name, specs.renderRoleBinding(r, spec, ns, role.metadata.name, subjects[spec.subject]), parent));
        }
        this.agentPolicy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(`${name}-agent-policy`, specs.renderAgentPolicy(r), parent);
        const policyBinding = new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            `${name}-agent-policy`,
            specs.renderAgentPolicyBinding(r, this.agentPolicy.metadata.name),
            parent,
        );

        let peerKeySecretName: pulumi.Input<string> = r.peerKeySecretName;
        if (r.generatePeerKey) {
            // Generated once (a CSPRNG, kept as a Pulumi secret); never a literal.
            const key = new GeneratedPassword(`${name}-peer-key`, { length: 64 }, parent);
            this.peerKeySecret = new k8s.core.v1.Secret(`${name}-peer-key`, specs.renderPeerKeySecret(r, namespace, key.result), parent);
            peerKeySecretName = this.peerKeySecret.metadata.name;
        }
        let code = specs.codeFromImage();
        if (r.codeSource === "configMap") {
            const data = specs.liberatorCodeData(context);
            this.codeConfigMap = new k8s.core.v1.ConfigMap(`${name}-code`, specs.renderCodeConfigMap(r, namespace, data), parent);
            code = specs.codeFromConfigMap(this.codeConfigMap.metadata.name, data);
        }

        const refs = { namespace, image, code };
        this.daemonSet = new k8s.apps.v1.DaemonSet(
            name,
            specs.renderAgentDaemonSet(r, { ...refs, serviceAccount: this.agentServiceAccount.metadata.name, peerKeySecret: peerKeySecretName }),
            { parent: this, dependsOn: [...bindings, policyBinding] },
        );
        this.deployment = new k8s.apps.v1.Deployment(
            r.controllerName,
            specs.renderControllerDeployment(r, { ...refs, serviceAccount: this.serviceAccount.metadata.name }),
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
