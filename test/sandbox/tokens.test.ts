/**
 * Tokens as Azure checks them: every service refuses a token for another audience, another tenant
 * or past its lifetime (ARM also one that is missing), in its own error shape; the token endpoint
 * issues signed tokens to registered clients with a valid secret (ClientSecretCredential against
 * the sandbox) and refuses the rest with Entra's AADSTS errors.
 */
import { createPublicKey, createVerify } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { ClientSecretCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { ResourceManagementClient } from "@azure/arm-resources";
import { AzureClients, armClientOptions, API_VERSIONS } from "../../src/azure/clients";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { createGraphClient } from "../../src/azure/graph";
import { createBlobServiceClient } from "../../src/azure/blob";
import { SandboxCredential, SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { sandboxTransportPolicy } from "../../src/azure/transport";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { failure, grantBroker, raw, StaticTokenCredential, token, vault, WrongAudienceCredential } from "./helpers";

const clock = new ManualClock();
const OTHER_TENANT = "11111111-1111-4111-8111-111111111111";

const azure = useSandbox({ clock });
beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate("rg-tokens", { location: "westeurope" });
  const created = await vault(azure, "rg-tokens", "kv-tokens-1");
  await grantBroker(azure, created.id!, "7a000000-0000-4000-8000-000000000001");
  await azure.clients
    .secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-tokens-1"))
    .setSecret("known", "known-value-0001");
});

const transport = () => [{ policy: sandboxTransportPolicy(azure.sandbox.endpoints)!, position: "perCall" as const }];
const secretClient = (credential: ConstructorParameters<typeof SecretClient>[1]) =>
  new SecretClient(keyVaultUrl(azure.sandbox.endpoints, "kv-tokens-1"), credential, {
    additionalPolicies: transport(),
  });
const vaultPath = "/secrets/known?api-version=2026-04-01";

describe("Key Vault validates the token", () => {
  it("refuses another audience (AKV10022), another tenant (AKV10032) and an expired token, with the challenge and error=invalid_token", async () => {
    const wrongAudience = await failure(
      secretClient(new WrongAudienceCredential(azure.sandbox.endpoints.armScope.replace(/\/\.default$/, ""))).getSecret(
        "known",
      ),
    );
    expect(wrongAudience).toMatchObject({ statusCode: 401 });
    expect(wrongAudience.message).toMatch(
      /^AKV10022: Invalid audience\. Expected https:\/\/vault\.sandbox\.localhost, found: https:\/\/management\.sandbox\.localhost/,
    );
    const otherTenant = await failure(secretClient(new SandboxCredential(OTHER_TENANT)).getSecret("known"));
    expect(otherTenant).toMatchObject({ statusCode: 401 });
    expect(otherTenant.message).toMatch(/^AKV10032: Invalid issuer\./);

    const expired = await raw(azure.sandbox, "kv-tokens-1.vault", "GET", vaultPath, {
      headers: { authorization: `Bearer ${token(azure.sandbox, { aud: "https://vault.sandbox.localhost", exp: 1 })}` },
    });
    expect(expired.status).toBe(401);
    expect(expired.headers["www-authenticate"]).toMatch(
      /^Bearer authorization="https:\/\/login\.sandbox\.localhost:\d+\/[0-9a-f-]+", resource="https:\/\/vault\.sandbox\.localhost", error="invalid_token"$/,
    );
    const trailingSlash = await raw(azure.sandbox, "kv-tokens-1.vault", "GET", vaultPath, {
      headers: { authorization: `Bearer ${token(azure.sandbox, { aud: "https://vault.sandbox.localhost/" })}` },
    });
    expect(trailingSlash.status).toBe(401);
    const right = await raw(azure.sandbox, "kv-tokens-1.vault", "GET", vaultPath, {
      headers: { authorization: `Bearer ${token(azure.sandbox, { aud: "https://vault.sandbox.localhost" })}` },
    });
    expect(right.status).toBe(200);
  });

  it("judges lifetimes on the wall clock: moving the sandbox clock does not expire the SDK's cached token", async () => {
    const secrets = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-tokens-1"));
    expect((await secrets.getSecret("known")).value).toBe("known-value-0001");
    clock.advance(3 * 60 * 60 * 1000);
    expect((await secrets.getSecret("known")).value).toBe("known-value-0001");
  });
});

describe("Graph, Storage and ARM validate the token", () => {
  it("Graph: 401 InvalidAuthenticationToken for a Key Vault token, another tenant, an expired token", async () => {
    const graphFor = (credential: ConstructorParameters<typeof SandboxCredential> | WrongAudienceCredential) =>
      createGraphClient({
        ...azure.sandbox.context(),
        credential: credential instanceof WrongAudienceCredential ? credential : new SandboxCredential(...credential),
      });
    expect(
      await failure(
        graphFor(new WrongAudienceCredential("https://vault.sandbox.localhost")).api("/applications").get(),
      ),
    ).toMatchObject({
      statusCode: 401,
      code: "InvalidAuthenticationToken",
      message: "Access token validation failure. Invalid audience.",
    });
    expect(await failure(graphFor([OTHER_TENANT]).api("/applications").get())).toMatchObject({
      statusCode: 401,
      code: "InvalidAuthenticationToken",
    });
    const expired = await raw(azure.sandbox, "graph", "GET", "/v1.0/applications", {
      headers: { authorization: `Bearer ${token(azure.sandbox, { aud: azure.sandbox.endpoints.graph, exp: 1 })}` },
    });
    expect(expired.status).toBe(401);
    expect(JSON.parse(expired.body).error).toMatchObject({
      code: "InvalidAuthenticationToken",
      message: "Lifetime validation failed, the token is expired.",
    });
    const missing = await raw(azure.sandbox, "graph", "GET", "/v1.0/applications");
    expect(JSON.parse(missing.body).error).toMatchObject({
      code: "InvalidAuthenticationToken",
      message: "Access token is empty.",
    });
  });

  it("Storage: 401 InvalidAuthenticationInfo (audience validation failed) for an ARM token, 403 AuthenticationFailed for an expired one", async () => {
    await azure.clients.storage.storageAccounts.create("rg-tokens", "sttokens1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    const blob = createBlobServiceClient(
      {
        ...azure.sandbox.context(),
        credential: new WrongAudienceCredential(azure.sandbox.endpoints.armScope.replace(/\/\.default$/, "")),
      },
      "sttokens1",
    );
    const wrong = await failure(blob.getProperties());
    expect(wrong).toMatchObject({ statusCode: 401, code: "InvalidAuthenticationInfo" });
    const detail = await raw(azure.sandbox, "sttokens1.blob", "GET", "/?restype=service&comp=properties", {
      headers: {
        authorization: `Bearer ${token(azure.sandbox, { aud: azure.sandbox.endpoints.resourceManager })}`,
        "x-ms-version": "2025-11-05",
      },
    });
    expect(detail.body).toContain(
      "<AuthenticationErrorDetail>Audience validation failed. Audience did not match.</AuthenticationErrorDetail>",
    );
    const expired = await raw(azure.sandbox, "sttokens1.blob", "GET", "/?restype=service&comp=properties", {
      headers: {
        authorization: `Bearer ${token(azure.sandbox, { aud: "https://storage.azure.com", exp: 1 })}`,
        "x-ms-version": "2025-11-05",
      },
    });
    expect(expired.status).toBe(403);
    expect(expired.body).toContain("Lifetime validation failed. The token is expired.");
  });

  it("ARM: 401 AuthenticationFailed without Authorization, InvalidAuthenticationTokenAudience / Tenant / ExpiredAuthenticationToken otherwise, each with the challenge", async () => {
    const path = `/subscriptions/${azure.sandbox.env.subscriptionId}/resourcegroups/rg-no-auth?api-version=2025-04-01`;
    const missing = await raw(azure.sandbox, "management", "PUT", path, { body: { location: "westeurope" } });
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body).error).toEqual({
      code: "AuthenticationFailed",
      message: "Authentication failed. The 'Authorization' header is missing.",
    });
    expect(missing.headers["www-authenticate"]).toMatch(
      /error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header\."/,
    );
    expect(
      azure.sandbox.arm.store.get(`/subscriptions/${azure.sandbox.env.subscriptionId}/resourceGroups/rg-no-auth`),
    ).toBeUndefined();

    const armWith = (credential: ConstructorParameters<typeof ResourceManagementClient>[0]) =>
      new ResourceManagementClient(
        credential,
        azure.sandbox.env.subscriptionId,
        armClientOptions(azure.sandbox.context(), API_VERSIONS.resources),
      );
    expect(
      await failure(
        armWith(new WrongAudienceCredential(azure.sandbox.endpoints.graph)).resourceGroups.get("rg-tokens"),
      ),
    ).toMatchObject({ statusCode: 401, code: "InvalidAuthenticationTokenAudience" });
    expect(await failure(armWith(new SandboxCredential(OTHER_TENANT)).resourceGroups.get("rg-tokens"))).toMatchObject({
      statusCode: 401,
      code: "InvalidAuthenticationTokenTenant",
    });
    const expired = await failure(
      armWith(
        new StaticTokenCredential(token(azure.sandbox, { aud: azure.sandbox.endpoints.resourceManager, exp: 1000 })),
      ).resourceGroups.get("rg-tokens"),
    );
    expect(expired).toMatchObject({ statusCode: 401, code: "ExpiredAuthenticationToken" });
    expect(expired.message).toMatch(
      /^The access token expiry UTC time '1970-01-01T00:16:40.000Z' is earlier than current UTC time/,
    );
    // The right audience with a trailing slash is one ARM accepts.
    expect(
      (
        await armWith(
          new StaticTokenCredential(token(azure.sandbox, { aud: `${azure.sandbox.endpoints.resourceManager}/` })),
        ).resourceGroups.get("rg-tokens")
      ).name,
    ).toBe("rg-tokens");
  });
});

describe("the token endpoint", () => {
  const credentialFor = (tenantId: string, clientId: string, secret: string) =>
    new ClientSecretCredential(tenantId, clientId, secret, {
      authorityHost: azure.sandbox.endpoints.authorityHost,
      disableInstanceDiscovery: true,
      additionalPolicies: transport(),
    });

  it("issues the broker signed tokens ClientSecretCredential can use against Key Vault, Graph and ARM, verifiable with the JWKS", async () => {
    const { tenantId, clientId, clientSecret } = azure.sandbox.brokerCredential;
    const credential = credentialFor(tenantId, clientId, clientSecret);
    expect((await secretClient(credential).getSecret("known")).value).toBe("known-value-0001");
    const viaGraph = createGraphClient({ ...azure.sandbox.context(), credential });
    expect((await viaGraph.api(`/servicePrincipals/${SANDBOX_BROKER_OBJECT_ID}`).get()).appId).toBe(clientId);
    expect(
      (await new AzureClients({ ...azure.sandbox.context(), credential }).resources.resourceGroups.get("rg-tokens"))
        .name,
    ).toBe("rg-tokens");

    const issued = (await credential.getToken(azure.sandbox.endpoints.graphScope))!.token;
    const [head, body, signature] = issued.split(".");
    const header = JSON.parse(Buffer.from(head, "base64url").toString()) as { alg: string; kid: string };
    const claims = JSON.parse(Buffer.from(body, "base64url").toString()) as Record<string, unknown>;
    expect(header.alg).toBe("RS256");
    expect(claims).toMatchObject({
      oid: SANDBOX_BROKER_OBJECT_ID,
      tid: tenantId,
      appid: clientId,
      aud: azure.sandbox.endpoints.graph,
    });
    expect(claims.roles).toEqual(expect.arrayContaining(["Application.ReadWrite.OwnedBy", "Group.ReadWrite.All"]));
    const configuration = JSON.parse(
      (await raw(azure.sandbox, "login", "GET", `/${tenantId}/v2.0/.well-known/openid-configuration`)).body,
    ) as { jwks_uri: string; issuer: string };
    expect(claims.iss).toBe(configuration.issuer);
    const jwks = JSON.parse(
      (await raw(azure.sandbox, "login", "GET", new URL(configuration.jwks_uri).pathname)).body,
    ) as {
      keys: { kid: string }[];
    };
    const key = createPublicKey({ key: jwks.keys.find((candidate) => candidate.kid === header.kid)!, format: "jwk" });
    expect(createVerify("RSA-SHA256").update(`${head}.${body}`).verify(key, Buffer.from(signature, "base64url"))).toBe(
      true,
    );

    // A signed token altered in transit fails its signature.
    const forged = `${head}.${Buffer.from(JSON.stringify({ ...claims, aud: "https://vault.sandbox.localhost" })).toString("base64url")}.${signature}`;
    const refused = await raw(azure.sandbox, "kv-tokens-1.vault", "GET", vaultPath, {
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body).error.message).toMatch(/^AKV10046/);
  });

  it("authenticates an app registered in Graph by its service principal and password, and stops when the password is removed or expires", async () => {
    const graph = createGraphClient(azure.sandbox.context());
    const app = await graph.api("/applications").post({ displayName: "shire-token-client" });
    const noPrincipal = await failure(
      credentialFor(azure.sandbox.env.tenantId, app.appId, "whatever-secret-0001").getToken(
        azure.sandbox.endpoints.armScope,
      ),
    );
    expect(noPrincipal.message).toContain("AADSTS7000229");
    const principal = await graph.api("/servicePrincipals").post({ appId: app.appId });
    const password = await graph.api(`/applications/${app.id}/addPassword`).post({
      passwordCredential: { displayName: "test", endDateTime: new Date(clock.now() + 86_400_000).toISOString() },
    });

    const issued = await credentialFor(azure.sandbox.env.tenantId, app.appId, password.secretText).getToken(
      azure.sandbox.endpoints.armScope,
    );
    expect(JSON.parse(Buffer.from(issued!.token.split(".")[1], "base64url").toString())).toMatchObject({
      oid: principal.id,
      appid: app.appId,
    });

    expect(
      (
        await failure(
          credentialFor(azure.sandbox.env.tenantId, app.appId, "not-the-secret-0001").getToken(
            azure.sandbox.endpoints.armScope,
          ),
        )
      ).message,
    ).toContain("AADSTS7000215");
    expect(
      (
        await failure(
          credentialFor(azure.sandbox.env.tenantId, "22222222-2222-4222-8222-222222222222", "x").getToken(
            azure.sandbox.endpoints.armScope,
          ),
        )
      ).message,
    ).toContain("AADSTS700016");
    // An unknown tenant has no OpenID configuration (400 AADSTS90002), so MSAL stops at discovery.
    expect(
      (
        await failure(
          credentialFor(OTHER_TENANT, app.appId, password.secretText).getToken(azure.sandbox.endpoints.armScope),
        )
      ).message,
    ).toContain("endpoints_resolution_error");
    expect(
      JSON.parse(
        (await raw(azure.sandbox, "login", "GET", `/${OTHER_TENANT}/v2.0/.well-known/openid-configuration`)).body,
      ),
    ).toMatchObject({ error: "invalid_tenant", error_codes: [90002] });

    clock.advance(2 * 86_400_000);
    expect(
      (
        await failure(
          credentialFor(azure.sandbox.env.tenantId, app.appId, password.secretText).getToken(
            azure.sandbox.endpoints.armScope,
          ),
        )
      ).message,
    ).toContain("AADSTS7000222");
    const second = await graph
      .api(`/applications/${app.id}/addPassword`)
      .post({ passwordCredential: { displayName: "second" } });
    await graph.api(`/applications/${app.id}/removePassword`).post({ keyId: second.keyId });
    expect(
      (
        await failure(
          credentialFor(azure.sandbox.env.tenantId, app.appId, second.secretText).getToken(
            azure.sandbox.endpoints.armScope,
          ),
        )
      ).message,
    ).toContain("AADSTS7000215");
  });

  it("reads form bodies only, and answers AAD-shaped errors for what it cannot grant", async () => {
    const path = `/${azure.sandbox.env.tenantId}/oauth2/v2.0/token`;
    const asJson = await raw(azure.sandbox, "login", "POST", path, {
      body: {
        grant_type: "client_credentials",
        client_id: azure.sandbox.brokerCredential.clientId,
        scope: azure.sandbox.endpoints.armScope,
      },
    });
    expect(asJson.status).toBe(400);
    expect(JSON.parse(asJson.body)).toMatchObject({ error: "invalid_request", error_codes: [900144] });
    const form = (fields: Record<string, string>) =>
      raw(azure.sandbox, "login", "POST", path, {
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(fields).toString(),
      });
    const base = {
      grant_type: "client_credentials",
      client_id: azure.sandbox.brokerCredential.clientId,
      client_secret: azure.sandbox.brokerCredential.clientSecret,
    };
    const noSecret = await form({
      grant_type: "client_credentials",
      client_id: base.client_id,
      scope: azure.sandbox.endpoints.armScope,
    });
    expect(noSecret.status).toBe(401);
    expect(JSON.parse(noSecret.body)).toMatchObject({ error: "invalid_client", error_codes: [7000216] });
    expect(JSON.parse((await form({ ...base, scope: "https://vault.azure.net/.default" })).body)).toMatchObject({
      error: "invalid_resource",
      error_codes: [500011],
    });
    expect(
      JSON.parse(
        (await form({ ...base, scope: azure.sandbox.endpoints.armScope.replace("/.default", "/user_impersonation") }))
          .body,
      ),
    ).toMatchObject({ error: "invalid_scope" });
    const granted = await form({ ...base, scope: azure.sandbox.endpoints.keyVaultScope });
    expect(granted.status).toBe(200);
    expect(JSON.parse(granted.body)).toMatchObject({ token_type: "Bearer", expires_in: 3599 });
  });
});
