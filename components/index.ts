// The package's public entry: every component, and the validation helpers they share.
// Importing it never runs the Pulumi program (that lives in ../index.ts).
export * from "./validation";
export * from "./statefulworkload";
export * from "./generatedpassword";
export * from "./mysql";
export * from "./nginxweb";
export * from "./kubia";
export * from "./tls";
export * from "./certmanager";
export * from "./privateca";
export * from "./localpathprovisioner";
export {
    clusterRoleRules as liberatorClusterRoleRules,
    leaseRoleRules as liberatorLeaseRoleRules,
    agentLeaseRoleRules as liberatorAgentLeaseRoleRules,
    nodeLeaseRoleRules as liberatorNodeLeaseRoleRules,
    eventRoleRules as liberatorEventRoleRules,
    agentPolicySpec as liberatorAgentPolicySpec,
    controllerEnv as liberatorControllerEnv,
    agentEnv as liberatorAgentEnv,
    liberatorCode,
    liberatorSelector,
} from "./liberatorspecs";
export {
    NodeLiberator,
    resolveNodeLiberatorArgs,
    DEFAULT_LIBERATOR_IMAGE,
    DEFAULT_LIBERATOR_NAMESPACE,
    DEFAULT_LIBERATOR_SERVICE_ACCOUNT,
    DEFAULT_LIBERATOR_OPT_OUT_LABEL,
    DEFAULT_LIBERATOR_RESOURCES,
    DEFAULT_AGENT_RESOURCES,
    LIBERATOR_LOCAL_VOLUME_POLICY_KEY,
    type NodeLiberatorArgs,
    type ResolvedNodeLiberator,
    type HttpFenceArgs,
    type CommandFenceArgs,
    type SelfFenceArgs,
    type LiberatorMode,
    type OrphanedVolumesPolicy,
} from "./nodeliberator";
