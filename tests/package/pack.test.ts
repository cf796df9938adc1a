// The npm package as a consumer meets it: `npm pack`, install the tarball into a fresh Pulumi
// TypeScript program, type-check a program that uses every exported component, run it under mocks.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.join(__dirname, "..", "..");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
let work: string;
let tarball: string;
let files: string[];

function run(cmd: string, args: string[], cwd: string): string {
    return execFileSync(cmd, args, {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, npm_config_fund: "false", npm_config_audit: "false" },
    });
}

beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "pets-pack-"));
    // The build stage of scripts/test.sh compiled dist/; build again when run alone.
    if (!fs.existsSync(path.join(root, "dist", "components", "index.js"))) run(process.execPath, [tsc, "-p", "tsconfig.build.json"], root);
    const out = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], root));
    tarball = path.join(work, out[0].filename);
    files = out[0].files.map((f: { path: string }) => f.path);
}, 120_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

test("the tarball holds compiled JS, declarations and docs, and no tests, sources or stack files", () => {
    expect(files).toEqual(
        expect.arrayContaining([
            "package.json",
            "README.md",
            "dist/components/index.js",
            "dist/components/index.d.ts",
            "dist/components/statefulworkload.js",
            "dist/components/statefulworkload.d.ts",
        ]),
    );
    const forbidden = files.filter(
        (f) => /^(tests|stacks|scripts|\.ci|\.github)\//.test(f) || /^Pulumi\..*yaml$/.test(f) || /\.ts$/.test(f.replace(/\.d\.ts$/, "")) || f === "index.js",
    );
    expect(forbidden).toEqual([]);
});

test("a fresh Pulumi TypeScript program installs it, type-checks against it and runs it under mocks", () => {
    const app = path.join(work, "app");
    fs.mkdirSync(app);
    fs.writeFileSync(
        path.join(app, "package.json"),
        JSON.stringify({ name: "consumer", private: true, main: "bin/index.js", dependencies: { "pulumi-pets": `file:${tarball}` } }, null, 2),
    );
    fs.writeFileSync(path.join(app, "Pulumi.yaml"), "name: consumer\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], app);
    fs.writeFileSync(
        path.join(app, "tsconfig.json"),
        JSON.stringify(
            {
                compilerOptions: {
                    target: "ES2022",
                    module: "commonjs",
                    strict: true,
                    outDir: "bin",
                    skipLibCheck: false,
                    esModuleInterop: true,
                    types: [],
                    typeRoots: [path.join(root, "node_modules", "@types")],
                },
                files: ["index.ts", "mocks.ts"],
            },
            null,
            2,
        ),
    );
    fs.writeFileSync(
        path.join(app, "mocks.ts"),
        `import * as pulumi from "@pulumi/pulumi";
export const seen: string[] = [];
void pulumi.runtime.setMocks({
    newResource: (a) => { seen.push(a.type + " " + (a.inputs?.metadata?.name ?? a.name)); return { id: a.name, state: { ...a.inputs, result: "generated" } }; },
    call: (a) => a.inputs,
}, "consumer", "dev", false);
`,
    );
    fs.writeFileSync(
        path.join(app, "index.ts"),
        `import { seen } from "./mocks";
import * as pets from "pulumi-pets";

const wl = new pets.StatefulWorkload("app", { image: "busybox:1.36", replicas: 2, volumeClaims: [{ name: "data", size: "1Gi", mountPath: "/data" }] });
const db = new pets.MySql("db", {});
const web = new pets.NginxWeb("web", {});
const kubia = new pets.Kubia("kubia", {});
const storage = new pets.LocalPathProvisioner("local-path", { namespace: "pets-local-path" });
const liberator = new pets.NodeLiberator("liberator", {});
const certManager = new pets.CertManager("cert-manager", { mode: "existing" });
const ca = new pets.PrivateCa("pets-ca", { namespace: "default" });
const secure = new pets.StatefulWorkload("secure", { image: "busybox:1.36", tls: { issuerRef: ca.issuerRef } });
const names: string[] = [wl.statefulSet ? "sts" : "", db.passwordSecret ? "secret" : ""];
let failed = false;
try { new pets.StatefulWorkload("Bad_Name", { image: "x" }); } catch (e) { failed = e instanceof pets.ValidationError; }
setTimeout(() => {
    wl.podDnsNames.apply((dns) => {
        console.log(JSON.stringify({ dns, names, failed, seen: seen.length, kinds: [web, kubia, storage, liberator, certManager, secure].length }));
    });
}, 500);
`,
    );
    run(process.execPath, [tsc, "-p", "."], app);
    const out = run(process.execPath, ["bin/index.js"], app).trim().split("\n").pop()!;
    const result = JSON.parse(out);
    expect(result.dns).toEqual(["app-0.app.default.svc.cluster.local", "app-1.app.default.svc.cluster.local"]);
    expect(result.failed).toBe(true);
    expect(result.seen).toBeGreaterThan(15);
}, 300_000);
