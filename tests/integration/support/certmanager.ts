// The real cert-manager controller (cert-manager's own controllers from its Go module, built by
// scripts/tools/build.sh cert-manager) as a host process against the test cluster, through
// scripts/cluster/cert-manager.sh: CRDs, the chart's controller RBAC for a ServiceAccount, a token
// kubeconfig, then the process (log and pid under $PETS_CLUSTER_DIR). No webhook runs.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { root } from "./harness";

const script = path.join(root, "scripts", "cluster", "cert-manager.sh");
const clusterDir = () => process.env.PETS_CLUSTER_DIR ?? path.join(os.homedir(), ".cache", "pulumi-pets-cluster");

export interface RunningCertManager {
    /** Its log file (klog lines). */
    log: string;
    /** Seconds `start` took: CRDs, RBAC, token, process start and informer sync. */
    startSeconds: number;
    stop(): void;
    output(): string;
}

/** Starts the controller (or reuses a running one) once the cluster is up; call `stop()` in afterAll. */
export function startCertManager(): RunningCertManager {
    const t0 = Date.now();
    const out = execFileSync("bash", [script, "start"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    const log = out.trim().split("\n").pop()!;
    return {
        log,
        startSeconds: (Date.now() - t0) / 1000,
        stop: stopCertManager,
        output: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : ""),
    };
}

/** Stops it by its recorded pid; a no-op when it is not running. */
export function stopCertManager(): void {
    execFileSync("bash", [script, "stop"], { stdio: ["ignore", "inherit", "inherit"] });
}

/** Whether the controller process is still running (a crash shows here before a timeout does). */
export function certManagerRunning(): boolean {
    try {
        execFileSync("bash", [script, "status"], { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
}

export const certManagerLogPath = () => path.join(clusterDir(), "logs", "cert-manager.log");
