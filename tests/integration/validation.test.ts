// Bad input met by the real pulumi CLI: one clear error naming the field, the value and what is
// valid, without a stack trace or the SDK's serialization noise, and nothing created.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { root } from "./support/harness";

test("a namespace given as an Output that resolves to an invalid value fails preview with one clear error", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-output-ns-"));
    try {
        const ws = path.join(dir, "ws");
        fs.mkdirSync(ws);
        for (const f of ["components", "tests", "node_modules", "tsconfig.json", "package.json"]) fs.symlinkSync(path.join(root, f), path.join(ws, f));
        fs.writeFileSync(
            path.join(ws, "Pulumi.yaml"),
            "name: output-namespace\nmain: tests/integration/fixtures/output-namespace/index.ts\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n",
        );
        fs.mkdirSync(path.join(dir, "backend"));
        const env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${dir}/backend`,
            PULUMI_CONFIG_PASSPHRASE: "integration-test-only",
            PETS_FIXTURE_OUT: path.join(dir, "out"),
        };
        const pulumi = (...args: string[]) => spawnSync("pulumi", [...args, "--non-interactive", "--cwd", ws], { env, encoding: "utf8" });
        expect(pulumi("stack", "init", "dev").status).toBe(0);
        expect(pulumi("config", "set", "namespace", "Bad_NS").status).toBe(0);
        const r = pulumi("preview");
        expect(r.status).not.toBe(0);
        const errors = r.stdout.split("\n").filter((l) => /^\s*error: /.test(l));
        expect(errors.map((l) => l.trim())).toEqual([
            'error: StatefulWorkload "web": namespace = "Bad_NS" is invalid: must be a DNS-1123 label: lower-case letters, digits and \'-\', starting and ending with a letter or digit, at most 63 characters',
        ]);
        expect(r.stdout).not.toMatch(/error serializing property|unhandled exception|at .*validation\.ts/);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 300_000);
