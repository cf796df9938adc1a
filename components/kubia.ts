import * as pulumi from "@pulumi/pulumi";
import { resolveStatefulWorkloadArgs, StatefulWorkload, StatefulWorkloadArgs } from "./statefulworkload";

export interface KubiaArgs {
    /** @default "default" */
    namespace?: pulumi.Input<string>;
    /** @default "luksa/kubia-pet" */
    image?: pulumi.Input<string>;
    /** @default 2 */
    replicas?: number;
    /** @default the cluster's default class */
    storageClassName?: pulumi.Input<string>;
    /** Also create the `kubia-client` ClusterIP Service the book calls kubia-public. @default true */
    clientService?: boolean;
    /** Passed through to StatefulWorkload. @default StatefulWorkload's defaults */
    workload?: Partial<Omit<StatefulWorkloadArgs, "image" | "replicas" | "namespace" | "volumeClaims" | "ports">>;
}

export const KUBIA_DEFAULT_IMAGE = "luksa/kubia-pet";

export function resolveKubiaArgs(name: string, args: KubiaArgs): StatefulWorkloadArgs {
    const swArgs: StatefulWorkloadArgs = {
        // The book's image runs node as root.
        security: { profile: "baseline" },
        ...args.workload,
        namespace: args.namespace,
        image: args.image ?? KUBIA_DEFAULT_IMAGE,
        replicas: args.replicas ?? 2,
        ports: [{ name: "http", containerPort: 8080, servicePort: 80 }],
        volumeClaims: [{ name: "data", size: "1Mi", mountPath: "/var/data", storageClassName: args.storageClassName }],
        clientService: args.clientService ?? true,
    };
    resolveStatefulWorkloadArgs(name, swArgs, `Kubia "${name}"`);
    return swArgs;
}

/** The "kubia" pet of Kubernetes in Action, chapter 10: each pod stores data in its own 1Mi claim and finds peers through SRV records. */
export class Kubia extends pulumi.ComponentResource {
    public readonly workload: StatefulWorkload;
    public readonly srvName: pulumi.Output<string>;
    public readonly podDnsNames: pulumi.Output<string[]>;

    constructor(name: string, args: KubiaArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const swArgs = resolveKubiaArgs(name, args);
        super("pets:index:Kubia", name, {}, opts);
        this.workload = new StatefulWorkload(name, swArgs, { parent: this });
        this.srvName = this.workload.srvName;
        this.podDnsNames = this.workload.podDnsNames;
        this.registerOutputs({ srvName: this.srvName, podDnsNames: this.podDnsNames });
    }
}
