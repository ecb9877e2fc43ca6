/**
 * Who is calling, and may they. In Azure the Function App sits behind App Service authentication
 * (Entra), which signs the caller in, strips any client-sent principal headers and injects
 * `x-ms-client-principal` (base64 JSON with the token's claims); Shire authorizes every route from
 * it against three app roles, each including the ones below it:
 *
 *   Shire.Reader    GET routes, the dry run
 *   Shire.Operator  install (and, as they come, upgrade, rotate, waves, secrets, repair)
 *   Shire.Admin     teardown, purge, cancel
 *
 * Locally the same header is judged the same way, so a test or a script can act as any role. A
 * request without it gets the development principal (an admin, so the README's curl examples stay
 * short) only against the sandbox and unless `SHIRE_AUTH=strict` (`npm start -- --auth strict`);
 * pointed at a real cloud there is never a default principal.
 */
import type { HttpRequest } from "@azure/functions";

export const ROLES = ["Shire.Reader", "Shire.Operator", "Shire.Admin"] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  name: string;
  objectId?: string;
  roles: Role[];
  /** The local development principal (no header, sandbox, not strict). */
  development?: boolean;
}

export const DEVELOPMENT_PRINCIPAL: Principal = {
  name: "local-developer",
  roles: ["Shire.Admin"],
  development: true,
};

const OBJECT_ID_CLAIMS = ["http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"];
const NAME_CLAIMS = ["name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"];
const ROLE_CLAIMS = ["roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"];

interface ClientPrincipal {
  auth_typ?: string;
  name_typ?: string;
  role_typ?: string;
  claims?: { typ?: string; val?: string }[];
}

export type PrincipalResult =
  { ok: true; principal: Principal } | { ok: false; status: 401; code: string; message: string };

/** Whether requests without a principal get the development one: only against the sandbox, and not when strict. */
export function developmentPrincipalAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.SHIRE_CLOUD ?? "Sandbox") === "Sandbox" && env.SHIRE_AUTH !== "strict";
}

export function principalOf(request: HttpRequest, env: NodeJS.ProcessEnv = process.env): PrincipalResult {
  const header = request.headers.get("x-ms-client-principal");
  if (!header) {
    if (developmentPrincipalAllowed(env)) return { ok: true, principal: DEVELOPMENT_PRINCIPAL };
    return {
      ok: false,
      status: 401,
      code: "Unauthenticated",
      message:
        "Sign in first: this API takes requests through App Service authentication (Entra), which names the caller.",
    };
  }
  let decoded: ClientPrincipal;
  try {
    decoded = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as ClientPrincipal;
    if (!decoded || typeof decoded !== "object" || !Array.isArray(decoded.claims)) throw new Error("no claims");
  } catch {
    return {
      ok: false,
      status: 401,
      code: "InvalidPrincipal",
      message: "x-ms-client-principal is not a principal (base64 JSON with claims).",
    };
  }
  const claims = decoded.claims ?? [];
  const values = (types: string[]) =>
    claims
      .filter((claim) => claim.typ && types.includes(claim.typ) && typeof claim.val === "string")
      .map((claim) => claim.val!);
  const roleTypes = decoded.role_typ ? [decoded.role_typ, ...ROLE_CLAIMS] : ROLE_CLAIMS;
  const nameTypes = decoded.name_typ ? [decoded.name_typ, ...NAME_CLAIMS] : NAME_CLAIMS;
  const roles = values(roleTypes).filter((role): role is Role => (ROLES as readonly string[]).includes(role));
  const objectId = values(OBJECT_ID_CLAIMS)[0];
  return {
    ok: true,
    principal: { name: values(nameTypes)[0] ?? objectId ?? "unknown", ...(objectId ? { objectId } : {}), roles },
  };
}

/** Each role includes the ones below it. */
export function hasRole(principal: Principal, needed: Role): boolean {
  const rank = (role: Role) => ROLES.indexOf(role);
  return principal.roles.some((role) => rank(role) >= rank(needed));
}

/** How an operation record names the caller: name and object id. */
export function actorName(principal: Principal): string {
  return principal.objectId ? `${principal.name} (${principal.objectId})` : principal.name;
}

/** A principal header for tests and scripts acting as someone locally (what Easy Auth injects in Azure). */
export function principalHeader(
  name: string,
  roles: Role[],
  objectId = "00000000-0000-4000-8000-00000000a11c",
): string {
  const claims = [
    { typ: "name", val: name },
    { typ: OBJECT_ID_CLAIMS[0], val: objectId },
    ...roles.map((role) => ({ typ: "roles", val: role })),
  ];
  return Buffer.from(JSON.stringify({ auth_typ: "aad", name_typ: "name", role_typ: "roles", claims })).toString(
    "base64",
  );
}
