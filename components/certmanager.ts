import * as pulumi from "@pulumi/pulumi";
import * as v from "./validation";

/** The optional peer dependency that installs cert-manager; loaded only for mode "install". */
export const CERT_MANAGER_PACKAGE = "@pulumi/kubernetes-cert-manager";

/** The cert-manager Helm chart version installed by default; pinned so `pulumi up` is repeatable. */
export const CERT_MANAGER_CHART_VERSION = "v1.19.2";
export const CERT_MANAGER_CHART_REPOSITORY = "https://charts.jetstack.io";

export interface CertManagerArgs {
    /** "install": install cert-manager with its CRDs through @pulumi/kubernetes-cert-manager. "existing": use the cert-manager already in the cluster; nothing is created and no plugin is needed. @default "install" */
    mode?: "install" | "existing";
    /** Namespace cert-manager runs in (or, for "existing", runs in already). It is also the namespace a ClusterIssuer's CA Secret must be in. @default "cert-manager" */
    namespace?: string;
    /** Create the namespace when installing. @default true */
    createNamespace?: boolean;
    /** Helm chart version to install. @default CERT_MANAGER_CHART_VERSION */
    version?: string;
    /** Chart repository: a URL, or a mirror reachable offline. @default "https://charts.jetstack.io" */
    repository?: string;
    /** More Helm values for the chart (image registry of a local mirror, resources, …). @default {} */
    values?: Record<string, unknown>;
}

export interface ResolvedCertManager {
    mode: "install" | "existing";
    namespace: string;
    createNamespace: boolean;
    version: string;
    repository: string;
    values: Record<string, unknown>;
}

const CHART_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

export function resolveCertManagerArgs(name: string, args: CertManagerArgs = {}, context = `CertManager "${name}"`): ResolvedCertManager {
    const val = new v.Validator(context);
    const mode = args.mode ?? "install";
    val.check("mode", mode, v.oneOf(mode, ["install", "existing"]));
    const namespace = args.namespace ?? "cert-manager";
    val.check("namespace", namespace, v.dns1123Label(namespace));
    const version = args.version ?? CERT_MANAGER_CHART_VERSION;
    val.check(
        "version",
        version,
        typeof version === "string" && CHART_VERSION.test(version)
            ? undefined
            : 'must be an exact chart version such as "v1.19.2" (no ranges: the install must be repeatable)',
    );
    const repository = args.repository ?? CERT_MANAGER_CHART_REPOSITORY;
    val.check("repository", repository, v.nonEmptyString(repository, 'must be a chart repository URL such as "https://charts.jetstack.io"'));
    const values = args.values ?? {};
    if (values === null || typeof values !== "object" || Array.isArray(values)) val.fail("values", values, "must be an object of Helm values");
    else if ("installCRDs" in values || "crds" in values)
        val.fail("values", values, "must not set installCRDs or crds: the component always installs the CRDs");
    val.throwIfInvalid();
    return { mode, namespace, createNamespace: args.createNamespace ?? true, version, repository, values };
}

/** The fields of `@pulumi/kubernetes-cert-manager`'s CertManagerArgs this package sets (typed here so the package's types do not need it installed). */
export interface CertManagerInstallArgs {
    installCRDs: boolean;
    helmOptions: {
        namespace: string;
        createNamespace: boolean;
        version: string;
        repositoryOpts: { repo: string };
        values: Record<string, unknown>;
    };
}

/**
 * The `@pulumi/kubernetes-cert-manager` CertManager args for an install. That package is a
 * multi-language component: its typed fields (installCRDs, global, webhook, …) are decoded into
 * the Helm release's values on top of `helmOptions.values`, and `helmOptions` carries the Helm
 * release itself (chart version, namespace, repository). So the CRDs are requested through the
 * typed `installCRDs` (a same-named key in helmOptions.values would be overwritten) and through
 * `crds.enabled`, the chart's current name for it (not a typed field, so it passes through).
 */
export function certManagerInstallArgs(r: ResolvedCertManager): CertManagerInstallArgs {
    return {
        installCRDs: true,
        helmOptions: {
            namespace: r.namespace,
            createNamespace: r.createNamespace,
            version: r.version,
            repositoryOpts: { repo: r.repository },
            // keep: CRDs outlive an uninstall, so Certificates and their Secrets are not cascade-deleted.
            values: { ...r.values, crds: { enabled: true, keep: true } },
        },
    };
}

/**
 * Loads the optional peer dependency on first use, so programs that never install cert-manager
 * neither need it nor load it.
 */
function loadCertManagerPackage(context: string): typeof import("@pulumi/kubernetes-cert-manager") {
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded only when used
        return require(CERT_MANAGER_PACKAGE) as typeof import("@pulumi/kubernetes-cert-manager");
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND" || !String((e as Error).message).includes(CERT_MANAGER_PACKAGE)) throw e;
        throw new v.ValidationError(context, [
            {
                field: "mode",
                value: "install",
                expected: `needs the optional peer dependency ${CERT_MANAGER_PACKAGE} (npm install ${CERT_MANAGER_PACKAGE}@^0.2.0), or mode "existing" to use a cert-manager already in the cluster`,
            },
        ]);
    }
}

/**
 * cert-manager for the cluster: installed (pinned chart, CRDs included) or already there.
 * Pass this component in `dependsOn` of PrivateCa and of workloads with `tls`, so their
 * cert-manager objects wait for the CRDs and the webhook.
 */
export class CertManager extends pulumi.ComponentResource {
    /** The @pulumi/kubernetes-cert-manager component; absent for mode "existing". */
    public readonly release?: pulumi.ComponentResource;
    /** Namespace cert-manager runs in; a ClusterIssuer's CA Secret lives here. */
    public readonly namespace: pulumi.Output<string>;
    /** Installed chart version; undefined for mode "existing". */
    public readonly version: pulumi.Output<string | undefined>;
    public readonly mode: "install" | "existing";

    constructor(name: string, args: CertManagerArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const r = resolveCertManagerArgs(name, args);
        super("pets:index:CertManager", name, {}, opts);
        this.mode = r.mode;
        if (r.mode === "install") {
            const kcm = loadCertManagerPackage(`CertManager "${name}"`);
            this.release = new kcm.CertManager(`${name}-release`, certManagerInstallArgs(r), { parent: this });
        }
        this.namespace = pulumi.output(r.namespace);
        this.version = pulumi.output(r.mode === "install" ? r.version : undefined);
        this.registerOutputs({ namespace: this.namespace, version: this.version });
    }
}
