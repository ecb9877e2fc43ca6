/**
 * A host killed in the middle of a rotation (after the Nth history event, at seeded random points
 * over the whole rotation) and started again resumes it from its history: the rotation succeeds
 * and leaves exactly one working credential of each kind in use, the replaced ones refused.
 */
import { InstanceStore } from "../../src/runtime/durable/store";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { crashOrEnd, install, postJson, startHostProcess, waitForOperation } from "./harness";
import { useAppSandbox } from "../fixtures/install-host";
import { until } from "../fixtures/wait";
import { credentialProblems, secretValues } from "../fixtures/rotation";
import { SeededRandom } from "../../src/sandbox/faults";
import { deriveNames } from "../../src/model/names";
import { SANDBOX_SUBSCRIPTION_ID } from "../../src/azure/credential";
import type { RotationTargets } from "../../src/operations/rotation";
import type { Sandbox } from "../../src/sandbox";

const azure = useAppSandbox();

/** A default slug's secrets, found in the sandbox (the host's records are in its own Azurite). */
function targetsOf(sandbox: Sandbox, slug: string): RotationTargets {
  const names = deriveNames(slug, { subscriptionId: SANDBOX_SUBSCRIPTION_ID });
  const graph = (sandbox.inspect() as { graph: { id: string; kind: string; displayName?: string; deleted: boolean }[] })
    .graph;
  const app = graph.find(
    (object) => object.kind === "application" && !object.deleted && object.displayName === names.entraApp,
  )!;
  const vault = { vaultName: names.keyVault };
  return {
    vaultName: names.keyVault,
    resourceGroup: names.resourceGroup,
    containerAppName: names.containerApp,
    secrets: [
      {
        name: "entra-client-secret",
        kind: "clientSecret",
        title: "",
        secret: {
          ...vault,
          secretName: "entra-client-secret",
          kind: "clientSecret",
          applicationObjectId: app.id,
          displayName: "shire",
          validityDays: 180,
        },
      },
      {
        name: "gateway-token",
        kind: "generated",
        title: "",
        secret: { ...vault, secretName: "gateway-token", kind: "generated", bytes: 32 },
      },
      {
        name: "storage-account-key",
        kind: "storageKey",
        title: "",
        secret: {
          ...vault,
          secretName: "storage-account-key",
          kind: "storageKey",
          resourceGroup: names.resourceGroup,
          accountName: names.storageAccount,
          environmentStorage: {
            resourceGroup: names.resourceGroup,
            environmentName: names.managedEnvironment,
            name: names.environmentStorage,
            storageAccountName: names.storageAccount,
            shareName: names.fileShare,
            accessMode: "ReadWrite",
          },
        },
      },
    ],
  };
}

async function operationIds(baseUrl: string): Promise<string[]> {
  const response = await fetch(`${baseUrl}/api/operations?slug=crashy`).catch(() => undefined);
  if (!response || response.status !== 200) return [];
  return ((await response.json()) as { operations: { id: string }[] }).operations.map((operation) => operation.id);
}

/** History events one rotation wrote: its walker's (the slug's instance) and its steps' instances. */
function rotationEvents(stateDir: string, operationId: string): number {
  const store = new InstanceStore(stateDir, "ShireHub");
  return store
    .ids()
    .filter((id) => id === "slug-crashy" || id.startsWith(`${operationId}:`))
    .reduce((sum, id) => sum + (store.load(id)?.history.length ?? 0), 0);
}

describe("kill and restart during a rotation", () => {
  it("resumes rotations killed at random points: one working credential of each kind in use, the replaced ones refused", async () => {
    const stateDir = path.join(azure.dir, "host");
    const names = ["entra-client-secret", "gateway-token", "storage-account-key"];
    // Installed, then rotated once without a crash: how many history events a whole rotation writes.
    let total: number;
    /** Operations on the slug so far: the one a crash started is the one not among them. */
    const known = new Set<string>();
    const reference = await startHostProcess(stateDir);
    try {
      expect((await install(reference.url, "crashy")).status).toBe("succeeded");
      const before = secretValues(azure.sandbox, targetsOf(azure.sandbox, "crashy"));
      const started = await postJson(`${reference.url}/api/slugs/crashy/rotate`, {});
      expect((await waitForOperation(reference.url, String(started.body.operationId))).status).toBe("succeeded");
      total = rotationEvents(stateDir, String(started.body.operationId));
      for (const id of await operationIds(reference.url)) known.add(id);
      expect(
        await credentialProblems(azure.sandbox, azure.clients, targetsOf(azure.sandbox, "crashy"), {
          before,
          rotated: names,
        }),
      ).toEqual([]);
    } finally {
      await reference.stop();
    }

    const random = new SeededRandom(20261218);
    const points = Array.from({ length: 5 }, () => 2 + Math.floor(random.next() * (total - 4))).sort((a, b) => a - b);
    let crashes = 0;
    for (const crashAfter of points) {
      const targets = targetsOf(azure.sandbox, "crashy");
      const before = secretValues(azure.sandbox, targets);
      const doomed = await startHostProcess(stateDir, { SHIRE_FAULT_CRASH_AFTER_EVENTS: String(crashAfter) });
      const started = await postJson(`${doomed.url}/api/slugs/crashy/rotate`, {}).catch(() => undefined);
      const outcome = await crashOrEnd(doomed, started?.status === 202 ? String(started.body.operationId) : undefined);
      if (!outcome.crashed) {
        // Its history ended before the crash point: it must simply have succeeded.
        expect(outcome.status, `no crash after ${crashAfter} of ${total} events: the rotation ended first`).toBe(
          "succeeded",
        );
        known.add(String(started!.body.operationId));
        expect(await credentialProblems(azure.sandbox, azure.clients, targets, { before, rotated: names })).toEqual([]);
        continue;
      }
      expect(outcome.exitCode, `crash after ${crashAfter} of ${total} events`).toBe(137);
      crashes++;
      const revived = await startHostProcess(stateDir);
      try {
        // The crash can land before the 202: then the rotation is the operation on the slug not seen before
        // (its record is written by the starter or, if the starter died first, by the orchestration).
        const operationId =
          started?.status === 202
            ? String(started.body.operationId)
            : await until(
                async () => (await operationIds(revived.url)).find((id) => !known.has(id)),
                `the rotation started before the crash after ${crashAfter} events`,
                { timeoutMs: 120_000, intervalMs: 200 },
              );
        known.add(operationId);
        const operation = await waitForOperation(revived.url, operationId, 120_000);
        expect(
          operation.status,
          `crash after ${crashAfter}: ${JSON.stringify(operation.steps.filter((step) => step.status !== "done"))}`,
        ).toBe("succeeded");
      } finally {
        await revived.stop();
      }
      expect(
        await credentialProblems(azure.sandbox, azure.clients, targets, { before, rotated: names }),
        `crash after ${crashAfter} of ${total} events`,
      ).toEqual([]);
    }
    // Most points fall inside a rotation's history: the test is about the crashes.
    expect(crashes).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
