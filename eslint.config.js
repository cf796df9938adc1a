// ESLint with TypeScript's type-aware rules. The Pulumi-specific ones: an Output inside a
// template string renders as a warning text instead of its value (restrict-template-expressions,
// no-base-to-string), and a floating promise in a program escapes the engine's error handling.
const js = require("@eslint/js");
const tseslint = require("typescript-eslint");

module.exports = tseslint.config(
    {
        ignores: [
            "dist/**",
            "node_modules/**",
            "coverage/**",
            "rendered/**",
            "docs/api/**",
            "**/*.mjs",
            "jest.config.js",
            "eslint.config.js",
            "tests/support/summary-reporter.js",
        ],
    },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
        rules: {
            "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
            "@typescript-eslint/no-base-to-string": "error",
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
        },
    },
    {
        // The controller's REST client handles raw API JSON; typed views are applied where it is read.
        files: ["liberator/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
    {
        files: ["tests/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
