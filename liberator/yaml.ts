/**
 * A small YAML reader for kubeconfig files, so the controller needs no YAML package at run time.
 * It understands the subset kubectl, kind, k3s and kubeadm write: block mappings and sequences,
 * plain/single/double-quoted scalars, `|`/`>` block scalars, comments, empty `{}`/`[]` and flat
 * flow collections of scalars. Anchors, tags and multi-document streams are refused.
 */

interface Line {
    indent: number;
    text: string;
    no: number;
}

export class YamlError extends Error {
    constructor(message: string, line?: number) {
        super(line === undefined ? message : `line ${line}: ${message}`);
        this.name = "YamlError";
    }
}

/** Removes a trailing comment (a '#' after whitespace, outside quotes). */
function stripComment(s: string): string {
    let quote: string | undefined;
    for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if (quote) {
            if (c === "\\" && quote === '"') i++;
            else if (c === quote) quote = undefined;
        } else if (c === '"' || c === "'") {
            if (i === 0 || /[\s:[{,-]/.test(s[i - 1])) quote = c;
        } else if (c === "#" && (i === 0 || /\s/.test(s[i - 1]))) {
            return s.slice(0, i).trimEnd();
        }
    }
    return s.trimEnd();
}

function splitFlow(inner: string): string[] {
    const parts: string[] = [];
    let cur = "";
    let quote: string | undefined;
    for (let i = 0; i < inner.length; i++) {
        const c = inner[i];
        if (quote) {
            cur += c;
            if (c === "\\" && quote === '"') cur += inner[++i] ?? "";
            else if (c === quote) quote = undefined;
        } else if (c === '"' || c === "'") {
            quote = c;
            cur += c;
        } else if (c === "[" || c === "{") {
            throw new YamlError("nested flow collections are not supported");
        } else if (c === ",") {
            parts.push(cur.trim());
            cur = "";
        } else cur += c;
    }
    if (cur.trim() !== "") parts.push(cur.trim());
    return parts;
}

export function scalar(raw: string, lineNo?: number): unknown {
    const s = raw.trim();
    if (s.startsWith("&") || s.startsWith("*") || s.startsWith("!")) throw new YamlError("anchors, aliases and tags are not supported", lineNo);
    if (s.startsWith('"')) {
        if (!s.endsWith('"') || s.length < 2) throw new YamlError("unterminated double-quoted string", lineNo);
        try {
            return JSON.parse(s.replace(/\\\//g, "/"));
        } catch {
            throw new YamlError(`unsupported escape in ${s}`, lineNo);
        }
    }
    if (s.startsWith("'")) {
        if (!s.endsWith("'") || s.length < 2) throw new YamlError("unterminated single-quoted string", lineNo);
        return s.slice(1, -1).replace(/''/g, "'");
    }
    if (s.startsWith("[")) {
        if (!s.endsWith("]")) throw new YamlError("unterminated flow sequence", lineNo);
        return splitFlow(s.slice(1, -1)).map((p) => scalar(p, lineNo));
    }
    if (s.startsWith("{")) {
        if (!s.endsWith("}")) throw new YamlError("unterminated flow mapping", lineNo);
        const out: Record<string, unknown> = {};
        for (const p of splitFlow(s.slice(1, -1))) {
            const idx = p.indexOf(":");
            if (idx < 0) throw new YamlError(`flow mapping entry without ':' (${p})`, lineNo);
            out[String(scalar(p.slice(0, idx), lineNo))] = scalar(p.slice(idx + 1), lineNo);
        }
        return out;
    }
    if (s === "" || s === "~" || s === "null" || s === "Null" || s === "NULL") return null;
    if (/^(true|True|TRUE)$/.test(s)) return true;
    if (/^(false|False|FALSE)$/.test(s)) return false;
    if (/^[-+]?\d+$/.test(s)) return Number(s);
    if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
    return s;
}

/** Finds the ':' that ends a mapping key (followed by space or end of line), outside quotes. */
function keySplit(text: string): number {
    let quote: string | undefined;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (quote) {
            if (c === "\\" && quote === '"') i++;
            else if (c === quote) quote = undefined;
        } else if ((c === '"' || c === "'") && i === 0) {
            quote = c;
        } else if (c === ":" && (i + 1 === text.length || text[i + 1] === " " || text[i + 1] === "\t")) {
            return i;
        }
    }
    return -1;
}

function isSeqItem(text: string): boolean {
    return text === "-" || text.startsWith("- ");
}

class Parser {
    private pos = 0;
    constructor(
        private readonly lines: Line[],
        private readonly raw: string[],
    ) {}

    parseDocument(): unknown {
        if (this.lines.length === 0) return null;
        const value = this.parseNode(this.lines[0].indent);
        if (this.pos < this.lines.length) throw new YamlError("unexpected indentation", this.lines[this.pos].no);
        return value;
    }

    private peek(): Line | undefined {
        return this.lines[this.pos];
    }

    private parseNode(indent: number): unknown {
        const line = this.peek();
        if (!line || line.indent < indent) return null;
        if (isSeqItem(line.text)) return this.parseSequence(line.indent);
        if (keySplit(line.text) >= 0) return this.parseMapping(line.indent);
        this.pos++;
        return scalar(line.text, line.no);
    }

    private parseSequence(indent: number): unknown[] {
        const out: unknown[] = [];
        for (let line = this.peek(); line && line.indent === indent && isSeqItem(line.text); line = this.peek()) {
            const rest = line.text.slice(1).replace(/^ +/, "");
            if (rest === "") {
                this.pos++;
                const next = this.peek();
                out.push(next && next.indent > indent ? this.parseNode(next.indent) : null);
            } else {
                // "- key: value" starts a mapping whose keys line up with "key".
                const inner = line.indent + (line.text.length - rest.length);
                this.lines[this.pos] = { indent: inner, text: rest, no: line.no };
                out.push(this.parseNode(inner));
            }
        }
        return out;
    }

    private parseMapping(indent: number): Record<string, unknown> {
        const out: Record<string, unknown> = {};
        for (let line = this.peek(); line && line.indent === indent && !isSeqItem(line.text); line = this.peek()) {
            const idx = keySplit(line.text);
            if (idx < 0) throw new YamlError(`expected "key: value", found ${JSON.stringify(line.text)}`, line.no);
            const key = String(scalar(line.text.slice(0, idx), line.no));
            const rest = line.text.slice(idx + 1).trim();
            this.pos++;
            if (rest === "") {
                const next = this.peek();
                if (next && next.indent > indent) out[key] = this.parseNode(next.indent);
                // kubectl writes sequences at the key's own indentation.
                else if (next && next.indent === indent && isSeqItem(next.text)) out[key] = this.parseSequence(indent);
                else out[key] = null;
            } else if (/^[|>][-+]?$/.test(rest)) {
                out[key] = this.blockScalar(rest, indent, line.no);
            } else {
                out[key] = scalar(rest, line.no);
            }
        }
        return out;
    }

    /** `|` keeps newlines, `>` folds them; chomping indicators `-`/`+` are honoured. */
    private blockScalar(header: string, parentIndent: number, headerLine: number): string {
        const body: string[] = [];
        let blockIndent: number | undefined;
        // Block scalars are read from the raw text: comments and blank lines are content there.
        let rawNo = headerLine; // 1-based number of the header line == index of the next raw line
        while (rawNo < this.raw.length) {
            const text = this.raw[rawNo];
            const ind = text.length - text.trimStart().length;
            if (text.trim() !== "") {
                if (blockIndent === undefined) blockIndent = ind;
                if (ind < blockIndent || ind <= parentIndent) break;
            }
            body.push(blockIndent === undefined ? "" : text.slice(Math.min(blockIndent, text.length)));
            rawNo++;
        }
        while (this.pos < this.lines.length && this.lines[this.pos].no <= rawNo) this.pos++;
        let trailing = 0;
        while (body.length > 0 && body[body.length - 1].trim() === "") {
            body.pop();
            trailing++;
        }
        let text = header[0] === "|" ? body.join("\n") : body.join("\n").replace(/([^\n])\n(?=[^\n])/g, "$1 ");
        const chomp = header[1];
        if (chomp === "+") text += "\n".repeat(trailing + 1);
        else if (chomp !== "-" && body.length > 0) text += "\n";
        return text;
    }
}

/** Parses one YAML document (JSON is YAML too, and is read with JSON.parse). */
export function parseYaml(text: string): unknown {
    const trimmed = text.trim();
    if (trimmed.startsWith("{")) {
        try {
            return JSON.parse(trimmed);
        } catch {
            // fall through: a flow mapping that is not JSON
        }
    }
    const raw = text.replace(/\r\n?/g, "\n").split("\n");
    const lines: Line[] = [];
    let started = false;
    raw.forEach((r, i) => {
        if (/^\t/.test(r)) throw new YamlError("tabs are not allowed for indentation", i + 1);
        const body = stripComment(r);
        if (body.trim() === "") return;
        if (body === "---") {
            if (started) throw new YamlError("only one YAML document is supported", i + 1);
            return;
        }
        if (body === "...") return;
        started = true;
        lines.push({ indent: body.length - body.trimStart().length, text: body.trim(), no: i + 1 });
    });
    return new Parser(lines, raw).parseDocument();
}
