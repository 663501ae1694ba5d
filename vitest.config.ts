import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          // The CLI tests spawn the real command several times per test: seconds each on a busy 2-core machine.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 300_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Each emulator starts once per run, here, and its address reaches the tests through inject().
          globalSetup: ["test/integration/global-setup.ts"],
          // No GCE metadata server here: without this, Google clients probe for one and warn.
          env: { METADATA_SERVER_DETECTION: "none" },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
