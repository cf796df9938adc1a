// The real parts for integration tests: the pulumi CLI (built by scripts/tools/build.sh) running
// this repo's program against the API server started by scripts/cluster/up.sh, and kubectl to
// look at what the API server holds. Nothing here is mocked.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";

export const root = path.join(__dirname, "..", "..", "..");

/**
 * Starts the test cluster, or reuses it when healthy (a partly dead one is started afresh).
 * `fresh` stops it first: every start has an empty etcd, so test files do not see each other.
 */
export function ensureCluster(opts: { fresh?: boolean } = {}): string {
    if (opts.fresh) execFileSync("bash", [path.join(root, "scripts", "cluster", "down.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    const out = execFileSync("bash", [path.join(root, "scripts", "cluster", "up.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    process.env.PETS_KUBECONFIG = out.trim().split("\n").pop();
    return process.env.PETS_KUBECONFIG!;
}

export function kubeconfig(): string {
    const k = process.env.PETS_KUBECONFIG;
    if (!k || !fs.existsSync(k)) throw new Error("PETS_KUBECONFIG is not set: run the integration tests through scripts/integration.sh");
    return k;
}

export function kubectl(args: string[], opts: { allowFail?: boolean } = {}): string {
    try {
        return execFileSync("kubectl", ["--kubeconfig", kubeconfig(), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        if (opts.allowFail) return "";
        const err = e as { stderr?: string; message: string };
        throw new Error(`kubectl ${args.join(" ")} failed: ${err.stderr ?? err.message}`);
    }
}

export function kubectlJson<T = any>(args: string[]): T {
    return JSON.parse(kubectl([...args, "-o", "json"]));
}

export async function waitFor<T>(
    what: string,
    probe: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 120_000,
    everyMs = 500,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const v = await probe();
            if (v) return v as T;
        } catch (e) {
            last = e;
        }
        await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
}

/** SIGTERM, then SIGKILL if the process has not exited 5 s later; resolves once it has exited. */
export function stopProcess(child: ChildProcess): Promise<void> {
    return new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
}

export interface PulumiResult {
    code: number;
    stdout: string;
    stderr: string;
    seconds: number;
}

/**
 * A stack of this repo's program on a throw-away file backend, configured from Pulumi.dev.yaml
 * plus `overrides`, pointed at the test cluster. `pets:*` objects are merged key by key.
 */
export class TestStack {
    readonly dir: string;
    readonly configFile: string;
    readonly workspace: string;
    private config: Record<string, unknown>;

    /**
     * `opts.main`: another program than index.ts (a fixture under tests/, relative to the repo),
     * run as the same project with the same config.
     */
    constructor(
        readonly name = "dev",
        overrides: Record<string, unknown> = {},
        opts: { main?: string } = {},
    ) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-it-"));
        fs.mkdirSync(path.join(this.dir, "backend"));
        fs.writeFileSync(path.join(this.dir, "passphrase"), crypto.randomBytes(18).toString("base64url"), { mode: 0o600 });
        // The project's files linked into a workspace: `stack init` writes Pulumi.<stack>.yaml
        // (with its encryption salt) there, not into the repo.
        // scripts/pulumi-env.sh's pets_workspace, the one list of what a workspace links.
        this.workspace = path.join(this.dir, "ws");
        execFileSync("bash", ["-c", '. "$1/scripts/pulumi-env.sh" && pets_workspace "$2"', "bash", root, this.workspace]);
        if (opts.main) {
            if (!fs.existsSync(path.join(root, opts.main))) throw new Error(`TestStack: ${opts.main} does not exist`);
            const project = fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8");
            if (!/^main: index\.ts$/m.test(project)) throw new Error("TestStack: Pulumi.yaml has no `main: index.ts` line to replace");
            fs.rmSync(path.join(this.workspace, "Pulumi.yaml"));
            fs.writeFileSync(path.join(this.workspace, "Pulumi.yaml"), project.replace(/^main: index\.ts$/m, `main: ${opts.main}`));
            fs.symlinkSync(path.join(root, "tests"), path.join(this.workspace, "tests"));
        }
        this.configFile = path.join(this.workspace, `Pulumi.${name}.yaml`);
        const dev = yaml.load(fs.readFileSync(path.join(root, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
        this.config = { ...dev.config };
        delete this.config["kubernetes:context"];
        this.config["kubernetes:kubeconfig"] = kubeconfig();
        this.set(overrides);
    }

    /** Changes config like `pulumi config set` would, merging objects one level deep. */
    set(overrides: Record<string, unknown>): void {
        for (const [k, v] of Object.entries(overrides)) {
            const old = this.config[k];
            this.config[k] =
                v !== null && typeof v === "object" && !Array.isArray(v) && old && typeof old === "object" ? { ...(old as object), ...(v as object) } : v;
        }
        // Keep what `stack init` added (the encryption salt).
        const current = fs.existsSync(this.configFile) ? ((yaml.load(fs.readFileSync(this.configFile, "utf8")) as object) ?? {}) : {};
        fs.writeFileSync(this.configFile, yaml.dump({ ...current, config: this.config }));
    }

    env(): NodeJS.ProcessEnv {
        const env = { ...process.env };
        delete env.PULUMI_CONFIG_PASSPHRASE;
        return {
            ...env,
            PULUMI_BACKEND_URL: `file://${path.join(this.dir, "backend")}`,
            PULUMI_CONFIG_PASSPHRASE_FILE: path.join(this.dir, "passphrase"),
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
            // ts-node without its type check: 4 s less per pulumi run (~30 runs). The test command's
            // typecheck stage checks this code; render.test.ts and validation.test.ts run pulumi
            // with the type check on, as a user's `pulumi up` does.
            PULUMI_NODEJS_TRANSPILE_ONLY: process.env.PULUMI_NODEJS_TRANSPILE_ONLY ?? "true",
        };
    }

    run(args: string[], timeoutMs = 600_000): Promise<PulumiResult> {
        const t0 = Date.now();
        const flags = ["--stack", this.name, "--non-interactive", "--cwd", this.workspace];
        return new Promise((resolve) => {
            const child = spawn("pulumi", [...args, ...flags], { env: this.env() });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d) => (stdout += d));
            child.stderr.on("data", (d) => (stderr += d));
            const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
            child.on("close", (code) => {
                clearTimeout(timer);
                resolve({ code: code ?? -1, stdout, stderr, seconds: (Date.now() - t0) / 1000 });
            });
        });
    }

    async init(): Promise<void> {
        const r = await this.run(["stack", "init"], 60_000);
        if (r.code !== 0 && !/already exists/.test(r.stderr)) throw new Error(`stack init failed: ${r.stderr}${r.stdout}`);
    }

    async up(): Promise<PulumiResult> {
        const r = await this.run(["up", "--yes", "--skip-preview", "--suppress-progress"]);
        if (r.code !== 0) throw new Error(`pulumi up failed (${r.seconds}s):\n${r.stdout}\n${r.stderr}`);
        return r;
    }

    async preview(extra: string[] = []): Promise<PulumiResult> {
        return this.run(["preview", "--suppress-progress", ...extra]);
    }

    async destroy(): Promise<PulumiResult> {
        const r = await this.run(["destroy", "--yes", "--skip-preview", "--suppress-progress"]);
        if (r.code !== 0) throw new Error(`pulumi destroy failed:\n${r.stdout}\n${r.stderr}`);
        return r;
    }

    async outputs(): Promise<Record<string, unknown>> {
        const r = await this.run(["stack", "output", "--json", "--show-secrets"], 60_000);
        return JSON.parse(r.stdout);
    }

    /** The file backend's checkpoint of this stack (what `pulumi up` wrote). */
    stateFile(): string {
        const dir = path.join(this.dir, "backend", ".pulumi", "stacks");
        const found = fs
            .readdirSync(dir, { recursive: true, encoding: "utf8" })
            .filter((f) => path.basename(f) === `${this.name}.json`)
            .map((f) => path.join(dir, f));
        if (found.length !== 1) throw new Error(`expected one state file for stack ${this.name} under ${dir}, found ${found.length}`);
        return found[0];
    }

    cleanup(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/**
 * Local PersistentVolumes on each node, for the class `storageClassName`: the stand-in for the
 * local-path provisioner, whose helper pods cannot create directories on kwok's simulated nodes.
 * Binding, WaitForFirstConsumer scheduling and node affinity are the API server's and
 * scheduler's real logic.
 */
export function createLocalPVs(nodes: string[], perNode: number, storageClassName: string, size = "5Gi"): string[] {
    const names: string[] = [];
    const docs = nodes.flatMap((node) =>
        Array.from({ length: perNode }, (_, i) => {
            const name = `it-pv-${node}-${i}`;
            names.push(name);
            return {
                apiVersion: "v1",
                kind: "PersistentVolume",
                metadata: { name, labels: { "pets.test/pv": "true" } },
                spec: {
                    capacity: { storage: size },
                    accessModes: ["ReadWriteOnce"],
                    persistentVolumeReclaimPolicy: "Retain",
                    storageClassName,
                    local: { path: `/opt/local-path-provisioner/${name}` },
                    nodeAffinity: {
                        required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node] }] }] },
                    },
                },
            };
        }),
    );
    const file = path.join(os.tmpdir(), `pets-pvs-${process.pid}.yaml`);
    fs.writeFileSync(file, docs.map((d) => yaml.dump(d)).join("---\n"));
    try {
        kubectl(["apply", "-f", file]);
    } finally {
        fs.rmSync(file, { force: true });
    }
    return names;
}

export function workerNodes(): string[] {
    const nodes = kubectlJson<{ items: any[] }>(["get", "nodes"]).items;
    return nodes
        .filter((n) => !(n.spec.taints ?? []).some((t: any) => t.key === "node-role.kubernetes.io/control-plane"))
        .map((n) => n.metadata.name)
        .sort();
}

export function pods(namespace: string, selector: string): any[] {
    return kubectlJson<{ items: any[] }>(["-n", namespace, "get", "pods", "-l", selector]).items;
}

export function isReady(pod: any): boolean {
    return pod.status?.phase === "Running" && (pod.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
}
