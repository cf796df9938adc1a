/**
 * Registers every component of a source tree under Pulumi's mocks, with default and with
 * non-default arguments (and the dev stack in deploy mode), and prints what was registered as
 * JSON: each registration as the engine receives it (URN, parent, inputs, options, and the
 * dependencies, explicit and through Outputs), and every component's outputs. Two dumps (before and after a refactoring) must be equal.
 *   npx ts-node --transpile-only scripts/behaviour/mock-dump.ts <source-tree> <components|dev-default|dev-tls> > dump.json
 * The dev stack's objects have fixed names, so each stack configuration runs in a process of its own.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { deserializeProperties } from "@pulumi/pulumi/runtime/rpc";

const src = path.resolve(process.argv[2] ?? path.join(__dirname, "..", ".."));
const which = process.argv[3] ?? "components";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function unwrap(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(unwrap);
    if (value !== null && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (o[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") return { secret: unwrap(o.value) };
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrap(v)]));
    }
    return value;
}

/** Sorts object keys: the engine receives inputs as unordered maps, so only array order matters. */
function canonical(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(canonical);
    if (value !== null && typeof value === "object") {
        return Object.fromEntries(
            Object.keys(value)
                .sort()
                .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
        );
    }
    return value;
}

void pulumi.runtime.setMocks(
    {
        newResource(args: pulumi.runtime.MockResourceArgs) {
            const id = (args.inputs?.metadata?.name as string | undefined) ?? `${args.name}-id`;
            if (args.type.startsWith("pulumi-nodejs:")) return { id, state: { ...args.inputs, result: `mock-generated-${args.name}` } };
            return { id, state: { ...args.inputs } };
        },
        call(args: pulumi.runtime.MockCallArgs) {
            return args.inputs;
        },
    },
    "pets",
    "dump",
    false,
);

/* eslint-disable @typescript-eslint/no-explicit-any -- the mock monitor's gRPC request objects are untyped here */
// Every registration as the engine would receive it: inputs, parent, options and the dependencies
// (explicit, and implicit through Outputs), without the source positions (they move with the code).
const registrations: Record<string, unknown>[] = [];
const componentOutputs = new Map<string, unknown>();
const monitor: any = pulumi.runtime.getMonitor();
const register = monitor.registerResource.bind(monitor);
monitor.registerResource = (req: any, callback: any) => {
    const o = req.toObject();
    delete o.object;
    delete o.sourceposition;
    delete o.stacktrace;
    delete o.parentstacktracehandle;
    o.dependenciesList = [...o.dependenciesList].sort();
    o.propertydependenciesMap = o.propertydependenciesMap
        .map(([k, d]: [string, { urnsList: string[] }]) => [k, [...d.urnsList].sort()])
        .sort((x: [string], y: [string]) => x[0].localeCompare(y[0]));
    registrations.push({ urn: monitor.newUrn(o.parent, o.type, o.name), ...o, inputs: unwrap(deserializeProperties(req.getObject())) });
    return register(req, callback);
};
const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
monitor.registerResourceOutputs = (req: any, callback: any) => {
    componentOutputs.set(req.getUrn(), unwrap(deserializeProperties(req.getOutputs())));
    return registerOutputs(req, callback);
};
/* eslint-enable @typescript-eslint/no-explicit-any */

function resolve<T>(o: pulumi.Input<T> | undefined): Promise<unknown> {
    return new Promise((ok) => pulumi.output(o).apply((v) => ok(v)));
}

async function outputsOf(c: pulumi.Resource): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(c)) {
        if (k.startsWith("__") || k === "urn") continue;
        if (pulumi.Output.isInstance(v)) {
            const isSecret = await pulumi.isSecret(v);
            const value = await resolve(v);
            out[k] = isSecret ? { secret: value } : value;
        } else if (pulumi.Resource.isInstance(v)) out[k] = { resource: await resolve(v.urn) };
        else if (typeof v !== "function" && v !== undefined && !(v instanceof Promise)) out[k] = v;
    }
    return out;
}

async function declare(): Promise<{ components: Record<string, pulumi.Resource>; stackOutputs: Record<string, pulumi.Output<unknown>> }> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the tree under test is chosen at run time
    const m = require(path.join(src, "components"));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const dev = require(path.join(src, "stacks", "dev"));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const stackConfig = require(path.join(src, "stacks", "config"));
    const components: Record<string, pulumi.Resource> = {};
    const add = (key: string, c: pulumi.Resource) => (components[key] = c);
    const issuer = { name: "shop-ca", kind: "ClusterIssuer" };
    // The dev stack in deploy mode (render mode is covered by the rendered YAML).
    const stacks: Record<string, Record<string, unknown>> = {
        "dev-default": { namespace: "pets-dev", web: { replicas: 2 }, kubia: { enabled: true }, liberator: { maxUnhealthy: 2 } },
        "dev-tls": { namespace: "pets-tls", tls: { enabled: true }, localPath: { enabled: false }, liberator: { enabled: false } },
    };
    if (which !== "components") {
        if (!(which in stacks)) throw new Error(`unknown case ${which}: components, ${Object.keys(stacks).join(", ")}`);
        const stackOutputs = dev.deployDev({
            config: stackConfig.parseStackConfig(stacks[which]),
            mysqlRootPassword: which === "dev-tls" ? pulumi.secret("configured") : undefined,
        });
        return { components, stackOutputs };
    }
    add("sw-min", new m.StatefulWorkload("sw-min", { image: "nginx:1.27" }));
    add(
        "sw-full",
        new m.StatefulWorkload("sw-full", {
            namespace: "shop",
            statefulSetName: "store",
            serviceName: "store-svc",
            image: "registry.local/store:2",
            imagePullPolicy: "Always",
            command: ["/bin/store"],
            args: ["--serve", pulumi.output("--fast")],
            env: {
                PLAIN: "value",
                FROM_OUTPUT: pulumi.output("later"),
                SECRET: { secretKeyRef: { name: "s", key: "k", optional: true } },
                CONFIG: { configMapKeyRef: { name: "c", key: "k" } },
                NODE: { fieldRef: "spec.nodeName" },
            },
            ports: [
                { name: "http", containerPort: 8080, servicePort: 80 },
                { name: "dns", containerPort: 5353, protocol: "UDP" },
            ],
            replicas: 3,
            ordinalsStart: 2,
            volumeClaims: [
                { name: "data", size: "5Gi", mountPath: "/data", subPath: "d", storageClassName: "fast", accessModes: ["ReadWriteOncePod"] },
                { name: "logs", size: "500Mi", mountPath: "/logs", readOnly: true, storageClassName: pulumi.output("slow") },
            ],
            podManagementPolicy: "Parallel",
            updateStrategy: { type: "RollingUpdate", partition: 1, maxUnavailable: 2 },
            minReadySeconds: 5,
            pvcRetention: { whenDeleted: "Delete", whenScaled: "Delete" },
            livenessProbe: { httpGet: { path: "/live", port: 8080 } },
            readinessProbe: { httpGet: { path: "/ready", port: 8080 } },
            startupProbe: { tcpSocket: { port: 8080 } },
            resources: { requests: { cpu: "1" } },
            security: { profile: "baseline", runAsUser: 0, runAsGroup: 10, fsGroup: 20, readOnlyRootFilesystem: true },
            spreadAcrossNodes: "required",
            disruptionBudget: { maxUnavailable: "50%" },
            clientService: { type: "NodePort" },
            labels: { team: "shop" },
            podAnnotations: { note: "x", later: pulumi.output("y") },
            nodeSelector: { disk: "ssd" },
            tolerations: [{ key: "dedicated", operator: "Exists" }],
            serviceAccountName: "store-sa",
            terminationGracePeriodSeconds: 45,
            extraVolumes: [{ name: "conf", configMap: { name: "store-conf" } }],
            extraVolumeMounts: [{ name: "conf", mountPath: "/etc/store" }],
            clusterDomain: "example.internal",
            tls: {
                issuerRef: issuer,
                keyAlgorithm: "ECDSA",
                keySize: 384,
                duration: "1000h",
                renewBefore: "100h",
                mountPath: "/certs",
                secretName: "store-certs",
                additionalDnsNames: ["store.example.com"],
                fileMode: 0o440,
                waitForReady: false,
            },
            localVolumePolicy: "delete-pvc",
        }),
    );
    add(
        "sw-outputs",
        new m.StatefulWorkload("sw-outputs", {
            namespace: pulumi.output("outns"),
            image: pulumi.output("busybox:1.37"),
            replicas: 0,
            updateStrategy: { type: "OnDelete" },
            spreadAcrossNodes: "none",
            disruptionBudget: false,
            clientService: true,
            ports: [{ name: "tcp", containerPort: 9000 }],
            tls: { issuerRef: pulumi.output({ name: "ns-ca" }) },
        }),
    );
    add("sw-canary", new m.StatefulWorkload("sw-canary", { image: "nginx:1.27", replicas: 3, updateStrategy: { type: "RollingUpdate", partition: 2 } }));

    add("mysql-min", new m.MySql("mysql-min", {}));
    add(
        "mysql-full",
        new m.MySql("mysql-full", {
            namespace: "db",
            image: "mysql:5.7.44",
            replicas: 2,
            storageSize: "10Gi",
            storageClassName: "fast",
            rootPassword: pulumi.secret("from-config"),
            database: "shop",
            resources: { requests: { cpu: "500m" } },
            clientService: true,
            tls: { issuerRef: issuer, requireSecureTransport: true, mountPath: "/etc/mysql-tls" },
            workload: { labels: { tier: "db" }, statefulSetName: "db", terminationGracePeriodSeconds: 90 },
        }),
    );
    add("mysql-existing", new m.MySql("mysql-existing", { existingRootPasswordSecret: "sealed" }));

    add("web-min", new m.NginxWeb("web-min", {}));
    add(
        "web-full",
        new m.NginxWeb("web-full", {
            namespace: "site",
            image: "nginxinc/nginx-unprivileged:1.27.0-alpine",
            replicas: 4,
            storageSize: "2Gi",
            storageClassName: "local-path",
            webRoot: "/srv/www",
            containerPort: 8081,
            resources: { limits: { memory: "256Mi" } },
            tls: { issuerRef: issuer },
            httpsPort: 9443,
            workload: {
                updateStrategy: { type: "RollingUpdate", partition: 1 },
                extraVolumes: [{ name: "extra", emptyDir: {} }],
                extraVolumeMounts: [{ name: "extra", mountPath: "/extra" }],
                podAnnotations: { a: "b" },
            },
        }),
    );
    add("web-wtls", new m.NginxWeb("web-wtls", { workload: { tls: { issuerRef: issuer, mountPath: "/tls" } } }));

    add("kubia-min", new m.Kubia("kubia-min", {}));
    add(
        "kubia-full",
        new m.Kubia("kubia-full", {
            namespace: "book",
            image: "node:22",
            replicas: 3,
            storageClassName: "local-path",
            clientService: false,
            workload: {
                serviceName: "kubia-svc",
                clusterDomain: "example.internal",
                extraVolumes: [{ name: "extra", emptyDir: {} }],
                extraVolumeMounts: [{ name: "extra", mountPath: "/extra" }],
                podAnnotations: { a: "b" },
            },
        }),
    );

    add("lp-min", new m.LocalPathProvisioner("lp-min", {}));
    add(
        "lp-full",
        new m.LocalPathProvisioner("lp-full", {
            namespace: "storage",
            createNamespace: false,
            image: "registry.local/lpp:1",
            helperImage: pulumi.output("registry.local/busybox:1"),
            imagePullPolicy: "Always",
            provisionerName: "example.com/lp",
            storageClassName: "lp-fast",
            isDefaultClass: true,
            reclaimPolicy: "Retain",
            volumeType: "local",
            nodePathMap: [
                { node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", paths: ["/opt/lp", "/data/lp"] },
                { node: "node-a", paths: [] },
            ],
            nodePath: "/data/lp",
            pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/x",
            nodeAffinityKey: "example.com/host",
            cmdTimeoutSeconds: 300,
            setupScript: "#!/bin/sh\nmkdir -p $VOL_DIR",
            teardownScript: "#!/bin/sh\nrm -rf $VOL_DIR",
            debug: false,
            resources: { requests: { cpu: "20m" } },
            nodeSelector: { role: "storage" },
            tolerations: [{ operator: "Exists" }],
            labels: { team: "storage" },
        }),
    );
    add("lp-shared", new m.LocalPathProvisioner("lp-shared", { sharedFileSystemPath: "/mnt/nfs", volumeBindingMode: "Immediate" }));

    add("lib-min", new m.NodeLiberator("lib-min", {}));
    add(
        "lib-http",
        new m.NodeLiberator("lib-http", {
            namespace: "lib-system",
            createNamespace: false,
            serviceAccountName: "lib-sa",
            mode: "deleteNode",
            unhealthyAfterSeconds: 10,
            maxUnhealthy: "34%",
            stormCooldownSeconds: 120,
            dryRun: true,
            optOutLabel: "example.com/skip",
            forceDeletePods: false,
            releaseLocalVolumes: true,
            orphanedVolumes: "delete",
            orphanedVolumeGraceSeconds: 900,
            stormWindowSeconds: 300,
            heartbeatIntervalSeconds: 4,
            selfFence: {
                timeoutSeconds: 40,
                execSeconds: 8,
                marginSeconds: 6,
                settleSeconds: 30,
                criSocket: "/run/crio/crio.sock",
                kubeletProcessName: "kubelet",
                peerPort: 9500,
                watchdog: { device: "/dev/watchdog", timeoutSeconds: 5 },
            },
            fence: {
                url: "https://pdu.example/off/{node}",
                method: "PUT",
                tokenSecret: { name: "pdu", key: "token" },
                caConfigMap: { name: "pdu-ca", key: "ca.pem" },
                timeoutSeconds: 20,
                retrySeconds: 40,
            },
            controllerReplicas: 3,
            leaderElection: { leaseDurationSeconds: 20, renewDeadlineSeconds: 12, retryPeriodSeconds: 3 },
            image: "registry.local/node:22",
            imagePullPolicy: "Always",
            resources: { requests: { cpu: "20m" } },
            agentResources: { requests: { cpu: "10m" } },
            priorityClassName: "important",
            agentPriorityClassName: "system-node-critical",
            tolerations: [{ key: "x", operator: "Exists" }],
            nodeSelector: { "pets/agent": "yes" },
            metricsPort: 9090,
            logLevel: "debug",
            extraVolumes: [{ name: "hooks", configMap: { name: "hooks" } }],
            extraVolumeMounts: [{ name: "hooks", mountPath: "/hooks" }],
            labels: { team: "ops" },
        }),
    );
    add(
        "lib-cmd",
        new m.NodeLiberator("lib-cmd", {
            fence: { command: ["/hooks/poweroff", "--hard"], timeoutSeconds: 60, retrySeconds: 10 },
            unsafeNoFencing: true,
            remediateControlPlane: true,
            selfFence: { enabled: false },
            orphanedVolumes: "ignore",
            peerKeySecret: "my-peer-key",
            codeSource: "image",
            image: "registry.local/liberator:1",
        }),
    );

    add("cm-existing", new m.CertManager("cm-existing", { mode: "existing", namespace: "certs" }));
    add(
        "cm-install",
        new m.CertManager("cm-install", {
            namespace: "cm",
            createNamespace: false,
            version: "v1.18.0",
            repository: "https://mirror.local/charts",
            values: { replicaCount: 2 },
        }),
    );

    add("ca-min", new m.PrivateCa("ca-min", {}));
    add(
        "ca-full",
        new m.PrivateCa(
            "ca-full",
            {
                kind: "ClusterIssuer",
                namespace: "cert-manager",
                issuerName: "shop-ca",
                commonName: "Shop CA",
                keyAlgorithm: "ECDSA",
                keySize: 384,
                duration: "43800h",
                renewBefore: "1000h",
                secretName: "shop-ca-secret",
                waitForReady: false,
            },
            { dependsOn: [components["cm-existing"]] },
        ),
    );
    add("ca-existing", new m.PrivateCa("ca-existing", { existingIssuer: { name: "corp", kind: "ClusterIssuer", caSecretName: "corp-ca" } }));

    return { components, stackOutputs: {} };
}

async function main() {
    const { components, stackOutputs } = await declare();
    for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 0));
    const outputs: Record<string, unknown> = {};
    for (const [k, c] of Object.entries(components)) outputs[k] = await outputsOf(c);
    for (const [k, v] of Object.entries(stackOutputs)) {
        const isSecret = await pulumi.isSecret(v);
        const value = await resolve(v);
        outputs[k] = isSecret ? { secret: value } : value;
    }
    for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 0));
    const resources = registrations
        .map((r) => ({ ...r, urn: String(r.urn), registeredOutputs: componentOutputs.get(r.urn as string) }))
        .sort((a, b) => a.urn.localeCompare(b.urn));
    process.stdout.write(JSON.stringify(canonical({ resources, outputs }), null, 1) + "\n");
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
