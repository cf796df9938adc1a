// The shell scripts' safety rules, run for real with bash against stand-ins for the built tools
// (a fake tool cache and a stub `pulumi`), so no Go build or cluster is needed.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.join(__dirname, "..", "..");
const versions = Object.fromEntries(
    fs
        .readFileSync(path.join(root, "scripts", "tools", "versions.env"), "utf8")
        .split("\n")
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => l.split("=", 2) as [string, string]),
);
let work: string;
let cache: string;
let stubBin: string;

beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "pets-scripts-"));
    // A tool cache whose pulumi and provider count as built: build.sh only links them.
    cache = path.join(work, "tools");
    const pulumiKey = `${versions.PULUMI_VERSION}-nodejs-sdk${versions.PULUMI_LANGUAGE_NODEJS_LEGACY_SDK_VERSION}`;
    for (const [dir, bin] of [
        [`pulumi-${pulumiKey}`, "pulumi"],
        [`pulumi-resource-kubernetes-${versions.PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION}`, "pulumi-resource-kubernetes"],
    ]) {
        fs.mkdirSync(path.join(cache, dir, "bin"), { recursive: true });
        fs.writeFileSync(path.join(cache, dir, ".complete"), "test\n");
        // `pulumi whoami` fails: nobody is logged in.
        fs.writeFileSync(path.join(cache, dir, "bin", bin), '#!/bin/sh\n[ "$1" = whoami ] && exit 1\nexit 0\n', { mode: 0o755 });
    }
    stubBin = path.join(work, "bin");
    fs.mkdirSync(stubBin);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Sources pulumi-env.sh, runs pets_pulumi_env, prints the resulting settings as JSON. */
function pulumiEnv(state: string, env: Record<string, string | undefined>, mode = "keep-login") {
    const script = `. "${root}/scripts/pulumi-env.sh" && pets_pulumi_env "$1" ${mode} && node -e 'const e=process.env;console.log(JSON.stringify({url:e.PULUMI_BACKEND_URL,pass:e.PULUMI_CONFIG_PASSPHRASE,file:e.PULUMI_CONFIG_PASSPHRASE_FILE}))'`;
    const base: NodeJS.ProcessEnv = { ...process.env, PETS_USE_BUILT_TOOLS: "1", PETS_TOOLS_CACHE: cache, HOME: work };
    for (const k of ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"]) delete base[k];
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete base[k];
    const r = spawnSync("bash", ["-c", script, "bash", state], { env: { ...base, ...env } as NodeJS.ProcessEnv, encoding: "utf8" });
    const last = r.stdout.trim().split("\n").pop() ?? "";
    return { code: r.status, stderr: r.stderr, out: r.status === 0 ? JSON.parse(last) : undefined };
}

describe("pets_pulumi_env: never an empty passphrase", () => {
    test.each([
        ["nothing set", {}],
        ["an empty PULUMI_CONFIG_PASSPHRASE exported", { PULUMI_CONFIG_PASSPHRASE: "" }],
    ])("with the built tools and %s: a local backend per state dir and a generated passphrase file", (_what, env) => {
        const state = fs.mkdtempSync(path.join(work, "state-"));
        const r = pulumiEnv(state, env);
        expect(r.code).toBe(0);
        expect(r.out).toEqual({ url: `file://${state}/backend`, file: `${state}/passphrase` });
        const pass = fs.readFileSync(`${state}/passphrase`, "utf8");
        expect(pass.length).toBeGreaterThanOrEqual(32);
        expect(fs.statSync(`${state}/passphrase`).mode & 0o777).toBe(0o600);
        // The same state directory keeps its passphrase.
        expect(pulumiEnv(state, env).out).toEqual(r.out);
        expect(fs.readFileSync(`${state}/passphrase`, "utf8")).toBe(pass);
        if ("PULUMI_CONFIG_PASSPHRASE" in env) expect(r.stderr).toMatch(/ignoring the empty PULUMI_CONFIG_PASSPHRASE/);
    });

    test("a passphrase the user gives is kept", () => {
        const state = fs.mkdtempSync(path.join(work, "state-"));
        const r = pulumiEnv(state, { PULUMI_CONFIG_PASSPHRASE: "users-own-passphrase" });
        expect(r.out).toEqual({ url: `file://${state}/backend`, pass: "users-own-passphrase" });
        expect(fs.existsSync(`${state}/passphrase`)).toBe(false);
    });

    test("an empty passphrase file is refused", () => {
        const state = fs.mkdtempSync(path.join(work, "state-"));
        const empty = path.join(state, "empty");
        fs.writeFileSync(empty, "");
        const r = pulumiEnv(state, { PULUMI_CONFIG_PASSPHRASE_FILE: empty });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`PULUMI_CONFIG_PASSPHRASE_FILE=${empty} is missing or empty: refusing an empty passphrase`);
    });

    test("a backend the user chose is kept with keep-login (and env.sh chooses none)", () => {
        const state = fs.mkdtempSync(path.join(work, "state-"));
        const r = pulumiEnv(state, { PULUMI_BACKEND_URL: "s3://bucket/prefix" });
        expect(r.out).toEqual({ url: "s3://bucket/prefix" });
        const envOnly = execFileSync("bash", ["-c", `. "${root}/scripts/tools/env.sh" && env`], {
            env: { PATH: process.env.PATH!, HOME: work },
            encoding: "utf8",
        });
        expect(envOnly).not.toMatch(/^PULUMI_BACKEND_URL=/m);
        expect(envOnly).not.toMatch(/^PULUMI_CONFIG_PASSPHRASE/m);
    });
});

describe("render.sh replaces only a directory a render made", () => {
    function render(dir: string) {
        return spawnSync("bash", [path.join(root, "scripts", "render.sh"), dir], {
            env: { ...process.env, PETS_RENDER_STATE: path.join(work, "render-state"), PETS_USE_BUILT_TOOLS: "1", PETS_TOOLS_CACHE: cache },
            encoding: "utf8",
        });
    }

    test.each([
        ["/", "refusing to render into /: choose a directory of its own"],
        [os.homedir(), `refusing to render into ${os.homedir()}: choose a directory of its own`],
        [root, `refusing to render into ${root}: choose a directory of its own`],
    ])("refuses %s", (dir, message) => {
        const r = render(dir);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(message);
    });

    test("refuses a non-empty directory without its marker, and leaves it alone", () => {
        const foreign = path.join(work, "foreign");
        fs.mkdirSync(foreign);
        fs.writeFileSync(path.join(foreign, "notes.txt"), "keep me");
        const r = render(foreign);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(`refusing to replace ${foreign}: it exists and was not made by a render (no .pets-render file in it)`);
        expect(fs.readFileSync(path.join(foreign, "notes.txt"), "utf8")).toBe("keep me");
    });
});
