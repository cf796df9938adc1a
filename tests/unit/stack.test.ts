import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../support/pulumi";
import { parseStackConfig } from "../../stacks/config";

const root = path.join(__dirname, "..", "..");
const registered = setupMocks({ project: "pets", stack: "dev" });

describe("stack config", () => {
    test("defaults", () => {
        expect(parseStackConfig({})).toEqual({
            namespace: "pets",
            storageClassName: undefined,
            web: {
                enabled: true,
                replicas: 3,
                partition: 0,
                image: undefined,
                storageSize: "1Gi",
                localVolumePolicy: "wait",
                podManagementPolicy: "OrderedReady",
            },
            liberator: { enabled: true },
            tls: { enabled: false, installCertManager: false, waitForReady: true },
            mysql: {
                enabled: true,
                replicas: 1,
                image: undefined,
                storageSize: "2Gi",
                database: undefined,
                existingRootPasswordSecret: undefined,
                podManagementPolicy: "OrderedReady",
            },
            renderYamlTo: undefined,
            kubia: { enabled: false, replicas: 2, image: undefined },
            localPath: {
                enabled: true,
                namespace: "pets-local-path",
                storageClassName: "local-path",
                reclaimPolicy: "Retain",
                nodePath: undefined,
                sharedFileSystemPath: undefined,
                isDefaultClass: false,
                image: undefined,
                helperImage: undefined,
                imagePullPolicy: undefined,
            },
        });
    });

    test.each([
        [
            { namespace: "Pets" },
            "stack config: pets:namespace = \"Pets\" is invalid: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        ],
        [{ web: { replicas: -1 } }, "stack config: pets:web.replicas = -1 is invalid: must be a whole number >= 0"],
        [{ web: { replicas: 2, partition: 3 } }, "stack config: pets:web.partition = 3 is invalid: must be at most pets:web.replicas (2)"],
        [
            { web: { replica: 2 } },
            "stack config: pets:web.replica = 2 is invalid: is not a known setting; known settings are enabled, replicas, partition, image, storageSize, localVolumePolicy, podManagementPolicy",
        ],
        [
            { mysql: { storageSize: "2GB" } },
            'stack config: pets:mysql.storageSize = "2GB" is invalid: must be a positive Kubernetes quantity such as "1Gi", "500Mi" or "10G" (binary suffixes Ki, Mi, Gi, Ti, Pi, Ei; decimal k, M, G, T, P, E)',
        ],
        [{ mysql: { enabled: "yes" } }, 'stack config: pets:mysql.enabled = "yes" is invalid: must be true or false'],
        [{ localPath: { reclaimPolicy: "Keep" } }, 'stack config: pets:localPath.reclaimPolicy = "Keep" is invalid: must be one of "Delete", "Retain"'],
        [
            { localPath: { nodePath: "data" } },
            'stack config: pets:localPath.nodePath = "data" is invalid: must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)',
        ],
        [{ kubia: "on" }, 'stack config: pets:kubia = "on" is invalid: must be an object (a YAML mapping)'],
        [
            { localPath: { nodePath: "/data", sharedFileSystemPath: "/srv/nfs" } },
            'stack config: pets:localPath.sharedFileSystemPath = "/srv/nfs" is invalid: must not be set together with pets:localPath.nodePath (one or the other)',
        ],
        [
            { localPath: { imagePullPolicy: "Sometimes" } },
            'stack config: pets:localPath.imagePullPolicy = "Sometimes" is invalid: must be one of "Always", "IfNotPresent", "Never"',
        ],
        [
            { liberator: { selfFence: { timeoutSeconds: 2 } } },
            "stack config: pets:liberator.selfFence.timeoutSeconds = 2 is invalid: must be a whole number from 5 to 600",
        ],
        [
            { liberator: { fence: { url: "http://pdu/off/{node}", tokenSecret: { name: "pdu", key: "token" } } } },
            'stack config: pets:liberator.fence.url = "http://pdu/off/{node}" is invalid: must be an https:// URL when fence.tokenSecret is set: a bearer token is never sent in clear text',
        ],
        [{ liberator: { unsafeNoFencing: "yes" } }, 'stack config: pets:liberator.unsafeNoFencing = "yes" is invalid: must be true or false'],
    ])("rejects %j", (raw, message) => {
        expect(() => parseStackConfig(raw as Record<string, unknown>)).toThrow(message);
    });

    test("Pulumi.dev.yaml parses and holds no password", () => {
        const text = fs.readFileSync(path.join(root, "Pulumi.dev.yaml"), "utf8");
        const doc = yaml.load(text) as { config: Record<string, unknown> };
        const raw: Record<string, unknown> = {};
        for (const [k, val] of Object.entries(doc.config)) if (k.startsWith("pets:")) raw[k.slice(5)] = val;
        expect(() => parseStackConfig(raw)).not.toThrow();
        expect(Object.keys(doc.config).filter((k) => /password/i.test(k))).toEqual([]);
    });
});

describe("the dev program under mocks", () => {
    test("deploys the namespace, the web and MySQL pets; every object schema-valid; no plaintext password", async () => {
        const pulumi = await import("@pulumi/pulumi");
        const doc = yaml.load(fs.readFileSync(path.join(root, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
        const config: Record<string, string> = {};
        for (const [k, val] of Object.entries(doc.config)) config[k] = typeof val === "string" ? val : JSON.stringify(val);
        registered.splice(0);
        pulumi.runtime.setAllConfig(config);
        const program = await import("../../index");
        await settle();
        await settle();
        // The generated password is a stack output, and a secret one.
        expect(await promiseOf(program.mysqlRootPassword as any)).toBe("mock-generated-mysql-root-password");
        expect(await pulumi.isSecret(program.mysqlRootPassword as any)).toBe(true);
        findObject(registered, "Namespace", "pets");
        const web = findObject(registered, "StatefulSet", "web");
        expect(web.metadata.namespace).toBe("pets");
        expect(web.spec.replicas).toBe(3);
        expect(web.spec.volumeClaimTemplates[0].spec.storageClassName).toBe("local-path");
        const sc = findObject(registered, "StorageClass", "local-path");
        expect(sc.volumeBindingMode).toBe("WaitForFirstConsumer");
        expect(sc.reclaimPolicy).toBe("Retain");
        findObject(registered, "Namespace", "pets-local-path");
        const ds = findObject(registered, "DaemonSet");
        expect(ds.metadata.namespace).toBe("tkr-system");
        expect(ds.spec.template.spec.serviceAccountName).toBe("high-availability-agent");
        expect(findObject(registered, "Deployment", "liberator-controller").spec.template.spec.serviceAccountName).toBe("high-availability");
        const mysql = findObject(registered, "StatefulSet", "mysql");
        expect(mysql.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name).toBe("mysql-root-password");
        expect(findObject(registered, "Secret", "mysql-root-password").stringData.password).toBe("mock-generated-mysql-root-password");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    }, 60_000);
});

describe("render mode under mocks", () => {
    test("a render provider carries every object, and no Secret or password is rendered", async () => {
        registered.splice(0);
        const { deployDev } = await import("../../stacks/dev");
        deployDev({ config: parseStackConfig({ renderYamlTo: "rendered" }) });
        await settle();
        await settle();
        const provider = registered.find((r) => r.type === "pulumi:providers:kubernetes");
        expect(provider?.inputs.renderYamlToDirectory).toBe("rendered");
        expect(k8sObjects(registered).filter((o) => o.kind === "Secret")).toEqual([]);
        expect(registered.some((r) => r.type.startsWith("pulumi-nodejs:"))).toBe(false);
        const mysql = findObject(registered, "StatefulSet", "mysql");
        expect(mysql.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name).toBe("mysql-root-password");
        // Every Kubernetes object, nested in components or not, goes through the render provider.
        const k8sResources = registered.filter((r) => r.type.startsWith("kubernetes:"));
        expect(k8sResources.length).toBeGreaterThan(20);
        for (const r of k8sResources) expect(`${r.type} ${r.name} ${r.provider}`).toMatch(/::render-yaml::/);
    });

    test("renderOnly pins the render provider and refuses an object with another Kubernetes provider", async () => {
        const k8s = await import("@pulumi/kubernetes");
        const { renderOnly } = await import("../../stacks/render");
        registered.splice(0);
        const render = new k8s.Provider("render-only-test", { renderYamlToDirectory: "out" });
        const cluster = new k8s.Provider("a-cluster", { kubeconfig: "{}" });
        const guard = [renderOnly(render)];
        new k8s.core.v1.ConfigMap("pinned", { metadata: { name: "pinned" } }, { transformations: guard });
        expect(() => new k8s.core.v1.ConfigMap("elsewhere", { metadata: { name: "elsewhere" } }, { provider: cluster, transformations: guard })).toThrow(
            'render mode: kubernetes:core/v1:ConfigMap "elsewhere" would use a Kubernetes provider other than the render provider, so it could be applied to a cluster; in render mode every Kubernetes resource must use the provider that has renderYamlToDirectory set (or unset pets:renderYamlTo to deploy)',
        );
        await settle();
        expect(registered.find((r) => r.name === "pinned")?.provider).toMatch(/::render-only-test::/);
        expect(registered.some((r) => r.name === "elsewhere")).toBe(false);
    });
});

describe("TLS in the dev stack under mocks", () => {
    test("a private CA signs certificates naming every web and MySQL pod", async () => {
        registered.splice(0);
        const { deployDev } = await import("../../stacks/dev");
        deployDev({ config: parseStackConfig({ tls: { enabled: true } }) });
        await settle();
        await settle();
        const certs = k8sObjects(registered).filter((o) => o.kind === "Certificate");
        const web = certs.find((c) => c.metadata.name === "web-tls");
        expect(web.spec.dnsNames).toEqual(expect.arrayContaining(["web-0.web.pets.svc.cluster.local", "web-2.web.pets.svc.cluster.local"]));
        expect(web.spec.issuerRef.name).toBe("pets-ca");
        expect(certs.map((c) => c.metadata.name).sort()).toEqual(["mysql-tls", "pets-ca-ca", "web-tls"]);
        expect(findObject(registered, "StatefulSet", "mysql").spec.template.spec.containers[0].args).toContain("--ssl-ca=/etc/tls/ca.crt");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });
});
