import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { CertManager, Kubia, LocalPathProvisioner, MySql, NginxWeb, NodeLiberator, NodeLiberatorArgs, PrivateCa, TlsArgs } from "../components";
import { StackConfig } from "./config";
import { renderOnly } from "./render";

export interface DeployInputs {
    config: StackConfig;
    /** `pets:mysqlRootPassword` if set (a Pulumi secret); otherwise MySql generates one. */
    mysqlRootPassword?: pulumi.Output<string>;
}

/** Name of the Secret MySQL reads in render mode; it is made outside the manifests (see README). */
export const RENDER_MODE_MYSQL_SECRET = "mysql-root-password";
/** The liberator agents' peer key in render mode (key `key`, 32+ random bytes), made outside the manifests too. */
export const RENDER_MODE_LIBERATOR_PEER_KEY_SECRET = "liberator-peer-key";

/**
 * The dev stack: the example pets on a local kind/minikube cluster — the local-path provisioner
 * and its class, the node liberator, the nginx web StatefulSet and MySQL (and kubia when
 * enabled) on it.
 */
export function deployDev({ config, mysqlRootPassword }: DeployInputs) {
    // Render mode: every object goes to YAML files through this provider and nothing touches a
    // cluster. Rendered Secrets would hold their data in plain text, so none is rendered.
    const render = config.renderYamlTo !== undefined;
    const provider = render ? new k8s.Provider("render-yaml", { renderYamlToDirectory: config.renderYamlTo }) : undefined;
    // The transformation pins the render provider on every Kubernetes object below (children
    // inherit it) and refuses any that would reach a cluster through another provider.
    const guard = provider ? [renderOnly(provider)] : undefined;
    const opts: pulumi.ComponentResourceOptions = provider ? { providers: { kubernetes: provider }, transformations: guard } : {};
    // Kept on `pulumi destroy`: deleting a namespace deletes its PVCs, and the pets' data must
    // outlive the stack unless the user removes it on purpose (`kubectl delete namespace`).
    const ns = new k8s.core.v1.Namespace(
        "pets-namespace",
        { metadata: { name: config.namespace } },
        { retainOnDelete: true, ...(provider ? { provider, transformations: guard } : {}) },
    );
    const namespace = ns.metadata.name;
    const outputs: Record<string, pulumi.Output<unknown>> = { namespace };

    let storageClassName: pulumi.Input<string> | undefined = config.storageClassName;
    if (config.localPath.enabled) {
        const lp = config.localPath;
        const storage = new LocalPathProvisioner(
            "local-path",
            {
                namespace: lp.namespace,
                storageClassName: lp.storageClassName,
                reclaimPolicy: lp.reclaimPolicy,
                isDefaultClass: lp.isDefaultClass,
                image: lp.image,
                helperImage: lp.helperImage,
                imagePullPolicy: lp.imagePullPolicy,
                ...(lp.nodePath ? { nodePathMap: [{ node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", paths: [lp.nodePath] }] } : {}),
                ...(lp.sharedFileSystemPath ? { sharedFileSystemPath: lp.sharedFileSystemPath } : {}),
            },
            opts,
        );
        // An explicit pets:storageClassName wins; otherwise the claims use this class.
        storageClassName ??= storage.storageClassName;
        outputs.storageClassName = storage.storageClassName;
    }

    if (config.liberator.enabled) {
        const { enabled: _enabled, ...settings } = config.liberator;
        const args = settings as NodeLiberatorArgs;
        const liberator = new NodeLiberator("liberator", render ? { peerKeySecret: RENDER_MODE_LIBERATOR_PEER_KEY_SECRET, ...args } : args, opts);
        outputs.liberatorNamespace = liberator.namespace;
    }

    let tls: TlsArgs | undefined;
    if (config.tls.enabled) {
        // cert-manager itself (and its plugin) only when asked; otherwise one already runs.
        const certManager = new CertManager("cert-manager", { mode: config.tls.installCertManager ? "install" : "existing" }, opts);
        const ca = new PrivateCa("pets-ca", { namespace, waitForReady: config.tls.waitForReady }, { ...opts, dependsOn: [certManager, ns] });
        tls = { issuerRef: ca.issuerRef, waitForReady: config.tls.waitForReady };
        outputs.caSecretName = ca.caSecretName;
    }

    if (config.web.enabled) {
        const web = new NginxWeb(
            "web",
            {
                namespace,
                replicas: config.web.replicas,
                image: config.web.image,
                storageSize: config.web.storageSize,
                storageClassName,
                // With TLS, nginx serves HTTPS (port 443) with a certificate naming every pod.
                ...(tls ? { tls } : {}),
                workload: {
                    updateStrategy: { type: "RollingUpdate", partition: config.web.partition },
                    localVolumePolicy: config.web.localVolumePolicy,
                    podManagementPolicy: config.web.podManagementPolicy,
                },
            },
            opts,
        );
        outputs.webPods = web.podDnsNames;
        outputs.webPvcs = web.pvcNames;
        // Where clients find the CA bundle that verifies the web pods' certificate.
        if (web.tls) outputs.webTls = web.tls;
    }
    if (config.mysql.enabled) {
        const db = new MySql(
            "mysql",
            {
                namespace,
                replicas: config.mysql.replicas,
                image: config.mysql.image,
                storageSize: config.mysql.storageSize,
                storageClassName,
                database: config.mysql.database,
                workload: { podManagementPolicy: config.mysql.podManagementPolicy },
                ...(tls ? { tls } : {}),
                ...(config.mysql.existingRootPasswordSecret !== undefined || render
                    ? { existingRootPasswordSecret: config.mysql.existingRootPasswordSecret ?? RENDER_MODE_MYSQL_SECRET }
                    : { rootPassword: mysqlRootPassword }),
            },
            opts,
        );
        outputs.mysqlHosts = db.hosts;
        outputs.mysqlPasswordSecret = db.rootPasswordSecretName;
        // A Pulumi secret: `pulumi stack output mysqlRootPassword --show-secrets` prints it.
        if (db.rootPassword) outputs.mysqlRootPassword = db.rootPassword;
    }
    if (config.kubia.enabled) {
        const kubia = new Kubia(
            "kubia",
            {
                namespace,
                replicas: config.kubia.replicas,
                image: config.kubia.image,
                storageClassName,
            },
            opts,
        );
        outputs.kubiaSrv = kubia.srvName;
    }
    return outputs;
}
