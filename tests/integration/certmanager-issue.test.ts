// Certificates issued for real: cert-manager's own controllers (built from its Go module, run as a
// host process with the chart's controller RBAC, scripts/cluster/cert-manager.sh) sign what the
// dev stack's PrivateCa and TLS settings create through the real pulumi CLI — the SelfSigned
// bootstrap Issuer, the CA Certificate, the CA Issuer and web's Certificate naming every pod.
// `pulumi up` waits for each to be Ready (pets:tls.waitForReady), and the bytes cert-manager
// wrote are checked with openssl. No webhook runs (the CRDs' schemas still validate).
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { createLocalPVs, ensureCluster, kubeconfig, kubectl, kubectlJson, TestStack, waitFor, workerNodes } from "./support/harness";
import { certManagerRunning, RunningCertManager, startCertManager, stopCertManager } from "./support/certmanager";

const NS = "pets";
const fqdn = (pod: string) => `${pod}.web.${NS}.svc.cluster.local`;
let stack: TestStack;
let certManager: RunningCertManager | undefined;
let workDir: string;

beforeAll(async () => {
    ensureCluster({ fresh: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-cm-"));
    certManager = startCertManager();
    process.stdout.write(`[cert-manager] started and synced in ${certManager.startSeconds.toFixed(1)} s; log: ${certManager.log}\n`);
    createLocalPVs(workerNodes(), 3, "local-path");
    stack = new TestStack("certmanager", {
        "pets:tls": { enabled: true, waitForReady: true },
        "pets:liberator": { enabled: false },
        "pets:web": { replicas: 3 },
    });
    await stack.init();
}, 600_000);

afterAll(() => {
    stopCertManager(); // also when start failed half-way
    stack?.cleanup();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

function condition(obj: any, type: string): any {
    return (obj.status?.conditions ?? []).find((c: any) => c.type === type);
}

/** The Secret's files, written to disk for openssl. */
function secretFiles(name: string, tag: string): { crt: string; key: string; ca: string } {
    const s = kubectlJson(["-n", NS, "get", "secret", name]);
    expect(s.type).toBe("kubernetes.io/tls");
    const file = (k: string) => {
        const f = path.join(workDir, `${tag}-${k}`);
        fs.writeFileSync(f, Buffer.from(s.data[k], "base64"));
        return f;
    };
    return { crt: file("tls.crt"), key: file("tls.key"), ca: file("ca.crt") };
}

const execFileAsync = promisify(execFile);
const kubectlJsonAsync = async (args: string[]) =>
    JSON.parse((await execFileAsync("kubectl", ["--kubeconfig", kubeconfig(), ...args, "-o", "json"], { maxBuffer: 64 << 20 })).stdout);

/**
 * Runs `probe` about every 100 ms (each kubectl call takes some 100 ms more) until `work` settles,
 * without blocking it: how the timings below are taken while `pulumi up` runs.
 */
async function observe<T>(work: Promise<T>, probe: (now: number) => Promise<void>): Promise<T> {
    let done = false;
    const settled = work.finally(() => (done = true));
    while (!done) {
        await probe(Date.now()).catch(() => undefined); // e.g. the namespace does not exist yet
        await new Promise((r) => setTimeout(r, 100));
    }
    return settled;
}

const openssl = (...args: string[]) => execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** DNS SANs of a PEM certificate, as openssl parses them. */
function dnsSans(crt: string): string[] {
    const ext = openssl("x509", "-in", crt, "-noout", "-ext", "subjectAltName");
    return [...ext.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]);
}

test("pulumi up waits until cert-manager has issued the CA chain and web's certificate", async () => {
    const seen = new Map<string, number>();
    const ready = new Map<string, number>();
    const r = await observe(stack.up(), async (now) => {
        for (const c of (await kubectlJsonAsync(["-n", NS, "get", "certificates.cert-manager.io"])).items) {
            if (!seen.has(c.metadata.name)) seen.set(c.metadata.name, now);
            if (!ready.has(c.metadata.name) && condition(c, "Ready")?.status === "True") ready.set(c.metadata.name, now);
        }
    });
    process.stdout.write(`[cert-manager] pulumi up with TLS (CA chain, web and mysql certificates Ready) took ${r.seconds.toFixed(1)} s\n`);
    for (const [name, t] of seen) {
        const ms = ready.has(name) ? `${ready.get(name)! - t} ms` : "not seen Ready while pulumi up ran";
        process.stdout.write(`[cert-manager] ${name}: first seen -> Ready: ${ms}\n`);
    }
    expect(certManagerRunning()).toBe(true);
    const certs = kubectlJson<{ items: any[] }>(["-n", NS, "get", "certificates.cert-manager.io"]).items;
    expect(certs.map((c) => c.metadata.name).sort()).toEqual(["mysql-tls", "pets-ca-ca", "web-tls"]);
    for (const c of certs) {
        expect({ name: c.metadata.name, ready: condition(c, "Ready")?.status }).toEqual({ name: c.metadata.name, ready: "True" });
        expect(c.status.revision).toBe(1);
    }
    // Ready before pulumi up returned: it waited (pulumi.com/waitFor: condition=Ready).
    expect(ready.size).toBe(3);
    for (const name of ["pets-ca", "pets-ca-selfsigned"]) {
        expect(condition(kubectlJson(["-n", NS, "get", "issuers.cert-manager.io", name]), "Ready")?.status).toBe("True");
    }
    // Every CertificateRequest was approved by cert-manager's approver and signed by its issuer.
    const crs = kubectlJson<{ items: any[] }>(["-n", NS, "get", "certificaterequests.cert-manager.io"]).items;
    expect(crs).toHaveLength(3);
    for (const cr of crs) {
        expect(condition(cr, "Approved")?.status).toBe("True");
        expect(condition(cr, "Ready")?.reason).toBe("Issued");
    }
}, 600_000);

test("the CA is self-signed and web's certificate names web-0..2 and verifies against it", () => {
    const ca = secretFiles("pets-ca-ca", "ca");
    const caText = openssl("x509", "-in", ca.crt, "-noout", "-subject", "-issuer", "-ext", "basicConstraints");
    expect(caText).toMatch(/subject=CN ?= ?pets-ca private CA/);
    expect(caText).toMatch(/issuer=CN ?= ?pets-ca private CA/);
    expect(caText).toMatch(/CA:TRUE/);
    expect(openssl("verify", "-CAfile", ca.crt, ca.crt)).toContain(": OK");

    const web = secretFiles("web-tls", "web1");
    const sans = dnsSans(web.crt);
    expect(sans).toEqual(expect.arrayContaining(["web-0", "web-1", "web-2"].map(fqdn)));
    expect(sans).not.toContain(fqdn("web-3"));
    expect(openssl("x509", "-in", web.crt, "-noout", "-issuer")).toMatch(/issuer=CN ?= ?pets-ca private CA/);
    expect(openssl("verify", "-CAfile", ca.crt, web.crt)).toContain(": OK");
    // The Secret's ca.crt is that CA, and tls.key is the certificate's own key.
    expect(fs.readFileSync(web.ca, "utf8").trim()).toBe(fs.readFileSync(ca.crt, "utf8").trim());
    const pub = (args: string[]) => openssl(...args);
    expect(pub(["pkey", "-in", web.key, "-pubout"])).toBe(pub(["x509", "-in", web.crt, "-noout", "-pubkey"]));
});

test("a Certificate from the CA issuer is Ready, and re-issued after a dnsNames change, within seconds", async () => {
    const name = "issue-probe";
    const manifest = path.join(workDir, `${name}.json`);
    const write = (dnsNames: string[]) =>
        fs.writeFileSync(
            manifest,
            JSON.stringify({
                apiVersion: "cert-manager.io/v1",
                kind: "Certificate",
                metadata: { name, namespace: NS },
                spec: { secretName: name, dnsNames, issuerRef: { name: "pets-ca", kind: "Issuer" }, privateKey: { algorithm: "ECDSA", size: 256 } },
            }),
        );
    write(["probe.example.test"]);
    let t0 = Date.now();
    kubectl(["apply", "-f", manifest]);
    await waitFor(
        "the probe Certificate Ready",
        () => condition(kubectlJson(["-n", NS, "get", "certificates.cert-manager.io", name]), "Ready")?.status === "True",
        60_000,
        50,
    );
    process.stdout.write(`[cert-manager] kubectl apply of a Certificate -> Ready (CA issuer, ECDSA P-256): ${Date.now() - t0} ms\n`);
    const first = secretFiles(name, "probe1");
    expect(dnsSans(first.crt)).toEqual(["probe.example.test"]);

    const before = fs.readFileSync(first.crt, "utf8");
    write(["probe.example.test", "probe2.example.test"]);
    t0 = Date.now();
    kubectl(["apply", "-f", manifest]);
    await waitFor(
        "the probe Certificate re-issued",
        () => Buffer.from(kubectlJson(["-n", NS, "get", "secret", name]).data["tls.crt"], "base64").toString() !== before,
        60_000,
        50,
    );
    process.stdout.write(`[cert-manager] kubectl apply of new dnsNames -> new certificate in the Secret: ${Date.now() - t0} ms\n`);
    expect(dnsSans(secretFiles(name, "probe2").crt)).toEqual(["probe.example.test", "probe2.example.test"]);
    kubectl(["-n", NS, "delete", "certificates.cert-manager.io", name]);
}, 120_000);

test("a CA ClusterIssuer reads its CA Secret from cert-manager's namespace and signs in another namespace", async () => {
    // What PrivateCa({ kind: "ClusterIssuer", namespace: "cert-manager" }) builds, by hand.
    const docs = [
        { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "it-selfsigned" }, spec: { selfSigned: {} } },
        {
            apiVersion: "cert-manager.io/v1",
            kind: "Certificate",
            metadata: { name: "it-cluster-ca", namespace: "cert-manager" },
            spec: {
                isCA: true,
                commonName: "it cluster CA",
                secretName: "it-cluster-ca",
                privateKey: { algorithm: "ECDSA", size: 256 },
                issuerRef: { name: "it-selfsigned", kind: "ClusterIssuer" },
            },
        },
        { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "it-ca" }, spec: { ca: { secretName: "it-cluster-ca" } } },
        {
            apiVersion: "cert-manager.io/v1",
            kind: "Certificate",
            metadata: { name: "it-leaf", namespace: NS },
            spec: { secretName: "it-leaf", dnsNames: ["leaf.example.test"], issuerRef: { name: "it-ca", kind: "ClusterIssuer" } },
        },
    ];
    const manifest = path.join(workDir, "cluster-issuer.json");
    fs.writeFileSync(manifest, JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
    kubectl(["apply", "-f", manifest]);
    await waitFor(
        "it-leaf Ready",
        () => condition(kubectlJson(["-n", NS, "get", "certificates.cert-manager.io", "it-leaf"]), "Ready")?.status === "True",
        60_000,
    );
    expect(condition(kubectlJson(["get", "clusterissuers.cert-manager.io", "it-ca"]), "Ready")?.status).toBe("True");
    const leaf = secretFiles("it-leaf", "cluster-leaf");
    expect(dnsSans(leaf.crt)).toEqual(["leaf.example.test"]);
    expect(openssl("x509", "-in", leaf.ca, "-noout", "-subject")).toMatch(/subject=CN ?= ?it cluster CA/);
    expect(openssl("verify", "-CAfile", leaf.ca, leaf.crt)).toContain(": OK");
    kubectl(["delete", "-f", manifest]);
}, 120_000);

test("scaling web 3 -> 4 re-issues its certificate with web-3 in it", async () => {
    const before = kubectlJson(["-n", NS, "get", "secret", "web-tls"]).data["tls.crt"];
    stack.set({ "pets:web": { replicas: 4 } });
    let specAt: number | undefined; // web-3 first seen in the Certificate's dnsNames
    let issuedAt: number | undefined; // a new tls.crt first seen in the Secret
    const r = await observe(stack.up(), async (now) => {
        if (specAt === undefined) {
            const c = await kubectlJsonAsync(["-n", NS, "get", "certificates.cert-manager.io", "web-tls"]);
            if (c.spec.dnsNames.includes(fqdn("web-3"))) specAt = now;
        }
        if (specAt !== undefined && issuedAt === undefined) {
            const s = await kubectlJsonAsync(["-n", NS, "get", "secret", "web-tls"]);
            if (s.data["tls.crt"] !== before) issuedAt = now;
        }
    });
    const doneAt = Date.now();
    process.stdout.write(`[cert-manager] pulumi up to 4 replicas took ${r.seconds.toFixed(1)} s\n`);
    expect(specAt).toBeDefined();
    // The re-issued certificate was in the Secret before pulumi up returned (it waits for Ready).
    expect(issuedAt).toBeDefined();
    process.stdout.write(
        `[cert-manager] web-3 in dnsNames -> new certificate in the Secret: ${issuedAt! - specAt!} ms; pulumi up returned ${doneAt - issuedAt!} ms later\n`,
    );
    const cert = kubectlJson(["-n", NS, "get", "certificates.cert-manager.io", "web-tls"]);
    expect(condition(cert, "Ready")?.status).toBe("True");
    expect(cert.status.revision).toBe(2);
    const ca = secretFiles("pets-ca-ca", "ca2");
    const web = secretFiles("web-tls", "web2");
    expect(dnsSans(web.crt)).toEqual(expect.arrayContaining(["web-0", "web-1", "web-2", "web-3"].map(fqdn)));
    expect(openssl("verify", "-CAfile", ca.crt, web.crt)).toContain(": OK");
    expect(certManagerRunning()).toBe(true);
    // The cut-down RBAC (scripts/cluster/cert-manager-rbac.yaml) was enough for everything above.
    expect(certManager!.output()).not.toMatch(/forbidden/i);
}, 600_000);
