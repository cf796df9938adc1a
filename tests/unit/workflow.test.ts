import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

describe("the GitHub Actions preview workflow", () => {
    const wf = yaml.load(fs.readFileSync(path.join(root, ".github", "workflows", "preview.yml"), "utf8")) as any;
    const steps: any[] = wf.jobs.preview.steps;

    test("runs on pull requests and previews the dev stack", () => {
        expect(Object.keys(wf.on)).toContain("pull_request");
        const preview = steps.find((s) => String(s.uses).startsWith("pulumi/actions@"));
        expect(preview.with).toMatchObject({ command: "preview", "stack-name": "dev" });
    });

    test("caches dependencies", () => {
        expect(steps.find((s) => String(s.uses).startsWith("actions/setup-node@")).with.cache).toBe("npm");
        expect(steps.some((s) => String(s.uses).startsWith("actions/cache@"))).toBe(true);
    });

    test("every npm script it runs exists in package.json", () => {
        const scripts = steps.filter((s) => typeof s.run === "string").flatMap((s) => [...(s.run as string).matchAll(/npm run ([\w:-]+)/g)].map((mm) => mm[1]));
        expect(scripts.length).toBeGreaterThan(0);
        for (const s of scripts) expect(Object.keys(pkg.scripts)).toContain(s);
    });

    test("a backend and the secrets it documents are configurable, none is written in", () => {
        const env = wf.jobs.preview.env;
        expect(env.PULUMI_BACKEND_URL).toContain("vars.PULUMI_BACKEND_URL");
        expect(env.PULUMI_CONFIG_PASSPHRASE).toBe("${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
    });
});
