/**
 * A generated secret written through ARM (Microsoft.KeyVault/vaults/secrets): it needs no
 * data-plane role on the vault, never writes twice, and a soft-deleted one (which refuses ARM's
 * PUT) is recovered through the data plane and kept.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { activityRunner } from "../fixtures/activities";
import { useSandbox } from "../fixtures/sandbox";
import { grantBroker, group, vault } from "../sandbox/helpers";

const RG = "claw-generated";
const azure = useSandbox({ faults: { rbacPropagationMs: 60 * 60_000 } });
beforeAll(async () => {
  await group(azure.clients, RG);
});
const activities = activityRunner(azure, { operationId: "generated", slug: "generated", maxAttempts: 3 });
const desired = (vaultName: string) => ({
  vaultName,
  resourceGroup: RG,
  secretName: "gateway-token",
  source: { type: "random", bytes: 32 },
  tags: { "managed-by": "shire" },
});
const arm = (request: { url: string }) => request.url.startsWith("/subscriptions/");

describe("a generated secret through ARM", () => {
  it("is written once, with no data-plane role on the vault (RBAC propagation an hour away), and kept", async () => {
    await vault(azure, RG, "kv-generated-1");
    const before = azure.mark();
    const first = await activities.must({
      kind: "secret",
      nodeId: "secret:gatewayToken",
      desired: desired("kv-generated-1"),
    });
    expect(first).toMatchObject({ action: "created", outputs: { secretName: "gateway-token" } });
    expect(first.outputs.version).toMatch(/^[0-9a-f]{32}$/);
    const writes = azure.writesSince(before);
    expect(writes.map((request) => [request.method, arm(request)])).toEqual([["PUT", true]]);
    // Nothing reached the data plane.
    expect(azure.sandbox.requestsSince(before).every(arm)).toBe(true);
    const value = azure.sandbox.keyVault.readSecretValue("kv-generated-1", "gateway-token");
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(first)).not.toContain(value);

    const afterFirst = azure.mark();
    const second = await activities.must({
      kind: "secret",
      nodeId: "secret:gatewayToken",
      desired: desired("kv-generated-1"),
    });
    expect(second).toMatchObject({ action: "unchanged", outputs: { version: first.outputs.version } });
    expect(azure.successfulWritesSince(afterFirst)).toBe(0);
    expect(azure.sandbox.keyVault.readSecretValue("kv-generated-1", "gateway-token")).toBe(value);
  });

  it("recovers a soft-deleted secret through the data plane and keeps it", async () => {
    const created = await vault(azure, RG, "kv-generated-2");
    await activities.must({ kind: "secret", nodeId: "secret:gatewayToken", desired: desired("kv-generated-2") });
    const value = azure.sandbox.keyVault.readSecretValue("kv-generated-2", "gateway-token");
    // The broker's data-plane role, propagated: recovering is the data plane's.
    azure.sandbox.setFaults({ rbacPropagationMs: 0 });
    try {
      await grantBroker(azure, created.id!, "8d000000-0000-4000-8000-000000000001");
      const data = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-generated-2"));
      await (await data.beginDeleteSecret("gateway-token")).pollUntilDone();
      const again = await activities.must({
        kind: "secret",
        nodeId: "secret:gatewayToken",
        desired: desired("kv-generated-2"),
      });
      expect(again.action).toBe("unchanged");
      expect(azure.sandbox.keyVault.readSecretValue("kv-generated-2", "gateway-token")).toBe(value);
      let versions = 0;
      for await (const _version of data.listPropertiesOfSecretVersions("gateway-token")) versions++;
      expect(versions).toBe(1);
    } finally {
      azure.sandbox.setFaults({ rbacPropagationMs: 60 * 60_000 });
    }
  });
});
