/**
 * The controller's entry point: `node main.js [flags]` (the agent's is agent.js). In a pod it uses
 * the service account; elsewhere `--kubeconfig <file>` (or $KUBECONFIG, ~/.kube/config). See
 * config.ts for every flag.
 */
import { Config, ConfigError, loadConfig, usage } from "./config";
import { DEFAULT_NAMESPACE } from "./contract";
import { Controller } from "./controller";
import { exitWith, untilSignal } from "./flags";
import { ClusterConfig, KubeClient, resolveClusterConfig } from "./kube";
import { jsonLogger, Metrics, serve } from "./metrics";

/** In-cluster credentials unless a kubeconfig was named or we are outside a pod. */
export function clusterConfig(cfg: Config, env: NodeJS.ProcessEnv = process.env): ClusterConfig {
    return resolveClusterConfig(cfg.kubeconfig, cfg.context, env);
}

export async function main(argv: string[]): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) {
        process.stdout.write(usage());
        return 0;
    }
    let cfg: Config;
    try {
        cfg = loadConfig(argv);
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n\n${e instanceof ConfigError ? usage() : ""}`);
        return 2;
    }
    const log = jsonLogger(cfg.logLevel);
    let cluster: ClusterConfig;
    try {
        cluster = clusterConfig(cfg);
    } catch (e) {
        log.error("cannot configure the API client", { error: (e as Error).message });
        return 2;
    }
    const namespace = cfg.namespace ?? cluster.namespace ?? DEFAULT_NAMESPACE;
    const client = new KubeClient(cluster, { userAgent: `pets-liberator/${cfg.identity}` });
    const metrics = new Metrics();
    const controller = new Controller({ config: cfg, client, namespace, log, metrics });
    const server = await serve(metrics, () => controller.health(), cfg.metricsHost, cfg.metricsPort);
    const addr = server.address();
    log.info("liberator controller starting", {
        server: cluster.server,
        credentials: cluster.source,
        namespace,
        identity: cfg.identity,
        mode: cfg.decide.mode,
        dryRun: cfg.decide.dryRun,
        unhealthyAfterSeconds: cfg.decide.unhealthyAfterMs / 1000,
        maxUnhealthy: cfg.decide.maxUnhealthy,
        stormCooldownSeconds: cfg.decide.stormCooldownMs / 1000,
        marginSeconds: cfg.decide.marginMs / 1000,
        settleSeconds: cfg.decide.settleMs / 1000,
        forceDeletePods: cfg.decide.forceDeletePods,
        releaseLocalVolumes: cfg.decide.releaseLocalVolumes,
        orphanedVolumes: cfg.decide.orphanedVolumes,
        remediateControlPlane: cfg.decide.remediateControlPlane,
        unsafeNoFencing: cfg.decide.unsafeNoFencing,
        fence: cfg.fence?.type ?? "none",
        metrics: typeof addr === "object" && addr ? `${addr.address}:${addr.port}` : String(addr),
    });
    controller.start();

    // controller.stop hands the leader Lease back, so another replica takes over at once.
    return untilSignal(
        log,
        () => controller.stop(),
        () => {
            server.close();
            client.close();
        },
        10_000,
    );
}

if (require.main === module) exitWith(main(process.argv.slice(2)));
