import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { resolveStatefulWorkloadArgs, StatefulWorkload, StatefulWorkloadArgs } from "./statefulworkload";
import { TLS_DEFAULTS, TlsArgs, tlsFilePaths } from "./tls";
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
    /**
     * Serve HTTPS too: a certificate naming every pod (StatefulWorkload's `tls`) and an nginx
     * server block on `httpsPort` (Service port 443) with it. nginx reads the certificate at start:
     * restart the pods after a renewal (docs/tls.md). @default none: HTTP only
     */
    tls?: TlsArgs;
    /** Port nginx serves HTTPS on inside the pod, with `tls`. @default 8443 */
    httpsPort?: number;
    /** Passed through to StatefulWorkload (update strategy for canaries, pod management, …). @default StatefulWorkload's defaults */
    workload?: Partial<Omit<StatefulWorkloadArgs, "image" | "replicas" | "namespace" | "volumeClaims" | "ports">>;
}

/** nginx's stable series, pinned to a release: a moving tag would change what a re-deploy runs. */
export const NGINX_DEFAULT_IMAGE = "nginxinc/nginx-unprivileged:1.28.0-alpine";

/** The server block the image's nginx.conf includes from /etc/nginx/conf.d: HTTP, and HTTPS with the mounted certificate. */
export function nginxServerConf(o: { webRoot: string; containerPort: number; httpsPort: number; tlsMountPath: string }): string {
    const files = tlsFilePaths(o.tlsMountPath);
    return [
        "server {",
        `    listen ${o.containerPort};`,
        `    listen ${o.httpsPort} ssl;`,
        `    ssl_certificate ${files.cert};`,
        `    ssl_certificate_key ${files.key};`,
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    server_name _;",
        "    location / {",
        `        root ${o.webRoot};`,
        "        index index.html index.htm;",
        "    }",
        "}",
        "",
    ].join("\n");
}

/** NginxWebArgs with every default applied; produced by `resolveNginxWebArgs`. */
export interface ResolvedNginxWeb {
    namespace: pulumi.Input<string>;
    /** The ConfigMap with the server block, with `tls`. */
    confConfigMapName: string;
    /** The server block with HTTPS, with `tls`; undefined: the image's own (HTTP). */
    serverConf?: string;
    /** The StatefulWorkload it builds on (already validated). */
    workload: StatefulWorkloadArgs;
}

/** Defaults and validation of NginxWeb's own fields, and the StatefulWorkload args it builds on. */
export function resolveNginxWebArgs(name: string, args: NginxWebArgs): ResolvedNginxWeb {
    const confConfigMap = `${name}-nginx-conf`;
    const context = `NginxWeb "${name}"`;
    const val = new v.Validator(context);
    const storageSize = args.storageSize ?? "1Gi";
    val.check("storageSize", storageSize, v.storageQuantity(storageSize));
    const webRoot = args.webRoot ?? "/usr/share/nginx/html";
    val.check("webRoot", webRoot, v.absolutePath(webRoot));
    const containerPort = args.containerPort ?? 8080;
    val.check("containerPort", containerPort, v.port(containerPort));
    const tls = args.tls ?? args.workload?.tls;
    const httpsPort = args.httpsPort ?? 8443;
    if (tls) {
        val.check("httpsPort", httpsPort, v.port(httpsPort));
        if (httpsPort === containerPort) val.fail("httpsPort", httpsPort, `must differ from containerPort (${containerPort})`);
    }
    val.throwIfInvalid();
    const conf = tls ? nginxServerConf({ webRoot, containerPort, httpsPort, tlsMountPath: tls.mountPath ?? TLS_DEFAULTS.mountPath }) : undefined;
    const swArgs: StatefulWorkloadArgs = {
        // The unprivileged image's nginx user.
        security: { profile: "restricted", runAsUser: 101, runAsGroup: 101 },
        ...args.workload,
        namespace: args.namespace,
        image: args.image ?? NGINX_DEFAULT_IMAGE,
        replicas: args.replicas ?? 2,
        ports: [{ name: "http", containerPort, servicePort: 80 }, ...(tls ? [{ name: "https", containerPort: httpsPort, servicePort: 443 }] : [])],
        ...(tls && conf
            ? {
                  tls,
                  // Replaces the image's conf.d (its default server is the HTTP half of ours).
                  extraVolumes: [...(args.workload?.extraVolumes ?? []), { name: "nginx-conf", configMap: { name: confConfigMap } }],
                  extraVolumeMounts: [...(args.workload?.extraVolumeMounts ?? []), { name: "nginx-conf", mountPath: "/etc/nginx/conf.d", readOnly: true }],
                  podAnnotations: { ...args.workload?.podAnnotations, "pets/nginx-conf-sha256": crypto.createHash("sha256").update(conf).digest("hex") },
              }
            : {}),
        volumeClaims: [{ name: "www", size: storageSize, mountPath: webRoot, storageClassName: args.storageClassName }],
        resources: args.resources ?? { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
        // TCP, not HTTP: a new, empty web root answers 403 and would never be Ready.
        readinessProbe: { tcpSocket: { port: containerPort }, periodSeconds: 5 },
        livenessProbe: { tcpSocket: { port: containerPort }, initialDelaySeconds: 10, periodSeconds: 10 },
    };
    resolveStatefulWorkloadArgs(name, swArgs, context);
    return { namespace: args.namespace ?? "default", confConfigMapName: confConfigMap, ...(conf !== undefined ? { serverConf: conf } : {}), workload: swArgs };
}

/** The ConfigMap with the HTTPS server block, with `tls`. */
export function renderNginxConfConfigMap(r: ResolvedNginxWeb): k8s.core.v1.ConfigMapArgs | undefined {
    if (r.serverConf === undefined) return undefined;
    return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: r.confConfigMapName, namespace: r.namespace }, data: { "default.conf": r.serverConf } };
}

/** nginx as pets: every pod serves its own volume at the web root (`www-<name>-<N>`). */
export class NginxWeb extends pulumi.ComponentResource {
    public readonly workload: StatefulWorkload;
    public readonly podDnsNames: pulumi.Output<string[]>;
    public readonly pvcNames: pulumi.Output<string[]>;
    /** The nginx server block with HTTPS, when `tls` is set. */
    public readonly serverConf?: k8s.core.v1.ConfigMap;
    /** The certificate's Secret, issuer and CA bundle, when `tls` is set. */
    public readonly tls?: StatefulWorkload["tls"];

    constructor(name: string, args: NginxWebArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const r = resolveNginxWebArgs(name, args);
        super("pets:index:NginxWeb", name, {}, opts);
        const conf = renderNginxConfConfigMap(r);
        if (conf) this.serverConf = new k8s.core.v1.ConfigMap(`${name}-nginx-conf`, conf, { parent: this });
        this.workload = new StatefulWorkload(name, r.workload, { parent: this, dependsOn: this.serverConf ? [this.serverConf] : [] });
        this.tls = this.workload.tls;
        this.podDnsNames = this.workload.podDnsNames;
        this.pvcNames = this.workload.pvcNames;
        this.registerOutputs({ podDnsNames: this.podDnsNames, pvcNames: this.pvcNames });
    }
}
