// The audit-log parser (bench/lib/audit.ts): requests per minute by client, each request once.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { agentName, parseAuditLog, readAuditLog, requestRates } from "../../bench/lib/audit";

const T0 = Date.parse("2026-11-29T22:00:00Z");
let n = 0;
/** One audit.k8s.io/v1 Event line as the API server writes it at Metadata level. */
function event(o: { id?: string; stage?: string; atS: number; agent: string; user: string; verb?: string; resource?: string; code?: number }): string {
    const at = new Date(T0 + o.atS * 1000).toISOString();
    return JSON.stringify({
        kind: "Event",
        apiVersion: "audit.k8s.io/v1",
        level: "Metadata",
        auditID: o.id ?? `id-${n++}`,
        stage: o.stage ?? "ResponseComplete",
        requestURI: "/api/v1/nodes",
        verb: o.verb ?? "get",
        user: { username: o.user, groups: ["system:authenticated"] },
        sourceIPs: ["127.0.0.1"],
        userAgent: o.agent,
        objectRef: { resource: o.resource ?? "nodes", apiVersion: "v1" },
        responseStatus: o.code === undefined ? undefined : { metadata: {}, code: o.code },
        requestReceivedTimestamp: at,
        stageTimestamp: at,
    });
}

const KCM = "kube-controller-manager/v1.34.4 (linux/amd64) kubernetes/abcdef/system:serviceaccount:kube-system:node-controller";
const LIB = "pets-liberator/0.1.0 (node v20.20.2)";

test("agentName is the user agent's product", () => {
    expect(agentName(KCM)).toBe("kube-controller-manager");
    expect(agentName("kwok/v0.8.0 (linux/amd64)")).toBe("kwok");
    expect(agentName("")).toBe("(none)");
});

test("a watch's ResponseStarted and ResponseComplete are one request; bad and cut-off lines are skipped", () => {
    const text = [
        event({ id: "w1", stage: "ResponseStarted", atS: 1, agent: LIB, user: "system:serviceaccount:pets:liberator", verb: "watch" }),
        event({ id: "g1", atS: 2, agent: LIB, user: "system:serviceaccount:pets:liberator", code: 200 }),
        "not json",
        JSON.stringify({ kind: "Status" }),
        event({ id: "w1", stage: "ResponseComplete", atS: 300, agent: LIB, user: "system:serviceaccount:pets:liberator", verb: "watch", code: 200 }),
        '{"kind":"Event","auditID":"cut',
        "",
    ].join("\n");
    const p = parseAuditLog(text);
    expect(p.skippedLines).toBe(3);
    expect(p.requests.map((r) => [r.auditID, r.verb, r.code])).toEqual([
        ["w1", "watch", 200],
        ["g1", "get", 200],
    ]);
    // Counted at the time the request was received, not when the watch ended.
    expect(p.requests[0].receivedMs).toBe(T0 + 1000);
    expect(p.requests[0].username).toBe("system:serviceaccount:pets:liberator");
});

test("requests per minute by agent, by user agent or by user, within a window, busiest first", () => {
    const lines: string[] = [];
    // liberator: 6 requests a minute for 3 minutes; controller-manager: 2 a minute; one kubectl call
    for (let s = 0; s < 180; s += 10) lines.push(event({ atS: s, agent: LIB, user: "system:serviceaccount:pets:liberator", verb: s % 20 ? "get" : "patch" }));
    for (let s = 0; s < 180; s += 30) lines.push(event({ atS: s, agent: KCM, user: "system:kube-controller-manager" }));
    lines.push(event({ atS: 200, agent: "kubectl/v1.34.4", user: "pets-admin" }));
    const { requests } = parseAuditLog(lines.join("\n"));

    const all = requestRates(requests, { startMs: T0, endMs: T0 + 180_000 });
    expect(all.minutes).toBe(3);
    expect(all.clients.map((c) => [c.client, c.total, c.perMinute])).toEqual([
        ["pets-liberator", 18, 6],
        ["kube-controller-manager", 6, 2],
    ]);
    expect(all.clients[0].byMinute).toEqual([6, 6, 6]);
    expect(all.clients[0].byVerb).toEqual({ patch: 9, get: 9 });

    const byUser = requestRates(requests, { key: "username", match: (r) => r.username.includes("liberator") });
    expect(byUser.clients.map((c) => c.client)).toEqual(["system:serviceaccount:pets:liberator"]);
    expect(byUser.clients[0].total).toBe(18);

    const byUa = requestRates(requests, { key: "userAgent", startMs: T0 + 190_000 });
    expect(byUa.clients.map((c) => [c.client, c.total])).toEqual([["kubectl/v1.34.4", 1]]);
});

test("readAuditLog streams a file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-audit-"));
    try {
        const file = path.join(dir, "audit.log");
        fs.writeFileSync(file, Array.from({ length: 500 }, (_, i) => event({ atS: i, agent: LIB, user: "u" })).join("\n") + "\n");
        const p = await readAuditLog(file);
        expect(p.requests).toHaveLength(500);
        expect(requestRates(p.requests).clients[0].perMinute).toBeCloseTo(500 / (500 / 60), 0);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
