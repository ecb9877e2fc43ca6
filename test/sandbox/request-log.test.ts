/**
 * The request log keeps no secret a client sent in a body it could not read as JSON (form posts
 * to the token endpoint, text, garbage), and logs the status a fault answered with.
 */
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { ClientSecretCredential } from "@azure/identity";
import { AzureClients } from "../../src/azure/clients";
import { sandboxTransportPolicy } from "../../src/azure/transport";
import { raw } from "./helpers";
import { useSandbox } from "../fixtures/sandbox";

const azure = useSandbox({ logFile: true });

const lines = () =>
  fs
    .readFileSync(azure.logFile, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { method: string; url: string; status: number; body: unknown });

describe("request log", () => {
  it("redacts form bodies by key (client_secret, assertions, tokens) and logs other unreadable bodies as their size", async () => {
    const credential = new ClientSecretCredential(
      azure.sandbox.env.tenantId,
      azure.sandbox.brokerCredential.clientId,
      azure.sandbox.brokerCredential.clientSecret,
      {
        authorityHost: azure.sandbox.endpoints.authorityHost,
        disableInstanceDiscovery: true,
        additionalPolicies: [{ policy: sandboxTransportPolicy(azure.sandbox.endpoints)!, position: "perCall" }],
      },
    );
    await credential.getToken(azure.sandbox.endpoints.armScope);
    const tokenPath = `/${azure.sandbox.env.tenantId}/oauth2/v2.0/token`;
    // A secret the sandbox never issued: only key-based redaction can catch it.
    await raw(azure.sandbox, "login", "POST", tokenPath, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials&client_id=abc&client_secret=SuperSecretClientSecretValue123&client_assertion=AssertionValue-987&refresh_token=RefreshValue-654&code=AuthCode-321&scope=x",
    });
    await raw(azure.sandbox, "login", "POST", tokenPath, {
      headers: { "content-type": "text/plain" },
      body: "client_secret=PlainTextSecretValue456",
    });
    await raw(
      azure.sandbox,
      "management",
      "PUT",
      `/subscriptions/${azure.sandbox.env.subscriptionId}/resourcegroups/x?api-version=2025-04-01`,
      { headers: { "content-type": "application/json" }, body: "{not json password=UnparseableSecret789" },
    );

    const text = fs.readFileSync(azure.logFile, "utf8");
    for (const secret of [
      azure.sandbox.brokerCredential.clientSecret,
      "SuperSecretClientSecretValue123",
      "AssertionValue-987",
      "RefreshValue-654",
      "AuthCode-321",
      "PlainTextSecretValue456",
      "UnparseableSecret789",
    ])
      expect(text).not.toContain(secret);
    const tokenPosts = lines().filter((line) => line.method === "POST" && line.url.startsWith(tokenPath));
    expect(tokenPosts[0].body).toMatchObject({ grant_type: "client_credentials", client_secret: "[redacted]" });
    expect(tokenPosts[1].body).toMatchObject({
      client_id: "abc",
      client_secret: "[redacted]",
      client_assertion: "[redacted]",
      refresh_token: "[redacted]",
      code: "[redacted]",
      scope: "x",
    });
    expect(tokenPosts[2].body).toBe("[37 bytes]");
    expect(lines().find((line) => line.method === "PUT" && line.url.includes("/resourcegroups/x"))?.body).toBe(
      "[39 bytes]",
    );
  });

  it("logs an injected 500 or 503 with its status; only a cut connection is 0", async () => {
    const clients = new AzureClients(azure.sandbox.context());
    azure.sandbox.setFaults({ transientRate: 1, transientKinds: ["503"], transientServices: ["arm"] });
    try {
      await clients.resources.resourceGroups.get("rg-faulted").catch(() => undefined);
    } finally {
      azure.sandbox.setFaults({
        transientRate: 0,
        transientKinds: ["500", "503", "reset"],
        transientServices: undefined,
      });
    }
    const faulted = lines().filter((line) => line.url.includes("/resourcegroups/rg-faulted"));
    expect(faulted.length).toBeGreaterThan(0);
    expect(faulted.every((line) => line.status === 503)).toBe(true);
  });
});
