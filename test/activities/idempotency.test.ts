/**
 * Every activity, run for real against the sandbox through the SDK clients: a second run writes
 * nothing, and a run whose k-th write was done by Azure but whose answer was lost (the process
 * died, the connection dropped: the create happened, the caller never heard) followed by a
 * normal run ends in exactly the state a clean run leaves. For each k up to the number of writes
 * a clean run makes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox } from "../../src/sandbox";
import { createActivityDeps, type ActivityDeps } from "../../activities/deps";
import { runActivity } from "../../activities/define";
import type { ActivityFailure, ActivityResult } from "../../src/contract/activity";
import { kindActivities } from "../../activities/registry";
import type { ResourceKind } from "../../src/contract/resources";
import { SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ROLE_IDS } from "../../src/model/names";

let sandbox: Sandbox;
let deps: ActivityDeps;
const RG = "claw-idem";
const VAULT = "kv-idem-00001";

beforeAll(async () => {
  sandbox = await startSandbox();
  // In-activity replication waits are real sleeps: shorten them (the sandbox has no delay here).
  deps = createActivityDeps(sandbox.context(), {
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20))),
  });
  await mustConverge("resourceGroup", { name: RG, location: "westeurope", tags: { "managed-by": "shire" } });
  await mustConverge("keyVault", {
    resourceGroup: RG,
    name: VAULT,
    location: "westeurope",
    tags: {},
    tenantId: sandbox.env.tenantId,
    softDeleteRetentionInDays: 7,
  });
  const vaultId = `/subscriptions/${sandbox.env.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/${VAULT}`;
  await mustConverge("roleAssignment", {
    scope: vaultId,
    roleDefinitionGuid: ROLE_IDS.keyVaultSecretsOfficer,
    principalId: SANDBOX_BROKER_OBJECT_ID,
    principalType: "ServicePrincipal",
  });
});
afterAll(async () => sandbox?.stop());

async function converge(kind: string, desired: Record<string, unknown>): Promise<ActivityResult | ActivityFailure> {
  return runActivity(kindActivities(kind as ResourceKind, deps).ensure, {
    operationId: "idem",
    slug: "idem",
    nodeId: kind,
    desired: desired as never,
  });
}

/** Converge, retrying what the walker would retry (a lost answer leaves a transient failure). */
async function mustConverge(kind: string, desired: Record<string, unknown>): Promise<ActivityResult> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await converge(kind, desired);
    if (!("failed" in outcome)) return outcome;
    if (!outcome.retryable || attempt >= 10) throw new Error(`${kind} failed: ${outcome.code}: ${outcome.message}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Writes the service carried out (lost answers included), since `from`. */
function successfulWrites(from: number): number {
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Anything = any;
const armNamed = (name: string) =>
  (sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources
    .filter((resource) => resource.name === name)
    .map((resource) => ({ type: resource.type, state: resource.properties?.provisioningState ?? null }));
const graph = (): Anything[] => (sandbox.inspect() as { graph: Anything[] }).graph.filter((object) => !object.deleted);

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
      const secret = await deps.clients.secrets(keyVaultUrl(sandbox.endpoints, VAULT)).getSecret(`client-${id}`);
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
      Boolean((await deps.clients.secrets(keyVaultUrl(sandbox.endpoints, VAULT)).getSecret(`token-${id}`)).value),
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
      scope: `/subscriptions/${sandbox.env.subscriptionId}/resourceGroups/${RG}`,
      roleDefinitionGuid: ROLE_IDS.keyVaultSecretsUser,
      principalId: prepared.principalId,
      principalType: "ServicePrincipal",
    }),
    state: (_id, prepared) =>
      (sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources.filter(
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
      (sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources
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
      tenantId: sandbox.env.tenantId,
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
      (sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources
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
      sandbox.setFaults({ graphReplicationDelayMs: testCase.replicationDelayMs ?? 0 });
      const reference = `r${index}`;
      const referencePrepared = (await testCase.prepare?.(reference)) ?? {};
      const before = sandbox.requests().length;
      const first = await mustConverge(testCase.kind, testCase.desired(reference, referencePrepared));
      expect(first.action).not.toBe("unchanged");
      const writes = successfulWrites(before);
      expect(writes).toBeGreaterThan(0);
      // Once the first run's objects have replicated (before that, a re-run's upsert rewrites
      // the same values: harmless, and what Entra would see too).
      if (testCase.replicationDelayMs)
        await new Promise((resolve) => setTimeout(resolve, testCase.replicationDelayMs! + 50));
      const afterFirst = sandbox.requests().length;
      const second = await mustConverge(testCase.kind, testCase.desired(reference, referencePrepared));
      expect(second.action).toBe("unchanged");
      expect(successfulWrites(afterFirst)).toBe(0);
      const expected = await testCase.state(reference, referencePrepared);

      for (let lost = 1; lost <= writes; lost++) {
        const id = `l${index}x${lost}`;
        const prepared = (await testCase.prepare?.(id)) ?? {};
        const mark = sandbox.requests().length;
        sandbox.setFaults({ loseResponseOfWrite: lost });
        // Runs (as the walker would retry them) until the armed write has happened and lost its answer.
        const lostYet = () =>
          sandbox
            .requests()
            .slice(mark)
            .some((request) => request.status === 0);
        for (let attempt = 0; attempt < 10 && !lostYet(); attempt++) {
          await converge(testCase.kind, testCase.desired(id, prepared));
          if (!lostYet()) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        sandbox.setFaults({ loseResponseOfWrite: 0 });
        expect(
          sandbox
            .requests()
            .slice(mark)
            .filter((request) => request.status === 0),
          `write ${lost} of ${writes} had its answer lost`,
        ).toHaveLength(1);
        await mustConverge(testCase.kind, testCase.desired(id, prepared));
        expect(
          await testCase.state(id, prepared),
          `${testCase.kind}: answer to write ${lost} of ${writes} lost`,
        ).toEqual(expected);
      }
      sandbox.setFaults({ graphReplicationDelayMs: 0 });
    }, 120_000);
  }
});
