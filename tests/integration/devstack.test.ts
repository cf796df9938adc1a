// The dev stack deployed by the real pulumi CLI onto REAL nodes (kubelet + containerd in
// namespaces of this machine, scripts/cluster/README.md), with the locally built images, the real
// local-path provisioner, the real NodeLiberator (agents and controller as pods), CoreDNS and the
// real cert-manager controller. Every promise is checked by reading bytes back: rows from MySQL,
// files served by nginx and found on the node's disk, DNS answers, certificates served over TLS.
// One stack, in order: deploy, identity, storage through scale / replace / node power-off,
// canary, TLS, destroy.
import { execFileSync } from "child_process";
import * as fs from "fs";
import { isReady, kubeconfig, kubectl, kubectlJson, pods, root, TestStack, waitFor } from "./support/harness";
import { RunningCertManager, startCertManager, stopCertManager } from "./support/certmanager";
import {
    ensureRealCluster,
    hostPathOnNode,
    killNode,
    kubectlExec,
    nodeReadyStatus,
    PhaseClock,
    realImages,
    realNodes,
    restoreAllRealNodes,
    startNode,
} from "./support/realnodes";
import * as path from "path";

const NS = "pets";
const CLIENT_NS = "pets-client";
const WEB = "app.kubernetes.io/instance=web";
let stack: TestStack;
let images: ReturnType<typeof realImages>;
const timings: Record<string, number> = {};
const figures: string[] = [];

const pod = (name: string, ns = NS) => kubectlJson(["-n", ns, "get", "pod", name]);
const podOrNone = (name: string, ns = NS): any =>
    kubectlJson<{ items: any[] }>(["-n", ns, "get", "pods", "--field-selector", `metadata.name=${name}`]).items[0];
const readyPod = (name: string, ns = NS) => {
    const p = podOrNone(name, ns);
    return p && !p.metadata.deletionTimestamp && isReady(p) ? p : undefined;
};
const pvc = (name: string) => kubectlJson(["-n", NS, "get", "pvc", name]);

/** The client's Ready pod. A Deployment: the power-cycle test may take the node it ran on out of service (the liberator's taint evicts it). */
function clientPod(): string | undefined {
    const items = kubectlJson<{ items: any[] }>(["-n", CLIENT_NS, "get", "pods", "-l", "app=node-client"]).items;
    return items.find((p) => !p.metadata.deletionTimestamp && isReady(p))?.metadata.name;
}

/** Waits for a Ready client pod (at the start of each test that uses it). */
function clientReady(): Promise<string> {
    return waitFor("a Ready client pod", clientPod, 180_000, 1000);
}

/** Runs a Node.js script in the client pod (our Node image) and parses the JSON it prints. */
function nodeClient<T = any>(script: string, input?: string): T {
    const name = clientPod();
    if (!name) throw new Error(`no Ready client pod in ${CLIENT_NS}`);
    const out = kubectlExec(CLIENT_NS, name, ["node", "-e", script], { input, timeoutMs: 60_000 });
    return JSON.parse(out.trim().split("\n").pop()!) as T;
}

function sql(podName: string, query: string): string {
    return kubectlExec(NS, podName, ["sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -h 127.0.0.1 -uroot -N -B -e "$0"', query]).trim();
}

/** The file a pod's PVC keeps on its node, read from the node's own disk on the host. */
function volumeFileOnNode(claim: string, file: string): { node: string; hostPath: string } {
    const pv = kubectlJson(["get", "pv", pvc(claim).spec.volumeName]);
    const onNode: string = pv.spec.local?.path ?? pv.spec.hostPath?.path;
    const node: string = pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0];
    return { node, hostPath: path.join(hostPathOnNode(node, onNode), file) };
}

/** Adds a tag to an image in every real node's containerd (a second "version" for the canary). */
function tagOnAllNodes(src: string, dst: string): void {
    for (const n of realNodes()) {
        execFileSync("bash", [path.join(root, "scripts", "cluster", "node.sh"), "exec", n, "ctr", "-n", "k8s.io", "images", "tag", "--force", src, dst], {
            stdio: ["ignore", "ignore", "pipe"],
        });
    }
}

beforeAll(async () => {
    const clock = new PhaseClock("cluster");
    ensureRealCluster(3, { fresh: true, kwokWorkers: 0 });
    clock.mark("up.sh, 3 real nodes");
    const certManager: RunningCertManager = startCertManager();
    clock.mark(`cert-manager controller (log ${certManager.log})`);
    figures.push(clock.report());
    images = realImages();
    // A client pod in a namespace of its own (the stack's own namespace is the one under test).
    kubectl(["create", "namespace", CLIENT_NS]);
    await waitFor(
        "client namespace's ServiceAccount",
        () => kubectl(["-n", CLIENT_NS, "get", "sa", "default", "-o", "name"], { allowFail: true }).trim() !== "",
        60_000,
    );
    execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "apply", "-f", "-"], {
        input: JSON.stringify({
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "node-client", namespace: CLIENT_NS },
            spec: {
                replicas: 1,
                selector: { matchLabels: { app: "node-client" } },
                template: {
                    metadata: { labels: { app: "node-client" } },
                    spec: {
                        terminationGracePeriodSeconds: 1,
                        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [
                            {
                                name: "node",
                                image: images.node,
                                imagePullPolicy: "IfNotPresent",
                                command: ["node", "-e", "setInterval(() => {}, 1 << 30)"],
                                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true },
                            },
                        ],
                    },
                },
            },
        }),
        stdio: ["pipe", "ignore", "pipe"],
    });
    stack = new TestStack("dev", {
        "pets:web": { replicas: 3, partition: 0, image: images.nginx },
        "pets:mysql": { replicas: 1, image: images.mariadb },
        "pets:kubia": { enabled: true, image: images.node },
        "pets:localPath": { image: images["local-path-provisioner"], helperImage: images.busybox },
        "pets:liberator": { image: images.node },
        "pets:tls": { enabled: true, waitForReady: true },
    });
    await stack.init();
    await clientReady();
}, 900_000);

afterAll(() => {
    try {
        restoreAllRealNodes();
    } finally {
        stopCertManager();
        process.stdout.write(`[devstack] pulumi timings (s): ${JSON.stringify(timings)}\n${figures.join("\n")}\n`);
        stack?.cleanup();
    }
});

test("pulumi up deploys real pods that serve: MySQL answers, nginx serves, the provisioner makes the directories, the liberator beats", async () => {
    await clientReady();
    const r = await stack.up();
    timings.up = r.seconds;
    const web = pods(NS, WEB).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    expect(web.map((p) => p.metadata.name)).toEqual(["web-0", "web-1", "web-2"]);
    expect(web.every(isReady)).toBe(true);
    // OrderedReady: each pod was created only after the one before it was Ready.
    const created = web.map((p) => Date.parse(p.metadata.creationTimestamp));
    const ready = web.map((p) => Date.parse(p.status.conditions.find((c: any) => c.type === "Ready").lastTransitionTime));
    for (let i = 1; i < web.length; i++) expect(created[i]).toBeGreaterThanOrEqual(ready[i - 1]);
    for (const p of [...web, pod("mysql-0"), pod("kubia-0"), pod("kubia-1")]) expect(realNodes()).toContain(p.spec.nodeName);

    // MySQL (MariaDB here) answers, with the generated password the stack outputs, over the network.
    const outputs = await stack.outputs();
    expect(outputs.mysqlRootPassword).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(sql("mysql-0", "SELECT 1+1")).toBe("2");
    const remote = kubectlExec(
        NS,
        "mysql-0",
        ["sh", "-c", 'MYSQL_PWD="$(cat)" mysql -h mysql-0.mysql.pets.svc.cluster.local -uroot -N -B -e "SELECT CURRENT_USER()"'],
        { input: String(outputs.mysqlRootPassword) },
    );
    expect(remote.trim()).toMatch(/^root@/);

    // nginx: each pod serves its own volume. Write a file into each pod's volume, read it back
    // through its stable DNS name from another pod, and from the node's disk.
    for (let n = 0; n < 3; n++) kubectlExec(NS, `web-${n}`, ["sh", "-c", `echo "served by web-${n} from its own volume" > /usr/share/nginx/html/index.html`]);
    const served = nodeClient<string[]>(
        `Promise.all([0,1,2].map(n => fetch("http://web-" + n + ".web.pets.svc.cluster.local:8080/").then(r => r.text()))).then(t => console.log(JSON.stringify(t)))`,
    );
    expect(served).toEqual([0, 1, 2].map((n) => `served by web-${n} from its own volume\n`));
    for (let n = 0; n < 3; n++) {
        const f = volumeFileOnNode(`www-web-${n}`, "index.html");
        expect(f.node).toBe(pod(`web-${n}`).spec.nodeName);
        expect(fs.readFileSync(f.hostPath, "utf8")).toBe(`served by web-${n} from its own volume\n`);
    }

    // The local-path provisioner runs as the component's Deployment; its helper pods made a
    // directory per claim, named as upstream names them, on the pod's node.
    const provisioner = kubectlJson<{ items: any[] }>(["-n", "pets-local-path", "get", "pods", "-l", "app.kubernetes.io/name=local-path-provisioner"]).items;
    expect(provisioner.filter(isReady)).toHaveLength(1);
    const pv = kubectlJson(["get", "pv", pvc("data-mysql-0").spec.volumeName]);
    expect(pv.spec.local?.path ?? pv.spec.hostPath?.path).toMatch(new RegExp(`^/opt/local-path-provisioner/${pv.metadata.name}_pets_data-mysql-0$`));
    expect(fs.statSync(path.dirname(volumeFileOnNode("data-mysql-0", "x").hostPath)).isDirectory()).toBe(true);

    // The liberator: an agent on every real node renews its heartbeat Lease, armed to fence its
    // node; the controller holds the leader Lease.
    const leases = () => kubectlJson<{ items: any[] }>(["-n", "tkr-system", "get", "leases"]).items;
    const beats = () =>
        Object.fromEntries(
            leases()
                .filter((l) => l.metadata.name.startsWith("heartbeat."))
                .map((l) => [l.metadata.name, l.spec.renewTime]),
        );
    const first = await waitFor("a heartbeat Lease per real node", () => (realNodes().every((n) => beats()[`heartbeat.${n}`]) ? beats() : undefined), 120_000);
    await waitFor(
        "every real node's heartbeat renewed again",
        () => realNodes().every((n) => beats()[`heartbeat.${n}`] !== first[`heartbeat.${n}`]),
        60_000,
        1000,
    );
    for (const n of realNodes()) {
        const l = leases().find((x) => x.metadata.name === `heartbeat.${n}`);
        expect([n, l.metadata.annotations["liberator.pets/armed"], l.metadata.annotations["liberator.pets/arm-problems"] ?? ""]).toEqual([n, "true", ""]);
    }
    const leader = leases().find((l) => l.metadata.name === "liberator");
    expect(leader.spec.holderIdentity).toMatch(/^liberator-controller-/);

    const p = await stack.preview(["--expect-no-changes", "--diff"]);
    timings.previewNoChanges = p.seconds;
    if (p.code !== 0) throw new Error(`preview shows changes:\n${p.stdout}\n${p.stderr}`);
}, 900_000);

test("the generated MySQL root password is a stack output only with --show-secrets, it is the Secret MySQL reads, and never plain in the state", async () => {
    const outputs = await stack.outputs(); // --show-secrets
    const secret = kubectlJson(["-n", NS, "get", "secret", "mysql-root-password"]);
    const password = Buffer.from(secret.data.password, "base64").toString("utf8");
    expect(outputs.mysqlRootPassword).toBe(password);
    const hidden = await stack.run(["stack", "output", "mysqlRootPassword"], 60_000);
    expect(hidden.stdout.trim()).toBe("[secret]");
    expect(fs.readFileSync(stack.stateFile(), "utf8")).not.toContain(password);
}, 120_000);

test("stable identity: each pod's DNS name resolves to its current IP, the SRV record lists every ordinal, and the name follows a moved pod", async () => {
    await clientReady();
    const resolve = () =>
        nodeClient<{ a: Record<string, string[]>; srv: string[] }>(`
const dns = require("dns").promises;
(async () => {
  const a = {};
  for (const n of [0, 1, 2]) a["web-" + n] = await dns.resolve4("web-" + n + ".web.pets.svc.cluster.local");
  const srv = (await dns.resolveSrv("_http._tcp.web.pets.svc.cluster.local")).map(r => r.name + ":" + r.port).sort();
  console.log(JSON.stringify({ a, srv }));
})();`);
    const before = resolve();
    for (let n = 0; n < 3; n++) expect(before.a[`web-${n}`]).toEqual([pod(`web-${n}`).status.podIP]);
    expect(before.srv).toEqual([0, 1, 2].map((n) => `web-${n}.web.pets.svc.cluster.local:8080`));

    // A new web-1 (same name, same PVC, a new IP): the name follows it.
    const old = pod("web-1");
    kubectl(["-n", NS, "delete", "pod", "web-1", "--wait=true"]);
    const fresh = await waitFor("a new web-1 Ready", () => {
        const p = readyPod("web-1");
        return p && p.metadata.uid !== old.metadata.uid ? p : undefined;
    });
    const after = await waitFor("DNS answering the new web-1 address", () => {
        const r = resolve();
        return r.a["web-1"][0] === fresh.status.podIP ? r : undefined;
    });
    expect(after.a["web-1"]).toEqual([fresh.status.podIP]);
    figures.push(`[dns] web-1 ${old.status.podIP} -> ${fresh.status.podIP}`);

    // kubia finds its peers through the SRV records and asks each one (the book's chapter 10).
    for (const n of [0, 1])
        kubectlExec(NS, `kubia-${n}`, [
            "node",
            "-e",
            `fetch("http://localhost:8080/", { method: "POST", body: "data of kubia-${n}" }).then(r => r.text()).then(console.log)`,
        ]);
    const cluster = nodeClient<string>(
        `fetch("http://kubia-0.kubia.pets.svc.cluster.local:8080/cluster").then(r => r.text()).then(t => console.log(JSON.stringify(t)))`,
    );
    expect(cluster).toBe(
        "You've hit kubia-0\nData stored in the cluster:\n" +
            "- kubia-0.kubia.pets.svc.cluster.local: data of kubia-0\n" +
            "- kubia-1.kubia.pets.svc.cluster.local: data of kubia-1\n",
    );
}, 300_000);

test("a MySQL row survives a pod delete and scale 3 → 1 → 3 (same PVC, same row)", async () => {
    sql(
        "mysql-0",
        "CREATE DATABASE IF NOT EXISTS pets; CREATE TABLE IF NOT EXISTS pets.notes (n VARCHAR(64)); INSERT INTO pets.notes VALUES ('row of mysql-0')",
    );
    const uid0 = pod("mysql-0").metadata.uid;
    kubectl(["-n", NS, "delete", "pod", "mysql-0", "--wait=true"]);
    await waitFor("a new mysql-0 Ready", () => readyPod("mysql-0")?.metadata.uid !== uid0 && readyPod("mysql-0"), 240_000);
    expect(sql("mysql-0", "SELECT n FROM pets.notes")).toBe("row of mysql-0");

    stack.set({ "pets:mysql": { replicas: 3 } });
    timings.mysqlScaleTo3 = (await stack.up()).seconds;
    for (const n of [1, 2])
        sql(`mysql-${n}`, `CREATE DATABASE pets; CREATE TABLE pets.notes (n VARCHAR(64)); INSERT INTO pets.notes VALUES ('row of mysql-${n}')`);
    const claims = [0, 1, 2].map((n) => pvc(`data-mysql-${n}`).metadata.uid);

    stack.set({ "pets:mysql": { replicas: 1 } });
    timings.mysqlScaleTo1 = (await stack.up()).seconds;
    await waitFor("mysql-1 and mysql-2 gone", () => !podOrNone("mysql-1") && !podOrNone("mysql-2"), 180_000);
    expect([1, 2].map((n) => pvc(`data-mysql-${n}`).status.phase)).toEqual(["Bound", "Bound"]);

    stack.set({ "pets:mysql": { replicas: 3 } });
    timings.mysqlScaleBackTo3 = (await stack.up()).seconds;
    for (const n of [0, 1, 2]) {
        expect(pvc(`data-mysql-${n}`).metadata.uid).toBe(claims[n]);
        expect(sql(`mysql-${n}`, "SELECT n FROM pets.notes")).toBe(`row of mysql-${n}`);
    }
}, 900_000);

test("web scale 3 → 1 → 3: highest ordinals go first, and each pod gets its own files back", async () => {
    stack.set({ "pets:web": { replicas: 1 } });
    const gone: string[] = [];
    let watching = true;
    const watcher = (async () => {
        while (watching) {
            const present = new Set(
                pods(NS, WEB)
                    .filter((p) => !p.metadata.deletionTimestamp)
                    .map((p) => p.metadata.name),
            );
            for (const n of ["web-2", "web-1"]) if (!present.has(n) && !gone.includes(n)) gone.push(n);
            await new Promise((r) => setTimeout(r, 200));
        }
    })();
    timings.webScaleDown = (await stack.up()).seconds;
    await waitFor("web-1 and web-2 gone", () => pods(NS, WEB).length === 1, 120_000);
    watching = false;
    await watcher;
    expect(gone).toEqual(["web-2", "web-1"]);

    stack.set({ "pets:web": { replicas: 3 } });
    timings.webScaleUp = (await stack.up()).seconds;
    for (let n = 0; n < 3; n++) {
        expect(kubectlExec(NS, `web-${n}`, ["cat", "/usr/share/nginx/html/index.html"])).toBe(`served by web-${n} from its own volume\n`);
    }
}, 900_000);

test("an immutable-field change replaces the StatefulSet instead of failing half-way; the row survives", async () => {
    const before = kubectlJson(["-n", NS, "get", "statefulset", "mysql"]).metadata.uid;
    const claims = [0, 1, 2].map((n) => pvc(`data-mysql-${n}`).metadata.uid);
    stack.set({ "pets:mysql": { podManagementPolicy: "Parallel" } });
    // The preview names the replace; the provider's server-side dry run of the replacement is then
    // refused by the API server's immutability check (pulumi-kubernetes#3984), so `up` runs
    // without a preview (README, "Immutable fields").
    const p = await stack.preview(["--diff"]);
    expect(p.stdout).toContain("+-kubernetes:apps/v1:StatefulSet: (replace)");
    expect(p.stdout).toContain('podManagementPolicy: "OrderedReady" => "Parallel"');
    timings.replace = (await stack.up()).seconds;
    const sts = kubectlJson(["-n", NS, "get", "statefulset", "mysql"]);
    expect(sts.metadata.uid).not.toBe(before);
    expect(sts.spec.podManagementPolicy).toBe("Parallel");
    await waitFor("mysql-0..2 Ready", () => [0, 1, 2].every((n) => readyPod(`mysql-${n}`)), 240_000);
    for (const n of [0, 1, 2]) {
        expect(pvc(`data-mysql-${n}`).metadata.uid).toBe(claims[n]);
        expect(sql(`mysql-${n}`, "SELECT n FROM pets.notes")).toBe(`row of mysql-${n}`);
    }
    stack.set({ "pets:mysql": { replicas: 1 } });
    timings.mysqlScaleTo1Again = (await stack.up()).seconds;
}, 900_000);

test("its node powered off and on again, mysql-0 waits for its local volume and comes back with its row (localVolumePolicy wait)", async () => {
    const node = pod("mysql-0").spec.nodeName;
    const clock = new PhaseClock(`power-cycle ${node}`);
    killNode(node);
    clock.mark("killed");
    await waitFor(`${node} not Ready`, () => nodeReadyStatus(node) !== "True", 180_000, 1000);
    clock.mark("NotReady");
    // The pod cannot start anywhere else: its volume lives on that node. It must not come back
    // elsewhere with an empty data directory.
    await new Promise((r) => setTimeout(r, 20_000));
    const during = podOrNone("mysql-0");
    expect(!during || !isReady(during) || during.spec.nodeName === node).toBe(true);
    startNode(node);
    clock.mark("started");
    await waitFor(`${node} Ready`, () => nodeReadyStatus(node) === "True", 180_000, 1000);
    clock.mark("Ready");
    const back = await waitFor("mysql-0 Ready again", () => readyPod("mysql-0"), 300_000, 1000);
    clock.mark("mysql-0 Ready");
    figures.push(clock.report());
    expect(back.spec.nodeName).toBe(node);
    expect(sql("mysql-0", "SELECT n FROM pets.notes")).toBe("row of mysql-0");
    // The node is back in service (the liberator removes a taint it added).
    await waitFor(
        `no out-of-service taint on ${node}`,
        () => !(kubectlJson(["get", "node", node]).spec.taints ?? []).some((t: any) => t.key === "node.kubernetes.io/out-of-service"),
        120_000,
        1000,
    );
}, 900_000);

test("a partitioned rolling update (canary) completes pulumi up and updates only the ordinals above the partition", async () => {
    const canary = images.nginx.replace(/:[^:]+$/, ":canary");
    tagOnAllNodes(images.nginx, canary);
    stack.set({ "pets:web": { partition: 2, image: canary } });
    const r = await stack.up();
    timings.canary = r.seconds;
    expect(r.seconds).toBeLessThan(300); // the provider's own timeout is 600 s: no hang
    await waitFor("web-2 on the canary image and Ready", () => pod("web-2").spec.containers[0].image === canary && isReady(pod("web-2")), 120_000);
    expect(pod("web-0").spec.containers[0].image).toBe(images.nginx);
    expect(pod("web-1").spec.containers[0].image).toBe(images.nginx);
    expect(kubectlExec(NS, "web-2", ["cat", "/usr/share/nginx/html/index.html"])).toBe("served by web-2 from its own volume\n");
    stack.set({ "pets:web": { partition: 0, image: images.nginx } });
    timings.canaryBack = (await stack.up()).seconds;
}, 900_000);

/** Connects with TLS to a pod's stable name, verifying the certificate against `ca`; returns what was verified and served. */
function tlsProbe(host: string, ca: string): { authorized: boolean; error?: string; san: string; body: string } {
    return nodeClient(
        `
const tls = require("tls");
const ca = require("fs").readFileSync(0, "utf8");
const s = tls.connect({ host: ${JSON.stringify(host)}, port: 8443, ca, servername: ${JSON.stringify(host)} }, () => {
  const san = s.getPeerCertificate().subjectaltname;
  s.write("GET / HTTP/1.0\\r\\nHost: ${host}\\r\\n\\r\\n");
  let body = "";
  s.on("data", d => body += d);
  s.on("end", () => console.log(JSON.stringify({ authorized: s.authorized, san, body: body.split("\\r\\n\\r\\n")[1] })));
});
s.on("error", e => console.log(JSON.stringify({ authorized: false, error: e.message, san: "", body: "" })));`,
        ca,
    );
}

test("TLS: the certificate is issued and served; a client verifies web-1 against the CA bundle, and after scale-up web-3's name is served", async () => {
    await clientReady();
    const outputs = await stack.outputs();
    // The stack output says where the CA bundle is: a key of the certificate's Secret.
    const ref = (outputs.webTls as any).caBundle as { secretName: string; key: string };
    const caPem = Buffer.from(kubectlJson(["-n", NS, "get", "secret", ref.secretName]).data[ref.key], "base64").toString();
    expect(caPem).toContain("BEGIN CERTIFICATE");
    const probe1 = tlsProbe("web-1.web.pets.svc.cluster.local", caPem);
    expect(probe1.error).toBeUndefined();
    expect(probe1.authorized).toBe(true);
    expect(probe1.san).toContain("DNS:web-1.web.pets.svc.cluster.local");
    expect(probe1.body).toBe("served by web-1 from its own volume\n");
    // Another CA (the cluster's own) is refused: the check can fail.
    const wrongCa = Buffer.from(kubectlJson(["-n", "kube-system", "get", "configmap", "kube-root-ca.crt"]).data["ca.crt"]).toString();
    expect(tlsProbe("web-1.web.pets.svc.cluster.local", wrongCa).authorized).toBe(false);

    stack.set({ "pets:web": { replicas: 4 } });
    timings.tlsScaleUp = (await stack.up()).seconds;
    const cert = kubectlJson(["-n", NS, "get", "certificate", "web-tls"]);
    expect(cert.spec.dnsNames).toContain("web-3.web.pets.svc.cluster.local");
    kubectlExec(NS, "web-3", ["sh", "-c", 'echo "served by web-3 from its own volume" > /usr/share/nginx/html/index.html']);
    const probe3 = tlsProbe("web-3.web.pets.svc.cluster.local", caPem);
    expect(probe3.authorized).toBe(true);
    expect(probe3.san).toContain("DNS:web-3.web.pets.svc.cluster.local");
    expect(probe3.body).toBe("served by web-3 from its own volume\n");
    stack.set({ "pets:web": { replicas: 3 } });
    timings.tlsScaleDown = (await stack.up()).seconds;
}, 900_000);

test("local-path: a released volume's directory stays (Retain) until its PV is switched to Delete, then the helper pod removes it", async () => {
    // Turning kubia off deletes its StatefulSet; its PVCs stay (retention policy).
    const { node, hostPath } = volumeFileOnNode("data-kubia-1", "kubia.txt");
    expect(fs.readFileSync(hostPath, "utf8")).toBe("data of kubia-1");
    stack.set({ "pets:kubia": { enabled: false } });
    timings.kubiaOff = (await stack.up()).seconds;
    await waitFor("kubia pods gone", () => pods(NS, "app.kubernetes.io/instance=kubia").length === 0, 120_000);
    const pvName = pvc("data-kubia-1").spec.volumeName;
    kubectl(["-n", NS, "delete", "pvc", "data-kubia-1", "--wait=true"]);
    await waitFor(`PV ${pvName} Released`, () => kubectlJson(["get", "pv", pvName]).status.phase === "Released", 60_000);
    expect(fs.readFileSync(hostPath, "utf8")).toBe("data of kubia-1");
    kubectl(["patch", "pv", pvName, "-p", '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}']);
    await waitFor(`PV ${pvName} deleted`, () => kubectl(["get", "pv", pvName, "--ignore-not-found", "-o", "name"]).trim() === "", 120_000, 1000);
    await waitFor(`its directory gone from ${node}`, () => !fs.existsSync(path.dirname(hostPath)), 60_000, 1000);
}, 600_000);

test("pulumi destroy removes everything but the retained PVCs (and the namespace holding them); the data stays on the nodes", async () => {
    timings.destroy = (await stack.destroy()).seconds;
    await waitFor("web and mysql pods gone", () => pods(NS, WEB).length === 0 && !podOrNone("mysql-0"), 180_000);
    expect(
        kubectl(["-n", NS, "get", "statefulsets,services,poddisruptionbudgets,configmaps,certificates,issuers", "-o", "name"])
            .split("\n")
            .filter((l) => l && !l.includes("kube-root-ca")),
    ).toEqual([]);
    // What is left are the PVCs and the Secrets cert-manager wrote: it keeps a Certificate's Secret
    // when the Certificate goes (docs/tls.md); the stack's own Secret (the MySQL password) is gone.
    const secrets = kubectlJson<{ items: any[] }>(["-n", NS, "get", "secrets"]).items;
    expect(secrets.map((s) => `${s.metadata.name} ${s.type}`).sort()).toEqual([
        "mysql-tls kubernetes.io/tls",
        "pets-ca-ca kubernetes.io/tls",
        "web-tls kubernetes.io/tls",
    ]);
    const claims = kubectlJson<{ items: any[] }>(["-n", NS, "get", "pvc"])
        .items.map((p) => p.metadata.name)
        .sort();
    expect(claims).toEqual(["data-kubia-0", "data-mysql-0", "data-mysql-1", "data-mysql-2", "www-web-0", "www-web-1", "www-web-2", "www-web-3"]);
    expect(fs.readFileSync(volumeFileOnNode("www-web-2", "index.html").hostPath, "utf8")).toBe("served by web-2 from its own volume\n");
    expect(kubectl(["get", "storageclass", "local-path"], { allowFail: true })).toBe("");
    expect(kubectl(["get", "namespace", "pets-local-path"], { allowFail: true })).toBe("");
}, 600_000);

test("bad stack config fails pulumi preview with the clear error, and nothing is created", async () => {
    const bad = new TestStack("bad", { "pets:namespace": "pets-bad", "pets:web": { replicas: -1 } });
    try {
        await bad.init();
        const r = await bad.preview();
        expect(r.code).not.toBe(0);
        expect(r.stdout + r.stderr).toContain("stack config: pets:web.replicas = -1 is invalid: must be a whole number >= 0");
        expect(kubectl(["get", "namespace", "pets-bad"], { allowFail: true })).toBe("");
    } finally {
        bad.cleanup();
    }
}, 300_000);
