import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { resolveStatefulWorkloadArgs, StatefulWorkload, StatefulWorkloadArgs } from "./statefulworkload";

export interface KubiaArgs {
    /** @default "default" */
    namespace?: pulumi.Input<string>;
    /** A Node.js image; the app itself ships in a ConfigMap and runs with `node`. @default "node:22.12.0-alpine" */
    image?: pulumi.Input<string>;
    /** @default 2 */
    replicas?: number;
    /** @default the cluster's default class */
    storageClassName?: pulumi.Input<string>;
    /** Also create the `kubia-client` ClusterIP Service the book calls kubia-public. @default true */
    clientService?: boolean;
    /** Passed through to StatefulWorkload. @default StatefulWorkload's defaults */
    workload?: Partial<Omit<StatefulWorkloadArgs, "image" | "replicas" | "namespace" | "volumeClaims" | "ports" | "command" | "env">>;
}

/** The official Node.js image, pinned to a release (the book's luksa/kubia-pet has no version tag). */
export const KUBIA_DEFAULT_IMAGE = "node:22.12.0-alpine";
export const KUBIA_PORT = 8080;
export const KUBIA_DATA_PATH = "/var/data";
const APP_PATH = "/opt/kubia";
/** The official node image's unprivileged user. */
const NODE_UID = 1000;

/**
 * The kubia pet of Kubernetes in Action, chapter 10, as our own small program (Node built-ins
 * only): `POST /` stores the body in the pod's own volume; `GET /` answers with the pod's name and
 * what it stores; `GET /cluster` finds every peer through the SRV records of the governing
 * headless Service and asks each one, as the book's peer-discovery version does.
 */
export const KUBIA_APP = `"use strict";
const http = require("http");
const fs = require("fs");
const dns = require("dns").promises;
const os = require("os");
const file = process.env.KUBIA_DATA_FILE;
const srv = \`_http._tcp.\${process.env.KUBIA_SERVICE}.\${process.env.POD_NAMESPACE}.svc.\${process.env.CLUSTER_DOMAIN}\`;
const port = Number(process.env.KUBIA_PORT);
function stored() {
    try { return fs.readFileSync(file, "utf8"); } catch { return "No data posted yet"; }
}
function get(host, p) {
    return new Promise((resolve) => {
        const req = http.get({ host, port: p, path: "/", timeout: 2000 }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve(body.split("\\n")[1]?.replace("Data stored on this pod: ", "") ?? body));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => resolve(\`unreachable (\${e.message})\`));
    });
}
http.createServer((req, res) => {
    if (req.method === "POST") {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            fs.writeFileSync(file, body);
            res.end(\`Data stored on pod \${os.hostname()}\\n\`);
        });
        return;
    }
    if (req.url === "/cluster") {
        dns.resolveSrv(srv).then(
            async (peers) => {
                const lines = await Promise.all(peers.sort((a, b) => a.name.localeCompare(b.name)).map(async (p) => \`- \${p.name}: \${await get(p.name, p.port)}\`));
                res.end(\`You've hit \${os.hostname()}\\nData stored in the cluster:\\n\${lines.join("\\n")}\\n\`);
            },
            (e) => { res.statusCode = 503; res.end(\`SRV lookup of \${srv} failed: \${e.message}\\n\`); },
        );
        return;
    }
    res.end(\`You've hit \${os.hostname()}\\nData stored on this pod: \${stored()}\\n\`);
}).listen(port, () => console.log(\`kubia listening on \${port}, peers at \${srv}\`));
process.on("SIGTERM", () => process.exit(0));
`;

/** KubiaArgs with every default applied; produced by `resolveKubiaArgs`. */
export interface ResolvedKubia {
    namespace: pulumi.Input<string>;
    /** The ConfigMap with the app. */
    appConfigMapName: string;
    /** The StatefulWorkload it builds on (already validated). */
    workload: StatefulWorkloadArgs;
}

/** Defaults of Kubia's fields, and the StatefulWorkload args it builds on (validated there). */
export function resolveKubiaArgs(name: string, args: KubiaArgs): ResolvedKubia {
    const codeConfigMap = `${name}-app`;
    const statefulSetName = args.workload?.statefulSetName ?? name;
    const swArgs: StatefulWorkloadArgs = {
        // The app needs no root: the node image's own user, with the volume group-owned by it.
        security: { profile: "restricted", runAsUser: NODE_UID, runAsGroup: NODE_UID, fsGroup: NODE_UID, readOnlyRootFilesystem: true },
        ...args.workload,
        namespace: args.namespace,
        image: args.image ?? KUBIA_DEFAULT_IMAGE,
        command: ["node", `${APP_PATH}/app.js`],
        env: {
            KUBIA_PORT: String(KUBIA_PORT),
            KUBIA_DATA_FILE: `${KUBIA_DATA_PATH}/kubia.txt`,
            KUBIA_SERVICE: args.workload?.serviceName ?? statefulSetName,
            CLUSTER_DOMAIN: args.workload?.clusterDomain ?? "cluster.local",
            POD_NAMESPACE: { fieldRef: "metadata.namespace" },
        },
        replicas: args.replicas ?? 2,
        ports: [{ name: "http", containerPort: KUBIA_PORT, servicePort: 80 }],
        volumeClaims: [{ name: "data", size: "1Mi", mountPath: KUBIA_DATA_PATH, storageClassName: args.storageClassName }],
        extraVolumes: [...(args.workload?.extraVolumes ?? []), { name: "app", configMap: { name: codeConfigMap, defaultMode: 0o444 } }],
        extraVolumeMounts: [...(args.workload?.extraVolumeMounts ?? []), { name: "app", mountPath: APP_PATH, readOnly: true }],
        podAnnotations: { ...args.workload?.podAnnotations, "pets/app-sha256": crypto.createHash("sha256").update(KUBIA_APP).digest("hex") },
        readinessProbe: { httpGet: { path: "/", port: KUBIA_PORT }, periodSeconds: 5 },
        clientService: args.clientService ?? true,
    };
    resolveStatefulWorkloadArgs(name, swArgs, `Kubia "${name}"`);
    return { namespace: args.namespace ?? "default", appConfigMapName: codeConfigMap, workload: swArgs };
}

/** The ConfigMap with the app, mounted read-only at /opt/kubia. */
export function renderKubiaAppConfigMap(r: ResolvedKubia): k8s.core.v1.ConfigMapArgs {
    return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: r.appConfigMapName, namespace: r.namespace }, data: { "app.js": KUBIA_APP } };
}

/** The "kubia" pet of Kubernetes in Action, chapter 10: each pod stores data in its own 1Mi claim and finds peers through SRV records. */
export class Kubia extends pulumi.ComponentResource {
    public readonly workload: StatefulWorkload;
    public readonly app: k8s.core.v1.ConfigMap;
    public readonly srvName: pulumi.Output<string>;
    public readonly podDnsNames: pulumi.Output<string[]>;

    constructor(name: string, args: KubiaArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const r = resolveKubiaArgs(name, args);
        super("pets:index:Kubia", name, {}, opts);
        this.app = new k8s.core.v1.ConfigMap(`${name}-app`, renderKubiaAppConfigMap(r), { parent: this });
        this.workload = new StatefulWorkload(name, r.workload, { parent: this, dependsOn: [this.app] });
        this.srvName = this.workload.srvName;
        this.podDnsNames = this.workload.podDnsNames;
        this.registerOutputs({ srvName: this.srvName, podDnsNames: this.podDnsNames });
    }
}
