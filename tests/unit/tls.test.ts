import * as pulumi from "@pulumi/pulumi";
import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../support/pulumi";

const registered = setupMocks();
type Tls = typeof import("../../components/tls");
type Sw = typeof import("../../components/statefulworkload");
let tls: Tls;
let m: Sw;
let v: typeof import("../../components/validation");

beforeAll(async () => {
    tls = await import("../../components/tls");
    m = await import("../../components/statefulworkload");
    v = await import("../../components/validation");
});
beforeEach(() => registered.splice(0));

const issuerRef = { name: "pets-ca", kind: "Issuer" };

async function build(name: string, args: Partial<import("../../components/statefulworkload").StatefulWorkloadArgs> = {}) {
    const wl = new m.StatefulWorkload(name, { image: "nginx:1.27", ports: [{ name: "http", containerPort: 8080 }], ...args });
    await promiseOf(wl.pvcNames);
    if (wl.tls) await promiseOf(wl.tls);
    await settle();
    return wl;
}

describe("SANs", () => {
    const pod = (p: string, svc: string, ns: string) => [`${p}.${svc}.${ns}.svc.cluster.local`, `${p}.${svc}`, `${p}.${svc}.${ns}`, `${p}.${svc}.${ns}.svc`];
    const svc = (s: string, ns: string, domain = "cluster.local") => [s, `${s}.${ns}`, `${s}.${ns}.svc`, `${s}.${ns}.svc.${domain}`];

    test.each([
        { replicas: 0, ns: "default", start: 0, expected: [...svc("db", "default")] },
        { replicas: 1, ns: "default", start: 0, expected: [...pod("db-0", "db", "default"), ...svc("db", "default")] },
        {
            replicas: 3,
            ns: "shop",
            start: 0,
            expected: [...pod("db-0", "db", "shop"), ...pod("db-1", "db", "shop"), ...pod("db-2", "db", "shop"), ...svc("db", "shop")],
        },
        { replicas: 2, ns: "team-a", start: 5, expected: [...pod("db-5", "db", "team-a"), ...pod("db-6", "db", "team-a"), ...svc("db", "team-a")] },
    ])("$replicas replicas in $ns from ordinal $start", ({ replicas, ns, start, expected }) => {
        expect(tls.tlsDnsNames({ statefulSetName: "db", serviceName: "db", namespace: ns, replicas, ordinalsStart: start })).toEqual(expected);
    });

    test("separate headless Service, client Service, custom domain, extra names, no duplicates", () => {
        const names = tls.tlsDnsNames({
            statefulSetName: "mysql",
            serviceName: "mysql-peers",
            namespace: "db",
            replicas: 1,
            clusterDomain: "k8s.example",
            clientServiceName: "mysql-client",
            additional: ["db.example.com", "mysql-client"],
        });
        expect(names).toEqual([
            "mysql-0.mysql-peers.db.svc.k8s.example",
            "mysql-0.mysql-peers",
            "mysql-0.mysql-peers.db",
            "mysql-0.mysql-peers.db.svc",
            ...svc("mysql-peers", "db", "k8s.example"),
            ...svc("mysql-client", "db", "k8s.example"),
            "db.example.com",
        ]);
    });

    test("a scale-up only appends names", () => {
        const two = tls.tlsDnsNames({ statefulSetName: "db", serviceName: "db", namespace: "d", replicas: 2 });
        const three = tls.tlsDnsNames({ statefulSetName: "db", serviceName: "db", namespace: "d", replicas: 3 });
        expect(three.filter((n) => !two.includes(n))).toEqual(pod("db-2", "db", "d"));
        expect(two.every((n) => three.includes(n))).toBe(true);
    });
});

describe("Go durations", () => {
    test.each([
        ["2160h", 2160 * 3600e9],
        ["1h30m", 5400e9],
        ["1.5h", 5400e9],
        ["90m", 5400e9],
        ["300s", 300e9],
        ["+1h", 3600e9],
        ["-1h", -3600e9],
        ["0", 0],
        ["1h0m0s", 3600e9],
        ["500ms", 500e6],
        ["10us", 10e3],
        ["10µs", 10e3],
        [".5h", 1800e9],
    ])("%s parses", (s, ns) => {
        expect(tls.parseGoDuration(s)).toBe(ns);
    });

    test.each(["90d", "2160", "", "h", "1hh", "1 h", "1H", "1h 30m", ".h", "3000000h"])("%j is not a Go duration", (s) => {
        expect(tls.parseGoDuration(s)).toBeUndefined();
    });
});

describe("StatefulWorkload tls", () => {
    test("Certificate covers every pod and Service name, mounted read-only at /etc/tls", async () => {
        const wl = await build("db", { namespace: "shop", replicas: 3, clientService: true, tls: { issuerRef } });
        const cert = findObject(registered, "Certificate", "db-tls");
        expect(cert.apiVersion).toBe("cert-manager.io/v1");
        expect(cert.metadata.namespace).toBe("shop");
        expect(cert.metadata.annotations).toEqual({ "pulumi.com/waitFor": "condition=Ready" });
        expect(cert.spec.dnsNames).toEqual(
            tls.tlsDnsNames({ statefulSetName: "db", serviceName: "db", namespace: "shop", replicas: 3, clientServiceName: "db-client" }),
        );
        expect(cert.spec.dnsNames).toHaveLength(3 * 4 + 2 * 4);
        expect(cert.spec).toMatchObject({
            secretName: "db-tls",
            issuerRef: { name: "pets-ca", kind: "Issuer", group: "cert-manager.io" },
            commonName: "db.shop.svc",
            duration: "2160h",
            renewBefore: "720h",
            privateKey: { algorithm: "RSA", size: 2048, rotationPolicy: "Always" },
            usages: ["digital signature", "key encipherment", "server auth", "client auth"],
            revisionHistoryLimit: 1,
        });
        expect(cert.spec.secretTemplate.labels["app.kubernetes.io/name"]).toBe("db");

        const pod = findObject(registered, "StatefulSet", "db").spec.template.spec;
        expect(pod.volumes).toEqual([{ name: "tls", secret: { secretName: "db-tls", defaultMode: 0o444 } }]);
        expect(pod.containers[0].volumeMounts).toEqual([{ name: "tls", mountPath: "/etc/tls", readOnly: true }]);

        expect(await promiseOf(wl.tls!)).toEqual({
            secretName: "db-tls",
            issuerRef: { name: "pets-ca", kind: "Issuer", group: "cert-manager.io" },
            mountPath: "/etc/tls",
            caBundle: { secretName: "db-tls", key: "ca.crt" },
            dnsNames: cert.spec.dnsNames,
        });
    });

    test.each([1, 2, 5])("dnsNames follow replicas = %i", async (replicas) => {
        await build("kv", { replicas, tls: { issuerRef } });
        const cert = findObject(registered, "Certificate", "kv-tls");
        const pods = cert.spec.dnsNames.filter((n: string) => n.endsWith(".svc.cluster.local") && n.startsWith("kv-"));
        expect(pods).toEqual(Array.from({ length: replicas }, (_, i) => `kv-${i}.kv.default.svc.cluster.local`));
    });

    test("options: ECDSA 384, durations, mount path, secret name, extra mounts and volumes kept", async () => {
        await build("web", {
            volumeClaims: [{ name: "www", size: "1Gi", mountPath: "/www" }],
            extraVolumes: [{ name: "conf", configMap: { name: "web-conf" } }],
            extraVolumeMounts: [{ name: "conf", mountPath: "/etc/nginx/conf.d" }],
            security: { fsGroup: 101 },
            tls: {
                issuerRef: { name: "cluster-ca", kind: "ClusterIssuer" },
                keyAlgorithm: "ECDSA",
                keySize: 384,
                duration: "720h",
                renewBefore: "240h",
                mountPath: "/run/certs",
                secretName: "web-certs",
                additionalDnsNames: ["web.example.com"],
                fileMode: 0o440,
            },
        });
        const cert = findObject(registered, "Certificate", "web-certs");
        expect(cert.spec.privateKey).toEqual({ algorithm: "ECDSA", size: 384, rotationPolicy: "Always" });
        expect(cert.spec.usages).toEqual(["digital signature", "server auth", "client auth"]);
        expect(cert.spec.issuerRef).toEqual({ name: "cluster-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
        expect(cert.spec.dnsNames[cert.spec.dnsNames.length - 1]).toBe("web.example.com");
        const pod = findObject(registered, "StatefulSet", "web").spec.template.spec;
        expect(pod.volumes).toEqual([
            { name: "conf", configMap: { name: "web-conf" } },
            { name: "tls", secret: { secretName: "web-certs", defaultMode: 0o440 } },
        ]);
        expect(pod.containers[0].volumeMounts).toEqual([
            { name: "www", mountPath: "/www" },
            { name: "conf", mountPath: "/etc/nginx/conf.d" },
            { name: "tls", mountPath: "/run/certs", readOnly: true },
        ]);
    });

    test("Ed25519 has no size; the issuer reference may be an Output", async () => {
        await build("q", { tls: { issuerRef: pulumi.output({ name: "ca" }), keyAlgorithm: "Ed25519" } });
        const cert = findObject(registered, "Certificate", "q-tls");
        expect(cert.spec.privateKey).toEqual({ algorithm: "Ed25519", rotationPolicy: "Always" });
        expect(cert.spec.issuerRef).toEqual({ name: "ca", kind: "Issuer", group: "cert-manager.io" });
    });

    test("without tls nothing changes", async () => {
        const wl = await build("plain");
        expect(wl.tls).toBeUndefined();
        expect(
            k8sObjects(registered)
                .map((o) => o.kind)
                .sort(),
        ).toEqual(["PodDisruptionBudget", "Service", "StatefulSet"]);
        expect(findObject(registered, "StatefulSet", "plain").spec.template.spec.volumes).toBeUndefined();
    });

    test("every object, the Certificate included, passes its OpenAPI schema", async () => {
        await build("db", { namespace: "shop", replicas: 3, clientService: true, tls: { issuerRef, keyAlgorithm: "ECDSA" } });
        const objects = k8sObjects(registered);
        expect(objects.map((o) => o.kind).sort()).toEqual(["Certificate", "PodDisruptionBudget", "Service", "Service", "StatefulSet"]);
        expect(schemaErrors(objects)).toEqual([]);
    });

    test("an issuer reference in an Output is checked by the same rule when it resolves", () => {
        const val = new v.Validator('StatefulWorkload "db"');
        tls.checkIssuerRef(val, "tls.issuerRef", { name: "Bad_Name" });
        expect(() => val.throwIfInvalid()).toThrow(
            "StatefulWorkload \"db\": tls.issuerRef.name = \"Bad_Name\" is invalid: must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
        );
    });
});

describe("tls validation", () => {
    const ctx = 'StatefulWorkload "db"';
    const SUBDOMAIN =
        "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
    const DURATION = 'must be a Go duration of at least 1h, such as "2160h" (90 days); units are h, m, s, ms, us, ns (there is no "d")';
    const RENEW = 'must be a Go duration of at least 5m, such as "720h" (30 days); units are h, m, s, ms, us, ns (there is no "d")';
    test.each([
        [
            { issuerRef: undefined as any },
            `tls.issuerRef = undefined is invalid: must name the issuer that signs the certificate, e.g. { name: "pets-ca", kind: "Issuer" } or a PrivateCa's issuerRef`,
        ],
        [{ issuerRef: { name: "Pets_CA" } }, `tls.issuerRef.name = "Pets_CA" is invalid: ${SUBDOMAIN}`],
        [{ issuerRef: { name: "ca", kind: "Issuers" } }, 'tls.issuerRef.kind = "Issuers" is invalid: must be one of "Issuer", "ClusterIssuer"'],
        [
            { issuerRef: { name: "ca", kind: "awspca", group: "awspca.cert-manager.io" } },
            'tls.issuerRef.kind = "awspca" is invalid: must be the issuer\'s kind, such as "AWSPCAClusterIssuer"',
        ],
        [{ issuerRef, keyAlgorithm: "DSA" as any }, 'tls.keyAlgorithm = "DSA" is invalid: must be one of "RSA", "ECDSA", "Ed25519"'],
        [{ issuerRef, keySize: 1024 }, 'tls.keySize = 1024 is invalid: must be one of 2048, 3072, 4096 for keyAlgorithm "RSA"'],
        [{ issuerRef, keySize: 8192 }, 'tls.keySize = 8192 is invalid: must be one of 2048, 3072, 4096 for keyAlgorithm "RSA"'],
        [{ issuerRef, keyAlgorithm: "ECDSA" as const, keySize: 521 }, 'tls.keySize = 521 is invalid: must be one of 256, 384 for keyAlgorithm "ECDSA"'],
        [{ issuerRef, keyAlgorithm: "ECDSA" as const, keySize: 2048 }, 'tls.keySize = 2048 is invalid: must be one of 256, 384 for keyAlgorithm "ECDSA"'],
        [
            { issuerRef, keyAlgorithm: "Ed25519" as const, keySize: 256 },
            'tls.keySize = 256 is invalid: must be omitted for keyAlgorithm "Ed25519"; its key size is fixed',
        ],
        [{ issuerRef, duration: "90d" }, `tls.duration = "90d" is invalid: ${DURATION}`],
        [{ issuerRef, duration: "2160" }, `tls.duration = "2160" is invalid: ${DURATION}`],
        [{ issuerRef, duration: "59m", renewBefore: "10m" }, `tls.duration = "59m" is invalid: ${DURATION}`],
        [{ issuerRef, renewBefore: "4m" }, `tls.renewBefore = "4m" is invalid: ${RENEW}`],
        [{ issuerRef, renewBefore: "30 days" }, `tls.renewBefore = "30 days" is invalid: ${RENEW}`],
        [
            { issuerRef, renewBefore: "2160h" },
            'tls.renewBefore = "2160h" is invalid: must be shorter than duration ("2160h"); it is how long before expiry cert-manager renews',
        ],
        [
            { issuerRef, duration: "24h", renewBefore: "25h" },
            'tls.renewBefore = "25h" is invalid: must be shorter than duration ("24h"); it is how long before expiry cert-manager renews',
        ],
        [
            { issuerRef, mountPath: "etc/tls" },
            'tls.mountPath = "etc/tls" is invalid: must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)',
        ],
        [
            { issuerRef, mountPath: "/data" },
            'tls.mountPath = "/data" is invalid: must differ from every other mount; volumeClaims[0].mountPath already mounts there',
        ],
        [{ issuerRef, secretName: "Db-TLS" }, `tls.secretName = "Db-TLS" is invalid: ${SUBDOMAIN}`],
        [
            { issuerRef, additionalDnsNames: ["ok.example.com", "not valid"] },
            'tls.additionalDnsNames[1] = "not valid" is invalid: must be a DNS name such as "db.example.com": a lower-case DNS-1123 subdomain of at most 253 characters, optionally starting with "*."',
        ],
        [{ issuerRef, fileMode: 0o1777 }, "tls.fileMode = 1023 is invalid: must be a file mode from 0 to 0o777 (511), such as 0o444 or 0o440"],
    ])("%j", (t, message) => {
        expect(() =>
            m.resolveStatefulWorkloadArgs("db", { image: "mysql:5.7", volumeClaims: [{ name: "data", size: "1Gi", mountPath: "/data" }], tls: t as any }),
        ).toThrow(new Error(`${ctx}: ${message}`));
    });

    test("a volume named tls clashes with the certificate's volume", () => {
        expect(() =>
            m.resolveStatefulWorkloadArgs("db", { image: "x", volumeClaims: [{ name: "tls", size: "1Gi", mountPath: "/d" }], tls: { issuerRef } }),
        ).toThrow(
            new Error(`${ctx}: volumeClaims[0].name = "tls" is invalid: must not be "tls" when tls is on: the certificate Secret's volume has that name`),
        );
    });

    test("an extra mount at the tls path clashes", () => {
        expect(() =>
            m.resolveStatefulWorkloadArgs("db", { image: "x", extraVolumeMounts: [{ name: "c", mountPath: "/etc/tls" }], tls: { issuerRef } }),
        ).toThrow(
            new Error(`${ctx}: tls.mountPath = "/etc/tls" is invalid: must differ from every other mount; extraVolumeMounts[0].mountPath already mounts there`),
        );
    });

    test("a cluster domain that makes a DNS name longer than 253 characters", () => {
        const domain = Array.from({ length: 4 }, () => "d".repeat(60)).join(".");
        expect(() => m.resolveStatefulWorkloadArgs("db", { image: "x", namespace: "shop", clusterDomain: domain, tls: { issuerRef } })).toThrow(
            new Error(
                `${ctx}: clusterDomain = "${domain}" is invalid: makes the certificate's DNS name "db-0.db.shop.svc.${domain}" longer than 253 characters; use a shorter domain`,
            ),
        );
    });

    test("tls must be an object; several issues are reported at once", () => {
        expect(() => m.resolveStatefulWorkloadArgs("db", { image: "x", tls: "on" as any })).toThrow(
            new Error(`${ctx}: tls = "on" is invalid: must be an object with at least issuerRef`),
        );
        expect(() => m.resolveStatefulWorkloadArgs("db", { image: "x", tls: { issuerRef, keySize: 1, duration: "1d" } })).toThrow(
            new Error(
                `${ctx} has 2 invalid settings:\n` +
                    '  - tls.keySize = 1 is invalid: must be one of 2048, 3072, 4096 for keyAlgorithm "RSA"\n' +
                    `  - tls.duration = "1d" is invalid: ${DURATION}`,
            ),
        );
    });

    test("valid: defaults resolved", () => {
        const r = m.resolveStatefulWorkloadArgs("db", { image: "x", tls: { issuerRef } });
        expect(r.tls).toEqual({
            issuerRef,
            keyAlgorithm: "RSA",
            keySize: 2048,
            duration: "2160h",
            renewBefore: "720h",
            mountPath: "/etc/tls",
            secretName: "db-tls",
            additionalDnsNames: [],
            fileMode: 0o444,
            waitForReady: true,
        });
        expect(m.resolveStatefulWorkloadArgs("db", { image: "x" }).tls).toBeUndefined();
    });

    test("waitForReady: Ready by default, no wait where no cert-manager controller runs", () => {
        expect(tls.readyAnnotations(true)).toEqual({ "pulumi.com/waitFor": "condition=Ready" });
        expect(tls.readyAnnotations(false)).toEqual({ "pulumi.com/skipAwait": "true" });
    });

    test("fails before any resource is registered", async () => {
        expect(() => new m.StatefulWorkload("db", { image: "x", tls: { issuerRef, duration: "1d" } })).toThrow(/tls.duration = "1d" is invalid/);
        await settle();
        expect(registered).toEqual([]);
    });
});

describe("helpers for presets", () => {
    test("MySQL server and client arguments", () => {
        expect(tls.mysqlTlsArgs()).toEqual(["--ssl-ca=/etc/tls/ca.crt", "--ssl-cert=/etc/tls/tls.crt", "--ssl-key=/etc/tls/tls.key"]);
        expect(tls.mysqlTlsArgs("/run/certs/", { requireSecureTransport: true })).toEqual([
            "--ssl-ca=/run/certs/ca.crt",
            "--ssl-cert=/run/certs/tls.crt",
            "--ssl-key=/run/certs/tls.key",
            "--require-secure-transport=ON",
        ]);
        expect(tls.mysqlClientTlsArgs()).toEqual(["--ssl-mode=VERIFY_IDENTITY", "--ssl-ca=/etc/tls/ca.crt"]);
    });
});
