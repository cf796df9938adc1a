/** Two projects: `unit` (Pulumi mocks, pure functions, local fakes) and `integration`
 * (the real pulumi CLI against a real API server, started by scripts/cluster). */
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
      displayName: "integration",
      testEnvironment: "node",
      roots: ["<rootDir>/tests/integration"],
      testMatch: ["**/*.test.ts"],
      transform: { "^.+\\.ts$": tsJest },
    },
  ],
};
