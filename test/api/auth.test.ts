/** Who is calling: the principal Easy Auth injects, the development principal, and the roles' order. */
import { describe, expect, it } from "vitest";
import { HttpRequest } from "@azure/functions";
import { actorName, hasRole, principalHeader, principalOf } from "../../src/api/auth";

const request = (headers: Record<string, string> = {}) =>
  new HttpRequest({ url: "http://localhost/api/slugs", method: "GET", headers });

describe("principalOf", () => {
  it("reads Easy Auth's x-ms-client-principal: name, object id, the Shire roles only", () => {
    const header = Buffer.from(
      JSON.stringify({
        auth_typ: "aad",
        name_typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        role_typ: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        claims: [
          { typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", val: "bob@contoso.com" },
          { typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: "b0b" },
          { typ: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", val: "Shire.Operator" },
          { typ: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", val: "Something.Else" },
        ],
      }),
    ).toString("base64");
    const result = principalOf(request({ "x-ms-client-principal": header }), { SHIRE_CLOUD: "AzureCloud" });
    expect(result).toEqual({
      ok: true,
      principal: { name: "bob@contoso.com", objectId: "b0b", roles: ["Shire.Operator"] },
    });
    if (result.ok) expect(actorName(result.principal)).toBe("bob@contoso.com (b0b)");
  });

  it("gives the development admin only against the sandbox and not when strict; never on a real cloud", () => {
    expect(principalOf(request(), {})).toMatchObject({
      ok: true,
      principal: { name: "local-developer", development: true },
    });
    expect(principalOf(request(), { SHIRE_CLOUD: "Sandbox", SHIRE_AUTH: "strict" })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(principalOf(request(), { SHIRE_CLOUD: "AzureCloud" })).toMatchObject({ ok: false, code: "Unauthenticated" });
    // A header, even locally, is judged as it is: a reader stays a reader.
    const reader = principalOf(request({ "x-ms-client-principal": principalHeader("r", ["Shire.Reader"]) }), {});
    expect(reader.ok && reader.principal.roles).toEqual(["Shire.Reader"]);
    expect(principalOf(request({ "x-ms-client-principal": "e30=" }), {})).toMatchObject({
      ok: false,
      code: "InvalidPrincipal",
    });
  });

  it("orders the roles: an admin is an operator and a reader, a reader neither", () => {
    const admin = { name: "a", roles: ["Shire.Admin" as const] };
    const reader = { name: "r", roles: ["Shire.Reader" as const] };
    expect(["Shire.Reader", "Shire.Operator", "Shire.Admin"].map((role) => hasRole(admin, role as never))).toEqual([
      true,
      true,
      true,
    ]);
    expect(["Shire.Reader", "Shire.Operator", "Shire.Admin"].map((role) => hasRole(reader, role as never))).toEqual([
      true,
      false,
      false,
    ]);
    expect(hasRole({ name: "n", roles: [] }, "Shire.Reader")).toBe(false);
  });
});
