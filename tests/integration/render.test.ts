// Render mode through the real pulumi CLI and Kubernetes provider: no cluster is involved.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { schemaErrors } from "../support/pulumi";
import { root } from "./support/harness";

function render(dir: string): void {
    execFileSync("bash", [path.join(root, "scripts", "render.sh"), dir], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PETS_RENDER_STATE: fs.mkdtempSync(path.join(os.tmpdir(), "pets-render-state-")) },
    });
}

function files(dir: string): string[] {
    return fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => fs.statSync(path.join(dir, f)).isFile())
        .sort();
}

test("render mode writes deterministic, schema-valid YAML with no Secret in it", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "pets-render-"));
    try {
        const a = path.join(work, "a");
        const b = path.join(work, "b");
        render(a);
        render(b);
        const names = files(a);
        expect(names.length).toBeGreaterThan(10);
        expect(files(b)).toEqual(names);
        for (const f of names) expect(fs.readFileSync(path.join(b, f), "utf8")).toBe(fs.readFileSync(path.join(a, f), "utf8"));

        const docs = names.flatMap((f) => yaml.loadAll(fs.readFileSync(path.join(a, f), "utf8"))).filter(Boolean) as any[];
        expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(["StatefulSet", "Service", "StorageClass", "PodDisruptionBudget", "Namespace"]));
        expect(docs.filter((d) => d.kind === "Secret")).toEqual([]);
        expect(schemaErrors(docs)).toEqual([]);
        const mysql = docs.find((d) => d.kind === "StatefulSet" && d.metadata.name === "mysql");
        expect(mysql.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef).toEqual({ name: "mysql-root-password", key: "password" });
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}, 300_000);
