import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { GeneratedPassword } from "./generatedpassword";
import { resolveStatefulWorkloadArgs, StatefulWorkload, StatefulWorkloadArgs } from "./statefulworkload";
import { mysqlTlsArgs, TLS_DEFAULTS, TlsArgs } from "./tls";
import * as v from "./validation";

export interface MySqlArgs {
    /** @default "default" */
    namespace?: pulumi.Input<string>;
    /**
     * A MySQL image (the official image's entrypoint and env: MYSQL_ROOT_PASSWORD, MYSQL_DATABASE).
     * MySQL 5.7 reached end of life in October 2023; `MYSQL_57_IMAGE` keeps it selectable for data
     * directories not yet upgraded (8.4 cannot upgrade a 5.7 data directory directly: go through 8.0).
     * @default "mysql:8.4.6" (the current LTS series)
     */
    image?: pulumi.Input<string>;
    /** Each replica is an independent server with its own data; replication is not configured. @default 1 */
    replicas?: number;
    /** Size of each pod's data volume. @default "2Gi" */
    storageSize?: string;
    /** StorageClass of the data volumes. @default the cluster's default class */
    storageClassName?: pulumi.Input<string>;
    /** Root password, e.g. `config.requireSecret("mysqlRootPassword")`. @default a generated 32-character password, kept as a Pulumi secret */
    rootPassword?: pulumi.Input<string>;
    /** Name of an existing Secret whose key `password` holds the root password (made by Sealed Secrets, External Secrets, SOPS…). Then the component creates no Secret and no password: for GitOps and render mode, where no secret may appear in a manifest. @default none: the component creates `<name>-root-password` */
    existingRootPasswordSecret?: string;
    /** A database to create on first start. @default none */
    database?: string;
    /** @default requests 100m CPU / 256Mi memory, limit 1Gi memory */
    resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
    /** Also create a ClusterIP Service `<name>-client`. @default false */
    clientService?: boolean;
    /** Server TLS: a certificate naming every server, mysqld started with --ssl-ca/--ssl-cert/--ssl-key from its mount. @default none */
    tls?: TlsArgs & { requireSecureTransport?: boolean };
    /** Passed through to StatefulWorkload (anti-affinity, budget, labels, retention, …). @default StatefulWorkload's defaults */
    workload?: Partial<Omit<StatefulWorkloadArgs, "image" | "replicas" | "namespace" | "volumeClaims" | "env" | "ports" | "tls" | "args">>;
}

/** The current MySQL LTS series (8.4), pinned to a patch release so every `pulumi up` runs the same server. */
export const MYSQL_DEFAULT_IMAGE = "mysql:8.4.6";
/** The last MySQL 5.7 release (end of life since October 2023), for data directories still on 5.7. */
export const MYSQL_57_IMAGE = "mysql:5.7.44";
export const MYSQL_PORT = 3306;
export const MYSQL_DATA_PATH = "/var/lib/mysql";

/** The workload's `tls` and the mysqld arguments that load its files (the entrypoint passes `-…` args to mysqld). */
function mysqlTls(tls: NonNullable<MySqlArgs["tls"]>): Pick<StatefulWorkloadArgs, "tls" | "args"> {
    const { requireSecureTransport, ...workloadTls } = tls;
    return { tls: workloadTls, args: mysqlTlsArgs(workloadTls.mountPath ?? TLS_DEFAULTS.mountPath, { requireSecureTransport }) };
}

/** MySqlArgs with every default applied; produced by `resolveMySqlArgs`. */
export interface ResolvedMySql {
    namespace: pulumi.Input<string>;
    /** The Secret whose key `password` holds the root password. */
    passwordSecretName: string;
    /** The component makes that Secret (no `existingRootPasswordSecret`). */
    createsPasswordSecret: boolean;
    /** The StatefulWorkload it builds on (already validated). */
    workload: StatefulWorkloadArgs;
}

/** Defaults and validation of MySql's own fields, and the StatefulWorkload args it builds on. */
export function resolveMySqlArgs(name: string, args: MySqlArgs): ResolvedMySql {
    const context = `MySql "${name}"`;
    const passwordSecretName = args.existingRootPasswordSecret ?? `${args.workload?.statefulSetName ?? name}-root-password`;
    const val = new v.Validator(context);
    const storageSize = args.storageSize ?? "2Gi";
    val.check("storageSize", storageSize, v.storageQuantity(storageSize));
    if (args.existingRootPasswordSecret !== undefined) {
        val.check("existingRootPasswordSecret", args.existingRootPasswordSecret, v.dns1123Subdomain(args.existingRootPasswordSecret));
        if (args.rootPassword !== undefined)
            val.fail("rootPassword", "(secret)", "must not be set together with existingRootPasswordSecret; the password lives in that Secret");
    }
    if (args.database !== undefined && (typeof args.database !== "string" || !/^[A-Za-z0-9_]{1,64}$/.test(args.database))) {
        val.fail("database", args.database, "must be 1 to 64 letters, digits or '_'");
    }
    val.throwIfInvalid();
    const env: StatefulWorkloadArgs["env"] = {
        MYSQL_ROOT_PASSWORD: { secretKeyRef: { name: passwordSecretName, key: "password" } },
        ...(args.database ? { MYSQL_DATABASE: args.database } : {}),
    };
    const swArgs: StatefulWorkloadArgs = {
        // The official image starts as root and drops to the mysql user itself, and it must
        // own the data directory (a subPath created by the kubelet is root-owned).
        security: { profile: "baseline" },
        ...args.workload,
        ...(args.tls ? mysqlTls(args.tls) : {}),
        namespace: args.namespace,
        image: args.image ?? MYSQL_DEFAULT_IMAGE,
        replicas: args.replicas ?? 1,
        env,
        ports: [{ name: "mysql", containerPort: MYSQL_PORT }],
        // subPath: the volume's root may hold lost+found, which mysqld refuses as a datadir.
        volumeClaims: [{ name: "data", size: storageSize, mountPath: MYSQL_DATA_PATH, subPath: "data", storageClassName: args.storageClassName }],
        clientService: args.clientService ?? false,
        resources: args.resources ?? { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
        // `mysqladmin ping` exits 0 whenever mysqld runs, even without credentials.
        livenessProbe: { exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] }, initialDelaySeconds: 30, periodSeconds: 10, timeoutSeconds: 5 },
        // Ready once it answers a query; the password travels in the environment, not argv.
        readinessProbe: {
            exec: { command: ["sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -h 127.0.0.1 -uroot -e "SELECT 1"'] },
            initialDelaySeconds: 5,
            periodSeconds: 5,
            timeoutSeconds: 2,
        },
        terminationGracePeriodSeconds: args.workload?.terminationGracePeriodSeconds ?? 60,
    };
    resolveStatefulWorkloadArgs(name, swArgs, context);
    return {
        namespace: args.namespace ?? "default",
        passwordSecretName,
        createsPasswordSecret: args.existingRootPasswordSecret === undefined,
        workload: swArgs,
    };
}

/** The Secret with the root password (key `password`); `password` is the given Pulumi secret or a generated one. */
export function renderMySqlPasswordSecret(r: ResolvedMySql, password: pulumi.Input<string>): k8s.core.v1.SecretArgs {
    return { apiVersion: "v1", kind: "Secret", metadata: { name: r.passwordSecretName, namespace: r.namespace }, type: "Opaque", stringData: { password } };
}

/** MySQL as a StatefulSet: headless Service on 3306, a data PVC per pod, root password in a Secret. */
export class MySql extends pulumi.ComponentResource {
    public readonly workload: StatefulWorkload;
    /** The Secret the component made, unless `existingRootPasswordSecret` names one. */
    public readonly passwordSecret?: k8s.core.v1.Secret;
    /** Name of the Secret holding the root password under key `password`. */
    public readonly rootPasswordSecretName: pulumi.Output<string>;
    /** The root password (a Pulumi secret); undefined with `existingRootPasswordSecret`. */
    public readonly rootPassword?: pulumi.Output<string>;
    /** Stable DNS names of the servers. */
    public readonly hosts: pulumi.Output<string[]>;
    public readonly pvcNames: pulumi.Output<string[]>;
    /** The server certificate's Secret, issuer and CA bundle, when `tls` is set. */
    public readonly tls?: StatefulWorkload["tls"];

    constructor(name: string, args: MySqlArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        const r = resolveMySqlArgs(name, args);
        super("pets:index:MySql", name, {}, opts);

        if (r.createsPasswordSecret) {
            // The given password stays a Pulumi secret; otherwise one is generated once (a CSPRNG).
            const password =
                args.rootPassword !== undefined
                    ? pulumi.secret(args.rootPassword)
                    : new GeneratedPassword(`${name}-root-password`, { length: 32 }, { parent: this }).result;
            this.passwordSecret = new k8s.core.v1.Secret(`${name}-root-password`, renderMySqlPasswordSecret(r, password), { parent: this });
            this.rootPassword = pulumi.secret(password);
        }

        this.workload = new StatefulWorkload(name, r.workload, { parent: this, dependsOn: this.passwordSecret ? [this.passwordSecret] : [] });
        this.rootPasswordSecretName = this.passwordSecret ? this.passwordSecret.metadata.name : pulumi.output(r.passwordSecretName);
        this.hosts = this.workload.podDnsNames;
        this.pvcNames = this.workload.pvcNames;
        this.tls = this.workload.tls;
        this.registerOutputs({ rootPasswordSecretName: this.rootPasswordSecretName, hosts: this.hosts, pvcNames: this.pvcNames });
    }
}
