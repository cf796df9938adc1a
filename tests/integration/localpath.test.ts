// The local-path provisioner our component installs, doing its job on the real API server: the
// upstream provisioner (built from its Go module) runs with the Deployment's command line, the
// ConfigMap's config.json and helper pod template, and the component's ServiceAccount, and
// provisions web's claims where the scheduler put their pods (WaitForFirstConsumer).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ensureCluster, isReady, kubectl, kubectlJson, TestStack, waitFor } from "./support/harness";
import { httpStatus, RunningProvisioner, startLocalPathProvisioner } from "./support/localpath";

const NS = "pets";
const LP_NS = "pets-local-path"; // Pulumi.dev.yaml
const CLASS = "local-path";
// The component's default: its own name, not kind's built-in copy's "rancher.io/local-path".
const PROVISIONER = "cluster.local/local-path";
let stack: TestStack;
let workDir: string;
let provisioner: RunningProvisioner | undefined;

const pvc = (name: string) => kubectlJson(["-n", NS, "get", "pvc", name]);
const pv = (name: string) => kubectlJson(["get", "pv", name]);
const pvExists = (name: string) => kubectl(["get", "pv", name, "--ignore-not-found", "-o", "name"]).trim() !== "";
const helperPods = () => kubectlJson<{ items: any[] }>(["-n", LP_NS, "get", "pods"]).items.filter((p) => p.metadata.name.startsWith("helper-pod-"));

beforeAll(async () => {
    ensureCluster({ fresh: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-localpath-"));
    // First only the provisioner (and the namespace), as a user installs storage before workloads.
    stack = new TestStack("localpath", {
        "pets:web": { enabled: false, replicas: 3 },
        "pets:mysql": { enabled: false },
        "pets:liberator": { enabled: false },
    });
    await stack.init();
    await stack.up();
}, 600_000);

afterAll(async () => {
    await provisioner?.stop();
    if (provisioner) process.stdout.write(`[local-path] provisioner log: ${provisioner.log}\n`);
    stack?.cleanup();
});

test("the provisioner starts from the component's Deployment, ConfigMap and ServiceAccount", async () => {
    const sc = kubectlJson(["get", "storageclass", CLASS]);
    expect(sc.provisioner).toBe(PROVISIONER);
    expect(sc.volumeBindingMode).toBe("WaitForFirstConsumer");
    const deployments = kubectlJson<{ items: any[] }>(["-n", LP_NS, "get", "deployments"]).items;
    expect(deployments).toHaveLength(1);
    provisioner = await startLocalPathProvisioner(LP_NS, deployments[0].metadata.name, workDir);
    await waitFor("the provisioner's /ready", async () => (await httpStatus(provisioner!.healthPort, "/ready")) === 200, 60_000);
    expect(provisioner.child.exitCode).toBeNull();
}, 120_000);

test("web's claims are provisioned on the nodes their pods were scheduled to", async () => {
    expect(provisioner?.child.exitCode).toBeNull(); // else `up` would wait for claims nobody binds
    stack.set({ "pets:web": { enabled: true } });
    await stack.up();
    const out = provisioner!.output();
    for (const n of [0, 1, 2]) {
        const pod = kubectlJson(["-n", NS, "get", "pod", `web-${n}`]);
        expect(isReady(pod)).toBe(true);
        const claim = pvc(`www-web-${n}`);
        expect(claim.status.phase).toBe("Bound");
        // WaitForFirstConsumer: the scheduler picked the node, the provisioner followed it.
        expect(claim.metadata.annotations["volume.kubernetes.io/selected-node"]).toBe(pod.spec.nodeName);
        const vol = pv(claim.spec.volumeName);
        expect(vol.metadata.annotations["pv.kubernetes.io/provisioned-by"]).toBe(PROVISIONER);
        expect(vol.spec.storageClassName).toBe(CLASS);
        expect(vol.spec.persistentVolumeReclaimPolicy).toBe("Retain"); // the dev stack's class
        expect(vol.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual([pod.spec.nodeName]);
        // config.json's default path and upstream's directory naming.
        const dir = (vol.spec.hostPath ?? vol.spec.local).path;
        expect(dir).toBe(`/opt/local-path-provisioner/${claim.spec.volumeName}_${NS}_www-web-${n}`);
        expect(out).toContain(`Volume ${claim.spec.volumeName} has been created on ${pod.spec.nodeName}:${dir}`);
    }
    // Helper pods are deleted once they finish.
    await waitFor("no helper pods left", () => helperPods().length === 0, 60_000);
}, 600_000);

test("scale-down keeps the claim; a released volume stays until its reclaim policy says Delete", async () => {
    stack.set({ "pets:web": { replicas: 2 } });
    await stack.up();
    const claim = pvc("www-web-2");
    expect(claim.status.phase).toBe("Bound"); // PVC retention policy: Retain on scale-down
    const volume = claim.spec.volumeName;

    kubectl(["-n", NS, "delete", "pvc", "www-web-2"]);
    await waitFor(`${volume} Released`, () => pv(volume).status.phase === "Released", 60_000);
    await new Promise((r) => setTimeout(r, 5000));
    expect(pvExists(volume)).toBe(true); // Retain: the provisioner leaves the data alone

    // The documented way to free it: the provisioner tears the directory down with a helper pod.
    kubectl(["patch", "pv", volume, "-p", '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}']);
    await waitFor(`${volume} deleted`, () => !pvExists(volume), 120_000, 1000);
    expect(provisioner!.output()).toContain(`Volume ${volume} has been deleted on`);
    expect(provisioner!.child.exitCode).toBeNull();
}, 600_000);
