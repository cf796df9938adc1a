/**
 * A small Kubernetes REST client on Node's http/https: in-cluster service-account credentials or
 * a kubeconfig file, JSON requests, and list+watch informers that keep a cache current with
 * resourceVersions, bookmarks, reconnects with backoff and a relist after 410 Gone.
 * It exists because @kubernetes/client-node is large (tens of MB, >100 MiB RSS) and does not load
 * on Node 20; the liberator needs a few verbs on a few resources.
 */
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { systemClock } from "./clock";
import { parseYaml } from "./yaml";

/** Where and how to reach an API server. */
export interface ClusterConfig {
    server: string;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    token?: string;
    /** Re-read periodically: projected service-account tokens rotate. */
    tokenFile?: string;
    insecureSkipTLSVerify?: boolean;
    tlsServerName?: string;
    /** The context's (or the pod's) namespace. */
    namespace?: string;
    /** Where the settings came from, for logs. */
    source: string;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** In-cluster settings from KUBERNETES_SERVICE_HOST/PORT and the mounted service-account files. */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): ClusterConfig {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new Error("not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset; pass --kubeconfig");
    const tokenFile = path.join(dir, "token");
    if (!fs.existsSync(tokenFile)) throw new Error(`service-account token ${tokenFile} is missing (is automountServiceAccountToken off?)`);
    const nsFile = path.join(dir, "namespace");
    const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return {
        server,
        ca: fs.readFileSync(path.join(dir, "ca.crt")),
        tokenFile,
        namespace: fs.existsSync(nsFile) ? fs.readFileSync(nsFile, "utf8").trim() : undefined,
        source: "in-cluster service account",
    };
}

interface NamedEntry<T> {
    name: string;
    [key: string]: unknown;
    value?: T;
}

function named(list: unknown, kind: string, name: string, field: string): Record<string, any> {
    if (!Array.isArray(list)) throw new Error(`kubeconfig has no ${kind}s`);
    const entry = (list as NamedEntry<unknown>[]).find((e) => e && e.name === name);
    if (!entry) throw new Error(`kubeconfig has no ${kind} named "${name}"`);
    const value = entry[field];
    if (value === null || typeof value !== "object") throw new Error(`kubeconfig ${kind} "${name}" has no ${field}`);
    return value as Record<string, any>;
}

/**
 * Settings from a kubeconfig file: the named (or current) context's cluster and user, with
 * certificate and token files resolved relative to the kubeconfig's directory.
 * Supports client certificates, tokens and token files; exec plugins and auth providers are not.
 */
export function loadKubeconfig(file: string, context?: string): ClusterConfig {
    const doc = parseYaml(fs.readFileSync(file, "utf8")) as Record<string, any> | null;
    if (!doc || typeof doc !== "object") throw new Error(`${file} is not a kubeconfig`);
    const ctxName = context ?? doc["current-context"];
    if (!ctxName) throw new Error(`${file} has no current-context; pass --context`);
    const ctx = named(doc.contexts, "context", ctxName, "context");
    const cluster = named(doc.clusters, "cluster", ctx.cluster, "cluster");
    const user = ctx.user ? named(doc.users, "user", ctx.user, "user") : {};
    const dir = path.dirname(path.resolve(file));
    const readFile = (p: string) => fs.readFileSync(path.isAbsolute(p) ? p : path.join(dir, p));
    const data = (inline: unknown, filePath: unknown): Buffer | undefined => {
        if (typeof inline === "string" && inline !== "") return Buffer.from(inline, "base64");
        if (typeof filePath === "string" && filePath !== "") return readFile(filePath);
        return undefined;
    };
    if (user.exec || user["auth-provider"]) {
        throw new Error(
            `kubeconfig user "${ctx.user}" uses an exec plugin or auth provider, which the liberator does not run; use a token or a client certificate`,
        );
    }
    if (typeof cluster.server !== "string") throw new Error(`kubeconfig cluster "${ctx.cluster}" has no server`);
    const tokenFile = typeof user.tokenFile === "string" ? (path.isAbsolute(user.tokenFile) ? user.tokenFile : path.join(dir, user.tokenFile)) : undefined;
    return {
        server: cluster.server,
        ca: data(cluster["certificate-authority-data"], cluster["certificate-authority"]),
        cert: data(user["client-certificate-data"], user["client-certificate"]),
        key: data(user["client-key-data"], user["client-key"]),
        token: typeof user.token === "string" ? user.token : undefined,
        tokenFile,
        insecureSkipTLSVerify: cluster["insecure-skip-tls-verify"] === true,
        tlsServerName: typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined,
        namespace: typeof ctx.namespace === "string" ? ctx.namespace : undefined,
        source: `kubeconfig ${file} context ${ctxName}`,
    };
}

/** The default kubeconfig path: $KUBECONFIG's first entry, else ~/.kube/config. */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
    const first = (env.KUBECONFIG ?? "").split(path.delimiter).find((p) => p !== "");
    return first ?? path.join(os.homedir(), ".kube", "config");
}

/** In-cluster credentials unless a kubeconfig was named or we are outside a pod. */
export function resolveClusterConfig(kubeconfig: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv = process.env): ClusterConfig {
    if (kubeconfig) return loadKubeconfig(kubeconfig, context);
    if (env.KUBERNETES_SERVICE_HOST) return inClusterConfig(env);
    const file = defaultKubeconfigPath(env);
    if (!fs.existsSync(file)) throw new Error(`not in a cluster and no kubeconfig at ${file}; pass --kubeconfig`);
    return loadKubeconfig(file, context);
}

/** A Kubernetes API error: the HTTP status and the Status object's reason and message. */
export class ApiError extends Error {
    constructor(
        public readonly status: number,
        public readonly reason: string,
        message: string,
        public readonly body?: unknown,
    ) {
        super(message);
        this.name = "ApiError";
    }
}

export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof ApiError && e.status === 409;
export const isGone = (e: unknown) => e instanceof ApiError && e.status === 410;
export const isAlreadyExists = (e: unknown) => e instanceof ApiError && e.status === 409 && e.reason === "AlreadyExists";

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
    query?: Query;
    body?: unknown;
    /** @default application/json, or application/merge-patch+json for PATCH */
    contentType?: string;
    timeoutMs?: number;
}

export interface WatchEvent<T = any> {
    type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
    object: T;
}

export interface KObject {
    apiVersion?: string;
    kind?: string;
    metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: any };
    [k: string]: any;
}

/** JSON over HTTP(S) to one API server. Tracks when it last heard from the server. */
export class KubeClient {
    private readonly base: URL;
    private readonly agent: http.Agent;
    private readonly mod: typeof http | typeof https;
    private token?: string;
    private tokenReadAt = 0;
    /** Monotonic time of the last successful response or watch data; 0 before any. */
    lastContactAt = 0;
    readonly userAgent: string;

    constructor(
        public readonly config: ClusterConfig,
        opts: { userAgent?: string; now?: () => number } = {},
    ) {
        this.base = new URL(config.server);
        this.now = opts.now ?? systemClock.mono;
        this.userAgent = opts.userAgent ?? "pets-liberator";
        const tls = this.base.protocol === "https:";
        this.mod = tls ? https : http;
        this.agent = tls
            ? new https.Agent({
                  keepAlive: true,
                  ca: config.ca,
                  cert: config.cert,
                  key: config.key,
                  rejectUnauthorized: !config.insecureSkipTLSVerify,
                  servername: config.tlsServerName,
              })
            : new http.Agent({ keepAlive: true });
        this.token = config.token;
    }

    private readonly now: () => number;

    private bearer(): string | undefined {
        if (this.config.tokenFile && (this.token === undefined || this.now() - this.tokenReadAt > 60_000)) {
            try {
                this.token = fs.readFileSync(this.config.tokenFile, "utf8").trim();
                this.tokenReadAt = this.now();
            } catch (e) {
                if (this.token === undefined) throw e;
            }
        }
        return this.token;
    }

    url(p: string, query?: Query): URL {
        const u = new URL(this.base.toString());
        u.pathname = (this.base.pathname.replace(/\/$/, "") + p).replace(/\/{2,}/g, "/");
        for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
        return u;
    }

    private headers(extra: Record<string, string>): http.OutgoingHttpHeaders {
        const h: http.OutgoingHttpHeaders = { Accept: "application/json", "User-Agent": this.userAgent, ...extra };
        const t = this.bearer();
        if (t) h.Authorization = `Bearer ${t}`;
        return h;
    }

    /** One request; resolves to the parsed JSON body, rejects with ApiError on HTTP >= 400. */
    request<T = any>(method: string, p: string, opts: RequestOptions = {}): Promise<T> {
        const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
        const contentType = opts.contentType ?? (method === "PATCH" ? "application/merge-patch+json" : "application/json");
        const u = this.url(p, opts.query);
        return new Promise<T>((resolve, reject) => {
            const req = this.mod.request(
                u,
                {
                    method,
                    agent: this.agent,
                    headers: this.headers(body ? { "Content-Type": contentType, "Content-Length": String(body.length) } : {}),
                    timeout: opts.timeoutMs ?? 30_000,
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on("data", (c: Buffer) => chunks.push(c));
                    res.on("error", reject);
                    res.on("end", () => {
                        const text = Buffer.concat(chunks).toString("utf8");
                        let parsed: any;
                        try {
                            parsed = text === "" ? undefined : JSON.parse(text);
                        } catch {
                            parsed = text;
                        }
                        const status = res.statusCode ?? 0;
                        if (status >= 400) {
                            // A reply, even an error, proves the server is reachable.
                            this.lastContactAt = this.now();
                            reject(toApiError(status, parsed, `${method} ${p}`));
                            return;
                        }
                        this.lastContactAt = this.now();
                        resolve(parsed as T);
                    });
                },
            );
            req.on("timeout", () => req.destroy(new Error(`${method} ${p}: timed out after ${opts.timeoutMs ?? 30_000} ms`)));
            req.on("error", reject);
            if (body) req.write(body);
            req.end();
        });
    }

    get<T = any>(p: string, query?: Query, timeoutMs?: number) {
        return this.request<T>("GET", p, { query, timeoutMs });
    }
    create<T = any>(p: string, body: unknown, timeoutMs?: number) {
        return this.request<T>("POST", p, { body, timeoutMs });
    }
    replace<T = any>(p: string, body: unknown, timeoutMs?: number) {
        return this.request<T>("PUT", p, { body, timeoutMs });
    }
    /** A JSON merge patch; include metadata.resourceVersion in it for optimistic concurrency. */
    mergePatch<T = any>(p: string, patch: unknown) {
        return this.request<T>("PATCH", p, { body: patch, contentType: "application/merge-patch+json" });
    }
    delete<T = any>(
        p: string,
        options?: { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string }; propagationPolicy?: string },
    ) {
        return this.request<T>("DELETE", p, options ? { body: { apiVersion: "v1", kind: "DeleteOptions", ...options } } : {});
    }

    /**
     * Opens a watch and feeds decoded events to `onEvent` until the server ends the stream
     * (resolves "closed"), nothing arrives for `idleTimeoutMs` (resolves "idle": the connection
     * may be half-open) or `signal` aborts (resolves "aborted"). An HTTP error status rejects
     * with ApiError; `onOpen` runs once the server has accepted the watch.
     */
    watch<T = any>(
        p: string,
        query: Query,
        onEvent: (e: WatchEvent<T>) => void,
        opts: { signal?: AbortSignal; idleTimeoutMs?: number; onOpen?: () => void } = {},
    ): Promise<"closed" | "idle" | "aborted"> {
        const u = this.url(p, { ...query, watch: true });
        return new Promise((resolve, reject) => {
            let settled = false;
            let idleTimer: NodeJS.Timeout | undefined;
            const finish = (how: "closed" | "idle" | "aborted" | Error) => {
                if (settled) return;
                settled = true;
                if (idleTimer) clearTimeout(idleTimer);
                opts.signal?.removeEventListener("abort", onAbort);
                if (how instanceof Error) reject(how);
                else resolve(how);
                req.destroy();
            };
            const armIdle = () => {
                if (!opts.idleTimeoutMs) return;
                if (idleTimer) clearTimeout(idleTimer);
                idleTimer = setTimeout(() => finish("idle"), opts.idleTimeoutMs);
            };
            const onAbort = () => finish("aborted");
            const req = this.mod.request(u, { method: "GET", agent: this.agent, headers: this.headers({}) }, (res) => {
                const status = res.statusCode ?? 0;
                if (status >= 400) {
                    const chunks: Buffer[] = [];
                    res.on("data", (c: Buffer) => chunks.push(c));
                    res.on("end", () => {
                        this.lastContactAt = this.now();
                        let parsed: unknown;
                        try {
                            parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
                        } catch {
                            parsed = undefined;
                        }
                        finish(toApiError(status, parsed, `watch ${p}`));
                    });
                    res.on("error", (e) => finish(e));
                    return;
                }
                this.lastContactAt = this.now();
                opts.onOpen?.();
                armIdle();
                let buf = "";
                res.setEncoding("utf8");
                res.on("data", (chunk: string) => {
                    this.lastContactAt = this.now();
                    armIdle();
                    buf += chunk;
                    let nl: number;
                    while ((nl = buf.indexOf("\n")) >= 0) {
                        const line = buf.slice(0, nl).trim();
                        buf = buf.slice(nl + 1);
                        if (line === "") continue;
                        let ev: WatchEvent<T>;
                        try {
                            ev = JSON.parse(line);
                        } catch {
                            finish(new Error(`watch ${p}: undecodable event ${line.slice(0, 200)}`));
                            return;
                        }
                        try {
                            onEvent(ev);
                        } catch (e) {
                            finish(e as Error);
                            return;
                        }
                        if (settled) return;
                    }
                });
                res.on("end", () => finish("closed"));
                res.on("aborted", () => finish(new Error(`watch ${p}: connection reset`)));
                res.on("error", (e) => finish(e));
            });
            req.on("error", (e) => finish(e));
            req.on("socket", (s) => s.setKeepAlive(true, 15_000));
            if (opts.signal?.aborted) return finish("aborted");
            opts.signal?.addEventListener("abort", onAbort);
            req.end();
        });
    }

    /** Closes idle keep-alive sockets. */
    close(): void {
        this.agent.destroy();
    }
}

function toApiError(status: number, body: any, what: string): ApiError {
    const reason = body && typeof body === "object" && typeof body.reason === "string" ? body.reason : `HTTP${status}`;
    const message = body && typeof body === "object" && typeof body.message === "string" ? body.message : typeof body === "string" ? body.slice(0, 300) : "";
    return new ApiError(status, reason, `${what}: ${status} ${reason}${message ? `: ${message}` : ""}`, body);
}

/** Exponential backoff with jitter, for reconnects. */
export class Backoff {
    private attempt = 0;
    constructor(
        private readonly initialMs = 500,
        private readonly maxMs = 30_000,
        private readonly random: () => number = Math.random,
    ) {}
    next(): number {
        const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
        this.attempt = Math.min(this.attempt + 1, 30);
        // Full jitter in [base/2, base]: replicas that lost the server together do not return together.
        return Math.round(base / 2 + (base / 2) * this.random());
    }
    reset(): void {
        this.attempt = 0;
    }
}

export type InformerEvent<T> = { type: "ADDED" | "MODIFIED" | "DELETED"; object: T } | { type: "SYNC"; objects: T[] };

export interface InformerOptions<T> {
    /** Collection path, e.g. /api/v1/nodes. */
    path: string;
    labelSelector?: string;
    fieldSelector?: string;
    /** Keeps only what the controller reads, so large objects (Node status) cost little memory. */
    transform?: (o: any) => T;
    /** Reconnect when nothing (not even a bookmark) arrived for this long. @default 120000 */
    idleTimeoutMs?: number;
    /** Server-side watch timeout; randomised by up to +50% so watches do not expire together. @default 300 */
    watchTimeoutSeconds?: number;
    /** Page size of the initial list. @default 500 */
    pageSize?: number;
    backoff?: Backoff;
    onEvent?: (e: InformerEvent<T>) => void;
    onError?: (e: unknown, what: string) => void;
    now?: () => number;
    random?: () => number;
    sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const t = setTimeout(done, ms);
        function done() {
            clearTimeout(t);
            signal.removeEventListener("abort", done);
            resolve();
        }
        signal.addEventListener("abort", done);
    });

export function objectKey(o: { metadata: { name: string; namespace?: string } }): string {
    return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** Counters an informer keeps, for metrics and tests. */
export interface InformerStats {
    lists: number;
    watches: number;
    relists: number;
    errors: number;
    bookmarks: number;
    idleReconnects: number;
}

/**
 * Keeps a cache of one collection current: list (paged), then watch from the list's
 * resourceVersion; on a normal end re-watch from the last resourceVersion seen (bookmarks move
 * it forward), on errors back off and retry, and on 410 Gone (the version was compacted) list
 * again. Events go to `onEvent`; `fresh()` says whether the cache can be trusted right now.
 */
export class Informer<T extends KObject = KObject> {
    readonly store = new Map<string, T>();
    resourceVersion = "";
    /** True after the first complete list. */
    synced = false;
    /** True while a watch stream is open. */
    connected = false;
    /** Monotonic time of the last list, event or bookmark. */
    lastActivityAt = 0;
    readonly stats: InformerStats = { lists: 0, watches: 0, relists: 0, errors: 0, bookmarks: 0, idleReconnects: 0 };
    private abort = new AbortController();
    private running?: Promise<void>;
    private readonly backoff: Backoff;
    private readonly now: () => number;
    private readonly random: () => number;
    private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

    constructor(
        private readonly client: KubeClient,
        readonly name: string,
        private readonly opts: InformerOptions<T>,
    ) {
        this.now = opts.now ?? systemClock.mono;
        this.random = opts.random ?? Math.random;
        this.backoff = opts.backoff ?? new Backoff(500, 30_000, this.random);
        this.sleep = opts.sleep ?? defaultSleep;
    }

    get idleTimeoutMs(): number {
        return this.opts.idleTimeoutMs ?? 120_000;
    }

    /** The cache is complete, a watch is open and the server spoke within the idle timeout. */
    fresh(now = this.now()): boolean {
        return this.synced && this.connected && now - this.lastActivityAt <= this.idleTimeoutMs;
    }

    list(): T[] {
        return [...this.store.values()];
    }

    start(): void {
        if (this.running) return;
        this.abort = new AbortController();
        this.running = this.run(this.abort.signal);
    }

    async stop(): Promise<void> {
        this.abort.abort();
        await this.running;
        this.running = undefined;
        this.connected = false;
    }

    private selectors(): Query {
        return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
    }

    private transform(o: any): T {
        return this.opts.transform ? this.opts.transform(o) : (o as T);
    }

    private async relist(signal: AbortSignal): Promise<void> {
        const items: T[] = [];
        let cont: string | undefined;
        let rv = "";
        do {
            const page: any = await this.client.get(this.opts.path, { ...this.selectors(), limit: this.opts.pageSize ?? 500, continue: cont });
            if (signal.aborted) return;
            for (const it of page.items ?? []) items.push(this.transform(it));
            cont = page.metadata?.continue || undefined;
            rv = page.metadata?.resourceVersion ?? rv;
        } while (cont);
        this.store.clear();
        for (const it of items) this.store.set(objectKey(it), it);
        this.resourceVersion = rv;
        this.stats.lists++;
        this.synced = true;
        this.lastActivityAt = this.now();
        this.opts.onEvent?.({ type: "SYNC", objects: items });
    }

    private handle(e: WatchEvent): void {
        this.lastActivityAt = this.now();
        if (e.type === "ERROR") {
            const st = e.object ?? {};
            throw new ApiError(
                st.code ?? 500,
                st.reason ?? "WatchError",
                `watch ${this.opts.path}: ${st.code ?? ""} ${st.reason ?? ""} ${st.message ?? ""}`.trim(),
                st,
            );
        }
        const rv = e.object?.metadata?.resourceVersion;
        if (e.type === "BOOKMARK") {
            this.stats.bookmarks++;
            if (rv) this.resourceVersion = rv;
            return;
        }
        const obj = this.transform(e.object);
        const key = objectKey(obj);
        if (e.type === "DELETED") this.store.delete(key);
        else this.store.set(key, obj);
        if (rv) this.resourceVersion = rv;
        this.opts.onEvent?.({ type: e.type, object: obj });
    }

    private async run(signal: AbortSignal): Promise<void> {
        let needList = true;
        let goneInARow = 0;
        while (!signal.aborted) {
            try {
                if (needList) {
                    await this.relist(signal);
                    needList = false;
                    if (signal.aborted) break;
                }
                const timeoutSeconds = Math.round((this.opts.watchTimeoutSeconds ?? 300) * (1 + this.random() / 2));
                const openedAt = this.now();
                let events = 0;
                this.stats.watches++;
                const how = await this.client.watch(
                    this.opts.path,
                    { ...this.selectors(), resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
                    (e) => {
                        events++;
                        this.handle(e);
                    },
                    {
                        signal,
                        idleTimeoutMs: this.idleTimeoutMs,
                        onOpen: () => {
                            goneInARow = 0;
                            this.connected = true;
                            this.lastActivityAt = this.now();
                        },
                    },
                );
                this.connected = false;
                if (how === "aborted") break;
                if (how === "idle") this.stats.idleReconnects++;
                // A watch that ran its course re-opens at once; one the server closed right away
                // (overload, a proxy in between) waits, so we never spin.
                if (events > 0 || this.now() - openedAt >= 5_000) this.backoff.reset();
                else await this.sleep(this.backoff.next(), signal);
            } catch (e) {
                this.connected = false;
                if (signal.aborted) break;
                if (isGone(e)) {
                    // The resourceVersion we hold was compacted away: only a fresh list is complete.
                    this.stats.relists++;
                    needList = true;
                    this.opts.onError?.(e, "gone");
                    // Once is normal (compaction); again and again means something is wrong: back off.
                    goneInARow++;
                    await this.sleep(goneInARow > 1 ? this.backoff.next() : Math.round(100 + 400 * this.random()), signal);
                    continue;
                }
                this.stats.errors++;
                this.opts.onError?.(e, needList ? "list" : "watch");
                await this.sleep(this.backoff.next(), signal);
            }
        }
        this.connected = false;
    }
}
