// The benchmarks' own control plane (scripts/cluster/up.sh), on its own state dir and ports so it
// never meets the one a test run uses (defaults 16443, 23790, …).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { repoRoot, toolsCache, toolVersions } from "./machine";

export const BENCH_CLUSTER_ENV: Record<string, string> = {
    PETS_CLUSTER_DIR: process.env.PETS_BENCH_CLUSTER_DIR ?? path.join(os.homedir(), ".cache", "pets-cluster-bench"),
    // Overridable so that two benchmarks can run side by side on one machine, each with its own
    // cluster dir and ports.
    PETS_APISERVER_PORT: process.env.PETS_BENCH_APISERVER_PORT ?? "20443",
    PETS_ETCD_PORT: process.env.PETS_BENCH_ETCD_PORT ?? "27790",
    PETS_ETCD_PEER_PORT: process.env.PETS_BENCH_ETCD_PEER_PORT ?? "27800",
    PETS_KCM_PORT: process.env.PETS_BENCH_KCM_PORT ?? "24257",
    PETS_SCHEDULER_PORT: process.env.PETS_BENCH_SCHEDULER_PORT ?? "24259",
};

/** The environment for anything that talks to the bench cluster or runs the built tools. */
export function benchEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const bin = path.join(toolsCache, "bin");
    return {
        ...process.env,
        ...BENCH_CLUSTER_ENV,
        PETS_TOOLS_CACHE: toolsCache,
        PATH: `${bin}:${process.env.PATH}`,
        PETS_KUBECONFIG: path.join(BENCH_CLUSTER_ENV.PETS_CLUSTER_DIR, "kubeconfig"),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
        ...extra,
    };
}

/**
 * The benchmarks may assume the tools are built, but must not start a 36-minute build as a side
 * effect (up.sh would): say what is missing instead.
 */
export function missingTools(needs: ("pulumi" | "control-plane")[]): string[] {
    const v = toolVersions();
    const dirs: string[] = [];
    if (needs.includes("pulumi")) {
        dirs.push(`pulumi-${v.PULUMI_VERSION}-nodejs-sdk${v.PULUMI_LANGUAGE_NODEJS_LEGACY_SDK_VERSION}`);
        dirs.push(`pulumi-resource-kubernetes-${v.PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION}`);
    }
    if (needs.includes("control-plane")) dirs.push(`etcd-${v.ETCD_VERSION}`, `kubernetes-${v.KUBERNETES_VERSION}`, `kwok-${v.KWOK_VERSION}`);
    return dirs.filter((d) => !fs.existsSync(path.join(toolsCache, d, ".complete")));
}

export function requireTools(needs: ("pulumi" | "control-plane")[]): void {
    const missing = missingTools(needs);
    if (missing.length) {
        throw new Error(
            `tools not built: ${missing.join(", ")} missing under ${toolsCache}; run scripts/tools/build.sh ${needs.join(" ")} first (the benchmarks never build them)`,
        );
    }
    // build.sh links every tool into bin/; pulumi and kubectl must resolve from there.
    for (const b of needs.includes("pulumi") ? ["pulumi"] : []) {
        if (!fs.existsSync(path.join(toolsCache, "bin", b))) throw new Error(`${path.join(toolsCache, "bin", b)} missing: run scripts/tools/build.sh pulumi`);
    }
}

/**
 * Starts (or reuses) the bench cluster; returns its kubeconfig. `realNodes`: real kubelet nodes
 * (PETS_REAL_NODES; give them their own PETS_NET_PREFIX etc. in `env`), `gracePeriod`: the
 * controller manager's node-monitor grace period (e.g. "50s"), `fresh`: stopped first (empty etcd).
 */
export function clusterUp(
    opts: { audit?: boolean; workers?: number; realNodes?: number; gracePeriod?: string; fresh?: boolean; env?: Record<string, string> } = {},
): string {
    requireTools(["control-plane"]);
    const extra: Record<string, string> = { ...opts.env };
    if (opts.audit) extra.PETS_APISERVER_AUDIT = "1";
    if (opts.workers !== undefined) extra.PETS_CLUSTER_WORKERS = String(opts.workers);
    if (opts.realNodes !== undefined) extra.PETS_REAL_NODES = String(opts.realNodes);
    if (opts.gracePeriod !== undefined) extra.PETS_NODE_MONITOR_GRACE_PERIOD = opts.gracePeriod;
    if (opts.fresh)
        execFileSync("bash", [path.join(repoRoot, "scripts", "cluster", "down.sh")], { env: benchEnv(extra), stdio: ["ignore", "inherit", "inherit"] });
    const out = execFileSync("bash", [path.join(repoRoot, "scripts", "cluster", "up.sh")], {
        env: benchEnv(extra),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    return out.trim().split("\n").pop()!;
}

export function clusterDown(): void {
    execFileSync("bash", [path.join(repoRoot, "scripts", "cluster", "down.sh")], { env: benchEnv(), stdio: ["ignore", "inherit", "inherit"] });
}

export function kubectl(args: string[]): string {
    return execFileSync("kubectl", ["--kubeconfig", benchEnv().PETS_KUBECONFIG!, ...args], {
        env: benchEnv(),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    });
}
