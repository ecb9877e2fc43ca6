/**
 * Drift end to end: installs, then changes made behind Shire's back straight to the sandbox (an
 * app's image, a deleted role assignment, a removed tag, an extra resource); the audit finds each
 * with its path and values and writes nothing; repair fixes exactly those and a second audit finds
 * none; a slug without drift gets no write from a repair; the audit paces itself inside a read
 * budget the sandbox enforces.
 */
import { describe, expect, it } from "vitest";
import { auditDrift, getJson, install, postJson, waitForOperation } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { createActivityDeps } from "../../activities/deps";
import { deriveNames, ROLE_IDS } from "../../src/model/names";
import { SANDBOX_SUBSCRIPTION_ID } from "../../src/azure/credential";
import { paceDelayMs } from "../../src/operations/pace";
import type { DriftRecord } from "../../src/operations/drift";

const shire = useInstallHost();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Anything = any;

const audit = (body: unknown = {}): Promise<Anything> => auditDrift(shire.url, body);

describe("drift", () => {
  it("finds what changed behind Shire's back without writing, and repair fixes exactly that", async () => {
    for (const slug of ["drifty", "steady"]) expect((await install(shire.url, slug)).status).toBe("succeeded");
    const names = deriveNames("drifty", { subscriptionId: SANDBOX_SUBSCRIPTION_ID });
    const clients = createActivityDeps(shire.sandbox.context()).clients;

    // Behind Shire's back: the app's image, the gateway's vault grant, a tag, an extra identity.
    const apps = clients.containerApps.containerApps;
    const app = await apps.get(names.resourceGroup, names.containerApp);
    const planned = app.template!.containers![0].image!;
    app.template!.containers![0].image = "ghcr.io/someone/else:1.0";
    await apps.beginCreateOrUpdateAndWait(names.resourceGroup, names.containerApp, app);
    const vaultId = `/subscriptions/${SANDBOX_SUBSCRIPTION_ID}/resourceGroups/${names.resourceGroup}/providers/Microsoft.KeyVault/vaults/${names.keyVault}`;
    for await (const grant of clients.authorization.roleAssignments.listForScope(vaultId))
      if (
        grant.roleDefinitionId?.endsWith(ROLE_IDS.keyVaultSecretsUser) &&
        grant.scope?.toLowerCase() === vaultId.toLowerCase()
      )
        await clients.authorization.roleAssignments.delete(vaultId, grant.name!);
    const account = await clients.storage.storageAccounts.getProperties(names.resourceGroup, names.storageAccount);
    await clients.storage.storageAccounts.update(names.resourceGroup, names.storageAccount, {
      tags: { ...account.tags, "shire-slug": "someone-else" },
    });
    await clients.managedIdentity.userAssignedIdentities.createOrUpdate(names.resourceGroup, "id-extra", {
      location: "westeurope",
    });

    const mark = shire.sandbox.requests().length;
    const found = await audit({ slugs: ["drifty", "steady"] });
    expect(shire.writesSince(mark)).toEqual([]);
    expect(found.clean).toEqual(["steady"]);
    const record = (await getJson<DriftRecord>(`${shire.url}/api/slugs/drifty/drift`)).body;
    const byNode = Object.fromEntries(record.drifted.map((entry) => [entry.node, entry]));
    expect(Object.keys(byNode).sort()).toEqual(["containerApp", "storageAccount", "vaultAccess:gateway"]);
    expect(byNode.containerApp.differences).toContainEqual({
      path: "template.containers[0].image",
      expected: planned,
      actual: "ghcr.io/someone/else:1.0",
    });
    expect(byNode["vaultAccess:gateway"].state).toBe("absent");
    expect(byNode.storageAccount.differences).toContainEqual({
      path: "tags.shire-slug",
      expected: "drifty",
      actual: "someone-else",
    });
    expect(record.extra.map((resource) => resource.id.split("/").at(-1))).toEqual(["id-extra"]);

    const repair = await postJson(`${shire.url}/api/slugs/drifty/repair`, {});
    expect(repair.status).toBe(202);
    const operation = await waitForOperation(shire.url, String(repair.body.operationId), 120_000);
    expect(operation.status, JSON.stringify(operation.steps)).toBe("succeeded");
    expect(operation.steps.map((step) => step.id).sort()).toEqual([
      "containerApp",
      "storageAccount",
      "vaultAccess:gateway",
    ]);
    expect((await apps.get(names.resourceGroup, names.containerApp)).template!.containers![0].image).toBe(planned);
    const after = (await getJson<DriftRecord>(`${shire.url}/api/slugs/drifty/drift`)).body;
    expect(after.drifted).toEqual([]);
    // Never deleted by an audit or a repair: still reported.
    expect(after.extra.map((resource) => resource.id.split("/").at(-1))).toEqual(["id-extra"]);

    // A slug without drift: a repair writes nothing.
    const before = shire.sandbox.requests().length;
    const calm = await postJson(`${shire.url}/api/slugs/steady/repair`, {});
    const calmOperation = await waitForOperation(shire.url, String(calm.body.operationId));
    expect(calmOperation.status).toBe("succeeded");
    expect(calmOperation.steps).toEqual([]);
    expect(shire.writesSince(before)).toEqual([]);
  }, 240_000);

  it("paces itself inside a read budget: no 429 from a sandbox whose bucket is a fifth of ARM's", async () => {
    // ARM's read bucket scaled to 50 and 5 a second; the audit keeps to 40 and 4.
    shire.sandbox.setFaults({ throttleScale: 0.2 });
    process.env.SHIRE_DRIFT_READS_PER_SECOND = "4";
    process.env.SHIRE_DRIFT_READ_BURST = "40";
    try {
      const mark = shire.sandbox.requests().length;
      const found = await audit({ slugs: ["drifty", "steady"] });
      expect(found.audit.reads).toBeGreaterThan(40);
      expect(
        shire.sandbox
          .requests()
          .slice(mark)
          .filter((request) => request.status === 429),
      ).toEqual([]);
    } finally {
      shire.sandbox.setFaults({ throttleScale: 1 });
      delete process.env.SHIRE_DRIFT_READS_PER_SECOND;
      delete process.env.SHIRE_DRIFT_READ_BURST;
    }
  }, 240_000);

  it("waits only what the bucket needs", () => {
    const budget = { burst: 250, perSecond: 25 };
    expect(paceDelayMs(0, 0, 200, budget)).toBe(0);
    expect(paceDelayMs(250, 0, 50, budget)).toBe(2_000);
    expect(paceDelayMs(250, 1_000, 50, budget)).toBe(1_000);
    // 200 slugs at ~45 reads each: the whole audit takes what the refill allows, never a burst past it.
    let spent = 0;
    let elapsed = 0;
    for (let slug = 0; slug < 200; slug++) {
      elapsed += paceDelayMs(spent, elapsed, 45, budget);
      spent += 45;
      expect(spent).toBeLessThanOrEqual(budget.burst + (elapsed / 1000) * budget.perSecond + 1e-6);
    }
    expect(elapsed / 1000).toBeCloseTo((200 * 45 - 250) / 25, 0);
  });
});
