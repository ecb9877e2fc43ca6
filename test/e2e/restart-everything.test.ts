/**
 * `npm start` as one process group (host, sandbox, Azurite) killed with SIGKILL at random points
 * of an install, several times, and started again on the same state directory each time: the
 * install ends `succeeded` and nothing in emulated Azure is there twice (ARM resources, Entra
 * applications, service principals and groups, passwords, vault secrets). The kill points come
 * from a seeded PRNG (SHIRE_TEST_SEED overrides the seed), so a failure can be replayed.
 */
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/sandbox";
import { SeededRandom } from "../../src/sandbox/faults";
import { footprint, getJson, postJson, waitForOperation } from "./harness";
import { killGroup, useShireStack } from "../fixtures/shire-stack";

const SEED = Number(process.env.SHIRE_TEST_SEED ?? 20261204);
/** Slow enough that kills land inside long-running operations, replication and propagation waits. */
const FAULTS = {
  defaultLatencyMs: 10,
  lroDurationMs: {
    "Microsoft.App/managedEnvironments": 2_000,
    "Microsoft.App/containerApps": 1_500,
    "Microsoft.Storage/storageAccounts": 800,
  },
  graphReplicationDelayMs: 300,
  rbacPropagationMs: 300,
};

const startStack = useShireStack({ faults: FAULTS });

/** GET on the sandbox's inspection API, found through the state directory as any tool finds it. */
async function sandboxState(stateDir: string): Promise<Record<string, unknown>> {
  const endpoint = JSON.parse(fs.readFileSync(path.join(stateDir, "sandbox", "endpoint.json"), "utf8")) as {
    port: number;
    caFile: string;
  };
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: "127.0.0.1",
        port: endpoint.port,
        path: "/_sandbox/state",
        servername: "management.sandbox.localhost",
        ca: fs.readFileSync(endpoint.caFile),
        headers: { host: `management.sandbox.localhost:${endpoint.port}` },
        agent: false,
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve(JSON.parse(text) as Record<string, unknown>));
      },
    );
    request.on("error", reject);
    request.end();
  });
}

interface InstanceView {
  runtimeStatus?: string;
  input?: { operationId?: string };
  output?: { operationId?: string; status?: string; message?: string; steps?: { id: string; status: string }[] };
}

/** The slug's durable instance (one per slug), as the Durable Functions management API shows it. */
async function instanceOf(url: string, slug: string): Promise<InstanceView | undefined> {
  const { status, body } = await getJson<InstanceView>(
    `${url}/runtime/webhooks/durabletask/instances/slug-${slug}?showInput=true`,
  ).catch(() => ({ status: 0, body: {} as InstanceView }));
  return status === 200 || status === 202 ? body : undefined;
}

/**
 * The slug's operation: answered at once, or named by the instance that runs it, or started again
 * now when the kill came before the starter started anything (a still-running instance answers
 * 409 with its id).
 */
async function operationOf(url: string, slug: string): Promise<string> {
  const running = (await instanceOf(url, slug))?.input?.operationId;
  if (running) return running;
  const again = await postJson(`${url}/api/slugs/${slug}/install`, {});
  if (again.status === 202) return String(again.body.operationId);
  const named = /operation (\S+) is/.exec(String((again.body.error as { message?: string } | undefined)?.message));
  if (again.status === 409 && named) return named[1];
  throw new Error(`no operation for ${slug}: ${again.status} ${JSON.stringify(again.body)}`);
}

/** Wait until the slug's instance has finished this operation; its output is the install's outcome. */
async function outcomeOf(url: string, slug: string, operationId: string, deadlineMs: number): Promise<InstanceView> {
  const started = Date.now();
  for (;;) {
    const instance = await instanceOf(url, slug);
    if (
      instance?.input?.operationId === operationId &&
      ["Completed", "Failed", "Terminated"].includes(String(instance.runtimeStatus))
    )
      return instance;
    if (Date.now() - started > deadlineMs)
      throw new Error(`${operationId} not finished after ${deadlineMs} ms: ${JSON.stringify(instance?.runtimeStatus)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type GraphObject = {
  kind: string;
  displayName?: string;
  deleted: boolean;
  passwordKeyIds?: string[];
};
type VaultSecrets = Record<
  string,
  Record<string, { deleted: boolean; versions: { version: string; tags: Record<string, string> }[] }>
>;

/** What must exist exactly once for a slug, beyond the footprint: Entra objects, their passwords, the vault's copies. */
function entraAndVault(state: Record<string, unknown>, slug: string) {
  const objects = (state.graph as GraphObject[]).filter(
    (object) => object.displayName === `shire-${slug}` || object.displayName?.startsWith(`shire-${slug}-`),
  );
  const vault = Object.entries(state.keyvault as VaultSecrets).find(([name]) => name.startsWith(`kv-${slug}-`));
  return { objects, vault: vault?.[1] ?? {} };
}

describe("npm start killed as a whole, again and again, during an install", () => {
  it("finishes the install with nothing created twice", async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-restart-all-"));
    const random = new SeededRandom(SEED);
    // The first kill may land before the 202 (the request in flight); the others anywhere after a restart.
    const killAfterMs = [
      50 + Math.floor(random.next() * 1_500),
      ...Array.from({ length: 3 }, () => 300 + Math.floor(random.next() * 3_500)),
    ];
    const context = `seed ${SEED}, kills after ${killAfterMs.join(", ")} ms`;
    const slug = "phoenix";

    let stack = await startStack(stateDir);
    let operationId: string | undefined;
    const started = postJson(`${stack.url}/api/slugs/${slug}/install`, {}).then(
      (answer) => {
        if (answer.status === 202) operationId = String(answer.body.operationId);
      },
      () => undefined,
    );
    for (const [index, delay] of killAfterMs.entries()) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      await killGroup(stack);
      if (index === 0) await started;
      stack = await startStack(stateDir);
      expect(stack.output.join(""), context).toContain("carried on from the last run");
      operationId ??= await operationOf(stack.url, slug);
    }
    // The outcome from the orchestration itself: its records live in Azurite, which keeps writes
    // in memory for up to 5 s before it saves them, so a kill can take the last ones with it.
    const outcome = await outcomeOf(stack.url, slug, operationId!, 120_000).catch((error: Error) => {
      throw new Error(`${context}: ${error.message}\nhost: ${stack.output.join("").slice(-3_000)}`);
    });
    expect(outcome.runtimeStatus, context).toBe("Completed");
    expect(
      outcome.output?.status,
      `${context}: ${JSON.stringify(outcome.output?.steps?.filter((step) => step.status !== "done"))}`,
    ).toBe("succeeded");
    // Where the operation record survived, it says the same.
    const record = await getJson<{ status?: string }>(`${stack.url}/api/operations/${operationId}`);
    if (record.status === 200) expect(record.body.status, context).toBe("succeeded");

    // A reference install on the same stack, never interrupted: the same footprint, once each.
    const reference = await postJson(`${stack.url}/api/slugs/calm/install`, {});
    expect((await waitForOperation(stack.url, String(reference.body.operationId), 120_000)).status).toBe("succeeded");
    const state = await sandboxState(stateDir);
    const inspected = { inspect: () => state } as unknown as Sandbox;
    const crashed = footprint(inspected, slug);
    const clean = footprint(inspected, "calm");
    expect(crashed, context).toEqual(JSON.parse(JSON.stringify(clean).replaceAll("calm", slug)));
    expect((crashed.resources as string[]).length).toBeGreaterThan(15);

    const { objects, vault } = entraAndVault(state, slug);
    const calm = entraAndVault(state, "calm");
    // One application, service principal and group per name; none created and deleted on the way.
    const names = (list: GraphObject[]) => list.map((object) => `${object.kind}:${object.displayName}`).sort();
    expect(names(objects), context).toEqual(names(calm.objects).map((name) => name.replaceAll("calm", slug)));
    expect(new Set(names(objects)).size).toBe(objects.length);
    expect(objects.filter((object) => object.deleted)).toEqual([]);
    // Each application holds exactly one password, and the vault's copy is that one.
    const applications = objects.filter((object) => object.kind === "application");
    expect(applications.length).toBeGreaterThan(0);
    for (const application of applications) expect(application.passwordKeyIds, application.displayName).toHaveLength(1);
    const passwordSecrets = Object.entries(vault).filter(([, secret]) =>
      secret.versions.some((version) => version.tags.keyId),
    );
    expect(passwordSecrets.length).toBe(applications.length);
    const liveKeyIds = applications.map((application) => application.passwordKeyIds![0].toLowerCase()).sort();
    expect(passwordSecrets.map(([, secret]) => secret.versions.at(-1)!.tags.keyId.toLowerCase()).sort()).toEqual(
      liveKeyIds,
    );
    // Every secret once, live, in as many versions as the uninterrupted install wrote.
    const versions = (secrets: VaultSecrets[string]) =>
      Object.fromEntries(
        Object.entries(secrets).map(([name, secret]) => [
          name,
          `${secret.deleted ? "deleted" : "live"}:${secret.versions.length}`,
        ]),
      );
    expect(versions(vault), context).toEqual(versions(calm.vault));
  }, 300_000);
});
