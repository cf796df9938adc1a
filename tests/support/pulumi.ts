import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";
import * as path from "path";

/** A resource as the mock engine saw it registered. */
export interface Registered {
    type: string;
    name: string;
    inputs: any;
    parent?: string;
    opts?: unknown;
    /** The provider reference (`<urn>::<id>`), when the resource has one. */
    provider?: string;
}

/**
 * Installs Pulumi mocks that record every resource. Call before importing the code under test.
 * Kubernetes objects echo their inputs as state; `id` is the object name, like the provider's.
 */
export function setupMocks(opts: { project?: string; stack?: string; preview?: boolean } = {}): Registered[] {
    const registered: Registered[] = [];
    void pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                registered.push({ type: args.type, name: args.name, inputs: unwrapSecrets(args.inputs), provider: args.provider });
                const id = args.inputs?.metadata?.name ?? `${args.name}-id`;
                // Dynamic resources (GeneratedPassword) compute outputs in their provider.
                if (args.type.startsWith("pulumi-nodejs:")) {
                    return { id, state: { ...args.inputs, result: `mock-generated-${args.name}` } };
                }
                return { id, state: { ...args.inputs } };
            },
            call(args: pulumi.runtime.MockCallArgs) {
                return args.inputs;
            },
        },
        opts.project ?? "pets",
        opts.stack ?? "test",
        opts.preview ?? false,
    );
    return registered;
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Mocks see secret inputs wrapped in a signature object; tests want the plain value. */
export function unwrapSecrets(value: any): any {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value !== null && typeof value === "object") {
        if (value[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") return unwrapSecrets(value.value);
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** Resolves an Output's value (mocks make every value known). */
export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Lets pending resource registrations reach the mock engine. */
export async function settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

/** The registered Kubernetes objects (type tokens `kubernetes:<group>/<version>:<Kind>`). */
export function k8sObjects(registered: Registered[]): any[] {
    return registered.filter((r) => r.type.startsWith("kubernetes:") && r.inputs?.kind).map((r) => r.inputs);
}

export function findObject(registered: Registered[], kind: string, name?: string): any {
    const found = k8sObjects(registered).filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
    if (found.length !== 1) {
        throw new Error(`expected one ${kind}${name ? ` named ${name}` : ""}, found ${found.length}`);
    }
    return found[0];
}

/** Validates objects against the Kubernetes (and cert-manager) OpenAPI schemas; returns errors. */
export function schemaErrors(objects: any[]): string[] {
    const script = path.join(__dirname, "validate-schemas.mjs");
    const out = execFileSync(process.execPath, [script], {
        input: JSON.stringify(objects),
        cwd: path.join(__dirname, "..", ".."),
        encoding: "utf8",
    });
    return JSON.parse(out);
}
