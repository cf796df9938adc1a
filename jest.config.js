/** Projects: `unit` (Pulumi mocks, pure functions, local fakes), `package` (the packed tarball
 * as a consumer installs it) and `integration` (the real pulumi CLI against a real API server). */
const tsJest = ["ts-jest", { tsconfig: "tsconfig.json" }];
module.exports = {
    reporters: ["default", "<rootDir>/tests/support/summary-reporter.js"],
    projects: [
        {
            displayName: "unit",
            testEnvironment: "node",
            roots: ["<rootDir>/tests/unit"],
            testMatch: ["**/*.test.ts"],
            transform: { "^.+\\.ts$": tsJest },
        },
        {
            displayName: "package",
            testEnvironment: "node",
            roots: ["<rootDir>/tests/package"],
            testMatch: ["**/*.test.ts"],
            transform: { "^.+\\.ts$": tsJest },
        },
        {
            displayName: "integration",
            testEnvironment: "node",
            roots: ["<rootDir>/tests/integration"],
            testMatch: ["**/*.test.ts"],
            // The real nodes' platform smoke test checks nothing the dev stack and failover files
            // do not check with the product on top; it is for work on scripts/cluster.
            testPathIgnorePatterns: process.env.PETS_PLATFORM_SMOKE === "1" ? [] : ["/realnodes\\.test\\.ts$"],
            transform: { "^.+\\.ts$": tsJest },
        },
    ],
};
