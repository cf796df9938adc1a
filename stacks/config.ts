import { NodeLiberatorArgs, resolveNodeLiberatorArgs } from "../components/nodeliberator";
import * as v from "../components/validation";

/** What a stack deploys, read from its Pulumi.<stack>.yaml under the `pets:` namespace. */
export interface StackConfig {
    /** Namespace the example workloads go to. @default "pets" */
    namespace: string;
    /** StorageClass of the workloads' claims. @default the cluster's default class */
    storageClassName?: string;
    web: {
        enabled: boolean;
        replicas: number;
        partition: number;
        image?: string;
        storageSize: string;
        localVolumePolicy: "wait" | "delete-pvc";
        podManagementPolicy: "OrderedReady" | "Parallel";
    };
    mysql: {
        enabled: boolean;
        replicas: number;
        image?: string;
        storageSize: string;
        database?: string;
        existingRootPasswordSecret?: string;
        podManagementPolicy: "OrderedReady" | "Parallel";
    };
    kubia: { enabled: boolean; replicas: number; image?: string };
    /** TLS for the pets through cert-manager and a private CA. */
    tls: { enabled: boolean; installCertManager: boolean; waitForReady: boolean };
    /** The NodeLiberator; its settings pass through to the component, which validates them. */
    liberator: { enabled: boolean } & Record<string, unknown>;
    /** Render every manifest as YAML into this directory instead of deploying (GitOps, review). @default deploy to the cluster */
    renderYamlTo?: string;
    /** The local-path provisioner; its class backs every claim unless storageClassName is set. */
    localPath: {
        enabled: boolean;
        namespace: string;
        storageClassName: string;
        reclaimPolicy: "Delete" | "Retain";
        nodePath?: string;
        /** One directory every node mounts (NFS, say) instead of per-node directories: volumes are not pinned to a node. */
        sharedFileSystemPath?: string;
        isDefaultClass: boolean;
        image?: string;
        helperImage?: string;
        imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
    };
}

function section(val: v.Validator, key: string, raw: unknown): Record<string, unknown> {
    if (raw === undefined || raw === null) return {};
    if (typeof raw !== "object" || Array.isArray(raw)) {
        val.fail(`pets:${key}`, raw, "must be an object (a YAML mapping)");
        return {};
    }
    return raw as Record<string, unknown>;
}

function known(val: v.Validator, key: string, obj: Record<string, unknown>, allowed: string[]): void {
    for (const k of Object.keys(obj)) {
        if (!allowed.includes(k)) val.fail(`pets:${key}.${k}`, obj[k], `is not a known setting; known settings are ${allowed.join(", ")}`);
    }
}

function bool(val: v.Validator, field: string, value: unknown, dflt: boolean): boolean {
    if (value === undefined) return dflt;
    if (typeof value !== "boolean") val.fail(field, value, "must be true or false");
    return value === true;
}

function count(val: v.Validator, field: string, value: unknown, dflt: number): number {
    if (value === undefined) return dflt;
    val.check(field, value, v.wholeNumber(value, 0));
    return value as number;
}

function choice<T extends string>(val: v.Validator, field: string, value: unknown, allowed: readonly T[], dflt: T): T {
    if (value === undefined) return dflt;
    return val.check(field, value, v.oneOf(value, allowed)) ? (value as T) : dflt;
}

function optString(val: v.Validator, field: string, value: unknown, rule: (x: unknown) => string | undefined): string | undefined {
    if (value === undefined) return undefined;
    val.check(field, value, rule(value));
    return value as string;
}

/**
 * Validates a stack's `pets:` config and applies defaults, before any resource is declared, so a
 * typo fails `pulumi preview` with the key, the value and what is valid. `raw` maps each key to
 * its parsed value (objects for structured keys).
 */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
    const val = new v.Validator("stack config");
    const namespace = optString(val, "pets:namespace", raw.namespace, (x) => v.dns1123Label(x)) ?? "pets";
    const storageClassName = optString(val, "pets:storageClassName", raw.storageClassName, v.dns1123Subdomain);

    const web = section(val, "web", raw.web);
    known(val, "web", web, ["enabled", "replicas", "partition", "image", "storageSize", "localVolumePolicy", "podManagementPolicy"]);
    const webReplicas = count(val, "pets:web.replicas", web.replicas, 3);
    const partition = count(val, "pets:web.partition", web.partition, 0);
    if (Number.isInteger(partition) && Number.isInteger(webReplicas) && webReplicas >= 0 && partition > webReplicas) {
        val.fail("pets:web.partition", partition, `must be at most pets:web.replicas (${webReplicas})`);
    }

    const mysql = section(val, "mysql", raw.mysql);
    known(val, "mysql", mysql, ["enabled", "replicas", "image", "storageSize", "database", "existingRootPasswordSecret", "podManagementPolicy"]);
    const kubia = section(val, "kubia", raw.kubia);
    known(val, "kubia", kubia, ["enabled", "replicas", "image"]);

    const tlsRaw = section(val, "tls", raw.tls);
    known(val, "tls", tlsRaw, ["enabled", "installCertManager", "waitForReady"]);
    const lib = section(val, "liberator", raw.liberator);
    known(val, "liberator", lib, LIBERATOR_KEYS);
    if (lib.enabled !== false && Object.keys(lib).every((k) => LIBERATOR_KEYS.includes(k))) checkLiberator(val, lib);
    const lp = section(val, "localPath", raw.localPath);
    known(val, "localPath", lp, [
        "enabled",
        "namespace",
        "storageClassName",
        "reclaimPolicy",
        "nodePath",
        "sharedFileSystemPath",
        "isDefaultClass",
        "image",
        "helperImage",
        "imagePullPolicy",
    ]);
    if (lp.nodePath !== undefined && lp.sharedFileSystemPath !== undefined)
        val.fail("pets:localPath.sharedFileSystemPath", lp.sharedFileSystemPath, "must not be set together with pets:localPath.nodePath (one or the other)");

    const cfg: StackConfig = {
        namespace,
        storageClassName,
        web: {
            enabled: bool(val, "pets:web.enabled", web.enabled, true),
            replicas: webReplicas,
            partition,
            image: optString(val, "pets:web.image", web.image, v.image),
            storageSize: optString(val, "pets:web.storageSize", web.storageSize, v.storageQuantity) ?? "1Gi",
            localVolumePolicy: choice(val, "pets:web.localVolumePolicy", web.localVolumePolicy, ["wait", "delete-pvc"] as const, "wait"),
            podManagementPolicy: choice(val, "pets:web.podManagementPolicy", web.podManagementPolicy, ["OrderedReady", "Parallel"] as const, "OrderedReady"),
        },
        liberator: { ...lib, enabled: bool(val, "pets:liberator.enabled", lib.enabled, true) },
        tls: {
            enabled: bool(val, "pets:tls.enabled", tlsRaw.enabled, false),
            installCertManager: bool(val, "pets:tls.installCertManager", tlsRaw.installCertManager, false),
            waitForReady: bool(val, "pets:tls.waitForReady", tlsRaw.waitForReady, true),
        },
        mysql: {
            enabled: bool(val, "pets:mysql.enabled", mysql.enabled, true),
            replicas: count(val, "pets:mysql.replicas", mysql.replicas, 1),
            image: optString(val, "pets:mysql.image", mysql.image, v.image),
            storageSize: optString(val, "pets:mysql.storageSize", mysql.storageSize, v.storageQuantity) ?? "2Gi",
            database: optString(val, "pets:mysql.database", mysql.database, (x) =>
                typeof x === "string" && /^[A-Za-z0-9_]{1,64}$/.test(x) ? undefined : "must be 1 to 64 letters, digits or '_'",
            ),
            existingRootPasswordSecret: optString(val, "pets:mysql.existingRootPasswordSecret", mysql.existingRootPasswordSecret, v.dns1123Subdomain),
            podManagementPolicy: choice(
                val,
                "pets:mysql.podManagementPolicy",
                mysql.podManagementPolicy,
                ["OrderedReady", "Parallel"] as const,
                "OrderedReady",
            ),
        },
        renderYamlTo: optString(val, "pets:renderYamlTo", raw.renderYamlTo, (x) => v.nonEmptyString(x, "must be a directory path")),
        kubia: {
            enabled: bool(val, "pets:kubia.enabled", kubia.enabled, false),
            replicas: count(val, "pets:kubia.replicas", kubia.replicas, 2),
            image: optString(val, "pets:kubia.image", kubia.image, v.image),
        },
        localPath: {
            enabled: bool(val, "pets:localPath.enabled", lp.enabled, true),
            // Not kind's own local-path-storage namespace, which already exists there.
            namespace: optString(val, "pets:localPath.namespace", lp.namespace, (x) => v.dns1123Label(x)) ?? "pets-local-path",
            storageClassName: optString(val, "pets:localPath.storageClassName", lp.storageClassName, v.dns1123Subdomain) ?? "local-path",
            reclaimPolicy: choice(val, "pets:localPath.reclaimPolicy", lp.reclaimPolicy, ["Delete", "Retain"] as const, "Retain"),
            nodePath: optString(val, "pets:localPath.nodePath", lp.nodePath, v.absolutePath),
            sharedFileSystemPath: optString(val, "pets:localPath.sharedFileSystemPath", lp.sharedFileSystemPath, v.absolutePath),
            isDefaultClass: bool(val, "pets:localPath.isDefaultClass", lp.isDefaultClass, false),
            image: optString(val, "pets:localPath.image", lp.image, v.image),
            helperImage: optString(val, "pets:localPath.helperImage", lp.helperImage, v.image),
            imagePullPolicy:
                lp.imagePullPolicy === undefined
                    ? undefined
                    : choice(val, "pets:localPath.imagePullPolicy", lp.imagePullPolicy, ["Always", "IfNotPresent", "Never"] as const, "IfNotPresent"),
        },
    };
    val.throwIfInvalid();
    return cfg;
}

/** Settings of `pets:liberator` besides `enabled`: NodeLiberator args of plain values (objects for selfFence and fence). */
export const LIBERATOR_KEYS = [
    "enabled",
    "namespace",
    "mode",
    "unhealthyAfterSeconds",
    "maxUnhealthy",
    "stormCooldownSeconds",
    "dryRun",
    "optOutLabel",
    "forceDeletePods",
    "releaseLocalVolumes",
    "orphanedVolumes",
    "orphanedVolumeGraceSeconds",
    "heartbeatIntervalSeconds",
    "selfFence",
    "fence",
    "unsafeNoFencing",
    "remediateControlPlane",
    "controllerReplicas",
    "peerKeySecret",
    "image",
    "imagePullPolicy",
    "nodeSelector",
    "logLevel",
];

/** The liberator's settings, checked by the component's own rules, reported as pets:liberator.<field>. */
function checkLiberator(val: v.Validator, lib: Record<string, unknown>): void {
    const { enabled: _enabled, ...settings } = lib;
    try {
        resolveNodeLiberatorArgs("liberator", settings as NodeLiberatorArgs, "stack config");
    } catch (e) {
        if (!(e instanceof v.ValidationError)) throw e;
        for (const issue of e.issues) val.fail(`pets:liberator.${issue.field}`, issue.value, issue.expected);
    }
}

/** The structured keys read with getObject, the plain ones with get. */
export const OBJECT_KEYS = ["web", "mysql", "kubia", "localPath", "liberator", "tls"] as const;
export const STRING_KEYS = ["namespace", "storageClassName", "renderYamlTo"] as const;
