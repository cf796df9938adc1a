/**
 * The agents' peer check. An agent cut off from the API server asks the other agents (on their
 * nodes' addresses, over the node network) whether they can reach it. Requests and answers carry
 * an HMAC-SHA256 over their fields with a key only the agents hold (a generated Secret), and each
 * answer echoes the asker's random nonce, so a stray process can neither forge nor replay an
 * "API down" answer to stop a fence.
 */
import * as crypto from "crypto";
import * as http from "http";

export const PEER_PATH = "/v1/peer";

export function mac(key: Buffer, parts: string[]): string {
    return crypto.createHmac("sha256", key).update(parts.join("\n")).digest("hex");
}

export function macOk(key: Buffer, parts: string[], given: unknown): boolean {
    if (typeof given !== "string" || !/^[0-9a-f]{64}$/.test(given)) return false;
    return crypto.timingSafeEqual(Buffer.from(mac(key, parts), "hex"), Buffer.from(given, "hex"));
}

export interface PeerQuestion {
    from: string;
    nonce: string;
    mac: string;
}

export interface PeerAnswer {
    node: string;
    nonce: string;
    apiReachable: boolean;
    mac: string;
}

export function question(key: Buffer, from: string, nonce = crypto.randomBytes(16).toString("hex")): PeerQuestion {
    return { from, nonce, mac: mac(key, ["ask", from, nonce]) };
}

export function answerFields(a: Pick<PeerAnswer, "node" | "nonce" | "apiReachable">): string[] {
    return ["answer", a.node, a.nonce, a.apiReachable ? "reachable" : "unreachable"];
}

/** The answer to a question, or undefined when the question is not authentic. */
export function answer(key: Buffer, self: string, q: unknown, apiReachable: boolean): PeerAnswer | undefined {
    const x = q as Partial<PeerQuestion> | null;
    if (!x || typeof x.from !== "string" || typeof x.nonce !== "string" || x.nonce.length < 16 || x.nonce.length > 128) return undefined;
    if (!macOk(key, ["ask", x.from, x.nonce], x.mac)) return undefined;
    const a = { node: self, nonce: x.nonce, apiReachable };
    return { ...a, mac: mac(key, answerFields(a)) };
}

/** Checks an answer from `peer` to our question; undefined when it is not authentic. */
export function verifyAnswer(key: Buffer, peer: string, q: PeerQuestion, a: unknown): PeerAnswer | undefined {
    const x = a as Partial<PeerAnswer> | null;
    if (!x || x.node !== peer || x.nonce !== q.nonce || typeof x.apiReachable !== "boolean") return undefined;
    return macOk(key, answerFields(x as PeerAnswer), x.mac) ? (x as PeerAnswer) : undefined;
}

export interface Votes {
    /** Monotonic time the round ended. */
    at: number;
    /** Nodes counted: ourselves, every peer we know and every node we last advertised. */
    total: number;
    /** Ourselves plus every peer that answered, authentically, "I cannot reach the API server". */
    down: string[];
    up: string[];
    /** No (authentic) answer: counts as neither. */
    silent: string[];
}

/** Hold the fence back only while a strict majority of all participating nodes cannot reach the API. */
export function holdBack(v: Pick<Votes, "down" | "total">): boolean {
    return 2 * v.down.length > v.total;
}

export type Transport = (address: string, body: PeerQuestion | LeaseQuestion, timeoutMs: number) => Promise<unknown>;

/** POSTs the question to http://<address>/v1/peer and parses the JSON answer. */
export const httpTransport: Transport = (address, body, timeoutMs) =>
    new Promise((resolve, reject) => {
        const data = Buffer.from(JSON.stringify(body));
        const req = http.request(
            `http://${address}${PEER_PATH}`,
            { method: "POST", headers: { "Content-Type": "application/json", "Content-Length": String(data.length) }, agent: false },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => {
                    text += c;
                    if (text.length > 4096) req.destroy(new Error("answer too large"));
                });
                res.on("end", () => {
                    try {
                        resolve(res.statusCode === 200 ? JSON.parse(text) : undefined);
                    } catch (e) {
                        reject(e as Error);
                    }
                });
            },
        );
        const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        req.on("close", () => clearTimeout(timer));
        req.on("error", reject);
        req.end(data);
    });

/**
 * One round: asks every known peer at once, each with its own nonce, and counts. `members` is the
 * set the vote is over (ourselves included); peers we have no address for stay silent.
 */
export async function askPeers(opts: {
    key: Buffer;
    self: string;
    selfApiReachable: boolean;
    members: string[];
    addresses: Map<string, string>;
    timeoutMs: number;
    transport?: Transport;
    now: () => number;
}): Promise<Votes> {
    const transport = opts.transport ?? httpTransport;
    const members = [...new Set([opts.self, ...opts.members])];
    const results = await Promise.all(
        members
            .filter((m) => m !== opts.self)
            .map(async (peer): Promise<[string, boolean | undefined]> => {
                const address = opts.addresses.get(peer);
                if (!address) return [peer, undefined];
                const q = question(opts.key, opts.self);
                try {
                    const a = verifyAnswer(opts.key, peer, q, await transport(address, q, opts.timeoutMs));
                    return [peer, a?.apiReachable];
                } catch {
                    return [peer, undefined];
                }
            }),
    );
    const v: Votes = { at: opts.now(), total: members.length, down: [], up: [], silent: [] };
    (opts.selfApiReachable ? v.up : v.down).push(opts.self);
    for (const [peer, reachable] of results) (reachable === undefined ? v.silent : reachable ? v.up : v.down).push(peer);
    return v;
}

/**
 * What a peer reads in an agent's heartbeat Lease, for an agent that cannot read it itself: the
 * API server refuses its token once its pod is deleted (a DaemonSet rollout, or deleteNode mode,
 * while its node was cut off). Only "remediated" (the node's StatefulSet pods are gone from the
 * API) and "absent" (no Lease, so no claim can be made) let a fenced agent stand down.
 */
export type LeaseState = "remediated" | "claimed" | "unclaimed" | "absent";
export const LEASE_STATES: readonly LeaseState[] = ["remediated", "claimed", "unclaimed", "absent"];

export interface LeaseQuestion {
    kind: "lease";
    from: string;
    nonce: string;
    mac: string;
}

export interface LeaseAnswer {
    node: string;
    /** The node whose Lease was read: the asker. */
    about: string;
    nonce: string;
    state: LeaseState;
    mac: string;
}

export function leaseQuestion(key: Buffer, from: string, nonce = crypto.randomBytes(16).toString("hex")): LeaseQuestion {
    return { kind: "lease", from, nonce, mac: mac(key, ["ask-lease", from, nonce]) };
}

/** The question, when it is an authentic lease question. */
export function authenticLeaseQuestion(key: Buffer, q: unknown): LeaseQuestion | undefined {
    const x = q as Partial<LeaseQuestion> | null;
    if (!x || x.kind !== "lease" || typeof x.from !== "string" || typeof x.nonce !== "string" || x.nonce.length < 16 || x.nonce.length > 128) return undefined;
    return macOk(key, ["ask-lease", x.from, x.nonce], x.mac) ? (x as LeaseQuestion) : undefined;
}

const leaseAnswerFields = (a: Pick<LeaseAnswer, "node" | "about" | "nonce" | "state">) => ["lease-answer", a.node, a.about, a.nonce, a.state];

export function leaseAnswer(key: Buffer, self: string, q: LeaseQuestion, state: LeaseState): LeaseAnswer {
    const a = { node: self, about: q.from, nonce: q.nonce, state };
    return { ...a, mac: mac(key, leaseAnswerFields(a)) };
}

export function verifyLeaseAnswer(key: Buffer, peer: string, q: LeaseQuestion, a: unknown): LeaseAnswer | undefined {
    const x = a as Partial<LeaseAnswer> | null;
    if (!x || x.node !== peer || x.about !== q.from || x.nonce !== q.nonce || !LEASE_STATES.includes(x.state as LeaseState)) return undefined;
    return macOk(key, leaseAnswerFields(x as LeaseAnswer), x.mac) ? (x as LeaseAnswer) : undefined;
}

/** Asks every known peer at once to read our heartbeat Lease; authentic answers by peer. */
export async function askLeaseState(opts: {
    key: Buffer;
    self: string;
    addresses: Map<string, string>;
    timeoutMs: number;
    transport?: Transport;
}): Promise<Map<string, LeaseState>> {
    const transport = opts.transport ?? httpTransport;
    const out = new Map<string, LeaseState>();
    await Promise.all(
        [...opts.addresses].map(async ([peer, address]) => {
            if (peer === opts.self) return;
            const q = leaseQuestion(opts.key, opts.self);
            try {
                const a = verifyLeaseAnswer(opts.key, peer, q, await transport(address, q, opts.timeoutMs));
                if (a) out.set(peer, a.state);
            } catch {
                // silent: no answer
            }
        }),
    );
    return out;
}
