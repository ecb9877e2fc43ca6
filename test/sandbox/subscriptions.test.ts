/**
 * The sandbox's tenant has several subscriptions (SANDBOX_SUBSCRIPTION_IDS), each with Azure's
 * per-subscription quotas: Container Apps environments per region, role assignments. Checked
 * with the SDK clients the broker uses, one per subscription.
 */
import { describe, expect, it } from "vitest";
import { AzureClients } from "../../src/azure/clients";
import { SANDBOX_BROKER_OBJECT_ID, SANDBOX_SUBSCRIPTION_IDS } from "../../src/azure/credential";
import { useSandbox } from "../fixtures/sandbox";
import { raw } from "./helpers";

const [FIRST, SECOND] = SANDBOX_SUBSCRIPTION_IDS;
const UNKNOWN = "00000000-0000-4000-8000-0000000000ff";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

const env = useSandbox();
const clientsIn = (subscriptionId: string) => new AzureClients({ ...env.sandbox.context(), subscriptionId });

async function environment(clients: AzureClients, group: string, name: string, location: string) {
  await clients.resources.resourceGroups.createOrUpdate(group, { location });
  const workspace = await clients.operationalInsights.workspaces.beginCreateOrUpdateAndWait(group, `log-${name}`, {
    location,
  });
  const keys = await clients.operationalInsights.sharedKeys.getSharedKeys(group, `log-${name}`);
  return clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait(group, name, {
    location,
    appLogsConfiguration: {
      destination: "log-analytics",
      logAnalyticsConfiguration: { customerId: workspace.customerId, sharedKey: keys.primarySharedKey },
    },
  });
}

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; statusCode?: number; message: string };
  }
  throw new Error("expected the request to fail");
};

describe("the sandbox's subscriptions", () => {
  it("serves each of its subscriptions, long-running operations included, and no other", async () => {
    const second = clientsIn(SECOND);
    const created = await environment(second, "rg-second", "cae-second", "westeurope");
    expect(created.id?.toLowerCase()).toBe(
      `/subscriptions/${SECOND}/resourcegroups/rg-second/providers/microsoft.app/managedenvironments/cae-second`,
    );
    // The same group name in the first subscription is another group.
    expect(await failure(clientsIn(FIRST).resources.resourceGroups.get("rg-second"))).toMatchObject({
      code: "ResourceGroupNotFound",
    });
    expect(
      await failure(clientsIn(UNKNOWN).resources.resourceGroups.createOrUpdate("x", { location: "westeurope" })),
    ).toMatchObject({ statusCode: 404, code: "SubscriptionNotFound" });
    // The broker holds its roles in every subscription.
    const roles: string[] = [];
    for await (const assignment of second.authorization.roleAssignments.listForSubscription())
      if (assignment.principalId === SANDBOX_BROKER_OBJECT_ID) roles.push(assignment.roleDefinitionId!.toLowerCase());
    expect(roles).toHaveLength(2);
    expect(roles.every((id) => id.startsWith(`/subscriptions/${SECOND}/`))).toBe(true);
  });

  it("refuses an environment past the regional quota of its subscription only", async () => {
    env.sandbox.setFaults({ environmentsPerRegion: 2 });
    const first = clientsIn(FIRST);
    await environment(first, "rg-q1", "cae-q1", "northeurope");
    await environment(first, "rg-q2", "cae-q2", "northeurope");
    const refused = await failure(environment(first, "rg-q3", "cae-q3", "northeurope"));
    expect(refused).toMatchObject({ statusCode: 400, code: "MaxNumberOfRegionalEnvironmentsInSubExceeded" });
    expect(refused.message).toContain(
      `The subscription '${FIRST}' cannot have more than 2 environments in northeurope`,
    );
    // An existing environment is still updated; another region and another subscription have room.
    await environment(first, "rg-q2", "cae-q2", "northeurope");
    await environment(first, "rg-q4", "cae-q4", "swedencentral");
    await environment(clientsIn(SECOND), "rg-q3", "cae-q3", "northeurope");
    env.sandbox.setFaults({ environmentsPerRegion: undefined });
  });

  it("refuses a role assignment past the subscription's limit, and a role definition of another subscription", async () => {
    const second = clientsIn(SECOND);
    await second.resources.resourceGroups.createOrUpdate("rg-roles", { location: "westeurope" });
    const scope = `/subscriptions/${SECOND}/resourceGroups/rg-roles`;
    let used = 0;
    for await (const _ of second.authorization.roleAssignments.listForSubscription()) used++;
    env.sandbox.setFaults({ roleAssignmentsPerSubscription: used + 1 });
    const assign = (name: string, principalId: string, subscriptionOfRole: string = SECOND) =>
      second.authorization.roleAssignments.create(scope, name, {
        roleDefinitionId: `/subscriptions/${subscriptionOfRole}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
        principalId,
        principalType: "ServicePrincipal",
      });
    expect(
      await failure(assign("8a1f0000-0000-4000-8000-000000000009", "00000000-0000-4000-8000-0000000000d9", FIRST)),
    ).toMatchObject({ code: "InvalidRoleDefinitionId" });
    await assign("8a1f0000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-0000000000d1");
    expect(
      await failure(assign("8a1f0000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-0000000000d2")),
    ).toMatchObject({ statusCode: 400, code: "RoleAssignmentLimitExceeded" });
    // The first subscription counts its own.
    await clientsIn(FIRST).resources.resourceGroups.createOrUpdate("rg-roles", { location: "westeurope" });
    await clientsIn(FIRST).authorization.roleAssignments.create(
      `/subscriptions/${FIRST}/resourceGroups/rg-roles`,
      "8a1f0000-0000-4000-8000-000000000003",
      {
        roleDefinitionId: `/subscriptions/${FIRST}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
        principalId: "00000000-0000-4000-8000-0000000000d3",
        principalType: "ServicePrincipal",
      },
    );
    env.sandbox.setFaults({ roleAssignmentsPerSubscription: undefined });
  });

  it("throttles each subscription from its own ARM buckets", async () => {
    const first = clientsIn(FIRST);
    const second = clientsIn(SECOND);
    await first.resources.resourceGroups.createOrUpdate("rg-bucket", { location: "westeurope" });
    await second.resources.resourceGroups.createOrUpdate("rg-bucket", { location: "westeurope" });
    // A read bucket of two tokens refilling one every four seconds.
    env.sandbox.setFaults({ throttleScale: 0.01 });
    try {
      const mark = env.sandbox.requests().length;
      await first.resources.resourceGroups.get("rg-bucket");
      await first.resources.resourceGroups.get("rg-bucket");
      // The first subscription's bucket is empty; the second's is full.
      await second.resources.resourceGroups.get("rg-bucket");
      await second.resources.resourceGroups.get("rg-bucket");
      expect(
        env.sandbox
          .requests()
          .slice(mark)
          .map((request) => request.status),
      ).toEqual([200, 200, 200, 200]);
      const throttled = await raw(
        env.sandbox,
        "management",
        "GET",
        `/subscriptions/${FIRST}/resourcegroups/rg-bucket?api-version=2024-03-01`,
        {
          headers: {
            authorization: `Bearer ${(await env.sandbox.context().credential.getToken(env.sandbox.endpoints.armScope))!.token}`,
          },
        },
      );
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    } finally {
      env.sandbox.setFaults({ throttleScale: 1 });
    }
  });
});
