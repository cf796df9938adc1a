// Reading jest's --json report for the test-loop benchmark (bench/benchmarks/test-loop.ts), from
// a real report jest writes for a tiny project.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { fileTimes, JestReport, jestWallSeconds } from "../../bench/benchmarks/test-loop";

test("per-file times and the run's wall time come from jest's own JSON report", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pets-jestjson-"));
    try {
        fs.writeFileSync(path.join(dir, "a.test.js"), 'test("slow", () => new Promise((r) => setTimeout(r, 300)));\ntest("fails", () => expect(1).toBe(2));\n');
        fs.writeFileSync(path.join(dir, "b.test.js"), 'test("fast", () => {});\n');
        fs.writeFileSync(path.join(dir, "jest.config.js"), "module.exports = { testEnvironment: 'node' };\n");
        const out = path.join(dir, "report.json");
        const jest = path.join(__dirname, "..", "..", "node_modules", "jest", "bin", "jest.js");
        try {
            execFileSync(process.execPath, [jest, "--ci", "--runInBand", "--json", "--outputFile", out, "--rootDir", dir], { cwd: dir, stdio: "ignore" });
        } catch {
            // one test fails on purpose: jest exits 1
        }
        const report = JSON.parse(fs.readFileSync(out, "utf8")) as JestReport;
        const files = fileTimes(report);
        expect(files.map((f) => path.basename(f.file))).toEqual(["a.test.js", "b.test.js"]);
        expect(files[0]).toMatchObject({ tests: 2, failed: 1 });
        expect(files[0].seconds).toBeGreaterThanOrEqual(0.3);
        expect(files[1].seconds).toBeLessThan(files[0].seconds);
        expect(jestWallSeconds(report)).toBeGreaterThanOrEqual(files[0].seconds);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 60_000);
