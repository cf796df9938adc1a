// The agents' least privilege, enforced by the real API server (1.34): the component's Role and
// ValidatingAdmissionPolicy, a pod on a (kwok) node, the agent's own client with that pod's bound
// service-account token, and the real Agent renewing its Lease through the policy.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Agent, loadAgentConfig, tokenNode } from "../../liberator/agent";
import { ANN } from "../../liberator/contract";
import { ApiError, KubeClient, loadKubeconfig } from "../../liberator/kube";
import { jsonLogger, Metrics } from "../../liberator/metrics";
import { agentLeaseRoleRules, agentPolicySpec } from "../../components/liberatorspecs";
import { ensureCluster, kubectl, kubectlJson, waitFor, workerNodes } from "./support/harness";

const NS = `lib-vap-${crypto.randomBytes(3).toString("hex")}`;
const SA = "agent";
const POLICY = `liberator-agent-heartbeat.${NS}.liberator.pets`;
let dir: string;
let node: string;
let other: string;
let agentClient: KubeClient;
let unboundClient: KubeClient;
let token: string;

function apply(obj: unknown): void {
    const f = path.join(dir, `${crypto.randomBytes(4).toString("hex")}.json`);
    fs.writeFileSync(f, JSON.stringify(obj));
    kubectl(["apply", "-f", f]);
}

function clientWithToken(t: string): KubeClient {
    const admin = kubectlJson(["config", "view", "--raw", "--minify"]);
    const file = path.join(dir, `kc-${crypto.randomBytes(3).toString("hex")}`);
    fs.writeFileSync(
        file,
        JSON.stringify({
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "c", cluster: admin.clusters[0].cluster }],
            users: [{ name: "u", user: { token: t } }],
            contexts: [{ name: "x", context: { cluster: "c", user: "u", namespace: NS } }],
            "current-context": "x",
        }),
        { mode: 0o600 },
    );
    return new KubeClient(loadKubeconfig(file));
}

const leases = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
const leaseBody = (name: string, annotations: Record<string, string>, extra: Record<string, unknown> = {}) => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name, annotations, ...extra },
    spec: { holderIdentity: "agent" },
});
async function refused(p: Promise<unknown>): Promise<string> {
    try {
        await p;
    } catch (e) {
        if (e instanceof ApiError && e.status === 403) return e.message;
        throw e;
    }
    throw new Error("the write was admitted");
}

beforeAll(async () => {
    ensureCluster();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lib-vap-"));
    [node, other] = workerNodes();
    apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    apply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SA, namespace: NS } });
    apply({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "agent", namespace: NS }, rules: agentLeaseRoleRules() });
    apply({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "agent", namespace: NS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "agent" },
        subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
    });
    apply({ apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicy", metadata: { name: POLICY }, spec: agentPolicySpec(NS, SA) });
    apply({
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: { name: POLICY },
        spec: { policyName: POLICY, validationActions: ["Deny"] },
    });
    apply({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "agent-0", namespace: NS },
        spec: { serviceAccountName: SA, nodeName: node, containers: [{ name: "a", image: "busybox" }] },
    });
    const uid = kubectlJson(["-n", NS, "get", "pod", "agent-0"]).metadata.uid;
    token = kubectl(["-n", NS, "create", "token", SA, "--bound-object-kind", "Pod", "--bound-object-name", "agent-0", "--bound-object-uid", uid]).trim();
    agentClient = clientWithToken(token);
    unboundClient = clientWithToken(kubectl(["-n", NS, "create", "token", SA]).trim());
    // The policy is type-checked and active once its status says so.
    await waitFor("the policy to be active", async () => {
        try {
            await agentClient.create(leases, leaseBody(`heartbeat.${other}`, { [ANN.node]: other }));
            return false;
        } catch (e) {
            return e instanceof ApiError && e.status === 403;
        }
    });
}, 300_000);

afterAll(() => {
    kubectl(["delete", "namespace", NS, "--wait=false"], { allowFail: true });
    kubectl(["delete", "validatingadmissionpolicybinding", POLICY], { allowFail: true });
    kubectl(["delete", "validatingadmissionpolicy", POLICY], { allowFail: true });
    for (const c of [agentClient, unboundClient]) c?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("the bound token names the pod's node and its uid", () => {
    const t = tokenNode(token);
    expect(t.name).toBe(node);
    expect(t.uid).toBe(kubectlJson(["get", "node", node]).metadata.uid);
});

test("the real Agent renews heartbeat.<its node>, owned by its Node, through the policy; a claim stops it", async () => {
    const cfg = loadAgentConfig([], { NODE_NAME: node, POD_NAME: "agent-0", LIBERATOR_LISTEN_ADDRESS: "127.0.0.1:0", LIBERATOR_PROC_ROOT: dir });
    const agent = new Agent(cfg, NS, {
        client: agentClient,
        log: jsonLogger("error", () => undefined),
        metrics: new Metrics(),
        runtime: { version: async () => ({}), listPodSandboxes: async () => [], stopPodSandbox: async () => undefined },
        peerKey: crypto.randomBytes(32),
        nodeUid: tokenNode(token).uid,
        ownStatus: () => "CapEff:\t0000000000000020\n",
    });
    await agent.arm();
    expect(await agent.renew()).toBe(true);
    expect(await agent.renew()).toBe(true);
    const l = kubectlJson(["-n", NS, "get", "lease", `heartbeat.${node}`]);
    expect(l.metadata.ownerReferences).toEqual([{ apiVersion: "v1", kind: "Node", name: node, uid: tokenNode(token).uid }]);
    expect(l.metadata.annotations[ANN.node]).toBe(node);

    // The controller claims it (as cluster admin here): the agent's next write is refused by the
    // policy, it reads the Lease, sees the claim and stops writing.
    kubectl(["-n", NS, "annotate", "lease", `heartbeat.${node}`, `${ANN.claimedBy}=controller-0`, `${ANN.claimPhase}=claimed`]);
    expect(await agent.renew()).toBe(false);
    expect(agent.claim).toBe("claimed");
    const after = kubectlJson(["-n", NS, "get", "lease", `heartbeat.${node}`]);
    expect(after.metadata.annotations[ANN.claimedBy]).toBe("controller-0");
    // Released: it renews again.
    kubectl(["-n", NS, "annotate", "lease", `heartbeat.${node}`, `${ANN.claimedBy}-`, `${ANN.claimPhase}-`]);
    expect(await agent.renew()).toBe(true);
}, 60_000);

test.each([
    {
        what: "another node's Lease",
        write: () => agentClient.create(leases, leaseBody(`heartbeat.${other}`, { [ANN.node]: other })),
        message: () => `an agent may write only its own node's heartbeat Lease heartbeat.${node}`,
    },
    {
        what: "its own Lease naming another node",
        write: () => agentClient.create(leases, leaseBody(`heartbeat.${node}-x`, { [ANN.node]: other })),
        message: () => `an agent may write only its own node's heartbeat Lease heartbeat.${node}`,
    },
    {
        what: "a Lease that is not a heartbeat (the controller's leader Lease, say)",
        write: () => agentClient.create(leases, leaseBody("liberator", { [ANN.node]: node })),
        message: () => `an agent may write only its own node's heartbeat Lease heartbeat.${node}`,
    },
    {
        what: "a claim of its own",
        write: async () => {
            const cur = await agentClient.get(`${leases}/heartbeat.${node}`);
            return agentClient.replace(`${leases}/heartbeat.${node}`, {
                ...cur,
                metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, [ANN.claimedBy]: "me" } },
            });
        },
        message: () => "only the controller claims a heartbeat Lease",
    },
    {
        what: "an owner other than its Node",
        write: async () => {
            const cur = await agentClient.get(`${leases}/heartbeat.${node}`);
            return agentClient.replace(`${leases}/heartbeat.${node}`, {
                ...cur,
                metadata: {
                    ...cur.metadata,
                    ownerReferences: [{ apiVersion: "v1", kind: "Node", name: other, uid: kubectlJson(["get", "node", other]).metadata.uid }],
                },
            });
        },
        message: () => "a heartbeat Lease may only be owned by its own Node",
    },
    {
        what: "with a token not bound to a pod on a node",
        write: () => unboundClient.create(leases, leaseBody(`heartbeat.${node}`, { [ANN.node]: node })),
        message: () => "an agent must use a service-account token bound to a pod on a node",
    },
])("refused: $what", async ({ write, message }) => {
    expect(await refused(write())).toContain(message());
});

test("over a claim: refused by the policy even with the current version", async () => {
    kubectl(["-n", NS, "annotate", "--overwrite", "lease", `heartbeat.${node}`, `${ANN.claimedBy}=controller-0`]);
    const cur = await agentClient.get(`${leases}/heartbeat.${node}`);
    const next = { ...cur, metadata: { ...cur.metadata, annotations: { [ANN.node]: node } } };
    expect(await refused(agentClient.replace(`${leases}/heartbeat.${node}`, next))).toContain(
        "the heartbeat Lease is claimed by the controller; the agent must not overwrite it",
    );
    kubectl(["-n", NS, "annotate", "lease", `heartbeat.${node}`, `${ANN.claimedBy}-`]);
});

test("RBAC: no delete, no watch, nothing cluster-wide, no Events", async () => {
    const can = (verb: string, resource: string, ns?: string) =>
        kubectl(["auth", "can-i", verb, resource, `--as=system:serviceaccount:${NS}:${SA}`, ...(ns ? ["-n", ns] : [])], { allowFail: true }).trim() || "no";
    expect(can("delete", "leases", NS)).toBe("no");
    expect(can("watch", "leases", NS)).toBe("no");
    expect(can("list", "leases", NS)).toBe("yes");
    expect(can("list", "nodes")).toBe("no");
    expect(can("create", "events", NS)).toBe("no");
    expect(can("list", "leases", "kube-node-lease")).toBe("no");
});
