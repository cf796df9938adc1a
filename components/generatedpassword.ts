import * as pulumi from "@pulumi/pulumi";

/** Characters of generated passwords: letters and digits only, so the value is safe in any shell, URL or config file. */
export const PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Draws `length` characters from `alphabet` with a CSPRNG, rejecting biased bytes. */
export function generatePassword(length: number, alphabet = PASSWORD_ALPHABET): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const crypto = require("crypto");
    const limit = 256 - (256 % alphabet.length);
    let out = "";
    while (out.length < length) {
        for (const b of crypto.randomBytes(length * 2) as Buffer) {
            if (b < limit && out.length < length) out += alphabet[b % alphabet.length];
        }
    }
    return out;
}

interface PasswordInputs {
    length: number;
}

// A dynamic provider, so the program needs no extra provider plugin (offline clusters): the
// value is generated once at create, kept encrypted in the state as a secret, and only a change
// of `length` makes a new one.
const provider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: PasswordInputs) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { randomUUID } = require("crypto");
        return { id: randomUUID(), outs: { length: inputs.length, result: generatePassword(inputs.length) } };
    },
    async diff(_id: string, olds: PasswordInputs, news: PasswordInputs) {
        const changed = olds.length !== news.length;
        return { changes: changed, replaces: changed ? ["length"] : [] };
    },
};

export interface GeneratedPasswordArgs {
    /** Number of characters. @default 32 */
    length?: number;
}

/** A random password generated once and kept as a Pulumi secret. */
export class GeneratedPassword extends pulumi.dynamic.Resource {
    /** The password (secret). */
    public readonly result!: pulumi.Output<string>;
    public readonly length!: pulumi.Output<number>;

    constructor(name: string, args: GeneratedPasswordArgs = {}, opts?: pulumi.CustomResourceOptions) {
        const length = args.length ?? 32;
        if (!Number.isInteger(length) || length < 16 || length > 128) {
            throw new Error(`GeneratedPassword "${name}": length = ${length} is invalid: must be a whole number from 16 to 128`);
        }
        super(provider, name, { length, result: undefined }, { ...opts, additionalSecretOutputs: ["result"] }, "pets", "GeneratedPassword");
    }
}
