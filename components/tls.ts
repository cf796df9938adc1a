import * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import * as v from "./validation";

/**
 * TLS through cert-manager, as pure functions: the SAN list of a StatefulSet, validation of
 * cert-manager's Certificate fields, and the pod wiring (volume, mount, file paths). The
 * components (StatefulWorkload, PrivateCa) call these, so their rules live in one place.
 */

export type KeyAlgorithm = "RSA" | "ECDSA" | "Ed25519";
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ["RSA", "ECDSA", "Ed25519"];
/** Key sizes accepted per algorithm; Ed25519's size is fixed. */
export const KEY_SIZES: Record<KeyAlgorithm, readonly number[]> = { RSA: [2048, 3072, 4096], ECDSA: [256, 384], Ed25519: [] };
/** Used when `keySize` is omitted. */
export const DEFAULT_KEY_SIZE: Record<KeyAlgorithm, number | undefined> = { RSA: 2048, ECDSA: 256, Ed25519: undefined };

/** The files cert-manager writes into a certificate Secret (type kubernetes.io/tls). */
export const TLS_FILES = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" } as const;
/** The name of the pod volume that holds the certificate Secret. */
export const TLS_VOLUME_NAME = "tls";
export const CERT_MANAGER_GROUP = "cert-manager.io";

/** Defaults of a workload certificate. */
export const TLS_DEFAULTS = {
    keyAlgorithm: "RSA" as KeyAlgorithm,
    // cert-manager's own default validity, renewed with a third of it left.
    duration: "2160h",
    renewBefore: "720h",
    mountPath: "/etc/tls",
    // Read-only for everyone in the container: images that drop to their own user (mysql's
    // entrypoint, say) lose supplementary groups such as fsGroup, so 0440 would lock them out.
    fileMode: 0o444,
};

/** Which issuer signs a certificate. */
export interface IssuerReference {
    /** Name of the Issuer or ClusterIssuer. */
    name: string;
    /** @default "Issuer" (namespaced: it only signs Certificates in its own namespace) */
    kind?: string;
    /** API group of the issuer; another group for external issuers. @default "cert-manager.io" */
    group?: string;
}

/** TLS for a StatefulWorkload: one Certificate covering every pod's stable DNS names. */
export interface TlsArgs {
    /** The issuer that signs the certificate, e.g. a PrivateCa's `issuerRef`. A namespaced Issuer must be in the workload's namespace. */
    issuerRef: pulumi.Input<IssuerReference>;
    /** @default "RSA" (the most widely supported, cert-manager's default) */
    keyAlgorithm?: KeyAlgorithm;
    /** RSA: 2048, 3072 or 4096; ECDSA: 256 or 384; Ed25519: omit. @default 2048 for RSA, 256 for ECDSA */
    keySize?: number;
    /** Validity, a Go duration of at least 1h. @default "2160h" (90 days) */
    duration?: string;
    /** Renew this long before expiry; at least 5m and shorter than `duration`. @default "720h" (30 days) */
    renewBefore?: string;
    /** Where the Secret (tls.crt, tls.key, ca.crt) is mounted, read-only, in the main container. @default "/etc/tls" */
    mountPath?: string;
    /** Name of the Secret cert-manager writes (also the Certificate's name). @default "<statefulSetName>-tls" */
    secretName?: string;
    /** More DNS names for the certificate, e.g. an external name. @default [] */
    additionalDnsNames?: string[];
    /** File mode of the mounted files. Use 0o440 with `security.fsGroup` where the app insists on a private key (PostgreSQL). @default 0o444 */
    fileMode?: number;
    /** `pulumi up` waits until cert-manager has issued the certificate (Ready). Turn it off where no cert-manager controller runs yet (CRDs only). @default true */
    waitForReady?: boolean;
}

/** TlsArgs with every default applied. */
export interface ResolvedTls {
    issuerRef: pulumi.Input<IssuerReference>;
    keyAlgorithm: KeyAlgorithm;
    keySize?: number;
    duration: string;
    renewBefore: string;
    mountPath: string;
    secretName: string;
    additionalDnsNames: string[];
    fileMode: number;
    waitForReady: boolean;
}

/** What the Kubernetes provider waits for on a cert-manager object: Ready, or nothing. */
export function readyAnnotations(waitForReady: boolean): Record<string, string> {
    return waitForReady ? { "pulumi.com/waitFor": "condition=Ready" } : { "pulumi.com/skipAwait": "true" };
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const GO_DURATION_PART = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
// Go durations are int64 nanoseconds (about 292 years).
const MAX_GO_DURATION_NS = 2 ** 63;

/**
 * Parses a Go duration string (what cert-manager's `duration` and `renewBefore` accept, via
 * time.ParseDuration) to nanoseconds: "2160h", "1h30m", "1.5h", "0". Undefined if invalid.
 */
export function parseGoDuration(value: string): number | undefined {
    if (typeof value !== "string") return undefined;
    let s = value;
    let sign = 1;
    if (s.startsWith("+") || s.startsWith("-")) {
        sign = s[0] === "-" ? -1 : 1;
        s = s.slice(1);
    }
    if (s === "0") return 0;
    if (s.length === 0) return undefined;
    let total = 0;
    GO_DURATION_PART.lastIndex = 0;
    while (GO_DURATION_PART.lastIndex < s.length) {
        const at = GO_DURATION_PART.lastIndex;
        const m = GO_DURATION_PART.exec(s);
        if (!m || m.index !== at) return undefined;
        total += Number(m[1]) * GO_DURATION_UNITS[m[2]];
    }
    if (total > MAX_GO_DURATION_NS) return undefined;
    return sign * total;
}

const HOUR_NS = 3600e9;
const MINUTE_NS = 60e9;

/** A Go duration of at least `minimum` (one of "1h", "5m"); undefined when valid. */
export function goDuration(value: unknown, minimum: "1h" | "5m", example: string): string | undefined {
    const ns = typeof value === "string" ? parseGoDuration(value) : undefined;
    const min = minimum === "1h" ? HOUR_NS : 5 * MINUTE_NS;
    if (ns === undefined || ns < min) {
        return `must be a Go duration of at least ${minimum}, such as ${example}; units are h, m, s, ms, us, ns (there is no "d")`;
    }
    return undefined;
}

/** Checks keyAlgorithm and keySize together; records issues under `<prefix>.keyAlgorithm` / `.keySize` (no prefix: top-level fields). */
export function checkKey(val: v.Validator, prefix: string, keyAlgorithm: unknown, keySize: unknown): void {
    const f = (k: string) => (prefix ? `${prefix}.${k}` : k);
    if (!val.check(f("keyAlgorithm"), keyAlgorithm, v.oneOf(keyAlgorithm, KEY_ALGORITHMS))) return;
    const alg = keyAlgorithm as KeyAlgorithm;
    if (keySize === undefined) return;
    if (alg === "Ed25519") {
        val.fail(f("keySize"), keySize, 'must be omitted for keyAlgorithm "Ed25519"; its key size is fixed');
    } else if (!KEY_SIZES[alg].includes(keySize as number)) {
        val.fail(f("keySize"), keySize, `must be one of ${KEY_SIZES[alg].join(", ")} for keyAlgorithm "${alg}"`);
    }
}

/** Checks duration (>= 1h), renewBefore (>= 5m) and renewBefore < duration, as cert-manager's webhook does. */
export function checkDurations(val: v.Validator, prefix: string, duration: unknown, renewBefore: unknown): void {
    const f = (k: string) => (prefix ? `${prefix}.${k}` : k);
    const durationOk = val.check(f("duration"), duration, goDuration(duration, "1h", '"2160h" (90 days)'));
    const renewOk = val.check(f("renewBefore"), renewBefore, goDuration(renewBefore, "5m", '"720h" (30 days)'));
    if (durationOk && renewOk && parseGoDuration(renewBefore as string)! >= parseGoDuration(duration as string)!) {
        val.fail(f("renewBefore"), renewBefore, `must be shorter than duration (${v.show(duration)}); it is how long before expiry cert-manager renews`);
    }
}

/** A DNS name for a certificate: a DNS-1123 subdomain, optionally a wildcard "*.". */
export function certificateDnsName(value: unknown): string | undefined {
    const what = 'must be a DNS name such as "db.example.com": a lower-case DNS-1123 subdomain of at most 253 characters, optionally starting with "*."';
    if (typeof value !== "string") return what;
    const name = value.startsWith("*.") ? value.slice(2) : value;
    return v.dns1123Subdomain(name) === undefined && value.length <= 253 ? undefined : what;
}

/** Validates a plain issuer reference; records issues under `<field>.name` / `.kind` / `.group`. */
export function checkIssuerRef(val: v.Validator, field: string, ref: unknown): void {
    if (ref === null || typeof ref !== "object" || Array.isArray(ref)) {
        val.fail(field, ref, 'must name the issuer that signs the certificate, e.g. { name: "pets-ca", kind: "Issuer" } or a PrivateCa\'s issuerRef');
        return;
    }
    const r = ref as IssuerReference;
    val.check(`${field}.name`, r.name, v.dns1123Subdomain(r.name));
    const group = r.group ?? CERT_MANAGER_GROUP;
    val.check(`${field}.group`, group, v.dns1123Subdomain(group));
    const kind = r.kind ?? "Issuer";
    if (group === CERT_MANAGER_GROUP) val.check(`${field}.kind`, kind, v.oneOf(kind, ["Issuer", "ClusterIssuer"]));
    else
        val.check(
            `${field}.kind`,
            kind,
            typeof kind === "string" && /^[A-Z][A-Za-z0-9]*$/.test(kind) ? undefined : 'must be the issuer\'s kind, such as "AWSPCAClusterIssuer"',
        );
}

/** The reference with kind and group filled in. */
export function normalizeIssuerRef(ref: IssuerReference): Required<IssuerReference> {
    return { name: ref.name, kind: ref.kind ?? "Issuer", group: ref.group ?? CERT_MANAGER_GROUP };
}

/**
 * The issuer reference as an Output, validated: now when plain (resolveTls already did), or as
 * soon as it resolves when it is an Output (a PrivateCa's issuerRef), before the Certificate exists.
 */
export function issuerRefOutput(context: string, field: string, ref: pulumi.Input<IssuerReference>): pulumi.Output<Required<IssuerReference>> {
    return pulumi.output(ref).apply((resolved) => {
        const val = new v.Validator(context);
        checkIssuerRef(val, field, resolved);
        val.throwIfInvalid();
        return normalizeIssuerRef(resolved as IssuerReference);
    });
}

/** What resolveTls needs to know about the workload (resolved values, plus raw pod extras). */
export interface TlsWorkloadContext {
    statefulSetName: string;
    serviceName: string;
    replicas: number;
    ordinalsStart: number;
    clusterDomain: string;
    /** false, or the client Service's settings. */
    clientService: unknown;
    /** Checked now when plain; an Output is checked when it resolves (workloadCertificateArgs). */
    namespace?: pulumi.Input<string>;
    volumeClaims: { name: string; mountPath: string }[];
    extraVolumes?: readonly unknown[];
    extraVolumeMounts?: readonly unknown[];
}

/** Mount paths and volume names in use, with the field that uses each (plain values only). */
function podUsage(w: TlsWorkloadContext) {
    const plain = (x: unknown) =>
        x !== null && typeof x === "object" && v.isKnown(x as pulumi.Input<unknown>) ? (x as { name?: unknown; mountPath?: unknown }) : undefined;
    const mountPaths = [
        ...w.volumeClaims.map((c, i) => ({ path: c.mountPath as unknown, field: `volumeClaims[${i}].mountPath` })),
        ...(w.extraVolumeMounts ?? []).map((m, i) => ({ path: plain(m)?.mountPath as unknown, field: `extraVolumeMounts[${i}].mountPath` })),
    ];
    const volumeNames = [
        ...w.volumeClaims.map((c, i) => ({ name: c.name as unknown, field: `volumeClaims[${i}].name` })),
        ...(w.extraVolumes ?? []).map((x, i) => ({ name: plain(x)?.name as unknown, field: `extraVolumes[${i}].name` })),
    ];
    return { mountPaths, volumeNames };
}

/** The workload parts its certificate depends on. */
export type TlsWorkload = Omit<TlsWorkloadContext, "namespace" | "volumeClaims" | "extraVolumes" | "extraVolumeMounts"> & { tls: ResolvedTls };

/** The SANs of a workload; throws a ValidationError naming the first one longer than 253 characters. */
export function workloadDnsNames(context: string, w: TlsWorkload, namespace: string): string[] {
    const names = tlsDnsNames({
        statefulSetName: w.statefulSetName,
        serviceName: w.serviceName,
        namespace,
        replicas: w.replicas,
        ordinalsStart: w.ordinalsStart,
        clusterDomain: w.clusterDomain,
        ...(w.clientService ? { clientServiceName: `${w.statefulSetName}-client` } : {}),
        additional: w.tls.additionalDnsNames,
    });
    const tooLong = names.find((n) => n.length > 253);
    if (tooLong !== undefined) {
        throw new v.ValidationError(context, [
            {
                field: "clusterDomain",
                value: w.clusterDomain,
                expected: `makes the certificate's DNS name "${tooLong}" longer than 253 characters; use a shorter domain`,
            },
        ]);
    }
    return names;
}

/**
 * Applies the defaults of `tls` and records every invalid field in `val` (under `tls.`), so a
 * StatefulWorkload fails before any resource exists. Returns undefined when tls is off.
 */
export function resolveTls(val: v.Validator, tls: TlsArgs | undefined, w: TlsWorkloadContext): ResolvedTls | undefined {
    if (tls === undefined || tls === null) return undefined;
    if (typeof tls !== "object" || Array.isArray(tls)) {
        val.fail("tls", tls, "must be an object with at least issuerRef");
        return undefined;
    }
    if (v.isKnown(tls.issuerRef)) checkIssuerRef(val, "tls.issuerRef", tls.issuerRef);

    const keyAlgorithm = tls.keyAlgorithm ?? TLS_DEFAULTS.keyAlgorithm;
    checkKey(val, "tls", keyAlgorithm, tls.keySize);
    const keySize = tls.keySize ?? (KEY_ALGORITHMS.includes(keyAlgorithm) ? DEFAULT_KEY_SIZE[keyAlgorithm] : undefined);

    const duration = tls.duration ?? TLS_DEFAULTS.duration;
    const renewBefore = tls.renewBefore ?? TLS_DEFAULTS.renewBefore;
    checkDurations(val, "tls", duration, renewBefore);

    const usage = podUsage(w);
    const mountPath = tls.mountPath ?? TLS_DEFAULTS.mountPath;
    if (val.check("tls.mountPath", mountPath, v.absolutePath(mountPath))) {
        const clash = usage.mountPaths.find((m) => m.path === mountPath);
        if (clash) val.fail("tls.mountPath", mountPath, `must differ from every other mount; ${clash.field} already mounts there`);
    }
    const volumeClash = usage.volumeNames.find((n) => n.name === TLS_VOLUME_NAME);
    if (volumeClash)
        val.fail(volumeClash.field, TLS_VOLUME_NAME, `must not be "${TLS_VOLUME_NAME}" when tls is on: the certificate Secret's volume has that name`);

    const secretName = tls.secretName ?? `${w.statefulSetName}-tls`;
    // The default derives from a name that is checked already.
    if (tls.secretName !== undefined) val.check("tls.secretName", secretName, v.dns1123Subdomain(secretName));

    const additionalDnsNames = tls.additionalDnsNames ?? [];
    if (!Array.isArray(additionalDnsNames)) val.fail("tls.additionalDnsNames", additionalDnsNames, "must be a list of DNS names");
    else additionalDnsNames.forEach((n, i) => val.check(`tls.additionalDnsNames[${i}]`, n, certificateDnsName(n)));

    const fileMode = tls.fileMode ?? TLS_DEFAULTS.fileMode;
    val.check(
        "tls.fileMode",
        fileMode,
        v.wholeNumber(fileMode, 0, 0o777) === undefined ? undefined : "must be a file mode from 0 to 0o777 (511), such as 0o444 or 0o440",
    );

    const resolved: ResolvedTls = {
        issuerRef: tls.issuerRef,
        keyAlgorithm,
        ...(keySize !== undefined ? { keySize } : {}),
        duration,
        renewBefore,
        mountPath,
        secretName,
        additionalDnsNames,
        fileMode,
        waitForReady: tls.waitForReady ?? true,
    };
    // With a plain namespace the DNS names are known now; otherwise they are checked when it resolves.
    if (v.isKnown(w.namespace) && val.issues.length === 0) {
        try {
            workloadDnsNames(val.context, { ...w, tls: resolved }, w.namespace ?? "default");
        } catch (e) {
            if (!(e instanceof v.ValidationError)) throw e;
            e.issues.forEach((i) => val.fail(i.field, i.value, i.expected));
        }
    }
    return resolved;
}

/** The names a StatefulSet's certificate must cover. */
export interface SanArgs {
    statefulSetName: string;
    /** The governing headless Service. */
    serviceName: string;
    namespace: string;
    replicas: number;
    /** @default 0 */
    ordinalsStart?: number;
    /** @default "cluster.local" */
    clusterDomain?: string;
    /** The client (ClusterIP) Service, if there is one. */
    clientServiceName?: string;
    /** @default [] */
    additional?: string[];
}

/** A Service's names as clients write them: `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.<domain>`. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = "cluster.local"): string[] {
    return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}

/**
 * The certificate's DNS SANs: for every pod `<sts>-<N>.<svc>.<ns>.svc.<domain>` and its short
 * forms `<sts>-<N>.<svc>`, `<sts>-<N>.<svc>.<ns>`, `<sts>-<N>.<svc>.<ns>.svc` (peers resolve them
 * through the pod's DNS search path), then the headless and client Services' names, then the
 * additional names. Without duplicates, in that order, so a scale-up only appends names.
 */
export function tlsDnsNames(a: SanArgs): string[] {
    const domain = a.clusterDomain ?? "cluster.local";
    const start = a.ordinalsStart ?? 0;
    const names: string[] = [];
    for (let i = 0; i < a.replicas; i++) {
        const pod = `${a.statefulSetName}-${start + i}`;
        const base = `${pod}.${a.serviceName}`;
        names.push(`${base}.${a.namespace}.svc.${domain}`, base, `${base}.${a.namespace}`, `${base}.${a.namespace}.svc`);
    }
    names.push(...serviceDnsNames(a.serviceName, a.namespace, domain));
    if (a.clientServiceName) names.push(...serviceDnsNames(a.clientServiceName, a.namespace, domain));
    names.push(...(a.additional ?? []));
    return [...new Set(names)];
}

/** Key usages: TLS server and client (peers authenticate each other); key encipherment only for RSA. */
export function certificateUsages(keyAlgorithm: KeyAlgorithm): string[] {
    return keyAlgorithm === "RSA"
        ? ["digital signature", "key encipherment", "server auth", "client auth"]
        : ["digital signature", "server auth", "client auth"];
}

/** cert-manager's `spec.privateKey`. */
export function privateKeySpec(keyAlgorithm: KeyAlgorithm, keySize: number | undefined, rotationPolicy: "Always" | "Never") {
    return { algorithm: keyAlgorithm, ...(keySize !== undefined ? { size: keySize } : {}), rotationPolicy };
}

/**
 * The spec of a workload's cert-manager Certificate. A fresh key on every issuance
 * (rotationPolicy Always), one old CertificateRequest kept, the Secret labelled like the workload.
 */
export function workloadCertificateSpec(
    t: ResolvedTls,
    dnsNames: string[],
    issuerRef: Required<IssuerReference>,
    labels: Record<string, string>,
    commonName?: string,
) {
    return {
        secretName: t.secretName,
        secretTemplate: { labels },
        issuerRef,
        // CN is legacy for TLS (clients match SANs) but some older clients still read it; at most 64 characters.
        ...(commonName !== undefined && commonName.length <= 64 ? { commonName } : {}),
        dnsNames,
        duration: t.duration,
        renewBefore: t.renewBefore,
        privateKey: privateKeySpec(t.keyAlgorithm, t.keySize, "Always"),
        usages: certificateUsages(t.keyAlgorithm),
        revisionHistoryLimit: 1,
    };
}

/**
 * The cert-manager Certificate of a StatefulWorkload, for `k8s.apiextensions.CustomResource`.
 * Its dnsNames follow `replicas`: a scale-up changes them, and cert-manager re-issues the
 * certificate into the same Secret. `pulumi up` waits until it is Ready (issued).
 */
export function workloadCertificateArgs(
    context: string,
    w: TlsWorkload,
    namespace: pulumi.Output<string>,
    labels: Record<string, string>,
): k8s.apiextensions.CustomResourceArgs {
    const issuerRef = issuerRefOutput(context, "tls.issuerRef", w.tls.issuerRef);
    return {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: w.tls.secretName, namespace, labels, annotations: readyAnnotations(w.tls.waitForReady) },
        spec: pulumi
            .all([namespace, issuerRef])
            .apply(([ns, ref]) => workloadCertificateSpec(w.tls, workloadDnsNames(context, w, ns), ref, labels, `${w.serviceName}.${ns}.svc`)),
    };
}

/** What a workload with TLS exposes to its clients. */
export interface WorkloadTlsOutputs {
    /** The Secret cert-manager writes: tls.crt, tls.key, ca.crt. Also the Certificate's name. */
    secretName: string;
    issuerRef: Required<IssuerReference>;
    /** Where the Secret is mounted in the pods. */
    mountPath: string;
    /** Where clients find the CA certificate to trust: mount only this key. Issuers that publish no CA (ACME) leave it empty. */
    caBundle: { secretName: string; key: string };
    /** The certificate's DNS names. */
    dnsNames: string[];
}

/** The outputs, read from the Certificate so they follow what was applied. */
export function workloadTlsOutputs(certificate: k8s.apiextensions.CustomResource, t: ResolvedTls): pulumi.Output<WorkloadTlsOutputs> {
    type Spec = { secretName: string; issuerRef: Required<IssuerReference>; dnsNames: string[] };
    return (certificate as unknown as { spec: pulumi.Output<Spec> }).spec.apply((spec): WorkloadTlsOutputs => ({
        secretName: spec.secretName,
        issuerRef: spec.issuerRef,
        mountPath: t.mountPath,
        caBundle: { secretName: spec.secretName, key: TLS_FILES.ca },
        dnsNames: spec.dnsNames,
    }));
}

/**
 * The pod volume of the certificate Secret. The whole Secret, never a subPath: the kubelet only
 * refreshes whole-volume Secret mounts, which is how a re-issued certificate reaches the pods.
 */
export function tlsVolume(t: Pick<ResolvedTls, "secretName" | "fileMode">): k8s.types.input.core.v1.Volume {
    return { name: TLS_VOLUME_NAME, secret: { secretName: t.secretName, defaultMode: t.fileMode } };
}

export function tlsVolumeMount(t: Pick<ResolvedTls, "mountPath">): k8s.types.input.core.v1.VolumeMount {
    return { name: TLS_VOLUME_NAME, mountPath: t.mountPath, readOnly: true };
}

/** Paths of the certificate, key and CA bundle inside the pod. */
export function tlsFilePaths(mountPath: string = TLS_DEFAULTS.mountPath): { cert: string; key: string; ca: string } {
    const dir = mountPath.replace(/\/+$/, "");
    return { cert: `${dir}/${TLS_FILES.cert}`, key: `${dir}/${TLS_FILES.key}`, ca: `${dir}/${TLS_FILES.ca}` };
}

/**
 * mysqld options that turn TLS on with the mounted certificate, for a container's `args` (the
 * official image's entrypoint runs mysqld with arguments that start with "-").
 * `requireSecureTransport` refuses unencrypted TCP connections (local socket ones still work).
 */
export function mysqlTlsArgs(mountPath: string = TLS_DEFAULTS.mountPath, opts: { requireSecureTransport?: boolean } = {}): string[] {
    const p = tlsFilePaths(mountPath);
    return [`--ssl-ca=${p.ca}`, `--ssl-cert=${p.cert}`, `--ssl-key=${p.key}`, ...(opts.requireSecureTransport ? ["--require-secure-transport=ON"] : [])];
}

/** mysql client options that verify the server against the CA and its name, e.g. for a peer or a probe. */
export function mysqlClientTlsArgs(mountPath: string = TLS_DEFAULTS.mountPath): string[] {
    return ["--ssl-mode=VERIFY_IDENTITY", `--ssl-ca=${tlsFilePaths(mountPath).ca}`];
}
