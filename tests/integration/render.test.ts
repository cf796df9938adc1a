// Render mode through the real pulumi CLI and Kubernetes provider. It must never touch a cluster:
// rendered twice with the same state directory, without and with KUBECONFIG pointing at the live
// test cluster, the files are identical and the cluster holds none of the objects.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { schemaErrors } from "../support/pulumi";
import { ensureCluster, kubectl, root } from "./support/harness";

let work: string;
let state: string;

beforeAll(() => {
    // Fresh: the test checks the cluster holds none of the dev stack's objects, and files that ran
    // before may leave some (destroy keeps the namespace on purpose); jest's file order varies.
    ensureCluster({ fresh: true });
    work = fs.mkdtempSync(path.join(os.tmpdir(), "pets-render-"));
    // One state directory for every run, as `npm run render` uses by default.
    state = path.join(work, "state");
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function render(dir: string, env: NodeJS.ProcessEnv = {}): string {
    const base = { ...process.env };
    delete base.KUBECONFIG;
    return execFileSync("bash", [path.join(root, "scripts", "render.sh"), dir], {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...base, PETS_RENDER_STATE: state, ...env },
    });
}

function files(dir: string): string[] {
    return fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => fs.statSync(path.join(dir, f)).isFile())
        .sort();
}

/** What the dev stack would create, looked up in the live cluster: must be nothing. */
function clusterObjects(): string[] {
    const found: string[] = [];
    for (const ns of ["pets", "pets-local-path", "tkr-system"]) if (kubectl(["get", "namespace", ns], { allowFail: true })) found.push(`namespace/${ns}`);
    const sts = kubectl(["get", "statefulsets,daemonsets,deployments", "-A", "-o", "name"]).trim();
    if (sts) found.push(...sts.split("\n"));
    if (kubectl(["get", "storageclass", "local-path"], { allowFail: true })) found.push("storageclass/local-path");
    return found;
}

test("render twice with one state directory, then with KUBECONFIG at a live cluster: identical, schema-valid, no Secret, nothing deployed", () => {
    const before = clusterObjects();
    expect(before).toEqual([]);
    const dirs = ["first", "second", "with-kubeconfig"].map((d) => path.join(work, d));
    render(dirs[0]);
    render(dirs[1]);
    // The ambient kubeconfig of a reachable cluster must neither break the render nor be used.
    render(dirs[2], { KUBECONFIG: process.env.PETS_KUBECONFIG });
    // A fourth run replaces its own earlier output in place.
    render(dirs[2], { KUBECONFIG: process.env.PETS_KUBECONFIG });

    const names = files(dirs[0]);
    expect(names.length).toBeGreaterThan(10);
    expect(names).toContain(".pets-render");
    for (const d of dirs.slice(1)) {
        expect(files(d)).toEqual(names);
        for (const f of names) expect(fs.readFileSync(path.join(d, f), "utf8")).toBe(fs.readFileSync(path.join(dirs[0], f), "utf8"));
    }
    expect(clusterObjects()).toEqual([]);

    const docs = names
        .filter((f) => f.endsWith(".yaml"))
        .flatMap((f) => yaml.loadAll(fs.readFileSync(path.join(dirs[0], f), "utf8")))
        .filter(Boolean) as any[];
    expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(["StatefulSet", "Service", "StorageClass", "PodDisruptionBudget", "Namespace"]));
    expect(docs.filter((d) => d.kind === "Secret")).toEqual([]);
    expect(schemaErrors(docs)).toEqual([]);
    const mysql = docs.find((d) => d.kind === "StatefulSet" && d.metadata.name === "mysql");
    expect(mysql.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef).toEqual({ name: "mysql-root-password", key: "password" });
}, 600_000);
