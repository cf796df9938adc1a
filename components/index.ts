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
