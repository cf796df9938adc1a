import * as fs from "fs";
import * as path from "path";
import { CERT_MANAGER_CHART_VERSION } from "../../components/certmanager";
import { LOCAL_PATH_PROVISIONER_VERSION } from "../../components/localpathprovisioner";

const root = path.join(__dirname, "..", "..");
const env = Object.fromEntries(
    fs
        .readFileSync(path.join(root, "scripts", "tools", "versions.env"), "utf8")
        .split("\n")
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => l.split("=", 2) as [string, string]),
);
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

describe("pinned versions agree", () => {
    test("the pulumi CLI we build is the SDK's version", () => {
        expect(env.PULUMI_VERSION).toBe(pkg.devDependencies["@pulumi/pulumi"]);
    });
    test("the Kubernetes provider we want is the SDK's version", () => {
        expect(env.PULUMI_KUBERNETES_VERSION).toBe(pkg.devDependencies["@pulumi/kubernetes"]);
    });
    test("the cert-manager CRDs the tests install are the chart the component installs", () => {
        expect(`v${env.CERT_MANAGER_VERSION}`).toBe(CERT_MANAGER_CHART_VERSION);
    });
    test("the local-path provisioner the tests run is the image the component deploys", () => {
        expect(`v${env.LOCAL_PATH_PROVISIONER_VERSION}`).toBe(LOCAL_PATH_PROVISIONER_VERSION);
    });
});
