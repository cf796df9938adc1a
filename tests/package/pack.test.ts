// The npm package as a consumer meets it: `npm pack`, install the tarball into a fresh Pulumi
// TypeScript program, type-check a program that uses every exported component, run it under mocks.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as ts from "typescript";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
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
    run("tar", ["-xzf", tarball, "-C", work], work); // → work/package
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
            "LICENSE",
        ]),
    );
    const forbidden = files.filter(
        (f) => /^(tests|stacks|scripts|\.ci|\.github)\//.test(f) || /^Pulumi\..*yaml$/.test(f) || /\.ts$/.test(f.replace(/\.d\.ts$/, "")) || f === "index.js",
    );
    expect(forbidden).toEqual([]);
});

/** The package's exports as a consumer sees them: each name and its kind, from the built declarations. */
function publicSurface(dts: string): string[] {
    const program = ts.createProgram([dts], { skipLibCheck: true, types: [] });
    const checker = program.getTypeChecker();
    const module = checker.getSymbolAtLocation(program.getSourceFile(dts)!)!;
    const kindOf = (s: ts.Symbol): string => {
        const f = (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s).flags;
        if (f & ts.SymbolFlags.Class) return "class";
        if (f & ts.SymbolFlags.Function) return "function";
        if (f & ts.SymbolFlags.Interface) return "interface";
        if (f & ts.SymbolFlags.TypeAlias) return "type";
        if (f & ts.SymbolFlags.Variable) return "const";
        return "other";
    };
    return checker
        .getExportsOfModule(module)
        .map((s) => `${s.name} ${kindOf(s)}`)
        .sort();
}

test("the public API is the committed list, no more and no less", () => {
    const listFile = path.join(__dirname, "public-api.txt");
    const actual = publicSurface(path.join(work, "package", "dist", "components", "index.d.ts"));
    if (process.env.PETS_UPDATE_PUBLIC_API === "1") fs.writeFileSync(listFile, actual.join("\n") + "\n");
    const expected = fs
        .readFileSync(listFile, "utf8")
        .split("\n")
        .filter((l) => l !== "");
    const added = actual.filter((x) => !expected.includes(x));
    const removed = expected.filter((x) => !actual.includes(x));
    if (added.length > 0 || removed.length > 0) {
        throw new Error(
            `the package's public API changed (components/index.ts):\n${[...added.map((x) => `  + ${x}`), ...removed.map((x) => `  - ${x}`)].join("\n")}\n` +
                "If that is intended, update tests/package/public-api.txt: PETS_UPDATE_PUBLIC_API=1 npx jest --selectProjects package -t 'public API', and say why in the commit (a removed name breaks users' programs).",
        );
    }
    // What runs is what the declarations say: every value export exists at run time, and nothing else.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built entry point, by path
    const runtime = Object.keys(require(path.join(root, "dist", "components", "index.js"))).sort();
    const values = actual.filter((x) => /(class|function|const)$/.test(x)).map((x) => x.split(" ")[0]);
    expect(runtime).toEqual(values);
});

test("the license text is the one package.json declares; repository and homepage are set", () => {
    expect(pkg.license).toBe("Apache-2.0");
    const license = fs.readFileSync(path.join(work, "package", "LICENSE"), "utf8");
    expect(license).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(pkg.repository.url).toMatch(/^git\+https:\/\/github\.com\//);
    expect(pkg.homepage).toMatch(/^https:\/\//);
});

test("no compiled file points at a source map or source that is not shipped", () => {
    const js = files.filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"));
    const refs = js.filter((f) => /^\/\/# sourceMappingURL=/m.test(fs.readFileSync(path.join(work, "package", f), "utf8")));
    expect(refs).toEqual([]);
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
});

test("every relative link in the shipped README and docs resolves inside the tarball", () => {
    const broken: string[] = [];
    for (const doc of files.filter((f) => f.endsWith(".md"))) {
        const text = fs.readFileSync(path.join(work, "package", doc), "utf8");
        for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
            const target = m[1].split("#")[0];
            if (!target || /^[a-z]+:/.test(target)) continue;
            const resolved = path.normalize(path.join(path.dirname(doc), target));
            if (!files.includes(resolved) && !files.some((f) => f.startsWith(`${resolved}/`))) broken.push(`${doc} → ${m[1]}`);
        }
    }
    expect(broken).toEqual([]);
});

test("the Pulumi SDKs are peer dependencies with a range, cert-manager's an optional one; nothing is a plain dependency", () => {
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(Object.keys(pkg.peerDependencies).sort()).toEqual(["@pulumi/kubernetes", "@pulumi/kubernetes-cert-manager", "@pulumi/pulumi"]);
    expect(pkg.peerDependenciesMeta).toEqual({ "@pulumi/kubernetes-cert-manager": { optional: true } });
    // The versions this repository develops and tests with are inside the ranges it declares.
    for (const dep of ["@pulumi/pulumi", "@pulumi/kubernetes"]) expect(pkg.devDependencies[dep]).toMatch(/^\d+\.\d+\.\d+$/);
});

/** The oldest version a ">=X <Y" range allows, and the newest the registry has inside it. */
function rangeEnds(dep: string): [string, string] {
    const range: string = pkg.peerDependencies[dep];
    const low = /^>=(\d+\.\d+\.\d+) /.exec(range)![1];
    const served: string[] = JSON.parse(run("npm", ["view", `${dep}@${range}`, "version", "--json"], work));
    return [low, Array.isArray(served) ? served[served.length - 1] : served];
}

const PROGRAM = `import { seen } from "./mocks";
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
let install = "";
try { new pets.CertManager("cm-install", {}); } catch (e) { install = (e as Error).message; }
const certManagerLoaded = Object.keys(require.cache).some((f) => f.includes("kubernetes-cert-manager"));
setTimeout(() => {
    wl.podDnsNames.apply((dns) => {
        console.log(JSON.stringify({ dns, names, failed, install, certManagerLoaded, seen: seen.length, kinds: [web, kubia, storage, liberator, certManager, secure].length }));
    });
}, 500);
`;

describe.each([
    ["the oldest", 0],
    ["the newest", 1],
])("a fresh Pulumi TypeScript program on %s SDKs the peer range allows", (_which, end) => {
    let app: string;
    let versions: Record<string, string>;

    beforeAll(() => {
        versions = {
            "@pulumi/pulumi": rangeEnds("@pulumi/pulumi")[end],
            "@pulumi/kubernetes": rangeEnds("@pulumi/kubernetes")[end],
        };
        app = path.join(work, `app-${end}`);
        fs.mkdirSync(app);
        fs.writeFileSync(
            path.join(app, "package.json"),
            JSON.stringify({ name: "consumer", private: true, main: "bin/index.js", dependencies: { ...versions, "pulumi-pets": `file:${tarball}` } }, null, 2),
        );
        fs.writeFileSync(path.join(app, "Pulumi.yaml"), "name: consumer\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
        run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--engine-strict=false"], app);
    }, 300_000);

    test("installs exactly one copy of each SDK, and not the optional cert-manager package", () => {
        const tree = JSON.parse(run("npm", ["ls", "--all", "--json"], app));
        const copies: Record<string, Set<string>> = {};
        const walk = (deps: Record<string, any> | undefined) => {
            for (const [name, info] of Object.entries(deps ?? {})) {
                (copies[name] ??= new Set()).add(info.version);
                walk(info.dependencies);
            }
        };
        walk(tree.dependencies);
        expect([...copies["@pulumi/pulumi"]]).toEqual([versions["@pulumi/pulumi"]]);
        expect([...copies["@pulumi/kubernetes"]]).toEqual([versions["@pulumi/kubernetes"]]);
        expect(fs.readdirSync(path.join(app, "node_modules", "@pulumi")).sort()).toEqual(["kubernetes", "pulumi"]);
    });

    test("type-checks against the package and runs it under mocks, without loading cert-manager's package", () => {
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
        fs.writeFileSync(path.join(app, "index.ts"), PROGRAM);
        run(process.execPath, [tsc, "-p", "."], app);
        const out = run(process.execPath, ["bin/index.js"], app).trim().split("\n").pop()!;
        const result = JSON.parse(out);
        expect(result.dns).toEqual(["app-0.app.default.svc.cluster.local", "app-1.app.default.svc.cluster.local"]);
        expect(result.failed).toBe(true);
        expect(result.seen).toBeGreaterThan(15);
        expect(result.certManagerLoaded).toBe(false);
        expect(result.install).toBe(
            'CertManager "cm-install": mode = "install" is invalid: needs the optional peer dependency @pulumi/kubernetes-cert-manager (npm install @pulumi/kubernetes-cert-manager@^0.2.0), or mode "existing" to use a cert-manager already in the cluster',
        );
    }, 300_000);
});
