/**
 * Who is calling, and may they: bearer-token validation the way Entra-protected services do it
 * (signature when signed, audience, tenant, lifetime), and RBAC decisions from ARM's role
 * assignments (Actions and DataActions, effective only once they have propagated).
 *
 * Each service renders a `TokenProblem` in its own error shape (Key Vault AKV100xx, Graph
 * InvalidAuthenticationToken, Storage InvalidAuthenticationInfo, ARM AuthenticationFailed...).
 */
import { noteGate, recording } from "./timings";
import {
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  randomUUID,
  type KeyObject,
} from "node:crypto";
import type { SandboxEnvironment } from "./service";
import type { SandboxRequest } from "./types";
import type { ArmStore } from "./arm/store";
import { BUILT_IN_ROLES, roleGuid } from "./arm/providers/authorization";
import { SANDBOX_DNS_SUFFIX } from "../azure/endpoints";

export interface Caller {
  /** Object id of the calling principal, lowercased. */
  oid: string;
  tid: string;
  /** Client (application) id, when the token names one. */
  appId?: string;
  /** Issuer as the token states it (or as the sandbox would have issued it). */
  issuer: string;
}

export type TokenProblem =
  | { reason: "missing" }
  | { reason: "malformed" }
  | { reason: "signature" }
  | { reason: "audience"; found: string }
  | { reason: "issuer"; found: string; expected: string }
  | { reason: "expired"; expiredAt: number; now: number }
  | { reason: "notYetValid"; validFrom: number; now: number };

export type TokenCheck =
  { ok: true; caller: Caller; claims: Record<string, unknown> } | { ok: false; problem: TokenProblem };

/** The key the token endpoint signs with, and its JWK for `jwks_uri`. */
export interface TokenKeys {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: Record<string, unknown>;
}

/** A new signing key, or the kept one (`saved`, from the state directory). */
export function createTokenKeys(saved?: { kid: string; privateKeyPem: string }): TokenKeys {
  const { privateKey, publicKey } = saved
    ? (() => {
        const key = createPrivateKey(saved.privateKeyPem);
        return { privateKey: key, publicKey: createPublicKey(key) };
      })()
    : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = saved?.kid ?? randomUUID().replace(/-/g, "");
  return {
    kid,
    privateKey,
    publicKey,
    jwk: { ...publicKey.export({ format: "jwk" }), kty: "RSA", use: "sig", kid, alg: "RS256" },
  };
}

/**
 * Token lifetimes run on the wall clock, not the sandbox clock: the SDK clients cache tokens by
 * `Date.now()`, so a token's expiry must be judged on the clock they judge it on. Moving the
 * sandbox clock (replication, retention, LROs) then neither expires nor revives a token.
 */
export const tokenClock = (): number => Date.now();

/** Clock skew Entra-protected services tolerate on `nbf` and `exp`. */
const SKEW_SECONDS = 300;

const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

export function signToken(keys: TokenKeys, claims: Record<string, unknown>): string {
  const input = `${encode({ typ: "JWT", alg: "RS256", kid: keys.kid })}.${encode(claims)}`;
  const signature = createSign("RSA-SHA256").update(input).sign(keys.privateKey).toString("base64url");
  return `${input}.${signature}`;
}

/** The issuer the sandbox's token endpoint names for a tenant (and its OpenID configuration states). */
export function sandboxIssuer(env: SandboxEnvironment, tenantId: string): string {
  return `https://login.${SANDBOX_DNS_SUFFIX}:${env.port}/${tenantId}/v2.0`;
}

/** Audience as compared: lowercased, without the sandbox's port (an artefact of loopback). */
function normalizeAudience(aud: string, env: SandboxEnvironment): string {
  return aud
    .toLowerCase()
    .replace(new RegExp(`(\\.${SANDBOX_DNS_SUFFIX.replace(/\./g, "\\.")}):${env.port}(?=/|$)`), "$1");
}

/**
 * Validate the request's bearer token for a service: `audiences` are the values that service
 * accepts (exactly: Key Vault refuses a trailing slash that ARM accepts), `tenantId` the tenant
 * it belongs to. Unsigned (`alg: none`) tokens are the sandbox's test double (SandboxCredential)
 * and are accepted; signed ones must carry the token endpoint's signature.
 */
export function validateToken(
  request: Pick<SandboxRequest, "headers">,
  env: SandboxEnvironment,
  expected: { audiences: string[]; tenantId: string },
): TokenCheck {
  const header = request.headers.authorization;
  if (typeof header !== "string" || !header.trim()) return { ok: false, problem: { reason: "missing" } };
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match) return { ok: false, problem: { reason: "missing" } };
  const [head, body, signature] = match[1].split(".");
  if (!head || !body || signature === undefined) return { ok: false, problem: { reason: "malformed" } };
  let claims: Record<string, unknown>;
  let alg: unknown;
  let kid: unknown;
  try {
    ({ alg, kid } = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: unknown; kid?: unknown });
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return { ok: false, problem: { reason: "malformed" } };
  }
  if (
    !claims ||
    typeof claims !== "object" ||
    typeof claims.oid !== "string" ||
    typeof claims.tid !== "string" ||
    typeof claims.exp !== "number"
  )
    return { ok: false, problem: { reason: "malformed" } };
  if (alg !== "none") {
    const valid =
      alg === "RS256" &&
      kid === env.tokenKeys.kid &&
      createVerify("RSA-SHA256")
        .update(`${head}.${body}`)
        .verify(env.tokenKeys.publicKey, Buffer.from(signature, "base64url"));
    if (!valid) return { ok: false, problem: { reason: "signature" } };
  }
  const aud = typeof claims.aud === "string" ? claims.aud : "";
  const accepted = expected.audiences.map((audience) => normalizeAudience(audience, env));
  if (!accepted.includes(normalizeAudience(aud, env)))
    return { ok: false, problem: { reason: "audience", found: aud } };
  const issuer = typeof claims.iss === "string" ? claims.iss : sandboxIssuer(env, claims.tid);
  if (
    claims.tid.toLowerCase() !== expected.tenantId.toLowerCase() ||
    !issuer.toLowerCase().includes(`/${claims.tid.toLowerCase()}/`)
  ) {
    return { ok: false, problem: { reason: "issuer", found: issuer, expected: sandboxIssuer(env, expected.tenantId) } };
  }
  const now = Math.floor(tokenClock() / 1000);
  if (now >= claims.exp + SKEW_SECONDS)
    return { ok: false, problem: { reason: "expired", expiredAt: claims.exp, now } };
  if (typeof claims.nbf === "number" && now + SKEW_SECONDS < claims.nbf)
    return { ok: false, problem: { reason: "notYetValid", validFrom: claims.nbf, now } };
  const appId =
    typeof claims.appid === "string" ? claims.appid : typeof claims.azp === "string" ? claims.azp : undefined;
  return { ok: true, claims, caller: { oid: claims.oid.toLowerCase(), tid: claims.tid, appId, issuer } };
}

// ---- ARM's front door

const ARM_AUDIENCES = [`https://management.${SANDBOX_DNS_SUFFIX}`, `https://management.${SANDBOX_DNS_SUFFIX}/`];

/** A 401 from ARM, with the challenge ARM sends (`error="invalid_token"` and why). */
export class ArmAuthenticationError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly challenge: string,
  ) {
    super(message);
  }
}

/** ARM authenticates every request before anything else (api-version, routing, throttling). */
export function authenticateArm(request: SandboxRequest, env: SandboxEnvironment): Caller {
  const check = validateToken(request, env, { audiences: ARM_AUDIENCES, tenantId: env.tenantId });
  if (check.ok) return check.caller;
  const challenge = (description: string) =>
    `Bearer authorization_uri="https://login.${SANDBOX_DNS_SUFFIX}:${env.port}/", error="invalid_token", error_description="${description}"`;
  const problem = check.problem;
  switch (problem.reason) {
    case "missing":
      throw new ArmAuthenticationError(
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing.",
        challenge("The authentication failed because of missing 'Authorization' header."),
      );
    case "malformed":
    case "signature":
      throw new ArmAuthenticationError(
        "InvalidAuthenticationToken",
        "The access token is invalid.",
        challenge("The access token is invalid."),
      );
    case "audience": {
      const message = `The access token has been obtained for wrong audience or resource '${problem.found}'. It should exactly match with one of the allowed audiences ${ARM_AUDIENCES.map((audience) => `'${audience}'`).join(",")}.`;
      throw new ArmAuthenticationError(
        "InvalidAuthenticationTokenAudience",
        message,
        challenge("The access token has been obtained from wrong audience or resource."),
      );
    }
    case "issuer": {
      const message = `The access token is from the wrong issuer '${problem.found}'. It must match the tenant '${problem.expected}' associated with this subscription. Please use the authority (URL) 'https://login.${SANDBOX_DNS_SUFFIX}:${env.port}/${env.tenantId}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`;
      throw new ArmAuthenticationError(
        "InvalidAuthenticationTokenTenant",
        message,
        challenge("The access token is from the wrong issuer."),
      );
    }
    case "expired":
    case "notYetValid": {
      const message =
        problem.reason === "expired"
          ? `The access token expiry UTC time '${utc(problem.expiredAt)}' is earlier than current UTC time '${utc(problem.now)}'.`
          : `The access token is not valid before UTC time '${utc(problem.validFrom)}'.`;
      throw new ArmAuthenticationError("ExpiredAuthenticationToken", message, challenge(message));
    }
  }
}

function utc(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

// ---- RBAC

/**
 * Role assignments of a principal that apply at `scopeId` (assigned there or at a parent scope)
 * and have taken effect: Azure RBAC changes take up to ~10 minutes to reach the data planes
 * (fault `rbacPropagationMs`, on the sandbox clock, scaled like LRO durations).
 */
export function effectiveRoleAssignments(
  env: SandboxEnvironment,
  store: ArmStore,
  principalId: string,
  scopeId: string,
): { roleDefinitionId: string; scope: string; createdAt: number }[] {
  const scope = scopeId.toLowerCase();
  const delay = env.faults.rbacPropagationMs * env.faults.latencyScale;
  const now = env.clock.now();
  return store
    .listByType("Microsoft.Authorization/roleAssignments")
    .map((stored) => ({
      properties: stored.resource.properties as { scope: string; roleDefinitionId: string; principalId: string },
      createdAt: stored.createdAt,
    }))
    .filter(({ properties }) => properties.principalId.toLowerCase() === principalId.toLowerCase())
    .filter(
      ({ properties }) =>
        scope === properties.scope.toLowerCase() || scope.startsWith(`${properties.scope.toLowerCase()}/`),
    )
    .filter(({ createdAt }) => now >= createdAt + delay)
    .map(({ properties, createdAt }) => ({
      roleDefinitionId: properties.roleDefinitionId,
      scope: properties.scope,
      createdAt,
    }));
}

function matches(pattern: string, action: string): boolean {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i").test(action);
}

/**
 * Does the role permit the operation? Control-plane operations are Actions (minus NotActions),
 * data operations DataActions (minus NotDataActions): a role with `*` Actions (Owner,
 * Contributor) grants no data access, and a data role grants no control-plane access beyond its
 * own Actions.
 */
export function rolePermits(roleDefinitionId: string, operation: string, kind: "action" | "dataAction"): boolean {
  // The role table is ARM's (providers/authorization.ts); read it as the built-in roles doc shapes a role.
  const role = BUILT_IN_ROLES[roleGuid(roleDefinitionId)] as
    { actions?: string[]; notActions?: string[]; dataActions: string[]; notDataActions?: string[] } | undefined;
  if (!role) return false;
  const [allowed, denied] =
    kind === "action" ? [role.actions ?? [], role.notActions ?? []] : [role.dataActions, role.notDataActions ?? []];
  return (
    allowed.some((pattern) => matches(pattern, operation)) && !denied.some((pattern) => matches(pattern, operation))
  );
}

/** Is the principal allowed the operation at the scope, counting only propagated assignments? */
export function rbacAllows(
  env: SandboxEnvironment,
  store: ArmStore,
  principalId: string,
  scopeId: string,
  operation: string,
  kind: "action" | "dataAction",
): boolean {
  const allowed = effectiveRoleAssignments(env, store, principalId, scopeId).some((assignment) =>
    rolePermits(assignment.roleDefinitionId, operation, kind),
  );
  noteRbacGate(env, store, principalId, scopeId, operation, kind, allowed);
  return allowed;
}

/**
 * Is the principal allowed a management-plane operation (an Action) at the scope? ARM's own
 * check: every assignment at the scope or above counts, with no data-plane propagation wait.
 */
export function armActionAllowed(store: ArmStore, principalId: string, scopeId: string, operation: string): boolean {
  const scope = scopeId.toLowerCase();
  return store
    .listByType("Microsoft.Authorization/roleAssignments")
    .map((stored) => stored.resource.properties as { scope: string; roleDefinitionId: string; principalId: string })
    .some(
      (properties) =>
        properties.principalId.toLowerCase() === principalId.toLowerCase() &&
        (scope === properties.scope.toLowerCase() || scope.startsWith(`${properties.scope.toLowerCase()}/`)) &&
        rolePermits(properties.roleDefinitionId, operation, "action"),
    );
}

/**
 * For the bench's bound (timings.ts): the propagation the check waited on, from the earliest
 * assignment that permits the operation once propagated. None when no assignment would permit it.
 */
function noteRbacGate(
  env: SandboxEnvironment,
  store: ArmStore,
  principalId: string,
  scopeId: string,
  operation: string,
  kind: "action" | "dataAction",
  allowed: boolean,
): void {
  const delayMs = env.faults.rbacPropagationMs * env.faults.latencyScale;
  if (delayMs <= 0 || !recording()) return;
  const scope = scopeId.toLowerCase();
  const origins = store
    .listByType("Microsoft.Authorization/roleAssignments")
    .map((stored) => ({
      properties: stored.resource.properties as { scope: string; roleDefinitionId: string; principalId: string },
      createdAt: stored.createdAt,
    }))
    .filter(
      ({ properties }) =>
        properties.principalId.toLowerCase() === principalId.toLowerCase() &&
        (scope === properties.scope.toLowerCase() || scope.startsWith(`${properties.scope.toLowerCase()}/`)) &&
        rolePermits(properties.roleDefinitionId, operation, kind),
    )
    .map(({ createdAt }) => createdAt);
  if (origins.length > 0) noteGate({ kind: "rbac", originAt: Math.min(...origins), delayMs, open: allowed });
}
