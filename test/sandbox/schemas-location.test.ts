/**
 * Where the sandbox finds the official ARM schemas: a plain clone has none beside it, and that is
 * a normal setup (built-in checks only, said in docs/sandbox.md), not a warning at every start; a
 * SHIRE_ARM_SPECS_DIR that names a folder without schemas is a mistake, and the start fails.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AzureClients } from "../../src/azure/clients";

const savedSpecsDir = process.env.SHIRE_ARM_SPECS_DIR;

afterEach(() => {
  vi.restoreAllMocks();
  if (savedSpecsDir === undefined) delete process.env.SHIRE_ARM_SPECS_DIR;
  else process.env.SHIRE_ARM_SPECS_DIR = savedSpecsDir;
});

/** A fresh copy of the sandbox's modules (the schema validator is cached per process). */
async function freshSandboxModule() {
  vi.resetModules();
  return import("../../src/sandbox/index.js");
}

describe("ARM schemas", () => {
  it("a checkout without ../shared/reference/specs starts and serves without a warning", async () => {
    delete process.env.SHIRE_ARM_SPECS_DIR;
    // As in a plain clone: nothing at ../shared/reference/specs, whatever this machine has there.
    const exists = fs.existsSync;
    vi.spyOn(fs, "existsSync").mockImplementation(
      (file) => !String(file).includes(path.join("shared", "reference", "specs")) && exists(file),
    );
    const warn = vi.spyOn(console, "warn");
    const error = vi.spyOn(console, "error");
    const { startSandbox } = await freshSandboxModule();
    const { findSchemasDir } = await import("../../src/sandbox/arm/schemas.js");
    expect(findSchemasDir()).toBeUndefined();
    const sandbox = await startSandbox();
    try {
      // A PUT is where the schemas would be used: built-in checks only, and silently so.
      const clients = new AzureClients(sandbox.context());
      await clients.resources.resourceGroups.createOrUpdate("rg-plain-clone", { location: "westeurope" });
      await expect(
        clients.resources.resourceGroups.createOrUpdate("rg-plain-clone", { location: "mars" }),
      ).rejects.toMatchObject({ statusCode: 400 });
    } finally {
      await sandbox.stop();
    }
    const said = [...warn.mock.calls, ...error.mock.calls].map((call) => call.join(" "));
    expect(said.filter((line) => /schema/i.test(line))).toEqual([]);
  });

  it("SHIRE_ARM_SPECS_DIR naming a folder without schemas fails the start", async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "shire-no-specs-"));
    process.env.SHIRE_ARM_SPECS_DIR = empty;
    const { startSandbox } = await freshSandboxModule();
    await expect(startSandbox()).rejects.toThrow(/SHIRE_ARM_SPECS_DIR .* holds no ARM schemas/);
  });
});
