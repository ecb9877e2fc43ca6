import { defineConfig } from "vitest/config";

// The container contract test: the real OpenClaw gateway (Node 24) behind real nginx. Slow (install
// and start-up), so it runs apart from `npm test`: `npm run test:container`.
export default defineConfig({
  test: {
    include: ["test/container/**/*.test.ts"],
    pool: "forks",
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
