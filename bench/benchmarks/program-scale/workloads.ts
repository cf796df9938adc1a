// The program the program-scale benchmark evaluates: N workloads, either as StatefulWorkload
// components (candidate) or as the same Service, StatefulSet and PodDisruptionBudget written as
// plain @pulumi/kubernetes resources (baseline). A unit test (tests/unit/bench-program.test.ts)
// checks that both register identical Kubernetes objects, so the only difference is the component.
import * as k8s from "@pulumi/kubernetes";
import { IMMUTABLE_STATEFULSET_FIELDS, StatefulWorkload } from "../../../components/statefulworkload";

export type ProgramVariant = "component" | "plain";

const IMAGE = "nginxinc/nginx-unprivileged:1.28.0-alpine";
const REPLICAS = 3;

/** One web-like pet: a port, a claim per pod, a readiness probe (what NginxWeb deploys). */
export function declareWorkloads(variant: ProgramVariant, count: number, namespace: string): void {
    for (let i = 0; i < count; i++) {
        const name = `w${i}`;
        if (variant === "component") component(name, namespace);
        else plain(name, namespace);
    }
}

function component(name: string, namespace: string): void {
    new StatefulWorkload(name, {
        namespace,
        image: IMAGE,
        replicas: REPLICAS,
        ports: [{ name: "http", containerPort: 8080, servicePort: 80 }],
        volumeClaims: [{ name: "www", size: "1Gi", mountPath: "/usr/share/nginx/html", storageClassName: "local-path" }],
        readinessProbe: { httpGet: { path: "/", port: "http" } },
    });
}

function plain(name: string, namespace: string): void {
    const selector = { "app.kubernetes.io/name": name, "app.kubernetes.io/instance": name };
    const labels = { ...selector, "app.kubernetes.io/managed-by": "pulumi" };
    const svc = new k8s.core.v1.Service(`${name}-headless`, {
        metadata: { name, namespace, labels },
        spec: {
            clusterIP: "None",
            publishNotReadyAddresses: true,
            selector,
            ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
        },
    });
    new k8s.apps.v1.StatefulSet(
        name,
        {
            metadata: { name, namespace, labels, annotations: { "liberator.pets/local-volume-policy": "wait" } },
            spec: {
                serviceName: svc.metadata.name,
                replicas: REPLICAS,
                selector: { matchLabels: selector },
                podManagementPolicy: "OrderedReady",
                updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
                minReadySeconds: 0,
                persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                template: {
                    metadata: { labels },
                    spec: {
                        terminationGracePeriodSeconds: 30,
                        securityContext: { seccompProfile: { type: "RuntimeDefault" }, runAsNonRoot: true },
                        affinity: {
                            podAntiAffinity: {
                                preferredDuringSchedulingIgnoredDuringExecution: [
                                    { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" } },
                                ],
                            },
                        },
                        containers: [
                            {
                                name,
                                image: IMAGE,
                                imagePullPolicy: "IfNotPresent",
                                env: [],
                                ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
                                volumeMounts: [{ name: "www", mountPath: "/usr/share/nginx/html" }],
                                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: false },
                                readinessProbe: { httpGet: { path: "/", port: "http" } },
                            },
                        ],
                    },
                },
                volumeClaimTemplates: [
                    {
                        metadata: { name: "www", labels },
                        spec: { accessModes: ["ReadWriteOnce"], storageClassName: "local-path", resources: { requests: { storage: "1Gi" } } },
                    },
                ],
            },
        },
        // The same options the component gives its StatefulSet.
        { replaceOnChanges: IMMUTABLE_STATEFULSET_FIELDS, deleteBeforeReplace: true },
    );
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
        metadata: { name, namespace, labels },
        spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    });
}
