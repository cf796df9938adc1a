import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { appSelector, MANAGED_BY } from "./labels";
import * as tls from "./tls";
import * as v from "./validation";

export interface PrivateCaArgs {
    /** "Issuer" signs Certificates in `namespace` only; "ClusterIssuer" signs them in every namespace. @default "Issuer" */
    kind?: "Issuer" | "ClusterIssuer";
    /** Namespace of the bootstrap Issuer, the CA Certificate and its Secret (the CA's private key). For a ClusterIssuer it must be cert-manager's cluster resource namespace, e.g. a CertManager's `namespace`. @default "default" for an Issuer, "cert-manager" for a ClusterIssuer */
    namespace?: pulumi.Input<string>;
    /** Name of the CA issuer. @default the component name */
    issuerName?: string;
    /** Subject common name of the CA certificate (at most 64 characters). @default "<issuerName> private CA" */
    commonName?: string;
    /** @default "RSA" */
    keyAlgorithm?: tls.KeyAlgorithm;
    /** @default 3072 for RSA (the CA outlives its leaves), 256 for ECDSA */
    keySize?: number;
    /** Validity of the CA certificate; leaves never outlive it. @default "87600h" (10 years) */
    duration?: string;
    /** @default "720h" (30 days) */
    renewBefore?: string;
    /** Secret that holds the CA certificate and private key. @default "<issuerName>-ca" */
    secretName?: string;
    /** Use this issuer instead of creating a CA: nothing is created, its reference is passed on. @default none */
    existingIssuer?: tls.IssuerReference & { caSecretName?: string };
    /** `pulumi up` waits until the CA Certificate and issuer are Ready. Turn it off where no cert-manager controller runs yet (CRDs only). @default true */
    waitForReady?: boolean;
}

export interface ResolvedPrivateCa {
    kind: "Issuer" | "ClusterIssuer";
    /** As given (or the default for the kind): checked now when plain; an Output is checked by the constructor when it resolves. */
    namespace: pulumi.Input<string>;
    issuerName: string;
    commonName: string;
    keyAlgorithm: tls.KeyAlgorithm;
    keySize?: number;
    duration: string;
    renewBefore: string;
    secretName: string;
    existingIssuer?: Required<tls.IssuerReference> & { caSecretName?: string };
    waitForReady: boolean;
}

export const PRIVATE_CA_DEFAULTS = { keyAlgorithm: "RSA" as tls.KeyAlgorithm, rsaKeySize: 3072, duration: "87600h", renewBefore: "720h" };

export function resolvePrivateCaArgs(name: string, args: PrivateCaArgs = {}, context = `PrivateCa "${name}"`): ResolvedPrivateCa {
    const val = new v.Validator(context);
    const kind = args.kind ?? "Issuer";
    val.check("kind", kind, v.oneOf(kind, ["Issuer", "ClusterIssuer"]));
    if (v.isKnown(args.namespace) && args.namespace !== undefined) val.check("namespace", args.namespace, v.dns1123Label(args.namespace));
    const issuerName = args.issuerName ?? name;
    // "-selfsigned" is appended for the bootstrap issuer.
    val.check(
        args.issuerName === undefined ? "name" : "issuerName",
        issuerName,
        v.dns1123Subdomain(`${issuerName}-selfsigned`) === undefined
            ? undefined
            : "must be a DNS-1123 subdomain of at most 242 characters: lower-case letters, digits, '-' and '.'",
    );
    const commonName = args.commonName ?? `${issuerName} private CA`;
    val.check(
        "commonName",
        commonName,
        typeof commonName === "string" && commonName.trim().length > 0 && commonName.length <= 64
            ? undefined
            : "must be a non-empty name of at most 64 characters",
    );
    const keyAlgorithm = args.keyAlgorithm ?? PRIVATE_CA_DEFAULTS.keyAlgorithm;
    tls.checkKey(val, "", keyAlgorithm, args.keySize);
    const keySize = args.keySize ?? (keyAlgorithm === "RSA" ? PRIVATE_CA_DEFAULTS.rsaKeySize : tls.DEFAULT_KEY_SIZE[keyAlgorithm]);
    const duration = args.duration ?? PRIVATE_CA_DEFAULTS.duration;
    const renewBefore = args.renewBefore ?? PRIVATE_CA_DEFAULTS.renewBefore;
    tls.checkDurations(val, "", duration, renewBefore);
    const secretName = args.secretName ?? `${issuerName}-ca`;
    if (args.secretName !== undefined) val.check("secretName", secretName, v.dns1123Subdomain(secretName));
    let existingIssuer: ResolvedPrivateCa["existingIssuer"];
    if (args.existingIssuer !== undefined) {
        tls.checkIssuerRef(val, "existingIssuer", args.existingIssuer);
        const caSecretName = args.existingIssuer?.caSecretName;
        if (caSecretName !== undefined) val.check("existingIssuer.caSecretName", caSecretName, v.dns1123Subdomain(caSecretName));
        existingIssuer = { ...tls.normalizeIssuerRef(args.existingIssuer), ...(caSecretName !== undefined ? { caSecretName } : {}) };
    }
    val.throwIfInvalid();
    return {
        kind,
        namespace: args.namespace ?? (kind === "Issuer" ? "default" : "cert-manager"),
        issuerName,
        commonName,
        keyAlgorithm: keyAlgorithm as tls.KeyAlgorithm,
        ...(keySize !== undefined ? { keySize } : {}),
        duration,
        renewBefore,
        secretName,
        ...(existingIssuer ? { existingIssuer } : {}),
        waitForReady: args.waitForReady ?? true,
    };
}

/** The labels of the CA's objects (and its Secret). */
export function privateCaLabels(r: Pick<ResolvedPrivateCa, "issuerName">): Record<string, string> {
    return { ...appSelector("private-ca", r.issuerName), ...MANAGED_BY };
}

/** The self-signed bootstrap Issuer that signs the CA certificate. */
export function renderSelfSignedIssuer(r: ResolvedPrivateCa, namespace: pulumi.Input<string>): k8s.apiextensions.CustomResourceArgs {
    return {
        apiVersion: "cert-manager.io/v1",
        kind: "Issuer",
        metadata: { name: `${r.issuerName}-selfsigned`, namespace, labels: privateCaLabels(r) },
        spec: { selfSigned: {} },
    };
}

/**
 * The CA Certificate. `pulumi up` waits until it (and the issuer) is Ready, unless waitForReady is
 * off: the CA Issuer needs the CA Secret, and workloads need a ready issuer.
 */
export function renderCaCertificate(
    r: ResolvedPrivateCa,
    namespace: pulumi.Input<string>,
    selfSignedIssuer: pulumi.Input<string>,
): k8s.apiextensions.CustomResourceArgs {
    const labels = privateCaLabels(r);
    return {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: r.secretName, namespace, labels, annotations: tls.readyAnnotations(r.waitForReady) },
        spec: {
            isCA: true,
            commonName: r.commonName,
            secretName: r.secretName,
            secretTemplate: { labels },
            duration: r.duration,
            renewBefore: r.renewBefore,
            // Never: a renewed CA keeps its key, so certificates it signed before still verify
            // against the new ca.crt and clients holding the old one keep working.
            privateKey: tls.privateKeySpec(r.keyAlgorithm, r.keySize, "Never"),
            usages: ["digital signature", "cert sign", "crl sign"],
            issuerRef: { name: selfSignedIssuer, kind: "Issuer", group: tls.CERT_MANAGER_GROUP },
        },
    };
}

/** The CA Issuer or ClusterIssuer, backed by the CA certificate's Secret. */
export function renderCaIssuer(r: ResolvedPrivateCa, namespace: pulumi.Input<string>): k8s.apiextensions.CustomResourceArgs {
    return {
        apiVersion: "cert-manager.io/v1",
        kind: r.kind,
        metadata: {
            name: r.issuerName,
            ...(r.kind === "Issuer" ? { namespace } : {}),
            labels: privateCaLabels(r),
            annotations: tls.readyAnnotations(r.waitForReady),
        },
        spec: { ca: { secretName: r.secretName } },
    };
}

/**
 * The project's private CA: a self-signed bootstrap Issuer signs a CA Certificate, whose Secret
 * backs a CA Issuer or ClusterIssuer that signs the workloads' certificates. Or, with
 * `existingIssuer`, the user's own issuer by reference. Needs cert-manager (see CertManager).
 */
export class PrivateCa extends pulumi.ComponentResource {
    public readonly selfSignedIssuer?: k8s.apiextensions.CustomResource;
    public readonly caCertificate?: k8s.apiextensions.CustomResource;
    public readonly issuer?: k8s.apiextensions.CustomResource;
    /** The issuer to put in a Certificate's `issuerRef` (e.g. StatefulWorkload `tls.issuerRef`); it carries the dependency on the issuer. */
    public readonly issuerRef: pulumi.Output<Required<tls.IssuerReference>>;
    /** Secret with the CA certificate (`ca.crt`, `tls.crt`) and its private key (`tls.key`): clients get `ca.crt` only, from a workload's certificate Secret. */
    public readonly caSecretName: pulumi.Output<string | undefined>;
    /** Namespace of the CA Secret; undefined for an existing issuer. */
    public readonly namespace: pulumi.Output<string | undefined>;

    constructor(name: string, args: PrivateCaArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const context = `PrivateCa "${name}"`;
        const r = resolvePrivateCaArgs(name, args, context);
        super("pets:index:PrivateCa", name, {}, opts);

        if (r.existingIssuer) {
            const { caSecretName, ...ref } = r.existingIssuer;
            this.issuerRef = pulumi.output(ref);
            this.caSecretName = pulumi.output(caSecretName);
            this.namespace = pulumi.output(undefined);
            this.registerOutputs({ issuerRef: this.issuerRef, caSecretName: this.caSecretName });
            return;
        }

        // A namespace given as an Output is checked when it resolves.
        const namespace = pulumi.output(v.checkInput(context, "namespace", r.namespace, (x) => v.dns1123Label(x)));
        // Children wait for what the component waits for (cert-manager's CRDs and webhook).
        const childOpts = { parent: this, dependsOn: opts?.dependsOn };
        this.selfSignedIssuer = new k8s.apiextensions.CustomResource(`${name}-selfsigned`, renderSelfSignedIssuer(r, namespace), childOpts);
        this.caCertificate = new k8s.apiextensions.CustomResource(
            `${name}-ca`,
            renderCaCertificate(r, namespace, this.selfSignedIssuer.metadata.name),
            childOpts,
        );
        this.issuer = new k8s.apiextensions.CustomResource(`${name}-issuer`, renderCaIssuer(r, namespace), { parent: this, dependsOn: [this.caCertificate] });

        this.issuerRef = this.issuer.metadata.name.apply((n) => ({ name: n, kind: r.kind, group: tls.CERT_MANAGER_GROUP }));
        this.caSecretName = this.caCertificate.metadata.name.apply(() => r.secretName as string | undefined);
        this.namespace = namespace;
        this.registerOutputs({ issuerRef: this.issuerRef, caSecretName: this.caSecretName, namespace: this.namespace });
    }
}
