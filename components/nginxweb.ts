import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { resolveStatefulWorkloadArgs, StatefulWorkload, StatefulWorkloadArgs } from "./statefulworkload";
import * as v from "./validation";

export interface NginxWebArgs {
    /** @default "default" */
    namespace?: pulumi.Input<string>;
    /** An nginx image that runs unprivileged on port 8080, so the restricted profile holds. @default "nginxinc/nginx-unprivileged:1.28.0-alpine" */
    image?: pulumi.Input<string>;
    /** @default 2 */
    replicas?: number;
    /** Size of each pod's web-root volume. @default "1Gi" */
    storageSize?: string;
    /** @default the cluster's default class */
    storageClassName?: pulumi.Input<string>;
    /** Web root inside the container, where each pod's own volume is mounted. @default "/usr/share/nginx/html" */
    webRoot?: string;
    /** Port nginx listens on inside the pod. @default 8080 */
    containerPort?: number;
    /** @default requests 10m CPU / 32Mi memory, limit 128Mi memory */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** Passed through to StatefulWorkload (update strategy for canaries, pod management, …). @default StatefulWorkload's defaults */
    workload?: Partial<Omit<StatefulWorkloadArgs, "image" | "replicas" | "namespace" | "volumeClaims" | "ports">>;
}

/** nginx's stable series, pinned to a release: a moving tag would change what a re-deploy runs. */
export const NGINX_DEFAULT_IMAGE = "nginxinc/nginx-unprivileged:1.28.0-alpine";

export function resolveNginxWebArgs(name: string, args: NginxWebArgs): StatefulWorkloadArgs {
    const context = `NginxWeb "${name}"`;
    const val = new v.Validator(context);
    const storageSize = args.storageSize ?? "1Gi";
    val.check("storageSize", storageSize, v.storageQuantity(storageSize));
    const webRoot = args.webRoot ?? "/usr/share/nginx/html";
    val.check("webRoot", webRoot, v.absolutePath(webRoot));
    const containerPort = args.containerPort ?? 8080;
    val.check("containerPort", containerPort, v.port(containerPort));
    val.throwIfInvalid();
    const swArgs: StatefulWorkloadArgs = {
        // The unprivileged image's nginx user.
        security: { profile: "restricted", runAsUser: 101, runAsGroup: 101 },
        ...args.workload,
        namespace: args.namespace,
        image: args.image ?? NGINX_DEFAULT_IMAGE,
        replicas: args.replicas ?? 2,
        ports: [{ name: "http", containerPort, servicePort: 80 }],
        volumeClaims: [{ name: "www", size: storageSize, mountPath: webRoot, storageClassName: args.storageClassName }],
        resources: args.resources ?? { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
        // TCP, not HTTP: a new, empty web root answers 403 and would never be Ready.
        readinessProbe: { tcpSocket: { port: containerPort }, periodSeconds: 5 },
        livenessProbe: { tcpSocket: { port: containerPort }, initialDelaySeconds: 10, periodSeconds: 10 },
    };
    resolveStatefulWorkloadArgs(name, swArgs, context);
    return swArgs;
}

/** nginx as pets: every pod serves its own volume at the web root (`www-<name>-<N>`). */
export class NginxWeb extends pulumi.ComponentResource {
    public readonly workload: StatefulWorkload;
    public readonly podDnsNames: pulumi.Output<string[]>;
    public readonly pvcNames: pulumi.Output<string[]>;

    constructor(name: string, args: NginxWebArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const swArgs = resolveNginxWebArgs(name, args);
        super("pets:index:NginxWeb", name, {}, opts);
        this.workload = new StatefulWorkload(name, swArgs, { parent: this });
        this.podDnsNames = this.workload.podDnsNames;
        this.pvcNames = this.workload.pvcNames;
        this.registerOutputs({ podDnsNames: this.podDnsNames, pvcNames: this.pvcNames });
    }
}
