/**
 * Microsoft Graph v1.0, the subset Shire uses: applications (+ passwords, federated credentials,
 * owners), service principals (+ appRoleAssignedTo, createdObjects), groups (+ members, owners,
 * appRoleAssignments), users (read), deleted items (restore, purge). Objects are addressed by id
 * or alternate key (`applications(uniqueName='...')`, `servicePrincipals(appId='...')`).
 *
 * Tokens are validated (Graph audience, tenant, lifetime); each operation needs the application
 * permissions its reference page lists (permissions.ts). Eventual consistency is emulated: an
 * object is invisible to reads and references for `graphReplicationDelayMs` after it is created
 * (the create's response is right, as Microsoft's guidance says to use it). Non-admin callers hit
 * the 250-object quota, which soft-deleted objects count toward until they are purged (30 days).
 */
import type { SandboxEnvironment, SandboxServiceModule } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse, type SandboxRoute } from "../types";
import type { ArmService } from "../arm";
import { validateToken } from "../auth";
import { SANDBOX_BROKER_CLIENT_ID, SANDBOX_BROKER_OBJECT_ID } from "../../azure/credential";
import { SANDBOX_DNS_SUFFIX } from "../../azure/endpoints";
import { randomBytes, randomUUID } from "node:crypto";
import { GraphStore, hashSecret, sameHash, type DirectoryObject } from "./store";
import { ChangeMark } from "../persistence";
import { BROKER_GRAPH_PERMISSIONS, GraphPermissions } from "./permissions";
import { applicationHandlers } from "./applications";
import { directoryHandlers } from "./directory";
import { requireEventualConsistencyForCount } from "./query";
import type { GraphContext, GraphHandler, ObjectRef } from "./context";
import type { Kind } from "./model";

/** Microsoft Graph's own app id: tokens may name it as their audience. */
const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";

export type ClientAuthentication =
  | { ok: true; servicePrincipalId: string; appId: string }
  | {
      ok: false;
      error: "unknownApplication" | "noServicePrincipal" | "missingSecret" | "invalidSecret" | "expiredSecret";
    };

export interface GraphService extends SandboxServiceModule {
  /** The token endpoint's client credentials check: a live app, its service principal, a valid secret. */
  authenticateClient(clientId: string, secret: string | undefined): ClientAuthentication;
  /** Is this an application's id or identifier URI (a resource a token can be asked for)? */
  isResource(resource: string): boolean;
  /** The Graph application permissions granted to a service principal. */
  appPermissions(principalId: string): string[];
  /** Set the Graph application permissions of a principal (tests; the broker starts with Shire's). */
  grantAppPermissions(principalId: string, permissions: string[]): void;
  /** Create a user (the sandbox has no user management API of its own; tests make users here). */
  addUser(input: { displayName?: string; userPrincipalName?: string }): Record<string, unknown>;
  /** The broker's own client credentials (its app registration's secret), for ClientSecretCredential. */
  brokerClientSecret: string;
}

type Token = string | { name: string; ref?: ObjectRef };

/** Path segments after `/v1.0/`, with `name(key='value')` and `name('id')` split into a name and a reference. */
function tokenize(path: string): { name: string; ref?: ObjectRef }[] {
  const out: { name: string; ref?: ObjectRef }[] = [];
  for (const raw of path.split("/").filter(Boolean)) {
    const segment = decodeURIComponent(raw);
    const keyed = /^([\w.$]+)\((?:(\w+)=)?'((?:[^']|'')*)'\)$/.exec(segment);
    if (keyed) {
      out.push({ name: keyed[1] });
      const value = keyed[3].replace(/''/g, "'");
      out.push({ name: value, ref: keyed[2] ? { key: keyed[2], value } : { id: value } });
    } else out.push({ name: segment, ref: { id: segment } });
  }
  return out;
}

interface GraphRoute {
  method: string;
  /** Literal segments, `:ref` (an object by id or key) or `*` (a name passed to the handler). */
  segments: Token[];
  handler: string;
}

const r = (method: string, path: string, handler: string): GraphRoute => ({
  method,
  segments: path.split("/"),
  handler,
});

const ROUTES: GraphRoute[] = [
  r("GET", "applications", "listApplications"),
  r("POST", "applications", "createApplication"),
  r("GET", "applications/:ref", "getApplication"),
  r("PATCH", "applications/:ref", "updateApplication"),
  r("DELETE", "applications/:ref", "deleteApplication"),
  r("GET", "applications/:ref/owners", "listOwners"),
  r("POST", "applications/:ref/addPassword", "addPassword"),
  r("POST", "applications/:ref/removePassword", "removePassword"),
  r("GET", "applications/:ref/federatedIdentityCredentials", "listFederatedCredentials"),
  r("POST", "applications/:ref/federatedIdentityCredentials", "createFederatedCredential"),
  r("DELETE", "applications/:ref/federatedIdentityCredentials/*", "deleteFederatedCredential"),
  r("GET", "servicePrincipals", "listServicePrincipals"),
  r("POST", "servicePrincipals", "createServicePrincipal"),
  r("GET", "servicePrincipals/:ref", "getServicePrincipal"),
  r("PATCH", "servicePrincipals/:ref", "updateServicePrincipal"),
  r("DELETE", "servicePrincipals/:ref", "deleteServicePrincipal"),
  r("GET", "servicePrincipals/:ref/createdObjects", "listCreatedObjects"),
  r("GET", "servicePrincipals/:ref/appRoleAssignedTo", "listAssignedTo"),
  r("POST", "servicePrincipals/:ref/appRoleAssignedTo", "assignToResource"),
  r("DELETE", "servicePrincipals/:ref/appRoleAssignedTo/*", "unassignFromResource"),
  r("GET", "groups", "listGroups"),
  r("POST", "groups", "createGroup"),
  r("GET", "groups/:ref", "getGroup"),
  r("PATCH", "groups/:ref", "updateGroup"),
  r("DELETE", "groups/:ref", "deleteGroup"),
  r("GET", "groups/:ref/members", "listGroupMembers"),
  r("POST", "groups/:ref/members/$ref", "addGroupMember"),
  r("DELETE", "groups/:ref/members/:ref/$ref", "removeGroupMember"),
  r("GET", "groups/:ref/owners", "listGroupOwners"),
  r("GET", "users", "listUsers"),
  r("GET", "users/:ref", "getUser"),
  r("GET", "directory/deletedItems/:ref", "getDeletedItem"),
  r("DELETE", "directory/deletedItems/:ref", "purgeDeletedItem"),
  r("POST", "directory/deletedItems/:ref/restore", "restoreDeletedItem"),
];

/** Routes whose first `*`-like segment is a collection name the handler needs. */
const PRINCIPAL_ASSIGNMENT_ROUTES: GraphRoute[] = ["groups", "servicePrincipals"].flatMap((collection) => [
  { method: "POST", segments: [collection, ":ref", "appRoleAssignments"], handler: "assignAsPrincipal" },
  { method: "GET", segments: [collection, ":ref", "appRoleAssignments"], handler: "listAssignmentsOfPrincipal" },
]);

export function createGraphService(env: SandboxEnvironment, arm: ArmService): GraphService {
  const store = new GraphStore(env, arm);
  const permissions = new GraphPermissions();
  const context: GraphContext = { env, store, permissions };
  const handlers: Record<string, GraphHandler> = { ...applicationHandlers(context), ...directoryHandlers(context) };
  /** Bumped by every Graph request and in-process change: only then are the objects compared for persistence. */
  const changes = new ChangeMark();

  // The broker's own identity: an app registration with a secret and its service principal,
  // holding the Graph permissions docs/security.md lists.
  const brokerClientSecret = randomBytes(30).toString("base64").replace(/[+/=]/g, "").slice(0, 40);
  env.secrets.remember(brokerClientSecret);
  const brokerApp = store.seed("application", randomUUID(), {
    appId: SANDBOX_BROKER_CLIENT_ID,
    displayName: "shire-broker",
    signInAudience: "AzureADMyOrg",
    tags: [],
    identifierUris: [],
    appRoles: [],
    web: { redirectUris: [] },
  });
  brokerApp.passwords = [
    {
      view: {
        customKeyIdentifier: null,
        displayName: "sandbox",
        endDateTime: "9999-12-31T23:59:59Z",
        hint: brokerClientSecret.slice(0, 3),
        keyId: randomUUID(),
        secretText: null,
        startDateTime: new Date(0).toISOString(),
      },
      hash: hashSecret(brokerClientSecret),
    },
  ];
  store.seed("servicePrincipal", SANDBOX_BROKER_OBJECT_ID, {
    appId: SANDBOX_BROKER_CLIENT_ID,
    displayName: "shire-broker",
    servicePrincipalType: "Application",
    accountEnabled: true,
    appRoleAssignmentRequired: false,
    tags: [],
  }).assignments = [];
  permissions.grant(SANDBOX_BROKER_OBJECT_ID, BROKER_GRAPH_PERMISSIONS);

  function authenticate(request: SandboxRequest): string {
    const check = validateToken(request, env, {
      audiences: [`https://graph.${SANDBOX_DNS_SUFFIX}`, `https://graph.${SANDBOX_DNS_SUFFIX}/`, GRAPH_APP_ID],
      tenantId: env.tenantId,
    });
    if (check.ok) {
      request.caller = check.caller;
      return check.caller.oid;
    }
    const messages: Record<string, string> = {
      missing: "Access token is empty.",
      malformed: "CompactToken parsing failed with error code: 80049217",
      signature: "Access token validation failure.",
      audience: "Access token validation failure. Invalid audience.",
      issuer: "Access token validation failure. Invalid issuer.",
      expired: "Lifetime validation failed, the token is expired.",
      notYetValid: "Lifetime validation failed, the token is not yet valid.",
    };
    throw new SandboxHttpError(401, "InvalidAuthenticationToken", messages[check.problem.reason], {
      "www-authenticate": `Bearer realm="", authorization_uri="https://login.${SANDBOX_DNS_SUFFIX}:${env.port}/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`,
    });
  }

  function dispatch(request: SandboxRequest): SandboxResponse {
    changes.bump();
    const caller = authenticate(request);
    store.sweep();
    const tokens = tokenize(request.path.replace(/^\/v1\.0\/?/i, ""));
    // `/{collection}/$count`: a bare count (text/plain), which needs ConsistencyLevel: eventual.
    if (request.method === "GET" && tokens.length === 2 && tokens[1].name === "$count") {
      requireEventualConsistencyForCount(request);
      const kinds: Record<string, Kind> = {
        applications: "application",
        serviceprincipals: "servicePrincipal",
        groups: "group",
        users: "user",
      };
      const kind = kinds[tokens[0].name.toLowerCase()];
      if (kind)
        return { status: 200, headers: { "content-type": "text/plain" }, body: String(store.list(kind).length) };
    }
    // `/directory/deletedItems/microsoft.graph.<type>`: the deleted objects of a type.
    if (
      request.method === "GET" &&
      tokens.length === 3 &&
      tokens[0].name.toLowerCase() === "directory" &&
      tokens[1].name.toLowerCase() === "deleteditems" &&
      tokens[2].name.toLowerCase().startsWith("microsoft.graph.")
    ) {
      return handlers.listDeletedItems({ request, caller, refs: [], names: [tokens[2].name] });
    }
    let methodMismatch = false;
    for (const route of [...ROUTES, ...PRINCIPAL_ASSIGNMENT_ROUTES]) {
      if (route.segments.length !== tokens.length) continue;
      const refs: ObjectRef[] = [];
      const names: string[] = [];
      const matches = route.segments.every((segment, i) => {
        const token = tokens[i];
        if (segment === ":ref") {
          if (!token.ref) return false;
          refs.push(token.ref);
          return true;
        }
        if (segment === "*") {
          names.push(token.name);
          return !token.ref || "id" in token.ref;
        }
        return (
          typeof segment === "string" &&
          token.name.toLowerCase() === segment.toLowerCase() &&
          (!token.ref || "id" in token.ref)
        );
      });
      if (!matches) continue;
      if (route.method !== request.method) {
        methodMismatch = true;
        continue;
      }
      if (route.handler === "assignAsPrincipal" || route.handler === "listAssignmentsOfPrincipal")
        names.unshift(String(route.segments[0]));
      return handlers[route.handler]({ request, caller, refs, names });
    }
    if (methodMismatch)
      throw new SandboxHttpError(
        405,
        "Request_BadRequest",
        `The HTTP method '${request.method}' is not supported for this resource.`,
      );
    throw new SandboxHttpError(400, "BadRequest", `Resource not found for the segment '${tokens.at(-1)?.name ?? ""}'.`);
  }

  const routes: SandboxRoute[] = (["GET", "POST", "PATCH", "PUT", "DELETE"] as const).map((method) => ({
    service: "graph",
    method,
    pattern: "/v1.0/*rest",
    handler: dispatch,
  }));

  const service: GraphService = {
    name: "graph",
    routes,
    brokerClientSecret,
    collections: [
      {
        name: "graph.objects",
        dirty: changes.tracker(),
        entries: () => store.objects.entries(),
        load: (records) => {
          store.objects.clear();
          for (const [id, object] of records) store.objects.set(id, object as DirectoryObject);
        },
      },
      {
        name: "graph.permissions",
        dirty: changes.tracker(),
        entries: () => permissions.entries(),
        load: (records) => permissions.load(records),
      },
      {
        // The broker's client secret in clear (the directory keeps only its hash), for `brokerCredential`.
        name: "graph.broker",
        entries: () => [["clientSecret", service.brokerClientSecret]],
        load: (records) => {
          const secret = records.get("clientSecret");
          if (typeof secret === "string") service.brokerClientSecret = secret;
        },
      },
    ],
    authenticateClient: (clientId, secret) => {
      const app = store
        .list("application")
        .find((object) => String(object.data.appId).toLowerCase() === clientId.toLowerCase());
      if (!app) return { ok: false, error: "unknownApplication" };
      const principal = store.servicePrincipalOf(app);
      if (!principal || !store.visible(principal)) return { ok: false, error: "noServicePrincipal" };
      if (!secret) return { ok: false, error: "missingSecret" };
      const hash = hashSecret(secret);
      const matching = (app.passwords ?? []).filter((password) => sameHash(password.hash, hash));
      if (matching.length === 0) return { ok: false, error: "invalidSecret" };
      // Secret lifetimes are directory data: judged on the sandbox clock.
      const now = env.clock.now();
      if (
        !matching.some(
          (password) =>
            Date.parse(String(password.view.startDateTime)) <= now &&
            now < Date.parse(String(password.view.endDateTime)),
        )
      )
        return { ok: false, error: "expiredSecret" };
      return { ok: true, servicePrincipalId: principal.data.id, appId: String(app.data.appId) };
    },
    isResource: (resource) =>
      store
        .list("application")
        .some(
          (app) =>
            String(app.data.appId).toLowerCase() === resource.toLowerCase() ||
            ((app.data.identifierUris as string[] | undefined) ?? []).some(
              (uri) => uri.toLowerCase() === resource.toLowerCase(),
            ),
        ),
    appPermissions: (principalId) => permissions.of(principalId),
    grantAppPermissions: (principalId, granted) => {
      permissions.grant(principalId, granted);
      changes.bump();
    },
    addUser: (input) => {
      changes.bump();
      const suffix = randomBytes(3).toString("hex");
      const displayName = input.displayName ?? `Sandbox User ${suffix}`;
      const user = store.create(
        "user",
        {
          displayName,
          userPrincipalName: input.userPrincipalName ?? `user-${suffix}@shiresandbox.onmicrosoft.com`,
          accountEnabled: true,
          userType: "Member",
          mail: null,
          givenName: null,
          surname: null,
          jobTitle: null,
        },
        "",
        [],
      );
      user.createdAt = Number.NEGATIVE_INFINITY;
      env.directory.add({ id: user.data.id, kind: "User", displayName }, Number.NEGATIVE_INFINITY);
      return store.view(user);
    },
    inspect: () =>
      [...store.objects.values()].map((object) => ({
        kind: object.kind,
        deleted: object.deletedAt !== undefined,
        ...object.data,
        owners: object.owners,
        passwordKeyIds: object.passwords?.map((password) => password.view.keyId),
        federatedCredentials: object.federatedCredentials?.map((credential) => credential.name),
        members: object.members,
        assignments: object.assignments,
      })),
  };
  return service;
}
