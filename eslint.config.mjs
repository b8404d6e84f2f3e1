// One linter for the whole repository (`npm run lint`; scripts/test.sh runs it before the tests).
// Type-aware: the root tsconfig.json covers every .ts file, so the promise rules see real types.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Packages talk through their entry (`@taj/<pkg>`, the `exports` of its package.json), never
// through another package's files: a relative path into packages/*/src, services/*/src or
// bench/src from outside, or `@taj/<pkg>/src/...`. A package's own tests import `../src/...`,
// which these patterns do not match.
const deepImports = {
  patterns: [
    {
      group: ["**/packages/*/src/**", "**/services/*/src/**", "**/bench/src/**", "@taj/*/src/**"],
      message: "Import another package through its entry (@taj/<pkg>), not its src/ files.",
    },
  ],
};

export default tseslint.config(
  { ignores: ["**/node_modules/**", "proto/gen/**", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  {
    files: ["**/*.ts"],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: ["./tsconfig.json"], tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] }],
        },
      ],
      "@typescript-eslint/no-explicit-any": "error",
      "no-restricted-imports": ["error", deepImports],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
      // `${[x, y]}` reads "x,y", which is what a message about a box wants.
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowArray: true }],
      // Off, and why: grpc-js hands out status codes as plain numbers and they are compared with its
      // `status` enum throughout; test doubles and interface implementations are `async` to return
      // a promise without awaiting anything; redundant `!`/`as` are style (tsc checks types).
      "@typescript-eslint/no-unsafe-enum-comparison": "off",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
    },
  },
);
