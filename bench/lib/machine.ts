// Facts recorded with every result: figures from a busy 2-core VM and a quiet 16-core laptop are
// not comparable, and the JSON should say which one it came from.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const repoRoot = path.resolve(__dirname, "..", "..");
export const toolsCache = process.env.PETS_TOOLS_CACHE ?? path.join(os.homedir(), ".cache", "pulumi-pets-tools");

/** scripts/tools/versions.env as a map. */
export function toolVersions(): Record<string, string> {
    const text = fs.readFileSync(path.join(repoRoot, "scripts", "tools", "versions.env"), "utf8");
    return Object.fromEntries(
        text
            .split("\n")
            .filter((l) => /^[A-Z_]+=/.test(l))
            .map((l) => {
                const i = l.indexOf("=");
                return [l.slice(0, i), l.slice(i + 1).trim()];
            }),
    );
}

function run(cmd: string, args: string[]): string | undefined {
    try {
        return execFileSync(cmd, args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 }).trim();
    } catch {
        return undefined;
    }
}

export interface MachineFacts {
    date: string;
    hostname: string;
    cores: number;
    cpuModel: string;
    memoryGiB: number;
    kernel: string;
    node: string;
    git: { commit?: string; branch?: string; dirty?: boolean };
    tools: Record<string, string | undefined>;
}

export function loadAverage(): [number, number, number] {
    const [a, b, c] = os.loadavg();
    return [Number(a.toFixed(2)), Number(b.toFixed(2)), Number(c.toFixed(2))];
}

export function machineFacts(): MachineFacts {
    const v = toolVersions();
    const bin = path.join(toolsCache, "bin");
    const builtPulumi = path.join(bin, "pulumi");
    return {
        date: new Date().toISOString(),
        hostname: os.hostname(),
        cores: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
        kernel: `${os.type()} ${os.release()}`,
        node: process.version,
        git: {
            commit: run("git", ["rev-parse", "HEAD"]),
            branch: run("git", ["rev-parse", "--abbrev-ref", "HEAD"]),
            dirty: (run("git", ["status", "--porcelain", "--untracked-files=no"]) ?? "") !== "",
        },
        tools: {
            pulumi: fs.existsSync(builtPulumi) ? run(builtPulumi, ["version"]) : undefined,
            pulumiKubernetesProvider: v.PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION,
            pulumiKubernetesSdk: readPackageVersion("@pulumi/kubernetes"),
            pulumiSdk: readPackageVersion("@pulumi/pulumi"),
            kubernetes: v.KUBERNETES_VERSION,
            etcd: v.ETCD_VERSION,
            kwok: v.KWOK_VERSION,
            jest: readPackageVersion("jest"),
            typescript: readPackageVersion("typescript"),
        },
    };
}

function readPackageVersion(name: string): string | undefined {
    try {
        return JSON.parse(fs.readFileSync(path.join(repoRoot, "node_modules", name, "package.json"), "utf8")).version;
    } catch {
        return undefined;
    }
}
