import { setupMocks } from "../support/pulumi";

setupMocks();
type Mod = typeof import("../../components") & typeof import("../../components/validation") & typeof import("../../components/statefulworkload");
let m: Mod;
beforeAll(async () => {
    m = { ...(await import("../../components")), ...(await import("../../components/validation")), ...(await import("../../components/statefulworkload")) };
});

const base = { image: "nginx:1.27" };
const QUANTITY = 'must be a positive Kubernetes quantity such as "1Gi", "500Mi" or "10G" (binary suffixes Ki, Mi, Gi, Ti, Pi, Ei; decimal k, M, G, T, P, E)';
const LABEL = (n: number) =>
    `must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most ${n} characters`;
const claim = { name: "data", size: "1Gi", mountPath: "/data" };

describe("StatefulWorkload rejects bad input with the field, the value and what is valid", () => {
    test.each([
        ["name not a DNS-1123 label", "Web_1", {}, `StatefulWorkload "Web_1": name = "Web_1" is invalid: ${LABEL(52)}`],
        [
            "name too long for the controller-revision-hash label",
            "a".repeat(53),
            {},
            `StatefulWorkload "${"a".repeat(53)}": name = "${"a".repeat(53)}" is invalid: is 53 characters; a StatefulSet name may have at most 52, because its pods' controller-revision-hash label is "<name>-<10-character hash>" and label values are limited to 63`,
        ],
        ["serviceName", "web", { serviceName: "Web" }, `StatefulWorkload "web": serviceName = "Web" is invalid: ${LABEL(63)}`],
        ["negative replicas", "web", { replicas: -1 }, 'StatefulWorkload "web": replicas = -1 is invalid: must be a whole number >= 0'],
        ["fractional replicas", "web", { replicas: 1.5 }, 'StatefulWorkload "web": replicas = 1.5 is invalid: must be a whole number >= 0'],
        [
            "partition above replicas",
            "web",
            { replicas: 2, updateStrategy: { type: "RollingUpdate", partition: 3 } },
            'StatefulWorkload "web": updateStrategy.partition = 3 is invalid: must be at most replicas (2); a partition above replicas updates no pod',
        ],
        ["storage 2GB", "web", { volumeClaims: [{ ...claim, size: "2GB" }] }, `StatefulWorkload "web": volumeClaims[0].size = "2GB" is invalid: ${QUANTITY}`],
        [
            "storage -1Gi",
            "web",
            { volumeClaims: [{ ...claim, size: "-1Gi" }] },
            `StatefulWorkload "web": volumeClaims[0].size = "-1Gi" is invalid: ${QUANTITY}`,
        ],
        ["storage 0", "web", { volumeClaims: [{ ...claim, size: "0" }] }, `StatefulWorkload "web": volumeClaims[0].size = "0" is invalid: ${QUANTITY}`],
        [
            "port out of range",
            "web",
            { ports: [{ name: "http", containerPort: 70000 }] },
            'StatefulWorkload "web": ports[0].containerPort = 70000 is invalid: must be a whole number from 1 to 65535',
        ],
        [
            "duplicate port",
            "web",
            {
                ports: [
                    { name: "http", containerPort: 80 },
                    { name: "web", containerPort: 80 },
                ],
            },
            'StatefulWorkload "web" has 2 invalid settings:\n' +
                "  - ports[1].servicePort = 80 is invalid: must be unique per protocol among ports; 80/TCP is used twice\n" +
                "  - ports[1].containerPort = 80 is invalid: must be unique per protocol among ports; 80/TCP is used twice (give one port several service ports with separate Services instead)",
        ],
        [
            "one container port behind two service ports (server-side apply merges container ports by port and protocol)",
            "web",
            {
                ports: [
                    { name: "http", containerPort: 8080, servicePort: 80 },
                    { name: "alt", containerPort: 8080, servicePort: 8000 },
                ],
            },
            'StatefulWorkload "web": ports[1].containerPort = 8080 is invalid: must be unique per protocol among ports; 8080/TCP is used twice (give one port several service ports with separate Services instead)',
        ],
        [
            "the same container port on two protocols is fine only with distinct protocols",
            "web",
            {
                ports: [
                    { name: "dns", containerPort: 53, protocol: "UDP" },
                    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                    { name: "x", containerPort: 53, servicePort: 5353, protocol: "UDP" },
                ],
            },
            'StatefulWorkload "web": ports[2].containerPort = 53 is invalid: must be unique per protocol among ports; 53/UDP is used twice (give one port several service ports with separate Services instead)',
        ],
        [
            "invalid port name",
            "web",
            { ports: [{ name: "HTTP_port", containerPort: 80 }] },
            "StatefulWorkload \"web\": ports[0].name = \"HTTP_port\" is invalid: must be an IANA service name: at most 15 lower-case letters, digits and '-', with at least one letter, not starting or ending with '-' and without '--'",
        ],
        [
            "relative mount path",
            "web",
            { volumeClaims: [{ ...claim, mountPath: "data" }] },
            'StatefulWorkload "web": volumeClaims[0].mountPath = "data" is invalid: must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)',
        ],
        [
            "duplicate claim template",
            "web",
            { volumeClaims: [claim, { ...claim, mountPath: "/other" }] },
            'StatefulWorkload "web": volumeClaims[1].name = "data" is invalid: must be unique among volumeClaims; it is used twice',
        ],
        ["empty image", "web", { image: "" }, 'StatefulWorkload "web": image = "" is invalid: must be a non-empty image reference such as "nginx:1.27"'],
        [
            "subPath escaping the volume",
            "web",
            { volumeClaims: [{ ...claim, subPath: "../etc" }] },
            'StatefulWorkload "web": volumeClaims[0].subPath = "../etc" is invalid: must be a relative path inside the volume such as "data" (not starting with "/", without ".." segments)',
        ],
        [
            "unknown pod management policy",
            "web",
            { podManagementPolicy: "Random" },
            'StatefulWorkload "web": podManagementPolicy = "Random" is invalid: must be one of "OrderedReady", "Parallel"',
        ],
        [
            "unknown retention",
            "web",
            { pvcRetention: { whenDeleted: "Keep" } },
            'StatefulWorkload "web": pvcRetention.whenDeleted = "Keep" is invalid: must be one of "Retain", "Delete"',
        ],
        [
            "root with the restricted profile",
            "web",
            { security: { runAsUser: 0 } },
            'StatefulWorkload "web": security.runAsUser = 0 is invalid: must not be 0 (root) with profile "restricted"; use profile "baseline" for images that must run as root',
        ],
        ["bad namespace", "web", { namespace: "My NS" }, `StatefulWorkload "web": namespace = "My NS" is invalid: ${LABEL(63)}`],
        [
            "PDB budget",
            "web",
            { disruptionBudget: { maxUnavailable: "150%" } },
            'StatefulWorkload "web": disruptionBudget.maxUnavailable = "150%" is invalid: must be a whole number >= 0 or a percentage from 0% to 100% such as "25%"',
        ],
        [
            "selector labels are the component's",
            "web",
            { labels: { "app.kubernetes.io/name": "x" } },
            'StatefulWorkload "web": labels["app.kubernetes.io/name"] = "x" is invalid: is set by the component (it selects the pods) and cannot be overridden',
        ],
    ])("%s", (_what, name, args, message) => {
        expect(() => new m.StatefulWorkload(name, { ...base, ...(args as object) } as any)).toThrow(message);
        try {
            m.resolveStatefulWorkloadArgs(name, { ...base, ...(args as object) } as any);
        } catch (e) {
            expect(e).toBeInstanceOf(m.ValidationError);
            expect((e as Error).message).toBe(message);
        }
    });

    test("several problems are reported together", () => {
        expect(() => m.resolveStatefulWorkloadArgs("web", { image: "", replicas: -2 })).toThrow(
            'StatefulWorkload "web" has 2 invalid settings:\n  - image = "" is invalid: must be a non-empty image reference such as "nginx:1.27"\n  - replicas = -2 is invalid: must be a whole number >= 0',
        );
    });

    test("a ValidationError prints as Pulumi prints a RunError, and keeps its message when the SDK prefixes it", () => {
        const e = new m.ValidationError('StatefulWorkload "web"', [{ field: "namespace", value: "Bad_NS", expected: "must be a DNS-1123 label" }]);
        expect((e as unknown as { __pulumiRunError: boolean }).__pulumiRunError).toBe(true);
        // What @pulumi/pulumi's serializer does to an error from an Output, once per nested property.
        e.message = `error serializing property "metadata": ${e.message}`;
        expect(e.message).toBe('StatefulWorkload "web": namespace = "Bad_NS" is invalid: must be a DNS-1123 label');
    });

    test("checkInput checks plain values at once and passes valid ones through", () => {
        expect(m.checkInput('StatefulWorkload "web"', "image", "nginx", m.image)).toBe("nginx");
        expect(() => m.checkInput('StatefulWorkload "web"', "image", " ", m.image)).toThrow(
            'StatefulWorkload "web": image = " " is invalid: must be a non-empty image reference such as "nginx:1.27"',
        );
    });
});

describe("presets report their own fields", () => {
    test.each([
        ["MySql", () => new m.MySql("db", { storageSize: "2GB" }), `MySql "db": storageSize = "2GB" is invalid: ${QUANTITY}`],
        ["MySql replicas", () => new m.MySql("db", { replicas: -1 }), 'MySql "db": replicas = -1 is invalid: must be a whole number >= 0'],
        [
            "MySql database",
            () => new m.MySql("db", { database: "my-db" }),
            'MySql "db": database = "my-db" is invalid: must be 1 to 64 letters, digits or \'_\'',
        ],
        [
            "NginxWeb",
            () => new m.NginxWeb("web", { webRoot: "html" }),
            'NginxWeb "web": webRoot = "html" is invalid: must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)',
        ],
        ["Kubia", () => new m.Kubia("Kubia"), `Kubia "Kubia": name = "Kubia" is invalid: ${LABEL(52)}`],
    ])("%s", (_what, make, message) => {
        expect(make).toThrow(message);
    });
});

describe("quantities", () => {
    test.each([
        ["1Gi", 2 ** 30],
        ["500Mi", 500 * 2 ** 20],
        ["10G", 10e9],
        ["1e3", 1000],
        ["1.5Gi", 1.5 * 2 ** 30],
        ["2GB", undefined],
        ["-1Gi", undefined],
        ["Gi", undefined],
    ])("%s", (q, bytes) => {
        expect(m.parseStorageQuantity(q)).toBe(bytes);
    });
});
