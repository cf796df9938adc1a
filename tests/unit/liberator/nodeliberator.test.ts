import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../../support/pulumi";

const registered = setupMocks();
type Mod = typeof import("../../../components/nodeliberator");
let m: Mod;

beforeAll(async () => {
    m = await import("../../../components/nodeliberator");
});
beforeEach(() => registered.splice(0));

async function build(name = "liberator", args: import("../../../components/nodeliberator").NodeLiberatorArgs = {}) {
    const lib = new m.NodeLiberator(name, args);
    await promiseOf(lib.daemonSetName);
    await settle();
    return lib;
}
const podSpec = () => findObject(registered, "DaemonSet").spec.template.spec;
const container = () => podSpec().containers[0];
const envOf = () => Object.fromEntries(container().env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe("NodeLiberator defaults", () => {
    test("namespace tkr-system (restricted), ServiceAccount high-availability, explicit names", async () => {
        const lib = await build();
        expect(findObject(registered, "Namespace", "tkr-system").metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
        expect(findObject(registered, "ServiceAccount", "high-availability").metadata.namespace).toBe("tkr-system");
        expect(await promiseOf(lib.clusterRoleName)).toBe("tkr-system:liberator");
        expect(await promiseOf(lib.leaderLeaseName)).toBe("liberator");
        expect(await promiseOf(lib.namespace)).toBe("tkr-system");
        expect(
            k8sObjects(registered)
                .map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`)
                .sort(),
        ).toEqual([
            "ClusterRole//tkr-system:liberator",
            "ClusterRoleBinding//tkr-system:liberator",
            "ConfigMap/tkr-system/liberator-code",
            "DaemonSet/tkr-system/liberator",
            "Namespace//tkr-system",
            "Role/default/liberator-events",
            "Role/kube-node-lease/liberator-node-leases",
            "Role/tkr-system/liberator-leases",
            "RoleBinding/default/liberator-events",
            "RoleBinding/kube-node-lease/liberator-node-leases",
            "RoleBinding/tkr-system/liberator-leases",
            "ServiceAccount/tkr-system/high-availability",
        ]);
    });

    test("exact RBAC: taint mode, orphaned volumes reported", async () => {
        await build();
        expect(findObject(registered, "ClusterRole").rules).toEqual([
            { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch", "patch"] },
            { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["list", "watch"] },
        ]);
        expect(findObject(registered, "Role", "liberator-leases").rules).toEqual([
            { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update"] },
        ]);
        expect(findObject(registered, "Role", "liberator-node-leases").rules).toEqual([
            { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["list", "watch"] },
        ]);
        expect(findObject(registered, "Role", "liberator-events").rules).toEqual([{ apiGroups: [""], resources: ["events"], verbs: ["create"] }]);
        const subject = [{ kind: "ServiceAccount", name: "high-availability", namespace: "tkr-system" }];
        expect(findObject(registered, "ClusterRoleBinding").subjects).toEqual(subject);
        expect(findObject(registered, "ClusterRoleBinding").roleRef).toEqual({
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: "tkr-system:liberator",
        });
        for (const rb of ["liberator-leases", "liberator-node-leases", "liberator-events"]) {
            expect(findObject(registered, "RoleBinding", rb)).toMatchObject({ subjects: subject, roleRef: { kind: "Role", name: rb } });
        }
    });

    test("DaemonSet: every node, restricted, probes, small resources, the code from the ConfigMap", async () => {
        await build();
        const ds = findObject(registered, "DaemonSet", "liberator");
        expect(ds.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "liberator", "app.kubernetes.io/instance": "liberator" });
        const pod = podSpec();
        expect(pod.serviceAccountName).toBe("high-availability");
        expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
        expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
        const c = container();
        expect(c.image).toBe("node:22-alpine");
        expect(c.command).toEqual(["node", "--max-old-space-size=48", "/opt/liberator/main.js"]);
        expect(c.securityContext).toEqual({
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
        });
        expect(c.resources).toEqual({ requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } });
        expect(c.readinessProbe).toEqual({ httpGet: { path: "/healthz", port: "metrics" }, periodSeconds: 10, failureThreshold: 3 });
        expect(c.livenessProbe).toEqual({ httpGet: { path: "/livez", port: "metrics" }, initialDelaySeconds: 10, periodSeconds: 20, failureThreshold: 3 });
        expect(c.ports).toEqual([{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
        expect(c.volumeMounts).toEqual([{ name: "code", mountPath: "/opt/liberator", readOnly: true }]);
        expect(pod.volumes).toEqual([{ name: "code", configMap: { name: "liberator-code", defaultMode: 0o444 } }]);
        expect(envOf()).toMatchObject({
            NODE_NAME: { fieldRef: { fieldPath: "spec.nodeName" } },
            POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
            LIBERATOR_MODE: "outOfServiceTaint",
            LIBERATOR_UNHEALTHY_AFTER: "60s",
            LIBERATOR_MAX_UNHEALTHY: "1",
            LIBERATOR_LEASE_NAME: "liberator",
            LIBERATOR_NAMESPACE: "tkr-system",
        });
        const annotations = ds.spec.template.metadata.annotations;
        expect(annotations["liberator.pets/code-sha256"]).toMatch(/^[0-9a-f]{64}$/);
        expect(annotations["prometheus.io/port"]).toBe("8080");
    });

    test("the ConfigMap carries the whole controller, far under 1 MiB", async () => {
        await build();
        const data = findObject(registered, "ConfigMap", "liberator-code").data;
        expect(Object.keys(data).sort()).toEqual([
            "config.js",
            "controller.js",
            "decide.js",
            "fence.js",
            "heartbeat.js",
            "kube.js",
            "leader.js",
            "main.js",
            "metrics.js",
            "yaml.js",
        ]);
        expect(data["main.js"]).toContain('require("./controller")');
        const bytes = m.configMapDataBytes(data);
        expect(bytes).toBeLessThan(m.MAX_CONFIGMAP_DATA_BYTES / 4);
    });

    test("every object passes the Kubernetes OpenAPI schema", async () => {
        await build("liberator", {
            forceDeletePods: true,
            releaseLocalVolumes: true,
            orphanedVolumes: "delete",
            fence: { url: "https://pdu.example/off/{node}", tokenSecret: { name: "pdu", key: "token" } },
            priorityClassName: "system-node-critical",
        });
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });
});

describe("clusterRoleRules: exactly the verbs each configuration uses", () => {
    const nodes = (...verbs: string[]) => ({ apiGroups: [""], resources: ["nodes"], verbs });
    const pods = (...verbs: string[]) => ({ apiGroups: [""], resources: ["pods"], verbs });
    const pvcs = (...verbs: string[]) => ({ apiGroups: [""], resources: ["persistentvolumeclaims"], verbs });
    const pvs = (...verbs: string[]) => ({ apiGroups: [""], resources: ["persistentvolumes"], verbs });
    const sts = { apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get"] };
    test.each([
        { mode: "outOfServiceTaint", o: { orphanedVolumes: "ignore" }, rules: [nodes("list", "watch", "patch")] },
        { mode: "deleteNode", o: { orphanedVolumes: "ignore" }, rules: [nodes("list", "watch", "delete")] },
        { mode: "outOfServiceTaint", o: {}, rules: [nodes("list", "watch", "patch"), pvs("list", "watch")] },
        { mode: "outOfServiceTaint", o: { orphanedVolumes: "delete" }, rules: [nodes("list", "watch", "patch"), pvs("list", "watch", "delete")] },
        {
            mode: "outOfServiceTaint",
            o: { forceDeletePods: true, orphanedVolumes: "ignore" },
            rules: [nodes("list", "watch", "patch"), pods("list", "delete")],
        },
        {
            mode: "outOfServiceTaint",
            o: { releaseLocalVolumes: true, orphanedVolumes: "ignore" },
            rules: [nodes("list", "watch", "patch"), pods("list"), pvcs("get", "delete"), pvs("get"), sts],
        },
        {
            mode: "deleteNode",
            o: { forceDeletePods: true, releaseLocalVolumes: true, orphanedVolumes: "delete" },
            rules: [nodes("list", "watch", "delete"), pods("list", "delete"), pvcs("get", "delete"), pvs("get", "list", "watch", "delete"), sts],
        },
        {
            mode: "outOfServiceTaint",
            o: { dryRun: true, forceDeletePods: true, releaseLocalVolumes: true, orphanedVolumes: "delete" },
            rules: [nodes("list", "watch"), pods("list"), pvcs("get"), pvs("get", "list", "watch"), sts],
        },
    ] as const)("$mode with $o", ({ mode, o, rules }) => {
        expect(m.clusterRoleRules(mode, o)).toEqual(rules);
    });

    test("no wildcard in any rule of any configuration", () => {
        for (const mode of ["outOfServiceTaint", "deleteNode"] as const) {
            for (const flags of [{}, { forceDeletePods: true, releaseLocalVolumes: true, orphanedVolumes: "delete" as const }]) {
                const all = [...m.clusterRoleRules(mode, flags), ...m.leaseRoleRules(), ...m.nodeLeaseRoleRules(), ...m.eventRoleRules()];
                expect(JSON.stringify(all)).not.toContain("*");
            }
        }
    });

    test("the component's ClusterRole follows its args", async () => {
        await build("lib", { mode: "deleteNode", dryRun: true, orphanedVolumes: "ignore" });
        expect(findObject(registered, "ClusterRole").rules).toEqual([nodes("list", "watch")]);
    });
});

describe("NodeLiberator options", () => {
    test("custom namespace without creating it, custom ServiceAccount and mode", async () => {
        const lib = await build("ha", { namespace: "ops", createNamespace: false, serviceAccountName: "liberator-sa", mode: "deleteNode" });
        expect(k8sObjects(registered).filter((o) => o.kind === "Namespace")).toEqual([]);
        expect(findObject(registered, "ClusterRoleBinding").subjects).toEqual([{ kind: "ServiceAccount", name: "liberator-sa", namespace: "ops" }]);
        expect(await promiseOf(lib.clusterRoleName)).toBe("ops:ha");
        expect(envOf()).toMatchObject({ LIBERATOR_MODE: "deleteNode", LIBERATOR_NAMESPACE: "ops", LIBERATOR_LEASE_NAME: "ha" });
    });

    test("your own image: no ConfigMap, no command, the image's entrypoint", async () => {
        await build("liberator", { codeSource: "image", image: "registry.example/liberator:1.0" });
        expect(k8sObjects(registered).filter((o) => o.kind === "ConfigMap")).toEqual([]);
        expect(container().image).toBe("registry.example/liberator:1.0");
        expect(container().command).toBeUndefined();
        expect(container().volumeMounts).toEqual([]);
    });

    test("HTTP fence: URL, method and a token from a Secret (never a literal)", async () => {
        await build("liberator", {
            fence: { url: "https://pdu.example/off/{node}", method: "PUT", tokenSecret: { name: "pdu", key: "token" }, timeoutSeconds: 10 },
        });
        expect(envOf()).toMatchObject({
            LIBERATOR_FENCE_URL: "https://pdu.example/off/{node}",
            LIBERATOR_FENCE_METHOD: "PUT",
            LIBERATOR_FENCE_TIMEOUT: "10s",
            LIBERATOR_FENCE_TOKEN: { secretKeyRef: { name: "pdu", key: "token" } },
        });
    });

    test("command fence with its script mounted from a volume", async () => {
        await build("liberator", {
            fence: { command: ["/hooks/poweroff", "--hard"] },
            extraVolumes: [{ name: "hooks", configMap: { name: "fence-hooks", defaultMode: 0o555 } }],
            extraVolumeMounts: [{ name: "hooks", mountPath: "/hooks" }],
        });
        expect(envOf().LIBERATOR_FENCE_COMMAND).toBe('["/hooks/poweroff","--hard"]');
        expect(podSpec().volumes.map((v: any) => v.name)).toEqual(["hooks", "code"]);
    });

    test("the environment the component sets is what the controller parses", async () => {
        const { loadConfig } = await import("../../../liberator/config");
        const r = m.resolveNodeLiberatorArgs("lib", {
            mode: "deleteNode",
            unhealthyAfterSeconds: 90,
            maxUnhealthy: "34%",
            dryRun: true,
            optOutLabel: "example.com/keep",
            forceDeletePods: true,
            releaseLocalVolumes: true,
            orphanedVolumes: "delete",
            orphanedVolumeGraceSeconds: 120,
            stormWindowSeconds: 300,
            heartbeatIntervalSeconds: 5,
            leaderElection: { leaseDurationSeconds: 20, renewDeadlineSeconds: 12, retryPeriodSeconds: 3 },
            metricsPort: 9100,
            logLevel: "debug",
            fence: { command: ["/hooks/off"], retrySeconds: 45 },
        });
        const env = Object.fromEntries(m.liberatorEnv(r).map((e) => [e.name, e.value]));
        const cfg = loadConfig([], { ...env, NODE_NAME: "w1", POD_NAME: "liberator-x" });
        expect(cfg).toMatchObject({
            namespace: "tkr-system",
            nodeName: "w1",
            identity: "liberator-x",
            leaseName: "lib",
            leaseDurationMs: 20_000,
            renewDeadlineMs: 12_000,
            retryPeriodMs: 3_000,
            heartbeatIntervalMs: 5_000,
            metricsHost: "0.0.0.0",
            metricsPort: 9100,
            logLevel: "debug",
            fence: { type: "command", command: ["/hooks/off"], timeoutMs: 30_000 },
            decide: {
                mode: "deleteNode",
                unhealthyAfterMs: 90_000,
                maxUnhealthy: "34%",
                dryRun: true,
                optOutLabel: "example.com/keep",
                forceDeletePods: true,
                releaseLocalVolumes: true,
                fence: true,
                fenceRetryMs: 45_000,
                stormWindowMs: 300_000,
                orphanedVolumes: "delete",
                orphanedVolumeGraceMs: 120_000,
            },
        });
    });

    test("the component's constants are the controller's", async () => {
        const d = await import("../../../liberator/decide");
        expect(m.DEFAULT_LIBERATOR_OPT_OUT_LABEL).toBe(d.DEFAULT_OPT_OUT_LABEL);
        expect(m.LIBERATOR_LOCAL_VOLUME_POLICY_KEY).toBe(d.LOCAL_VOLUME_POLICY_KEY);
    });
});

describe("shipping the controller", () => {
    test("from the published package: reads the compiled dist/liberator/*.js (no source maps, no .d.ts)", () => {
        // Inside the repository (dist/ is ignored by git) so the compiled component finds node_modules.
        const root = path.join(__dirname, "..", "..", "..");
        fs.mkdirSync(path.join(root, "dist"), { recursive: true });
        const out = fs.mkdtempSync(path.join(root, "dist", ".liberator-test-"));
        try {
            execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", out], { cwd: root, stdio: "pipe" });
            const compiled = m.liberatorCode(path.join(out, "liberator"), false);
            const fromSource = m.liberatorCode();
            expect(Object.keys(compiled).sort()).toEqual(Object.keys(fromSource).sort());
            for (const js of Object.values(compiled)) expect(js).not.toContain("sourceMappingURL");
            // The packaged component finds it next to itself: dist/components/../liberator.
            expect(fs.existsSync(path.join(out, "components", "nodeliberator.js"))).toBe(true);
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled file, by path
            const packaged = require(path.join(out, "components", "nodeliberator.js"));
            expect(Object.keys(packaged.liberatorCode()).sort()).toEqual(Object.keys(fromSource).sort());
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    }, 60_000);

    test("a missing code directory is a clear error", () => {
        expect(() => m.liberatorCode("/nonexistent/liberator", false)).toThrow(
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
            args: { unhealthyAfterSeconds: 5 },
            message: 'NodeLiberator "liberator": unhealthyAfterSeconds = 5 is invalid: must be a whole number from 10 to 86400',
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
            args: { heartbeatIntervalSeconds: 30 },
            message:
                'NodeLiberator "liberator": heartbeatIntervalSeconds = 30 is invalid: must be at most a third of unhealthyAfterSeconds (60), or a live node could look dead between two renewals',
        },
        {
            args: { leaderElection: { leaseDurationSeconds: 10, renewDeadlineSeconds: 10 } },
            message:
                'NodeLiberator "liberator": leaderElection.renewDeadlineSeconds = 10 is invalid: must be less than leaseDurationSeconds (10), so a leader stops acting before another may start',
        },
        {
            args: { leaderElection: { retryPeriodSeconds: 10 } },
            message: 'NodeLiberator "liberator": leaderElection.retryPeriodSeconds = 10 is invalid: must be less than renewDeadlineSeconds (10)',
        },
        {
            args: { orphanedVolumes: "purge" },
            message: 'NodeLiberator "liberator": orphanedVolumes = "purge" is invalid: must be one of "ignore", "report", "delete"',
        },
        {
            args: { optOutLabel: "bad key!" },
            message:
                'NodeLiberator "liberator": optOutLabel = "bad key!" is invalid: must be a label key: an optional DNS subdomain prefix and "/", then a name of at most 63 letters, digits, "-", "_" and "."',
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
            args: { fence: { command: [] } },
            message: 'NodeLiberator "liberator": fence.command = [] is invalid: must be a non-empty list of non-empty strings such as ["/hooks/poweroff"]',
        },
        {
            args: { fence: { command: ["poweroff"] } },
            message:
                'NodeLiberator "liberator": fence.command[0] = "poweroff" is invalid: must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)',
        },
        {
            args: { codeSource: "image" },
            message:
                'NodeLiberator "liberator": image = undefined is invalid: must name your liberator image when codeSource is "image" (build one with liberator/Dockerfile)',
        },
        {
            args: { metricsPort: 80 },
            message: 'NodeLiberator "liberator": metricsPort = 80 is invalid: must be a whole number from 1024 to 65535 (the container runs unprivileged)',
        },
        { args: { dryRun: "yes" }, message: 'NodeLiberator "liberator": dryRun = "yes" is invalid: must be true or false' },
        {
            args: { labels: { "app.kubernetes.io/name": "x" } },
            message:
                'NodeLiberator "liberator": labels["app.kubernetes.io/name"] = "x" is invalid: is set by the component (it selects the liberator\'s pods) and cannot be overridden',
        },
    ])("$message", ({ args, message }) => {
        expect(bad(args)).toThrow(message);
    });

    test("every problem at once", () => {
        expect(bad({ mode: "x", unhealthyAfterSeconds: 0, maxUnhealthy: "x", logLevel: "loud" })).toThrow(
            [
                'NodeLiberator "liberator" has 4 invalid settings:',
                '  - mode = "x" is invalid: must be one of "outOfServiceTaint", "deleteNode"',
                "  - unhealthyAfterSeconds = 0 is invalid: must be a whole number from 10 to 86400",
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

    test.each([
        {
            args: {},
            resolved: {
                mode: "outOfServiceTaint",
                unhealthyAfterSeconds: 60,
                maxUnhealthy: 1,
                dryRun: false,
                optOutLabel: "liberator.pets/exclude",
                orphanedVolumes: "report",
                heartbeatIntervalSeconds: 10,
                leaseDurationSeconds: 15,
                renewDeadlineSeconds: 10,
                retryPeriodSeconds: 2,
            },
        },
        { args: { maxUnhealthy: "34%" }, resolved: { maxUnhealthy: "34%" } },
    ])("resolved defaults $args", ({ args, resolved }) => {
        expect(m.resolveNodeLiberatorArgs("liberator", args as any)).toMatchObject(resolved);
    });
});
