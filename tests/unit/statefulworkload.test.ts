import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../support/pulumi";
import * as pulumi from "@pulumi/pulumi";

const registered = setupMocks();
type Mod = typeof import("../../components/statefulworkload");
type Args = import("../../components/statefulworkload").StatefulWorkloadArgs;
let m: Mod;

beforeAll(async () => {
    m = await import("../../components/statefulworkload");
});
beforeEach(() => registered.splice(0));

// The render functions, called directly: resolved args in, plain Kubernetes objects out.
const resolve = (args: Partial<Args> = {}, name = "web") => m.resolveStatefulWorkloadArgs(name, { image: "nginx:1.27", ...args });
const sts = (args: Partial<Args> = {}, name = "web"): any => m.renderStatefulSet(resolve(args, name), "default");
const pod = (args: Partial<Args> = {}, name = "web"): any => sts(args, name).spec.template.spec;

describe("StatefulWorkload defaults", () => {
    test("headless Service governs the StatefulSet by explicit name", () => {
        const r = resolve({ ports: [{ name: "http", containerPort: 80 }] });
        const svc: any = m.renderHeadlessService(r, "default");
        expect(svc.metadata.name).toBe("web");
        expect(svc.spec.clusterIP).toBe("None");
        expect(svc.spec.publishNotReadyAddresses).toBe(true);
        expect(svc.spec.ports).toEqual([{ name: "http", port: 80, targetPort: 80, protocol: "TCP" }]);
        expect((m.renderStatefulSet(r, "default") as any).spec.serviceName).toBe("web");
    });

    test("retains PVCs on delete and scale-down, ordered pods, partition 0", () => {
        const s = sts();
        expect(s.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });
        expect(s.spec.podManagementPolicy).toBe("OrderedReady");
        expect(s.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { partition: 0 } });
        expect(s.spec.replicas).toBe(1);
        expect(s.metadata.annotations).toEqual({ "liberator.pets/local-volume-policy": "wait" });
    });

    test("restricted security context and soft anti-affinity by default", () => {
        const p = pod();
        expect(p.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" }, runAsNonRoot: true });
        expect(p.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: false });
        expect(p.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
    });

    test("PodDisruptionBudget allows one pod down; none with disruptionBudget false", () => {
        const pdb: any = m.renderDisruptionBudget(resolve(), "default");
        expect(pdb.spec.maxUnavailable).toBe(1);
        expect(pdb.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web" });
        expect(m.renderDisruptionBudget(resolve({ disruptionBudget: false }), "default")).toBeUndefined();
        expect(m.renderClientService(resolve(), "default")).toBeUndefined();
    });

    test("every object carries the user's labels, the selector and managed-by", () => {
        const r = resolve({ labels: { team: "data" }, clientService: true, ports: [{ name: "http", containerPort: 80 }] });
        const labels = { team: "data", "app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web", "app.kubernetes.io/managed-by": "pulumi" };
        for (const o of [
            m.renderHeadlessService(r, "ns"),
            m.renderClientService(r, "ns"),
            m.renderStatefulSet(r, "ns"),
            m.renderDisruptionBudget(r, "ns"),
        ] as any[]) {
            expect(o.metadata.labels).toEqual(labels);
            expect(o.metadata.namespace).toBe("ns");
        }
    });
});

describe("StatefulWorkload and the liberator", () => {
    test("opting in to delete-pvc annotates the StatefulSet with the key the controller reads", async () => {
        const { ANN } = await import("../../liberator/contract");
        expect(sts({ localVolumePolicy: "delete-pvc" }).metadata.annotations[ANN.localVolumePolicy]).toBe("delete-pvc");
    });
});

describe("StatefulWorkload names", () => {
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
    ])("replicas $replicas in $ns from ordinal $start", ({ replicas, ns, start, dns }) => {
        expect(m.podDnsNames("web", "web", ns, replicas, start)).toEqual(dns);
        expect(m.pvcNames("web", ["www"], replicas, start)).toEqual(dns.map((d) => `www-${d.split(".")[0]}`));
        expect(m.podNames("web", replicas, start)).toEqual(dns.map((d) => d.split(".")[0]));
        expect(sts({ replicas, ordinalsStart: start }).spec.ordinals).toEqual(start > 0 ? { start } : undefined);
    });

    test("PVC names follow <template>-<sts>-<N> for each template", () => {
        expect(m.pvcNames("db", ["data", "logs"], 2)).toEqual(["data-db-0", "data-db-1", "logs-db-0", "logs-db-1"]);
    });
});

describe("StatefulWorkload overrides", () => {
    test("volume claims, env, probes, client service and custom names", () => {
        const r = resolve(
            {
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
            },
            "db",
        );
        const s: any = m.renderStatefulSet(r, "default");
        expect(s.metadata.name).toBe("mysql");
        expect(s.spec.serviceName).toBe("mysql-peers");
        expect(s.spec.podManagementPolicy).toBe("Parallel");
        expect(s.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Delete" });
        const c = s.spec.template.spec.containers[0];
        expect(c.env).toEqual([
            { name: "PLAIN", value: "x" },
            { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "s", key: "k" } } },
            { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ]);
        expect(c.readinessProbe).toEqual({ tcpSocket: { port: 3306 } });
        expect(c.volumeMounts).toEqual([{ name: "data", mountPath: "/var/lib/mysql", subPath: "data" }]);
        expect(s.spec.volumeClaimTemplates[0].spec).toEqual({
            accessModes: ["ReadWriteOnce"],
            storageClassName: "local-path",
            resources: { requests: { storage: "2Gi" } },
        });
        expect(s.spec.template.spec.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" } });
        expect(s.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
        expect(s.metadata.labels.team).toBe("data");
        const client: any = m.renderClientService(r, "default");
        expect(client.metadata.name).toBe("mysql-client");
        expect(client.spec.clusterIP).toBeUndefined();
        expect(client.spec.type).toBe("ClusterIP");
        expect((m.renderHeadlessService(r, "default") as any).metadata.name).toBe("mysql-peers");
        expect((m.renderDisruptionBudget(r, "default") as any).spec.maxUnavailable).toBe("50%");
    });

    test("pod extras: command, args, annotations, node selector, tolerations, service account, extra volumes; no spreading", () => {
        const p = pod({
            command: ["/bin/app"],
            args: ["--serve"],
            podAnnotations: { note: "x" },
            nodeSelector: { disk: "ssd" },
            tolerations: [{ key: "dedicated", operator: "Exists" }],
            serviceAccountName: "app",
            extraVolumes: [{ name: "conf", configMap: { name: "app-conf" } }],
            extraVolumeMounts: [{ name: "conf", mountPath: "/etc/app" }],
            volumeClaims: [{ name: "data", size: "1Gi", mountPath: "/data", readOnly: true }],
            spreadAcrossNodes: "none",
            security: { runAsUser: 10, runAsGroup: 20, fsGroup: 30, readOnlyRootFilesystem: true },
            imagePullPolicy: "Always",
            terminationGracePeriodSeconds: 45,
        });
        const c = p.containers[0];
        expect(c.command).toEqual(["/bin/app"]);
        expect(c.args).toEqual(["--serve"]);
        expect(c.imagePullPolicy).toBe("Always");
        expect(c.volumeMounts).toEqual([
            { name: "data", mountPath: "/data", readOnly: true },
            { name: "conf", mountPath: "/etc/app" },
        ]);
        expect(p.volumes).toEqual([{ name: "conf", configMap: { name: "app-conf" } }]);
        expect(p.affinity).toBeUndefined();
        expect(p.nodeSelector).toEqual({ disk: "ssd" });
        expect(p.tolerations).toEqual([{ key: "dedicated", operator: "Exists" }]);
        expect(p.serviceAccountName).toBe("app");
        expect(p.terminationGracePeriodSeconds).toBe(45);
        expect(p.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" }, runAsNonRoot: true, runAsUser: 10, runAsGroup: 20, fsGroup: 30 });
        expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
        expect(sts({ podAnnotations: { note: "x" } }).spec.template.metadata.annotations).toEqual({ note: "x" });
        // Without extras the pod has no volumes list and no optional fields at all.
        expect(Object.keys(pod()).sort()).toEqual(["affinity", "containers", "securityContext", "terminationGracePeriodSeconds"]);
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
    ])("await annotations for $strategy.type with $replicas replicas", ({ strategy, replicas, annotations }) => {
        const s = sts({ updateStrategy: strategy, replicas });
        expect(s.metadata.annotations).toEqual({ ...annotations, "liberator.pets/local-volume-policy": "wait" });
        expect(s.spec.updateStrategy.type).toBe(strategy.type);
    });

    test("every object passes the Kubernetes OpenAPI schema", () => {
        const r = resolve({
            replicas: 3,
            ports: [{ name: "http", containerPort: 8080, servicePort: 80 }],
            volumeClaims: [{ name: "www", size: "1Gi", mountPath: "/www" }],
            clientService: { type: "NodePort" },
            updateStrategy: { type: "RollingUpdate", partition: 1, maxUnavailable: 2 },
            livenessProbe: { httpGet: { path: "/", port: 8080 } },
            resources: { requests: { cpu: "10m", memory: "32Mi" } },
            ordinalsStart: 1,
        });
        const objects = [
            m.renderHeadlessService(r, "default"),
            m.renderClientService(r, "default"),
            m.renderStatefulSet(r, "default"),
            m.renderDisruptionBudget(r, "default"),
        ];
        expect(objects.map((o: any) => o.kind).sort()).toEqual(["PodDisruptionBudget", "Service", "Service", "StatefulSet"]);
        expect(schemaErrors(objects)).toEqual([]);
    });
});

describe("StatefulWorkload wiring (Pulumi mocks)", () => {
    test("children, their names and parents; the StatefulSet names the Service it depends on; outputs", async () => {
        const wl = new m.StatefulWorkload("web", {
            image: "nginx:1.27",
            namespace: pulumi.output("shop"),
            replicas: 2,
            ports: [
                { name: "http", containerPort: 8080, servicePort: 80 },
                { name: "gossip", containerPort: 7000, protocol: "UDP" },
            ],
            volumeClaims: [{ name: "www", size: "1Gi", mountPath: "/www" }],
            clientService: true,
        });
        expect(await promiseOf(wl.pvcNames)).toEqual(["www-web-0", "www-web-1"]);
        await settle();
        expect(registered.map((x) => `${x.type} ${x.name}`).sort()).toEqual([
            "kubernetes:apps/v1:StatefulSet web",
            "kubernetes:core/v1:Service web-client",
            "kubernetes:core/v1:Service web-headless",
            "kubernetes:policy/v1:PodDisruptionBudget web-pdb",
            "pets:index:StatefulWorkload web",
        ]);
        for (const child of [wl.statefulSet, wl.headlessService, wl.clientService!, wl.disruptionBudget!]) {
            expect(await promiseOf(child.urn)).toMatch(/^urn:pulumi:test::pets::pets:index:StatefulWorkload\$kubernetes:/);
        }
        const s = findObject(registered, "StatefulSet", "web");
        expect(s.metadata.namespace).toBe("shop");
        expect(s.spec.serviceName).toBe("web");
        expect(await promiseOf(wl.podDnsNames)).toEqual(["web-0.web.shop.svc.cluster.local", "web-1.web.shop.svc.cluster.local"]);
        expect(await promiseOf(wl.podNames)).toEqual(["web-0", "web-1"]);
        expect(await promiseOf(wl.srvName)).toBe("web.shop.svc.cluster.local");
        expect(await promiseOf(wl.portSrvNames)).toEqual({ http: "_http._tcp.web.shop.svc.cluster.local", gossip: "_gossip._udp.web.shop.svc.cluster.local" });
        expect(await promiseOf(wl.namespace)).toBe("shop");
        expect(await promiseOf(wl.headlessServiceName)).toBe("web");
        expect(await promiseOf(wl.statefulSetName)).toBe("web");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });
});
