import * as pulumi from "@pulumi/pulumi";

interface PasswordInputs {
    length: number;
}

/**
 * A dynamic provider, so the program needs no extra provider plugin (offline clusters): the value
 * is generated once at create with a CSPRNG, kept encrypted in the state as a secret, and only a
 * change of `length` makes a new one. Pulumi serializes these functions into the state, so they
 * reference nothing outside themselves: a captured helper from the installed package would be
 * stored as a require() of its file and break when the package changes.
 */
export const generatedPasswordProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: PasswordInputs) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const crypto = require("crypto");
        // Letters and digits only: safe in any shell, URL or config file.
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const limit = 256 - (256 % alphabet.length); // reject bytes that would bias the draw
        let result = "";
        while (result.length < inputs.length) {
            for (const b of crypto.randomBytes(inputs.length * 2) as Buffer) {
                if (b < limit && result.length < inputs.length) result += alphabet[b % alphabet.length];
            }
        }
        return { id: crypto.randomUUID(), outs: { length: inputs.length, result } };
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
        super(generatedPasswordProvider, name, { length, result: undefined }, { ...opts, additionalSecretOutputs: ["result"] }, "pets", "GeneratedPassword");
    }
}
