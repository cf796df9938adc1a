import { findObject, k8sObjects, promiseOf, Registered, schemaErrors, settle, setupMocks } from "../support/pulumi";

const registered = setupMocks();
type Mod = typeof import("../../components") &
    typeof import("../../components/mysql") &
    typeof import("../../components/nginxweb") &
    typeof import("../../components/kubia") &
    typeof import("../../components/generatedpassword");
let m: Mod;
let sw: typeof import("../../components/statefulworkload");

beforeAll(async () => {
    m = {
        ...(await import("../../components")),
        ...(await import("../../components/mysql")),
        ...(await import("../../components/nginxweb")),
        ...(await import("../../components/kubia")),
        ...(await import("../../components/generatedpassword")),
    };
    sw = await import("../../components/statefulworkload");
});
beforeEach(() => registered.splice(0));

/** A preset's StatefulWorkload, rendered directly: its Services and StatefulSet in `namespace`. */
function renderWorkload(name: string, workload: import("../../components/statefulworkload").StatefulWorkloadArgs, namespace = "default") {
    const r = sw.resolveStatefulWorkloadArgs(name, workload);
    return {
        sts: sw.renderStatefulSet(r, namespace) as any,
        headless: sw.renderHeadlessService(r, namespace) as any,
        client: sw.renderClientService(r, namespace) as any,
        pdb: sw.renderDisruptionBudget(r, namespace) as any,
    };
}

function secretValue(r: Registered[], name: string): string | undefined {
    return findObject(r, "Secret", name).stringData.password;
}

describe("MySql", () => {
    test("defaults: headless 3306, data at /var/lib/mysql subPath data, 2Gi, probes, secret ref", async () => {
        const r = m.resolveMySqlArgs("mysql", { namespace: "db" });
        expect(r.passwordSecretName).toBe("mysql-root-password");
        expect(m.renderMySqlPasswordSecret(r, "pw")).toMatchObject({
            metadata: { name: "mysql-root-password", namespace: "db" },
            stringData: { password: "pw" },
        });
        const { sts, headless: svc } = renderWorkload("mysql", r.workload, "db");
        expect(svc.spec.clusterIP).toBe("None");
        expect(svc.spec.ports).toEqual([{ name: "mysql", port: 3306, targetPort: 3306, protocol: "TCP" }]);
        const c = sts.spec.template.spec.containers[0];
        expect(c.image).toBe("mysql:8.4.6");
        expect(c.volumeMounts).toEqual([{ name: "data", mountPath: "/var/lib/mysql", subPath: "data" }]);
        expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("2Gi");
        expect(c.livenessProbe.exec.command).toEqual(["mysqladmin", "ping", "-h", "127.0.0.1"]);
        expect(c.readinessProbe.exec.command.join(" ")).toContain("SELECT 1");
        expect(c.env).toEqual([{ name: "MYSQL_ROOT_PASSWORD", valueFrom: { secretKeyRef: { name: "mysql-root-password", key: "password" } } }]);
        expect(sts.spec.template.spec.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" } });
        expect(sts.spec.template.spec.terminationGracePeriodSeconds).toBe(60);

        // Wiring: the Secret and the workload as children; outputs.
        const db = new m.MySql("mysql", { namespace: "db" });
        expect(await promiseOf(db.hosts)).toEqual(["mysql-0.mysql.db.svc.cluster.local"]);
        expect(await promiseOf(db.pvcNames)).toEqual(["data-mysql-0"]);
        expect(await promiseOf(db.rootPasswordSecretName)).toBe("mysql-root-password");
        await settle();
        expect(await promiseOf(db.workload.urn)).toBe("urn:pulumi:test::pets::pets:index:MySql$pets:index:StatefulWorkload::mysql");
        expect(findObject(registered, "StatefulSet", "mysql").spec.template.spec.containers[0].env).toEqual(c.env);
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("generates the root password when none is given, as a secret output", async () => {
        const db = new m.MySql("mysql", {});
        await promiseOf(db.hosts);
        await settle();
        expect(registered.some((r) => r.type.startsWith("pulumi-nodejs:") && r.name === "mysql-root-password")).toBe(true);
        expect(secretValue(registered, "mysql-root-password")).toBe("mock-generated-mysql-root-password");
        expect(await (await import("@pulumi/pulumi")).isSecret(db.rootPassword!)).toBe(true);
    });

    test("uses the given password and keeps it secret", async () => {
        const { secret } = await import("@pulumi/pulumi");
        const db = new m.MySql("mysql", { rootPassword: secret("from-config"), database: "shop" });
        await promiseOf(db.hosts);
        await settle();
        expect(registered.some((r) => r.type.startsWith("pulumi-nodejs:"))).toBe(false);
        expect(secretValue(registered, "mysql-root-password")).toBe("from-config");
        expect(await (await import("@pulumi/pulumi")).isSecret(db.rootPassword!)).toBe(true);
        const env = findObject(registered, "StatefulSet", "mysql").spec.template.spec.containers[0].env;
        expect(env).toContainEqual({ name: "MYSQL_DATABASE", value: "shop" });
    });
});

describe("MySql with an existing Secret", () => {
    test("creates no Secret and no password, and reads the named one", async () => {
        const db = new m.MySql("mysql", { existingRootPasswordSecret: "sealed-mysql" });
        await promiseOf(db.hosts);
        await settle();
        expect(k8sObjects(registered).filter((o) => o.kind === "Secret")).toEqual([]);
        expect(registered.some((r) => r.type.startsWith("pulumi-nodejs:"))).toBe(false);
        expect(await promiseOf(db.rootPasswordSecretName)).toBe("sealed-mysql");
        const r = m.resolveMySqlArgs("mysql", { existingRootPasswordSecret: "sealed-mysql" });
        expect(r.createsPasswordSecret).toBe(false);
        const env = renderWorkload("mysql", r.workload).sts.spec.template.spec.containers[0].env;
        expect(env[0].valueFrom.secretKeyRef).toEqual({ name: "sealed-mysql", key: "password" });
    });

    test("refuses a password together with an existing Secret", async () => {
        const { secret } = await import("@pulumi/pulumi");
        expect(() => new m.MySql("mysql", { existingRootPasswordSecret: "s", rootPassword: secret("x") })).toThrow(
            'MySql "mysql": rootPassword = "(secret)" is invalid: must not be set together with existingRootPasswordSecret; the password lives in that Secret',
        );
    });
});

describe("NginxWeb", () => {
    test("serves a per-pod 1Gi volume at the web root, restricted, port 80 → 8080", async () => {
        const r = m.resolveNginxWebArgs("web", { storageClassName: "local-path" });
        expect(m.renderNginxConfConfigMap(r)).toBeUndefined();
        const { sts, headless } = renderWorkload("web", r.workload);
        expect(sts.spec.replicas).toBe(2);
        expect(sts.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: "www", mountPath: "/usr/share/nginx/html" }]);
        expect(sts.spec.volumeClaimTemplates[0].spec).toEqual({
            accessModes: ["ReadWriteOnce"],
            storageClassName: "local-path",
            resources: { requests: { storage: "1Gi" } },
        });
        expect(sts.spec.template.spec.securityContext).toEqual({
            seccompProfile: { type: "RuntimeDefault" },
            runAsNonRoot: true,
            runAsUser: 101,
            runAsGroup: 101,
        });
        expect(headless.spec.ports).toEqual([{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }]);

        // Wiring: the workload as a child; outputs.
        const web = new m.NginxWeb("web", { storageClassName: "local-path" });
        expect(await promiseOf(web.pvcNames)).toEqual(["www-web-0", "www-web-1"]);
        expect(await promiseOf(web.podDnsNames)).toEqual(["web-0.web.default.svc.cluster.local", "web-1.web.default.svc.cluster.local"]);
        await settle();
        expect(await promiseOf(web.workload.urn)).toBe("urn:pulumi:test::pets::pets:index:NginxWeb$pets:index:StatefulWorkload::web");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("with tls: HTTPS on 8443 behind port 443, with a certificate naming every pod and a server block that uses it", async () => {
        const r = m.resolveNginxWebArgs("tlsweb", { namespace: "shop", replicas: 3, tls: { issuerRef: { name: "ca", kind: "Issuer" } } });
        const { sts, headless } = renderWorkload("tlsweb", r.workload, "shop");
        const c = sts.spec.template.spec.containers[0];
        expect(c.ports).toEqual([
            { name: "http", containerPort: 8080, protocol: "TCP" },
            { name: "https", containerPort: 8443, protocol: "TCP" },
        ]);
        expect(c.volumeMounts).toEqual(
            expect.arrayContaining([
                { name: "nginx-conf", mountPath: "/etc/nginx/conf.d", readOnly: true },
                expect.objectContaining({ mountPath: "/etc/tls", readOnly: true }),
            ]),
        );
        const conf: any = m.renderNginxConfConfigMap(r);
        expect(conf.metadata).toEqual({ name: "tlsweb-nginx-conf", namespace: "shop" });
        expect(sts.spec.template.metadata.annotations["pets/nginx-conf-sha256"]).toMatch(/^[0-9a-f]{64}$/);
        expect(conf.data["default.conf"]).toBe(
            m.nginxServerConf({ webRoot: "/usr/share/nginx/html", containerPort: 8080, httpsPort: 8443, tlsMountPath: "/etc/tls" }),
        );
        expect(conf.data["default.conf"]).toContain("listen 8443 ssl;\n    ssl_certificate /etc/tls/tls.crt;\n    ssl_certificate_key /etc/tls/tls.key;");
        expect(headless.spec.ports).toEqual([
            { name: "http", port: 80, targetPort: 8080, protocol: "TCP" },
            { name: "https", port: 443, targetPort: 8443, protocol: "TCP" },
        ]);
        expect(() => new m.NginxWeb("bad", { tls: { issuerRef: { name: "ca" } }, httpsPort: 8080 })).toThrow(
            'NginxWeb "bad": httpsPort = 8080 is invalid: must differ from containerPort (8080)',
        );
        expect(schemaErrors([conf, sts, headless])).toEqual([]);

        // Wiring: the ConfigMap before the workload, the certificate with every pod's name.
        const web = new m.NginxWeb("tlsweb", { namespace: "shop", replicas: 3, tls: { issuerRef: { name: "ca", kind: "Issuer" } } });
        await promiseOf(web.pvcNames);
        await settle();
        expect(findObject(registered, "ConfigMap", "tlsweb-nginx-conf").data).toEqual(conf.data);
        expect(await promiseOf(web.serverConf!.urn)).toBe("urn:pulumi:test::pets::pets:index:NginxWeb$kubernetes:core/v1:ConfigMap::tlsweb-nginx-conf");
        const cert = findObject(registered, "Certificate", "tlsweb-tls");
        expect(cert.spec.dnsNames).toEqual(expect.arrayContaining(["tlsweb-0.tlsweb.shop.svc.cluster.local", "tlsweb-2.tlsweb.shop.svc.cluster.local"]));
        expect((await promiseOf(web.tls!)).secretName).toBe("tlsweb-tls");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("a canary partition passes through to the StatefulSet", async () => {
        const r = m.resolveNginxWebArgs("web", { replicas: 3, workload: { updateStrategy: { type: "RollingUpdate", partition: 2 } } });
        const { sts } = renderWorkload("web", r.workload);
        expect(sts.spec.updateStrategy.rollingUpdate.partition).toBe(2);
        expect(sts.metadata.annotations["pulumi.com/waitFor"]).toBe("jsonpath={.status.readyReplicas}=3");
    });
});

describe("Kubia", () => {
    test("our kubia app from a ConfigMap on a pinned Node image, port 8080 behind a port-80 headless Service, 1Mi claim at /var/data", async () => {
        const rd = m.resolveKubiaArgs("kubia-default", {});
        const dflt = renderWorkload("kubia-default", rd.workload).sts.spec.template.spec;
        expect(dflt.containers[0].image).toBe("node:22.12.0-alpine");
        expect(dflt.containers[0].image).toMatch(/:\d+\.\d+\.\d+/);
        expect(dflt.containers[0].command).toEqual(["node", "/opt/kubia/app.js"]);
        expect(dflt.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
        const app: any = m.renderKubiaAppConfigMap(rd);
        expect(app.metadata).toEqual({ name: "kubia-default-app", namespace: "default" });
        expect(app.data["app.js"]).toBe(m.KUBIA_APP);

        const r = m.resolveKubiaArgs("kubia", { image: "luksa/kubia-pet:v2" });
        const { sts, headless: svc, client } = renderWorkload("kubia", r.workload);
        expect(svc.spec.clusterIP).toBe("None");
        expect(svc.spec.ports).toEqual([{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }]);
        expect(sts.spec.template.spec.containers[0].image).toBe("luksa/kubia-pet:v2");
        expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
        expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("1Mi");
        expect(sts.spec.template.spec.containers[0].volumeMounts).toEqual([
            { name: "data", mountPath: "/var/data" },
            { name: "app", mountPath: "/opt/kubia", readOnly: true },
        ]);
        expect(client.metadata.name).toBe("kubia-client");
        expect(schemaErrors([app, sts, svc, client])).toEqual([]);

        // Wiring: the app's ConfigMap before the workload; outputs.
        const k = new m.Kubia("kubia", { image: "luksa/kubia-pet:v2" });
        expect(await promiseOf(k.srvName)).toBe("kubia.default.svc.cluster.local");
        expect(await promiseOf(k.podDnsNames)).toEqual(["kubia-0.kubia.default.svc.cluster.local", "kubia-1.kubia.default.svc.cluster.local"]);
        await settle();
        expect(await promiseOf(k.app.urn)).toBe("urn:pulumi:test::pets::pets:index:Kubia$kubernetes:core/v1:ConfigMap::kubia-app");
        expect(findObject(registered, "StatefulSet", "kubia").spec.template.spec.containers[0].image).toBe("luksa/kubia-pet:v2");
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });
});

describe("GeneratedPassword", () => {
    test("the provider draws letters and digits of the asked length, different each time", async () => {
        const a = await m.generatedPasswordProvider.create({ length: 32 });
        const b = await m.generatedPasswordProvider.create({ length: 32 });
        expect(a.outs.result).toMatch(/^[A-Za-z0-9]{32}$/);
        expect(a.outs.result).not.toBe(b.outs.result);
        expect(await m.generatedPasswordProvider.diff!("id", { length: 32 }, { length: 32 })).toEqual({ changes: false, replaces: [] });
        expect(await m.generatedPasswordProvider.diff!("id", { length: 32 }, { length: 40 })).toEqual({ changes: true, replaces: ["length"] });
    });

    test("rejects a short length", () => {
        expect(() => new m.GeneratedPassword("p", { length: 8 })).toThrow(
            'GeneratedPassword "p": length = 8 is invalid: must be a whole number from 16 to 128',
        );
    });
});

describe("MySql with TLS", () => {
    test("mounts the certificate and starts mysqld with its files", async () => {
        const args = { replicas: 2, tls: { issuerRef: { name: "pets-ca", kind: "Issuer", group: "cert-manager.io" }, requireSecureTransport: true } };
        const c = renderWorkload("mysql", m.resolveMySqlArgs("mysql", args).workload).sts.spec.template.spec.containers[0];
        expect(c.args).toEqual(["--ssl-ca=/etc/tls/ca.crt", "--ssl-cert=/etc/tls/tls.crt", "--ssl-key=/etc/tls/tls.key", "--require-secure-transport=ON"]);
        expect(c.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: "/etc/tls", readOnly: true }));

        // Wiring: the certificate names every server.
        const db = new m.MySql("mysql", args);
        await promiseOf(db.hosts);
        await settle();
        const cert = findObject(registered, "Certificate");
        expect(cert.spec.dnsNames).toEqual(expect.arrayContaining(["mysql-0.mysql.default.svc.cluster.local", "mysql-1.mysql.default.svc.cluster.local"]));
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });
});

describe("the kubia app, run for real with node", () => {
    test("POST stores the body in the pod's volume; GET answers with the host name and the data; /cluster reports a failed SRV lookup", async () => {
        const { spawn } = await import("child_process");
        const fs = await import("fs");
        const os = await import("os");
        const path = await import("path");
        const net = await import("net");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubia-"));
        const port = await new Promise<number>((resolve) => {
            const s = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (s.address() as any).port;
                s.close(() => resolve(p));
            });
        });
        fs.writeFileSync(path.join(dir, "app.js"), m.KUBIA_APP);
        const child = spawn(process.execPath, [path.join(dir, "app.js")], {
            env: {
                KUBIA_PORT: String(port),
                KUBIA_DATA_FILE: path.join(dir, "kubia.txt"),
                KUBIA_SERVICE: "kubia",
                POD_NAMESPACE: "ns",
                CLUSTER_DOMAIN: "invalid",
            },
        });
        try {
            await new Promise((resolve) => child.stdout.once("data", resolve));
            const call = async (method: string, urlPath: string, body?: string) => {
                const r = await fetch(`http://127.0.0.1:${port}${urlPath}`, { method, body });
                return { status: r.status, text: await r.text() };
            };
            expect((await call("GET", "/")).text).toBe(`You've hit ${os.hostname()}\nData stored on this pod: No data posted yet\n`);
            expect((await call("POST", "/", "Hey there!")).text).toBe(`Data stored on pod ${os.hostname()}\n`);
            expect(fs.readFileSync(path.join(dir, "kubia.txt"), "utf8")).toBe("Hey there!");
            expect((await call("GET", "/")).text).toBe(`You've hit ${os.hostname()}\nData stored on this pod: Hey there!\n`);
            const cluster = await call("GET", "/cluster");
            expect(cluster.status).toBe(503);
            expect(cluster.text).toMatch(/^SRV lookup of _http\._tcp\.kubia\.ns\.svc\.invalid failed/);
        } finally {
            child.kill();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }, 30_000);
});
