// The GitHub Actions workflow as GitHub reads it (actionlint checks the syntax in the test
// command; these check what we promise about it).
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const text = fs.readFileSync(path.join(root, ".github", "workflows", "preview.yml"), "utf8");
const wf = yaml.load(text) as any;
const jobs = Object.entries(wf.jobs as Record<string, any>);
const allSteps: any[] = jobs.flatMap(([, j]) => j.steps);

describe("the GitHub Actions preview workflow", () => {
    test("runs on pull requests and previews the dev stack", () => {
        expect(Object.keys(wf.on)).toContain("pull_request");
        const preview = allSteps.find((s) => String(s.uses).startsWith("pulumi/actions@"));
        expect(preview.with).toMatchObject({ command: "preview", "stack-name": "dev" });
    });

    test("caches dependencies", () => {
        for (const s of allSteps.filter((x) => String(x.uses).startsWith("actions/setup-node@"))) expect(s.with.cache).toBe("npm");
        expect(allSteps.some((s) => String(s.uses).startsWith("actions/cache@"))).toBe(true);
    });

    test("every npm script it runs exists in package.json", () => {
        const scripts = allSteps
            .filter((s) => typeof s.run === "string")
            .flatMap((s) => [...(s.run as string).matchAll(/npm run ([\w:-]+)/g)].map((mm) => mm[1]));
        expect(scripts.length).toBeGreaterThan(0);
        for (const s of scripts) expect(Object.keys(pkg.scripts)).toContain(s);
    });

    test("runs only on supported Node.js releases, and tests the package on 22 and 24", () => {
        const versions = allSteps.filter((s) => String(s.uses).startsWith("actions/setup-node@")).map((s) => String(s.with["node-version"]));
        const matrix = jobs.flatMap(([, j]) => (j.strategy?.matrix?.node ?? []) as number[]);
        expect(matrix).toEqual([22, 24]);
        for (const v of versions) {
            if (v.includes("matrix.node")) continue;
            expect(Number(v)).toBeGreaterThanOrEqual(22);
        }
        const test = jobs.find(([, j]) => j.strategy?.matrix?.node)![1];
        expect(test.steps.map((s: any) => s.run).join("\n")).toMatch(/npm run test:package/);
    });

    test("secrets never appear in an `if:` (GitHub refuses the file) and never job- or workflow-wide", () => {
        for (const s of allSteps) expect(String(s.if ?? "")).not.toMatch(/secrets\./);
        expect(JSON.stringify(wf.env ?? {})).not.toMatch(/secrets\./);
        for (const [, j] of jobs) expect(JSON.stringify(j.env ?? {})).not.toMatch(/secrets\./);
        // Only the steps that need a secret get it, as an environment variable of that step.
        const withSecrets = allSteps.filter((s) => JSON.stringify(s.env ?? {}).includes("secrets."));
        expect(withSecrets.map((s) => s.name ?? s.uses)).toEqual(["Is a kubeconfig given?", "Kubeconfig from secret", "pulumi/actions@v6"]);
        // Never expanded into a shell command, where it would be interpolated into the script.
        for (const s of allSteps) expect(String(s.run ?? "")).not.toMatch(/\$\{\{\s*secrets\./);
    });

    test("the kubeconfig is written from an environment variable to a private file", () => {
        const step = allSteps.find((s) => s.name === "Kubeconfig from secret");
        expect(step.env).toEqual({ KUBECONFIG_DATA: "${{ secrets.KUBECONFIG_DATA }}" });
        expect(step.run).toMatch(/umask 077/);
        expect(step.run).toMatch(/chmod 600 "\$RUNNER_TEMP\/kubeconfig"/);
        expect(step.run).toMatch(/"\$KUBECONFIG_DATA"/);
    });

    test("checkouts keep no credentials", () => {
        const checkouts = allSteps.filter((s) => String(s.uses).startsWith("actions/checkout@"));
        expect(checkouts.length).toBe(jobs.length);
        for (const c of checkouts) expect(c.with?.["persist-credentials"]).toBe(false);
    });

    test("a backend is configurable and the passphrase is a secret, never written in", () => {
        const preview = jobs.find(([name]) => name === "preview")![1];
        expect(preview.env.PULUMI_BACKEND_URL).toContain("vars.PULUMI_BACKEND_URL");
        const action = allSteps.find((s) => String(s.uses).startsWith("pulumi/actions@"));
        expect(action.env.PULUMI_CONFIG_PASSPHRASE).toBe("${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
        expect(text).not.toMatch(/PASSPHRASE:\s*["']?[^$\s"']/);
    });
});
