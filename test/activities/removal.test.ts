/**
 * Every kind's `remove`, for real against the sandbox through the SDK clients, on a whole slug's
 * footprint converged node by node: walking the plan dependents first, each node is removed and
 * removed again (the second finds nothing and writes nothing), then re-created and removed with
 * the answer to each of its writes lost (the delete happened, the caller never heard), then
 * removed normally: it ends gone, as a clean removal does. Purge clears the soft-deleted copies.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { resolveReferences, type Outputs } from "../../src/contract/reference";
import type { PlanNode } from "../../src/contract/resources";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { topologicalOrder } from "../../src/model/plan";
import { RESOURCE_KIND_NAMES } from "../../activities/registry";
import { activityRunner } from "../fixtures/activities";
import { useSandbox } from "../fixtures/sandbox";
import { planOnSandbox } from "../fixtures/slug-footprint";

let nodes: PlanNode[];
const outputs: Record<string, Outputs> = {};

const azure = useSandbox();
beforeAll(async () => {
  const user = azure.sandbox.graph.addUser({ displayName: "Allowed user" }) as { id: string };
  nodes = planOnSandbox(azure, "gone", {
    channels: { teams: { enabled: true }, telegram: { enabled: true, mode: "webhook" } },
    allowedIdentities: [user.id],
  }).plan.nodes;
  for (const node of topologicalOrder(nodes)) {
    if (node.id === "secret:telegramBotToken") {
      // Supplied by the operator: written straight to the vault, as an operator would.
      const vault = nodes.find((candidate) => candidate.kind === "keyVault")!.desired.name as string;
      await azure.deps.clients
        .secrets(keyVaultUrl(azure.sandbox.endpoints, vault))
        .setSecret("telegram-bot-token", "123:operator-token");
    }
    outputs[node.id] = (await must("ensure", node)).outputs;
  }
}, 120_000);

function desiredOf(node: PlanNode): never {
  return resolveReferences(node.desired as never, outputs) as never;
}

const activities = activityRunner(azure, { operationId: "rm", slug: "gone", maxAttempts: 15 });
const call = (verb: "ensure" | "remove", node: PlanNode, purge = false) => ({
  verb,
  kind: node.kind,
  nodeId: node.id,
  desired: desiredOf(node),
  purge,
});
const run = (verb: "ensure" | "remove", node: PlanNode, purge = false) => activities.run(call(verb, node, purge));
/** Run as the walker would: retry what is retryable (a lost answer leaves a transient failure). */
const must = (verb: "ensure" | "remove", node: PlanNode, purge = false) => activities.must(call(verb, node, purge));

/** Gone: its removal finds nothing left to do and writes nothing. */
async function expectGone(node: PlanNode, what: string): Promise<void> {
  const mark = azure.mark();
  const again = await must("remove", node);
  expect(again.action, `${node.id}: ${what}`).toBe("absent");
  expect(azure.successfulWritesSince(mark), `${node.id}: ${what}: writes`).toBe(0);
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
      const mark = azure.mark();
      const first = await must("remove", node);
      const writes = azure.successfulWritesSince(mark);
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
        const lostAnswers = await activities.loseAnswerOfWrite(lost, () => run("remove", node));
        expect(lostAnswers.length > 0, `${node.id}: write ${lost} of ${writes} had its answer lost`).toBe(true);
        await must("remove", node);
        await expectGone(node, `answer to write ${lost} of ${writes} lost`);
      }
    }
    // This plan (Teams, Telegram webhook, an allowed user) has every kind of the registry.
    expect([...kinds].sort()).toEqual([...RESOURCE_KIND_NAMES].sort());
  }, 600_000);

  it("purges the soft-deleted copies on request: the vault, the Entra objects, a secret", async () => {
    const state = () =>
      azure.sandbox.inspect() as {
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
    const deletedVault = await azure.deps.clients.keyVault.vaults
      .getDeleted(vault.desired.name as string, vault.desired.location as string)
      .then(
        () => "still there",
        (error: { statusCode?: number }) => error.statusCode,
      );
    expect(deletedVault).toBe(404);
  });
});
