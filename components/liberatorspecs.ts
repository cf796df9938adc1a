import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import {
    ANN,
    EVENT_NAMESPACE,
    FENCE_TOKEN_ENV,
    flagEnv,
    HEARTBEAT_PREFIX,
    HTTP_PATHS,
    NODE_LEASE_NAMESPACE,
    POD_ENV,
    TOKEN_NODE_NAME_EXTRA,
    TOKEN_NODE_UID_EXTRA,
} from "../liberator/contract";
import { appSelector, COMPONENT_LABEL, MANAGED_BY, selectorText } from "./labels";
import type { LiberatorMode, OrphanedVolumesPolicy, ResolvedNodeLiberator } from "./nodeliberator";
import * as v from "./validation";

/**
 * The NodeLiberator's objects as pure functions of its resolved args: least-privilege RBAC per
 * role, the agents' admission policy, the environments the agent and the controller read, the
 * shipped code, and every object the component registers. Plain values give plain objects; the
 * component passes its sibling resources' names (Outputs) where one object names another.
 */

/** Where the ConfigMap with the code is mounted. */
export const LIBERATOR_CODE_PATH = "/opt/liberator";
/** Where the agents' peer key is mounted. */
export const LIBERATOR_PEER_KEY_PATH = "/etc/liberator/peer-key";
/** Where the fence hook's CA bundle is mounted in the controller. */
export const FENCE_CA_FILE = "/etc/liberator/fence-ca/ca.crt";
/** A ConfigMap holds at most 1 MiB, keys and metadata included. */
export const MAX_CONFIGMAP_DATA_BYTES = 1_000_000;
/** The official node image's unprivileged user (the controller). */
export const NODE_IMAGE_UID = 1000;
/** Node flags: small heaps; the agent also runs without a JIT (fewer code pages resident). */
export const CONTROLLER_NODE_FLAGS = ["--jitless", "--max-old-space-size=48", "--max-semi-space-size=2"];
export const AGENT_NODE_FLAGS = ["--jitless", "--max-old-space-size=24", "--max-semi-space-size=1"];

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
    // By flag: each becomes its LIBERATOR_* variable (contract.flagEnv), which the process reads.
    const env: Record<string, string> = {
        namespace: r.namespace,
        "lease-name": r.leaseName,
        mode: r.mode,
        "unhealthy-after": `${r.unhealthyAfterSeconds}s`,
        "max-unhealthy": String(r.maxUnhealthy),
        "storm-cooldown": `${r.stormCooldownSeconds}s`,
        margin: `${r.selfFence.marginSeconds}s`,
        settle: `${r.selfFence.settleSeconds}s`,
        "renew-interval": `${r.heartbeatIntervalSeconds}s`,
        "unsafe-no-fencing": String(r.unsafeNoFencing),
        "remediate-control-plane": String(r.remediateControlPlane),
        "dry-run": String(r.dryRun),
        "opt-out-label": r.optOutLabel,
        "force-delete-pods": String(r.forceDeletePods),
        "release-local-volumes": String(r.releaseLocalVolumes),
        "orphaned-volumes": r.orphanedVolumes,
        "orphaned-volume-grace": `${r.orphanedVolumeGraceSeconds}s`,
        "storm-window": `${r.stormWindowSeconds}s`,
        "lease-duration": `${r.leaseDurationSeconds}s`,
        "renew-deadline": `${r.renewDeadlineSeconds}s`,
        "retry-period": `${r.retryPeriodSeconds}s`,
        "metrics-address": `0.0.0.0:${r.metricsPort}`,
        "log-level": r.logLevel,
        ...(agentSelector ? { "agent-selector": agentSelector } : {}),
    };
    if (r.fence) {
        env["fence-timeout"] = `${r.fence.timeoutSeconds}s`;
        env["fence-retry"] = `${r.fence.retrySeconds}s`;
        if (r.fence.type === "http") {
            env["fence-url"] = r.fence.url;
            env["fence-method"] = r.fence.method;
            if (r.fence.caConfigMap) env["fence-ca-file"] = FENCE_CA_FILE;
        } else env["fence-command"] = JSON.stringify(r.fence.command);
    }
    return Object.entries(env).map(([flag, value]) => ({ name: flagEnv(flag), value }));
}

/** The agent's environment, without the pod fields. */
export function agentEnv(r: ResolvedNodeLiberator): { name: string; value: string }[] {
    const sf = r.selfFence;
    const env: Record<string, string> = {
        namespace: r.namespace,
        "renew-interval": `${r.heartbeatIntervalSeconds}s`,
        "self-fence-timeout": `${sf.timeoutSeconds}s`,
        "fence-exec": `${sf.execSeconds}s`,
        "self-fence": String(sf.enabled),
        "listen-address": `0.0.0.0:${sf.peerPort}`,
        "peer-key-file": `${LIBERATOR_PEER_KEY_PATH}/key`,
        "cri-socket": sf.criSocket,
        "kubelet-name": sf.kubeletProcessName,
        "log-level": r.logLevel,
    };
    if (sf.watchdog) {
        env["watchdog-device"] = sf.watchdog.device;
        if (sf.watchdog.timeoutSeconds !== undefined) env["watchdog-timeout"] = `${sf.watchdog.timeoutSeconds}s`;
    }
    return Object.entries(env).map(([flag, value]) => ({ name: flagEnv(flag), value }));
}

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
    return appSelector("liberator", name);
}

/** Labels that select the controller's pods. */
export function controllerSelector(name: string): Record<string, string> {
    return appSelector("liberator-controller", name);
}

/** The labels of the objects: `base` on shared ones, and each role's with its selector and component. */
export function liberatorLabels(r: Pick<ResolvedNodeLiberator, "name" | "labels">) {
    const base = { ...r.labels, "app.kubernetes.io/part-of": "liberator", ...MANAGED_BY };
    return {
        base,
        agent: { ...base, ...liberatorSelector(r.name), [COMPONENT_LABEL]: "agent" },
        controller: { ...base, ...controllerSelector(r.name), [COMPONENT_LABEL]: "controller" },
    };
}

/** The liberator's two roles: each has a ServiceAccount, RBAC and pods of its own. */
export type LiberatorRole = "controller" | "agent";

/** A ServiceAccount as an RBAC subject. */
export interface Subject {
    kind: string;
    name: pulumi.Input<string>;
    namespace: pulumi.Input<string>;
}

/**
 * The namespace. The agent needs hostPID, hostNetwork, a hostPath to the CRI socket and runs as
 * root with CAP_KILL: only the privileged level admits that. The controller's pod meets the
 * restricted level (tested).
 */
export function renderNamespace(r: ResolvedNodeLiberator): k8s.core.v1.NamespaceArgs {
    return {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: r.namespace, labels: { ...r.labels, "pod-security.kubernetes.io/enforce": "privileged", ...MANAGED_BY } },
    };
}

export function renderServiceAccount(r: ResolvedNodeLiberator, role: LiberatorRole, namespace: pulumi.Input<string>): k8s.core.v1.ServiceAccountArgs {
    const name = role === "controller" ? r.serviceAccountName : r.agentServiceAccountName;
    return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, labels: liberatorLabels(r)[role] } };
}

export function renderClusterRole(r: ResolvedNodeLiberator): k8s.rbac.v1.ClusterRoleArgs {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: r.clusterRoleName, labels: liberatorLabels(r).controller },
        rules: clusterRoleRules(r.mode, r),
    };
}

export function renderClusterRoleBinding(r: ResolvedNodeLiberator, clusterRole: pulumi.Input<string>, subject: Subject): k8s.rbac.v1.ClusterRoleBindingArgs {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: r.clusterRoleName, labels: liberatorLabels(r).controller },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
        subjects: [subject],
    };
}

/** A namespaced Role and its binding to one of the two ServiceAccounts. */
export interface RoleSpec {
    /** Name of the Role, its binding and both resources: `<component>-<suffix>`. */
    name: string;
    /** Where the Role lives; undefined: the liberator's own namespace. */
    namespace?: string;
    rules: k8s.types.input.rbac.v1.PolicyRule[];
    subject: LiberatorRole;
}

/** The Roles: the controller's Leases, the kubelets' Leases and Events; the agents' own Leases. */
export function liberatorRoles(r: ResolvedNodeLiberator): RoleSpec[] {
    return [
        { name: `${r.name}-leases`, rules: leaseRoleRules(r), subject: "controller" },
        { name: `${r.name}-node-leases`, namespace: NODE_LEASE_NAMESPACE, rules: nodeLeaseRoleRules(), subject: "controller" },
        { name: `${r.name}-events`, namespace: EVENT_NAMESPACE, rules: eventRoleRules(), subject: "controller" },
        { name: `${r.name}-agent-leases`, rules: agentLeaseRoleRules(), subject: "agent" },
    ];
}

export function renderRole(r: ResolvedNodeLiberator, spec: RoleSpec, namespace: pulumi.Input<string>): k8s.rbac.v1.RoleArgs {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: spec.name, namespace, labels: liberatorLabels(r)[spec.subject] },
        rules: spec.rules,
    };
}

export function renderRoleBinding(
    r: ResolvedNodeLiberator,
    spec: RoleSpec,
    namespace: pulumi.Input<string>,
    role: pulumi.Input<string>,
    subject: Subject,
): k8s.rbac.v1.RoleBindingArgs {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: spec.name, namespace, labels: liberatorLabels(r)[spec.subject] },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role },
        subjects: [subject],
    };
}

export function renderAgentPolicy(r: ResolvedNodeLiberator): k8s.admissionregistration.v1.ValidatingAdmissionPolicyArgs {
    return {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicy",
        metadata: { name: r.policyName, labels: liberatorLabels(r).agent },
        spec: agentPolicySpec(r.namespace, r.agentServiceAccountName),
    };
}

export function renderAgentPolicyBinding(
    r: ResolvedNodeLiberator,
    policy: pulumi.Input<string>,
): k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingArgs {
    return {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: { name: r.policyName, labels: liberatorLabels(r).agent },
        spec: { policyName: policy, validationActions: ["Deny"] },
    };
}

/** The agents' peer HMAC key; `key` is generated by the component (a Pulumi secret). */
export function renderPeerKeySecret(r: ResolvedNodeLiberator, namespace: pulumi.Input<string>, key: pulumi.Input<string>): k8s.core.v1.SecretArgs {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: r.peerKeySecretName, namespace, labels: liberatorLabels(r).agent },
        type: "Opaque",
        stringData: { key },
    };
}

/** The code for the ConfigMap; a ValidationError (pointing at codeSource "image") if it does not fit. */
export function liberatorCodeData(context: string): Record<string, string> {
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
    return data;
}

export function renderCodeConfigMap(r: ResolvedNodeLiberator, namespace: pulumi.Input<string>, data: Record<string, string>): k8s.core.v1.ConfigMapArgs {
    return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${r.name}-code`, namespace, labels: liberatorLabels(r).base }, data };
}

/** How the pods get the code: the volume and mount, the annotation that rolls them, and the controller's command. */
export interface CodeShipping {
    volumes: k8s.types.input.core.v1.Volume[];
    mounts: k8s.types.input.core.v1.VolumeMount[];
    annotations: Record<string, string>;
    /** Undefined: the image's entry point (your own image, liberator/Dockerfile). */
    controllerCommand?: string[];
}

/** The code from the ConfigMap: a new hash rolls the pods when the code changes (the ConfigMap keeps its name). */
export function codeFromConfigMap(configMap: pulumi.Input<string>, data: Record<string, string>): CodeShipping {
    return {
        volumes: [{ name: "code", configMap: { name: configMap, defaultMode: 0o444 } }],
        mounts: [{ name: "code", mountPath: LIBERATOR_CODE_PATH, readOnly: true }],
        annotations: {
            [ANN.codeSha256]: crypto
                .createHash("sha256")
                .update(JSON.stringify(Object.entries(data)))
                .digest("hex"),
        },
        controllerCommand: ["node", ...CONTROLLER_NODE_FLAGS, `${LIBERATOR_CODE_PATH}/main.js`],
    };
}

/** Your own image has the code in the same place (liberator/Dockerfile); its entry point is the controller. */
export function codeFromImage(): CodeShipping {
    return { volumes: [], mounts: [], annotations: {} };
}

const POD_FIELDS = [
    { name: POD_ENV.name, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: POD_ENV.namespace, valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
];

/** The agent's container: root for the root-owned CRI socket, of all capabilities only KILL. */
export function renderAgentContainer(r: ResolvedNodeLiberator, image: pulumi.Input<string>, code: CodeShipping): k8s.types.input.core.v1.Container {
    const sf = r.selfFence;
    return {
        name: "agent",
        image,
        imagePullPolicy: r.imagePullPolicy,
        command: ["node", ...AGENT_NODE_FLAGS, `${LIBERATOR_CODE_PATH}/agent.js`],
        env: [
            { name: POD_ENV.node, valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: POD_ENV.hostIp, valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
            ...POD_FIELDS,
            ...agentEnv(r),
        ],
        ports: [{ name: "peer", containerPort: sf.peerPort, hostPort: sf.peerPort, protocol: "TCP" }],
        livenessProbe: { httpGet: { path: HTTP_PATHS.livez, port: "peer" }, initialDelaySeconds: 10, periodSeconds: 20, failureThreshold: 3 },
        resources: r.agentResources,
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
        volumeMounts: [
            ...code.mounts,
            { name: "peer-key", mountPath: LIBERATOR_PEER_KEY_PATH, readOnly: true },
            { name: "cri-socket", mountPath: sf.criSocket },
            ...(sf.watchdog ? [{ name: "watchdog", mountPath: sf.watchdog.device }] : []),
        ],
    };
}

/** The agents: one per node, on the node's PID and network namespaces, with the CRI socket and nothing else of the host. */
export function renderAgentDaemonSet(
    r: ResolvedNodeLiberator,
    refs: {
        namespace: pulumi.Input<string>;
        image: pulumi.Input<string>;
        serviceAccount: pulumi.Input<string>;
        peerKeySecret: pulumi.Input<string>;
        code: CodeShipping;
    },
): k8s.apps.v1.DaemonSetArgs {
    const sf = r.selfFence;
    const labels = liberatorLabels(r).agent;
    return {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: { name: r.name, namespace: refs.namespace, labels },
        spec: {
            selector: { matchLabels: liberatorSelector(r.name) },
            updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
            template: {
                metadata: { labels, annotations: { ...refs.code.annotations, "prometheus.io/scrape": "true", "prometheus.io/port": String(sf.peerPort) } },
                spec: {
                    serviceAccountName: refs.serviceAccount,
                    automountServiceAccountToken: true,
                    // hostPID: the agent finds and kills its node's kubelet; hostNetwork: the
                    // peer check must test the node's network, not the pod network.
                    hostPID: true,
                    hostNetwork: true,
                    dnsPolicy: "ClusterFirstWithHostNet",
                    ...(r.agentPriorityClassName ? { priorityClassName: r.agentPriorityClassName } : {}),
                    tolerations: r.tolerations,
                    ...(r.nodeSelector ? { nodeSelector: r.nodeSelector } : {}),
                    terminationGracePeriodSeconds: 10,
                    securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                    containers: [renderAgentContainer(r, refs.image, refs.code)],
                    volumes: [
                        ...refs.code.volumes,
                        { name: "peer-key", secret: { secretName: refs.peerKeySecret, defaultMode: 0o400 } },
                        { name: "cri-socket", hostPath: { path: sf.criSocket, type: "Socket" } },
                        ...(sf.watchdog ? [{ name: "watchdog", hostPath: { path: sf.watchdog.device, type: "CharDevice" } }] : []),
                    ],
                },
            },
        },
    };
}

/** The controller's container: unprivileged, read-only; its settings as LIBERATOR_* variables, the fence hook's token from a Secret. */
export function renderControllerContainer(r: ResolvedNodeLiberator, image: pulumi.Input<string>, code: CodeShipping): k8s.types.input.core.v1.Container {
    const env: pulumi.Input<k8s.types.input.core.v1.EnvVar>[] = [...POD_FIELDS, ...controllerEnv(r, selectorText(liberatorSelector(r.name)))];
    if (r.fence?.type === "http" && r.fence.tokenSecret) {
        env.push({ name: FENCE_TOKEN_ENV, valueFrom: { secretKeyRef: { name: r.fence.tokenSecret.name, key: r.fence.tokenSecret.key } } });
    }
    const caMount = r.fence?.type === "http" && r.fence.caConfigMap ? [{ name: "fence-ca", mountPath: path.posix.dirname(FENCE_CA_FILE), readOnly: true }] : [];
    return {
        name: "controller",
        image,
        imagePullPolicy: r.imagePullPolicy,
        ...(code.controllerCommand ? { command: code.controllerCommand } : {}),
        env,
        ports: [{ name: "metrics", containerPort: r.metricsPort, protocol: "TCP" }],
        readinessProbe: { httpGet: { path: HTTP_PATHS.healthz, port: "metrics" }, periodSeconds: 10, failureThreshold: 3 },
        livenessProbe: { httpGet: { path: HTTP_PATHS.livez, port: "metrics" }, initialDelaySeconds: 10, periodSeconds: 20, failureThreshold: 3 },
        resources: r.resources,
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true, runAsNonRoot: true },
        volumeMounts: [...r.extraVolumeMounts, ...code.mounts, ...caMount],
    };
}

/** The controller: leader-elected replicas spread over nodes, a restricted pod. */
export function renderControllerDeployment(
    r: ResolvedNodeLiberator,
    refs: { namespace: pulumi.Input<string>; image: pulumi.Input<string>; serviceAccount: pulumi.Input<string>; code: CodeShipping },
): k8s.apps.v1.DeploymentArgs {
    const labels = liberatorLabels(r).controller;
    const fenceCa = r.fence?.type === "http" ? r.fence.caConfigMap : undefined;
    const volumes: pulumi.Input<k8s.types.input.core.v1.Volume>[] = [
        ...r.extraVolumes,
        ...refs.code.volumes,
        ...(fenceCa ? [{ name: "fence-ca", configMap: { name: fenceCa.name, items: [{ key: fenceCa.key, path: "ca.crt" }] } }] : []),
    ];
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: r.controllerName, namespace: refs.namespace, labels },
        spec: {
            replicas: r.controllerReplicas,
            selector: { matchLabels: controllerSelector(r.name) },
            strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
            template: {
                metadata: {
                    labels,
                    annotations: {
                        ...refs.code.annotations,
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": String(r.metricsPort),
                        "prometheus.io/path": HTTP_PATHS.metrics,
                    },
                },
                spec: {
                    serviceAccountName: refs.serviceAccount,
                    automountServiceAccountToken: true,
                    ...(r.priorityClassName ? { priorityClassName: r.priorityClassName } : {}),
                    // Replicas on different nodes, so losing one node never takes both.
                    affinity: {
                        podAntiAffinity: {
                            preferredDuringSchedulingIgnoredDuringExecution: [
                                {
                                    weight: 100,
                                    podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: controllerSelector(r.name) } },
                                },
                            ],
                        },
                    },
                    terminationGracePeriodSeconds: 15,
                    securityContext: { runAsNonRoot: true, runAsUser: NODE_IMAGE_UID, runAsGroup: NODE_IMAGE_UID, seccompProfile: { type: "RuntimeDefault" } },
                    containers: [renderControllerContainer(r, refs.image, refs.code)],
                    ...(volumes.length > 0 ? { volumes } : {}),
                },
            },
        },
    };
}
