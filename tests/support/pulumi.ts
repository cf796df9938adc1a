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
}

/**
 * Installs Pulumi mocks that record every resource. Call before importing the code under test.
 * Kubernetes objects echo their inputs as state; `id` is the object name, like the provider's.
 */
export function setupMocks(opts: { project?: string; stack?: string; preview?: boolean } = {}): Registered[] {
    const registered: Registered[] = [];
    pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                const id = args.inputs?.metadata?.name ?? `${args.name}-id`;
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
