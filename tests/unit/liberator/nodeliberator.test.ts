import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../../support/pulumi";

const registered = setupMocks();
// The first build compiles the liberator's sources for the ConfigMap.
jest.setTimeout(60_000);
type Mod = typeof import("../../../components/nodeliberator");
type Specs = typeof import("../../../components/liberatorspecs");
type Args = import("../../../components/nodeliberator").NodeLiberatorArgs;
let m: Mod;
let s: Specs;

beforeAll(async () => {
    m = await import("../../../components/nodeliberator");
    s = await import("../../../components/liberatorspecs");
});
beforeEach(() => registered.splice(0));

/** Every object, rendered directly from the resolved args with the names the constructor's resources would have. */
function renderAll(args: Args = {}, name = "liberator"): Record<string, any> {
    const r = m.resolveNodeLiberatorArgs(name, args);
    const ns = r.namespace;
    const data = r.codeSource === "configMap" ? s.liberatorCodeData(name) : undefined;
    const code = data ? s.codeFromConfigMap(`${name}-code`, data) : s.codeFromImage();
    const subject = (role: "controller" | "agent") => ({
        kind: "ServiceAccount",
        name: role === "controller" ? r.serviceAccountName : r.agentServiceAccountName,
        namespace: ns,
    });
    const roles = s.liberatorRoles(r);
    const o: Record<string, any> = {
        namespace: r.createNamespace ? s.renderNamespace(r) : undefined,
        serviceAccount: s.renderServiceAccount(r, "controller", ns),
        agentServiceAccount: s.renderServiceAccount(r, "agent", ns),
        clusterRole: s.renderClusterRole(r),
        clusterRoleBinding: s.renderClusterRoleBinding(r, r.clusterRoleName, subject("controller")),
        roles: Object.fromEntries(roles.map((x) => [x.name, s.renderRole(r, x, x.namespace ?? ns)])),
        roleBindings: Object.fromEntries(roles.map((x) => [x.name, s.renderRoleBinding(r, x, x.namespace ?? ns, x.name, subject(x.subject))])),
        policy: s.renderAgentPolicy(r),
        policyBinding: s.renderAgentPolicyBinding(r, r.policyName),
        peerKey: r.generatePeerKey ? s.renderPeerKeySecret(r, ns, "generated") : undefined,
        codeConfigMap: data ? s.renderCodeConfigMap(r, ns, data) : undefined,
        daemonSet: s.renderAgentDaemonSet(r, {
            namespace: ns,
            image: r.image,
            serviceAccount: r.agentServiceAccountName,
            peerKeySecret: r.peerKeySecretName,
            code,
        }),
        deployment: s.renderControllerDeployment(r, { namespace: ns, image: r.image, serviceAccount: r.serviceAccountName, code }),
    };
    const list = [...Object.values(o).filter((x) => x && x.kind), ...Object.values(o.roles), ...Object.values(o.roleBindings)];
    const agentPod = o.daemonSet.spec.template.spec;
    const ctlPod = o.deployment.spec.template.spec;
    return { ...o, list, agentPod, agent: agentPod.containers[0], ctlPod, ctl: ctlPod.containers[0] };
}

async function build(name = "liberator", args: import("../../../components/nodeliberator").NodeLiberatorArgs = {}) {
    const lib = new m.NodeLiberator(name, args);
    await promiseOf(lib.daemonSetName);
    await promiseOf(lib.deploymentName);
    await settle();
    return lib;
}
const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe("NodeLiberator defaults", () => {
    test("objects, names and URNs: everything that survived the redesign keeps its resource name", async () => {
        const lib = await build();
        expect(
            k8sObjects(registered)
                .map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`)
                .sort(),
        ).toEqual([
            "ClusterRole//tkr-system:liberator",
            "ClusterRoleBinding//tkr-system:liberator",
            "ConfigMap/tkr-system/liberator-code",
            "DaemonSet/tkr-system/liberator",
            "Deployment/tkr-system/liberator-controller",
            "Namespace//tkr-system",
            "Role/default/liberator-events",
            "Role/kube-node-lease/liberator-node-leases",
            "Role/tkr-system/liberator-agent-leases",
            "Role/tkr-system/liberator-leases",
            "RoleBinding/default/liberator-events",
            "RoleBinding/kube-node-lease/liberator-node-leases",
            "RoleBinding/tkr-system/liberator-agent-leases",
            "RoleBinding/tkr-system/liberator-leases",
            "Secret/tkr-system/liberator-peer-key",
            "ServiceAccount/tkr-system/high-availability",
            "ServiceAccount/tkr-system/high-availability-agent",
            "ValidatingAdmissionPolicy//liberator-agent-heartbeat.tkr-system.liberator.pets",
            "ValidatingAdmissionPolicyBinding//liberator-agent-heartbeat.tkr-system.liberator.pets",
        ]);
        // Resource names (URNs) of the objects that existed before the split are unchanged.
        const names = new Map(registered.map((r) => [`${r.type.split(":").pop()}:${r.name}`, r]));
        for (const urn of [
            "Namespace:liberator-ns",
            "ServiceAccount:liberator-sa",
            "ClusterRole:liberator-cr",
            "ClusterRoleBinding:liberator-crb",
            "Role:liberator-leases",
            "Role:liberator-node-leases",
            "Role:liberator-events",
            "ConfigMap:liberator-code",
            "DaemonSet:liberator",
        ])
            expect(names.has(urn)).toBe(true);
        expect(await promiseOf(lib.clusterRoleName)).toBe("tkr-system:liberator");
        expect(await promiseOf(lib.leaderLeaseName)).toBe("liberator");
        expect(await promiseOf(lib.agentServiceAccountName)).toBe("high-availability-agent");
        expect(await promiseOf(lib.namespace)).toBe("tkr-system");
        // Each object names its siblings: the pods their ServiceAccounts, Secret and ConfigMap.
        const agentPod = findObject(registered, "DaemonSet").spec.template.spec;
        expect(agentPod.serviceAccountName).toBe("high-availability-agent");
        expect(agentPod.volumes.map((x: any) => x.configMap?.name ?? x.secret?.secretName ?? x.hostPath.path)).toEqual([
            "liberator-code",
            "liberator-peer-key",
            "/run/containerd/containerd.sock",
        ]);
        expect(findObject(registered, "Deployment").spec.template.spec.serviceAccountName).toBe("high-availability");
        expect(findObject(registered, "RoleBinding", "liberator-agent-leases").roleRef.name).toBe("liberator-agent-leases");
        expect(findObject(registered, "ValidatingAdmissionPolicyBinding").spec.policyName).toBe("liberator-agent-heartbeat.tkr-system.liberator.pets");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("the namespace is Pod Security privileged: the agent needs hostPID, hostNetwork and the CRI socket", async () => {
        const o = renderAll();
        expect(o.namespace.metadata.name).toBe("tkr-system");
        expect(o.namespace.metadata.labels).toEqual({
            "pod-security.kubernetes.io/enforce": "privileged",
            "app.kubernetes.io/managed-by": "pulumi",
        });
    });

    test("exact RBAC per role: the controller holds every write verb; the agent only its Leases", () => {
        const o = renderAll();
        expect(o.clusterRole.rules).toEqual([
            { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch", "patch"] },
            { apiGroups: [""], resources: ["pods"], verbs: ["list", "delete"] },
            { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["list", "watch"] },
        ]);
        expect(o.roles["liberator-leases"].rules).toEqual([
            { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
            { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
            { apiGroups: [""], resources: ["events"], verbs: ["create"] },
        ]);
        expect(o.roles["liberator-agent-leases"].rules).toEqual([
            { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "create", "update"] },
        ]);
        expect(o.roles["liberator-node-leases"].rules).toEqual([{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["list", "watch"] }]);
        expect(o.roles["liberator-events"].rules).toEqual([{ apiGroups: [""], resources: ["events"], verbs: ["create"] }]);
        const controller = [{ kind: "ServiceAccount", name: "high-availability", namespace: "tkr-system" }];
        const agentSa = [{ kind: "ServiceAccount", name: "high-availability-agent", namespace: "tkr-system" }];
        expect(o.clusterRoleBinding.subjects).toEqual(controller);
        for (const rb of ["liberator-leases", "liberator-node-leases", "liberator-events"]) {
            expect(o.roleBindings[rb]).toMatchObject({ subjects: controller, roleRef: { kind: "Role", name: rb } });
        }
        expect(o.roleBindings["liberator-agent-leases"]).toMatchObject({
            subjects: agentSa,
            roleRef: { kind: "Role", name: "liberator-agent-leases" },
        });
    });

    test("the admission policy: the agent's ServiceAccount writes only heartbeat.<the node its token is bound to>", () => {
        const o = renderAll();
        const vap = o.policy;
        expect(vap.spec.failurePolicy).toBe("Fail");
        expect(vap.spec.matchConstraints).toEqual({
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "tkr-system" } },
            resourceRules: [{ apiGroups: ["coordination.k8s.io"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["leases"] }],
        });
        expect(vap.spec.matchConditions).toEqual([
            { name: "agent", expression: 'request.userInfo.username == "system:serviceaccount:tkr-system:high-availability-agent"' },
        ]);
        expect(vap.spec.variables[0]).toEqual({
            name: "node",
            expression:
                '"authentication.kubernetes.io/node-name" in request.userInfo.extra ? request.userInfo.extra["authentication.kubernetes.io/node-name"][0] : ""',
        });
        expect(vap.spec.validations.map((x: any) => x.expression)).toEqual([
            'variables.node != ""',
            'object.metadata.name == "heartbeat." + variables.node',
            '"liberator.pets/node" in variables.annotations && variables.annotations["liberator.pets/node"] == variables.node',
            '!("liberator.pets/claimed-by" in variables.annotations) && !("liberator.pets/claim-phase" in variables.annotations)',
            'oldObject == null || !has(oldObject.metadata.annotations) || !("liberator.pets/claimed-by" in oldObject.metadata.annotations)',
            '!has(object.metadata.ownerReferences) || object.metadata.ownerReferences.all(o, o.kind == "Node" && o.name == variables.node && (variables.nodeUid == "" || o.uid == variables.nodeUid))',
        ]);
        expect(o.policyBinding.spec).toEqual({
            policyName: "liberator-agent-heartbeat.tkr-system.liberator.pets",
            validationActions: ["Deny"],
        });
    });

    test("the agent DaemonSet: every node, hostPID + hostNetwork, root with only CAP_KILL, read-only, the CRI socket and nothing else of the host", () => {
        const o = renderAll();
        const ds = o.daemonSet;
        expect(ds.metadata.name).toBe("liberator");
        expect(ds.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "liberator", "app.kubernetes.io/instance": "liberator" });
        const pod = o.agentPod;
        expect(pod).toMatchObject({
            serviceAccountName: "high-availability-agent",
            hostPID: true,
            hostNetwork: true,
            dnsPolicy: "ClusterFirstWithHostNet",
            tolerations: [{ operator: "Exists" }],
            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
        });
        const c = o.agent;
        expect(c.command).toEqual(["node", "--jitless", "--max-old-space-size=24", "--max-semi-space-size=1", "/opt/liberator/agent.js"]);
        expect(c.securityContext).toEqual({
            runAsUser: 0,
            runAsGroup: 0,
            runAsNonRoot: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"], add: ["KILL"] },
        });
        expect(pod.volumes).toEqual([
            { name: "code", configMap: { name: "liberator-code", defaultMode: 0o444 } },
            { name: "peer-key", secret: { secretName: "liberator-peer-key", defaultMode: 0o400 } },
            { name: "cri-socket", hostPath: { path: "/run/containerd/containerd.sock", type: "Socket" } },
        ]);
        expect(c.volumeMounts).toEqual([
            { name: "code", mountPath: "/opt/liberator", readOnly: true },
            { name: "peer-key", mountPath: "/etc/liberator/peer-key", readOnly: true },
            { name: "cri-socket", mountPath: "/run/containerd/containerd.sock" },
        ]);
        expect(c.ports).toEqual([{ name: "peer", containerPort: 9465, hostPort: 9465, protocol: "TCP" }]);
        expect(c.resources).toEqual({ requests: { cpu: "5m", memory: "48Mi" }, limits: { memory: "96Mi" } });
        expect(envOf(c)).toEqual({
            NODE_NAME: { fieldRef: { fieldPath: "spec.nodeName" } },
            HOST_IP: { fieldRef: { fieldPath: "status.hostIP" } },
            POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
            POD_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
            LIBERATOR_NAMESPACE: "tkr-system",
            LIBERATOR_RENEW_INTERVAL: "5s",
            LIBERATOR_SELF_FENCE_TIMEOUT: "30s",
            LIBERATOR_FENCE_EXEC: "10s",
            LIBERATOR_SELF_FENCE: "true",
            LIBERATOR_LISTEN_ADDRESS: "0.0.0.0:9465",
            LIBERATOR_PEER_KEY_FILE: "/etc/liberator/peer-key/key",
            LIBERATOR_CRI_SOCKET: "/run/containerd/containerd.sock",
            LIBERATOR_KUBELET_NAME: "kubelet",
            LIBERATOR_LOG_LEVEL: "info",
        });
    });

    test("the controller Deployment: two replicas spread over nodes, a restricted pod, the leader Lease and the agent selector", () => {
        const o = renderAll();
        const d = o.deployment;
        expect(d.metadata.name).toBe("liberator-controller");
        expect(d.spec.replicas).toBe(2);
        expect(d.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "liberator-controller", "app.kubernetes.io/instance": "liberator" });
        const pod = o.ctlPod;
        expect(pod.serviceAccountName).toBe("high-availability");
        expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
        expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
        expect(pod.hostPID).toBeUndefined();
        const c = o.ctl;
        expect(c.command).toEqual(["node", "--jitless", "--max-old-space-size=48", "--max-semi-space-size=2", "/opt/liberator/main.js"]);
        expect(c.securityContext).toEqual({
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
        });
        expect(c.readinessProbe).toEqual({ httpGet: { path: "/healthz", port: "metrics" }, periodSeconds: 10, failureThreshold: 3 });
        expect(envOf(c)).toMatchObject({
            LIBERATOR_MODE: "outOfServiceTaint",
            LIBERATOR_UNHEALTHY_AFTER: "0s",
            LIBERATOR_MAX_UNHEALTHY: "1",
            LIBERATOR_STORM_COOLDOWN: "60s",
            LIBERATOR_MARGIN: "5s",
            LIBERATOR_SETTLE: "20s",
            LIBERATOR_RENEW_INTERVAL: "5s",
            LIBERATOR_UNSAFE_NO_FENCING: "false",
            LIBERATOR_FORCE_DELETE_PODS: "true",
            LIBERATOR_AGENT_SELECTOR: "app.kubernetes.io/name=liberator,app.kubernetes.io/instance=liberator",
            LIBERATOR_LEASE_NAME: "liberator",
        });
    });

    test("the ConfigMap carries the controller and the agent, far under 1 MiB", () => {
        const cm = renderAll().codeConfigMap;
        expect(cm.metadata.name).toBe("liberator-code");
        const data = cm.data;
        expect(Object.keys(data).sort()).toEqual([
            "agent.js",
            "clock.js",
            "config.js",
            "contract.js",
            "controller.js",
            "cri.js",
            "decide.js",
            "fence.js",
            "flags.js",
            "host.js",
            "inspect.js",
            "kube.js",
            "leader.js",
            "loop.js",
            "main.js",
            "memory.js",
            "metrics.js",
            "peers.js",
            "perform.js",
            "plan.js",
            "report.js",
            "selffence.js",
            "views.js",
            "watchdog.js",
            "yaml.js",
        ]);
        expect(data["main.js"]).toContain('require("./controller")');
        // The agent loads only what it needs (no controller, no decisions).
        const agentRequires = [...data["agent.js"].matchAll(/require\("\.\/(\w+)"\)/g)].map((x) => x[1]).sort();
        expect(agentRequires).toEqual(["clock", "contract", "cri", "flags", "host", "kube", "metrics", "peers", "selffence", "watchdog"]);
        expect(s.configMapDataBytes(data)).toBeLessThan(s.MAX_CONFIGMAP_DATA_BYTES / 4);
    });

    test("the peer key: generated (a Pulumi secret), never a literal; or an existing Secret", async () => {
        await build();
        expect(registered.filter((r) => r.type.endsWith("GeneratedPassword")).map((r) => [r.name, r.inputs.length])).toEqual([["liberator-peer-key", 64]]);
        expect(findObject(registered, "Secret", "liberator-peer-key").stringData).toEqual({ key: "mock-generated-liberator-peer-key" });
        expect(findObject(registered, "DaemonSet").spec.template.spec.volumes[1].secret.secretName).toBe("liberator-peer-key");
        registered.splice(0);
        await build("liberator", { peerKeySecret: "my-key" });
        expect(k8sObjects(registered).filter((o) => o.kind === "Secret")).toEqual([]);
        expect(renderAll({ peerKeySecret: "my-key" }).agentPod.volumes[1]).toEqual({ name: "peer-key", secret: { secretName: "my-key", defaultMode: 0o400 } });
    });

    test("every object passes the Kubernetes OpenAPI schema (admission policy included)", () => {
        const o = renderAll({
            releaseLocalVolumes: true,
            orphanedVolumes: "delete",
            fence: { url: "https://pdu.example/off/{node}", tokenSecret: { name: "pdu", key: "token" }, caConfigMap: { name: "pdu-ca", key: "ca.pem" } },
            selfFence: { watchdog: { device: "/dev/watchdog", timeoutSeconds: 5 } },
            priorityClassName: "system-cluster-critical",
            agentPriorityClassName: "system-node-critical",
        });
        expect(o.list.map((x: any) => x.kind).sort()).toEqual([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet",
            "Deployment",
            "Namespace",
            "Role",
            "Role",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "Secret",
            "ServiceAccount",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]);
        expect(schemaErrors(o.list)).toEqual([]);
    });
});

describe("clusterRoleRules: exactly the verbs each configuration uses", () => {
    const nodes = (...verbs: string[]) => ({ apiGroups: [""], resources: ["nodes"], verbs });
    const pods = (...verbs: string[]) => ({ apiGroups: [""], resources: ["pods"], verbs });
    const pvcs = (...verbs: string[]) => ({ apiGroups: [""], resources: ["persistentvolumeclaims"], verbs });
    const pvs = (...verbs: string[]) => ({ apiGroups: [""], resources: ["persistentvolumes"], verbs });
    const sts = { apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get"] };
    test.each([
        { mode: "outOfServiceTaint", o: { orphanedVolumes: "ignore" }, rules: [nodes("list", "watch", "patch"), pods("list", "delete")] },
        { mode: "deleteNode", o: { orphanedVolumes: "ignore" }, rules: [nodes("list", "watch", "delete"), pods("list", "delete")] },
        { mode: "outOfServiceTaint", o: { orphanedVolumes: "ignore", forceDeletePods: false }, rules: [nodes("list", "watch", "patch"), pods("list")] },
        {
            mode: "outOfServiceTaint",
            o: { orphanedVolumes: "delete" },
            rules: [nodes("list", "watch", "patch"), pods("list", "delete"), pvs("list", "watch", "delete")],
        },
        {
            mode: "outOfServiceTaint",
            o: { releaseLocalVolumes: true, forceDeletePods: false, orphanedVolumes: "ignore" },
            rules: [nodes("list", "watch", "patch"), pods("get", "list", "delete"), pvcs("get", "delete"), pvs("get"), sts],
        },
        {
            mode: "outOfServiceTaint",
            o: { dryRun: true, releaseLocalVolumes: true, orphanedVolumes: "delete" },
            rules: [nodes("list", "watch"), pods("get", "list"), pvcs("get"), pvs("get", "list", "watch"), sts],
        },
    ] as const)("$mode with $o", ({ mode, o, rules }) => {
        expect(s.clusterRoleRules(mode, o)).toEqual(rules);
    });

    test("no wildcard in any rule of any configuration; a dry run cannot claim, patch or delete Leases", () => {
        for (const mode of ["outOfServiceTaint", "deleteNode"] as const) {
            for (const flags of [{}, { releaseLocalVolumes: true, orphanedVolumes: "delete" as const }]) {
                const all = [
                    ...s.clusterRoleRules(mode, flags),
                    ...s.leaseRoleRules(),
                    ...s.agentLeaseRoleRules(),
                    ...s.nodeLeaseRoleRules(),
                    ...s.eventRoleRules(),
                ];
                expect(JSON.stringify(all)).not.toContain("*");
            }
        }
        expect(s.leaseRoleRules({ dryRun: true })[0].verbs).toEqual(["get", "list", "watch", "create", "update"]);
    });
});

describe("NodeLiberator options", () => {
    test("custom namespace without creating it, custom ServiceAccount and mode", () => {
        const o = renderAll({ namespace: "ops", createNamespace: false, serviceAccountName: "liberator-sa", mode: "deleteNode" }, "ha");
        expect(o.list.filter((x: any) => x.kind === "Namespace")).toEqual([]);
        expect(o.clusterRoleBinding.subjects).toEqual([{ kind: "ServiceAccount", name: "liberator-sa", namespace: "ops" }]);
        expect(o.clusterRole.metadata.name).toBe("ops:ha");
        expect(envOf(o.ctl)).toMatchObject({ LIBERATOR_MODE: "deleteNode", LIBERATOR_NAMESPACE: "ops", LIBERATOR_LEASE_NAME: "ha" });
        expect(o.policy.spec.matchConditions[0].expression).toBe('request.userInfo.username == "system:serviceaccount:ops:liberator-sa-agent"');
    });

    test("your own image: no ConfigMap; the controller runs the image's entry point, the agent /opt/liberator/agent.js", () => {
        const o = renderAll({ codeSource: "image", image: "registry.example/liberator:1.0" });
        expect(o.list.filter((x: any) => x.kind === "ConfigMap")).toEqual([]);
        expect(o.ctl.image).toBe("registry.example/liberator:1.0");
        expect(o.ctl.command).toBeUndefined();
        expect(o.agentPod.volumes.map((x: any) => x.name)).toEqual(["peer-key", "cri-socket"]);
        expect(o.ctlPod.volumes).toBeUndefined();
        expect(o.agent.command).toEqual(["node", "--jitless", "--max-old-space-size=24", "--max-semi-space-size=1", "/opt/liberator/agent.js"]);
    });

    test("HTTP fence: URL, method, a token from a Secret (https only) and a CA bundle from a ConfigMap", () => {
        const o = renderAll({
            fence: {
                url: "https://pdu.example/off/{node}",
                method: "PUT",
                tokenSecret: { name: "pdu", key: "token" },
                caConfigMap: { name: "pdu-ca", key: "ca.pem" },
                timeoutSeconds: 10,
            },
        });
        expect(envOf(o.ctl)).toMatchObject({
            LIBERATOR_FENCE_URL: "https://pdu.example/off/{node}",
            LIBERATOR_FENCE_METHOD: "PUT",
            LIBERATOR_FENCE_TIMEOUT: "10s",
            LIBERATOR_FENCE_CA_FILE: "/etc/liberator/fence-ca/ca.crt",
            LIBERATOR_FENCE_TOKEN: { secretKeyRef: { name: "pdu", key: "token" } },
        });
        expect(o.ctlPod.volumes).toContainEqual({ name: "fence-ca", configMap: { name: "pdu-ca", items: [{ key: "ca.pem", path: "ca.crt" }] } });
        expect(o.ctl.volumeMounts).toContainEqual({ name: "fence-ca", mountPath: "/etc/liberator/fence-ca", readOnly: true });
    });

    test("command fence with its script mounted into the controller", () => {
        const o = renderAll({
            fence: { command: ["/hooks/poweroff", "--hard"] },
            extraVolumes: [{ name: "hooks", configMap: { name: "fence-hooks", defaultMode: 0o555 } }],
            extraVolumeMounts: [{ name: "hooks", mountPath: "/hooks" }],
        });
        expect(envOf(o.ctl).LIBERATOR_FENCE_COMMAND).toBe('["/hooks/poweroff","--hard"]');
        expect(o.ctlPod.volumes.map((x: any) => x.name)).toEqual(["hooks", "code"]);
        expect(o.ctl.volumeMounts.map((x: any) => x.name)).toEqual(["hooks", "code"]);
    });

    test("a watchdog makes the agent privileged (device nodes need it) and passes the device", () => {
        const o = renderAll({ selfFence: { watchdog: { device: "/dev/watchdog", timeoutSeconds: 5 } } });
        expect(o.agent.securityContext).toMatchObject({ privileged: true, allowPrivilegeEscalation: true });
        expect(o.agentPod.volumes).toContainEqual({ name: "watchdog", hostPath: { path: "/dev/watchdog", type: "CharDevice" } });
        expect(o.agent.volumeMounts).toContainEqual({ name: "watchdog", mountPath: "/dev/watchdog" });
        expect(envOf(o.agent)).toMatchObject({ LIBERATOR_WATCHDOG_DEVICE: "/dev/watchdog", LIBERATOR_WATCHDOG_TIMEOUT: "5s" });
    });

    test("the environments the component sets are what the controller and the agent parse", async () => {
        const { loadConfig } = await import("../../../liberator/config");
        const { loadAgentConfig } = await import("../../../liberator/agent");
        const r = m.resolveNodeLiberatorArgs("lib", {
            mode: "deleteNode",
            unhealthyAfterSeconds: 15,
            maxUnhealthy: "34%",
            stormCooldownSeconds: 90,
            dryRun: true,
            optOutLabel: "example.com/keep",
            forceDeletePods: false,
            releaseLocalVolumes: true,
            orphanedVolumes: "delete",
            orphanedVolumeGraceSeconds: 120,
            stormWindowSeconds: 300,
            heartbeatIntervalSeconds: 4,
            selfFence: {
                timeoutSeconds: 40,
                execSeconds: 15,
                marginSeconds: 6,
                settleSeconds: 30,
                criSocket: "/run/k3s/containerd/containerd.sock",
                peerPort: 9999,
            },
            unsafeNoFencing: true,
            remediateControlPlane: true,
            leaderElection: { leaseDurationSeconds: 20, renewDeadlineSeconds: 12, retryPeriodSeconds: 3 },
            metricsPort: 9100,
            logLevel: "debug",
            fence: { command: ["/hooks/off"], retrySeconds: 45 },
        });
        const env = (list: { name: string; value: string }[]) => Object.fromEntries(list.map((e) => [e.name, e.value]));
        const cfg = loadConfig([], { ...env(s.controllerEnv(r, "a=b")), POD_NAME: "ctl-x" });
        expect(cfg).toMatchObject({
            namespace: "tkr-system",
            identity: "ctl-x",
            leaseName: "lib",
            leaseDurationMs: 20_000,
            renewDeadlineMs: 12_000,
            retryPeriodMs: 3_000,
            agentSelector: "a=b",
            metricsPort: 9100,
            logLevel: "debug",
            fence: { type: "command", command: ["/hooks/off"], timeoutMs: 30_000 },
            decide: {
                mode: "deleteNode",
                unhealthyAfterMs: 15_000,
                maxUnhealthy: "34%",
                stormCooldownMs: 90_000,
                dryRun: true,
                optOutLabel: "example.com/keep",
                forceDeletePods: false,
                releaseLocalVolumes: true,
                fence: true,
                fenceRetryMs: 45_000,
                stormWindowMs: 300_000,
                orphanedVolumes: "delete",
                orphanedVolumeGraceMs: 120_000,
                marginMs: 6_000,
                settleMs: 30_000,
                renewIntervalMs: 4_000,
                unsafeNoFencing: true,
                remediateControlPlane: true,
            },
        });
        const a = loadAgentConfig([], { ...env(s.agentEnv(r)), NODE_NAME: "w1", HOST_IP: "10.0.0.5", POD_NAME: "agent-x" });
        expect(a).toMatchObject({
            namespace: "tkr-system",
            nodeName: "w1",
            identity: "agent-x",
            renewIntervalMs: 4_000,
            selfFenceMs: 40_000,
            fenceExecMs: 15_000,
            selfFence: true,
            listenPort: 9999,
            advertiseAddress: "10.0.0.5:9999",
            criSocket: "/run/k3s/containerd/containerd.sock",
            peerKeyFile: "/etc/liberator/peer-key/key",
        });
    });

    test("the variables the component sets are the processes' flags, named by the contract's rule", async () => {
        const c = await import("../../../liberator/contract");
        const { OPTIONS } = await import("../../../liberator/config");
        const { AGENT_OPTIONS } = await import("../../../liberator/agent");
        // Every flag's variable follows the rule, except the pod's own fields (downward API).
        for (const o of [...OPTIONS, ...AGENT_OPTIONS]) expect([c.flagEnv(o.flag), ...Object.values(c.POD_ENV)]).toContain(o.env);
        const o = renderAll({
            fence: { url: "https://pdu.example/off/{node}", tokenSecret: { name: "pdu", key: "t" }, caConfigMap: { name: "ca", key: "ca.pem" } },
            selfFence: { watchdog: { device: "/dev/watchdog", timeoutSeconds: 5 } },
        });
        // Besides their flags' variables, both read the pod's namespace, and the controller the fence token.
        const unread = (container: any, options: { env: string }[]) =>
            container.env.map((e: any) => e.name).filter((n: string) => !options.some((x) => x.env === n));
        expect(unread(o.ctl, OPTIONS)).toEqual([c.POD_ENV.namespace, c.FENCE_TOKEN_ENV]);
        expect(unread(o.agent, AGENT_OPTIONS)).toEqual([c.POD_ENV.namespace]);
        expect(unread(renderAll({ fence: { command: ["/hooks/off"] } }).ctl, OPTIONS)).toEqual([c.POD_ENV.namespace]);
    });

    test("the component's constants are the contract's", async () => {
        const c = await import("../../../liberator/contract");
        expect(m.DEFAULT_LIBERATOR_OPT_OUT_LABEL).toBe(c.DEFAULT_OPT_OUT_LABEL);
        expect(m.LIBERATOR_LOCAL_VOLUME_POLICY_KEY).toBe(c.ANN.localVolumePolicy);
        expect(m.resolveNodeLiberatorArgs("liberator", {})).toMatchObject({
            heartbeatIntervalSeconds: c.DEFAULTS.renewIntervalSeconds,
            selfFence: { timeoutSeconds: c.DEFAULTS.selfFenceSeconds, execSeconds: c.DEFAULTS.fenceExecSeconds, marginSeconds: c.DEFAULTS.marginSeconds },
        });
    });
});

describe("shipping the code", () => {
    test("from the published package: reads the compiled dist/liberator/*.js (no source maps, no .d.ts)", () => {
        // Inside the repository (dist/ is ignored by git) so the compiled component finds node_modules.
        const root = path.join(__dirname, "..", "..", "..");
        fs.mkdirSync(path.join(root, "dist"), { recursive: true });
        const out = fs.mkdtempSync(path.join(root, "dist", ".liberator-test-"));
        try {
            execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", out], { cwd: root, stdio: "pipe" });
            const compiled = s.liberatorCode(path.join(out, "liberator"), false);
            const fromSource = s.liberatorCode();
            expect(Object.keys(compiled).sort()).toEqual(Object.keys(fromSource).sort());
            for (const js of Object.values(compiled)) expect(js).not.toContain("sourceMappingURL");
            expect(fs.existsSync(path.join(out, "components", "liberatorspecs.js"))).toBe(true);
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled file, by path
            const packaged = require(path.join(out, "components", "liberatorspecs.js"));
            expect(Object.keys(packaged.liberatorCode()).sort()).toEqual(Object.keys(fromSource).sort());
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    }, 60_000);

    test("a missing code directory is a clear error", () => {
        expect(() => s.liberatorCode("/nonexistent/liberator", false)).toThrow(
            'NodeLiberator: the controller\'s code is missing: /nonexistent/liberator does not exist. A package build must contain dist/liberator (package.json "files"), or use codeSource "image".',
        );
    });
});

describe("NodeLiberator validation", () => {
    const bad =
        (args: any, name = "liberator") =>
        () =>
            m.resolveNodeLiberatorArgs(name, args);
    test.each([
        { args: { mode: "reboot" }, message: 'NodeLiberator "liberator": mode = "reboot" is invalid: must be one of "outOfServiceTaint", "deleteNode"' },
        {
            args: { namespace: "Tkr_System" },
            message:
                'NodeLiberator "liberator": namespace = "Tkr_System" is invalid: must be a DNS-1123 label: lower-case letters, digits and \'-\', starting and ending with a letter or digit, at most 63 characters',
        },
        {
            args: { unhealthyAfterSeconds: -5 },
            message: 'NodeLiberator "liberator": unhealthyAfterSeconds = -5 is invalid: must be a whole number from 0 to 86400',
        },
        {
            args: { stormCooldownSeconds: 1.5 },
            message: 'NodeLiberator "liberator": stormCooldownSeconds = 1.5 is invalid: must be a whole number from 0 to 86400',
        },
        {
            args: { maxUnhealthy: "half" },
            message: 'NodeLiberator "liberator": maxUnhealthy = "half" is invalid: must be a whole number >= 0 or a percentage from 0% to 100% such as "25%"',
        },
        {
            args: { maxUnhealthy: -1 },
            message: 'NodeLiberator "liberator": maxUnhealthy = -1 is invalid: must be a whole number >= 0 or a percentage from 0% to 100% such as "25%"',
        },
        {
            args: { maxUnhealthy: "150%" },
            message: 'NodeLiberator "liberator": maxUnhealthy = "150%" is invalid: must be a whole number >= 0 or a percentage from 0% to 100% such as "25%"',
        },
        {
            args: { heartbeatIntervalSeconds: 15, selfFence: { settleSeconds: 60 } },
            message:
                'NodeLiberator "liberator": heartbeatIntervalSeconds = 15 is invalid: must be at most a third of the self-fence timeout (30 s), so a node gets at least three tries before it fences itself',
        },
        {
            args: { selfFence: { timeoutSeconds: 2 } },
            message: 'NodeLiberator "liberator": selfFence.timeoutSeconds = 2 is invalid: must be a whole number from 5 to 600',
        },
        {
            args: { selfFence: { execSeconds: 30 } },
            message:
                "NodeLiberator \"liberator\": selfFence.settleSeconds = 20 is invalid: must be at least 36 (the agents' peer re-check + fence execution + margin, and longer than a heartbeat's fresh window)",
        },
        {
            args: { selfFence: { timeout: 30 } },
            message:
                'NodeLiberator "liberator": selfFence.timeout = 30 is invalid: is not a known setting; known settings are enabled, timeoutSeconds, execSeconds, marginSeconds, settleSeconds, criSocket, kubeletProcessName, peerPort, watchdog',
        },
        {
            args: { selfFence: { criSocket: "containerd.sock" } },
            message:
                'NodeLiberator "liberator": selfFence.criSocket = "containerd.sock" is invalid: must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)',
        },
        {
            args: { selfFence: { watchdog: { device: "/dev/watchdog", timeoutSeconds: 10 } } },
            message:
                'NodeLiberator "liberator": selfFence.watchdog.timeoutSeconds = 10 is invalid: must be less than selfFence.execSeconds (10), or the watchdog resets the node only after the fence deadline',
        },
        { args: { selfFence: { enabled: "no" } }, message: 'NodeLiberator "liberator": selfFence.enabled = "no" is invalid: must be true or false' },
        { args: { unsafeNoFencing: "yes" }, message: 'NodeLiberator "liberator": unsafeNoFencing = "yes" is invalid: must be true or false' },
        { args: { controllerReplicas: 0 }, message: 'NodeLiberator "liberator": controllerReplicas = 0 is invalid: must be a whole number from 1 to 5' },
        {
            args: { fence: { url: "http://pdu/off/{node}", tokenSecret: { name: "pdu", key: "t" } } },
            message:
                'NodeLiberator "liberator": fence.url = "http://pdu/off/{node}" is invalid: must be an https:// URL when fence.tokenSecret is set: a bearer token is never sent in clear text',
        },
        {
            args: { fence: { url: "ftp://x" } },
            message: 'NodeLiberator "liberator": fence.url = "ftp://x" is invalid: must be an http:// or https:// URL such as "https://pdu.example/off/{node}"',
        },
        {
            args: { fence: {} },
            message: 'NodeLiberator "liberator": fence = {} is invalid: must have either url (an HTTP hook) or command (a program), not both or neither',
        },
        {
            args: { fence: { command: ["poweroff"] } },
            message:
                'NodeLiberator "liberator": fence.command[0] = "poweroff" is invalid: must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)',
        },
        {
            args: { leaderElection: { leaseDurationSeconds: 10, renewDeadlineSeconds: 10 } },
            message:
                'NodeLiberator "liberator": leaderElection.renewDeadlineSeconds = 10 is invalid: must be less than leaseDurationSeconds (10), so a leader stops acting before another may start',
        },
        {
            args: { codeSource: "image" },
            message:
                'NodeLiberator "liberator": image = undefined is invalid: must name your liberator image when codeSource is "image" (build one with liberator/Dockerfile)',
        },
        {
            args: { labels: { "app.kubernetes.io/component": "x" } },
            message:
                'NodeLiberator "liberator": labels["app.kubernetes.io/component"] = "x" is invalid: is set by the component (it selects the liberator\'s pods) and cannot be overridden',
        },
    ])("$message", ({ args, message }) => {
        expect(bad(args)).toThrow(message);
    });

    test("every problem at once", () => {
        expect(bad({ mode: "x", unhealthyAfterSeconds: -1, maxUnhealthy: "x", logLevel: "loud" })).toThrow(
            [
                'NodeLiberator "liberator" has 4 invalid settings:',
                '  - mode = "x" is invalid: must be one of "outOfServiceTaint", "deleteNode"',
                "  - unhealthyAfterSeconds = -1 is invalid: must be a whole number from 0 to 86400",
                '  - maxUnhealthy = "x" is invalid: must be a whole number >= 0 or a percentage from 0% to 100% such as "25%"',
                '  - logLevel = "loud" is invalid: must be one of "debug", "info", "warn", "error"',
            ].join("\n"),
        );
    });

    test("nothing is registered when validation fails", async () => {
        expect(() => new m.NodeLiberator("liberator", { mode: "x" as any })).toThrow(/mode = "x"/);
        await settle();
        expect(registered).toEqual([]);
    });

    test("resolved defaults", () => {
        expect(m.resolveNodeLiberatorArgs("liberator", {})).toMatchObject({
            mode: "outOfServiceTaint",
            unhealthyAfterSeconds: 0,
            maxUnhealthy: 1,
            stormCooldownSeconds: 60,
            forceDeletePods: true,
            dryRun: false,
            unsafeNoFencing: false,
            remediateControlPlane: false,
            controllerReplicas: 2,
            heartbeatIntervalSeconds: 5,
            selfFence: { enabled: true, timeoutSeconds: 30, execSeconds: 10, marginSeconds: 5, settleSeconds: 20, peerPort: 9465 },
            leaseDurationSeconds: 15,
            renewDeadlineSeconds: 10,
            retryPeriodSeconds: 2,
        });
    });
});
