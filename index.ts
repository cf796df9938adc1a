// The Pulumi program: reads the stack's config, validates it, and composes the components.
import * as pulumi from "@pulumi/pulumi";
import { OBJECT_KEYS, parseStackConfig, STRING_KEYS } from "./stacks/config";
import { deployDev } from "./stacks/dev";

const cfg = new pulumi.Config("pets");
const raw: Record<string, unknown> = {};
for (const k of STRING_KEYS) raw[k] = cfg.get(k);
for (const k of OBJECT_KEYS) raw[k] = cfg.getObject(k);

const outputs = deployDev({
    config: parseStackConfig(raw),
    mysqlRootPassword: cfg.getSecret("mysqlRootPassword"),
});

export const namespace = outputs.namespace;
export const webPods = outputs.webPods;
export const webPvcs = outputs.webPvcs;
export const mysqlHosts = outputs.mysqlHosts;
export const mysqlPasswordSecret = outputs.mysqlPasswordSecret;
/** Secret: shown only with `pulumi stack output mysqlRootPassword --show-secrets`; absent when the password lives in an existing Secret. */
export const mysqlRootPassword = outputs.mysqlRootPassword;
export const kubiaSrv = outputs.kubiaSrv;
export const storageClassName = outputs.storageClassName;
export const liberatorNamespace = outputs.liberatorNamespace;
export const caSecretName = outputs.caSecretName;
export const webTls = outputs.webTls;
