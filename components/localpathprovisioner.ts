import * as crypto from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { appSelector, checkReservedLabels, MANAGED_BY, mapInput, SELECTOR_LABEL_KEYS } from "./labels";
import * as v from "./validation";

/**
 * Installs rancher's local-path provisioner (https://github.com/rancher/local-path-provisioner):
 * every claim of its StorageClass gets a directory on the node where the claim's pod lands.
 * Defaults follow the upstream release LOCAL_PATH_PROVISIONER_VERSION (deploy/local-path-storage.yaml).
 */

/** The upstream release whose manifest, RBAC, ConfigMap and flags these defaults follow. */
export const LOCAL_PATH_PROVISIONER_VERSION = "v0.0.37";
export const DEFAULT_LOCAL_PATH_IMAGE = `rancher/local-path-provisioner:${LOCAL_PATH_PROVISIONER_VERSION}`;
/** Upstream's helper image, which its manifest leaves untagged, pinned to a release. */
export const DEFAULT_LOCAL_PATH_HELPER_IMAGE = "docker.io/library/busybox:1.37.0";
/** The nodePathMap entry that applies to every node not listed by name. */
export const DEFAULT_PATH_FOR_NON_LISTED_NODES = "DEFAULT_PATH_FOR_NON_LISTED_NODES";
export const DEFAULT_LOCAL_PATH_NODE_PATH = "/opt/local-path-provisioner";
/** The provisioner name upstream's binary answers to by default, and that kind's built-in copy uses. */
export const UPSTREAM_LOCAL_PATH_PROVISIONER_NAME = "rancher.io/local-path";
export const DEFAULT_LOCAL_PATH_SETUP_SCRIPT = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"';
export const DEFAULT_LOCAL_PATH_TEARDOWN_SCRIPT = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"';
/** Where the ConfigMap is mounted; the CONFIG_MOUNT_PATH env var makes the provisioner reload helperPod.yaml from it too. */
export const LOCAL_PATH_CONFIG_MOUNT_PATH = "/etc/config/";
export const LOCAL_PATH_HEALTH_PORT = 8080;

/** Where one node (or every unlisted node) keeps its volumes. */
export interface NodePathArgs {
    /** A node name, or DEFAULT_PATH_FOR_NON_LISTED_NODES for every node not listed. */
    node: string;
    /** Absolute directories; one is picked at random per volume. `[]` means: never provision on this node. */
    paths: string[];
}

export interface LocalPathProvisionerArgs {
    /** Namespace of the provisioner, its ConfigMap and its helper pods. @default "local-path-storage" */
    namespace?: string;
    /** Create the namespace. Set false to install into an existing one. @default true */
    createNamespace?: boolean;
    /** Provisioner image; point it at a registry mirror on air-gapped clusters. @default "rancher/local-path-provisioner:v0.0.37" */
    image?: pulumi.Input<string>;
    /** Image of the helper pods that create and delete volume directories. @default "docker.io/library/busybox:1.37.0" (upstream's image, pinned) */
    helperImage?: pulumi.Input<string>;
    /** Pull policy of both images. @default "IfNotPresent" */
    imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
    /**
     * The name the provisioner answers to (its `--provisioner-name` flag) and the StorageClass's
     * `provisioner`. Distinct from kind's built-in copy, which answers to "rancher.io/local-path":
     * two provisioners with one name race for the same claims. @default "cluster.local/<component name>"
     */
    provisionerName?: string;
    /** Name of the StorageClass; pass the `storageClassName` output to StatefulWorkload claims. @default "local-path" */
    storageClassName?: string;
    /** Mark the class as the cluster's default (`storageclass.kubernetes.io/is-default-class`). @default false */
    isDefaultClass?: boolean;
    /** What happens to a volume's directory when its claim is deleted: "Delete" removes it, "Retain" keeps it. @default "Delete" (upstream's) */
    reclaimPolicy?: "Delete" | "Retain";
    /** "Immediate" works only with sharedFileSystemPath; node-local volumes need the pod's node first. @default "WaitForFirstConsumer" */
    volumeBindingMode?: "WaitForFirstConsumer" | "Immediate";
    /** PV type: "hostPath" or "local" (the StorageClass's `defaultVolumeType` annotation; a claim may override it with a `volumeType` annotation). @default "hostPath" */
    volumeType?: "hostPath" | "local";
    /** Per-node directories. Mutually exclusive with sharedFileSystemPath. @default [{ node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", paths: ["/opt/local-path-provisioner"] }] */
    nodePathMap?: NodePathArgs[];
    /** A filesystem mounted at this path on every node (NFS, say); volumes then work on any node. @default none */
    sharedFileSystemPath?: string;
    /** StorageClass parameter: always use this directory (one of the nodePathMap paths) instead of a random one. @default none */
    nodePath?: string;
    /** StorageClass parameter: Go template of each volume's directory, must start with "{{ .PVC.Namespace }}/{{ .PVC.Name }}/". @default upstream's "<pv>_<namespace>_<pvc>" */
    pathPattern?: string;
    /** StorageClass parameter: node label the PVs' node affinity uses; set it where node hostnames change. @default "kubernetes.io/hostname" (upstream's) */
    nodeAffinityKey?: string;
    /** Seconds a helper pod may take. @default 120 (upstream's) */
    cmdTimeoutSeconds?: number;
    /** Script the helper pod runs to create a volume directory (gets VOL_DIR, VOL_MODE, VOL_SIZE_BYTES). @default upstream's mkdir -m 0777 */
    setupScript?: string;
    /** Script the helper pod runs to delete a volume directory. @default upstream's rm -rf "$VOL_DIR" */
    teardownScript?: string;
    /** Debug logging (upstream's manifest enables it). @default true */
    debug?: boolean;
    /** CPU and memory of the provisioner container. @default requests 10m CPU / 32Mi, limit 128Mi memory */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** @default none */
    nodeSelector?: Record<string, string>;
    /** @default none */
    tolerations?: pulumi.Input<k8s.types.input.core.v1.Toleration>[];
    /** Labels added to every object. @default {} */
    labels?: Record<string, string>;
}

/** The args with every default applied; produced by `resolveLocalPathProvisionerArgs`. */
export interface ResolvedLocalPathProvisioner {
    /** Name of the namespaced objects (Deployment, ServiceAccount, Role, RoleBinding). */
    name: string;
    namespace: string;
    createNamespace: boolean;
    /** As given (or the default): checked now when plain; an Output is checked by the constructor when it resolves. */
    image: pulumi.Input<string>;
    helperImage: pulumi.Input<string>;
    /** Name of the ClusterRole and ClusterRoleBinding: `<namespace>:<name>`. */
    clusterRoleName: string;
    provisionerName: string;
    storageClassName: string;
    isDefaultClass: boolean;
    reclaimPolicy: "Delete" | "Retain";
    volumeBindingMode: "WaitForFirstConsumer" | "Immediate";
    volumeType: "hostPath" | "local";
    config: LocalPathConfig;
    parameters: Record<string, string>;
    setupScript: string;
    teardownScript: string;
    imagePullPolicy: "Always" | "IfNotPresent" | "Never";
    debug: boolean;
    resources: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    nodeSelector?: Record<string, string>;
    tolerations?: pulumi.Input<k8s.types.input.core.v1.Toleration>[];
    labels: Record<string, string>;
}

/** What goes into config.json. */
export interface LocalPathConfig {
    nodePathMap?: NodePathArgs[];
    sharedFileSystemPath?: string;
    cmdTimeoutSeconds?: number;
}

const PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
const NODE_NAME = `must be a node name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters) or "${DEFAULT_PATH_FOR_NON_LISTED_NODES}"`;
const PATH_PATTERN_PREFIX = /^\{\{\s*\.PVC\.Namespace\s*\}\}\/\{\{\s*\.PVC\.Name\s*\}\}\//;

/** Upstream cleans paths (filepath.Abs) before comparing them; so do we, to catch "/data/" vs "/data". */
function cleanPath(p: string): string {
    return path.posix.normalize(p).replace(/\/+$/, "") || "/";
}

/** A volume root: absolute, no "..", and not "/" (upstream refuses the root directory). */
export function localVolumeRoot(value: unknown): string | undefined {
    const abs = v.absolutePath(value);
    if (abs !== undefined) return abs;
    if (cleanPath(value as string) === "/") return 'must not be "/": the provisioner creates and deletes a directory per volume under it';
    return undefined;
}

/** A provisioner name: a qualified name such as "rancher.io/local-path", as a StorageClass's `provisioner` must be. */
export function provisionerNameRule(value: unknown): string | undefined {
    if (v.labelKey(value) !== undefined) {
        return 'must be a qualified name such as "example.com/local-path": an optional DNS subdomain prefix and "/", then at most 63 letters, digits, "-", "_" and "."';
    }
    return undefined;
}

/**
 * Applies defaults and validates every plain argument. Throws a ValidationError listing every
 * invalid field before any resource exists. Images given as Outputs are checked when they resolve.
 */
export function resolveLocalPathProvisionerArgs(
    name: string,
    args: LocalPathProvisionerArgs = {},
    context = `LocalPathProvisioner "${name}"`,
): ResolvedLocalPathProvisioner {
    const val = new v.Validator(context);
    if (args === null || typeof args !== "object") {
        val.fail("args", args, "must be an object (every field is optional)");
        val.throwIfInvalid();
    }
    val.check("name", name, v.dns1123Label(name));
    const namespace = args.namespace ?? "local-path-storage";
    val.check("namespace", namespace, v.dns1123Label(namespace));
    const createNamespace = args.createNamespace ?? true;

    if (args.image !== undefined && v.isKnown(args.image)) val.check("image", args.image, v.image(args.image));
    if (args.helperImage !== undefined && v.isKnown(args.helperImage)) val.check("helperImage", args.helperImage, v.image(args.helperImage));
    const imagePullPolicy = args.imagePullPolicy ?? "IfNotPresent";
    val.check("imagePullPolicy", imagePullPolicy, v.oneOf(imagePullPolicy, PULL_POLICIES));

    const provisionerName = args.provisionerName ?? `cluster.local/${name}`;
    val.check("provisionerName", provisionerName, provisionerNameRule(provisionerName));
    const storageClassName = args.storageClassName ?? "local-path";
    val.check("storageClassName", storageClassName, v.dns1123Subdomain(storageClassName));
    const reclaimPolicy = args.reclaimPolicy ?? "Delete";
    val.check("reclaimPolicy", reclaimPolicy, v.oneOf(reclaimPolicy, ["Delete", "Retain"]));
    const volumeType = args.volumeType ?? "hostPath";
    val.check("volumeType", volumeType, v.oneOf(volumeType, ["hostPath", "local"]));
    const volumeBindingMode = args.volumeBindingMode ?? "WaitForFirstConsumer";
    val.check("volumeBindingMode", volumeBindingMode, v.oneOf(volumeBindingMode, ["WaitForFirstConsumer", "Immediate"]));

    const config = resolveVolumeRoots(val, args, volumeType, volumeBindingMode);
    const parameters = resolveClassParameters(val, args, config);

    const setupScript = args.setupScript ?? DEFAULT_LOCAL_PATH_SETUP_SCRIPT;
    val.check("setupScript", setupScript, v.nonEmptyString(setupScript));
    const teardownScript = args.teardownScript ?? DEFAULT_LOCAL_PATH_TEARDOWN_SCRIPT;
    val.check("teardownScript", teardownScript, v.nonEmptyString(teardownScript));

    const labels = args.labels ?? {};
    v.checkLabels(val, "labels", labels);
    v.checkLabels(val, "nodeSelector", args.nodeSelector);
    checkReservedLabels(val, labels, SELECTOR_LABEL_KEYS, "the provisioner's pod");

    val.throwIfInvalid();
    return {
        name,
        namespace,
        createNamespace,
        image: args.image ?? DEFAULT_LOCAL_PATH_IMAGE,
        helperImage: args.helperImage ?? DEFAULT_LOCAL_PATH_HELPER_IMAGE,
        clusterRoleName: `${namespace}:${name}`,
        provisionerName,
        storageClassName,
        isDefaultClass: args.isDefaultClass ?? false,
        reclaimPolicy,
        volumeBindingMode,
        volumeType,
        config,
        parameters,
        setupScript,
        teardownScript,
        imagePullPolicy,
        debug: args.debug ?? true,
        resources: args.resources ?? { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
        nodeSelector: args.nodeSelector,
        tolerations: args.tolerations,
        labels,
    };
}

/** Where volumes live: per-node paths (nodePathMap), or one filesystem every node mounts; plus the helper pods' timeout. */
function resolveVolumeRoots(val: v.Validator, args: LocalPathProvisionerArgs, volumeType: string, volumeBindingMode: string): LocalPathConfig {
    const shared = args.sharedFileSystemPath;
    const config: LocalPathConfig = {};
    if (shared !== undefined) {
        if (val.check("sharedFileSystemPath", shared, localVolumeRoot(shared))) config.sharedFileSystemPath = shared;
        if (args.nodePathMap !== undefined && (!Array.isArray(args.nodePathMap) || args.nodePathMap.length > 0)) {
            val.fail("sharedFileSystemPath", shared, "cannot be combined with nodePathMap: the provisioner uses one or the other; remove one of them");
        }
        if (volumeType === "local") {
            val.fail(
                "volumeType",
                volumeType,
                'must be "hostPath" with sharedFileSystemPath: "local" volumes need node affinity, which shared-filesystem volumes do not have',
            );
        }
    } else {
        const nodePathMap = args.nodePathMap ?? [{ node: DEFAULT_PATH_FOR_NON_LISTED_NODES, paths: [DEFAULT_LOCAL_PATH_NODE_PATH] }];
        config.nodePathMap = nodePathMap;
        checkNodePathMap(val, nodePathMap);
        if (volumeBindingMode === "Immediate") {
            val.fail(
                "volumeBindingMode",
                volumeBindingMode,
                'must be "WaitForFirstConsumer" with nodePathMap: the provisioner must know the pod\'s node to pick its directory; "Immediate" works only with sharedFileSystemPath',
            );
        }
    }
    if (args.cmdTimeoutSeconds !== undefined) {
        if (val.check("cmdTimeoutSeconds", args.cmdTimeoutSeconds, v.wholeNumber(args.cmdTimeoutSeconds, 1))) config.cmdTimeoutSeconds = args.cmdTimeoutSeconds;
    }
    return config;
}

/** The StorageClass parameters the provisioner reads: nodePath, pathPattern, nodeAffinityKey. */
function resolveClassParameters(val: v.Validator, args: LocalPathProvisionerArgs, config: LocalPathConfig): Record<string, string> {
    const shared = args.sharedFileSystemPath;
    const parameters: Record<string, string> = {};
    if (args.nodePath !== undefined) {
        if (val.check("nodePath", args.nodePath, localVolumeRoot(args.nodePath))) {
            if (shared !== undefined) {
                val.fail("nodePath", args.nodePath, "needs nodePathMap: with sharedFileSystemPath the provisioner ignores it");
            } else if (Array.isArray(config.nodePathMap)) {
                const listed = config.nodePathMap.some(
                    (e) => Array.isArray(e?.paths) && e.paths.some((p) => typeof p === "string" && cleanPath(p) === cleanPath(args.nodePath!)),
                );
                if (!listed)
                    val.fail("nodePath", args.nodePath, "must be one of the paths in nodePathMap: the provisioner only creates volumes under listed paths");
            }
            parameters.nodePath = args.nodePath;
        }
    }
    if (args.pathPattern !== undefined) {
        const p = args.pathPattern;
        if (typeof p !== "string" || !PATH_PATTERN_PREFIX.test(p) || p.split("/").includes("..")) {
            val.fail(
                "pathPattern",
                p,
                'must start with "{{ .PVC.Namespace }}/{{ .PVC.Name }}/" (the provisioner refuses other patterns) and contain no ".." segments',
            );
        } else {
            parameters.pathPattern = p;
        }
    }
    if (args.nodeAffinityKey !== undefined) {
        if (val.check("nodeAffinityKey", args.nodeAffinityKey, v.labelKey(args.nodeAffinityKey))) parameters.nodeAffinityKey = args.nodeAffinityKey;
        if (shared !== undefined) val.fail("nodeAffinityKey", args.nodeAffinityKey, "needs nodePathMap: shared-filesystem volumes have no node affinity");
    }
    return parameters;
}

/** The rules upstream's canonicalizeConfig enforces, checked before anything is applied. */
function checkNodePathMap(val: v.Validator, nodePathMap: NodePathArgs[]): void {
    if (!Array.isArray(nodePathMap) || nodePathMap.length === 0) {
        val.fail(
            "nodePathMap",
            nodePathMap,
            `must list at least one node (or the "${DEFAULT_PATH_FOR_NON_LISTED_NODES}" entry), or set sharedFileSystemPath instead`,
        );
        return;
    }
    const nodes = new Set<string>();
    let anyPath = false;
    nodePathMap.forEach((entry, i) => {
        const f = `nodePathMap[${i}]`;
        const node = entry?.node;
        if (node !== DEFAULT_PATH_FOR_NON_LISTED_NODES) val.check(`${f}.node`, node, v.dns1123Subdomain(node) === undefined ? undefined : NODE_NAME);
        if (typeof node === "string") {
            if (nodes.has(node)) val.fail(`${f}.node`, node, "must be unique in nodePathMap; this node is listed twice");
            nodes.add(node);
        }
        const paths = entry?.paths;
        if (!Array.isArray(paths)) {
            val.fail(`${f}.paths`, paths, "must be a list of absolute paths ([] keeps volumes off this node)");
            return;
        }
        const seen = new Set<string>();
        paths.forEach((p, j) => {
            if (!val.check(`${f}.paths[${j}]`, p, localVolumeRoot(p))) return;
            anyPath = true;
            const clean = cleanPath(p);
            if (seen.has(clean)) val.fail(`${f}.paths[${j}]`, p, `must be unique for the node; ${JSON.stringify(clean)} is listed twice`);
            seen.add(clean);
        });
    });
    if (!anyPath && val.issues.every((i) => !i.field.startsWith("nodePathMap"))) {
        val.fail("nodePathMap", nodePathMap, "must give at least one node a path: with every paths list empty no volume can be provisioned");
    }
}

/** config.json as the provisioner reads it: `nodePathMap` or `sharedFileSystemPath` (then nodePathMap is `[]`, as upstream asks). */
export function buildConfigJson(config: LocalPathConfig): string {
    const out: Record<string, unknown> = {};
    if (config.sharedFileSystemPath !== undefined) {
        out.nodePathMap = [];
        out.sharedFileSystemPath = config.sharedFileSystemPath;
    } else {
        out.nodePathMap = (config.nodePathMap ?? []).map((e) => ({ node: e.node, paths: [...e.paths] }));
    }
    if (config.cmdTimeoutSeconds !== undefined) out.cmdTimeoutSeconds = config.cmdTimeoutSeconds;
    return JSON.stringify(out, null, 2);
}

/**
 * Capabilities the helper pod drops. It keeps CHOWN, DAC_OVERRIDE and FOWNER: teardown must
 * remove files that workloads (running as other users) left in the volume. Upstream refuses a
 * template that adds capabilities, so "drop ALL, add back" is not possible.
 */
export const HELPER_POD_DROPPED_CAPABILITIES = [
    "AUDIT_WRITE",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/**
 * The helper pod template: upstream's, with the image substituted and hardened as far as
 * upstream's template check allows (it refuses volumes, probes, host namespaces, a service
 * account, added capabilities, privilege escalation or root runAsUser unless
 * --allow-unsafe-helper-pod-template is set, which this template does not need). The helper
 * runs as root (it creates and removes directories on the node) but gets no API token, no
 * privilege escalation, the runtime's seccomp profile and fewer capabilities. Written as JSON,
 * which is valid YAML, so no value can be mis-quoted.
 */
export function buildHelperPodYaml(helperImage: string, imagePullPolicy: string = "IfNotPresent"): string {
    const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "helper-pod" },
        spec: {
            priorityClassName: "system-node-critical",
            tolerations: [{ key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule" }],
            // The provisioner sets the pod's serviceAccountName to its own; the helper needs no token.
            automountServiceAccountToken: false,
            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
            // The provisioner reads the logs of the container named "helper-pod".
            containers: [
                {
                    name: "helper-pod",
                    image: helperImage,
                    imagePullPolicy,
                    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: HELPER_POD_DROPPED_CAPABILITIES } },
                },
            ],
        },
    };
    return JSON.stringify(pod, null, 2);
}

/** The ConfigMap's data: config.json, setup, teardown and helperPod.yaml, as upstream names them. */
export function buildLocalPathConfigMapData(
    r: Pick<ResolvedLocalPathProvisioner, "config" | "setupScript" | "teardownScript" | "imagePullPolicy">,
    helperImage: string,
): Record<string, string> {
    return {
        "config.json": buildConfigJson(r.config),
        setup: r.setupScript,
        teardown: r.teardownScript,
        "helperPod.yaml": buildHelperPodYaml(helperImage, r.imagePullPolicy),
    };
}

/**
 * The ConfigMap's name carries a hash of its data. Pulumi replaces a ConfigMap whose data
 * changes; a new name lets it create the new one first and roll the Deployment onto it.
 */
export function localPathConfigMapName(name: string, data: Record<string, string>): string {
    const hash = crypto
        .createHash("sha256")
        .update(JSON.stringify(Object.entries(data).sort()))
        .digest("hex")
        .slice(0, 10);
    return `${name}-config-${hash}`;
}

/**
 * Cluster-wide permissions: upstream v0.0.37's ClusterRole, less what its code only reads in its
 * own namespace. Upstream grants configmaps, pods and pods/log cluster-wide, but reads its
 * ConfigMap, its helper pods and their logs only in the namespace it runs in: those are in
 * `roleRules` instead (a deliberate, tested deviation from upstream's manifest).
 */
export function clusterRoleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [
        { apiGroups: [""], resources: ["nodes", "persistentvolumeclaims"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "watch", "create", "patch", "update", "delete"] },
        { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
        { apiGroups: ["storage.k8s.io"], resources: ["storageclasses"], verbs: ["get", "list", "watch"] },
    ];
}

/**
 * Permissions in its own namespace: upstream v0.0.37's Role (the helper pods' lifecycle), plus
 * what it reads only there — its ConfigMap (get, and list for its readiness check) and the
 * helper pods' logs.
 */
export function roleRules(): k8s.types.input.rbac.v1.PolicyRule[] {
    return [
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "patch", "update", "delete"] },
        { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] },
    ];
}

/** StorageClass annotations: the volume type upstream reads, and the default-class marker when asked. */
export function localPathStorageClassAnnotations(r: Pick<ResolvedLocalPathProvisioner, "isDefaultClass" | "volumeType">): Record<string, string> {
    return {
        ...(r.isDefaultClass ? { "storageclass.kubernetes.io/is-default-class": "true" } : {}),
        defaultVolumeType: r.volumeType,
    };
}

/** The provisioner's command line: upstream's, plus the names that keep it apart from other copies. */
export function localPathProvisionerCommand(r: Pick<ResolvedLocalPathProvisioner, "debug" | "provisionerName" | "name">, configMap: string): string[] {
    return [
        "local-path-provisioner",
        ...(r.debug ? ["--debug"] : []),
        "start",
        "--config",
        `${LOCAL_PATH_CONFIG_MOUNT_PATH}config.json`,
        "--provisioner-name",
        r.provisionerName,
        // The helper pods run as this ServiceAccount and mount the scripts from this ConfigMap.
        "--service-account-name",
        r.name,
        "--configmap-name",
        configMap,
    ];
}

/** Labels that select the provisioner's pod. */
export function localPathSelector(name: string): Record<string, string> {
    return appSelector("local-path-provisioner", name);
}

/** The labels of every object: the user's, the selector's and managed-by. */
export function localPathLabels(r: Pick<ResolvedLocalPathProvisioner, "labels" | "name">): Record<string, string> {
    return { ...r.labels, ...localPathSelector(r.name), ...MANAGED_BY };
}

// --- render: the resolved args as Kubernetes objects ------------------------------------------
// Pure: plain values give plain objects. The names of sibling objects (namespace, ServiceAccount,
// Role, ConfigMap) may be Outputs: the constructor passes its resources' names, so each object
// depends on what it names.

/** The namespace; helper pods mount hostPath volumes, which only the privileged Pod Security level admits. */
export function renderLocalPathNamespace(r: ResolvedLocalPathProvisioner): k8s.core.v1.NamespaceArgs {
    return {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
            name: r.namespace,
            // The provisioner's own pod is restricted anyway.
            labels: { ...localPathLabels(r), "pod-security.kubernetes.io/enforce": "privileged" },
        },
    };
}

export function renderLocalPathServiceAccount(r: ResolvedLocalPathProvisioner, namespace: pulumi.Input<string>): k8s.core.v1.ServiceAccountArgs {
    return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: r.name, namespace, labels: localPathLabels(r) } };
}

/** The ServiceAccount as an RBAC subject. */
function subjects(serviceAccount: pulumi.Input<string>, namespace: pulumi.Input<string>) {
    return [{ kind: "ServiceAccount", name: serviceAccount, namespace }];
}

export function renderLocalPathRole(r: ResolvedLocalPathProvisioner, namespace: pulumi.Input<string>): k8s.rbac.v1.RoleArgs {
    return { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: r.name, namespace, labels: localPathLabels(r) }, rules: roleRules() };
}

export function renderLocalPathRoleBinding(
    r: ResolvedLocalPathProvisioner,
    refs: { namespace: pulumi.Input<string>; role: pulumi.Input<string>; serviceAccount: pulumi.Input<string> },
): k8s.rbac.v1.RoleBindingArgs {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: r.name, namespace: refs.namespace, labels: localPathLabels(r) },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: refs.role },
        subjects: subjects(refs.serviceAccount, refs.namespace),
    };
}

export function renderLocalPathClusterRole(r: ResolvedLocalPathProvisioner): k8s.rbac.v1.ClusterRoleArgs {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: r.clusterRoleName, labels: localPathLabels(r) },
        rules: clusterRoleRules(),
    };
}

export function renderLocalPathClusterRoleBinding(
    r: ResolvedLocalPathProvisioner,
    refs: { namespace: pulumi.Input<string>; clusterRole: pulumi.Input<string>; serviceAccount: pulumi.Input<string> },
): k8s.rbac.v1.ClusterRoleBindingArgs {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: r.clusterRoleName, labels: localPathLabels(r) },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: refs.clusterRole },
        subjects: subjects(refs.serviceAccount, refs.namespace),
    };
}

/** The ConfigMap (config.json, scripts, helper pod template), named after a hash of its data. */
export function renderLocalPathConfigMap(
    r: ResolvedLocalPathProvisioner,
    namespace: pulumi.Input<string>,
    helperImage: pulumi.Input<string>,
): k8s.core.v1.ConfigMapArgs {
    const data = mapInput(helperImage, (img) => buildLocalPathConfigMapData(r, img));
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: mapInput(data, (d) => localPathConfigMapName(r.name, d)), namespace, labels: localPathLabels(r) },
        data,
    };
}

/** The provisioner's container: upstream's command and probes, a restricted, read-only container. */
export function renderLocalPathContainer(
    r: ResolvedLocalPathProvisioner,
    image: pulumi.Input<string>,
    configMap: pulumi.Input<string>,
): k8s.types.input.core.v1.Container {
    return {
        name: "local-path-provisioner",
        image,
        imagePullPolicy: r.imagePullPolicy,
        command: mapInput(configMap, (cm) => localPathProvisionerCommand(r, cm)),
        ports: [{ name: "health", containerPort: LOCAL_PATH_HEALTH_PORT, protocol: "TCP" }],
        startupProbe: {
            httpGet: { path: "/health", port: "health" },
            initialDelaySeconds: 5,
            periodSeconds: 5,
            failureThreshold: 12,
        },
        livenessProbe: { httpGet: { path: "/health", port: "health" }, initialDelaySeconds: 10, periodSeconds: 10 },
        readinessProbe: { httpGet: { path: "/ready", port: "health" }, initialDelaySeconds: 5, periodSeconds: 5 },
        env: [
            { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            { name: "CONFIG_MOUNT_PATH", value: LOCAL_PATH_CONFIG_MOUNT_PATH },
            { name: "HEALTH_PORT", value: String(LOCAL_PATH_HEALTH_PORT) },
        ],
        volumeMounts: [{ name: "config-volume", mountPath: LOCAL_PATH_CONFIG_MOUNT_PATH }],
        resources: r.resources,
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true },
    };
}

/** The provisioner's Deployment: one replica, recreated (never an old and a new pod side by side). */
export function renderLocalPathDeployment(
    r: ResolvedLocalPathProvisioner,
    refs: { namespace: pulumi.Input<string>; image: pulumi.Input<string>; serviceAccount: pulumi.Input<string>; configMap: pulumi.Input<string> },
): k8s.apps.v1.DeploymentArgs {
    const labels = localPathLabels(r);
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: r.name, namespace: refs.namespace, labels },
        spec: {
            replicas: 1,
            // Leader election is off upstream: never run an old and a new pod side by side.
            strategy: { type: "Recreate" },
            selector: { matchLabels: localPathSelector(r.name) },
            template: {
                metadata: { labels },
                spec: {
                    serviceAccountName: refs.serviceAccount,
                    // The image is a static binary on scratch with no user of its own; it only
                    // talks to the API server, so it runs as nobody with a read-only root.
                    securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
                    ...(r.nodeSelector ? { nodeSelector: r.nodeSelector } : {}),
                    ...(r.tolerations ? { tolerations: r.tolerations } : {}),
                    containers: [renderLocalPathContainer(r, refs.image, refs.configMap)],
                    volumes: [{ name: "config-volume", configMap: { name: refs.configMap } }],
                },
            },
        },
    };
}

/** The StorageClass: this provisioner's name, the binding mode, the reclaim policy and parameters. */
export function renderLocalPathStorageClass(r: ResolvedLocalPathProvisioner): k8s.storage.v1.StorageClassArgs {
    return {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: r.storageClassName, labels: localPathLabels(r), annotations: localPathStorageClassAnnotations(r) },
        provisioner: r.provisionerName,
        volumeBindingMode: r.volumeBindingMode,
        reclaimPolicy: r.reclaimPolicy,
        ...(Object.keys(r.parameters).length > 0 ? { parameters: r.parameters } : {}),
    };
}

/**
 * rancher's local-path provisioner with its namespace, least-privilege RBAC, ConfigMap and
 * StorageClass: each claim becomes a directory on the node that runs its pod.
 */
export class LocalPathProvisioner extends pulumi.ComponentResource {
    public readonly namespaceResource?: k8s.core.v1.Namespace;
    public readonly configMap: k8s.core.v1.ConfigMap;
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly storageClass: k8s.storage.v1.StorageClass;
    /** Namespace of the provisioner and its helper pods. */
    public readonly namespace: pulumi.Output<string>;
    /**
     * Name of the StorageClass, for claims (StatefulWorkload `volumeClaims[].storageClassName`).
     * It resolves once the provisioner is running, so workloads using it are created after the
     * provisioner and deleted before it (their volumes can still be torn down).
     */
    public readonly storageClassName: pulumi.Output<string>;
    /** The name the provisioner answers to (the StorageClass's `provisioner`). */
    public readonly provisionerName: pulumi.Output<string>;

    constructor(name: string, args: LocalPathProvisionerArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const context = `LocalPathProvisioner "${name}"`;
        const r = resolveLocalPathProvisionerArgs(name, args, context);
        super("pets:index:LocalPathProvisioner", name, {}, opts);
        // Images given as Outputs are checked when they resolve.
        const image = v.checkInput(context, "image", r.image, v.image);
        const helperImage = v.checkInput(context, "helperImage", r.helperImage, v.image);
        const parent = { parent: this };

        if (r.createNamespace) this.namespaceResource = new k8s.core.v1.Namespace(`${name}-ns`, renderLocalPathNamespace(r), parent);
        const namespace = this.namespaceResource ? this.namespaceResource.metadata.name : pulumi.output(r.namespace);
        const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-sa`, renderLocalPathServiceAccount(r, namespace), parent);
        const role = new k8s.rbac.v1.Role(`${name}-role`, renderLocalPathRole(r, namespace), parent);
        const refs = { namespace, serviceAccount: serviceAccount.metadata.name };
        const roleBinding = new k8s.rbac.v1.RoleBinding(`${name}-rolebinding`, renderLocalPathRoleBinding(r, { ...refs, role: role.metadata.name }), parent);
        const clusterRole = new k8s.rbac.v1.ClusterRole(`${name}-clusterrole`, renderLocalPathClusterRole(r), parent);
        const clusterRoleBinding = new k8s.rbac.v1.ClusterRoleBinding(
            `${name}-clusterrolebinding`,
            renderLocalPathClusterRoleBinding(r, { ...refs, clusterRole: clusterRole.metadata.name }),
            parent,
        );
        this.configMap = new k8s.core.v1.ConfigMap(`${name}-config`, renderLocalPathConfigMap(r, namespace, helperImage), parent);
        this.deployment = new k8s.apps.v1.Deployment(
            `${name}-provisioner`,
            renderLocalPathDeployment(r, { ...refs, image, configMap: this.configMap.metadata.name }),
            // It crash-loops without its permissions; on destroy they outlive it, so volumes
            // deleted meanwhile are still torn down.
            { parent: this, dependsOn: [roleBinding, clusterRoleBinding] },
        );
        this.storageClass = new k8s.storage.v1.StorageClass(`${name}-storageclass`, renderLocalPathStorageClass(r), {
            parent: this,
            // The API server refuses changes to these; the name is fixed, so delete first. Existing
            // volumes keep working: a PV does not need its StorageClass.
            replaceOnChanges: ["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"],
            deleteBeforeReplace: true,
        });

        this.namespace = namespace;
        this.provisionerName = this.storageClass.provisioner;
        this.storageClassName = pulumi.all([this.storageClass.metadata.name, this.deployment.metadata.name]).apply(([sc]) => sc);
        this.registerOutputs({
            namespace: this.namespace,
            storageClassName: this.storageClassName,
            provisionerName: this.provisionerName,
        });
    }
}
