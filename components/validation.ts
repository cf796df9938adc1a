import * as pulumi from "@pulumi/pulumi";

/**
 * The shared validation module. Every component checks its arguments with these functions
 * before it creates any resource, so bad input fails `pulumi preview` with a message that names
 * the field, the value given and what would be valid, and nothing is half-applied.
 */

/** One invalid setting: which field, what value, and what is valid instead. */
export interface Issue {
    field: string;
    value: unknown;
    expected: string;
}

/** Thrown when one or more arguments are invalid; `issues` lists each one. */
export class ValidationError extends Error {
    /** Marks it as a Pulumi RunError: the CLI prints the message alone, without a stack trace. */
    readonly __pulumiRunError = true;

    constructor(
        public readonly context: string,
        public readonly issues: Issue[],
    ) {
        const message = formatIssues(context, issues);
        super(message);
        this.name = "ValidationError";
        // When an Output resolves to an invalid value, the SDK rewrites the message once per
        // nested property ("error serializing property ..."); the issues already name the field.
        Object.defineProperty(this, "message", { get: () => message, set: () => undefined, enumerable: false, configurable: true });
    }
}

/** Renders a value the way it would appear in a program or stack file. */
export function show(value: unknown): string {
    if (value === undefined) return "undefined";
    if (typeof value === "string") return JSON.stringify(value);
    if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
    try {
        return JSON.stringify(value);
    } catch {
        return "(a value that cannot be printed)";
    }
}

export function formatIssue(issue: Issue): string {
    return `${issue.field} = ${show(issue.value)} is invalid: ${issue.expected}`;
}

export function formatIssues(context: string, issues: Issue[]): string {
    if (issues.length === 1) return `${context}: ${formatIssue(issues[0])}`;
    return `${context} has ${issues.length} invalid settings:\n` + issues.map((i) => `  - ${formatIssue(i)}`).join("\n");
}

/**
 * Collects issues so a user sees every problem at once, then throws one ValidationError.
 * `context` names the component, e.g. `StatefulWorkload "web"`.
 */
export class Validator {
    readonly issues: Issue[] = [];
    constructor(public readonly context: string) {}

    fail(field: string, value: unknown, expected: string): void {
        this.issues.push({ field, value, expected });
    }

    /** Runs `check` and records its message (if any) against `field`. Returns true when valid. */
    check(field: string, value: unknown, message: string | undefined): boolean {
        if (message === undefined) return true;
        this.fail(field, value, message);
        return false;
    }

    throwIfInvalid(): void {
        if (this.issues.length > 0) throw new ValidationError(this.context, this.issues);
    }
}

// Each rule below returns undefined when the value is valid, or the "what is valid" text.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A DNS-1123 label: Service names, namespaces, StatefulSet and claim names. */
export function dns1123Label(value: unknown, maxLength = 63): string | undefined {
    const what = `must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most ${maxLength} characters`;
    if (typeof value !== "string" || value.length === 0) return what;
    if (value.length > maxLength || !DNS1123_LABEL.test(value)) return what;
    return undefined;
}

/** A DNS-1123 subdomain (Secrets, ConfigMaps, node names, storage classes). */
export function dns1123Subdomain(value: unknown): string | undefined {
    const what = "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
    if (typeof value !== "string" || value.length === 0 || value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) return what;
    return undefined;
}

/**
 * The longest StatefulSet name whose pods still get a valid `controller-revision-hash` label:
 * the label value is `<name>-<hash>` with a hash of up to 10 characters, and label values are
 * limited to 63 characters.
 */
export const MAX_STATEFULSET_NAME = 52;

export function statefulSetName(value: unknown): string | undefined {
    if (typeof value === "string" && value.length > MAX_STATEFULSET_NAME && DNS1123_LABEL.test(value)) {
        return `is ${value.length} characters; a StatefulSet name may have at most ${MAX_STATEFULSET_NAME}, because its pods' controller-revision-hash label is "<name>-<10-character hash>" and label values are limited to 63`;
    }
    return dns1123Label(value, MAX_STATEFULSET_NAME);
}

export function wholeNumber(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): string | undefined {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        return max === Number.MAX_SAFE_INTEGER ? `must be a whole number >= ${min}` : `must be a whole number from ${min} to ${max}`;
    }
    return undefined;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[]): string | undefined {
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
        return `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`;
    }
    return undefined;
}

export function nonEmptyString(value: unknown, what = "must be a non-empty string"): string | undefined {
    if (typeof value !== "string" || value.trim().length === 0) return what;
    return undefined;
}

/** A container image reference: non-empty and without whitespace. */
export function image(value: unknown): string | undefined {
    if (typeof value !== "string" || value.trim().length === 0) return 'must be a non-empty image reference such as "nginx:1.27"';
    if (/\s/.test(value)) return "must be an image reference without whitespace";
    return undefined;
}

const BINARY_SUFFIXES: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL_SUFFIXES: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const QUANTITY = /^(\d+(?:\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|[eE]\d+)?$/;

/** Parses a Kubernetes storage quantity ("1Gi", "500M", "1e9") to bytes; undefined if invalid. */
export function parseStorageQuantity(value: string): number | undefined {
    const m = QUANTITY.exec(value);
    if (!m) return undefined;
    const n = Number(m[1]);
    const suffix = m[2] ?? "";
    if (suffix in BINARY_SUFFIXES) return n * BINARY_SUFFIXES[suffix];
    if (suffix in DECIMAL_SUFFIXES) return n * DECIMAL_SUFFIXES[suffix];
    return n * 10 ** Number(suffix.slice(1));
}

/** A positive storage size in Kubernetes quantity notation. */
export function storageQuantity(value: unknown): string | undefined {
    const what = 'must be a positive Kubernetes quantity such as "1Gi", "500Mi" or "10G" (binary suffixes Ki, Mi, Gi, Ti, Pi, Ei; decimal k, M, G, T, P, E)';
    if (typeof value !== "string") return what;
    const bytes = parseStorageQuantity(value);
    if (bytes === undefined || !(bytes >= 1)) return what;
    return undefined;
}

export function port(value: unknown): string | undefined {
    return wholeNumber(value, 1, 65535);
}

/** An IANA service name, as Kubernetes requires for named ports. */
export function portName(value: unknown): string | undefined {
    const what =
        "must be an IANA service name: at most 15 lower-case letters, digits and '-', with at least one letter, not starting or ending with '-' and without '--'";
    if (typeof value !== "string" || value.length === 0 || value.length > 15) return what;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) || value.includes("--") || !/[a-z]/.test(value)) return what;
    return undefined;
}

export function absolutePath(value: unknown): string | undefined {
    const what = 'must be an absolute path such as "/var/lib/data" (starting with "/", without ".." segments)';
    if (typeof value !== "string" || !value.startsWith("/") || value.split("/").includes("..")) return what;
    return undefined;
}

/** A path inside a volume: relative, no "..", so it cannot escape the volume. */
export function relativeSubPath(value: unknown): string | undefined {
    const what = 'must be a relative path inside the volume such as "data" (not starting with "/", without ".." segments)';
    if (typeof value !== "string" || value.length === 0 || value.startsWith("/") || value.split("/").includes("..")) return what;
    return undefined;
}

export function envVarName(value: unknown): string | undefined {
    if (typeof value !== "string" || value.length === 0 || value.includes("=") || !/^[\x21-\x7e]+$/.test(value)) {
        return "must be a non-empty name of printable characters without '=' or spaces, such as MYSQL_DATABASE";
    }
    return undefined;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function labelKey(value: unknown): string | undefined {
    const what = 'must be a label key: an optional DNS subdomain prefix and "/", then a name of at most 63 letters, digits, "-", "_" and "."';
    if (typeof value !== "string") return what;
    const parts = value.split("/");
    if (parts.length > 2) return what;
    const name = parts[parts.length - 1];
    if (parts.length === 2 && dns1123Subdomain(parts[0]) !== undefined) return what;
    if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) return what;
    return undefined;
}

export function labelValue(value: unknown): string | undefined {
    if (typeof value !== "string" || value.length > 63 || !LABEL_VALUE.test(value)) {
        return 'must be a label value: at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
    }
    return undefined;
}

/** An integer count, or a percentage string such as "25%" (PDB and rolling-update budgets). */
export function intOrPercent(value: unknown, min: number): string | undefined {
    const what = `must be a whole number >= ${min} or a percentage from ${Math.max(min, 0)}% to 100% such as "25%"`;
    if (typeof value === "number") return Number.isInteger(value) && value >= min ? undefined : what;
    if (typeof value === "string" && /^\d{1,3}%$/.test(value)) {
        const pct = Number(value.slice(0, -1));
        return pct >= Math.max(min, 0) && pct <= 100 ? undefined : what;
    }
    return what;
}

/** Checks a map of labels, recording issues against `field.<key>`. */
export function checkLabels(v: Validator, field: string, labels: Record<string, string> | undefined): void {
    for (const [key, value] of Object.entries(labels ?? {})) {
        v.check(`${field} key`, key, labelKey(key));
        v.check(`${field}["${key}"]`, value, labelValue(value));
    }
}

/** True when a pulumi.Input holds a plain value that can be checked now. */
export function isKnown<T>(value: pulumi.Input<T> | undefined): value is T {
    return !pulumi.Output.isInstance(value) && !(value instanceof Promise);
}

/**
 * Checks an Input now when it is a plain value; when it is an Output or Promise, checks it as
 * soon as it resolves, before the resource that uses it is registered.
 */
export function checkInput<T>(context: string, field: string, value: pulumi.Input<T>, rule: (v: unknown) => string | undefined): pulumi.Input<T> {
    if (isKnown(value)) {
        const msg = rule(value);
        if (msg !== undefined) throw new ValidationError(context, [{ field, value, expected: msg }]);
        return value;
    }
    return pulumi.output(value).apply((resolved) => {
        const msg = rule(resolved);
        if (msg !== undefined) throw new ValidationError(context, [{ field, value: resolved, expected: msg }]);
        return resolved;
    }) as pulumi.Input<T>;
}
