/**
 * Entry point: `node main.js [flags]`. In a pod it uses the service account; elsewhere
 * `--kubeconfig <file>` (or $KUBECONFIG, ~/.kube/config). See config.ts for every flag.
 */
import * as fs from "fs";
import { Config, ConfigError, loadConfig, usage } from "./config";
import { Controller } from "./controller";
import { ClusterConfig, defaultKubeconfigPath, inClusterConfig, KubeClient, loadKubeconfig } from "./kube";
import { jsonLogger, Metrics, serve } from "./metrics";

/** In-cluster credentials unless a kubeconfig was named or we are outside a pod. */
export function clusterConfig(cfg: Config, env: NodeJS.ProcessEnv = process.env): ClusterConfig {
    if (cfg.kubeconfig) return loadKubeconfig(cfg.kubeconfig, cfg.context);
    if (env.KUBERNETES_SERVICE_HOST) return inClusterConfig(env);
    const file = defaultKubeconfigPath(env);
    if (!fs.existsSync(file)) throw new Error(`not in a cluster and no kubeconfig at ${file}; pass --kubeconfig`);
    return loadKubeconfig(file, cfg.context);
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
    const namespace = cfg.namespace ?? cluster.namespace ?? "tkr-system";
    const client = new KubeClient(cluster, { userAgent: `pets-liberator/${cfg.identity}` });
    const metrics = new Metrics();
    const controller = new Controller({ config: cfg, client, namespace, log, metrics });
    const server = await serve(metrics, () => controller.health(), cfg.metricsHost, cfg.metricsPort);
    const addr = server.address();
    log.info("liberator starting", {
        server: cluster.server,
        credentials: cluster.source,
        namespace,
        node: cfg.nodeName ?? null,
        identity: cfg.identity,
        mode: cfg.decide.mode,
        dryRun: cfg.decide.dryRun,
        unhealthyAfterSeconds: cfg.decide.unhealthyAfterMs / 1000,
        maxUnhealthy: cfg.decide.maxUnhealthy,
        forceDeletePods: cfg.decide.forceDeletePods,
        releaseLocalVolumes: cfg.decide.releaseLocalVolumes,
        orphanedVolumes: cfg.decide.orphanedVolumes,
        fence: cfg.fence?.type ?? "none",
        metrics: typeof addr === "object" && addr ? `${addr.address}:${addr.port}` : String(addr),
    });
    if (!cfg.nodeName) log.warn("no --node-name/NODE_NAME: this replica renews no heartbeat (fine outside the cluster)");
    controller.start();

    return new Promise<number>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
            if (stopping) return;
            stopping = true;
            log.info("stopping", { signal });
            // Hand the leader Lease back so another replica takes over at once.
            const done = () => {
                server.close();
                client.close();
                resolve(0);
            };
            const force = setTimeout(done, 10_000);
            void controller.stop().finally(() => {
                clearTimeout(force);
                done();
            });
        };
        process.on("SIGTERM", () => stop("SIGTERM"));
        process.on("SIGINT", () => stop("SIGINT"));
    });
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e) => {
            process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
            process.exit(1);
        },
    );
}
