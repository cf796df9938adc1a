// Where the time goes: a V8 CPU profile (.cpuprofile, from node --cpu-prof or the inspector)
// summarized by self time per source (package or file) and per function, and by inclusive time
// under chosen files (e.g. everything called from components/).

export interface CpuProfile {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
    startTime: number;
    endTime: number;
    samples: number[];
    timeDeltas: number[];
}

export interface ProfileEntry {
    key: string;
    ms: number;
    share: number;
}

/** "@pulumi/pulumi/runtime/rpc.js", "google-protobuf", "components/statefulworkload.js", "(garbage collector)". */
export function sourceOf(url: string, functionName: string, root?: string): string {
    if (!url) return `(${functionName || "anonymous"})`;
    const u = url.replace(/^file:\/\//, "");
    const nm = u.lastIndexOf("node_modules/");
    if (nm >= 0) {
        const parts = u.slice(nm + "node_modules/".length).split("/");
        const pkg = parts[0].startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
        // The Pulumi SDK is where most of the time goes: keep its files apart.
        if (pkg === "@pulumi/pulumi") return parts.slice(0, 2 + Math.min(parts.length - 2, 2)).join("/");
        return pkg;
    }
    if (u.startsWith("node:")) return u.split("/").slice(0, 2).join("/");
    return root && u.startsWith(root) ? u.slice(root.length).replace(/^\//, "") : u;
}

export function summarizeProfile(p: CpuProfile, opts: { root?: string; top?: number; inclusive?: string[] } = {}) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const self = new Map<number, number>();
    p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
    let total = 0;
    const bySource = new Map<string, number>();
    const byFunction = new Map<string, number>();
    const inclusive = new Map<string, number>((opts.inclusive ?? []).map((k) => [k, 0]));
    for (const [id, us] of self) {
        total += us;
        const cf = byId.get(id)!.callFrame;
        const src = sourceOf(cf.url, cf.functionName, opts.root);
        bySource.set(src, (bySource.get(src) ?? 0) + us);
        const fn = `${cf.functionName || "(anonymous)"} ${src}${cf.url ? `:${cf.lineNumber + 1}` : ""}`;
        byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
        // Inclusive: a sample counts once for each chosen file that is anywhere on its stack.
        const onStack = new Set<string>();
        for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
            const url = byId.get(cur)!.callFrame.url;
            for (const k of inclusive.keys()) if (url.includes(k)) onStack.add(k);
        }
        for (const k of onStack) inclusive.set(k, inclusive.get(k)! + us);
    }
    const top = opts.top ?? 15;
    const list = (m: Map<string, number>, n = top): ProfileEntry[] =>
        [...m.entries()]
            .sort((a, b) => b[1] - a[1])
            .slice(0, n)
            .map(([key, us]) => ({ key, ms: us / 1000, share: total ? us / total : 0 }));
    return { totalMs: total / 1000, bySource: list(bySource), byFunction: list(byFunction), inclusive: list(inclusive, inclusive.size) };
}

/** Several profiles as one: node ids renumbered apart, samples and deltas concatenated. */
export function mergeProfiles(profiles: CpuProfile[]): CpuProfile {
    const out: CpuProfile = { nodes: [], startTime: 0, endTime: 0, samples: [], timeDeltas: [] };
    let offset = 0;
    for (const p of profiles) {
        const max = Math.max(...p.nodes.map((n) => n.id));
        out.nodes.push(...p.nodes.map((n) => ({ ...n, id: n.id + offset, children: n.children?.map((c) => c + offset) })));
        out.samples.push(...p.samples.map((id) => id + offset));
        out.timeDeltas.push(...p.timeDeltas);
        out.endTime += p.endTime - p.startTime;
        offset += max + 1;
    }
    return out;
}
