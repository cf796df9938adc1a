import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ANN } from "../liberator/contract";
import { appSelector, checkReservedLabels, MANAGED_BY, SELECTOR_LABEL_KEYS } from "./labels";
import * as tls from "./tls";
import * as v from "./validation";

/** A port the pods listen on; the headless (and client) Service exposes it. */
export interface PortArgs {
    /** IANA service name of the port; also the SRV record's `_<name>._<protocol>` prefix. */
    name: string;
    /** Port the container listens on. */
    containerPort: number;
    /** Port the Services expose. @default containerPort */
    servicePort?: number;
    /** @default "TCP" */
    protocol?: "TCP" | "UDP" | "SCTP";
}

/** One volume claim template: every pod gets its own PVC `<name>-<statefulset>-<ordinal>`. */
export interface VolumeClaimArgs {
    /** Template name (a DNS-1123 label); the first part of every PVC's name. */
    name: string;
    /** Requested size as a Kubernetes quantity, e.g. "1Gi". */
    size: string;
    /** Where the volume is mounted in the main container (absolute path). */
    mountPath: string;
    /** Mount only this directory of the volume (relative). Useful where the volume's root holds lost+found. @default the volume's root */
    subPath?: string;
    /** StorageClass to provision from; e.g. a LocalPathProvisioner's `storageClassName`. @default the cluster's default class */
    storageClassName?: pulumi.Input<string>;
    /** @default ["ReadWriteOnce"] */
    accessModes?: ("ReadWriteOnce" | "ReadWriteOncePod" | "ReadOnlyMany" | "ReadWriteMany")[];
    /** Mount read-only. @default false */
    readOnly?: boolean;
}

/** An environment value: plain text, or a reference to a key in a Secret or ConfigMap, or a pod field. */
export type EnvValue =
    | pulumi.Input<string>
    | { secretKeyRef: { name: pulumi.Input<string>; key: pulumi.Input<string>; optional?: boolean } }
    | { configMapKeyRef: { name: pulumi.Input<string>; key: pulumi.Input<string>; optional?: boolean } }
    | { fieldRef: string };

export type UpdateStrategyArgs =
    | {
          type: "RollingUpdate";
          /** Only ordinals >= partition are updated: a canary. @default 0 */
          partition?: number;
          /** Pods that may be unavailable during the update (needs the MaxUnavailableStatefulSet feature). @default 1 (the API's own default) */
          maxUnavailable?: number | string;
      }
    | { type: "OnDelete" };

/** The pod security profile; `restricted` follows the Pod Security Standard of that name. */
export interface SecurityArgs {
    /** "restricted": non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp. "baseline": for images that must start as root (the official mysql image, say). @default "restricted" */
    profile?: "restricted" | "baseline";
    /** @default the image's user */
    runAsUser?: number;
    /** @default the image's group */
    runAsGroup?: number;
    /** Group that owns mounted volumes (where the volume type supports it). @default none */
    fsGroup?: number;
    /** @default false */
    readOnlyRootFilesystem?: boolean;
}

export interface StatefulWorkloadArgs {
    /** Namespace for every object. @default "default" */
    namespace?: pulumi.Input<string>;
    /** Name of the StatefulSet (and the pods' prefix). A DNS-1123 label of at most 52 characters. @default the component name */
    statefulSetName?: string;
    /** Name of the governing headless Service. @default the StatefulSet name */
    serviceName?: string;
    /** Container image. */
    image: pulumi.Input<string>;
    /** @default "IfNotPresent" */
    imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
    /** Overrides the image's entrypoint. @default the image's */
    command?: pulumi.Input<string>[];
    /** Arguments to the entrypoint. @default the image's */
    args?: pulumi.Input<string>[];
    /** Environment of the main container, by variable name. @default {} */
    env?: Record<string, EnvValue>;
    /** Ports; each is published on the headless Service (SRV records) and the client Service. @default [] */
    ports?: PortArgs[];
    /** Number of pods. Scale-down removes the highest ordinals first. @default 1 */
    replicas?: number;
    /** First ordinal (`web-<start>`). @default 0 */
    ordinalsStart?: number;
    /** Per-pod storage. @default [] */
    volumeClaims?: VolumeClaimArgs[];
    /** "OrderedReady" starts pods one by one in ordinal order; "Parallel" starts them all at once. Changing it replaces the StatefulSet. @default "OrderedReady" */
    podManagementPolicy?: "OrderedReady" | "Parallel";
    /** @default { type: "RollingUpdate", partition: 0 } */
    updateStrategy?: UpdateStrategyArgs;
    /** Seconds a new pod must be Ready before it counts as available. @default 0 */
    minReadySeconds?: number;
    /** What happens to PVCs when the StatefulSet is deleted or scaled down. @default { whenDeleted: "Retain", whenScaled: "Retain" } — data outlives pods */
    pvcRetention?: { whenDeleted?: "Retain" | "Delete"; whenScaled?: "Retain" | "Delete" };
    /** @default none */
    livenessProbe?: pulumi.Input<k8s.types.input.core.v1.Probe>;
    /** @default none */
    readinessProbe?: pulumi.Input<k8s.types.input.core.v1.Probe>;
    /** @default none */
    startupProbe?: pulumi.Input<k8s.types.input.core.v1.Probe>;
    /** CPU and memory requests and limits of the main container. @default none */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** @default { profile: "restricted" } */
    security?: SecurityArgs;
    /** Spread pods over nodes: "preferred" (soft anti-affinity), "required" (hard) or "none". @default "preferred" */
    spreadAcrossNodes?: "preferred" | "required" | "none";
    /** PodDisruptionBudget, or false for none. @default { maxUnavailable: 1 } */
    disruptionBudget?: false | { maxUnavailable: number | string };
    /** Also create a normal (ClusterIP) Service named `<statefulSetName>-client` for clients that want any pod. @default false */
    clientService?: boolean | { type?: "ClusterIP" | "NodePort" | "LoadBalancer" };
    /** Labels added to every object; pods also carry them. @default {} */
    labels?: Record<string, string>;
    /** Annotations on the pods. @default {} */
    podAnnotations?: Record<string, pulumi.Input<string>>;
    /** @default none */
    nodeSelector?: Record<string, string>;
    /** @default none */
    tolerations?: pulumi.Input<k8s.types.input.core.v1.Toleration>[];
    /** @default the namespace's default ServiceAccount */
    serviceAccountName?: pulumi.Input<string>;
    /** @default 30 */
    terminationGracePeriodSeconds?: number;
    /** Extra pod volumes (Secrets, ConfigMaps), mounted with `extraVolumeMounts`. @default [] */
    extraVolumes?: pulumi.Input<k8s.types.input.core.v1.Volume>[];
    /** Extra mounts in the main container. @default [] */
    extraVolumeMounts?: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[];
    /** Kubernetes cluster DNS domain, for the stable DNS names. @default "cluster.local" */
    clusterDomain?: string;
    /** TLS through cert-manager: a Certificate for every pod's stable DNS names and the Services' names, kept in step with `replicas`, its Secret mounted read-only in every pod (docs/tls.md). @default none */
    tls?: tls.TlsArgs;
    /**
     * What a NodeLiberator may do when a pod's PVC is bound to a local volume on a node that died:
     * "wait" for the node (no data is lost), or "delete-pvc" so the replacement pod starts on a
     * healthy node with fresh, empty storage — only for replicated stores that resync from peers.
     * @default "wait"
     */
    localVolumePolicy?: "wait" | "delete-pvc";
}

/** The args with every default applied; produced by `resolveStatefulWorkloadArgs`. */
export interface ResolvedStatefulWorkload {
    /** As given (default "default"): checked now when plain; an Output is checked by the constructor when it resolves. */
    namespace: pulumi.Input<string>;
    statefulSetName: string;
    serviceName: string;
    /** As given: checked now when plain; an Output is checked by the constructor when it resolves. */
    image: pulumi.Input<string>;
    imagePullPolicy: "Always" | "IfNotPresent" | "Never";
    command?: pulumi.Input<string>[];
    args?: pulumi.Input<string>[];
    env: Record<string, EnvValue>;
    replicas: number;
    ordinalsStart: number;
    ports: Required<PortArgs>[];
    volumeClaims: (VolumeClaimArgs & { accessModes: NonNullable<VolumeClaimArgs["accessModes"]>; readOnly: boolean })[];
    podManagementPolicy: "OrderedReady" | "Parallel";
    updateStrategy: { type: "RollingUpdate"; partition: number; maxUnavailable?: number | string } | { type: "OnDelete" };
    minReadySeconds: number;
    pvcRetention: { whenDeleted: "Retain" | "Delete"; whenScaled: "Retain" | "Delete" };
    livenessProbe?: pulumi.Input<k8s.types.input.core.v1.Probe>;
    readinessProbe?: pulumi.Input<k8s.types.input.core.v1.Probe>;
    startupProbe?: pulumi.Input<k8s.types.input.core.v1.Probe>;
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    security: SecurityArgs & { profile: "restricted" | "baseline" };
    spreadAcrossNodes: "preferred" | "required" | "none";
    disruptionBudget: false | { maxUnavailable: number | string };
    clientService: false | { type: "ClusterIP" | "NodePort" | "LoadBalancer" };
    labels: Record<string, string>;
    podAnnotations?: Record<string, pulumi.Input<string>>;
    nodeSelector?: Record<string, string>;
    tolerations?: pulumi.Input<k8s.types.input.core.v1.Toleration>[];
    serviceAccountName?: pulumi.Input<string>;
    extraVolumes?: pulumi.Input<k8s.types.input.core.v1.Volume>[];
    extraVolumeMounts?: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[];
    clusterDomain: string;
    terminationGracePeriodSeconds: number;
    tls?: tls.ResolvedTls;
    localVolumePolicy: "wait" | "delete-pvc";
}

const PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
const ACCESS_MODES = ["ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany", "ReadWriteMany"] as const;
const RETENTION = ["Retain", "Delete"] as const;

/** Fields of a StatefulSet the API server refuses to change; a change replaces the StatefulSet. */
export const IMMUTABLE_STATEFULSET_FIELDS = ["spec.podManagementPolicy", "spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"];

/**
 * Applies defaults and validates every plain argument. Throws a ValidationError listing every
 * invalid field before any resource exists. Inputs that are Outputs are checked when they resolve.
 */
export function resolveStatefulWorkloadArgs(name: string, args: StatefulWorkloadArgs, context = `StatefulWorkload "${name}"`): ResolvedStatefulWorkload {
    const val = new v.Validator(context);
    if (args === undefined || args === null) {
        val.fail("args", args, "must be an object with at least `image`");
        val.throwIfInvalid();
    }
    const statefulSetName = args.statefulSetName ?? name;
    val.check(args.statefulSetName === undefined ? "name" : "statefulSetName", statefulSetName, v.statefulSetName(statefulSetName));
    const serviceName = args.serviceName ?? statefulSetName;
    // A derived name is valid whenever the StatefulSet name is; check only an explicit one.
    if (args.serviceName !== undefined) val.check("serviceName", serviceName, v.dns1123Label(serviceName));

    if (v.isKnown(args.image)) val.check("image", args.image, v.image(args.image));
    if (v.isKnown(args.namespace) && args.namespace !== undefined) val.check("namespace", args.namespace, v.dns1123Label(args.namespace));
    if (args.imagePullPolicy !== undefined)
        val.check("imagePullPolicy", args.imagePullPolicy, v.oneOf(args.imagePullPolicy, ["Always", "IfNotPresent", "Never"]));

    const replicas = args.replicas ?? 1;
    val.check("replicas", replicas, v.wholeNumber(replicas, 0));
    const ordinalsStart = args.ordinalsStart ?? 0;
    val.check("ordinalsStart", ordinalsStart, v.wholeNumber(ordinalsStart, 0));
    if (Number.isInteger(ordinalsStart) && Number.isInteger(replicas) && replicas > 0) {
        const longest = `${statefulSetName}-${ordinalsStart + replicas - 1}`;
        if (longest.length > 63)
            val.fail("replicas", replicas, `pod name "${longest}" would be longer than 63 characters; use a shorter name or fewer replicas`);
    }

    for (const [key] of Object.entries(args.env ?? {})) val.check(`env key`, key, v.envVarName(key));
    const ports = resolvePorts(val, args.ports ?? []);
    const volumeClaims = resolveVolumeClaims(val, args.volumeClaims ?? [], statefulSetName, replicas, ordinalsStart);

    const podManagementPolicy = args.podManagementPolicy ?? "OrderedReady";
    val.check("podManagementPolicy", podManagementPolicy, v.oneOf(podManagementPolicy, ["OrderedReady", "Parallel"]));
    const updateStrategy = resolveUpdateStrategy(val, args.updateStrategy, replicas);

    const minReadySeconds = args.minReadySeconds ?? 0;
    val.check("minReadySeconds", minReadySeconds, v.wholeNumber(minReadySeconds, 0));
    const terminationGracePeriodSeconds = args.terminationGracePeriodSeconds ?? 30;
    val.check("terminationGracePeriodSeconds", terminationGracePeriodSeconds, v.wholeNumber(terminationGracePeriodSeconds, 0));

    const pvcRetention = { whenDeleted: args.pvcRetention?.whenDeleted ?? "Retain", whenScaled: args.pvcRetention?.whenScaled ?? "Retain" } as const;
    val.check("pvcRetention.whenDeleted", pvcRetention.whenDeleted, v.oneOf(pvcRetention.whenDeleted, RETENTION));
    val.check("pvcRetention.whenScaled", pvcRetention.whenScaled, v.oneOf(pvcRetention.whenScaled, RETENTION));

    const security = resolveSecurity(val, args.security);
    const spreadAcrossNodes = args.spreadAcrossNodes ?? "preferred";
    val.check("spreadAcrossNodes", spreadAcrossNodes, v.oneOf(spreadAcrossNodes, ["preferred", "required", "none"]));

    const disruptionBudget = args.disruptionBudget === undefined ? { maxUnavailable: 1 } : args.disruptionBudget;
    if (disruptionBudget !== false)
        val.check("disruptionBudget.maxUnavailable", disruptionBudget.maxUnavailable, v.intOrPercent(disruptionBudget.maxUnavailable, 0));

    let clientService: ResolvedStatefulWorkload["clientService"] = false;
    if (args.clientService) {
        const type = args.clientService === true ? "ClusterIP" : (args.clientService.type ?? "ClusterIP");
        val.check("clientService.type", type, v.oneOf(type, ["ClusterIP", "NodePort", "LoadBalancer"]));
        if (ports.length === 0 && (args.ports ?? []).length === 0) val.fail("clientService", args.clientService, "needs at least one entry in ports");
        clientService = { type };
    }

    const labels = args.labels ?? {};
    v.checkLabels(val, "labels", labels);
    v.checkLabels(val, "nodeSelector", args.nodeSelector);
    checkReservedLabels(val, labels, SELECTOR_LABEL_KEYS, "the pods");
    const clusterDomain = args.clusterDomain ?? "cluster.local";
    val.check("clusterDomain", clusterDomain, v.dns1123Subdomain(clusterDomain));
    const localVolumePolicy = args.localVolumePolicy ?? "wait";
    val.check("localVolumePolicy", localVolumePolicy, v.oneOf(localVolumePolicy, ["wait", "delete-pvc"]));
    const tlsConfig = tls.resolveTls(val, args.tls, {
        statefulSetName,
        serviceName,
        replicas,
        ordinalsStart,
        clusterDomain,
        clientService,
        namespace: args.namespace,
        volumeClaims,
        extraVolumes: args.extraVolumes,
        extraVolumeMounts: args.extraVolumeMounts,
    });

    val.throwIfInvalid();
    return {
        namespace: args.namespace ?? "default",
        statefulSetName,
        serviceName,
        image: args.image,
        imagePullPolicy: args.imagePullPolicy ?? "IfNotPresent",
        command: args.command,
        args: args.args,
        env: args.env ?? {},
        replicas,
        ordinalsStart,
        ports,
        volumeClaims,
        podManagementPolicy,
        updateStrategy,
        minReadySeconds,
        pvcRetention,
        livenessProbe: args.livenessProbe,
        readinessProbe: args.readinessProbe,
        startupProbe: args.startupProbe,
        resources: args.resources,
        security,
        spreadAcrossNodes,
        disruptionBudget,
        clientService,
        labels,
        podAnnotations: args.podAnnotations,
        nodeSelector: args.nodeSelector,
        tolerations: args.tolerations,
        serviceAccountName: args.serviceAccountName,
        extraVolumes: args.extraVolumes,
        extraVolumeMounts: args.extraVolumeMounts,
        clusterDomain,
        terminationGracePeriodSeconds,
        localVolumePolicy,
        ...(tlsConfig ? { tls: tlsConfig } : {}),
    };
}

function resolvePorts(val: v.Validator, given: PortArgs[]): Required<PortArgs>[] {
    const ports: Required<PortArgs>[] = [];
    const portNames = new Set<string>();
    const portKeys = new Set<string>();
    const containerPortKeys = new Set<string>();
    given.forEach((p, i) => {
        const f = `ports[${i}]`;
        val.check(`${f}.name`, p.name, v.portName(p.name));
        val.check(`${f}.containerPort`, p.containerPort, v.port(p.containerPort));
        const servicePort = p.servicePort ?? p.containerPort;
        if (p.servicePort !== undefined) val.check(`${f}.servicePort`, p.servicePort, v.port(p.servicePort));
        const protocol = p.protocol ?? "TCP";
        val.check(`${f}.protocol`, protocol, v.oneOf(protocol, PROTOCOLS));
        if (portNames.has(p.name)) val.fail(`${f}.name`, p.name, "must be unique among ports; it is used twice");
        portNames.add(p.name);
        const key = `${servicePort}/${protocol}`;
        if (portKeys.has(key)) val.fail(`${f}.servicePort`, servicePort, `must be unique per protocol among ports; ${key} is used twice`);
        portKeys.add(key);
        // The API server's server-side apply merges container ports by containerPort and protocol.
        const containerKey = `${p.containerPort}/${protocol}`;
        if (containerPortKeys.has(containerKey))
            val.fail(
                `${f}.containerPort`,
                p.containerPort,
                `must be unique per protocol among ports; ${containerKey} is used twice (give one port several service ports with separate Services instead)`,
            );
        containerPortKeys.add(containerKey);
        ports.push({ name: p.name, containerPort: p.containerPort, servicePort, protocol });
    });
    return ports;
}

function resolveVolumeClaims(
    val: v.Validator,
    given: VolumeClaimArgs[],
    statefulSetName: string,
    replicas: number,
    ordinalsStart: number,
): ResolvedStatefulWorkload["volumeClaims"] {
    const claimNames = new Set<string>();
    const mountPaths = new Set<string>();
    return given.map((c, i) => {
        const f = `volumeClaims[${i}]`;
        val.check(`${f}.name`, c.name, v.dns1123Label(c.name));
        if (claimNames.has(c.name)) val.fail(`${f}.name`, c.name, "must be unique among volumeClaims; it is used twice");
        claimNames.add(c.name);
        if (typeof c.name === "string" && Number.isInteger(replicas)) {
            const pvc = `${c.name}-${statefulSetName}-${ordinalsStart + Math.max(replicas, 1) - 1}`;
            if (pvc.length > 253) val.fail(`${f}.name`, c.name, `PVC name "${pvc}" would be longer than 253 characters`);
        }
        val.check(`${f}.size`, c.size, v.storageQuantity(c.size));
        val.check(`${f}.mountPath`, c.mountPath, v.absolutePath(c.mountPath));
        if (mountPaths.has(c.mountPath)) val.fail(`${f}.mountPath`, c.mountPath, "must be unique among volumeClaims; two volumes cannot mount at one path");
        mountPaths.add(c.mountPath);
        if (c.subPath !== undefined) val.check(`${f}.subPath`, c.subPath, v.relativeSubPath(c.subPath));
        if (v.isKnown(c.storageClassName) && c.storageClassName !== undefined) {
            val.check(`${f}.storageClassName`, c.storageClassName, v.dns1123Subdomain(c.storageClassName));
        }
        const accessModes = c.accessModes ?? ["ReadWriteOnce"];
        if (!Array.isArray(accessModes) || accessModes.length === 0)
            val.fail(`${f}.accessModes`, accessModes, `must be a non-empty list of ${ACCESS_MODES.join(", ")}`);
        else accessModes.forEach((m, j) => val.check(`${f}.accessModes[${j}]`, m, v.oneOf(m, ACCESS_MODES)));
        return { ...c, accessModes, readOnly: c.readOnly ?? false };
    });
}

function resolveUpdateStrategy(val: v.Validator, us: UpdateStrategyArgs | undefined, replicas: number): ResolvedStatefulWorkload["updateStrategy"] {
    if (us === undefined) return { type: "RollingUpdate", partition: 0 };
    if (!val.check("updateStrategy.type", us.type, v.oneOf(us.type, ["RollingUpdate", "OnDelete"]))) return { type: "RollingUpdate", partition: 0 };
    if (us.type === "OnDelete") return { type: "OnDelete" };
    const partition = us.partition ?? 0;
    if (val.check("updateStrategy.partition", partition, v.wholeNumber(partition, 0)) && Number.isInteger(replicas) && replicas >= 0 && partition > replicas) {
        val.fail("updateStrategy.partition", partition, `must be at most replicas (${replicas}); a partition above replicas updates no pod`);
    }
    if (us.maxUnavailable !== undefined) val.check("updateStrategy.maxUnavailable", us.maxUnavailable, v.intOrPercent(us.maxUnavailable, 1));
    return { type: "RollingUpdate", partition, ...(us.maxUnavailable !== undefined ? { maxUnavailable: us.maxUnavailable } : {}) };
}

function resolveSecurity(val: v.Validator, given: SecurityArgs | undefined): ResolvedStatefulWorkload["security"] {
    const security = { ...(given ?? {}), profile: given?.profile ?? "restricted" } as ResolvedStatefulWorkload["security"];
    val.check("security.profile", security.profile, v.oneOf(security.profile, ["restricted", "baseline"]));
    for (const k of ["runAsUser", "runAsGroup", "fsGroup"] as const) {
        if (security[k] !== undefined) val.check(`security.${k}`, security[k], v.wholeNumber(security[k], 0, 2147483647));
    }
    if (security.profile === "restricted" && security.runAsUser === 0) {
        val.fail("security.runAsUser", 0, 'must not be 0 (root) with profile "restricted"; use profile "baseline" for images that must run as root');
    }
    return security;
}

/** Pod names in ordinal order: `<sts>-<start>` … */
export function podNames(statefulSetName: string, replicas: number, ordinalsStart = 0): string[] {
    return Array.from({ length: replicas }, (_, i) => `${statefulSetName}-${ordinalsStart + i}`);
}

/** Every pod's stable DNS name: `<pod>.<service>.<namespace>.svc.<domain>`. */
export function podDnsNames(
    statefulSetName: string,
    serviceName: string,
    namespace: string,
    replicas: number,
    ordinalsStart = 0,
    clusterDomain = "cluster.local",
): string[] {
    return podNames(statefulSetName, replicas, ordinalsStart).map((p) => `${p}.${serviceName}.${namespace}.svc.${clusterDomain}`);
}

/** PVC names the StatefulSet controller creates: `<template>-<sts>-<ordinal>`, template by template. */
export function pvcNames(statefulSetName: string, templates: string[], replicas: number, ordinalsStart = 0): string[] {
    return templates.flatMap((t) => podNames(statefulSetName, replicas, ordinalsStart).map((p) => `${t}-${p}`));
}

/**
 * Annotations that tell the Kubernetes provider what to wait for. Its StatefulSet await waits for
 * currentRevision == updateRevision, which a partitioned rollout (canary) or OnDelete never
 * reaches, so `pulumi up` would hang until its timeout. Then we wait for every replica to be
 * Ready instead, and skip the wait entirely when there are no replicas.
 */
export function awaitAnnotations(r: Pick<ResolvedStatefulWorkload, "replicas" | "updateStrategy">): Record<string, string> {
    const staged = r.updateStrategy.type === "OnDelete" || r.updateStrategy.partition > 0;
    if (!staged) return {};
    if (r.replicas === 0) return { "pulumi.com/skipAwait": "true" };
    return { "pulumi.com/waitFor": `jsonpath={.status.readyReplicas}=${r.replicas}` };
}

/** The labels that select this workload's pods (never change: the selector is immutable). */
export function selectorLabels(statefulSetName: string): Record<string, string> {
    return appSelector(statefulSetName, statefulSetName);
}

/** The labels of every object: the user's, the selector's and managed-by. */
export function workloadLabels(r: Pick<ResolvedStatefulWorkload, "labels" | "statefulSetName">): Record<string, string> {
    return { ...r.labels, ...selectorLabels(r.statefulSetName), ...MANAGED_BY };
}

function envVar(name: string, value: EnvValue): k8s.types.input.core.v1.EnvVar {
    if (value !== null && typeof value === "object" && !pulumi.Output.isInstance(value) && !(value instanceof Promise)) {
        if ("secretKeyRef" in value) return { name, valueFrom: { secretKeyRef: value.secretKeyRef } };
        if ("configMapKeyRef" in value) return { name, valueFrom: { configMapKeyRef: value.configMapKeyRef } };
        if ("fieldRef" in value) return { name, valueFrom: { fieldRef: { fieldPath: value.fieldRef } } };
    }
    return { name, value: value as pulumi.Input<string> };
}

// --- render: the resolved args as Kubernetes objects ------------------------------------------
// Pure: plain values give plain objects. `namespace` and `serviceName` may be Outputs (the
// constructor passes its sibling resources' names, so each object depends on what it names).

function servicePorts(r: Pick<ResolvedStatefulWorkload, "ports">): k8s.types.input.core.v1.ServicePort[] {
    return r.ports.map((p) => ({ name: p.name, port: p.servicePort, targetPort: p.containerPort, protocol: p.protocol }));
}

/** The governing headless Service: it publishes every pod's DNS record, Ready or not. */
export function renderHeadlessService(r: ResolvedStatefulWorkload, namespace: pulumi.Input<string>): k8s.core.v1.ServiceArgs {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: r.serviceName, namespace, labels: workloadLabels(r) },
        spec: {
            clusterIP: "None",
            // Peers must find each other before they are Ready (cluster bootstrap).
            publishNotReadyAddresses: true,
            selector: selectorLabels(r.statefulSetName),
            ports: servicePorts(r),
        },
    };
}

/** The client Service `<sts>-client`, when `clientService` is on. */
export function renderClientService(r: ResolvedStatefulWorkload, namespace: pulumi.Input<string>): k8s.core.v1.ServiceArgs | undefined {
    if (!r.clientService) return undefined;
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: `${r.statefulSetName}-client`, namespace, labels: workloadLabels(r) },
        spec: { type: r.clientService.type, selector: selectorLabels(r.statefulSetName), ports: servicePorts(r) },
    };
}

/** The pod's security context: the restricted profile, or baseline for images that start as root. */
export function podSecurityContext(security: ResolvedStatefulWorkload["security"]): k8s.types.input.core.v1.PodSecurityContext {
    return {
        seccompProfile: { type: "RuntimeDefault" },
        ...(security.profile === "restricted" ? { runAsNonRoot: true } : {}),
        ...(security.runAsUser !== undefined ? { runAsUser: security.runAsUser } : {}),
        ...(security.runAsGroup !== undefined ? { runAsGroup: security.runAsGroup } : {}),
        ...(security.fsGroup !== undefined ? { fsGroup: security.fsGroup } : {}),
    };
}

export function containerSecurityContext(security: ResolvedStatefulWorkload["security"]): k8s.types.input.core.v1.SecurityContext {
    const readOnlyRootFilesystem = security.readOnlyRootFilesystem ?? false;
    return security.profile === "restricted"
        ? { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem }
        : { readOnlyRootFilesystem };
}

/** Pod anti-affinity over node hostnames: a preference, a requirement, or none. */
export function spreadAffinity(
    selector: Record<string, string>,
    spread: ResolvedStatefulWorkload["spreadAcrossNodes"],
): k8s.types.input.core.v1.Affinity | undefined {
    const podAffinityTerm = { labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" };
    if (spread === "preferred") return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm }] } };
    if (spread === "required") return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [podAffinityTerm] } };
    return undefined;
}

/** The main container: image, command, env, ports, the claims' mounts (then extras, then TLS), probes. */
export function renderContainer(r: ResolvedStatefulWorkload): k8s.types.input.core.v1.Container {
    const volumeMounts: pulumi.Input<k8s.types.input.core.v1.VolumeMount>[] = [
        ...r.volumeClaims.map((c) => ({
            name: c.name,
            mountPath: c.mountPath,
            ...(c.subPath ? { subPath: c.subPath } : {}),
            ...(c.readOnly ? { readOnly: true } : {}),
        })),
        ...(r.extraVolumeMounts ?? []),
        ...(r.tls ? [tls.tlsVolumeMount(r.tls)] : []),
    ];
    return {
        name: r.statefulSetName,
        image: r.image,
        imagePullPolicy: r.imagePullPolicy,
        ...(r.command ? { command: r.command } : {}),
        ...(r.args ? { args: r.args } : {}),
        env: Object.entries(r.env).map(([k, val]) => envVar(k, val)),
        ports: r.ports.map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol })),
        volumeMounts,
        securityContext: containerSecurityContext(r.security),
        ...(r.livenessProbe ? { livenessProbe: r.livenessProbe } : {}),
        ...(r.readinessProbe ? { readinessProbe: r.readinessProbe } : {}),
        ...(r.startupProbe ? { startupProbe: r.startupProbe } : {}),
        ...(r.resources ? { resources: r.resources } : {}),
    };
}

function updateStrategySpec(s: ResolvedStatefulWorkload["updateStrategy"]): k8s.types.input.apps.v1.StatefulSetUpdateStrategy {
    if (s.type === "OnDelete") return { type: "OnDelete" };
    return {
        type: "RollingUpdate",
        rollingUpdate: { partition: s.partition, ...(s.maxUnavailable !== undefined ? { maxUnavailable: s.maxUnavailable } : {}) },
    };
}

/** The pod template: labels, annotations, the security context, spreading, the container and its volumes. */
export function renderPodTemplate(r: ResolvedStatefulWorkload): k8s.types.input.core.v1.PodTemplateSpec {
    const affinity = spreadAffinity(selectorLabels(r.statefulSetName), r.spreadAcrossNodes);
    const volumes = r.extraVolumes || r.tls ? [...(r.extraVolumes ?? []), ...(r.tls ? [tls.tlsVolume(r.tls)] : [])] : undefined;
    return {
        metadata: { labels: workloadLabels(r), ...(r.podAnnotations ? { annotations: r.podAnnotations } : {}) },
        spec: {
            ...(r.serviceAccountName ? { serviceAccountName: r.serviceAccountName } : {}),
            terminationGracePeriodSeconds: r.terminationGracePeriodSeconds,
            securityContext: podSecurityContext(r.security),
            ...(affinity ? { affinity } : {}),
            ...(r.nodeSelector ? { nodeSelector: r.nodeSelector } : {}),
            ...(r.tolerations ? { tolerations: r.tolerations } : {}),
            containers: [renderContainer(r)],
            ...(volumes ? { volumes } : {}),
        },
    };
}

/**
 * The StatefulSet: an explicit name (pod, DNS and PVC names derive from it), the governing
 * Service's name, PVCs retained, the await annotations and the liberator's local-volume policy.
 */
export function renderStatefulSet(
    r: ResolvedStatefulWorkload,
    namespace: pulumi.Input<string>,
    serviceName: pulumi.Input<string> = r.serviceName,
): k8s.apps.v1.StatefulSetArgs {
    const labels = workloadLabels(r);
    return {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: {
            name: r.statefulSetName,
            namespace,
            labels,
            annotations: { ...awaitAnnotations(r), [ANN.localVolumePolicy]: r.localVolumePolicy },
        },
        spec: {
            // Set explicitly: the Service must exist under this name for the pods' DNS records.
            serviceName,
            replicas: r.replicas,
            ...(r.ordinalsStart > 0 ? { ordinals: { start: r.ordinalsStart } } : {}),
            selector: { matchLabels: selectorLabels(r.statefulSetName) },
            podManagementPolicy: r.podManagementPolicy,
            updateStrategy: updateStrategySpec(r.updateStrategy),
            minReadySeconds: r.minReadySeconds,
            persistentVolumeClaimRetentionPolicy: r.pvcRetention,
            template: renderPodTemplate(r),
            volumeClaimTemplates: r.volumeClaims.map((c) => ({
                metadata: { name: c.name, labels },
                spec: {
                    accessModes: c.accessModes,
                    ...(c.storageClassName !== undefined ? { storageClassName: c.storageClassName } : {}),
                    resources: { requests: { storage: c.size } },
                },
            })),
        },
    };
}

/** The PodDisruptionBudget, unless `disruptionBudget` is false. */
export function renderDisruptionBudget(r: ResolvedStatefulWorkload, namespace: pulumi.Input<string>): k8s.policy.v1.PodDisruptionBudgetArgs | undefined {
    if (r.disruptionBudget === false) return undefined;
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: r.statefulSetName, namespace, labels: workloadLabels(r) },
        spec: { maxUnavailable: r.disruptionBudget.maxUnavailable, selector: { matchLabels: selectorLabels(r.statefulSetName) } },
    };
}

/**
 * A StatefulSet with its governing headless Service: stable pod names and DNS records, a PVC per
 * pod that outlives the pod, ordered rollout, a disruption budget and a restricted pod by default.
 */
export class StatefulWorkload extends pulumi.ComponentResource {
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    public readonly headlessService: k8s.core.v1.Service;
    public readonly clientService?: k8s.core.v1.Service;
    public readonly disruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
    /** Namespace of every object. */
    public readonly namespace: pulumi.Output<string>;
    public readonly statefulSetName: pulumi.Output<string>;
    /** Name of the governing headless Service (the StatefulSet's `serviceName`). */
    public readonly headlessServiceName: pulumi.Output<string>;
    /** Pod names in ordinal order. */
    public readonly podNames: pulumi.Output<string[]>;
    /** Every pod's stable DNS name, `<sts>-<N>.<svc>.<ns>.svc.<domain>`. */
    public readonly podDnsNames: pulumi.Output<string[]>;
    /** Name to query for SRV records of all pods: `<svc>.<ns>.svc.<domain>`. */
    public readonly srvName: pulumi.Output<string>;
    /** SRV names of each named port, `_<port>._<proto>.<svc>.<ns>.svc.<domain>`. */
    public readonly portSrvNames: pulumi.Output<Record<string, string>>;
    /** Every PVC the pods use, `<template>-<sts>-<N>`; they outlive the pods. */
    public readonly pvcNames: pulumi.Output<string[]>;
    /** The cert-manager Certificate, when `tls` is on. */
    public readonly certificate?: k8s.apiextensions.CustomResource;
    /** When `tls` is on: the certificate Secret, its issuer, the mount path and where clients find the CA bundle. */
    public readonly tls?: pulumi.Output<tls.WorkloadTlsOutputs>;

    constructor(name: string, args: StatefulWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
        const context = `StatefulWorkload "${name}"`;
        const resolved = resolveStatefulWorkloadArgs(name, args, context);
        super("pets:index:StatefulWorkload", name, {}, opts);
        // Inputs given as Outputs are checked when they resolve, before anything uses them.
        const namespace = pulumi.output(v.checkInput(context, "namespace", resolved.namespace, (x) => v.dns1123Label(x)));
        const r = { ...resolved, image: v.checkInput(context, "image", resolved.image, v.image) };

        this.headlessService = new k8s.core.v1.Service(`${name}-headless`, renderHeadlessService(r, namespace), { parent: this });
        const client = renderClientService(r, namespace);
        if (client) this.clientService = new k8s.core.v1.Service(`${name}-client`, client, { parent: this });
        if (r.tls) {
            this.certificate = new k8s.apiextensions.CustomResource(
                `${name}-cert`,
                tls.workloadCertificateArgs(context, { ...r, tls: r.tls }, namespace, workloadLabels(r)),
                { parent: this, dependsOn: opts?.dependsOn },
            );
        }
        this.statefulSet = new k8s.apps.v1.StatefulSet(name, renderStatefulSet(r, namespace, this.headlessService.metadata.name), {
            parent: this,
            // Pods start (and scale up) only once the certificate covers their names.
            ...(this.certificate ? { dependsOn: [this.certificate] } : {}),
            // The API server rejects changes to these fields. Replace the StatefulSet instead of
            // failing half-way: delete first (its name is fixed), the pods restart, and the PVCs
            // stay (retention policy) and are reattached by ordinal. `pulumi preview` shows it as
            // a replace naming the changed field.
            replaceOnChanges: IMMUTABLE_STATEFULSET_FIELDS,
            deleteBeforeReplace: true,
        });
        const pdb = renderDisruptionBudget(r, namespace);
        if (pdb) this.disruptionBudget = new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, pdb, { parent: this });

        this.namespace = namespace;
        this.statefulSetName = this.statefulSet.metadata.name;
        this.headlessServiceName = this.headlessService.metadata.name;
        this.podNames = pulumi.output(podNames(r.statefulSetName, r.replicas, r.ordinalsStart));
        this.podDnsNames = namespace.apply((ns) => podDnsNames(r.statefulSetName, r.serviceName, ns, r.replicas, r.ordinalsStart, r.clusterDomain));
        this.srvName = pulumi.interpolate`${this.headlessServiceName}.${namespace}.svc.${r.clusterDomain}`;
        this.portSrvNames = this.srvName.apply((srv) => Object.fromEntries(r.ports.map((p) => [p.name, `_${p.name}._${p.protocol.toLowerCase()}.${srv}`])));
        const templates = r.volumeClaims.map((c) => c.name);
        this.pvcNames = pulumi.output(pvcNames(r.statefulSetName, templates, r.replicas, r.ordinalsStart));
        if (this.certificate && r.tls) this.tls = tls.workloadTlsOutputs(this.certificate, r.tls);

        this.registerOutputs({
            namespace: this.namespace,
            statefulSetName: this.statefulSetName,
            headlessServiceName: this.headlessServiceName,
            podNames: this.podNames,
            podDnsNames: this.podDnsNames,
            srvName: this.srvName,
            portSrvNames: this.portSrvNames,
            pvcNames: this.pvcNames,
            tls: this.tls,
        });
    }
}
