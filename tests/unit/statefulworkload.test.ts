import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../support/pulumi";

const registered = setupMocks();
type Mod = typeof import("../../components/statefulworkload");
let m: Mod;

beforeAll(async () => {
    m = await import("../../components/statefulworkload");
});
beforeEach(() => registered.splice(0));

async function build(name: string, args: Partial<import("../../components/statefulworkload").StatefulWorkloadArgs> = {}) {
    const wl = new m.StatefulWorkload(name, { image: "nginx:1.27", ...args });
    await promiseOf(wl.pvcNames);
    await settle();
    return wl;
}

describe("StatefulWorkload defaults", () => {
    test("headless Service governs the StatefulSet by explicit name", async () => {
        const wl = await build("web", { ports: [{ name: "http", containerPort: 80 }] });
        const svc = findObject(registered, "Service", "web");
        expect(svc.spec.clusterIP).toBe("None");
        expect(svc.spec.publishNotReadyAddresses).toBe(true);
        expect(svc.spec.ports).toEqual([{ name: "http", port: 80, targetPort: 80, protocol: "TCP" }]);
        const sts = findObject(registered, "StatefulSet", "web");
        expect(sts.spec.serviceName).toBe("web");
        expect(await promiseOf(wl.headlessServiceName)).toBe("web");
    });

    test("retains PVCs on delete and scale-down, ordered pods, partition 0", async () => {
        await build("web");
        const sts = findObject(registered, "StatefulSet", "web");
        expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });
        expect(sts.spec.podManagementPolicy).toBe("OrderedReady");
        expect(sts.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { partition: 0 } });
        expect(sts.spec.replicas).toBe(1);
        expect(sts.metadata.annotations).toEqual({ "liberator.pets/local-volume-policy": "wait" });
    });

    test("restricted security context and soft anti-affinity by default", async () => {
        await build("web");
        const pod = findObject(registered, "StatefulSet", "web").spec.template.spec;
        expect(pod.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" }, runAsNonRoot: true });
        expect(pod.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: false });
        expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
    });

    test("PodDisruptionBudget allows one pod down", async () => {
        await build("web");
        const pdb = findObject(registered, "PodDisruptionBudget", "web");
        expect(pdb.spec.maxUnavailable).toBe(1);
        expect(pdb.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web" });
    });
});

describe("StatefulWorkload and the liberator", () => {
    test("opting in to delete-pvc annotates the StatefulSet the liberator reads", async () => {
        await build("web", { localVolumePolicy: "delete-pvc" });
        expect(findObject(registered, "StatefulSet", "web").metadata.annotations["liberator.pets/local-volume-policy"]).toBe("delete-pvc");
    });

    test("the annotation key is the one the controller reads", async () => {
        const { LOCAL_VOLUME_POLICY_KEY } = await import("../../liberator/decide");
        expect(m.LOCAL_VOLUME_POLICY_ANNOTATION).toBe(LOCAL_VOLUME_POLICY_KEY);
    });
});

describe("StatefulWorkload outputs", () => {
    test.each([
        {
            replicas: 3,
            ns: "default",
            start: 0,
            dns: ["web-0.web.default.svc.cluster.local", "web-1.web.default.svc.cluster.local", "web-2.web.default.svc.cluster.local"],
        },
        { replicas: 1, ns: "shop", start: 0, dns: ["web-0.web.shop.svc.cluster.local"] },
        { replicas: 2, ns: "shop", start: 5, dns: ["web-5.web.shop.svc.cluster.local", "web-6.web.shop.svc.cluster.local"] },
        { replicas: 0, ns: "default", start: 0, dns: [] },
    ])("replicas $replicas in $ns from ordinal $start", async ({ replicas, ns, start, dns }) => {
        const wl = await build("web", {
            replicas,
            namespace: ns,
            ordinalsStart: start,
            volumeClaims: [{ name: "www", size: "1Gi", mountPath: "/usr/share/nginx/html" }],
        });
        expect(await promiseOf(wl.podDnsNames)).toEqual(dns);
        expect(await promiseOf(wl.pvcNames)).toEqual(dns.map((d) => `www-${d.split(".")[0]}`));
        expect(await promiseOf(wl.srvName)).toBe(`web.${ns}.svc.cluster.local`);
    });

    test("PVC names follow <template>-<sts>-<N> for each template", () => {
        expect(m.pvcNames("db", ["data", "logs"], 2)).toEqual(["data-db-0", "data-db-1", "logs-db-0", "logs-db-1"]);
    });

    test("SRV names of named ports", async () => {
        const wl = await build("kubia", {
            ports: [
                { name: "http", containerPort: 8080, servicePort: 80 },
                { name: "gossip", containerPort: 7000, protocol: "UDP" },
            ],
        });
        expect(await promiseOf(wl.portSrvNames)).toEqual({
            http: "_http._tcp.kubia.default.svc.cluster.local",
            gossip: "_gossip._udp.kubia.default.svc.cluster.local",
        });
    });
});

describe("StatefulWorkload overrides", () => {
    test("volume claims, env, probes, client service and custom names", async () => {
        await build("db", {
            statefulSetName: "mysql",
            serviceName: "mysql-peers",
            replicas: 3,
            podManagementPolicy: "Parallel",
            env: { PLAIN: "x", PASSWORD: { secretKeyRef: { name: "s", key: "k" } }, POD: { fieldRef: "metadata.name" } },
            ports: [{ name: "mysql", containerPort: 3306 }],
            volumeClaims: [{ name: "data", size: "2Gi", mountPath: "/var/lib/mysql", subPath: "data", storageClassName: "local-path" }],
            readinessProbe: { tcpSocket: { port: 3306 } },
            clientService: true,
            disruptionBudget: { maxUnavailable: "50%" },
            pvcRetention: { whenScaled: "Delete" },
            security: { profile: "baseline" },
            spreadAcrossNodes: "required",
            labels: { team: "data" },
        });
        const sts = findObject(registered, "StatefulSet", "mysql");
        expect(sts.spec.serviceName).toBe("mysql-peers");
        expect(sts.spec.podManagementPolicy).toBe("Parallel");
        expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Delete" });
        const c = sts.spec.template.spec.containers[0];
        expect(c.env).toEqual([
            { name: "PLAIN", value: "x" },
            { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "s", key: "k" } } },
            { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ]);
        expect(c.volumeMounts).toEqual([{ name: "data", mountPath: "/var/lib/mysql", subPath: "data" }]);
        expect(sts.spec.volumeClaimTemplates[0].spec).toEqual({
            accessModes: ["ReadWriteOnce"],
            storageClassName: "local-path",
            resources: { requests: { storage: "2Gi" } },
        });
        expect(sts.spec.template.spec.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" } });
        expect(sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
        expect(sts.metadata.labels.team).toBe("data");
        expect(findObject(registered, "Service", "mysql-client").spec.clusterIP).toBeUndefined();
        expect(findObject(registered, "PodDisruptionBudget", "mysql").spec.maxUnavailable).toBe("50%");
    });

    test.each([
        {
            strategy: { type: "RollingUpdate" as const, partition: 2 },
            replicas: 3,
            annotations: { "pulumi.com/waitFor": "jsonpath={.status.readyReplicas}=3" },
        },
        { strategy: { type: "OnDelete" as const }, replicas: 2, annotations: { "pulumi.com/waitFor": "jsonpath={.status.readyReplicas}=2" } },
        { strategy: { type: "OnDelete" as const }, replicas: 0, annotations: { "pulumi.com/skipAwait": "true" } },
        { strategy: { type: "RollingUpdate" as const, partition: 0 }, replicas: 3, annotations: {} },
    ])("await annotations for $strategy.type with $replicas replicas", async ({ strategy, replicas, annotations }) => {
        await build("web", { updateStrategy: strategy, replicas });
        expect(findObject(registered, "StatefulSet", "web").metadata.annotations).toEqual({ ...annotations, "liberator.pets/local-volume-policy": "wait" });
    });

    test("every object passes the Kubernetes OpenAPI schema", async () => {
        await build("web", {
            replicas: 3,
            ports: [{ name: "http", containerPort: 8080, servicePort: 80 }],
            volumeClaims: [{ name: "www", size: "1Gi", mountPath: "/www" }],
            clientService: { type: "NodePort" },
            updateStrategy: { type: "RollingUpdate", partition: 1, maxUnavailable: 2 },
            livenessProbe: { httpGet: { path: "/", port: 8080 } },
            resources: { requests: { cpu: "10m", memory: "32Mi" } },
            ordinalsStart: 1,
        });
        const objects = k8sObjects(registered);
        expect(objects.map((o) => o.kind).sort()).toEqual(["PodDisruptionBudget", "Service", "Service", "StatefulSet"]);
        expect(schemaErrors(objects)).toEqual([]);
    });
});
