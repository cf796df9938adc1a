import * as pulumi from "@pulumi/pulumi";
import { Validator } from "./validation";

/**
 * Labels and small object helpers the components share: the labels that select a component's
 * pods (which a user's `labels` may not override), and the namespace every rendered object gets.
 */

export const NAME_LABEL = "app.kubernetes.io/name";
export const INSTANCE_LABEL = "app.kubernetes.io/instance";
export const COMPONENT_LABEL = "app.kubernetes.io/component";
/** The label keys every component's pod selector uses. */
export const SELECTOR_LABEL_KEYS = [NAME_LABEL, INSTANCE_LABEL] as const;
/** On every object a component creates. */
export const MANAGED_BY = { "app.kubernetes.io/managed-by": "pulumi" } as const;

/** The labels that select one app's pods: name first, then instance (a selector's text keeps this order). */
export function appSelector(name: string, instance: string): Record<string, string> {
    return { [NAME_LABEL]: name, [INSTANCE_LABEL]: instance };
}

/** Records every user label that would override one the component sets to select `what`. */
export function checkReservedLabels(val: Validator, labels: Record<string, string>, reserved: readonly string[], what: string): void {
    for (const key of reserved) {
        if (key in labels) val.fail(`labels["${key}"]`, labels[key], `is set by the component (it selects ${what}) and cannot be overridden`);
    }
}

/** "k=v,k2=v2", as a label selector. */
export function selectorText(labels: Record<string, string>): string {
    return Object.entries(labels)
        .map(([k, val]) => `${k}=${val}`)
        .join(",");
}

/**
 * Applies `f` to a value that may be an Output: a plain value gives a plain result (so render
 * functions called with plain values return plain objects), an Output or Promise an Output.
 */
export function mapInput<T, U>(value: pulumi.Input<T>, f: (t: T) => U): pulumi.Input<U> {
    if (pulumi.Output.isInstance(value) || value instanceof Promise) return pulumi.output(value).apply((t) => f(t as T)) as pulumi.Input<U>;
    return f(value as T);
}
