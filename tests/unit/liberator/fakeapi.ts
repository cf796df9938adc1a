/**
 * A fake Kubernetes API server on 127.0.0.1 for the liberator's tests: an in-memory store with
 * resourceVersions, list (paged), get, create (generateName), replace (optimistic concurrency),
 * merge patch, delete (preconditions, grace period), and the watch protocol: newline-delimited
 * JSON events replayed from a resourceVersion, bookmarks, server-side timeouts, forced
 * disconnects, and 410 Gone for compacted versions (as an ERROR event or an HTTP status).
 * It is a test double, not a model of every API server behaviour.
 */
import * as crypto from "crypto";
import * as http from "http";
import { AddressInfo } from "net";

export interface Stored {
    apiVersion?: string;
    kind?: string;
    metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: any };
    [k: string]: any;
}

interface Parsed {
    prefix: string;
    namespace?: string;
    resource: string;
    name?: string;
}

interface HistoryEntry {
    rv: number;
    resource: string;
    namespace?: string;
    type: "ADDED" | "MODIFIED" | "DELETED";
    object: Stored;
}

interface Watcher {
    resource: string;
    namespace?: string;
    fieldSelector?: [string, string];
    labelSelector?: string;
    res: http.ServerResponse;
    req: http.IncomingMessage;
    bookmarks: boolean;
    timer?: NodeJS.Timeout;
}

export interface RequestRecord {
    method: string;
    path: string;
    query: Record<string, string>;
    body?: any;
    auth?: string;
}

/** Splits /api/v1/[namespaces/<ns>/]<resource>[/<name>] and /apis/<g>/<v>/… */
export function parsePath(p: string): Parsed | undefined {
    const parts = p.split("/").filter(Boolean);
    let i: number;
    if (parts[0] === "api" && parts.length >= 2) i = 2;
    else if (parts[0] === "apis" && parts.length >= 3) i = 3;
    else return undefined;
    const prefix = "/" + parts.slice(0, i).join("/");
    let namespace: string | undefined;
    // "namespaces/<ns>/<resource>" is namespaced; "namespaces[/<name>]" is the Namespace resource.
    if (parts[i] === "namespaces" && parts.length >= i + 3) {
        namespace = parts[i + 1];
        i += 2;
    }
    const resource = parts[i];
    if (!resource) return undefined;
    const name = parts[i + 1];
    if (parts.length > i + 2) return undefined;
    return { prefix, namespace, resource, name };
}

function mergePatch(target: any, patch: any): any {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
    const out = target && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
    for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete out[k];
        else out[k] = mergePatch(out[k], v);
    }
    return out;
}

/** Equality selectors only ("a=b,c=d"), which is all the liberator uses. */
function labelsMatch(o: Stored, selector: string | undefined): boolean {
    if (!selector) return true;
    return selector.split(",").every((term) => {
        const [k, v] = term.split("=");
        return (o.metadata.labels ?? {})[k] === v;
    });
}

function getField(obj: any, path: string): unknown {
    return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

export class FakeApiServer {
    private server?: http.Server;
    private readonly objects = new Map<string, Stored>();
    private readonly history: HistoryEntry[] = [];
    private readonly watchers = new Set<Watcher>();
    private rv = 100;
    /** Watches from a resourceVersion below this get 410 Gone. */
    compactedRv = 0;
    /** How a too-old watch is refused: an ERROR event in a 200 stream (what API servers do) or HTTP 410. */
    goneAs: "event" | "status" = "event";
    /** If set, requests must carry `Authorization: Bearer <token>`. */
    token?: string;
    readonly requests: RequestRecord[] = [];
    private readonly failures: { method: string; path: RegExp; status: number; times: number; reason: string; onFail?: () => void }[] = [];
    /** While true, every request hangs (a black-holed API server). */
    blackhole = false;
    private readonly hanging = new Set<http.ServerResponse>();
    /** Server-side cap on watch duration (seconds), overriding the client's timeoutSeconds. */
    maxWatchSeconds?: number;

    url = "";

    async start(): Promise<string> {
        this.server = http.createServer((req, res) => this.handle(req, res));
        await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
        this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
        return this.url;
    }

    async stop(): Promise<void> {
        for (const w of this.watchers) w.res.destroy();
        for (const r of this.hanging) r.destroy();
        this.watchers.clear();
        await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
        this.server?.closeAllConnections?.();
    }

    // --- test controls ---------------------------------------------------------------------

    get resourceVersion(): number {
        return this.rv;
    }

    private key(resource: string, namespace: string | undefined, name: string): string {
        return `${resource}/${namespace ?? ""}/${name}`;
    }

    /** Creates or replaces an object directly (as another client would), emitting watch events. */
    upsert(collectionPath: string, obj: Stored): Stored {
        const p = parsePath(collectionPath.replace(/\/$/, "") + "/" + obj.metadata.name)!;
        const ns = p.namespace ?? obj.metadata.namespace;
        const k = this.key(p.resource, ns, obj.metadata.name);
        const existing = this.objects.get(k);
        const stored: Stored = JSON.parse(JSON.stringify(obj));
        stored.metadata.namespace = ns;
        if (ns === undefined) delete stored.metadata.namespace;
        stored.metadata.uid = existing?.metadata.uid ?? obj.metadata.uid ?? crypto.randomUUID();
        return this.write(p.resource, ns, stored, existing ? "MODIFIED" : "ADDED");
    }

    remove(resource: string, namespace: string | undefined, name: string): void {
        const k = this.key(resource, namespace, name);
        const o = this.objects.get(k);
        if (!o) return;
        this.objects.delete(k);
        this.emit(resource, namespace, "DELETED", { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } });
    }

    get(resource: string, namespace: string | undefined, name: string): Stored | undefined {
        const o = this.objects.get(this.key(resource, namespace, name));
        return o ? JSON.parse(JSON.stringify(o)) : undefined;
    }

    list(resource: string, namespace?: string): Stored[] {
        return [...this.objects.entries()]
            .filter(([k]) => k.startsWith(`${resource}/${namespace ?? ""}/`) || (namespace === undefined && k.startsWith(`${resource}/`)))
            .map(([, o]) => o);
    }

    /** Forgets history up to now: watches from older versions get 410 Gone. */
    compact(): void {
        this.compactedRv = this.rv;
        this.history.splice(0);
    }

    /** Sends a BOOKMARK to every watch that asked for them. */
    bookmark(): void {
        for (const w of this.watchers) {
            if (w.bookmarks) this.send(w, { type: "BOOKMARK", object: { kind: "Bookmark", apiVersion: "v1", metadata: { resourceVersion: String(this.rv) } } });
        }
    }

    /** Cuts every watch connection (a network blip or an API server restart). */
    dropWatches(): void {
        for (const w of this.watchers) {
            if (w.timer) clearTimeout(w.timer);
            w.res.destroy();
        }
        this.watchers.clear();
    }

    /** Ends every watch cleanly (as the server's timeoutSeconds does). */
    endWatches(): void {
        for (const w of this.watchers) {
            if (w.timer) clearTimeout(w.timer);
            w.res.end();
        }
        this.watchers.clear();
    }

    watchCount(resource?: string): number {
        return [...this.watchers].filter((w) => resource === undefined || w.resource === resource).length;
    }

    /** The next `times` requests matching method and path fail with `status`. */
    /** The next `times` matching requests fail with `status`; `onFail` runs as each one fails (e.g. the write that made it conflict). */
    failNext(method: string, path: RegExp, status: number, times = 1, reason = "InternalError", onFail?: () => void): void {
        this.failures.push({ method, path, status, times, reason, onFail });
    }

    clearFailures(): void {
        this.failures.splice(0);
    }

    releaseHanging(): void {
        for (const r of this.hanging) r.destroy();
        this.hanging.clear();
    }

    // --- protocol --------------------------------------------------------------------------

    private write(resource: string, namespace: string | undefined, obj: Stored, type: "ADDED" | "MODIFIED"): Stored {
        obj.metadata.resourceVersion = String(++this.rv);
        obj.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
        this.objects.set(this.key(resource, namespace, obj.metadata.name), obj);
        this.emit(resource, namespace, type, obj);
        return JSON.parse(JSON.stringify(obj));
    }

    private emit(resource: string, namespace: string | undefined, type: HistoryEntry["type"], object: Stored): void {
        const entry: HistoryEntry = { rv: Number(object.metadata.resourceVersion), resource, namespace, type, object: JSON.parse(JSON.stringify(object)) };
        this.history.push(entry);
        for (const w of this.watchers) if (this.matches(w, entry)) this.send(w, { type, object: entry.object });
    }

    private matches(w: Watcher, e: { resource: string; namespace?: string; object: Stored }): boolean {
        if (w.resource !== e.resource) return false;
        if (w.namespace !== undefined && w.namespace !== e.namespace) return false;
        if (w.fieldSelector && String(getField(e.object, w.fieldSelector[0])) !== w.fieldSelector[1]) return false;
        if (!labelsMatch(e.object, w.labelSelector)) return false;
        return true;
    }

    private send(w: Watcher, ev: unknown): void {
        w.res.write(JSON.stringify(ev) + "\n");
    }

    private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code }));
    }

    private json(res: http.ServerResponse, code: number, body: unknown): void {
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const u = new URL(req.url ?? "/", "http://fake");
            const query = Object.fromEntries(u.searchParams.entries());
            const text = Buffer.concat(chunks).toString("utf8");
            let body: any;
            try {
                body = text ? JSON.parse(text) : undefined;
            } catch {
                return this.status(res, 400, "BadRequest", "undecodable body");
            }
            const method = req.method ?? "GET";
            this.requests.push({ method, path: u.pathname, query, body, auth: req.headers.authorization });
            if (this.blackhole) {
                this.hanging.add(res);
                return;
            }
            if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, "Unauthorized", "Unauthorized");
            const f = this.failures.find((x) => x.times > 0 && x.method === method && x.path.test(u.pathname));
            if (f) {
                f.times--;
                f.onFail?.();
                return this.status(res, f.status, f.reason, `injected failure for ${method} ${u.pathname}`);
            }
            const p = parsePath(u.pathname);
            if (!p) return this.status(res, 404, "NotFound", `no route ${u.pathname}`);
            try {
                this.route(method, p, query, body, req, res);
            } catch (e) {
                this.status(res, 500, "InternalError", String(e));
            }
        });
    }

    private route(method: string, p: Parsed, query: Record<string, string>, body: any, req: http.IncomingMessage, res: http.ServerResponse): void {
        if (method === "GET" && !p.name && (query.watch === "true" || query.watch === "1")) return this.watch(p, query, req, res);
        if (method === "GET" && !p.name) return this.listRoute(p, query, res);
        if (method === "POST" && !p.name) return this.createRoute(p, body, res);
        if (!p.name) return this.status(res, 405, "MethodNotAllowed", method);
        const k = this.key(p.resource, p.namespace, p.name);
        const cur = this.objects.get(k);
        if (method === "GET") return cur ? this.json(res, 200, cur) : this.status(res, 404, "NotFound", `${p.resource} "${p.name}" not found`);
        if (!cur) return this.status(res, 404, "NotFound", `${p.resource} "${p.name}" not found`);
        if (method === "PUT") {
            if (!body?.metadata?.resourceVersion) return this.status(res, 422, "Invalid", "metadata.resourceVersion: must be specified for an update");
            if (body.metadata.resourceVersion !== cur.metadata.resourceVersion)
                return this.status(
                    res,
                    409,
                    "Conflict",
                    `Operation cannot be fulfilled on ${p.resource} "${p.name}": the object has been modified; please apply your changes to the latest version and try again`,
                );
            const next = {
                ...body,
                metadata: { ...body.metadata, uid: cur.metadata.uid, namespace: p.namespace, creationTimestamp: cur.metadata.creationTimestamp },
            };
            if (p.namespace === undefined) delete next.metadata.namespace;
            return this.json(res, 200, this.write(p.resource, p.namespace, next, "MODIFIED"));
        }
        if (method === "PATCH") {
            if (req.headers["content-type"] !== "application/merge-patch+json")
                return this.status(res, 415, "UnsupportedMediaType", String(req.headers["content-type"]));
            const wantRv = body?.metadata?.resourceVersion;
            if (wantRv !== undefined && wantRv !== cur.metadata.resourceVersion)
                return this.status(res, 409, "Conflict", `Operation cannot be fulfilled on ${p.resource} "${p.name}": the object has been modified`);
            const next = mergePatch(cur, body);
            next.metadata.uid = cur.metadata.uid;
            return this.json(res, 200, this.write(p.resource, p.namespace, next, "MODIFIED"));
        }
        if (method === "DELETE") {
            const pre = body?.preconditions ?? {};
            if (pre.uid !== undefined && pre.uid !== cur.metadata.uid)
                return this.status(res, 409, "Conflict", `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
            if (pre.resourceVersion !== undefined && pre.resourceVersion !== cur.metadata.resourceVersion)
                return this.status(
                    res,
                    409,
                    "Conflict",
                    `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`,
                );
            this.remove(p.resource, p.namespace, p.name);
            return this.json(res, 200, {
                kind: "Status",
                apiVersion: "v1",
                status: "Success",
                details: { name: p.name, kind: p.resource, uid: cur.metadata.uid },
            });
        }
        return this.status(res, 405, "MethodNotAllowed", method);
    }

    private selected(p: Parsed, query: Record<string, string>): Stored[] {
        let items = [...this.objects.entries()]
            .filter(([k]) => {
                const [resource, ns] = k.split("/");
                return resource === p.resource && (p.namespace === undefined || ns === p.namespace);
            })
            .map(([, o]) => o);
        if (query.fieldSelector) {
            const [field, value] = query.fieldSelector.split("=");
            items = items.filter((o) => String(getField(o, field)) === value);
        }
        if (query.labelSelector) items = items.filter((o) => labelsMatch(o, query.labelSelector));
        return items.sort((a, b) => (a.metadata.namespace ?? "").localeCompare(b.metadata.namespace ?? "") || a.metadata.name.localeCompare(b.metadata.name));
    }

    private listRoute(p: Parsed, query: Record<string, string>, res: http.ServerResponse): void {
        const all = this.selected(p, query);
        const limit = query.limit ? Number(query.limit) : all.length;
        let start = 0;
        let rv = String(this.rv);
        if (query.continue) {
            const [offset, tokenRv] = Buffer.from(query.continue, "base64").toString("utf8").split(":");
            if (Number(tokenRv) < this.compactedRv) return this.status(res, 410, "Expired", "The provided continue parameter is too old");
            start = Number(offset);
            rv = tokenRv;
        }
        const items = all.slice(start, start + limit);
        const more = start + limit < all.length;
        this.json(res, 200, {
            kind: "List",
            apiVersion: "v1",
            metadata: { resourceVersion: rv, ...(more ? { continue: Buffer.from(`${start + limit}:${rv}`).toString("base64") } : {}) },
            items,
        });
    }

    private createRoute(p: Parsed, body: any, res: http.ServerResponse): void {
        if (!body?.metadata) return this.status(res, 400, "BadRequest", "no metadata");
        const name = body.metadata.name ?? (body.metadata.generateName ? body.metadata.generateName + crypto.randomBytes(3).toString("hex") : undefined);
        if (!name) return this.status(res, 422, "Invalid", "metadata.name: Required value");
        if (p.namespace && body.metadata.namespace && body.metadata.namespace !== p.namespace)
            return this.status(res, 400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
        const k = this.key(p.resource, p.namespace, name);
        if (this.objects.has(k)) return this.status(res, 409, "AlreadyExists", `${p.resource} "${name}" already exists`);
        const obj: Stored = { ...body, metadata: { ...body.metadata, name, uid: crypto.randomUUID() } };
        delete obj.metadata.generateName;
        if (p.namespace) obj.metadata.namespace = p.namespace;
        this.json(res, 201, this.write(p.resource, p.namespace, obj, "ADDED"));
    }

    private watch(p: Parsed, query: Record<string, string>, req: http.IncomingMessage, res: http.ServerResponse): void {
        const from = query.resourceVersion;
        if (from !== undefined && from !== "" && from !== "0" && Number(from) < this.compactedRv) {
            const message = `too old resource version: ${from} (${this.compactedRv + 1})`;
            if (this.goneAs === "status") return this.status(res, 410, "Expired", message);
            res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
            res.write(
                JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", message, reason: "Expired", code: 410 } }) +
                    "\n",
            );
            res.end();
            return;
        }
        res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
        res.flushHeaders();
        const fs = query.fieldSelector ? (query.fieldSelector.split("=") as [string, string]) : undefined;
        const w: Watcher = {
            resource: p.resource,
            namespace: p.namespace,
            fieldSelector: fs,
            labelSelector: query.labelSelector,
            res,
            req,
            bookmarks: query.allowWatchBookmarks === "true",
        };
        if (from === undefined || from === "" || from === "0") {
            for (const o of this.selected(p, query)) this.send(w, { type: "ADDED", object: o });
        } else {
            for (const e of this.history) if (e.rv > Number(from) && this.matches(w, e)) this.send(w, { type: e.type, object: e.object });
        }
        this.watchers.add(w);
        const seconds = Math.min(Number(query.timeoutSeconds ?? 1800), this.maxWatchSeconds ?? Infinity);
        w.timer = setTimeout(() => {
            this.watchers.delete(w);
            res.end();
        }, seconds * 1000);
        const cleanup = () => {
            if (w.timer) clearTimeout(w.timer);
            this.watchers.delete(w);
        };
        // Not req's "close": that fires once the (empty) request body has been read.
        res.on("close", cleanup);
    }
}

/** Builders for the objects the liberator reads. */
export function node(
    name: string,
    ready: "True" | "False" | "Unknown",
    extra: { labels?: Record<string, string>; taints?: any[]; annotations?: Record<string, string> } = {},
): Stored {
    return {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name, labels: { "kubernetes.io/hostname": name, ...(extra.labels ?? {}) }, annotations: extra.annotations ?? {} },
        spec: { taints: extra.taints ?? [] },
        status: {
            conditions: [
                { type: "MemoryPressure", status: "False" },
                { type: "Ready", status: ready, lastTransitionTime: "2024-01-01T00:00:00Z" },
            ],
            images: [{ names: ["registry.example/some/image:1.0"], sizeBytes: 123456 }],
        },
    };
}

export function lease(name: string, namespace: string, renewTime: string, extra: { holder?: string; annotations?: Record<string, string> } = {}): Stored {
    return {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
        spec: { holderIdentity: extra.holder ?? name, leaseDurationSeconds: 40, renewTime },
    };
}

export const NODES = "/api/v1/nodes";
export const NODE_LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
export const leasesIn = (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!cond()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
    }
}
