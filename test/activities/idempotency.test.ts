/**
 * Every activity, run for real against the sandbox through the SDK clients: a second run writes
 * nothing, and a run whose k-th write was done by Azure but whose answer was lost (the process
 * died, the connection dropped: the create happened, the caller never heard) followed by a
 * normal run ends in exactly the state a clean run leaves. For each k up to the number of writes
 * a clean run makes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ResourceKind } from "../../src/contract/resources";
import { SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ROLE_IDS } from "../../src/model/names";
import { activityRunner } from "../fixtures/activities";
import { useSandbox } from "../fixtures/sandbox";

const RG = "claw-idem";
const VAULT = "kv-idem-00001";

const azure = useSandbox();
beforeAll(async () => {
  await mustConverge("resourceGroup", { name: RG, location: "westeurope", tags: { "managed-by": "shire" } });
  await mustConverge("keyVault", {
    resourceGroup: RG,
    name: VAULT,
    location: "westeurope",
    tags: {},
    tenantId: azure.sandbox.env.tenantId,
    softDeleteRetentionInDays: 7,
  });
  const vaultId = `/subscriptions/${azure.sandbox.env.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/${VAULT}`;
  await mustConverge("roleAssignment", {
    scope: vaultId,
    roleDefinitionGuid: ROLE_IDS.keyVaultSecretsOfficer,
    principalId: SANDBOX_BROKER_OBJECT_ID,
    principalType: "ServicePrincipal",
  });
});

const activities = activityRunner(azure, { operationId: "idem", slug: "idem", maxAttempts: 10 });
/** The kind's ensure, in a node named after the kind. */
const converge = (kind: string, desired: Record<string, unknown>) =>
  activities.run({ kind: kind as ResourceKind, nodeId: kind, desired });
/** Converge, retrying what the walker would retry (a lost answer leaves a transient failure). */
const mustConverge = (kind: string, desired: Record<string, unknown>) =>
  activities.must({ kind: kind as ResourceKind, nodeId: kind, desired });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Anything = any;
const armNamed = (name: string) =>
  (azure.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources
    .filter((resource) => resource.name === name)
    .map((resource) => ({ type: resource.type, state: resource.properties?.provisioningState ?? null }));
const graph = (): Anything[] =>
  (azure.sandbox.inspect() as { graph: Anything[] }).graph.filter((object) => !object.deleted);

interface Case {
  kind: string;
  /** Entra replication delay during the case: the re-run's lookups miss what the lost write made. */
  replicationDelayMs?: number;
  /** Run once, unfaulted, before each variant (what the step depends on). */
  prepare?: (id: string) => Promise<Record<string, unknown>>;
  desired: (id: string, prepared: Record<string, unknown>) => Record<string, unknown>;
  /** The end state, normalized so that variants compare equal to the clean run. */
  state: (id: string, prepared: Record<string, unknown>) => Promise<unknown> | unknown;
}

const appDesired = (id: string) => ({
  displayName: `shire-${id}`,
  uniqueName: `shire-${id}-u`,
  ownershipTag: `shire-slug:${id}`,
  redirectUris: [`https://${id}.example/.auth/login/aad/callback`],
  assignmentRequired: true,
  idTokenIssuance: true,
});

const CASES: Case[] = [
  {
    replicationDelayMs: 300,
    kind: "entraApp",
    desired: appDesired,
    state: (id) => {
      const apps = graph().filter((object) => object.kind === "application" && object.uniqueName === `shire-${id}-u`);
      const principals = graph().filter(
        (object) => object.kind === "servicePrincipal" && apps.some((app) => app.appId === object.appId),
      );
      return {
        apps: apps.length,
        principals: principals.length,
        required: principals.map((principal) => principal.appRoleAssignmentRequired),
        idTokens: apps.map((app) => app.web?.implicitGrantSettings?.enableIdTokenIssuance),
      };
    },
  },
  {
    replicationDelayMs: 300,
    kind: "entraGroup",
    desired: (id) => ({
      displayName: `shire-${id}`,
      uniqueName: `shire-${id}-g`,
      mailNickname: `shire-${id}-g`,
      description: "idempotency",
    }),
    state: (id) =>
      graph()
        .filter((object) => object.kind === "group" && object.uniqueName === `shire-${id}-g`)
        .map((group) => ({ owners: group.owners })),
  },
  {
    replicationDelayMs: 300,
    kind: "groupAssignment",
    prepare: async (id) => {
      const app = await mustConverge("entraApp", appDesired(id));
      const group = await mustConverge("entraGroup", {
        displayName: `g-${id}`,
        uniqueName: `g-${id}`,
        mailNickname: `g-${id}`,
        description: "x",
      });
      // Wait until both are visible: the case is about the assignment's own writes.
      await new Promise((resolve) => setTimeout(resolve, 350));
      return { servicePrincipalId: app.outputs.servicePrincipalId, principalId: group.outputs.groupId };
    },
    desired: (_id, prepared) => ({
      servicePrincipalId: prepared.servicePrincipalId,
      principalId: prepared.principalId,
    }),
    state: (_id, prepared) =>
      graph()
        .find((object) => object.id === prepared.servicePrincipalId)
        .assignments.filter((assignment: Anything) => assignment.principalId === prepared.principalId).length,
  },
  {
    kind: "secret",
    prepare: async (id) => {
      const app = await mustConverge("entraApp", appDesired(id));
      return { applicationObjectId: app.outputs.applicationObjectId };
    },
    desired: (id, prepared) => ({
      vaultName: VAULT,
      secretName: `client-${id}`,
      source: {
        type: "entraClientSecret",
        applicationObjectId: prepared.applicationObjectId,
        displayName: "shire",
        validityDays: 180,
      },
    }),
    state: async (id, prepared) => {
      // One live password on the app, and it is the one the vault holds.
      const passwords: string[] = graph().find((object) => object.id === prepared.applicationObjectId).passwordKeyIds;
      const secret = await azure.deps.clients
        .secrets(keyVaultUrl(azure.sandbox.endpoints, VAULT))
        .getSecret(`client-${id}`);
      return {
        passwords: passwords.length,
        vaultHoldsTheLiveOne: passwords.includes(String(secret.properties.tags?.keyId)),
        hasValue: Boolean(secret.value),
      };
    },
  },
  {
    kind: "secret",
    desired: (id) => ({ vaultName: VAULT, secretName: `token-${id}`, source: { type: "random", bytes: 32 } }),
    state: async (id) =>
      Boolean(
        (await azure.deps.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, VAULT)).getSecret(`token-${id}`)).value,
      ),
  },
  {
    kind: "roleAssignment",
    prepare: async (id) => {
      const identity = await mustConverge("identity", {
        resourceGroup: RG,
        name: `id-${id}`,
        location: "westeurope",
        tags: {},
      });
      return { principalId: identity.outputs.principalId };
    },
    desired: (_id, prepared) => ({
      scope: `/subscriptions/${azure.sandbox.env.subscriptionId}/resourceGroups/${RG}`,
      roleDefinitionGuid: ROLE_IDS.keyVaultSecretsUser,
      principalId: prepared.principalId,
      principalType: "ServicePrincipal",
    }),
    state: (_id, prepared) =>
      (azure.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources.filter(
        (resource) =>
          resource.type === "Microsoft.Authorization/roleAssignments" &&
          resource.properties.principalId === prepared.principalId,
      ).length,
  },
  {
    kind: "storageAccount",
    desired: (id) => ({
      resourceGroup: RG,
      name: `st${id.replace(/-/g, "")}idem`,
      location: "westeurope",
      tags: { a: "b" },
      sku: "Standard_LRS",
    }),
    state: (id) =>
      (azure.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources
        .filter((resource) => resource.name === `st${id.replace(/-/g, "")}idem`)
        .map((resource) => resource.properties.provisioningState),
  },
  {
    kind: "resourceGroup",
    desired: (id) => ({
      name: `claw-${id}`,
      location: "westeurope",
      tags: { "managed-by": "shire", "shire-slug": id },
    }),
    state: (id) => armNamed(`claw-${id}`),
  },
  {
    kind: "identity",
    desired: (id) => ({ resourceGroup: RG, name: `id-x-${id}`, location: "westeurope", tags: {} }),
    state: (id) => armNamed(`id-x-${id}`),
  },
  {
    kind: "logAnalytics",
    desired: (id) => ({
      resourceGroup: RG,
      name: `log-${id}`,
      location: "westeurope",
      tags: {},
      sku: "PerGB2018",
      retentionInDays: 30,
    }),
    state: (id) => armNamed(`log-${id}`),
  },
  {
    kind: "keyVault",
    desired: (id) => ({
      resourceGroup: RG,
      name: `kv-${id}-idem`,
      location: "westeurope",
      tags: { a: "b" },
      tenantId: azure.sandbox.env.tenantId,
      softDeleteRetentionInDays: 7,
    }),
    state: (id) => armNamed(`kv-${id}-idem`),
  },
  {
    kind: "fileShare",
    prepare: async (id) => {
      await mustConverge("storageAccount", {
        resourceGroup: RG,
        name: `sh${id.replace(/-/g, "")}idem`,
        location: "westeurope",
        tags: {},
        sku: "Standard_LRS",
      });
      return {};
    },
    desired: (id) => ({
      resourceGroup: RG,
      accountName: `sh${id.replace(/-/g, "")}idem`,
      shareName: "openclaw-state",
      quotaGiB: 100,
    }),
    state: (id) =>
      (azure.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources
        .filter(
          (resource) => resource.type.endsWith("/shares") && resource.id.includes(`sh${id.replace(/-/g, "")}idem`),
        )
        .map((resource) => resource.properties.shareQuota),
  },
  {
    kind: "managedEnvironment",
    prepare: async (id) => {
      const workspace = await mustConverge("logAnalytics", {
        resourceGroup: RG,
        name: `log-env-${id}`,
        location: "westeurope",
        tags: {},
        sku: "PerGB2018",
        retentionInDays: 30,
      });
      return { customerId: workspace.outputs.customerId };
    },
    desired: (id, prepared) => ({
      resourceGroup: RG,
      name: `cae-${id}`,
      location: "westeurope",
      tags: {},
      workspaceResourceGroup: RG,
      workspaceName: `log-env-${id}`,
      workspaceCustomerId: prepared.customerId,
    }),
    state: (id) => armNamed(`cae-${id}`),
  },
];

describe("activities are idempotent against the sandbox", () => {
  for (const [index, testCase] of CASES.entries()) {
    it(`${testCase.kind} #${index}: a second run writes nothing; a lost answer to any of its writes, then a normal run, ends where a clean run does`, async () => {
      azure.sandbox.setFaults({ graphReplicationDelayMs: testCase.replicationDelayMs ?? 0 });
      const reference = `r${index}`;
      const referencePrepared = (await testCase.prepare?.(reference)) ?? {};
      const before = azure.mark();
      const first = await mustConverge(testCase.kind, testCase.desired(reference, referencePrepared));
      expect(first.action).not.toBe("unchanged");
      const writes = azure.successfulWritesSince(before);
      expect(writes).toBeGreaterThan(0);
      // Once the first run's objects have replicated (before that, a re-run's upsert rewrites
      // the same values: harmless, and what Entra would see too).
      if (testCase.replicationDelayMs)
        await new Promise((resolve) => setTimeout(resolve, testCase.replicationDelayMs! + 50));
      const afterFirst = azure.mark();
      const second = await mustConverge(testCase.kind, testCase.desired(reference, referencePrepared));
      expect(second.action).toBe("unchanged");
      expect(azure.successfulWritesSince(afterFirst)).toBe(0);
      const expected = await testCase.state(reference, referencePrepared);

      for (let lost = 1; lost <= writes; lost++) {
        const id = `l${index}x${lost}`;
        const prepared = (await testCase.prepare?.(id)) ?? {};
        // Runs (as the walker would retry them) until the armed write has happened and lost its answer.
        const lostAnswers = await activities.loseAnswerOfWrite(lost, () =>
          converge(testCase.kind, testCase.desired(id, prepared)),
        );
        expect(lostAnswers, `write ${lost} of ${writes} had its answer lost`).toHaveLength(1);
        await mustConverge(testCase.kind, testCase.desired(id, prepared));
        expect(
          await testCase.state(id, prepared),
          `${testCase.kind}: answer to write ${lost} of ${writes} lost`,
        ).toEqual(expected);
      }
      azure.sandbox.setFaults({ graphReplicationDelayMs: 0 });
    }, 120_000);
  }
});
