/**
 * Every kind's `remove`, for real against the sandbox through the SDK clients, on a whole slug's
 * footprint converged node by node: walking the plan dependents first, each node is removed and
 * removed again (the second finds nothing and writes nothing), then re-created and removed with
 * the answer to each of its writes lost (the delete happened, the caller never heard), then
 * removed normally: it ends gone, as a clean removal does. Purge clears the soft-deleted copies.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox } from "../../src/sandbox";
import { createActivityDeps, type ActivityDeps } from "../../activities/deps";
import { runActivity } from "../../activities/define";
import { kindActivities, RESOURCE_KIND_NAMES } from "../../activities/registry";
import type { ActivityFailure, ActivityResult } from "../../src/contract/activity";
import { resolveReferences, type Outputs } from "../../src/contract/reference";
import type { PlanNode } from "../../src/contract/resources";
import { SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { planSlug, topologicalOrder } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";

let sandbox: Sandbox;
let deps: ActivityDeps;
let nodes: PlanNode[];
const outputs: Record<string, Outputs> = {};

beforeAll(async () => {
  sandbox = await startSandbox();
  deps = createActivityDeps(sandbox.context(), {
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20))),
  });
  const user = sandbox.graph.addUser({ displayName: "Allowed user" }) as { id: string };
  const validation = validateInstallRequest("gone", {
    channels: { teams: { enabled: true }, telegram: { enabled: true, mode: "webhook" } },
    allowedIdentities: [user.id],
  });
  if (!validation.ok) throw new Error(JSON.stringify(validation.problems));
  nodes = planSlug(validation.spec, {
    subscriptionId: sandbox.env.subscriptionId,
    tenantId: sandbox.env.tenantId,
    brokerPrincipalId: SANDBOX_BROKER_OBJECT_ID,
    vaultUri: (name) => keyVaultUrl(sandbox.endpoints, name),
  }).nodes;
  for (const node of topologicalOrder(nodes)) {
    if (node.id === "secret:telegramBotToken") {
      // Supplied by the operator: written straight to the vault, as an operator would.
      const vault = nodes.find((candidate) => candidate.kind === "keyVault")!.desired.name as string;
      await deps.clients
        .secrets(keyVaultUrl(sandbox.endpoints, vault))
        .setSecret("telegram-bot-token", "123:operator-token");
    }
    outputs[node.id] = (await must("ensure", node)).outputs;
  }
}, 120_000);
afterAll(async () => sandbox?.stop());

function desiredOf(node: PlanNode): never {
  return resolveReferences(node.desired as never, outputs) as never;
}

function run(verb: "ensure" | "remove", node: PlanNode, purge = false): Promise<ActivityResult | ActivityFailure> {
  const handler = kindActivities(node.kind, deps)[verb] as (...args: never[]) => Promise<ActivityResult>;
  return runActivity(handler as never, {
    operationId: "rm",
    slug: "gone",
    nodeId: node.id,
    desired: desiredOf(node),
    ...(purge ? { purge } : {}),
  });
}

/** Run as the walker would: retry what is retryable (a lost answer leaves a transient failure). */
async function must(verb: "ensure" | "remove", node: PlanNode, purge = false): Promise<ActivityResult> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await run(verb, node, purge);
    if (!("failed" in outcome)) return outcome;
    if (!outcome.retryable || attempt >= 15)
      throw new Error(`${verb} ${node.id} failed: ${outcome.code}: ${outcome.message}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Writes the services carried out (lost answers included) since `from`. */
function writesSince(from: number): number {
  return sandbox
    .requests()
    .slice(from)
    .filter(
      (request) =>
        !["GET", "HEAD"].includes(request.method) &&
        !request.url.startsWith("/_sandbox") &&
        (request.status === 0 || request.status < 400),
    ).length;
}

/** Gone: its removal finds nothing left to do and writes nothing. */
async function expectGone(node: PlanNode, what: string): Promise<void> {
  const mark = sandbox.requests().length;
  const again = await must("remove", node);
  expect(again.action, `${node.id}: ${what}`).toBe("absent");
  expect(writesSince(mark), `${node.id}: ${what}: writes`).toBe(0);
}

describe("remove, for every kind in the plan", () => {
  it("removes each node dependents first: twice in a row, and with the answer to each of its writes lost", async () => {
    const kinds = new Set<string>();
    for (const node of topologicalOrder(nodes).reverse()) {
      kinds.add(node.kind);
      if (node.kind === "entraGroup" && (node.desired as { shared?: boolean }).shared) {
        // shire-admins is every slug's: its removal is refused, whoever asks.
        const refused = await run("remove", node);
        expect(refused).toMatchObject({ failed: true, code: "SharedGroup" });
        continue;
      }
      const mark = sandbox.requests().length;
      const first = await must("remove", node);
      const writes = writesSince(mark);
      if (node.kind === "appRunState") {
        // A state of the app, not a resource: nothing to remove.
        expect(first.action).toBe("absent");
        expect(writes).toBe(0);
        continue;
      }
      expect(first.action, node.id).toBe("deleted");
      expect(writes, node.id).toBeGreaterThan(0);
      await expectGone(node, "second removal");

      for (let lost = 1; lost <= writes; lost++) {
        await must("ensure", node);
        const armed = sandbox.requests().length;
        sandbox.setFaults({ loseResponseOfWrite: lost });
        const lostYet = () =>
          sandbox
            .requests()
            .slice(armed)
            .some((request) => request.status === 0);
        for (let attempt = 0; attempt < 10 && !lostYet(); attempt++) {
          await run("remove", node);
          if (!lostYet()) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        sandbox.setFaults({ loseResponseOfWrite: 0 });
        expect(lostYet(), `${node.id}: write ${lost} of ${writes} had its answer lost`).toBe(true);
        await must("remove", node);
        await expectGone(node, `answer to write ${lost} of ${writes} lost`);
      }
    }
    // This plan (Teams, Telegram webhook, an allowed user) has every kind of the registry.
    expect([...kinds].sort()).toEqual([...RESOURCE_KIND_NAMES].sort());
  }, 600_000);

  it("purges the soft-deleted copies on request: the vault, the Entra objects, a secret", async () => {
    const state = () =>
      sandbox.inspect() as {
        graph: { kind: string; uniqueName?: string; deleted: boolean }[];
        keyvault: Record<string, Record<string, { deleted: boolean }>>;
      };
    const vault = nodes.find((node) => node.kind === "keyVault")!;
    const app = nodes.find((node) => node.id === "entraApp")!;
    const group = nodes.find((node) => node.id === "group:slug")!;
    const uniqueNames = [app, group].map((node) => (node.desired as { uniqueName: string }).uniqueName);
    expect(
      state().graph.filter((object) => object.deleted && uniqueNames.includes(object.uniqueName ?? "")),
    ).toHaveLength(2);
    for (const node of [app, group, vault]) {
      expect((await must("remove", node, true)).action, node.id).toBe("deleted");
      expect((await must("remove", node, true)).action, `${node.id} again`).toBe("absent");
    }
    expect(state().graph.filter((object) => uniqueNames.includes(object.uniqueName ?? ""))).toEqual([]);
    const deletedVault = await deps.clients.keyVault.vaults
      .getDeleted(vault.desired.name as string, vault.desired.location as string)
      .then(
        () => "still there",
        (error: { statusCode?: number }) => error.statusCode,
      );
    expect(deletedVault).toBe(404);
  });
});
