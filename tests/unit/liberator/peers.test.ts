import * as crypto from "crypto";
import {
    answer,
    askLeaseState,
    askPeers,
    authenticLeaseQuestion,
    holdBack,
    httpTransport,
    leaseAnswer,
    LeaseQuestion,
    leaseQuestion,
    mac,
    question,
    Transport,
    verifyAnswer,
    verifyLeaseAnswer,
} from "../../../liberator/peers";

const KEY = crypto.randomBytes(32);
const OTHER = crypto.randomBytes(32);

describe("HMAC-authenticated peer answers", () => {
    test("a genuine question gets an answer that verifies", () => {
        const q = question(KEY, "a");
        const a = answer(KEY, "b", q, false)!;
        expect(a).toMatchObject({ node: "b", nonce: q.nonce, apiReachable: false });
        expect(verifyAnswer(KEY, "b", q, a)).toEqual(a);
    });

    test.each([
        { what: "question signed with another key", q: () => question(OTHER, "a") },
        { what: "question without a mac", q: () => ({ from: "a", nonce: "0123456789abcdef" }) },
        { what: "nonce too short", q: () => ({ ...question(KEY, "a", "short"), nonce: "short" }) },
        { what: "not an object", q: () => "hello" },
    ])("no answer to a forged question: $what", ({ q }) => {
        expect(answer(KEY, "b", q(), false)).toBeUndefined();
    });

    test.each([
        {
            what: "a stray process without the key forges 'API down'",
            forge: (q: any) => ({ node: "b", nonce: q.nonce, apiReachable: false, mac: mac(OTHER, ["answer", "b", q.nonce, "unreachable"]) }),
        },
        {
            what: "a genuine 'API down' answer replayed to another question",
            forge: () => answer(KEY, "b", question(KEY, "a"), false),
        },
        {
            what: "a genuine 'API fine' answer with the bit flipped",
            forge: (q: any) => ({ ...answer(KEY, "b", q, true)!, apiReachable: false }),
        },
        {
            what: "an answer from another node than the one asked",
            forge: (q: any) => answer(KEY, "c", q, false),
        },
    ])("rejected: $what", ({ forge }) => {
        const q = question(KEY, "a");
        expect(verifyAnswer(KEY, "b", q, forge(q))).toBeUndefined();
    });

    test("holdBack is a strict majority", () => {
        expect(holdBack({ down: ["a", "b"], total: 4 })).toBe(false);
        expect(holdBack({ down: ["a", "b", "c"], total: 5 })).toBe(true);
    });
});

describe("a peer reads an agent's Lease for it (the agent's own token is refused)", () => {
    test("a genuine lease question gets an answer that verifies", () => {
        const q = leaseQuestion(KEY, "a");
        expect(authenticLeaseQuestion(KEY, q)).toEqual(q);
        const a = leaseAnswer(KEY, "b", q, "remediated");
        expect(a).toMatchObject({ node: "b", about: "a", nonce: q.nonce, state: "remediated" });
        expect(verifyLeaseAnswer(KEY, "b", q, a)).toEqual(a);
    });

    test.each([
        { what: "signed with another key", q: () => leaseQuestion(OTHER, "a") },
        { what: "a peer question, not a lease question", q: () => question(KEY, "a") },
        { what: "the mac of another asker", q: () => ({ ...leaseQuestion(KEY, "a"), from: "c" }) },
    ])("no lease question: $what", ({ q }) => {
        expect(authenticLeaseQuestion(KEY, q())).toBeUndefined();
    });

    test.each([
        { what: "forged without the key", forge: (q: LeaseQuestion) => ({ ...leaseAnswer(OTHER, "b", q, "remediated") }) },
        { what: "replayed to another question", forge: () => leaseAnswer(KEY, "b", leaseQuestion(KEY, "a"), "remediated") },
        { what: "'claimed' changed to 'remediated'", forge: (q: LeaseQuestion) => ({ ...leaseAnswer(KEY, "b", q, "claimed"), state: "remediated" }) },
        { what: "about another node's Lease", forge: (q: LeaseQuestion) => leaseAnswer(KEY, "b", { ...q, from: "c" }, "absent") },
        { what: "from another node than the one asked", forge: (q: LeaseQuestion) => leaseAnswer(KEY, "c", q, "absent") },
        { what: "a state that does not exist", forge: (q: LeaseQuestion) => ({ ...leaseAnswer(KEY, "b", q, "absent"), state: "gone" }) },
    ])("rejected: $what", ({ forge }) => {
        const q = leaseQuestion(KEY, "a");
        expect(verifyLeaseAnswer(KEY, "b", q, forge(q))).toBeUndefined();
    });

    test("askLeaseState: authentic answers by peer; forged, failed and silent ones are left out", async () => {
        const transport: Transport = async (address, q) => {
            const peer = address.split(":")[0];
            if (peer === "d") throw new Error("ECONNREFUSED");
            if (peer === "c") return leaseAnswer(OTHER, "c", q as LeaseQuestion, "absent");
            return leaseAnswer(KEY, peer, q as LeaseQuestion, "claimed");
        };
        const got = await askLeaseState({
            key: KEY,
            self: "a",
            addresses: new Map([
                ["b", "b:1"],
                ["c", "c:1"],
                ["d", "d:1"],
            ]),
            timeoutMs: 100,
            transport,
        });
        expect(Object.fromEntries(got)).toEqual({ b: "claimed" });
    });
});

describe("askPeers: one round", () => {
    const fake =
        (answers: Record<string, "down" | "up" | "forged" | "silent" | "throws">): Transport =>
        async (address, q) => {
            const peer = address.split(":")[0];
            const how = answers[peer];
            if (how === "throws") throw new Error("ECONNREFUSED");
            if (how === "silent") return undefined;
            if (how === "forged") return { node: peer, nonce: q.nonce, apiReachable: false, mac: "0".repeat(64) };
            return answer(KEY, peer, q, how === "up");
        };

    test("counts ourselves, authentic answers only; unknown addresses and failures are silent", async () => {
        const v = await askPeers({
            key: KEY,
            self: "a",
            selfApiReachable: false,
            members: ["a", "b", "c", "d", "e", "f"],
            addresses: new Map([
                ["b", "b:1"],
                ["c", "c:1"],
                ["d", "d:1"],
                ["e", "e:1"],
            ]),
            timeoutMs: 100,
            transport: fake({ b: "down", c: "up", d: "forged", e: "throws" }),
            now: () => 42,
        });
        expect(v).toEqual({ at: 42, total: 6, down: ["a", "b"], up: ["c"], silent: ["d", "e", "f"] });
        expect(holdBack(v)).toBe(false);
    });

    test("over HTTP: a peer that does not answer in time counts as silent", async () => {
        const http = await import("http");
        const server = http.createServer(() => {
            // never answers
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        const port = (server.address() as any).port;
        try {
            const t0 = Date.now();
            const v = await askPeers({
                key: KEY,
                self: "a",
                selfApiReachable: false,
                members: ["a", "b"],
                addresses: new Map([["b", `127.0.0.1:${port}`]]),
                timeoutMs: 300,
                transport: httpTransport,
                now: () => 1,
            });
            expect(v.silent).toEqual(["b"]);
            expect(Date.now() - t0).toBeLessThan(2_000);
        } finally {
            server.closeAllConnections();
            server.close();
        }
    });
});
