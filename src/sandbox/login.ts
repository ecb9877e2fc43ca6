/**
 * The Entra token endpoint, so credential types pointed at the sandbox (ClientSecretCredential,
 * MSAL) work and fail as they do against Entra: the client credentials grant with a form body,
 * the tenant, client id and secret checked against the sandbox's directory (Graph), AADSTS
 * errors, tokens signed with a key published at `jwks_uri`.
 */
import { randomUUID } from "node:crypto";
import type { SandboxEnvironment, SandboxServiceModule } from "./service";
import type { SandboxRequest, SandboxResponse } from "./types";
import { parseForm } from "./request-log";
import { sandboxIssuer, signToken, tokenClock } from "./auth";
import type { GraphService } from "./graph";

/** Audiences of the sandbox's own services (plus Storage's global one, which the blob SDK asks for). */
const BUILT_IN_RESOURCES = [
  "https://management.sandbox.localhost",
  "https://graph.sandbox.localhost",
  "https://vault.sandbox.localhost",
  "https://storage.azure.com",
];

const TOKEN_LIFETIME_SECONDS = 3599;

export function createLoginService(env: SandboxEnvironment, graph: GraphService): SandboxServiceModule {
  /** Entra's error body: `{error, error_description: "AADSTSnnn: ...\r\nTrace ID...", error_codes, ...}`. */
  function aadError(
    request: SandboxRequest,
    status: number,
    error: string,
    code: number,
    message: string,
  ): SandboxResponse {
    const traceId = randomUUID();
    const correlationId = String(
      request.headers["client-request-id"] ?? request.query.get("client-request-id") ?? randomUUID(),
    );
    const timestamp = new Date()
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d+Z$/, "Z");
    return {
      status,
      headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store, no-cache" },
      body: {
        error,
        error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
        error_codes: [code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `${request.baseUrl}/error?code=${code}`,
      },
    };
  }

  const knownTenant = (tenant: string) => tenant.toLowerCase() === env.tenantId.toLowerCase();
  const unknownTenant = (request: SandboxRequest, tenant: string) =>
    aadError(
      request,
      400,
      "invalid_request",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    );

  function token(request: SandboxRequest): SandboxResponse {
    const tenant = request.params.tenant;
    if (!knownTenant(tenant)) return unknownTenant(request, tenant);
    // Entra reads only form bodies: a JSON body has no grant_type.
    const form = /application\/x-www-form-urlencoded/i.test(String(request.headers["content-type"] ?? ""))
      ? parseForm(request.rawBody)
      : {};
    const missing = (name: string) =>
      aadError(
        request,
        400,
        "invalid_request",
        900144,
        `The request body must contain the following parameter: '${name}'.`,
      );
    if (!form.grant_type) return missing("grant_type");
    if (form.grant_type !== "client_credentials")
      return aadError(
        request,
        400,
        "unsupported_grant_type",
        70003,
        `The app requested an unsupported grant type '${form.grant_type}'.`,
      );
    if (!form.client_id) return missing("client_id");
    if (!form.scope) return missing("scope");
    const scopes = form.scope
      .split(" ")
      .filter((scope) => scope !== "offline_access" && scope !== "openid" && scope !== "profile");
    if (scopes.length !== 1 || !scopes[0].endsWith("/.default")) {
      return aadError(
        request,
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${form.scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const resource = scopes[0].slice(0, -"/.default".length);
    const bare = resource
      .toLowerCase()
      .replace(/:\d+(?=\/|$)/, "")
      .replace(/\/$/, "");
    if (!BUILT_IN_RESOURCES.includes(bare) && !graph.isResource(resource)) {
      return aadError(
        request,
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    if (form.client_assertion !== undefined)
      return aadError(
        request,
        401,
        "invalid_client",
        700027,
        "Client assertion failed signature validation: the sandbox accepts client secrets only.",
      );
    const client = graph.authenticateClient(form.client_id, form.client_secret);
    if (!client.ok) {
      switch (client.error) {
        case "unknownApplication":
          return aadError(
            request,
            400,
            "unauthorized_client",
            700016,
            `Application with identifier '${form.client_id}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
          );
        case "noServicePrincipal":
          return aadError(
            request,
            400,
            "invalid_client",
            7000229,
            `The client application ${form.client_id} is missing service principal in the tenant ${tenant}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119`,
          );
        case "missingSecret":
          return aadError(
            request,
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
          );
        case "expiredSecret":
          return aadError(
            request,
            401,
            "invalid_client",
            7000222,
            `The provided client secret keys for app '${form.client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
          );
        case "invalidSecret":
          return aadError(
            request,
            401,
            "invalid_client",
            7000215,
            `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${form.client_id}'.`,
          );
      }
    }
    const now = Math.floor(tokenClock() / 1000);
    const claims: Record<string, unknown> = {
      aud: resource,
      iss: sandboxIssuer(env, env.tenantId),
      iat: now,
      nbf: now,
      exp: now + TOKEN_LIFETIME_SECONDS,
      tid: env.tenantId,
      oid: client.servicePrincipalId,
      sub: client.servicePrincipalId,
      appid: form.client_id,
      azp: form.client_id,
      idtyp: "app",
      ver: "2.0",
      uti: randomUUID(),
    };
    if (bare === "https://graph.sandbox.localhost") claims.roles = graph.appPermissions(client.servicePrincipalId);
    const accessToken = signToken(env.tokenKeys, claims);
    env.secrets.remember(accessToken);
    return {
      status: 200,
      headers: { "cache-control": "no-store, no-cache" },
      body: {
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME_SECONDS,
        ext_expires_in: TOKEN_LIFETIME_SECONDS,
        access_token: accessToken,
      },
    };
  }

  return {
    name: "login",
    routes: [
      { service: "login", method: "POST", pattern: "/:tenant/oauth2/v2.0/token", handler: token },
      {
        service: "login",
        method: "GET",
        pattern: "/:tenant/v2.0/.well-known/openid-configuration",
        handler: (request) => {
          const tenant = request.params.tenant;
          if (!knownTenant(tenant))
            return aadError(
              request,
              400,
              "invalid_tenant",
              90002,
              `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
            );
          return {
            status: 200,
            body: {
              issuer: sandboxIssuer(env, env.tenantId),
              token_endpoint: `${request.baseUrl}/${env.tenantId}/oauth2/v2.0/token`,
              authorization_endpoint: `${request.baseUrl}/${env.tenantId}/oauth2/v2.0/authorize`,
              jwks_uri: `${request.baseUrl}/${env.tenantId}/discovery/v2.0/keys`,
              token_endpoint_auth_methods_supported: ["client_secret_post"],
              response_types_supported: ["token"],
              id_token_signing_alg_values_supported: ["RS256"],
              tenant_region_scope: "EU",
            },
          };
        },
      },
      {
        service: "login",
        method: "GET",
        pattern: "/:tenant/discovery/v2.0/keys",
        handler: (request) =>
          knownTenant(request.params.tenant) || request.params.tenant === "common"
            ? { status: 200, body: { keys: [env.tokenKeys.jwk] } }
            : unknownTenant(request, request.params.tenant),
      },
    ],
  };
}
