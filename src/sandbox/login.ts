/** A token endpoint and OpenID configuration, so credential types pointed at the sandbox work. */
import type { SandboxEnvironment, SandboxServiceModule } from "./service";
import { SANDBOX_BROKER_OBJECT_ID } from "../azure/credential";

export function createLoginService(env: SandboxEnvironment): SandboxServiceModule {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return {
    name: "login",
    routes: [
      {
        service: "login",
        method: "POST",
        pattern: "/:tenant/oauth2/v2.0/token",
        handler: (request) => {
          const form = new URLSearchParams(request.rawBody.toString("utf8"));
          const scope = form.get("scope") ?? "";
          const token = `${encode({ alg: "none", typ: "JWT" })}.${encode({ tid: request.params.tenant, oid: SANDBOX_BROKER_OBJECT_ID, aud: scope.replace(/\/\.default$/, ""), exp: Math.floor(env.clock.now() / 1000) + 3600 })}.`;
          return { status: 200, body: { token_type: "Bearer", expires_in: 3600, ext_expires_in: 3600, access_token: token } };
        },
      },
      {
        service: "login",
        method: "GET",
        pattern: "/:tenant/v2.0/.well-known/openid-configuration",
        handler: (request) => ({
          status: 200,
          body: {
            issuer: `${request.baseUrl}/${request.params.tenant}/v2.0`,
            token_endpoint: `${request.baseUrl}/${request.params.tenant}/oauth2/v2.0/token`,
            authorization_endpoint: `${request.baseUrl}/${request.params.tenant}/oauth2/v2.0/authorize`,
            jwks_uri: `${request.baseUrl}/${request.params.tenant}/discovery/v2.0/keys`,
            tenant_region_scope: "EU",
          },
        }),
      },
    ],
  };
}
