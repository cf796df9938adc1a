import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../support/pulumi";

const registered = setupMocks();
type Mod = typeof import("../../components/localpathprovisioner");
type Args = import("../../components/localpathprovisioner").LocalPathProvisionerArgs;
let m: Mod;
let sw: typeof import("../../components/statefulworkload");

beforeAll(async () => {
    m = await import("../../components/localpathprovisioner");
    sw = await import("../../components/statefulworkload");
});
beforeEach(() => registered.splice(0));

/** Every object, rendered directly from the resolved args with the names the constructor's resources would have. */
function renderAll(args: Args = {}, name = "local-path"): Record<string, any> & { list: any[] } {
    const r = m.resolveLocalPathProvisionerArgs(name, args);
    const refs = { namespace: r.namespace, serviceAccount: r.name };
    const configMap: any = m.renderLocalPathConfigMap(r, r.namespace, r.helperImage);
    const objects: Record<string, any> = {
        ...(r.createNamespace ? { namespace: m.renderLocalPathNamespace(r) } : {}),
        serviceAccount: m.renderLocalPathServiceAccount(r, r.namespace),
        role: m.renderLocalPathRole(r, r.namespace),
        roleBinding: m.renderLocalPathRoleBinding(r, { ...refs, role: r.name }),
        clusterRole: m.renderLocalPathClusterRole(r),
        clusterRoleBinding: m.renderLocalPathClusterRoleBinding(r, { ...refs, clusterRole: r.clusterRoleName }),
        configMap,
        deployment: m.renderLocalPathDeployment(r, { ...refs, image: r.image, configMap: configMap.metadata.name }),
        storageClass: m.renderLocalPathStorageClass(r),
    };
    return { ...objects, list: Object.values(objects) };
}

const DEFAULT_ENTRY = "DEFAULT_PATH_FOR_NON_LISTED_NODES";

// kind's built-in copy (pkg/build/nodeimage/const_storage.go): kind, namespace, name.
const KIND_BUILTIN = [
    ["Namespace", undefined, "local-path-storage"],
    ["ServiceAccount", "local-path-storage", "local-path-provisioner-service-account"],
    ["Role", "local-path-storage", "local-path-provisioner-role"],
    ["RoleBinding", "local-path-storage", "local-path-provisioner-bind"],
    ["ClusterRole", undefined, "local-path-provisioner-role"],
    ["ClusterRoleBinding", undefined, "local-path-provisioner-bind"],
    ["Deployment", "local-path-storage", "local-path-provisioner"],
    ["ConfigMap", "local-path-storage", "local-path-config"],
    ["StorageClass", undefined, "standard"],
];

/** Upstream's validateHelperPodTemplate (util.go, v0.0.37): what it refuses without --allow-unsafe-helper-pod-template. */
function unsafeHelperPodFields(pod: any): string[] {
    const spec = pod.spec ?? {};
    const c = spec.containers?.[0] ?? {};
    const found: string[] = [];
    if (spec.containers?.length !== 1) found.push("containers");
    for (const k of ["initContainers", "ephemeralContainers", "volumes", "hostNetwork", "hostPID", "hostIPC", "nodeName", "serviceAccountName"])
        if (spec[k]) found.push(k);
    for (const k of ["volumeMounts", "envFrom", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe"]) if (c[k]) found.push(`container.${k}`);
    if ((c.env ?? []).some((e: any) => e.valueFrom)) found.push("env.valueFrom");
    if (spec.securityContext?.runAsUser === 0 || spec.securityContext?.runAsGroup === 0 || spec.securityContext?.sysctls) found.push("securityContext");
    if (c.securityContext?.privileged || c.securityContext?.allowPrivilegeEscalation || c.securityContext?.capabilities?.add?.length)
        found.push("container.securityContext");
    return found;
}

describe("LocalPathProvisioner objects", () => {
    test("every object (and the helper pod template) passes the Kubernetes OpenAPI schema", () => {
        const o = renderAll({
            isDefaultClass: true,
            nodePath: "/opt/local-path-provisioner",
            pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/",
            nodeAffinityKey: "example.com/node-id",
            nodeSelector: { "kubernetes.io/os": "linux" },
            tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" }],
        });
        expect(o.list.map((x) => x.kind).sort()).toEqual([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Namespace",
            "Role",
            "RoleBinding",
            "ServiceAccount",
            "StorageClass",
        ]);
        expect(o.deployment.spec.template.spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
        expect(o.deployment.spec.template.spec.tolerations).toHaveLength(1);
        const helperPod = JSON.parse(o.configMap.data["helperPod.yaml"]);
        expect(schemaErrors([...o.list, helperPod])).toEqual([]);
    });

    test("with sharedFileSystemPath, Immediate binding and no namespace of its own, objects still pass the schema", () => {
        const o = renderAll({
            createNamespace: false,
            namespace: "storage",
            sharedFileSystemPath: "/mnt/nfs",
            volumeBindingMode: "Immediate",
            reclaimPolicy: "Retain",
            resources: { requests: { cpu: "50m" } },
        });
        expect(o.list.map((x) => x.kind)).not.toContain("Namespace");
        expect(o.list.filter((x) => x.metadata.namespace !== undefined).map((x) => x.metadata.namespace)).toEqual(Array(5).fill("storage"));
        expect(o.deployment.spec.template.spec.containers[0].resources).toEqual({ requests: { cpu: "50m" } });
        expect(schemaErrors(o.list)).toEqual([]);
    });

    test("its own namespace, allowed to run the hostPath helper pods", () => {
        const o = renderAll();
        expect(o.namespace.metadata.name).toBe("local-path-storage");
        expect(o.namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("privileged");
        for (const x of [o.serviceAccount, o.role, o.roleBinding, o.deployment]) {
            expect(x.metadata.name).toBe("local-path");
            expect(x.metadata.namespace).toBe("local-path-storage");
        }
    });

    test("Deployment: upstream's command, probes and env, a distinct provisioner name, restricted pod", () => {
        const { configMap: cm, deployment: dep } = renderAll();
        expect(dep.spec.replicas).toBe(1);
        expect(dep.spec.strategy).toEqual({ type: "Recreate" });
        expect(dep.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "local-path-provisioner", "app.kubernetes.io/instance": "local-path" });
        const pod = dep.spec.template.spec;
        expect(pod.serviceAccountName).toBe("local-path");
        expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } });
        expect(pod.volumes).toEqual([{ name: "config-volume", configMap: { name: cm.metadata.name } }]);
        const c = pod.containers[0];
        expect(c.image).toBe("rancher/local-path-provisioner:v0.0.37");
        expect(c.imagePullPolicy).toBe("IfNotPresent");
        expect(c.command).toEqual([
            "local-path-provisioner",
            "--debug",
            "start",
            "--config",
            "/etc/config/config.json",
            "--provisioner-name",
            "cluster.local/local-path",
            "--service-account-name",
            "local-path",
            "--configmap-name",
            cm.metadata.name,
        ]);
        expect(c.env).toEqual([
            { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            { name: "CONFIG_MOUNT_PATH", value: "/etc/config/" },
            { name: "HEALTH_PORT", value: "8080" },
        ]);
        expect(c.ports).toEqual([{ name: "health", containerPort: 8080, protocol: "TCP" }]);
        expect(c.startupProbe).toEqual({ httpGet: { path: "/health", port: "health" }, initialDelaySeconds: 5, periodSeconds: 5, failureThreshold: 12 });
        expect(c.livenessProbe).toEqual({ httpGet: { path: "/health", port: "health" }, initialDelaySeconds: 10, periodSeconds: 10 });
        expect(c.readinessProbe).toEqual({ httpGet: { path: "/ready", port: "health" }, initialDelaySeconds: 5, periodSeconds: 5 });
        expect(c.volumeMounts).toEqual([{ name: "config-volume", mountPath: "/etc/config/" }]);
        expect(c.resources).toEqual({ requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } });
        expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true });
        expect(pod.nodeSelector).toBeUndefined();
        expect(pod.tolerations).toBeUndefined();
    });

    test("images, pull policy and debug are configurable (registry mirrors)", () => {
        const o = renderAll(
            {
                image: "mirror.local/rancher/local-path-provisioner:v0.0.37",
                helperImage: "mirror.local/library/busybox:1.37",
                imagePullPolicy: "Always",
                debug: false,
                provisionerName: "rancher.io/local-path",
            },
            "lp",
        );
        const c = o.deployment.spec.template.spec.containers[0];
        expect(c.image).toBe("mirror.local/rancher/local-path-provisioner:v0.0.37");
        expect(c.imagePullPolicy).toBe("Always");
        expect(c.command.slice(0, 3)).toEqual(["local-path-provisioner", "start", "--config"]);
        expect(c.command[c.command.indexOf("--provisioner-name") + 1]).toBe("rancher.io/local-path");
        const helper = JSON.parse(o.configMap.data["helperPod.yaml"]);
        expect(helper.spec.containers[0]).toMatchObject({ name: "helper-pod", image: "mirror.local/library/busybox:1.37", imagePullPolicy: "Always" });
    });
});

describe("LocalPathProvisioner RBAC: upstream v0.0.37's grants, namespace-only reads in the Role", () => {
    // Upstream grants configmaps, pods and pods/log cluster-wide; its code reads them only in its own namespace.
    const CLUSTER_RULES = [
        { apiGroups: [""], resources: ["nodes", "persistentvolumeclaims"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "watch", "create", "patch", "update", "delete"] },
        { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
        { apiGroups: ["storage.k8s.io"], resources: ["storageclasses"], verbs: ["get", "list", "watch"] },
    ];
    const ROLE_RULES = [
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "patch", "update", "delete"] },
        { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] },
    ];

    test("ClusterRole and Role rule lists", () => {
        const o = renderAll();
        expect(m.clusterRoleRules()).toEqual(CLUSTER_RULES);
        expect(m.roleRules()).toEqual(ROLE_RULES);
        expect(o.clusterRole.metadata.name).toBe("local-path-storage:local-path");
        expect(o.clusterRole.rules).toEqual(CLUSTER_RULES);
        expect(o.role.rules).toEqual(ROLE_RULES);
    });

    test("no wildcards anywhere", () => {
        const o = renderAll();
        for (const role of [o.clusterRole, o.role]) {
            for (const rule of role.rules) {
                for (const list of [rule.apiGroups, rule.resources, rule.verbs]) expect(list).not.toContain("*");
                expect(rule.resourceNames).toBeUndefined();
                expect(rule.nonResourceURLs).toBeUndefined();
            }
        }
    });

    test("bindings give the rules to the provisioner's ServiceAccount only", () => {
        const o = renderAll();
        const subjects = [{ kind: "ServiceAccount", name: "local-path", namespace: "local-path-storage" }];
        expect(o.roleBinding.metadata.namespace).toBe("local-path-storage");
        expect(o.roleBinding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "local-path" });
        expect(o.roleBinding.subjects).toEqual(subjects);
        expect(o.clusterRoleBinding.metadata.name).toBe("local-path-storage:local-path");
        expect(o.clusterRoleBinding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "local-path-storage:local-path" });
        expect(o.clusterRoleBinding.subjects).toEqual(subjects);
    });
});

describe("LocalPathProvisioner ConfigMap", () => {
    test("upstream's scripts and helper pod template, which upstream's safety checks accept", () => {
        const cm = renderAll().configMap;
        expect(cm.metadata.namespace).toBe("local-path-storage");
        expect(Object.keys(cm.data).sort()).toEqual(["config.json", "helperPod.yaml", "setup", "teardown"]);
        expect(cm.data.setup).toBe('#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"');
        expect(cm.data.teardown).toBe('#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"');
        const helper = JSON.parse(cm.data["helperPod.yaml"]);
        expect(helper).toEqual({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "helper-pod" },
            spec: {
                priorityClassName: "system-node-critical",
                tolerations: [{ key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule" }],
                automountServiceAccountToken: false,
                securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                    {
                        name: "helper-pod",
                        image: "docker.io/library/busybox:1.37.0",
                        imagePullPolicy: "IfNotPresent",
                        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: m.HELPER_POD_DROPPED_CAPABILITIES } },
                    },
                ],
            },
        });
        expect(unsafeHelperPodFields(helper)).toEqual([]);
        expect(cm.metadata.name).toBe(m.localPathConfigMapName("local-path", cm.data));
    });

    test("custom scripts and timeout", () => {
        const cm = renderAll(
            { setupScript: '#!/bin/sh\nmkdir -p "$VOL_DIR"', teardownScript: '#!/bin/sh\nrm -rf "$VOL_DIR"', cmdTimeoutSeconds: 300 },
            "lp",
        ).configMap;
        expect(cm.data.setup).toBe('#!/bin/sh\nmkdir -p "$VOL_DIR"');
        expect(cm.data.teardown).toBe('#!/bin/sh\nrm -rf "$VOL_DIR"');
        expect(JSON.parse(cm.data["config.json"]).cmdTimeoutSeconds).toBe(300);
    });

    test("its name follows its data, so a change rolls the Deployment onto a new ConfigMap", () => {
        const data = { "config.json": "{}", setup: "a", teardown: "b", "helperPod.yaml": "{}" };
        const name = m.localPathConfigMapName("lp", data);
        expect(name).toMatch(/^lp-config-[0-9a-f]{10}$/);
        expect(m.localPathConfigMapName("lp", { ...data })).toBe(name);
        expect(m.localPathConfigMapName("lp", { ...data, setup: "c" })).not.toBe(name);
    });

    test.each([
        {
            what: "default: every node under /opt/local-path-provisioner",
            args: {},
            json: { nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["/opt/local-path-provisioner"] }] },
        },
        {
            what: "per-node paths with a default entry",
            args: {
                nodePathMap: [
                    { node: DEFAULT_ENTRY, paths: ["/var/local-path"] },
                    { node: "worker-1", paths: ["/data1", "/data2"] },
                ],
            },
            json: {
                nodePathMap: [
                    { node: DEFAULT_ENTRY, paths: ["/var/local-path"] },
                    { node: "worker-1", paths: ["/data1", "/data2"] },
                ],
            },
        },
        {
            what: "a node kept free of volumes, no default entry",
            args: {
                nodePathMap: [
                    { node: "control-plane.example.com", paths: [] },
                    { node: "worker-1", paths: ["/srv/volumes"] },
                ],
            },
            json: {
                nodePathMap: [
                    { node: "control-plane.example.com", paths: [] },
                    { node: "worker-1", paths: ["/srv/volumes"] },
                ],
            },
        },
        {
            what: "a shared filesystem (nodePathMap set to [] as upstream asks)",
            args: { sharedFileSystemPath: "/mnt/nfs" },
            json: { nodePathMap: [], sharedFileSystemPath: "/mnt/nfs" },
        },
        {
            what: "explicit empty nodePathMap with a shared filesystem",
            args: { nodePathMap: [], sharedFileSystemPath: "/mnt/nfs", cmdTimeoutSeconds: 60 },
            json: { nodePathMap: [], sharedFileSystemPath: "/mnt/nfs", cmdTimeoutSeconds: 60 },
        },
    ])("config.json: $what", ({ args, json }) => {
        const text = renderAll(args as Args, "lp").configMap.data["config.json"];
        expect(JSON.parse(text)).toEqual(json);
        expect(text).toBe(JSON.stringify(json, null, 2));
        expect(m.buildConfigJson(m.resolveLocalPathProvisionerArgs("lp", args as Args).config)).toBe(text);
    });
});

describe("LocalPathProvisioner StorageClass", () => {
    test("defaults: local-path, WaitForFirstConsumer, Delete, not the default class, no parameters", () => {
        const sc = renderAll().storageClass;
        expect(sc.metadata.name).toBe("local-path");
        expect(sc.provisioner).toBe("cluster.local/local-path");
        expect(sc.volumeBindingMode).toBe("WaitForFirstConsumer");
        expect(sc.reclaimPolicy).toBe("Delete");
        expect(sc.metadata.annotations).toEqual({ defaultVolumeType: "hostPath" });
        expect(sc.parameters).toBeUndefined();
        expect(sc.allowVolumeExpansion).toBeUndefined();
    });

    test.each([
        { isDefaultClass: true, annotations: { "storageclass.kubernetes.io/is-default-class": "true", defaultVolumeType: "hostPath" } },
        { isDefaultClass: false, annotations: { defaultVolumeType: "hostPath" } },
    ])("default-class annotation with isDefaultClass $isDefaultClass", ({ isDefaultClass, annotations }) => {
        expect(renderAll({ isDefaultClass }, "lp").storageClass.metadata.annotations).toEqual(annotations);
    });

    test.each([
        { args: { nodePath: "/data/ssd", nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["/data/hdd", "/data/ssd"] }] }, parameters: { nodePath: "/data/ssd" } },
        { args: { pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/" }, parameters: { pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/" } },
        { args: { pathPattern: "{{.PVC.Namespace}}/{{.PVC.Name}}/data" }, parameters: { pathPattern: "{{.PVC.Namespace}}/{{.PVC.Name}}/data" } },
        { args: { nodeAffinityKey: "example.com/stable-node-id" }, parameters: { nodeAffinityKey: "example.com/stable-node-id" } },
        {
            args: {
                nodePath: "/opt/local-path-provisioner",
                pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/",
                nodeAffinityKey: "topology.example.com/node",
            },
            parameters: {
                nodePath: "/opt/local-path-provisioner",
                pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/",
                nodeAffinityKey: "topology.example.com/node",
            },
        },
    ])("parameters $parameters", ({ args, parameters }) => {
        expect(renderAll(args as Args, "lp").storageClass.parameters).toEqual(parameters);
    });

    test("volumeType, reclaimPolicy and a custom name and provisioner", () => {
        const sc = renderAll(
            { storageClassName: "local-retain", volumeType: "local", reclaimPolicy: "Retain", provisionerName: "example.com/local-path" },
            "lp",
        ).storageClass;
        expect(sc.metadata.name).toBe("local-retain");
        expect(sc.metadata.annotations).toEqual({ defaultVolumeType: "local" });
        expect(sc.reclaimPolicy).toBe("Retain");
        expect(sc.provisioner).toBe("example.com/local-path");
    });
});

describe("LocalPathProvisioner wiring (Pulumi mocks)", () => {
    test("children, their names; the Deployment names its ConfigMap and ServiceAccount; outputs", async () => {
        const lpp = new m.LocalPathProvisioner("lp", { namespace: "pets-local-path", storageClassName: "pets-local" });
        expect(await promiseOf(lpp.storageClassName)).toBe("pets-local");
        await settle();
        expect(registered.map((x) => `${x.type} ${x.name}`).sort()).toEqual([
            "kubernetes:apps/v1:Deployment lp-provisioner",
            "kubernetes:core/v1:ConfigMap lp-config",
            "kubernetes:core/v1:Namespace lp-ns",
            "kubernetes:core/v1:ServiceAccount lp-sa",
            "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole lp-clusterrole",
            "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding lp-clusterrolebinding",
            "kubernetes:rbac.authorization.k8s.io/v1:Role lp-role",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding lp-rolebinding",
            "kubernetes:storage.k8s.io/v1:StorageClass lp-storageclass",
            "pets:index:LocalPathProvisioner lp",
        ]);
        for (const child of [lpp.configMap, lpp.deployment, lpp.storageClass, lpp.namespaceResource!]) {
            expect(await promiseOf(child.urn)).toMatch(/^urn:pulumi:test::pets::pets:index:LocalPathProvisioner\$kubernetes:/);
        }
        const cm = findObject(registered, "ConfigMap");
        const dep = findObject(registered, "Deployment", "lp");
        expect(dep.spec.template.spec.volumes[0].configMap.name).toBe(cm.metadata.name);
        expect(dep.spec.template.spec.containers[0].command).toContain(cm.metadata.name);
        expect(await promiseOf(lpp.namespace)).toBe("pets-local-path");
        expect(await promiseOf(lpp.provisionerName)).toBe("cluster.local/lp");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("StatefulWorkload claims use the class directly", async () => {
        const lpp = new m.LocalPathProvisioner("local-path", {});
        const wl = new sw.StatefulWorkload("web", {
            image: "nginx:1.27",
            volumeClaims: [{ name: "www", size: "1Gi", mountPath: "/usr/share/nginx/html", storageClassName: lpp.storageClassName }],
        });
        await promiseOf(wl.pvcNames);
        await settle();
        const sts = findObject(registered, "StatefulSet", "web");
        expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe("local-path");
    });
});

describe("LocalPathProvisioner next to kind's built-in copy", () => {
    const clashes = (objects: any[]) =>
        objects.filter((o) => KIND_BUILTIN.some(([kind, ns, name]) => o.kind === kind && o.metadata.namespace === ns && o.metadata.name === name));

    test("in a namespace of its own, no object shares kind's names and the provisioner name differs", () => {
        const o = renderAll({ namespace: "pets-local-path" });
        expect(clashes(o.list)).toEqual([]);
        expect(o.storageClass.provisioner).not.toBe(m.UPSTREAM_LOCAL_PATH_PROVISIONER_NAME);
    });

    test("sharing kind's namespace (createNamespace: false), still no name is shared", () => {
        expect(clashes(renderAll({ createNamespace: false }).list)).toEqual([]);
    });

    test("with every default only the Namespace is kind's: hence createNamespace or another namespace on kind", () => {
        expect(clashes(renderAll().list).map((o) => o.kind)).toEqual(["Namespace"]);
    });
});

describe("LocalPathProvisioner validation", () => {
    const C = 'LocalPathProvisioner "lp"';
    const LABEL = "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
    const SUBDOMAIN =
        "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
    const ABS = 'must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)';
    const ROOT = 'must not be "/": the provisioner creates and deletes a directory per volume under it';
    const NODE = `must be a node name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters) or "${DEFAULT_ENTRY}"`;

    test.each<[string, Args, string]>([
        ["namespace", { namespace: "Local_Path" }, `${C}: namespace = "Local_Path" is invalid: ${LABEL}`],
        ["storageClassName", { storageClassName: "Local_Path" }, `${C}: storageClassName = "Local_Path" is invalid: ${SUBDOMAIN}`],
        [
            "provisionerName",
            { provisionerName: "rancher.io/local path" },
            `${C}: provisionerName = "rancher.io/local path" is invalid: must be a qualified name such as "example.com/local-path": an optional DNS subdomain prefix and "/", then at most 63 letters, digits, "-", "_" and "."`,
        ],
        ["reclaimPolicy", { reclaimPolicy: "Recycle" as any }, `${C}: reclaimPolicy = "Recycle" is invalid: must be one of "Delete", "Retain"`],
        ["volumeType", { volumeType: "block" as any }, `${C}: volumeType = "block" is invalid: must be one of "hostPath", "local"`],
        [
            "volumeBindingMode",
            { volumeBindingMode: "Later" as any },
            `${C}: volumeBindingMode = "Later" is invalid: must be one of "WaitForFirstConsumer", "Immediate"`,
        ],
        [
            "Immediate with node paths",
            { volumeBindingMode: "Immediate" },
            `${C}: volumeBindingMode = "Immediate" is invalid: must be "WaitForFirstConsumer" with nodePathMap: the provisioner must know the pod's node to pick its directory; "Immediate" works only with sharedFileSystemPath`,
        ],
        [
            "imagePullPolicy",
            { imagePullPolicy: "Sometimes" as any },
            `${C}: imagePullPolicy = "Sometimes" is invalid: must be one of "Always", "IfNotPresent", "Never"`,
        ],
        ["image", { image: "" }, `${C}: image = "" is invalid: must be a non-empty image reference such as "nginx:1.27"`],
        ["helperImage", { helperImage: "busy box" }, `${C}: helperImage = "busy box" is invalid: must be an image reference without whitespace`],
        [
            "relative path",
            { nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["opt/local-path"] }] },
            `${C}: nodePathMap[0].paths[0] = "opt/local-path" is invalid: ${ABS}`,
        ],
        [
            "path with ..",
            { nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["/data/../etc"] }] },
            `${C}: nodePathMap[0].paths[0] = "/data/../etc" is invalid: ${ABS}`,
        ],
        ["root path", { nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["/"] }] }, `${C}: nodePathMap[0].paths[0] = "/" is invalid: ${ROOT}`],
        ["root path spelled //.", { nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["//."] }] }, `${C}: nodePathMap[0].paths[0] = "//." is invalid: ${ROOT}`],
        ["node name", { nodePathMap: [{ node: "Worker_1", paths: ["/data"] }] }, `${C}: nodePathMap[0].node = "Worker_1" is invalid: ${NODE}`],
        ["empty node name", { nodePathMap: [{ node: "", paths: ["/data"] }] }, `${C}: nodePathMap[0].node = "" is invalid: ${NODE}`],
        [
            "node listed twice",
            {
                nodePathMap: [
                    { node: "worker-1", paths: ["/a"] },
                    { node: "worker-1", paths: ["/b"] },
                ],
            },
            `${C}: nodePathMap[1].node = "worker-1" is invalid: must be unique in nodePathMap; this node is listed twice`,
        ],
        [
            "default entry twice",
            {
                nodePathMap: [
                    { node: DEFAULT_ENTRY, paths: ["/a"] },
                    { node: DEFAULT_ENTRY, paths: ["/b"] },
                ],
            },
            `${C}: nodePathMap[1].node = "${DEFAULT_ENTRY}" is invalid: must be unique in nodePathMap; this node is listed twice`,
        ],
        [
            "path twice on a node",
            { nodePathMap: [{ node: "worker-1", paths: ["/data", "/data/"] }] },
            `${C}: nodePathMap[0].paths[1] = "/data/" is invalid: must be unique for the node; "/data" is listed twice`,
        ],
        [
            "paths not a list",
            { nodePathMap: [{ node: "worker-1", paths: "/data" as any }] },
            `${C}: nodePathMap[0].paths = "/data" is invalid: must be a list of absolute paths ([] keeps volumes off this node)`,
        ],
        [
            "empty nodePathMap",
            { nodePathMap: [] },
            `${C}: nodePathMap = [] is invalid: must list at least one node (or the "${DEFAULT_ENTRY}" entry), or set sharedFileSystemPath instead`,
        ],
        [
            "no path anywhere",
            { nodePathMap: [{ node: DEFAULT_ENTRY, paths: [] }] },
            `${C}: nodePathMap = [{"node":"${DEFAULT_ENTRY}","paths":[]}] is invalid: must give at least one node a path: with every paths list empty no volume can be provisioned`,
        ],
        [
            "nodePathMap and sharedFileSystemPath",
            { sharedFileSystemPath: "/mnt/nfs", nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["/data"] }] },
            `${C}: sharedFileSystemPath = "/mnt/nfs" is invalid: cannot be combined with nodePathMap: the provisioner uses one or the other; remove one of them`,
        ],
        ["shared root", { sharedFileSystemPath: "/" }, `${C}: sharedFileSystemPath = "/" is invalid: ${ROOT}`],
        ["shared relative", { sharedFileSystemPath: "mnt/nfs" }, `${C}: sharedFileSystemPath = "mnt/nfs" is invalid: ${ABS}`],
        [
            "local volumes on a shared filesystem",
            { sharedFileSystemPath: "/mnt/nfs", volumeType: "local" },
            `${C}: volumeType = "local" is invalid: must be "hostPath" with sharedFileSystemPath: "local" volumes need node affinity, which shared-filesystem volumes do not have`,
        ],
        [
            "nodePath not listed",
            { nodePath: "/data/ssd" },
            `${C}: nodePath = "/data/ssd" is invalid: must be one of the paths in nodePathMap: the provisioner only creates volumes under listed paths`,
        ],
        ["nodePath relative", { nodePath: "data" }, `${C}: nodePath = "data" is invalid: ${ABS}`],
        [
            "nodePath on a shared filesystem",
            { sharedFileSystemPath: "/mnt/nfs", nodePath: "/mnt/nfs" },
            `${C}: nodePath = "/mnt/nfs" is invalid: needs nodePathMap: with sharedFileSystemPath the provisioner ignores it`,
        ],
        [
            "pathPattern prefix",
            { pathPattern: "{{ .PVC.Name }}" },
            `${C}: pathPattern = "{{ .PVC.Name }}" is invalid: must start with "{{ .PVC.Namespace }}/{{ .PVC.Name }}/" (the provisioner refuses other patterns) and contain no ".." segments`,
        ],
        [
            "pathPattern traversal",
            { pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/../x" },
            `${C}: pathPattern = "{{ .PVC.Namespace }}/{{ .PVC.Name }}/../x" is invalid: must start with "{{ .PVC.Namespace }}/{{ .PVC.Name }}/" (the provisioner refuses other patterns) and contain no ".." segments`,
        ],
        [
            "nodeAffinityKey",
            { nodeAffinityKey: "bad key" },
            `${C}: nodeAffinityKey = "bad key" is invalid: must be a label key: an optional DNS subdomain prefix and "/", then a name of at most 63 letters, digits, "-", "_" and "."`,
        ],
        [
            "nodeAffinityKey on a shared filesystem",
            { sharedFileSystemPath: "/mnt/nfs", nodeAffinityKey: "example.com/node" },
            `${C}: nodeAffinityKey = "example.com/node" is invalid: needs nodePathMap: shared-filesystem volumes have no node affinity`,
        ],
        ["cmdTimeoutSeconds", { cmdTimeoutSeconds: 0 }, `${C}: cmdTimeoutSeconds = 0 is invalid: must be a whole number >= 1`],
        ["setupScript", { setupScript: " " }, `${C}: setupScript = " " is invalid: must be a non-empty string`],
        [
            "reserved label",
            { labels: { "app.kubernetes.io/instance": "x" } },
            `${C}: labels["app.kubernetes.io/instance"] = "x" is invalid: is set by the component (it selects the provisioner's pod) and cannot be overridden`,
        ],
    ])("%s", (_what, args, message) => {
        expect(() => m.resolveLocalPathProvisionerArgs("lp", args)).toThrow(new Error(message));
    });

    test("component name", () => {
        expect(() => m.resolveLocalPathProvisionerArgs("Local_Path", {})).toThrow(
            new Error(`LocalPathProvisioner "Local_Path": name = "Local_Path" is invalid: ${LABEL}`),
        );
    });

    test("every problem is listed at once, and nothing is created", () => {
        expect(() => new m.LocalPathProvisioner("lp", { reclaimPolicy: "Recycle" as any, nodePathMap: [{ node: "w1", paths: ["/"] }] })).toThrow(
            new Error(
                `${C} has 2 invalid settings:\n  - reclaimPolicy = "Recycle" is invalid: must be one of "Delete", "Retain"\n  - nodePathMap[0].paths[0] = "/" is invalid: ${ROOT}`,
            ),
        );
        expect(registered).toEqual([]);
    });

    test("defaults resolve to upstream v0.0.37's settings", () => {
        const r = m.resolveLocalPathProvisionerArgs("local-path");
        expect(m.LOCAL_PATH_PROVISIONER_VERSION).toBe("v0.0.37");
        expect(r).toEqual({
            name: "local-path",
            namespace: "local-path-storage",
            createNamespace: true,
            clusterRoleName: "local-path-storage:local-path",
            provisionerName: "cluster.local/local-path",
            storageClassName: "local-path",
            isDefaultClass: false,
            reclaimPolicy: "Delete",
            volumeBindingMode: "WaitForFirstConsumer",
            volumeType: "hostPath",
            config: { nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["/opt/local-path-provisioner"] }] },
            parameters: {},
            setupScript: '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"',
            teardownScript: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"',
            imagePullPolicy: "IfNotPresent",
            debug: true,
            image: "rancher/local-path-provisioner:v0.0.37",
            helperImage: "docker.io/library/busybox:1.37.0",
            resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
            labels: {},
        });
    });

    test("valid edge cases are accepted", () => {
        expect(() =>
            m.resolveLocalPathProvisionerArgs("lp", {
                nodePathMap: [
                    { node: "node-1.example.com", paths: ["/a", "/b"] },
                    { node: "node-2", paths: [] },
                ],
            }),
        ).not.toThrow();
        expect(() =>
            m.resolveLocalPathProvisionerArgs("lp", { sharedFileSystemPath: "/mnt/nfs", nodePathMap: [], volumeBindingMode: "Immediate" }),
        ).not.toThrow();
        expect(() => m.resolveLocalPathProvisionerArgs("lp", { nodePath: "/data/", nodePathMap: [{ node: DEFAULT_ENTRY, paths: ["/data"] }] })).not.toThrow();
    });
});
