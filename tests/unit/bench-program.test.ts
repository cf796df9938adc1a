// The program-scale benchmark compares like with like: its plain-resource variant registers
// exactly the Kubernetes objects StatefulWorkload registers (bench/benchmarks/program-scale).
import { Registered, settle, setupMocks } from "../support/pulumi";

const registered: Registered[] = setupMocks();
import { declareWorkloads } from "../../bench/benchmarks/program-scale/workloads";
import { expectedResources } from "../../bench/benchmarks/program-scale";

test("plain resources and StatefulWorkload register the same objects, with the same resource names", async () => {
    declareWorkloads("component", 2, "ns-component");
    declareWorkloads("plain", 2, "ns-plain");
    await settle();
    const k8s = (ns: string) =>
        registered
            .filter((r) => r.type.startsWith("kubernetes:") && r.inputs?.metadata?.namespace === ns)
            .map((r) => ({ type: r.type, name: r.name, inputs: { ...r.inputs, metadata: { ...r.inputs.metadata, namespace: "NS" } } }))
            .sort((a, b) => `${a.type}/${a.name}`.localeCompare(`${b.type}/${b.name}`));
    const component = k8s("ns-component");
    const plain = k8s("ns-plain");
    expect(component.map((r) => `${r.type} ${r.name}`)).toEqual([
        "kubernetes:apps/v1:StatefulSet w0",
        "kubernetes:apps/v1:StatefulSet w1",
        "kubernetes:core/v1:Service w0-headless",
        "kubernetes:core/v1:Service w1-headless",
        "kubernetes:policy/v1:PodDisruptionBudget w0-pdb",
        "kubernetes:policy/v1:PodDisruptionBudget w1-pdb",
    ]);
    expect(plain).toEqual(component);
    expect(registered.filter((r) => r.type === "pets:index:StatefulWorkload")).toHaveLength(2);
    expect(registered).toHaveLength(expectedResources("component", 2) + expectedResources("plain", 2));
});
