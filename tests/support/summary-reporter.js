// Records this jest run's counts for scripts/test.sh, which prints the closing
// "N passed, N failed" line that CI reads once every stage has run.
const fs = require("fs");
const path = require("path");

class SummaryReporter {
    onRunComplete(_contexts, results) {
        const counts = {
            passed: results.numPassedTests,
            failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
            skipped: results.numPendingTests + results.numTodoTests,
        };
        const file = process.env.PETS_TEST_SUMMARY;
        if (file) {
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.appendFileSync(file, JSON.stringify(counts) + "\n");
        }
    }
}
module.exports = SummaryReporter;
