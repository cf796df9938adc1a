// Validates Kubernetes objects (JSON array on stdin) against the OpenAPI schemas shipped by
// kubernetes-models and @kubernetes-models/cert-manager. Those packages are ESM-only, so the
// jest tests call this script in a child process. Prints a JSON array of error strings.
import { readFileSync } from "node:fs";

const objects = JSON.parse(readFileSync(0, "utf8"));
const errors = [];
for (const obj of objects) {
    const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
    const where = `${obj.kind} ${obj.metadata?.name ?? "(unnamed)"}`;
    let mod;
    const candidates = group.endsWith("cert-manager.io")
        ? [`@kubernetes-models/cert-manager/${group}/${version}/${obj.kind}`]
        : [group === "" ? `kubernetes-models/${version}/${obj.kind}` : `kubernetes-models/${group}/${version}/${obj.kind}`];
    for (const c of candidates) {
        try {
            mod = await import(c);
            break;
        } catch {
            // try the next candidate
        }
    }
    const Model = mod?.[obj.kind];
    if (!Model) {
        errors.push(`${where}: no schema found for ${obj.apiVersion} ${obj.kind}`);
        continue;
    }
    try {
        new Model(obj).validate();
    } catch (e) {
        errors.push(`${where}: ${e.message}`);
    }
}
process.stdout.write(JSON.stringify(errors));
