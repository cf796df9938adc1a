import { findObject, k8sObjects, promiseOf, Registered, schemaErrors, settle, setupMocks } from "../support/pulumi";

const registered = setupMocks();
type Mod = typeof import("../../components");
let m: Mod;

beforeAll(async () => {
    m = await import("../../components");
});
beforeEach(() => registered.splice(0));

function secretValue(r: Registered[], name: string): string | undefined {
    return findObject(r, "Secret", name).stringData.password;
}

describe("MySql", () => {
    test("defaults: headless 3306, data at /var/lib/mysql subPath data, 2Gi, probes, secret ref", async () => {
        const db = new m.MySql("mysql", { namespace: "db" });
        await promiseOf(db.hosts);
        await settle();
        const svc = findObject(registered, "Service", "mysql");
        expect(svc.spec.clusterIP).toBe("None");
        expect(svc.spec.ports).toEqual([{ name: "mysql", port: 3306, targetPort: 3306, protocol: "TCP" }]);
        const sts = findObject(registered, "StatefulSet", "mysql");
        const c = sts.spec.template.spec.containers[0];
        expect(c.image).toBe("mysql:8.4.6");
        expect(c.volumeMounts).toEqual([{ name: "data", mountPath: "/var/lib/mysql", subPath: "data" }]);
        expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("2Gi");
        expect(c.livenessProbe.exec.command).toEqual(["mysqladmin", "ping", "-h", "127.0.0.1"]);
        expect(c.readinessProbe.exec.command.join(" ")).toContain("SELECT 1");
        expect(c.env).toEqual([{ name: "MYSQL_ROOT_PASSWORD", valueFrom: { secretKeyRef: { name: "mysql-root-password", key: "password" } } }]);
        expect(await promiseOf(db.hosts)).toEqual(["mysql-0.mysql.db.svc.cluster.local"]);
        expect(await promiseOf(db.pvcNames)).toEqual(["data-mysql-0"]);
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
        const env = findObject(registered, "StatefulSet", "mysql").spec.template.spec.containers[0].env;
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
        const web = new m.NginxWeb("web", { storageClassName: "local-path" });
        await promiseOf(web.pvcNames);
        await settle();
        const sts = findObject(registered, "StatefulSet", "web");
        expect(sts.spec.replicas).toBe(2);
        expect(sts.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: "www", mountPath: "/usr/share/nginx/html" }]);
        expect(sts.spec.volumeClaimTemplates[0].spec).toEqual({
            accessModes: ["ReadWriteOnce"],
            storageClassName: "local-path",
            resources: { requests: { storage: "1Gi" } },
        });
        expect(sts.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
        expect(findObject(registered, "Service", "web").spec.ports).toEqual([{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }]);
        expect(await promiseOf(web.pvcNames)).toEqual(["www-web-0", "www-web-1"]);
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("with tls: HTTPS on 8443 behind port 443, with a certificate naming every pod and a server block that uses it", async () => {
        const web = new m.NginxWeb("tlsweb", { namespace: "shop", replicas: 3, tls: { issuerRef: { name: "ca", kind: "Issuer" } } });
        await promiseOf(web.pvcNames);
        await settle();
        const sts = findObject(registered, "StatefulSet", "tlsweb");
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
        const conf = findObject(registered, "ConfigMap", "tlsweb-nginx-conf");
        expect(conf.metadata.namespace).toBe("shop");
        expect(conf.data["default.conf"]).toBe(
            m.nginxServerConf({ webRoot: "/usr/share/nginx/html", containerPort: 8080, httpsPort: 8443, tlsMountPath: "/etc/tls" }),
        );
        expect(conf.data["default.conf"]).toContain("listen 8443 ssl;\n    ssl_certificate /etc/tls/tls.crt;\n    ssl_certificate_key /etc/tls/tls.key;");
        const cert = findObject(registered, "Certificate", "tlsweb-tls");
        expect(cert.spec.dnsNames).toEqual(expect.arrayContaining(["tlsweb-0.tlsweb.shop.svc.cluster.local", "tlsweb-2.tlsweb.shop.svc.cluster.local"]));
        expect(findObject(registered, "Service", "tlsweb").spec.ports).toEqual([
            { name: "http", port: 80, targetPort: 8080, protocol: "TCP" },
            { name: "https", port: 443, targetPort: 8443, protocol: "TCP" },
        ]);
        expect(() => new m.NginxWeb("bad", { tls: { issuerRef: { name: "ca" } }, httpsPort: 8080 })).toThrow(
            'NginxWeb "bad": httpsPort = 8080 is invalid: must differ from containerPort (8080)',
        );
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("a canary partition passes through to the StatefulSet", async () => {
        const web = new m.NginxWeb("web", { replicas: 3, workload: { updateStrategy: { type: "RollingUpdate", partition: 2 } } });
        await promiseOf(web.pvcNames);
        await settle();
        const sts = findObject(registered, "StatefulSet", "web");
        expect(sts.spec.updateStrategy.rollingUpdate.partition).toBe(2);
        expect(sts.metadata.annotations["pulumi.com/waitFor"]).toBe("jsonpath={.status.readyReplicas}=3");
    });
});

describe("Kubia", () => {
    test("our kubia app from a ConfigMap on a pinned Node image, port 8080 behind a port-80 headless Service, 1Mi claim at /var/data", async () => {
        const d = new m.Kubia("kubia-default", {});
        await promiseOf(d.podDnsNames);
        await settle();
        const dflt = findObject(registered, "StatefulSet", "kubia-default").spec.template.spec;
        expect(dflt.containers[0].image).toBe("node:22.12.0-alpine");
        expect(dflt.containers[0].image).toMatch(/:\d+\.\d+\.\d+/);
        expect(dflt.containers[0].command).toEqual(["node", "/opt/kubia/app.js"]);
        expect(dflt.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
        expect(findObject(registered, "ConfigMap", "kubia-default-app").data["app.js"]).toBe(m.KUBIA_APP);

        const k = new m.Kubia("kubia", { image: "luksa/kubia-pet:v2" });
        await promiseOf(k.podDnsNames);
        await settle();
        const svc = findObject(registered, "Service", "kubia");
        expect(svc.spec.clusterIP).toBe("None");
        expect(svc.spec.ports).toEqual([{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }]);
        const sts = findObject(registered, "StatefulSet", "kubia");
        expect(sts.spec.template.spec.containers[0].image).toBe("luksa/kubia-pet:v2");
        expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
        expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("1Mi");
        expect(sts.spec.template.spec.containers[0].volumeMounts).toEqual([
            { name: "data", mountPath: "/var/data" },
            { name: "app", mountPath: "/opt/kubia", readOnly: true },
        ]);
        expect(await promiseOf(k.srvName)).toBe("kubia.default.svc.cluster.local");
        expect(await promiseOf(k.podDnsNames)).toEqual(["kubia-0.kubia.default.svc.cluster.local", "kubia-1.kubia.default.svc.cluster.local"]);
        findObject(registered, "Service", "kubia-client");
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
        const db = new m.MySql("mysql", {
            replicas: 2,
            tls: { issuerRef: { name: "pets-ca", kind: "Issuer", group: "cert-manager.io" }, requireSecureTransport: true },
        });
        await promiseOf(db.hosts);
        await settle();
        const c = findObject(registered, "StatefulSet", "mysql").spec.template.spec.containers[0];
        expect(c.args).toEqual(["--ssl-ca=/etc/tls/ca.crt", "--ssl-cert=/etc/tls/tls.crt", "--ssl-key=/etc/tls/tls.key", "--require-secure-transport=ON"]);
        expect(c.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: "/etc/tls", readOnly: true }));
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
