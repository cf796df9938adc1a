// TLS objects at the real API server: cert-manager's CRDs (from its Go module) installed, the
// dev stack with TLS on. No cert-manager controller runs here (its image cannot be pulled), so
// certificates are not issued; what is real is that the API server accepts every object under
// the CRDs' schemas, and that the Certificate follows the replicas.
import { execFileSync } from "child_process";
import * as path from "path";
import { createLocalPVs, ensureCluster, kubectl, kubectlJson, root, TestStack, workerNodes } from "./support/harness";

const NS = "pets";
let stack: TestStack;

beforeAll(async () => {
    ensureCluster({ fresh: true });
    const crds = execFileSync("bash", [path.join(root, "scripts", "tools", "cert-manager-crds.sh")], { encoding: "utf8" }).trim();
    for (const f of [
        "cert-manager.io_certificates.yaml",
        "cert-manager.io_issuers.yaml",
        "cert-manager.io_clusterissuers.yaml",
        "cert-manager.io_certificaterequests.yaml",
    ]) {
        kubectl(["apply", "--server-side", "-f", path.join(crds, f)]);
    }
    kubectl(["wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io", "--timeout=60s"]);
    createLocalPVs(workerNodes(), 3, "local-path");
    stack = new TestStack("tls", { "pets:tls": { enabled: true, waitForReady: false }, "pets:liberator": { enabled: false }, "pets:web": { replicas: 2 } });
    await stack.init();
}, 300_000);

afterAll(() => stack?.cleanup());

test("the API server accepts the CA chain and the workload Certificates; pods mount the Secret", async () => {
    await stack.up();
    const certs = kubectlJson<{ items: any[] }>(["-n", NS, "get", "certificates.cert-manager.io"]).items;
    expect(certs.map((c) => c.metadata.name).sort()).toEqual(["mysql-tls", "pets-ca-ca", "web-tls"]);
    const web = certs.find((c) => c.metadata.name === "web-tls");
    expect(web.spec.dnsNames).toEqual(expect.arrayContaining(["web-0.web.pets.svc.cluster.local", "web-1.web.pets.svc.cluster.local"]));
    expect(web.spec.dnsNames).not.toContain("web-2.web.pets.svc.cluster.local");
    expect(web.spec.issuerRef).toEqual({ name: "pets-ca", kind: "Issuer", group: "cert-manager.io" });
    const issuers = kubectlJson<{ items: any[] }>(["-n", NS, "get", "issuers.cert-manager.io"])
        .items.map((i) => i.metadata.name)
        .sort();
    expect(issuers).toEqual(["pets-ca", "pets-ca-selfsigned"]);
    const pod = kubectlJson(["-n", NS, "get", "pod", "web-0"]);
    const vol = pod.spec.volumes.find((v: any) => v.secret?.secretName === "web-tls");
    expect(vol).toBeDefined();
    expect(pod.spec.containers[0].volumeMounts).toContainEqual(expect.objectContaining({ name: vol.name, mountPath: "/etc/tls", readOnly: true }));
}, 600_000);

test("scaling up puts the new pod's name in the Certificate", async () => {
    stack.set({ "pets:web": { replicas: 3 } });
    await stack.up();
    const web = kubectlJson(["-n", NS, "get", "certificates.cert-manager.io", "web-tls"]);
    expect(web.spec.dnsNames).toContain("web-2.web.pets.svc.cluster.local");
}, 600_000);

test("destroy removes the TLS objects", async () => {
    await stack.destroy();
    expect(kubectl(["-n", NS, "get", "certificates.cert-manager.io,issuers.cert-manager.io", "-o", "name"]).trim()).toBe("");
}, 600_000);
