/**
 * Sizes of the code, measured with the TypeScript compiler's parser: the largest functions
 * (declarations, methods, constructors and named arrow functions; lines from signature to closing
 * brace, nested functions included) and the largest files.
 *   npx ts-node --transpile-only scripts/metrics/sizes.ts [--top N] [--json] [source-tree]
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const DIRS = ["components", "liberator", "stacks"];

export interface FunctionSize {
    file: string;
    name: string;
    line: number;
    lines: number;
}

export interface FileSize {
    file: string;
    lines: number;
}

function sourceFiles(root: string): string[] {
    const out = fs.existsSync(path.join(root, "index.ts")) ? ["index.ts"] : [];
    for (const dir of DIRS) {
        if (!fs.existsSync(path.join(root, dir))) continue;
        for (const f of fs.readdirSync(path.join(root, dir)).sort()) if (f.endsWith(".ts") && !f.endsWith(".d.ts")) out.push(`${dir}/${f}`);
    }
    return out;
}

function nameOf(node: ts.Node, sf: ts.SourceFile): string | undefined {
    const text = (n: ts.Node | undefined) => (n ? n.getText(sf) : undefined);
    const owner = (n: ts.Node): string => {
        for (let p = n.parent; p; p = p.parent) if (ts.isClassLike(p)) return `${p.name?.text ?? "<class>"}.`;
        return "";
    };
    if (ts.isFunctionDeclaration(node)) return text(node.name) ?? "<default>";
    if (ts.isConstructorDeclaration(node)) return `${owner(node)}constructor`;
    if (ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) return `${owner(node)}${text(node.name)}`;
    if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
        const p = node.parent;
        if (ts.isVariableDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isPropertyAssignment(p)) return `${owner(node)}${text(p.name)}`;
        return undefined; // callbacks are measured as part of the function that holds them
    }
    return undefined;
}

export function measure(root: string): { functions: FunctionSize[]; files: FileSize[] } {
    const functions: FunctionSize[] = [];
    const files: FileSize[] = [];
    for (const file of sourceFiles(root)) {
        const text = fs.readFileSync(path.join(root, file), "utf8");
        const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
        files.push({ file, lines: text.split("\n").length - (text.endsWith("\n") ? 1 : 0) });
        const visit = (node: ts.Node) => {
            const name = ts.isFunctionLike(node) && "body" in node && node.body ? nameOf(node, sf) : undefined;
            if (name !== undefined) {
                const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
                const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
                functions.push({ file, name, line: start + 1, lines: end - start + 1 });
            }
            ts.forEachChild(node, visit);
        };
        visit(sf);
    }
    functions.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);
    files.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
    return { functions, files };
}

if (require.main === module) {
    const args = process.argv.slice(2);
    const top = args.includes("--top") ? Number(args[args.indexOf("--top") + 1]) : 15;
    const json = args.includes("--json");
    const root = path.resolve(args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--top")[0] ?? path.join(__dirname, "..", ".."));
    const m = measure(root);
    if (json) {
        process.stdout.write(JSON.stringify(m, null, 1) + "\n");
    } else {
        console.log(`| lines | function | where |\n| ---: | --- | --- |`);
        for (const f of m.functions.slice(0, top)) console.log(`| ${f.lines} | \`${f.name}\` | ${f.file}:${f.line} |`);
        console.log(`\n| lines | file |\n| ---: | --- |`);
        for (const f of m.files.slice(0, top)) console.log(`| ${f.lines} | ${f.file} |`);
        const over = (n: number) => m.functions.filter((f) => f.lines > n).length;
        console.log(
            `\nfunctions over 100 lines: ${over(100)}, over 60: ${over(60)}, over 40: ${over(40)}; files over 500 lines: ${m.files.filter((f) => f.lines > 500).length}`,
        );
    }
}
