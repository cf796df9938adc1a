import { findObject, k8sObjects, promiseOf, schemaErrors, settle, setupMocks } from "../support/pulumi";

const registered = setupMocks();
type Ca = typeof import("../../components") & typeof import("../../components/privateca") & typeof import("../../components/certmanager");
type Sw = typeof import("../../components/statefulworkload");
let ca: Ca;
let m: Sw;

beforeAll(async () => {
    ca = { ...(await import("../../components")), ...(await import("../../components/privateca")), ...(await import("../../components/certmanager")) };
    m = await import("../../components/statefulworkload");
});

/** The CA's three objects, rendered directly with the names the constructor's resources would have. */
function renderCa(name: string, args: import("../../components/privateca").PrivateCaArgs = {}, namespace?: string) {
    const r = ca.resolvePrivateCaArgs(name, args);
    const ns = namespace ?? (r.namespace as string);
    const selfSigned: any = ca.renderSelfSignedIssuer(r, ns);
    return { selfSigned, caCert: ca.renderCaCertificate(r, ns, selfSigned.metadata.name) as any, issuer: ca.renderCaIssuer(r, ns) as any };
}
beforeEach(() => registered.splice(0));

describe("CertManager", () => {
    test("install: the kubernetes-cert-manager component with a pinned chart and CRDs", async () => {
        const cm = new ca.CertManager("cm");
        expect(await promiseOf(cm.namespace)).toBe("cert-manager");
        expect(await promiseOf(cm.version)).toBe(ca.CERT_MANAGER_CHART_VERSION);
        await settle();
        const release = registered.filter((r) => r.type === "kubernetes-cert-manager:index:CertManager");
        expect(release).toHaveLength(1);
        expect(release[0].name).toBe("cm-release");
        expect(release[0].inputs).toMatchObject({
            installCRDs: true,
            helmOptions: {
                namespace: "cert-manager",
                createNamespace: true,
                version: "v1.19.2",
                repositoryOpts: { repo: "https://charts.jetstack.io" },
                values: { crds: { enabled: true, keep: true } },
            },
        });
    });

    test("install options: namespace, version, mirror, extra values", () => {
        const r = ca.resolveCertManagerArgs("cm", {
            namespace: "certs",
            version: "v1.18.2",
            repository: "http://charts.local:8080",
            createNamespace: false,
            values: { image: { registry: "registry.local:5000" } },
        });
        const inputs = ca.certManagerInstallArgs(r);
        expect(inputs.installCRDs).toBe(true);
        expect(inputs.helmOptions).toEqual({
            namespace: "certs",
            createNamespace: false,
            version: "v1.18.2",
            repositoryOpts: { repo: "http://charts.local:8080" },
            values: { image: { registry: "registry.local:5000" }, crds: { enabled: true, keep: true } },
        });
    });

    test("existing: nothing but the component itself, no plugin needed", async () => {
        const cm = new ca.CertManager("cm", { mode: "existing", namespace: "security" });
        expect(await promiseOf(cm.namespace)).toBe("security");
        expect(await promiseOf(cm.version)).toBeUndefined();
        await settle();
        expect(registered.map((r) => r.type)).toEqual(["pets:index:CertManager"]);
        expect(cm.release).toBeUndefined();
    });

    test.each([
        [{ mode: "helm" as any }, 'mode = "helm" is invalid: must be one of "install", "existing"'],
        [
            { namespace: "Cert_Manager" },
            "namespace = \"Cert_Manager\" is invalid: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        ],
        [{ version: "^1.19" }, 'version = "^1.19" is invalid: must be an exact chart version such as "v1.19.2" (no ranges: the install must be repeatable)'],
        [{ repository: "" }, 'repository = "" is invalid: must be a chart repository URL such as "https://charts.jetstack.io"'],
        [
            { values: { installCRDs: false } },
            'values = {"installCRDs":false} is invalid: must not set installCRDs or crds: the component always installs the CRDs',
        ],
    ])("%j", (args, message) => {
        expect(() => new ca.CertManager("cm", args)).toThrow(new Error(`CertManager "cm": ${message}`));
    });
});

describe("PrivateCa", () => {
    test("self-signed Issuer → CA Certificate → CA Issuer, in one namespace", () => {
        const { selfSigned, caCert, issuer } = renderCa("pets-ca", { namespace: "shop" });
        expect(selfSigned.metadata.name).toBe("pets-ca-selfsigned");
        expect(selfSigned.metadata.namespace).toBe("shop");
        expect(selfSigned.spec).toEqual({ selfSigned: {} });

        expect(caCert.metadata.name).toBe("pets-ca-ca");
        expect(caCert.metadata.namespace).toBe("shop");
        expect(caCert.metadata.annotations).toEqual({ "pulumi.com/waitFor": "condition=Ready" });
        expect(caCert.spec).toMatchObject({
            isCA: true,
            commonName: "pets-ca private CA",
            secretName: "pets-ca-ca",
            duration: "87600h",
            renewBefore: "720h",
            privateKey: { algorithm: "RSA", size: 3072, rotationPolicy: "Never" },
            usages: ["digital signature", "cert sign", "crl sign"],
            issuerRef: { name: "pets-ca-selfsigned", kind: "Issuer", group: "cert-manager.io" },
        });

        expect(issuer.kind).toBe("Issuer");
        expect(issuer.metadata.name).toBe("pets-ca");
        expect(issuer.metadata.namespace).toBe("shop");
        expect(issuer.spec).toEqual({ ca: { secretName: "pets-ca-ca" } });
        expect(issuer.metadata.annotations).toEqual({ "pulumi.com/waitFor": "condition=Ready" });
        for (const o of [selfSigned, caCert, issuer])
            expect(o.metadata.labels).toEqual({
                "app.kubernetes.io/name": "private-ca",
                "app.kubernetes.io/instance": "pets-ca",
                "app.kubernetes.io/managed-by": "pulumi",
            });
        expect(schemaErrors([selfSigned, caCert, issuer])).toEqual([]);
        const noWait = renderCa("pets-ca", { waitForReady: false });
        expect(noWait.caCert.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
        expect(noWait.issuer.metadata.namespace).toBe("default");
    });

    test("ClusterIssuer: CA Secret in cert-manager's namespace, issuer without namespace", () => {
        const { selfSigned, caCert, issuer } = renderCa("cluster-ca", { kind: "ClusterIssuer", keyAlgorithm: "ECDSA", keySize: 384, duration: "43800h" });
        expect(selfSigned.metadata.namespace).toBe("cert-manager");
        expect(caCert.metadata.namespace).toBe("cert-manager");
        expect(caCert.spec.privateKey).toEqual({ algorithm: "ECDSA", size: 384, rotationPolicy: "Never" });
        expect(issuer.kind).toBe("ClusterIssuer");
        expect(issuer.metadata.namespace).toBeUndefined();
        expect(issuer.spec).toEqual({ ca: { secretName: "cluster-ca-ca" } });
        expect(schemaErrors([selfSigned, caCert, issuer])).toEqual([]);
    });

    test("wiring: a CertManager's namespace (an Output) flows into the CA's objects; names and outputs", async () => {
        const cm = new ca.CertManager("cm", { mode: "existing" });
        const pca = new ca.PrivateCa("cluster-ca", { kind: "ClusterIssuer", namespace: cm.namespace }, { dependsOn: [cm] });
        expect(await promiseOf(pca.issuerRef)).toEqual({ name: "cluster-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
        expect(await promiseOf(pca.caSecretName)).toBe("cluster-ca-ca");
        expect(await promiseOf(pca.namespace)).toBe("cert-manager");
        await settle();
        expect(findObject(registered, "Issuer", "cluster-ca-selfsigned").metadata.namespace).toBe("cert-manager");
        expect(findObject(registered, "Certificate", "cluster-ca-ca").spec.issuerRef.name).toBe("cluster-ca-selfsigned");
        expect(findObject(registered, "ClusterIssuer", "cluster-ca").spec).toEqual({ ca: { secretName: "cluster-ca-ca" } });
        expect(await promiseOf(pca.issuer!.urn)).toBe(
            "urn:pulumi:test::pets::pets:index:PrivateCa$kubernetes:cert-manager.io/v1:ClusterIssuer::cluster-ca-issuer",
        );
        expect(schemaErrors(k8sObjects(registered))).toEqual([]);
    });

    test("existing issuer: passed on by reference, nothing created", async () => {
        const pca = new ca.PrivateCa("ext", { existingIssuer: { name: "corp-ca", kind: "ClusterIssuer", caSecretName: "corp-ca-root" } });
        expect(await promiseOf(pca.issuerRef)).toEqual({ name: "corp-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
        expect(await promiseOf(pca.caSecretName)).toBe("corp-ca-root");
        await settle();
        expect(registered.map((r) => r.type)).toEqual(["pets:index:PrivateCa"]);
    });

    test("the whole chain: a workload's Certificate is signed by the CA issuer", async () => {
        const pca = new ca.PrivateCa("pets-ca", { namespace: "db" });
        const wl = new m.StatefulWorkload("mysql", {
            image: "mysql:5.7",
            namespace: "db",
            replicas: 2,
            ports: [{ name: "mysql", containerPort: 3306 }],
            tls: { issuerRef: pca.issuerRef },
        });
        expect((await promiseOf(wl.tls!)).issuerRef).toEqual({ name: "pets-ca", kind: "Issuer", group: "cert-manager.io" });
        await settle();
        const leaf = findObject(registered, "Certificate", "mysql-tls");
        const issuer = findObject(registered, "Issuer", "pets-ca");
        const caCert = findObject(registered, "Certificate", "pets-ca-ca");
        const selfSigned = findObject(registered, "Issuer", "pets-ca-selfsigned");
        expect(leaf.spec.issuerRef.name).toBe(issuer.metadata.name);
        expect(issuer.spec.ca.secretName).toBe(caCert.spec.secretName);
        expect(caCert.spec.issuerRef.name).toBe(selfSigned.metadata.name);
        expect(leaf.metadata.namespace).toBe(issuer.metadata.namespace);
        expect(leaf.spec.isCA).toBeUndefined();
        const objects = k8sObjects(registered);
        expect(objects.map((o) => o.kind).sort()).toEqual(["Certificate", "Certificate", "Issuer", "Issuer", "PodDisruptionBudget", "Service", "StatefulSet"]);
        expect(schemaErrors(objects)).toEqual([]);
    });

    test.each([
        [{ kind: "Cluster" as any }, 'kind = "Cluster" is invalid: must be one of "Issuer", "ClusterIssuer"'],
        [
            { namespace: "Shop" },
            "namespace = \"Shop\" is invalid: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        ],
        [
            { issuerName: "Pets" },
            "issuerName = \"Pets\" is invalid: must be a DNS-1123 subdomain of at most 242 characters: lower-case letters, digits, '-' and '.'",
        ],
        [{ commonName: "x".repeat(65) }, `commonName = "${"x".repeat(65)}" is invalid: must be a non-empty name of at most 64 characters`],
        [{ keySize: 1024 }, 'keySize = 1024 is invalid: must be one of 2048, 3072, 4096 for keyAlgorithm "RSA"'],
        [{ keyAlgorithm: "ECDSA" as const, keySize: 3072 }, 'keySize = 3072 is invalid: must be one of 256, 384 for keyAlgorithm "ECDSA"'],
        [
            { duration: "10y" },
            'duration = "10y" is invalid: must be a Go duration of at least 1h, such as "2160h" (90 days); units are h, m, s, ms, us, ns (there is no "d")',
        ],
        [
            { duration: "720h", renewBefore: "720h" },
            'renewBefore = "720h" is invalid: must be shorter than duration ("720h"); it is how long before expiry cert-manager renews',
        ],
        [
            { secretName: "CA" },
            "secretName = \"CA\" is invalid: must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
        ],
        [{ existingIssuer: { name: "corp", kind: "Vault" } }, 'existingIssuer.kind = "Vault" is invalid: must be one of "Issuer", "ClusterIssuer"'],
    ])("%j", (args, message) => {
        expect(() => ca.resolvePrivateCaArgs("pets-ca", args)).toThrow(new Error(`PrivateCa "pets-ca": ${message}`));
    });
});
