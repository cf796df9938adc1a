// The package's public entry, chosen name by name: the components, the types of their arguments
// and outputs, ValidationError, and the constants and helpers the README and docs/ describe.
// Everything else (resolve/render functions, validation rules, RBAC rules, ...) stays importable
// inside this repository from its own module, and out of the package's API. Importing this never
// runs the Pulumi program (that lives in ../index.ts). tests/package/public-api.txt lists it.

export { ValidationError, type Issue } from "./validation";

export {
    StatefulWorkload,
    type StatefulWorkloadArgs,
    type PortArgs,
    type VolumeClaimArgs,
    type EnvValue,
    type UpdateStrategyArgs,
    type SecurityArgs,
} from "./statefulworkload";
export { MySql, type MySqlArgs, MYSQL_DEFAULT_IMAGE, MYSQL_57_IMAGE } from "./mysql";
export { NginxWeb, type NginxWebArgs, NGINX_DEFAULT_IMAGE } from "./nginxweb";
export { Kubia, type KubiaArgs, KUBIA_DEFAULT_IMAGE } from "./kubia";

export {
    type TlsArgs,
    type IssuerReference,
    type KeyAlgorithm,
    type WorkloadTlsOutputs,
    type SanArgs,
    tlsDnsNames,
    tlsFilePaths,
    mysqlTlsArgs,
    mysqlClientTlsArgs,
} from "./tls";
export { CertManager, type CertManagerArgs, CERT_MANAGER_CHART_VERSION } from "./certmanager";
export { PrivateCa, type PrivateCaArgs } from "./privateca";

export {
    LocalPathProvisioner,
    type LocalPathProvisionerArgs,
    type NodePathArgs,
    DEFAULT_PATH_FOR_NON_LISTED_NODES,
    LOCAL_PATH_PROVISIONER_VERSION,
    DEFAULT_LOCAL_PATH_IMAGE,
    DEFAULT_LOCAL_PATH_HELPER_IMAGE,
} from "./localpathprovisioner";

export {
    NodeLiberator,
    type NodeLiberatorArgs,
    type HttpFenceArgs,
    type CommandFenceArgs,
    type SelfFenceArgs,
    type LiberatorMode,
    type OrphanedVolumesPolicy,
    DEFAULT_LIBERATOR_IMAGE,
    DEFAULT_LIBERATOR_OPT_OUT_LABEL,
    LIBERATOR_LOCAL_VOLUME_POLICY_KEY,
} from "./nodeliberator";
