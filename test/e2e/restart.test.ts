/**
 * A host killed in the middle of an install (after the Nth history event) and started again
 * resumes every running instance from its history and converges to the same footprint.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { crashOrEnd, footprint, getJson, install, postJson, startHostProcess, waitForOperation } from "./harness";
import { SeededRandom } from "../../src/sandbox/faults";
import { InstanceStore } from "../../src/runtime/durable/store";
import { useAppSandbox } from "../fixtures/install-host";
import { until } from "../fixtures/wait";

/**
 * The slug's operation (of `kind`, when given), once a record of it exists: a crash can land
 * before the 202, and the orchestration writes the record if the starter could not.
 */
async function recordedOperation(baseUrl: string, slug: string, kind?: string): Promise<string> {
  const found = await until(
    async () => {
      const { status, body } = await getJson<{ operations?: { id: string; kind: string }[] }>(
        `${baseUrl}/api/operations?slug=${slug}`,
      ).catch(() => ({ status: 0, body: {} as { operations?: { id: string; kind: string }[] } }));
      return status === 200 ? body.operations?.find((operation) => !kind || operation.kind === kind) : undefined;
    },
    `${kind ?? "an operation"} recorded for ${slug}`,
    { attempts: 600, intervalMs: 100 },
  );
  return found.id;
}

/**
 * Wait until the slug's durable instance has ended on this host. An operation's record reads
 * finished once its orchestration recorded the result, a moment before the instance itself
 * completes: a host stopped in between resumes the instance at its next start, and a request
 * sent then finds the slug busy.
 */
async function instanceEnded(baseUrl: string, slug: string): Promise<void> {
  await until(
    async () => {
      const { status, body } = await getJson<{ runtimeStatus?: string }>(
        `${baseUrl}/runtime/webhooks/durabletask/instances/slug-${slug}`,
      ).catch(() => ({ status: 0, body: {} as { runtimeStatus?: string } }));
      return status === 200 && ["Completed", "Failed", "Terminated"].includes(body.runtimeStatus ?? "")
        ? true
        : undefined;
    },
    `the instance of ${slug} to end`,
    { attempts: 300, intervalMs: 100 },
  );
}

const azure = useAppSandbox();

describe("kill and restart", () => {
  it("resumes installs killed at several points and converges to the same footprint", async () => {
    const reference = await startHostProcess(path.join(azure.dir, "reference"));
    try {
      expect((await install(reference.url, "calm")).status).toBe("succeeded");
    } finally {
      await reference.stop();
    }
    const expected = footprint(azure.sandbox, "calm");

    // Crash points spread over the install: early (first activities), middle, late (container app).
    for (const [index, crashAfter] of [7, 45, 110].entries()) {
      const slug = `crash${index}`;
      const stateDir = path.join(azure.dir, slug);
      const doomed = await startHostProcess(stateDir, { SHIRE_FAULT_CRASH_AFTER_EVENTS: String(crashAfter) });
      // The crash can land before the 202 is sent: then the operation is found by slug after restart.
      const started = await postJson(`${doomed.url}/api/slugs/${slug}/install`, {}).catch(() => undefined);
      if (started) expect(started.status).toBe(202);
      const exitCode = await doomed.exited;
      expect(exitCode).toBe(137);

      const revived = await startHostProcess(stateDir);
      try {
        const operationId = started ? String(started.body.operationId) : await recordedOperation(revived.url, slug);
        const operation = await waitForOperation(revived.url, operationId, 60_000);
        expect(
          operation.status,
          `${slug}: ${JSON.stringify(operation.steps.filter((step) => step.status !== "done"))}`,
        ).toBe("succeeded");
      } finally {
        await revived.stop();
      }
      expect(footprint(azure.sandbox, slug)).toEqual(expected);
    }
  });

  it("resumes installs killed at random points while long-running operations and replication are in flight", async () => {
    // Slow enough that crashes land inside LROs (the revived host finds resources still
    // provisioning) and inside Entra's replication window (objects created but not yet visible).
    azure.sandbox.setFaults({
      lroDurationMs: {
        "Microsoft.App/managedEnvironments": 1_200,
        "Microsoft.App/containerApps": 1_200,
        "Microsoft.Storage/storageAccounts": 600,
      },
      graphReplicationDelayMs: 800,
      rbacPropagationMs: 500,
    });
    try {
      const referenceDir = path.join(azure.dir, "slow-reference");
      const reference = await startHostProcess(referenceDir);
      try {
        expect((await install(reference.url, "slow", {}, 120_000)).status).toBe("succeeded");
      } finally {
        await reference.stop();
      }
      const expected = footprint(azure.sandbox, "slow");
      // How many history events a whole install writes: crash points are drawn from that range.
      const total = new InstanceStore(referenceDir, "ShireHub").load("slug-slow")!.history.length;
      const random = new SeededRandom(20261202);
      const points = Array.from({ length: 5 }, () => 3 + Math.floor(random.next() * (total - 6))).sort((a, b) => a - b);
      let crashes = 0;

      for (const [index, crashAfter] of points.entries()) {
        const slug = `slow${index}`;
        const stateDir = path.join(azure.dir, slug);
        const doomed = await startHostProcess(stateDir, { SHIRE_FAULT_CRASH_AFTER_EVENTS: String(crashAfter) });
        const started = await postJson(`${doomed.url}/api/slugs/${slug}/install`, {}).catch(() => undefined);
        const outcome = await crashOrEnd(doomed, started ? String(started.body.operationId) : undefined);
        if (!outcome.crashed) {
          // Its history ended before the crash point (its waits looked again fewer times).
          expect(outcome.status, `${slug}: no crash after ${crashAfter} of ${total} events`).toBe("succeeded");
          expect(footprint(azure.sandbox, slug), `${slug} (no crash)`).toEqual(expected);
          continue;
        }
        crashes++;
        expect(outcome.exitCode, `crash after ${crashAfter} of ${total} events`).toBe(137);
        const revived = await startHostProcess(stateDir);
        try {
          const operationId = started ? String(started.body.operationId) : await recordedOperation(revived.url, slug);
          const operation = await waitForOperation(revived.url, operationId, 120_000);
          expect(
            operation.status,
            `${slug} (crash after ${crashAfter}): ${JSON.stringify(operation.steps.filter((step) => step.status !== "done"))}`,
          ).toBe("succeeded");
        } finally {
          await revived.stop();
        }
        expect(footprint(azure.sandbox, slug), `${slug} (crash after ${crashAfter})`).toEqual(expected);
      }
      // Most points fall inside an install's history: the test is about the crashes.
      expect(crashes).toBeGreaterThanOrEqual(3);
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {}, graphReplicationDelayMs: 0, rbacPropagationMs: 0 });
    }
  }, 300_000);

  it("resumes teardowns killed at random points: everything of the slug is gone, nothing else touched", async () => {
    const random = new SeededRandom(20261204);
    const points = Array.from({ length: 4 }, () => 2 + Math.floor(random.next() * 40)).sort((a, b) => a - b);
    for (const [index, crashAfter] of points.entries()) {
      const slug = `down${index}`;
      const stateDir = path.join(azure.dir, slug);
      const installer = await startHostProcess(stateDir);
      try {
        expect((await install(installer.url, slug)).status).toBe("succeeded");
        await instanceEnded(installer.url, slug);
      } finally {
        await installer.stop();
      }
      const admins = footprint(azure.sandbox, "calm").entra;
      const doomed = await startHostProcess(stateDir, { SHIRE_FAULT_CRASH_AFTER_EVENTS: String(crashAfter) });
      const started = await postJson(`${doomed.url}/api/slugs/${slug}/teardown`, { confirm: slug, purge: true }).catch(
        () => undefined,
      );
      if (started) expect(started.status).toBe(202);
      expect(await doomed.exited, `crash after ${crashAfter} events`).toBe(137);
      const revived = await startHostProcess(stateDir);
      try {
        const operationId = started
          ? String(started.body.operationId)
          : await recordedOperation(revived.url, slug, "teardown");
        const operation = await waitForOperation(revived.url, operationId, 120_000);
        expect(operation.status, `${slug} (crash after ${crashAfter}): ${JSON.stringify(operation.steps)}`).toBe(
          "succeeded",
        );
        expect((await getJson<{ state: string }>(`${revived.url}/api/slugs/${slug}`)).body.state).toBe("destroyed");
      } finally {
        await revived.stop();
      }
      const left = footprint(azure.sandbox, slug);
      expect(left.resources, `${slug} (crash after ${crashAfter})`).toEqual([]);
      expect((left.entra as string[]).filter((entry) => !entry.includes("shire-admins"))).toEqual([]);
      // Another slug's footprint (and the shared group) untouched.
      expect(footprint(azure.sandbox, "calm").entra).toEqual(admins);
    }
  }, 300_000);
});
