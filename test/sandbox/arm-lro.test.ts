/**
 * ARM's long-running operations as Azure answers them: each type's first answer (status, headers,
 * body), Azure-AsyncOperation vs Location polling, provisioning states from each type's enum, the
 * resource group's Deleting state, writes refused while an operation runs, seeded LRO failures,
 * latency reaching actions and polls.
 */
import { describe, expect, it } from "vitest";
import { startSandbox } from "../../src/sandbox";
import { AzureClients } from "../../src/azure/clients";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { API, armRaw, ids } from "./arm-helpers";
import { environment, failure, group } from "./helpers";

const clock = new ManualClock();

const azure = useSandbox({ clock });

const state = (resource: { properties?: { provisioningState?: string } }) => resource.properties?.provisioningState;

describe("resource groups", () => {
  it("keeps a deleting group Deleting, refuses writes into it and of it, and polls through Location only", async () => {
    const { group: rg, resource } = ids(azure.sandbox);
    await group(azure.clients, "rg-deleting");
    await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-deleting", "id-inside", {
      location: "westeurope",
    });
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.Resources/resourceGroups": 60_000 } });
    try {
      const accepted = await armRaw(azure.sandbox, "DELETE", `${rg("rg-deleting")}?api-version=${API.resources}`);
      expect(accepted.status).toBe(202);
      expect(accepted.headers.location).toMatch(/\/subscriptions\/[^/]+\/operationresults\//);
      expect(accepted.headers["azure-asyncoperation"]).toBeUndefined();

      expect((await azure.clients.resources.resourceGroups.get("rg-deleting")).properties?.provisioningState).toBe(
        "Deleting",
      );
      expect(
        await failure(azure.clients.resources.resourceGroups.createOrUpdate("rg-deleting", { location: "westeurope" })),
      ).toMatchObject({ statusCode: 409, code: "ResourceGroupBeingDeleted" });
      const into = await failure(
        azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-deleting", "id-late", {
          location: "westeurope",
        }),
      );
      expect(into).toMatchObject({ statusCode: 409, code: "ResourceGroupBeingDeleted" });
      expect(into.message).toBe(
        "The resource group 'rg-deleting' is in deprovisioning state and cannot perform this operation.",
      );

      expect((await armRaw(azure.sandbox, "GET", String(accepted.headers.location))).status).toBe(202);
      clock.advance(60_000);
      expect((await armRaw(azure.sandbox, "GET", String(accepted.headers.location))).status).toBe(200);
      expect(await failure(azure.clients.resources.resourceGroups.get("rg-deleting"))).toMatchObject({
        statusCode: 404,
        code: "ResourceGroupNotFound",
      });
      expect(
        (
          await armRaw(
            azure.sandbox,
            "GET",
            `${resource("rg-deleting", "Microsoft.ManagedIdentity", "userAssignedIdentities", "id-inside")}?api-version=${API.identity}`,
          )
        ).status,
      ).toBe(404);
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });

  it("lets the SDK's delete poller wait for the group to go", async () => {
    await group(azure.clients, "rg-poller");
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.Resources/resourceGroups": 5_000 } });
    try {
      const deleting = azure.clients.resources.resourceGroups.delete("rg-poller");
      await new Promise((resolve) => setTimeout(resolve, 50));
      clock.advance(5_000);
      await deleting;
      expect((await azure.clients.resources.resourceGroups.checkExistence("rg-poller")).body).toBe(false);
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });

  it("answers HEAD with 204 or 404 (what checkExistence accepts) and a missing group's DELETE with 404", async () => {
    await group(azure.clients, "rg-exists");
    expect((await azure.clients.resources.resourceGroups.checkExistence("rg-exists")).body).toBe(true);
    expect((await azure.clients.resources.resourceGroups.checkExistence("rg-never-made")).body).toBe(false);
    expect(await failure(azure.clients.resources.resourceGroups.delete("rg-never-made"))).toMatchObject({
      statusCode: 404,
      code: "ResourceGroupNotFound",
    });
  });
});

describe("first answers and polling", () => {
  it("answers a storage create 202 with Location only and no body; Location answers 202, then the account", async () => {
    const { resource } = ids(azure.sandbox);
    await group(azure.clients, "rg-storage-lro");
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.Storage/storageAccounts": 10_000 } });
    try {
      const account = resource("rg-storage-lro", "Microsoft.Storage", "storageAccounts", "stlroshape1");
      const created = await armRaw(azure.sandbox, "PUT", `${account}?api-version=${API.storage}`, {
        location: "westeurope",
        sku: { name: "Standard_LRS" },
        kind: "StorageV2",
      });
      expect(created.status).toBe(202);
      expect(created.body).toBeUndefined();
      expect(created.headers["azure-asyncoperation"]).toBeUndefined();
      const location = String(created.headers.location);
      // Storage's own enum: Creating, ResolvingDNS, Succeeded.
      expect(state((await armRaw(azure.sandbox, "GET", `${account}?api-version=${API.storage}`)).body)).toBe(
        "Creating",
      );
      clock.advance(5_000);
      expect(state((await armRaw(azure.sandbox, "GET", `${account}?api-version=${API.storage}`)).body)).toBe(
        "ResolvingDNS",
      );
      expect((await armRaw(azure.sandbox, "GET", location)).status).toBe(202);
      // Keys need a provisioned account.
      expect(
        (await armRaw(azure.sandbox, "POST", `${account}/listKeys?api-version=${API.storage}`)).body.error.code,
      ).toBe("StorageAccountIsNotProvisioned");
      clock.advance(5_000);
      const done = await armRaw(azure.sandbox, "GET", location);
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ name: "stlroshape1", properties: { provisioningState: "Succeeded" } });
      // A PUT on the existing account is an update, answered at once.
      const updated = await armRaw(azure.sandbox, "PUT", `${account}?api-version=${API.storage}`, {
        location: "westeurope",
        sku: { name: "Standard_LRS" },
        kind: "StorageV2",
        tags: { a: "b" },
      });
      expect(updated.status).toBe(200);
      expect(updated.body.tags).toEqual({ a: "b" });
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });

  it("answers 200 InProgress on Azure-AsyncOperation and 202 on Location for the same operation, then Succeeded and the resource", async () => {
    const { resource } = ids(azure.sandbox);
    await group(azure.clients, "rg-two-urls");
    const env = await environment(azure.clients, "rg-two-urls", "cae-two-urls");
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.App/containerApps": 10_000 } });
    try {
      const app = resource("rg-two-urls", "Microsoft.App", "containerApps", "app-two-urls");
      const body = {
        location: "westeurope",
        properties: {
          environmentId: env.id,
          template: { containers: [{ name: "main", image: "img:1", resources: { cpu: 0.5, memory: "1Gi" } }] },
        },
      };
      const created = await armRaw(azure.sandbox, "PUT", `${app}?api-version=${API.app}`, body);
      expect(created.status).toBe(201);
      expect(state(created.body)).toBe("InProgress");
      const asyncUrl = String(created.headers["azure-asyncoperation"]);
      const locationUrl = String(created.headers.location);
      expect(asyncUrl).not.toBe(locationUrl);
      const running = await armRaw(azure.sandbox, "GET", asyncUrl);
      expect(running.status).toBe(200);
      expect(running.body).toMatchObject({ status: "InProgress" });
      expect((await armRaw(azure.sandbox, "GET", locationUrl)).status).toBe(202);
      clock.advance(10_000);
      expect((await armRaw(azure.sandbox, "GET", asyncUrl)).body).toMatchObject({
        status: "Succeeded",
        endTime: expect.any(String),
      });
      const result = await armRaw(azure.sandbox, "GET", locationUrl);
      expect(result.status).toBe(200);
      expect(result.body).toMatchObject({ name: "app-two-urls", properties: { provisioningState: "Succeeded" } });
      // The same body again: "200 No change performed", no new operation.
      const again = await armRaw(azure.sandbox, "PUT", `${app}?api-version=${API.app}`, body);
      expect(again.status).toBe(200);
      expect(again.headers["azure-asyncoperation"]).toBeUndefined();
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });

  it("walks each type through its own provisioning states, and deletes show Deleting / ScheduledForDelete until done", async () => {
    const { resource } = ids(azure.sandbox);
    await group(azure.clients, "rg-states");
    const workspace = await azure.clients.operationalInsights.workspaces.createOrUpdate("rg-states", "log-states", {
      location: "westeurope",
      sku: { name: "PerGB2018" },
    });
    const keys = await azure.clients.operationalInsights.sharedKeys.getSharedKeys("rg-states", "log-states");
    azure.sandbox.setFaults({
      lroDurationMs: {
        "Microsoft.App/managedEnvironments": 40_000,
        "Microsoft.App/containerApps": 10_000,
        "Microsoft.CognitiveServices/accounts": 30_000,
        "Microsoft.OperationalInsights/workspaces": 10_000,
      },
    });
    try {
      const env = resource("rg-states", "Microsoft.App", "managedEnvironments", "cae-states");
      const logs = {
        destination: "log-analytics",
        logAnalyticsConfiguration: { customerId: workspace.customerId, sharedKey: keys.primarySharedKey },
      };
      expect(
        state(
          (
            await armRaw(azure.sandbox, "PUT", `${env}?api-version=${API.app}`, {
              location: "westeurope",
              properties: { appLogsConfiguration: logs },
            })
          ).body,
        ),
      ).toBe("Waiting");
      const seen = [];
      for (let i = 0; i < 4; i++) {
        seen.push(state((await armRaw(azure.sandbox, "GET", `${env}?api-version=${API.app}`)).body));
        clock.advance(10_000);
      }
      expect(seen).toEqual([
        "Waiting",
        "InitializationInProgress",
        "InfrastructureSetupInProgress",
        "InfrastructureSetupComplete",
      ]);
      expect(state((await armRaw(azure.sandbox, "GET", `${env}?api-version=${API.app}`)).body)).toBe("Succeeded");

      const account = resource("rg-states", "Microsoft.CognitiveServices", "accounts", "ai-states");
      expect(
        state(
          (
            await armRaw(azure.sandbox, "PUT", `${account}?api-version=${API.cognitive}`, {
              location: "westeurope",
              kind: "AIServices",
              sku: { name: "S0" },
              properties: { customSubDomainName: "ai-states-1" },
            })
          ).body,
        ),
      ).toBe("Accepted");
      const ws = resource("rg-states", "Microsoft.OperationalInsights", "workspaces", "log-states-2");
      expect(
        state(
          (
            await armRaw(azure.sandbox, "PUT", `${ws}?api-version=${API.workspaces}`, {
              location: "westeurope",
              properties: {},
            })
          ).body,
        ),
      ).toBe("Creating");

      const app = resource("rg-states", "Microsoft.App", "containerApps", "app-states");
      const created = await armRaw(azure.sandbox, "PUT", `${app}?api-version=${API.app}`, {
        location: "westeurope",
        properties: { environmentId: env, template: { containers: [{ name: "main", image: "img:1" }] } },
      });
      expect(state(created.body)).toBe("InProgress");
      clock.advance(30_000);
      const deleting = await armRaw(azure.sandbox, "DELETE", `${app}?api-version=${API.app}`);
      expect(deleting.status).toBe(202);
      expect(state((await armRaw(azure.sandbox, "GET", `${app}?api-version=${API.app}`)).body)).toBe("Deleting");
      expect((await armRaw(azure.sandbox, "GET", String(deleting.headers.location))).status).toBe(202);
      clock.advance(10_000);
      expect((await armRaw(azure.sandbox, "GET", String(deleting.headers.location))).status).toBe(204);
      expect((await armRaw(azure.sandbox, "GET", `${app}?api-version=${API.app}`)).status).toBe(404);

      const envDelete = await armRaw(azure.sandbox, "DELETE", `${env}?api-version=${API.app}`);
      expect(envDelete.status).toBe(202);
      expect(state((await armRaw(azure.sandbox, "GET", `${env}?api-version=${API.app}`)).body)).toBe(
        "ScheduledForDelete",
      );
      clock.advance(40_000);
      expect((await armRaw(azure.sandbox, "GET", `${env}?api-version=${API.app}`)).status).toBe(404);
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });
});

describe("writes while an operation runs", () => {
  it("refuses a second write, or a delete, while the resource's own LRO runs; an app needs a provisioned environment", async () => {
    const { resource } = ids(azure.sandbox);
    await group(azure.clients, "rg-locks");
    const workspace = await azure.clients.operationalInsights.workspaces.createOrUpdate("rg-locks", "log-locks", {
      location: "westeurope",
      sku: { name: "PerGB2018" },
    });
    const keys = await azure.clients.operationalInsights.sharedKeys.getSharedKeys("rg-locks", "log-locks");
    azure.sandbox.setFaults({
      lroDurationMs: { "Microsoft.App/managedEnvironments": 20_000, "Microsoft.App/containerApps": 20_000 },
    });
    try {
      const env = resource("rg-locks", "Microsoft.App", "managedEnvironments", "cae-locks");
      const envBody = {
        location: "westeurope",
        properties: {
          appLogsConfiguration: {
            destination: "log-analytics",
            logAnalyticsConfiguration: { customerId: workspace.customerId, sharedKey: keys.primarySharedKey },
          },
        },
      };
      await armRaw(azure.sandbox, "PUT", `${env}?api-version=${API.app}`, envBody);
      const envAgain = await armRaw(azure.sandbox, "PUT", `${env}?api-version=${API.app}`, envBody);
      expect(envAgain.status).toBe(409);
      expect(envAgain.body.error.code).toBe("ManagedEnvironmentLockConflict");

      const app = resource("rg-locks", "Microsoft.App", "containerApps", "app-locks");
      const appBody = (image: string) => ({
        location: "westeurope",
        properties: { environmentId: env, template: { containers: [{ name: "main", image }] } },
      });
      const early = await armRaw(azure.sandbox, "PUT", `${app}?api-version=${API.app}`, appBody("img:1"));
      expect(early.status).toBe(400);
      expect(early.body.error).toEqual({
        code: "ManagedEnvironmentNotProvisioned",
        message: `The environment '${env}' has not been provisioned successfully.`,
      });

      clock.advance(20_000);
      expect((await armRaw(azure.sandbox, "PUT", `${app}?api-version=${API.app}`, appBody("img:1"))).status).toBe(201);
      const second = await armRaw(azure.sandbox, "PUT", `${app}?api-version=${API.app}`, appBody("img:2"));
      expect(second.status).toBe(409);
      expect(second.body.error).toEqual({
        code: "ContainerAppLockConflict",
        message:
          "Cannot modify container App 'app-locks' because another modification is in progress. Please retry the operation.",
      });
      expect((await armRaw(azure.sandbox, "DELETE", `${app}?api-version=${API.app}`)).body.error.code).toBe(
        "ContainerAppLockConflict",
      );
      clock.advance(20_000);
      expect((await armRaw(azure.sandbox, "PUT", `${app}?api-version=${API.app}`, appBody("img:2"))).status).toBe(201);
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });
});

describe("LRO failures and latency", () => {
  it("draws injected LRO failures from the seeded PRNG, so a seed reproduces a run", async () => {
    const outcomes = async (seed: number) => {
      const other = await startSandbox({
        clock: new ManualClock(),
        faults: { seed, lroFailure: { "Microsoft.OperationalInsights/workspaces": 0.5 } },
      });
      try {
        const otherClients = new AzureClients(other.context());
        await group(otherClients, "rg-seeded");
        const results: string[] = [];
        for (let i = 0; i < 12; i++) {
          const put = await armRaw(
            other,
            "PUT",
            `${ids(other).resource("rg-seeded", "Microsoft.OperationalInsights", "workspaces", `log-seeded-${i}`)}?api-version=${API.workspaces}`,
            { location: "westeurope", properties: {} },
          );
          results.push(String(state(put.body)));
        }
        return results;
      } finally {
        await other.stop();
      }
    };
    const first = await outcomes(7);
    expect(first).toContain("Failed");
    expect(first).toContain("Succeeded");
    expect(await outcomes(7)).toEqual(first);
  });

  it("applies a type's latency to its actions and to the polls of its operations", async () => {
    await group(azure.clients, "rg-latency");
    await azure.clients.storage.storageAccounts.create("rg-latency", "stlatency1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    azure.sandbox.setFaults({ latencyMs: { "Microsoft.Storage/storageAccounts": 300 } });
    try {
      let started = Date.now();
      await azure.clients.storage.storageAccounts.listKeys("rg-latency", "stlatency1");
      // Lower bounds the sandbox guarantees (it waits before answering), not timing expectations.
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      const created = await armRaw(
        azure.sandbox,
        "PUT",
        `${ids(azure.sandbox).resource("rg-latency", "Microsoft.Storage", "storageAccounts", "stlatency2")}?api-version=${API.storage}`,
        { location: "westeurope", sku: { name: "Standard_LRS" }, kind: "StorageV2" },
      );
      started = Date.now();
      expect((await armRaw(azure.sandbox, "GET", String(created.headers.location))).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      azure.sandbox.setFaults({ latencyMs: {} });
    }
  });
});
