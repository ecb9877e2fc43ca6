import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/container/**", "node_modules/**", "dist/**"],
    // Hosts, sandboxes and nginx bind loopback ports; separate processes keep their globals apart.
    pool: "forks",
    // Fails the run if it leaves an Azurite or host process behind (and kills them).
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
