import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

/** The package name in a type token or a providers map key ("kubernetes:apps/v1:StatefulSet" → "kubernetes"). */
function pkgOf(type: string): string {
    return type.split(":")[0];
}

function fromProvidersOption(providers: pulumi.ComponentResourceOptions["providers"], pkg: string): pulumi.ProviderResource | undefined {
    if (!providers) return undefined;
    // getPackage() exists at run time but is not in the SDK's type declarations.
    if (Array.isArray(providers)) return providers.find((p) => (p as unknown as { getPackage(): string }).getPackage() === pkg);
    return (providers as Record<string, pulumi.ProviderResource>)[pkg];
}

/**
 * A transformation for render mode: every Kubernetes object must be written by `render`, the
 * provider with `renderYamlToDirectory`, never applied to a cluster. It pins that provider on each
 * object, and refuses (before anything is registered) one that names or inherits another
 * Kubernetes provider, since that object would be created in whatever cluster it points at.
 * Components get the transformation through their `transformations` option and pass it to
 * every child.
 */
export function renderOnly(render: k8s.Provider): pulumi.ResourceTransformation {
    return (args) => {
        if (!(args.resource instanceof pulumi.CustomResource) || pkgOf(args.type) !== "kubernetes") return undefined;
        const chosen =
            args.opts.provider ??
            fromProvidersOption((args.opts as pulumi.ComponentResourceOptions).providers, "kubernetes") ??
            args.opts.parent?.getProvider(args.type);
        if (chosen !== undefined && chosen !== render) {
            throw new Error(
                `render mode: ${args.type} "${args.name}" would use a Kubernetes provider other than the render provider, so it could be applied to a cluster; ` +
                    `in render mode every Kubernetes resource must use the provider that has renderYamlToDirectory set (or unset pets:renderYamlTo to deploy)`,
            );
        }
        return { props: args.props, opts: { ...args.opts, provider: render } };
    };
}
