import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as v from "./validation";

/**
 * The NodeLiberator: a DaemonSet that notices dead nodes and frees their StatefulSet pods so they
 * start elsewhere (the Kubernetes non-graceful-shutdown taint, or deleting the Node). The
 * controller is this package's own code (../liberator), shipped in a ConfigMap and run on an
 * official Node.js image, so no image has to be built or trusted.
 */

export type LiberatorMode = "outOfServiceTaint" | "deleteNode";
export type OrphanedVolumesPolicy = "ignore" | "report" | "delete";

export const DEFAULT_LIBERATOR_IMAGE = "node:22-alpine";
export const DEFAULT_LIBERATOR_NAMESPACE = "tkr-system";
export const DEFAULT_LIBERATOR_SERVICE_ACCOUNT = "high-availability";
/** Nodes carrying this label are never remediated. Same value as the controller's default. */
export const DEFAULT_LIBERATOR_OPT_OUT_LABEL = "liberator.pets/exclude";
/** Put on a StatefulSet (label or annotation) with the value "delete-pvc" to opt in to losing a dead node's local volume. */
export const LIBERATOR_LOCAL_VOLUME_POLICY_KEY = "liberator.pets/local-volume-policy";
/** Where the ConfigMap with the controller is mounted. */
export const LIBERATOR_CODE_PATH = "/opt/liberator";
/** A ConfigMap holds at most 1 MiB, keys and metadata included. */
export const MAX_CONFIGMAP_DATA_BYTES = 1_000_000;
/** Far below the classic liberator's 200Mi: the controller measured ~55 MiB RSS on Node 20 with 100 nodes. */
export const DEFAULT_LIBERATOR_RESOURCES = { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } };
/** The official node image's unprivileged user. */
export const NODE_IMAGE_UID = 1000;

/** An HTTP fence hook: a 2xx answer means the node is off. */
export interface HttpFenceArgs {
    /** URL to call; `{node}` is replaced with the node name. */
    url: string;
    /** @default "POST" */
    method?: "POST" | "PUT" | "GET";
    /** A Secret key whose value is sent as `Authorization: Bearer <value>`. @default none */
    tokenSecret?: { name: pulumi.Input<string>; key: pulumi.Input<string> };
    /** @default 30 */
    timeoutSeconds?: number;
    /** Seconds to wait after a failed fence before trying again. @default 30 */
    retrySeconds?: number;
}

/** A command fence hook: exit code 0 means the node is off. It runs in the liberator container. */
export interface CommandFenceArgs {
    /** Program and arguments; the node name is appended and also in $NODE_NAME. Mount scripts with `extraVolumes`. */
    command: string[];
    /** @default 30 */
    timeoutSeconds?: number;
    /** @default 30 */
    retrySeconds?: number;
}

export interface NodeLiberatorArgs {
    /** Namespace of the DaemonSet, its ServiceAccount, ConfigMap and Leases. @default "tkr-system" */
    namespace?: string;
    /** Create the namespace (with the `restricted` Pod Security level). Set false to use an existing one. @default true */
    createNamespace?: boolean;
    /** @default "high-availability" */
    serviceAccountName?: string;
    /**
     * "outOfServiceTaint" adds `node.kubernetes.io/out-of-service=nodeshutdown:NoExecute` (pods are
     * force-deleted, volumes detached at once; removed when the node is Ready again). "deleteNode"
     * deletes the Node object, the classic liberator's behaviour. @default "outOfServiceTaint"
     */
    mode?: LiberatorMode;
    /** Seconds Ready must have been False/Unknown and both the kubelet's and the liberator's Lease stale before acting; on top of the control plane's node-monitor grace period. @default 60 */
    unhealthyAfterSeconds?: number;
    /** Most nodes that may be unhealthy at once for the liberator to act: a count or a percentage such as "34%". If more look dead, it does nothing. @default 1 */
    maxUnhealthy?: number | string;
    /** Only report (logs, Events, metrics); the ClusterRole then has no write verbs. @default false */
    dryRun?: boolean;
    /** Nodes carrying this label (any value) are never remediated. @default "liberator.pets/exclude" */
    optOutLabel?: string;
    /** After remediation, force-delete (grace period 0) the dead node's StatefulSet pods; needs `pods: delete`. @default false */
    forceDeletePods?: boolean;
    /**
     * Honour `liberator.pets/local-volume-policy: delete-pvc` on StatefulSets: delete a dead node's
     * pod's PVC when its volume lives on that node, so the replacement gets fresh storage elsewhere
     * (for replicated databases that resync). Without it such pods wait for the node. @default false
     */
    releaseLocalVolumes?: boolean;
    /** PVs pinned to nodes that no longer exist (what local-path leaves behind): "ignore", "report" (Events, metric) or "delete" (unclaimed ones, after the grace period). @default "report" */
    orphanedVolumes?: OrphanedVolumesPolicy;
    /** Seconds a PV must stay orphaned before "delete" removes it. @default 600 */
    orphanedVolumeGraceSeconds?: number;
    /** deleteNode mode: seconds a deleted node still counts against maxUnhealthy. @default 600 */
    stormWindowSeconds?: number;
    /** A hook that must succeed (power the machine off, say) before a node is remediated. @default none */
    fence?: HttpFenceArgs | CommandFenceArgs;
    /** Seconds between renewals of each replica's heartbeat Lease; at most a third of unhealthyAfterSeconds. @default 10 */
    heartbeatIntervalSeconds?: number;
    /** Leader election timing. @default { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 } */
    leaderElection?: { leaseDurationSeconds?: number; renewDeadlineSeconds?: number; retryPeriodSeconds?: number };
    /** Node.js image that runs the controller from the ConfigMap, or your own image when `codeSource` is "image". @default "node:22-alpine" */
    image?: pulumi.Input<string>;
    /** @default "IfNotPresent" */
    imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
    /** "configMap": the compiled controller ships in a ConfigMap (no image to build). "image": the image has it (see liberator/Dockerfile). @default "configMap" */
    codeSource?: "configMap" | "image";
    /** Measured: about 55 MiB resident on Node 20 watching 100 nodes. @default { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } } */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** e.g. "system-node-critical", so the liberator survives resource pressure. @default none */
    priorityClassName?: pulumi.Input<string>;
    /** @default [{ operator: "Exists" }]: every node, tainted or not, runs a replica (each renews its node's heartbeat) */
    tolerations?: pulumi.Input<k8s.types.input.core.v1.Toleration>[];
    /** Restricting the nodes means nodes without a replica have no heartbeat and are never remediated. @default none */
    nodeSelector?: Record<string, string>;
    /** Port of /metrics, /healthz and /livez. @default 8080 */
    metricsPort?: number;
    /** @default "info" */
    logLevel?: "debug" | "info" | "warn" | "error";
    /** Extra pod volumes (a fence script, say). @default [] */
    extraVolumes?: pulumi.Input<k8s.types.input.core.v1.Volume>[];
    /** @default [] */
    extraVolumeMounts?: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[];
    /** Labels added to every object. @default {} */
    labels?: Record<string, string>;
}

/** The args with every default applied; produced by `resolveNodeLiberatorArgs`. */
export interface ResolvedNodeLiberator {
    name: string;
    namespace: string;
    createNamespace: boolean;
    serviceAccountName: string;
    clusterRoleName: string;
    leaseName: string;
    mode: LiberatorMode;
    unhealthyAfterSeconds: number;
    maxUnhealthy: number | string;
    dryRun: boolean;
    optOutLabel: string;
    forceDeletePods: boolean;
    releaseLocalVolumes: boolean;
    orphanedVolumes: OrphanedVolumesPolicy;
    orphanedVolumeGraceSeconds: number;
    stormWindowSeconds: number;
    fence?:
        | { type: "http"; url: string; method: string; timeoutSeconds: number; retrySeconds: number; tokenSecret?: HttpFenceArgs["tokenSecret"] }
        | { type: "command"; command: string[]; timeoutSeconds: number; retrySeconds: number };
    heartbeatIntervalSeconds: number;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
    codeSource: "configMap" | "image";
    imagePullPolicy: "Always" | "IfNotPresent" | "Never";
    metricsPort: number;
    logLevel: "debug" | "info" | "warn" | "error";
    labels: Record<string, string>;
}

/**
 * Applies defaults and validates every plain argument. Throws a ValidationError listing every
 * invalid field before any resource exists.
 */
export function resolveNodeLiberatorArgs(name: string, args: NodeLiberatorArgs = {}, context = `NodeLiberator "${name}"`): ResolvedNodeLiberator {
    const val = new v.Validator(context);
    args = args ?? {};
    val.check("name", name, v.dns1123Label(name));
    const namespace = args.namespace ?? DEFAULT_LIBERATOR_NAMESPACE;
    val.check("namespace", namespace, v.dns1123Label(namespace));
    const serviceAccountName = args.serviceAccountName ?? DEFAULT_LIBERATOR_SERVICE_ACCOUNT;
    val.check("serviceAccountName", serviceAccountName, v.dns1123Subdomain(serviceAccountName));
    const mode = args.mode ?? "outOfServiceTaint";
    val.check("mode", mode, v.oneOf(mode, ["outOfServiceTaint", "deleteNode"]));

    const unhealthyAfterSeconds = args.unhealthyAfterSeconds ?? 60;
    const okUnhealthy = val.check("unhealthyAfterSeconds", unhealthyAfterSeconds, v.wholeNumber(unhealthyAfterSeconds, 10, 86_400));
    const maxUnhealthy = args.maxUnhealthy ?? 1;
    val.check("maxUnhealthy", maxUnhealthy, v.intOrPercent(maxUnhealthy, 0));
    const optOutLabel = args.optOutLabel ?? DEFAULT_LIBERATOR_OPT_OUT_LABEL;
    val.check("optOutLabel", optOutLabel, v.labelKey(optOutLabel));
    const orphanedVolumes = args.orphanedVolumes ?? "report";
    val.check("orphanedVolumes", orphanedVolumes, v.oneOf(orphanedVolumes, ["ignore", "report", "delete"]));
    const orphanedVolumeGraceSeconds = args.orphanedVolumeGraceSeconds ?? 600;
    val.check("orphanedVolumeGraceSeconds", orphanedVolumeGraceSeconds, v.wholeNumber(orphanedVolumeGraceSeconds, 0));
    const stormWindowSeconds = args.stormWindowSeconds ?? 600;
    val.check("stormWindowSeconds", stormWindowSeconds, v.wholeNumber(stormWindowSeconds, 0));
    for (const flag of ["dryRun", "forceDeletePods", "releaseLocalVolumes", "createNamespace"] as const) {
        if (args[flag] !== undefined && typeof args[flag] !== "boolean") val.fail(flag, args[flag], "must be true or false");
    }

    const heartbeatIntervalSeconds = args.heartbeatIntervalSeconds ?? 10;
    if (
        val.check("heartbeatIntervalSeconds", heartbeatIntervalSeconds, v.wholeNumber(heartbeatIntervalSeconds, 1)) &&
        okUnhealthy &&
        heartbeatIntervalSeconds * 3 > unhealthyAfterSeconds
    ) {
        val.fail(
            "heartbeatIntervalSeconds",
            heartbeatIntervalSeconds,
            `must be at most a third of unhealthyAfterSeconds (${unhealthyAfterSeconds}), or a live node could look dead between two renewals`,
        );
    }
    const le = args.leaderElection ?? {};
    const leaseDurationSeconds = le.leaseDurationSeconds ?? 15;
    const renewDeadlineSeconds = le.renewDeadlineSeconds ?? 10;
    const retryPeriodSeconds = le.retryPeriodSeconds ?? 2;
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

    let fence: ResolvedNodeLiberator["fence"];
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
            const method = f.method ?? "POST";
            val.check("fence.method", method, v.oneOf(method, ["POST", "PUT", "GET"]));
            fence = { type: "http", url: f.url, method, timeoutSeconds, retrySeconds, ...(f.tokenSecret ? { tokenSecret: f.tokenSecret } : {}) };
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

    const labels = args.labels ?? {};
    v.checkLabels(val, "labels", labels);
    v.checkLabels(val, "nodeSelector", args.nodeSelector);
    for (const reserved of ["app.kubernetes.io/name", "app.kubernetes.io/instance"]) {
        if (reserved in labels)
            val.fail(`labels["${reserved}"]`, labels[reserved], "is set by the component (it selects the liberator's pods) and cannot be overridden");
    }

    val.throwIfInvalid();
    return {
        name,
        namespace,
        createNamespace: args.createNamespace ?? true,
        serviceAccountName,
        clusterRoleName: `${namespace}:${name}`,
        leaseName: name,
        mode,
        unhealthyAfterSeconds,
        maxUnhealthy,
        dryRun: args.dryRun ?? false,
        optOutLabel,
        forceDeletePods: args.forceDeletePods ?? false,
        releaseLocalVolumes: args.releaseLocalVolumes ?? false,
        orphanedVolumes,
        orphanedVolumeGraceSeconds,
        stormWindowSeconds,
        fence,
        heartbeatIntervalSeconds,
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
 * Cluster-wide permissions: exactly the verbs the controller uses in this configuration. Nodes
 * are watched; patched (taint mode) or deleted (deleteNode mode). Pods are listed per node only
 * for pod clean-up or the local-volume policy; PVCs, PVs and StatefulSets are read only for the
 * latter; PVs are watched only to find orphans. A dry run gets no write verb at all.
 */
export function clusterRoleRules(mode: LiberatorMode, options: RuleOptions = {}): k8s.types.input.rbac.v1.PolicyRule[] {
    const write = !options.dryRun;
    const orphaned = options.orphanedVolumes ?? "report";
    const rules: k8s.types.input.rbac.v1.PolicyRule[] = [
        { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch", ...(write ? [mode === "outOfServiceTaint" ? "patch" : "delete"] : [])] },
    ];
    if (options.forceDeletePods || options.releaseLocalVolumes) {
        rules.push({ apiGroups: [""], resources: ["pods"], verbs: ["list", ...(write && options.forceDeletePods ? ["delete"] : [])] });
    }
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

/** In its own namespace: the leader Lease and every replica's heartbeat Lease. */
export function leaseRoleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update"] }];
}

/** In kube-node-lease: read the kubelets' Leases. */
export function nodeLeaseRoleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["list", "watch"] }];
}

/** In "default", where Events about cluster-scoped objects (Nodes, PVs) must be written. */
export function eventRoleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [{ apiGroups: [""], resources: ["events"], verbs: ["create"] }];
}

/** The controller's environment (its flags as LIBERATOR_* variables), without the pod fields. */
export function liberatorEnv(r: ResolvedNodeLiberator): { name: string; value: string }[] {
    const env: Record<string, string> = {
        LIBERATOR_NAMESPACE: r.namespace,
        LIBERATOR_LEASE_NAME: r.leaseName,
        LIBERATOR_MODE: r.mode,
        LIBERATOR_UNHEALTHY_AFTER: `${r.unhealthyAfterSeconds}s`,
        LIBERATOR_MAX_UNHEALTHY: String(r.maxUnhealthy),
        LIBERATOR_DRY_RUN: String(r.dryRun),
        LIBERATOR_OPT_OUT_LABEL: r.optOutLabel,
        LIBERATOR_FORCE_DELETE_PODS: String(r.forceDeletePods),
        LIBERATOR_RELEASE_LOCAL_VOLUMES: String(r.releaseLocalVolumes),
        LIBERATOR_ORPHANED_VOLUMES: r.orphanedVolumes,
        LIBERATOR_ORPHANED_VOLUME_GRACE: `${r.orphanedVolumeGraceSeconds}s`,
        LIBERATOR_STORM_WINDOW: `${r.stormWindowSeconds}s`,
        LIBERATOR_HEARTBEAT_INTERVAL: `${r.heartbeatIntervalSeconds}s`,
        LIBERATOR_LEASE_DURATION: `${r.leaseDurationSeconds}s`,
        LIBERATOR_RENEW_DEADLINE: `${r.renewDeadlineSeconds}s`,
        LIBERATOR_RETRY_PERIOD: `${r.retryPeriodSeconds}s`,
        LIBERATOR_METRICS_ADDRESS: `0.0.0.0:${r.metricsPort}`,
        LIBERATOR_LOG_LEVEL: r.logLevel,
    };
    if (r.fence) {
        env.LIBERATOR_FENCE_TIMEOUT = `${r.fence.timeoutSeconds}s`;
        env.LIBERATOR_FENCE_RETRY = `${r.fence.retrySeconds}s`;
        if (r.fence.type === "http") {
            env.LIBERATOR_FENCE_URL = r.fence.url;
            env.LIBERATOR_FENCE_METHOD = r.fence.method;
        } else env.LIBERATOR_FENCE_COMMAND = JSON.stringify(r.fence.command);
    }
    return Object.entries(env).map(([name, value]) => ({ name, value }));
}

let codeCache: Record<string, string> | undefined;

/**
 * The controller's JavaScript, file name → source, for the ConfigMap. From the published package
 * (this file is dist/components/nodeliberator.js) it reads the compiled dist/liberator/*.js; from
 * TypeScript source (ts-node, jest) it compiles liberator/*.ts with the `typescript` package's
 * transpileModule, so the ConfigMap always matches the code beside it.
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
    if (!("main.js" in out)) throw new Error(`NodeLiberator: no main${ext} in ${where}`);
    if (isDefault) codeCache = out;
    return out;
}

/** Bytes the data of a ConfigMap takes (keys and values). */
export function configMapDataBytes(data: Record<string, string>): number {
    return Object.entries(data).reduce((n, [k, val]) => n + Buffer.byteLength(k) + Buffer.byteLength(val), 0);
}

/** Labels that select the liberator's pods. */
export function liberatorSelector(name: string): Record<string, string> {
    return { "app.kubernetes.io/name": "liberator", "app.kubernetes.io/instance": name };
}

/**
 * Namespace, ServiceAccount, least-privilege RBAC, the controller in a ConfigMap and the
 * DaemonSet that runs it on every node. Only the replica holding the leader Lease acts; every
 * replica renews its own node's heartbeat Lease, the second sign of life the leader requires.
 */
export class NodeLiberator extends pulumi.ComponentResource {
    public readonly namespaceResource?: k8s.core.v1.Namespace;
    public readonly serviceAccount: k8s.core.v1.ServiceAccount;
    public readonly clusterRole: k8s.rbac.v1.ClusterRole;
    public readonly codeConfigMap?: k8s.core.v1.ConfigMap;
    public readonly daemonSet: k8s.apps.v1.DaemonSet;
    /** Namespace of the liberator and its Leases. */
    public readonly namespace: pulumi.Output<string>;
    public readonly serviceAccountName: pulumi.Output<string>;
    public readonly daemonSetName: pulumi.Output<string>;
    public readonly clusterRoleName: pulumi.Output<string>;
    /** The coordination Lease whose holder is the acting replica (`kubectl get lease -n <ns> <name>`). */
    public readonly leaderLeaseName: pulumi.Output<string>;

    constructor(name: string, args: NodeLiberatorArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const context = `NodeLiberator "${name}"`;
        const r = resolveNodeLiberatorArgs(name, args, context);
        super("pets:index:NodeLiberator", name, {}, opts);

        const image = v.checkInput(context, "image", args.image ?? DEFAULT_LIBERATOR_IMAGE, v.image);
        const selector = liberatorSelector(name);
        const labels = { ...r.labels, ...selector, "app.kubernetes.io/component": "node-liberator", "app.kubernetes.io/managed-by": "pulumi" };

        let namespace: pulumi.Output<string> = pulumi.output(r.namespace);
        if (r.createNamespace) {
            this.namespaceResource = new k8s.core.v1.Namespace(
                `${name}-ns`,
                {
                    // Every pod here must meet the restricted Pod Security Standard; the liberator does.
                    metadata: {
                        name: r.namespace,
                        labels: { ...r.labels, "pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/managed-by": "pulumi" },
                    },
                },
                { parent: this },
            );
            namespace = this.namespaceResource.metadata.name;
        }

        this.serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: { name: r.serviceAccountName, namespace, labels } }, { parent: this });
        const subject = { kind: "ServiceAccount", name: this.serviceAccount.metadata.name, namespace };

        this.clusterRole = new k8s.rbac.v1.ClusterRole(
            `${name}-cr`,
            {
                metadata: { name: r.clusterRoleName, labels },
                rules: clusterRoleRules(r.mode, r),
            },
            { parent: this },
        );
        const crb = new k8s.rbac.v1.ClusterRoleBinding(
            `${name}-crb`,
            {
                metadata: { name: r.clusterRoleName, labels },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: this.clusterRole.metadata.name },
                subjects: [subject],
            },
            { parent: this },
        );

        const bindings: pulumi.Resource[] = [crb];
        const role = (suffix: string, ns: pulumi.Input<string>, rules: k8s.types.input.rbac.v1.PolicyRule[]) => {
            const roleName = `${name}-${suffix}`;
            const role = new k8s.rbac.v1.Role(`${name}-${suffix}`, { metadata: { name: roleName, namespace: ns, labels }, rules }, { parent: this });
            bindings.push(
                new k8s.rbac.v1.RoleBinding(
                    `${name}-${suffix}`,
                    {
                        metadata: { name: roleName, namespace: ns, labels },
                        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
                        subjects: [subject],
                    },
                    { parent: this },
                ),
            );
        };
        role("leases", namespace, leaseRoleRules());
        role("node-leases", "kube-node-lease", nodeLeaseRoleRules());
        role("events", "default", eventRoleRules());

        const volumes: pulumi.Input<k8s.types.input.core.v1.Volume>[] = [...(args.extraVolumes ?? [])];
        const volumeMounts: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[] = [...(args.extraVolumeMounts ?? [])];
        const podAnnotations: Record<string, string> = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": String(r.metricsPort),
            "prometheus.io/path": "/metrics",
        };
        let command: string[] | undefined;
        if (r.codeSource === "configMap") {
            const data = liberatorCode();
            const bytes = configMapDataBytes(data);
            if (bytes > MAX_CONFIGMAP_DATA_BYTES)
                throw new v.ValidationError(context, [
                    {
                        field: "codeSource",
                        value: "configMap",
                        expected: `needs the controller (${bytes} bytes) to fit a ConfigMap (${MAX_CONFIGMAP_DATA_BYTES}); use "image"`,
                    },
                ]);
            this.codeConfigMap = new k8s.core.v1.ConfigMap(`${name}-code`, { metadata: { name: `${name}-code`, namespace, labels }, data }, { parent: this });
            volumes.push({ name: "code", configMap: { name: this.codeConfigMap.metadata.name, defaultMode: 0o444 } });
            volumeMounts.push({ name: "code", mountPath: LIBERATOR_CODE_PATH, readOnly: true });
            // A new hash rolls the DaemonSet when the code changes (the ConfigMap keeps its name).
            podAnnotations["liberator.pets/code-sha256"] = crypto
                .createHash("sha256")
                .update(JSON.stringify(Object.entries(data)))
                .digest("hex");
            // A small old-space cap keeps V8 from growing towards the container limit before it collects.
            command = ["node", "--max-old-space-size=48", `${LIBERATOR_CODE_PATH}/main.js`];
        }

        const env: pulumi.Input<k8s.types.input.core.v1.EnvVar>[] = [
            { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            ...liberatorEnv(r),
        ];
        if (r.fence?.type === "http" && r.fence.tokenSecret) {
            env.push({ name: "LIBERATOR_FENCE_TOKEN", valueFrom: { secretKeyRef: { name: r.fence.tokenSecret.name, key: r.fence.tokenSecret.key } } });
        }

        this.daemonSet = new k8s.apps.v1.DaemonSet(
            name,
            {
                metadata: { name, namespace, labels },
                spec: {
                    selector: { matchLabels: selector },
                    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
                    template: {
                        metadata: { labels, annotations: podAnnotations },
                        spec: {
                            serviceAccountName: this.serviceAccount.metadata.name,
                            automountServiceAccountToken: true,
                            ...(args.priorityClassName ? { priorityClassName: args.priorityClassName } : {}),
                            // Every node needs a replica (its heartbeat is the second sign of life), tainted or not.
                            tolerations: args.tolerations ?? [{ operator: "Exists" }],
                            ...(args.nodeSelector ? { nodeSelector: args.nodeSelector } : {}),
                            terminationGracePeriodSeconds: 15,
                            securityContext: {
                                runAsNonRoot: true,
                                runAsUser: NODE_IMAGE_UID,
                                runAsGroup: NODE_IMAGE_UID,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            containers: [
                                {
                                    name: "liberator",
                                    image,
                                    imagePullPolicy: r.imagePullPolicy,
                                    ...(command ? { command } : {}),
                                    env,
                                    ports: [{ name: "metrics", containerPort: r.metricsPort, protocol: "TCP" }],
                                    // Ready only while this replica reaches the API server and renews its heartbeat.
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
                                    volumeMounts,
                                },
                            ],
                            ...(volumes.length > 0 ? { volumes } : {}),
                        },
                    },
                },
            },
            { parent: this, dependsOn: bindings },
        );

        this.namespace = namespace;
        this.serviceAccountName = this.serviceAccount.metadata.name;
        this.daemonSetName = this.daemonSet.metadata.name;
        this.clusterRoleName = this.clusterRole.metadata.name;
        this.leaderLeaseName = pulumi.output(r.leaseName);
        this.registerOutputs({
            namespace: this.namespace,
            serviceAccountName: this.serviceAccountName,
            daemonSetName: this.daemonSetName,
            clusterRoleName: this.clusterRoleName,
            leaderLeaseName: this.leaderLeaseName,
        });
    }
}
