/**
 * A fleet rotation: 200 slugs whose gateway tokens are all due, rotated by one scheduled pass on
 * the local host against the sandbox with ARM's real throttling buckets (reads 250 + 25/s, writes
 * 200 + 10/s per principal). The pass's pace (10 at a time, a start every 450 ms here) keeps the
 * fleet inside the budget: every rotation succeeds and ARM answers (almost) no 429, where starting
 * them all at once would drain the read bucket in seconds.
 *
 * The slugs are made directly (a vault, a secret, an app reading it, the records an install
 * writes) rather than installed 200 times: the pass and the rotations are what is under test.
 */
import fs from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { useInstallHost } from "../fixtures/install-host";
import { schedulePass } from "../fixtures/rotation";
import { environment, group, ROLES, vault } from "../sandbox/helpers";
import { ids } from "../sandbox/arm-helpers";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { OperationStore } from "../../src/operations/records";

const FLEET = 200;
const RG = "rg-fleet";
const shire = useInstallHost({
  env: {
    SHIRE_ROTATION_MAX_AGE: "generated=1s,clientSecret=off,storageKey=off,foundryKey=off",
    SHIRE_ROTATION_MAX_PARALLEL: "10",
    SHIRE_ROTATION_START_INTERVAL_MS: "450",
    SHIRE_ROTATION_GRACE_SECONDS: "3600",
  },
});

const logLines = () => fs.readFileSync(shire.logFile, "utf8").split("\n").filter(Boolean);
const slugName = (n: number) => `fleet${String(n).padStart(3, "0")}`;
const guid = (kind: number, n: number) =>
  `7f1ee700-0000-4000-8000-${kind.toString(16).padStart(4, "0")}${n.toString(16).padStart(8, "0")}`;

async function eachLimited(count: number, limit: number, work: (n: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

beforeAll(async () => {
  shire.sandbox.setFaults({ throttleScale: 0 });
  await group(shire.clients, RG);
  const environmentId = (await environment(shire.clients, RG, "cae-fleet")).id!;
  const identity = await shire.clients.managedIdentity.userAssignedIdentities.createOrUpdate(RG, "id-fleet", {
    location: "westeurope",
  });
  const store = OperationStore.fromEnv();
  await eachLimited(FLEET, 10, async (n) => {
    const slug = slugName(n);
    const vaultName = `kv-fleet-${String(n).padStart(3, "0")}`;
    const target = await vault(shire, RG, vaultName);
    for (const [kind, principalId, role] of [
      [1, SANDBOX_BROKER_OBJECT_ID, ROLES.secretsOfficer],
      [2, identity.principalId!, ROLES.secretsUser],
    ] as const)
      await shire.clients.authorization.roleAssignments.create(target.id!, guid(kind, n), {
        roleDefinitionId: ids(shire.sandbox).role(role),
        principalId,
        principalType: "ServicePrincipal",
      });
    await shire.clients
      .secrets(keyVaultUrl(shire.sandbox.endpoints, vaultName))
      .setSecret("gateway-token", `token-${n}`);
    await shire.clients.containerApps.containerApps.beginCreateOrUpdateAndWait(RG, `app-${slug}`, {
      location: "westeurope",
      environmentId,
      identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id!]: {} } },
      configuration: {
        secrets: [
          {
            name: "gateway-token",
            keyVaultUrl: `${keyVaultUrl(shire.sandbox.endpoints, vaultName)}secrets/gateway-token`,
            identity: identity.id!,
          },
        ],
      },
      template: {
        containers: [{ name: "main", image: "img:1", resources: { cpu: 0.5, memory: "1Gi" } }],
        scale: { minReplicas: 1, maxReplicas: 1 },
      },
    });
    // What an install records: the slug installed, the app and the secret node it converged.
    const now = new Date().toISOString();
    await store.updateApplied(slug, () => ({
      slug,
      updatedAt: now,
      nodes: {
        containerApp: {
          kind: "containerApp",
          dependsOn: [],
          desired: { resourceGroup: RG, name: `app-${slug}` },
          outputs: {},
          operationId: "fleet",
        },
        "secret:gatewayToken": {
          kind: "secret",
          dependsOn: [],
          desired: { vaultName, secretName: "gateway-token", source: { type: "random", bytes: 32 } },
          outputs: {},
          operationId: "fleet",
        },
      },
    }));
    await store.updateSlug(slug, () => ({
      slug,
      state: "installed",
      version: "ghcr.io/openclaw/openclaw:2026.9.6",
      region: "westeurope",
      resourceGroup: RG,
      lastOperationId: `${slug}.20261201T000000Z.00000000`,
      updatedAt: now,
    }));
  });
  // Every token is older than its 1 s age from here on.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
}, 300_000);

describe("a fleet rotation", () => {
  it("rotates 200 slugs in one scheduled pass inside ARM's budget: every rotation succeeds, no 429 storm", async () => {
    shire.sandbox.setFaults({ throttleScale: 1 });
    // Every request from here on (the log file keeps them all; the in-memory list only the last 1000).
    const mark = logLines().length;
    const output = await schedulePass(shire, { timeoutMs: 600_000, intervalMs: 1_000 });
    expect(output.due).toBe(FLEET);
    expect(output.skipped).toEqual([]);
    expect(output.rotations.filter((rotation) => rotation.status !== "succeeded")).toEqual([]);
    expect(output.rotations).toHaveLength(FLEET);
    // Each slug's app runs its new token.
    for (let n = 0; n < FLEET; n++) {
      const appId = `/subscriptions/${shire.sandbox.env.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.App/containerApps/app-${slugName(n)}`;
      const token = shire.sandbox.keyVault.readSecretValue(`kv-fleet-${String(n).padStart(3, "0")}`, "gateway-token")!;
      expect(token, slugName(n)).not.toBe(`token-${n}`);
      expect(shire.sandbox.apps.accepts(appId, "gateway-token", token), slugName(n)).toBe(true);
    }
    const requests = logLines()
      .slice(mark)
      .map((line) => JSON.parse(line) as { url: string; status: number });
    const arm = requests.filter((request) => request.url.startsWith("/subscriptions/"));
    const throttled = arm.filter((request) => request.status === 429);
    // Not a storm: a handful at most, against well over a thousand ARM requests.
    expect(arm.length).toBeGreaterThan(FLEET * 5);
    expect(throttled.length, `${throttled.length} of ${arm.length} ARM requests throttled`).toBeLessThanOrEqual(5);
  }, 600_000);
});
