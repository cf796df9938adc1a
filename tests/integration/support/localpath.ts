// The rancher local-path provisioner for real: the binary built from its Go module
// (scripts/tools/build.sh local-path-provisioner) runs as a process with what the component
// deployed — the Deployment's command line and env, the ConfigMap's files in place of its mount,
// and a token of the Deployment's own ServiceAccount, so its RBAC is the component's. kwok
// completes the helper pods it starts (scripts/cluster/stages.yaml).
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { kubectlJson, stopProcess } from "./harness";
import { serviceAccountKubeconfig } from "./nodes";

export interface RunningProvisioner {
    child: ChildProcess;
    log: string;
    healthPort: number;
    stop(): Promise<void>;
    output(): string;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

export async function startLocalPathProvisioner(namespace: string, deployment: string, workDir: string): Promise<RunningProvisioner> {
    const d = kubectlJson(["-n", namespace, "get", "deployment", deployment]);
    const pod = d.spec.template.spec;
    const container = pod.containers[0];
    const mount = container.volumeMounts.find((m: any) => m.name === "config-volume");
    const cmVolume = pod.volumes.find((v: any) => v.name === mount.name);
    const cm = kubectlJson(["-n", namespace, "get", "configmap", cmVolume.configMap.name]);

    const configDir = path.join(workDir, "config") + "/";
    // Paths under the mount (in the command line and env) point into this copy of the ConfigMap.
    const mountDir = mount.mountPath.endsWith("/") ? mount.mountPath : mount.mountPath + "/";
    const local = (s: string) => (s.startsWith(mountDir) ? configDir + s.slice(mountDir.length) : s);
    fs.mkdirSync(configDir, { recursive: true });
    for (const [file, content] of Object.entries<string>(cm.data)) fs.writeFileSync(path.join(configDir, file), content);

    const kubeconfigFile = serviceAccountKubeconfig(namespace, pod.serviceAccountName, path.join(workDir, "kubeconfig"));
    const healthPort = await freePort();
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: kubeconfigFile };
    for (const e of container.env ?? []) {
        if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[e.name] = namespace;
        else if (e.value !== undefined) env[e.name] = local(e.value);
        else throw new Error(`env ${e.name} of ${deployment}: only plain values and metadata.namespace are supported here`);
    }
    env.HEALTH_PORT = String(healthPort); // a free port, not the container's

    const argv = (container.command as string[]).map(local);
    const log = path.join(workDir, "local-path-provisioner.log");
    const fd = fs.openSync(log, "a");
    const child = spawn(argv[0], [...argv.slice(1), ...(container.args ?? [])], { env, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    return { child, log, healthPort, stop: () => stopProcess(child), output: () => fs.readFileSync(log, "utf8") };
}

/** GET http://127.0.0.1:<port><path>; resolves to the status code (0 when nothing answers). */
export function httpStatus(port: number, urlPath: string): Promise<number> {
    return new Promise((resolve) => {
        const req = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 2000 }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
        req.on("timeout", () => {
            req.destroy();
            resolve(0);
        });
    });
}
