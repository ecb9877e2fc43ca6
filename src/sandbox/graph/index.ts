/**
 * Microsoft Graph v1.0, the subset Shire uses: applications (+ passwords, federated credentials),
 * service principals (+ appRoleAssignedTo), groups (+ members, appRoleAssignments) and deleted
 * items (restore, purge). Eventual consistency is emulated: an object is invisible to reads and
 * to references for `graphReplicationDelayMs` after it is created (the create call's response is
 * right, as Microsoft's guidance says to use it). Non-admin callers hit the 250-object quota.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { SandboxEnvironment, SandboxServiceModule } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse, type SandboxRoute } from "../types";
import { decodeCaller } from "../auth";

type Kind = "application" | "servicePrincipal" | "group";

interface DirectoryObject {
  kind: Kind;
  data: Record<string, unknown>;
  createdAt: number;
  createdBy: string;
  deletedAt?: number;
  /** Application passwords without their secret text. */
  passwords?: Record<string, unknown>[];
  federatedCredentials?: Record<string, unknown>[];
  members?: string[];
  assignments?: Record<string, unknown>[];
}

const QUOTA = 250;
const ODATA_TYPE: Record<Kind, string> = { application: "#microsoft.graph.application", servicePrincipal: "#microsoft.graph.servicePrincipal", group: "#microsoft.graph.group" };

export function createGraphService(env: SandboxEnvironment): SandboxServiceModule {
  const objects = new Map<string, DirectoryObject>();

  const notFound = (id: string) => new SandboxHttpError(404, "Request_ResourceNotFound", `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
  const badRequest = (message: string, code = "Request_BadRequest") => new SandboxHttpError(400, code, message);
  const visible = (object: DirectoryObject) => env.clock.now() - object.createdAt >= env.faults.graphReplicationDelayMs;

  function caller(request: SandboxRequest): string {
    const identity = decodeCaller(request);
    if (!identity) throw new SandboxHttpError(401, "InvalidAuthenticationToken", "Access token is empty.");
    return identity.oid;
  }

  /** A live, replicated object of the kind. */
  function find(kind: Kind, id: string): DirectoryObject {
    const object = objects.get(id.toLowerCase());
    if (!object || object.kind !== kind || object.deletedAt !== undefined || !visible(object)) throw notFound(id);
    return object;
  }

  function view(object: DirectoryObject, select?: string | null): Record<string, unknown> {
    const full: Record<string, unknown> = { "@odata.type": ODATA_TYPE[object.kind], ...object.data };
    if (object.kind === "application") full.passwordCredentials = object.passwords ?? [];
    if (!select) return full;
    const fields = select.split(",").map((field) => field.trim());
    return Object.fromEntries(Object.entries(full).filter(([key]) => fields.includes(key) || key === "@odata.type"));
  }

  function applyFilter(items: DirectoryObject[], filter: string | null): DirectoryObject[] {
    if (!filter) return items;
    const match = /^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$/.exec(filter);
    if (!match) throw badRequest(`Unsupported or invalid query filter clause specified: '${filter}'.`, "Request_UnsupportedQuery");
    const [, property, raw] = match;
    const value = raw.replace(/''/g, "'");
    return items.filter((item) => String(item.data[property] ?? "").toLowerCase() === value.toLowerCase());
  }

  function create(request: SandboxRequest, kind: Kind, data: Record<string, unknown>): DirectoryObject {
    const creator = caller(request);
    const owned = [...objects.values()].filter((object) => object.createdBy === creator).length;
    if (owned >= QUOTA) throw badRequest("The directory object quota limit for the Principal has been exceeded. Please ask your administrator to increase the quota limit or delete objects to reduce the used quota.", "Directory_QuotaExceeded");
    const id = randomUUID();
    const object: DirectoryObject = { kind, data: { id, createdDateTime: new Date(env.clock.now()).toISOString(), ...data }, createdAt: env.clock.now(), createdBy: creator };
    objects.set(id, object);
    if (kind !== "application") env.directory.add({ id, kind: kind === "group" ? "Group" : "ServicePrincipal", displayName: String(data.displayName ?? "") });
    return object;
  }

  const body = (request: SandboxRequest) => (request.body ?? {}) as Record<string, unknown>;

  const list = (kind: Kind) => (request: SandboxRequest): SandboxResponse => {
    caller(request);
    const items = applyFilter([...objects.values()].filter((object) => object.kind === kind && object.deletedAt === undefined && visible(object)), request.query.get("$filter"));
    const top = Number(request.query.get("$top") ?? 0);
    return { status: 200, body: { "@odata.context": `https://graph.microsoft.com/v1.0/$metadata#${kind}s`, value: (top > 0 ? items.slice(0, top) : items).map((item) => view(item, request.query.get("$select"))) } };
  };

  const get = (kind: Kind) => (request: SandboxRequest): SandboxResponse => {
    caller(request);
    return { status: 200, body: view(find(kind, request.params.id), request.query.get("$select")) };
  };

  const patch = (kind: Kind, allowed: string[]) => (request: SandboxRequest): SandboxResponse => {
    caller(request);
    const object = find(kind, request.params.id);
    for (const [key, value] of Object.entries(body(request))) {
      if (!allowed.includes(key)) throw badRequest(`Property '${key}' is read-only or not supported on ${kind}.`);
      object.data[key] = value;
    }
    return { status: 204 };
  };

  const remove = (kind: Kind) => (request: SandboxRequest): SandboxResponse => {
    caller(request);
    const object = find(kind, request.params.id);
    object.deletedAt = env.clock.now();
    env.directory.remove(String(object.data.id));
    return { status: 204 };
  };

  const routes: SandboxRoute[] = [
    // ---- applications
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/applications",
      handler: (request) => {
        const input = body(request);
        if (typeof input.displayName !== "string" || !input.displayName) throw badRequest("Property 'displayName' is required.");
        const { passwordCredentials: _ignored, ...rest } = input;
        const object = create(request, "application", { appId: randomUUID(), signInAudience: "AzureADMyOrg", tags: [], web: { redirectUris: [] }, ...rest });
        return { status: 201, body: view(object) };
      },
    },
    { service: "graph", method: "GET", pattern: "/v1.0/applications", handler: list("application") },
    { service: "graph", method: "GET", pattern: "/v1.0/applications/:id", handler: get("application") },
    { service: "graph", method: "PATCH", pattern: "/v1.0/applications/:id", handler: patch("application", ["displayName", "web", "tags", "signInAudience", "groupMembershipClaims", "identifierUris", "api", "appRoles", "requiredResourceAccess", "spa", "description"]) },
    { service: "graph", method: "DELETE", pattern: "/v1.0/applications/:id", handler: remove("application") },
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/applications/:id/addPassword",
      handler: (request) => {
        caller(request);
        const application = find("application", request.params.id);
        const credential = (body(request).passwordCredential ?? {}) as Record<string, unknown>;
        const secretText = randomBytes(30).toString("base64").replace(/[+/=]/g, "").slice(0, 40);
        env.secrets.remember(secretText);
        const stored = {
          customKeyIdentifier: null,
          displayName: credential.displayName ?? null,
          endDateTime: credential.endDateTime ?? new Date(env.clock.now() + 2 * 365 * 86_400_000).toISOString(),
          hint: secretText.slice(0, 3),
          keyId: randomUUID(),
          secretText: null,
          startDateTime: new Date(env.clock.now()).toISOString(),
        };
        application.passwords = [...(application.passwords ?? []), stored];
        return { status: 200, body: { "@odata.type": "#microsoft.graph.passwordCredential", ...stored, secretText } };
      },
    },
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/applications/:id/removePassword",
      handler: (request) => {
        caller(request);
        const application = find("application", request.params.id);
        const keyId = String(body(request).keyId ?? "");
        const before = application.passwords?.length ?? 0;
        application.passwords = (application.passwords ?? []).filter((password) => password.keyId !== keyId);
        if (application.passwords.length === before) throw badRequest(`No password credential with keyId '${keyId}' was found.`, "Request_ResourceNotFound");
        return { status: 204 };
      },
    },
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/applications/:id/federatedIdentityCredentials",
      handler: (request) => {
        caller(request);
        const application = find("application", request.params.id);
        const input = body(request);
        for (const field of ["name", "issuer", "subject", "audiences"]) if (!input[field]) throw badRequest(`Property '${field}' is required.`);
        if ((application.federatedCredentials ?? []).some((credential) => credential.name === input.name)) throw new SandboxHttpError(409, "Request_MultipleObjectsWithSameKeyValue", `A federated identity credential named '${String(input.name)}' already exists.`);
        const credential = { id: randomUUID(), ...input };
        application.federatedCredentials = [...(application.federatedCredentials ?? []), credential];
        return { status: 201, body: credential };
      },
    },
    {
      service: "graph",
      method: "GET",
      pattern: "/v1.0/applications/:id/federatedIdentityCredentials",
      handler: (request) => {
        caller(request);
        return { status: 200, body: { value: find("application", request.params.id).federatedCredentials ?? [] } };
      },
    },
    {
      service: "graph",
      method: "DELETE",
      pattern: "/v1.0/applications/:id/federatedIdentityCredentials/:credentialId",
      handler: (request) => {
        caller(request);
        const application = find("application", request.params.id);
        const before = application.federatedCredentials?.length ?? 0;
        application.federatedCredentials = (application.federatedCredentials ?? []).filter((credential) => credential.id !== request.params.credentialId && credential.name !== request.params.credentialId);
        if (application.federatedCredentials.length === before) throw notFound(request.params.credentialId);
        return { status: 204 };
      },
    },
    // ---- service principals
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/servicePrincipals",
      handler: (request) => {
        const input = body(request);
        const application = [...objects.values()].find((object) => object.kind === "application" && object.deletedAt === undefined && object.data.appId === input.appId);
        // The application must have replicated before a service principal can be made for it.
        if (!application || !visible(application)) throw badRequest(`The appId '${String(input.appId)}' of the service principal does not reference a valid application object.`, "Request_BadRequest");
        if ([...objects.values()].some((object) => object.kind === "servicePrincipal" && object.deletedAt === undefined && object.data.appId === input.appId)) {
          throw new SandboxHttpError(409, "Request_MultipleObjectsWithSameKeyValue", "The service principal cannot be created, updated, or restored because the service principal name is already in use.");
        }
        const object = create(request, "servicePrincipal", { appId: input.appId, displayName: application.data.displayName, appRoleAssignmentRequired: false, tags: [], servicePrincipalType: "Application", ...input });
        return { status: 201, body: view(object) };
      },
    },
    { service: "graph", method: "GET", pattern: "/v1.0/servicePrincipals", handler: list("servicePrincipal") },
    { service: "graph", method: "GET", pattern: "/v1.0/servicePrincipals/:id", handler: get("servicePrincipal") },
    { service: "graph", method: "PATCH", pattern: "/v1.0/servicePrincipals/:id", handler: patch("servicePrincipal", ["appRoleAssignmentRequired", "tags", "accountEnabled", "notes", "preferredSingleSignOnMode"]) },
    { service: "graph", method: "DELETE", pattern: "/v1.0/servicePrincipals/:id", handler: remove("servicePrincipal") },
    {
      service: "graph",
      method: "GET",
      pattern: "/v1.0/servicePrincipals/:id/appRoleAssignedTo",
      handler: (request) => {
        caller(request);
        return { status: 200, body: { value: find("servicePrincipal", request.params.id).assignments ?? [] } };
      },
    },
    { service: "graph", method: "POST", pattern: "/v1.0/servicePrincipals/:id/appRoleAssignedTo", handler: (request) => assign(request, request.params.id, String(body(request).principalId ?? "")) },
    { service: "graph", method: "POST", pattern: "/v1.0/groups/:id/appRoleAssignments", handler: (request) => assign(request, String(body(request).resourceId ?? ""), request.params.id) },
    {
      service: "graph",
      method: "GET",
      pattern: "/v1.0/groups/:id/appRoleAssignments",
      handler: (request) => {
        caller(request);
        find("group", request.params.id);
        const value = [...objects.values()].flatMap((object) => object.assignments ?? []).filter((assignment) => assignment.principalId === request.params.id.toLowerCase());
        return { status: 200, body: { value } };
      },
    },
    {
      service: "graph",
      method: "DELETE",
      pattern: "/v1.0/servicePrincipals/:id/appRoleAssignedTo/:assignmentId",
      handler: (request) => {
        caller(request);
        const principal = find("servicePrincipal", request.params.id);
        const before = principal.assignments?.length ?? 0;
        principal.assignments = (principal.assignments ?? []).filter((assignment) => assignment.id !== request.params.assignmentId);
        if (principal.assignments.length === before) throw notFound(request.params.assignmentId);
        return { status: 204 };
      },
    },
    // ---- groups
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/groups",
      handler: (request) => {
        const input = body(request);
        for (const field of ["displayName", "mailNickname"]) if (typeof input[field] !== "string" || !input[field]) throw badRequest(`Property '${field}' is required.`);
        if (input.mailEnabled !== false || input.securityEnabled !== true) throw badRequest("Only security groups (mailEnabled false, securityEnabled true) can be created through this API.");
        if (!/^[\x21-\x7e]{1,64}$/.test(String(input.mailNickname)) || /[@()\\[\]";:<>, ]/.test(String(input.mailNickname))) throw badRequest("Invalid value specified for property 'mailNickname' of resource 'Group'.");
        const object = create(request, "group", { ...input, groupTypes: [] });
        object.members = [];
        return { status: 201, body: view(object) };
      },
    },
    { service: "graph", method: "GET", pattern: "/v1.0/groups", handler: list("group") },
    { service: "graph", method: "GET", pattern: "/v1.0/groups/:id", handler: get("group") },
    { service: "graph", method: "PATCH", pattern: "/v1.0/groups/:id", handler: patch("group", ["displayName", "description", "mailNickname"]) },
    { service: "graph", method: "DELETE", pattern: "/v1.0/groups/:id", handler: remove("group") },
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/groups/:id/members/$ref",
      handler: (request) => {
        caller(request);
        const group = find("group", request.params.id);
        const reference = String(body(request)["@odata.id"] ?? "");
        const memberId = reference.split("/").at(-1)?.toLowerCase() ?? "";
        const member = objects.get(memberId);
        if (!member || member.deletedAt !== undefined || !visible(member)) throw notFound(memberId);
        if (group.members?.includes(memberId)) throw badRequest("One or more added object references already exist for the following modified properties: 'members'.");
        group.members = [...(group.members ?? []), memberId];
        return { status: 204 };
      },
    },
    {
      service: "graph",
      method: "GET",
      pattern: "/v1.0/groups/:id/members",
      handler: (request) => {
        caller(request);
        const group = find("group", request.params.id);
        return { status: 200, body: { value: (group.members ?? []).map((id) => objects.get(id)).filter(Boolean).map((member) => view(member!)) } };
      },
    },
    {
      service: "graph",
      method: "DELETE",
      pattern: "/v1.0/groups/:id/members/:memberId/$ref",
      handler: (request) => {
        caller(request);
        const group = find("group", request.params.id);
        if (!group.members?.includes(request.params.memberId.toLowerCase())) throw notFound(request.params.memberId);
        group.members = group.members.filter((id) => id !== request.params.memberId.toLowerCase());
        return { status: 204 };
      },
    },
    // ---- deleted items (30 days, restorable, purgeable)
    {
      service: "graph",
      method: "GET",
      pattern: "/v1.0/directory/deletedItems/:id",
      handler: (request) => {
        caller(request);
        const object = deleted(request.params.id);
        return { status: 200, body: { ...view(object), deletedDateTime: new Date(object.deletedAt!).toISOString() } };
      },
    },
    {
      service: "graph",
      method: "DELETE",
      pattern: "/v1.0/directory/deletedItems/:id",
      handler: (request) => {
        caller(request);
        deleted(request.params.id);
        objects.delete(request.params.id.toLowerCase());
        return { status: 204 };
      },
    },
    {
      service: "graph",
      method: "POST",
      pattern: "/v1.0/directory/deletedItems/:id/restore",
      handler: (request) => {
        caller(request);
        const object = deleted(request.params.id);
        object.deletedAt = undefined;
        if (object.kind !== "application") env.directory.add({ id: String(object.data.id), kind: object.kind === "group" ? "Group" : "ServicePrincipal" });
        return { status: 200, body: view(object) };
      },
    },
  ];

  function deleted(id: string): DirectoryObject {
    const object = objects.get(id.toLowerCase());
    const retentionMs = 30 * 86_400_000;
    if (!object || object.deletedAt === undefined || env.clock.now() - object.deletedAt > retentionMs) throw notFound(id);
    return object;
  }

  function assign(request: SandboxRequest, resourceId: string, principalId: string): SandboxResponse {
    caller(request);
    const resource = find("servicePrincipal", resourceId);
    const input = body(request);
    const principal = objects.get(principalId.toLowerCase());
    if (!principal || principal.deletedAt !== undefined || !visible(principal)) throw notFound(principalId);
    if (String(input.resourceId ?? resourceId).toLowerCase() !== resourceId.toLowerCase()) throw badRequest("resourceId does not match the service principal in the URL.");
    const appRoleId = String(input.appRoleId ?? "");
    if (!/^[0-9a-f-]{36}$/i.test(appRoleId)) throw badRequest("appRoleId is required and must be a GUID.");
    if ((resource.assignments ?? []).some((assignment) => assignment.principalId === principalId.toLowerCase() && assignment.appRoleId === appRoleId)) {
      throw badRequest("Permission being assigned already exists on the object", "Request_BadRequest");
    }
    const assignment = {
      id: randomBytes(24).toString("base64url"),
      appRoleId,
      principalId: principalId.toLowerCase(),
      principalType: principal.kind === "group" ? "Group" : principal.kind === "servicePrincipal" ? "ServicePrincipal" : "User",
      principalDisplayName: principal.data.displayName,
      resourceId: resourceId.toLowerCase(),
      resourceDisplayName: resource.data.displayName,
      createdDateTime: new Date(env.clock.now()).toISOString(),
    };
    resource.assignments = [...(resource.assignments ?? []), assignment];
    return { status: 201, body: assignment };
  }

  return {
    name: "graph",
    routes,
    inspect: () => [...objects.values()].map((object) => ({ kind: object.kind, deleted: object.deletedAt !== undefined, ...object.data, passwordKeyIds: object.passwords?.map((password) => password.keyId), members: object.members, assignments: object.assignments })),
  };
}
