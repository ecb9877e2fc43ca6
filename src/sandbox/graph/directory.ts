/**
 * Groups (+ members and owners, `@odata.bind` on create), users, app role assignments and the
 * deleted items container (30 days, restore, purge).
 */
import { randomBytes } from "node:crypto";
import { SandboxHttpError, type SandboxResponse } from "../types";
import { badRequest, checkBody, checkGroupValues, COLLECTION, type Kind } from "./model";
import {
  ASSIGN_APP_ROLES,
  CREATE_GROUPS,
  READ_APPLICATIONS,
  READ_GROUPS,
  READ_USERS,
  WRITE_GROUPS,
  WRITE_MEMBERS,
} from "./permissions";
import { DELETED_RETENTION_MS, notFound, type DirectoryObject } from "./store";
import {
  body,
  collection,
  missingTarget,
  resolve,
  resolveForWrite,
  single,
  wantsUpsert,
  type GraphCall,
  type GraphContext,
  type GraphHandler,
} from "./context";
import { checkQuota, uniqueNameTaken } from "./applications";
import { SANDBOX_DNS_SUFFIX } from "../../azure/endpoints";

/** Graph takes at most 20 references in a create's `members@odata.bind` and `owners@odata.bind` together. */
const MAX_BINDS = 20;
/** App role id meaning "assigned, without a specific role": valid only when the app declares no roles. */
const DEFAULT_APP_ROLE_ID = "00000000-0000-0000-0000-000000000000";

const PRINCIPAL_TYPE: Partial<Record<Kind, string>> = {
  user: "User",
  group: "Group",
  servicePrincipal: "ServicePrincipal",
};

export function directoryHandlers(context: GraphContext): Record<string, GraphHandler> {
  const { store, permissions, env } = context;

  /** The object an `@odata.id`/`@odata.bind` URL names: `https://<graph host>/v1.0/<collection>/<id>`. */
  function referenced(url: unknown, property: string): DirectoryObject {
    const match =
      typeof url === "string"
        ? /^https:\/\/([^/:]+)(?::\d+)?\/(?:v1\.0|beta)\/(directoryObjects|users|groups|servicePrincipals)\/([0-9a-fA-F-]{36})$/.exec(
            url,
          )
        : null;
    if (!match || (match[1] !== "graph.microsoft.com" && match[1] !== `graph.${SANDBOX_DNS_SUFFIX}`))
      throw badRequest(`Invalid URL format specified in @odata.bind for ${property}`);
    const object = store.live(match[3]);
    if (!object) throw notFound(match[3]);
    return object;
  }

  function addMember(group: DirectoryObject, member: DirectoryObject): void {
    if (member.kind === "application")
      throw badRequest("Unsupported referenced-object resource identifier for link property 'members'.");
    if (member.data.id === group.data.id) throw badRequest("An object cannot be added as a member of itself.");
    if (group.members?.includes(member.data.id))
      throw badRequest(
        "One or more added object references already exist for the following modified properties: 'members'.",
      );
    group.members = [...(group.members ?? []), member.data.id];
  }

  function assign(
    call: GraphCall,
    resource: DirectoryObject,
    principal: DirectoryObject | undefined,
    principalId: string,
  ): SandboxResponse {
    permissions.require(call.caller, ASSIGN_APP_ROLES);
    const input = body(call.request);
    if (!principal) throw notFound(principalId);
    if (String(input.resourceId ?? "").toLowerCase() !== resource.data.id.toLowerCase())
      throw badRequest("Invalid value specified for property 'resourceId' of resource 'AppRoleAssignment'.");
    const appRoleId = String(input.appRoleId ?? "").toLowerCase();
    if (!/^[0-9a-f-]{36}$/.test(appRoleId))
      throw badRequest("Invalid value specified for property 'appRoleId' of resource 'AppRoleAssignment'.");
    // The role must be one the resource's app declares, for this kind of principal; the default id only when it declares none.
    const roles =
      (store.view(resource).appRoles as
        { id?: string; isEnabled?: boolean; allowedMemberTypes?: string[] }[] | undefined) ?? [];
    const memberType = principal.kind === "servicePrincipal" ? "Application" : "User";
    const valid =
      roles.length === 0
        ? appRoleId === DEFAULT_APP_ROLE_ID
        : roles.some(
            (role) =>
              role.id?.toLowerCase() === appRoleId &&
              role.isEnabled !== false &&
              (role.allowedMemberTypes ?? []).includes(memberType),
          );
    if (!valid)
      throw badRequest(`Permission being assigned was not found on application '${String(resource.data.appId)}'.`);
    const assignments = resource.assignments ?? [];
    if (
      assignments.some(
        (assignment) => assignment.principalId === principal.data.id && assignment.appRoleId === appRoleId,
      )
    )
      throw badRequest("Permission being assigned already exists on the object");
    const assignment = {
      id: randomBytes(24).toString("base64url"),
      deletedDateTime: null,
      appRoleId,
      createdDateTime: new Date(env.clock.now()).toISOString(),
      principalDisplayName: principal.data.displayName ?? null,
      principalId: principal.data.id,
      principalType: PRINCIPAL_TYPE[principal.kind],
      resourceDisplayName: resource.data.displayName ?? null,
      resourceId: resource.data.id,
    };
    resource.assignments = [...assignments, assignment];
    return {
      status: 201,
      body: { "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#appRoleAssignments/$entity`, ...assignment },
    };
  }

  /** Assignments whose principal is still there (a deleted principal's assignments are gone with it). */
  const liveAssignments = (resource: DirectoryObject) =>
    (resource.assignments ?? []).filter((assignment) => store.live(String(assignment.principalId)));

  function deleted(id: string): DirectoryObject {
    const object = store.objects.get(id.toLowerCase());
    if (!object || object.deletedAt === undefined || env.clock.now() >= object.deletedAt + DELETED_RETENTION_MS)
      throw notFound(id);
    return object;
  }

  /** Reading or changing a deleted item needs what reading or changing the live object would. */
  function requireFor(call: GraphCall, object: DirectoryObject, write: boolean): void {
    if (object.kind === "group") permissions.require(call.caller, write ? WRITE_GROUPS : READ_GROUPS);
    else if (write) permissions.requireWrite(call.caller, store.owns(call.caller, object));
    else permissions.require(call.caller, READ_APPLICATIONS);
  }

  const KIND_OF_TYPE: Record<string, Kind> = {
    "microsoft.graph.application": "application",
    "microsoft.graph.serviceprincipal": "servicePrincipal",
    "microsoft.graph.group": "group",
    "microsoft.graph.user": "user",
  };

  /** A new group (POST, or an upsert by uniqueName that found none); permissions checked by the caller. */
  function createGroupObject(call: GraphCall, values: Record<string, unknown>): SandboxResponse {
    checkQuota(context, call.caller);
    checkGroupValues(values, "create");
    if (values.uniqueName !== undefined && store.keyTaken("group", "uniqueName", String(values.uniqueName)))
      throw uniqueNameTaken();
    const binds = {
      members: (values["members@odata.bind"] ?? []) as unknown[],
      owners: (values["owners@odata.bind"] ?? []) as unknown[],
    };
    if (!Array.isArray(binds.members) || !Array.isArray(binds.owners))
      throw badRequest("Invalid value for @odata.bind: an array of URLs is required.");
    if (binds.members.length + binds.owners.length > MAX_BINDS)
      throw badRequest(`A group can be created with at most ${MAX_BINDS} members and owners in total.`);
    const owners = binds.owners.map((url) => referenced(url, "owners"));
    if (owners.some((owner) => owner.kind !== "user" && owner.kind !== "servicePrincipal"))
      throw badRequest("Unsupported referenced-object resource identifier for link property 'owners'.");
    const members = binds.members.map((url) => referenced(url, "members"));
    delete values["members@odata.bind"];
    delete values["owners@odata.bind"];
    const group = store.create(
      "group",
      { description: null, groupTypes: [], visibility: null, mail: null, ...values },
      call.caller,
      owners.map((owner) => owner.data.id),
    );
    group.members = [];
    for (const member of members) addMember(group, member);
    return {
      status: 201,
      body: { "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#groups/$entity`, ...store.view(group) },
    };
  }

  return {
    createGroup: (call) => {
      permissions.require(call.caller, CREATE_GROUPS);
      return createGroupObject(call, checkBody("group", body(call.request), "create"));
    },
    listGroups: (call) => {
      permissions.require(call.caller, READ_GROUPS);
      return collection(context, "group", call.request, store.list("group"), "groups");
    },
    getGroup: (call) => {
      permissions.require(call.caller, READ_GROUPS);
      return single(context, resolve(context, "group", call.refs[0]), call.request);
    },
    updateGroup: (call) => {
      permissions.require(call.caller, WRITE_GROUPS);
      const ref = call.refs[0];
      const group = resolveForWrite(context, "group", ref);
      if (!group) {
        // Upsert: `PATCH /groups(uniqueName='…')` with `Prefer: create-if-missing` creates it.
        // Group.ReadWrite.All either way (Group.Create does not cover upsert).
        if (!wantsUpsert(call.request) || "id" in ref) throw missingTarget(ref);
        const values = checkBody("group", body(call.request), "create");
        if (values.uniqueName !== undefined && String(values.uniqueName).toLowerCase() !== ref.value.toLowerCase())
          throw badRequest("The uniqueName in the request body does not match the one in the URL.");
        return createGroupObject(call, { ...values, uniqueName: ref.value });
      }
      const values = checkBody("group", body(call.request), "update", group.data);
      checkGroupValues(values, "update");
      Object.assign(group.data, values);
      return { status: 204 };
    },
    deleteGroup: (call) => {
      permissions.require(call.caller, WRITE_GROUPS);
      store.softDelete(resolve(context, "group", call.refs[0]));
      return { status: 204 };
    },
    addGroupMember: (call) => {
      permissions.require(call.caller, WRITE_MEMBERS);
      const group = resolve(context, "group", call.refs[0]);
      addMember(group, referenced(body(call.request)["@odata.id"], "members"));
      return { status: 204 };
    },
    listGroupMembers: (call) => {
      permissions.require(call.caller, READ_GROUPS);
      const group = resolve(context, "group", call.refs[0]);
      const members = (group.members ?? [])
        .map((id) => store.live(id))
        .filter((member): member is DirectoryObject => member !== undefined);
      return { status: 200, body: { value: members.map((member) => store.view(member)) } };
    },
    removeGroupMember: (call) => {
      permissions.require(call.caller, WRITE_MEMBERS);
      const group = resolve(context, "group", call.refs[0]);
      const memberId = ("id" in call.refs[1] ? call.refs[1].id : call.refs[1].value).toLowerCase();
      if (!group.members?.includes(memberId)) throw notFound(memberId);
      group.members = group.members.filter((id) => id !== memberId);
      return { status: 204 };
    },
    listGroupOwners: (call) => {
      permissions.require(call.caller, READ_GROUPS);
      const group = resolve(context, "group", call.refs[0]);
      return {
        status: 200,
        body: {
          value: group.owners
            .map((id) => store.live(id))
            .filter((owner): owner is DirectoryObject => owner !== undefined)
            .map((owner) => store.view(owner)),
        },
      };
    },

    // ---- app role assignments
    assignToResource: (call) => {
      const resource = resolve(context, "servicePrincipal", call.refs[0]);
      const principalId = String(body(call.request).principalId ?? "");
      return assign(call, resource, store.live(principalId, ["user", "group", "servicePrincipal"]), principalId);
    },
    listAssignedTo: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      return { status: 200, body: { value: liveAssignments(resolve(context, "servicePrincipal", call.refs[0])) } };
    },
    unassignFromResource: (call) => {
      permissions.require(call.caller, ASSIGN_APP_ROLES);
      const resource = resolve(context, "servicePrincipal", call.refs[0]);
      const before = resource.assignments?.length ?? 0;
      resource.assignments = (resource.assignments ?? []).filter((assignment) => assignment.id !== call.names[0]);
      if (resource.assignments.length === before) throw notFound(call.names[0]);
      return { status: 204 };
    },
    assignAsPrincipal: (call) => {
      // POST /groups/{id}/appRoleAssignments (or a service principal's): the principal is the URL's object.
      const kind: Kind = call.names[0] === "groups" ? "group" : "servicePrincipal";
      const principal = resolve(context, kind, call.refs[0]);
      const input = body(call.request);
      if (String(input.principalId ?? "").toLowerCase() !== principal.data.id.toLowerCase())
        throw badRequest("Invalid value specified for property 'principalId' of resource 'AppRoleAssignment'.");
      const resource = resolve(context, "servicePrincipal", { id: String(input.resourceId ?? "") });
      return assign(call, resource, principal, principal.data.id);
    },
    listAssignmentsOfPrincipal: (call) => {
      const kind: Kind = call.names[0] === "groups" ? "group" : "servicePrincipal";
      permissions.require(call.caller, kind === "group" ? READ_GROUPS : READ_APPLICATIONS);
      const principal = resolve(context, kind, call.refs[0]);
      const value = store
        .list("servicePrincipal")
        .flatMap((resource) => resource.assignments ?? [])
        .filter((assignment) => assignment.principalId === principal.data.id);
      return { status: 200, body: { value } };
    },

    // ---- users
    listUsers: (call) => {
      permissions.require(call.caller, READ_USERS);
      return collection(context, "user", call.request, store.list("user"), "users");
    },
    getUser: (call) => {
      permissions.require(call.caller, READ_USERS);
      return single(context, resolve(context, "user", call.refs[0]), call.request);
    },

    // ---- deleted items
    getDeletedItem: (call) => {
      const object = deleted("id" in call.refs[0] ? call.refs[0].id : call.refs[0].value);
      requireFor(call, object, false);
      return {
        status: 200,
        body: {
          "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#directoryObjects/$entity`,
          ...store.view(object),
        },
      };
    },
    listDeletedItems: (call) => {
      const kind = KIND_OF_TYPE[call.names[0].toLowerCase()];
      if (!kind || kind === "user")
        throw badRequest(`Resource not found for the segment '${call.names[0]}'.`, "BadRequest");
      if (kind === "group") permissions.require(call.caller, READ_GROUPS);
      else permissions.require(call.caller, READ_APPLICATIONS);
      const items = [...store.objects.values()].filter(
        (object) =>
          object.kind === kind &&
          object.deletedAt !== undefined &&
          env.clock.now() < object.deletedAt + DELETED_RETENTION_MS,
      );
      return collection(context, kind, call.request, items, `directory/deletedItems/${COLLECTION[kind]}`);
    },
    purgeDeletedItem: (call) => {
      const object = deleted("id" in call.refs[0] ? call.refs[0].id : call.refs[0].value);
      requireFor(call, object, true);
      store.objects.delete(object.data.id.toLowerCase());
      return { status: 204 };
    },
    restoreDeletedItem: (call) => {
      const object = deleted("id" in call.refs[0] ? call.refs[0].id : call.refs[0].value);
      requireFor(call, object, true);
      if (
        object.kind === "servicePrincipal" &&
        !store.list("application").some((app) => app.data.appId === object.data.appId)
      ) {
        throw badRequest(
          "The service principal cannot be restored because its application does not exist. Restore the application first.",
        );
      }
      if (
        object.kind === "servicePrincipal" &&
        store.list("servicePrincipal").some((other) => other.data.appId === object.data.appId)
      ) {
        throw new SandboxHttpError(
          409,
          "Request_MultipleObjectsWithSameKeyValue",
          "The service principal cannot be created, updated, or restored because the service principal name is already in use.",
        );
      }
      if (
        object.data.uniqueName !== undefined &&
        object.data.uniqueName !== null &&
        store
          .listForWrite(object.kind)
          .some(
            (other) =>
              String(other.data.uniqueName ?? "").toLowerCase() === String(object.data.uniqueName).toLowerCase(),
          )
      )
        throw uniqueNameTaken();
      object.deletedAt = undefined;
      if (object.kind !== "application")
        env.directory.add(
          {
            id: object.data.id,
            kind: object.kind === "group" ? "Group" : object.kind === "user" ? "User" : "ServicePrincipal",
            displayName: String(object.data.displayName ?? ""),
          },
          object.createdAt,
        );
      return {
        status: 200,
        body: {
          "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#directoryObjects/$entity`,
          ...store.view(object),
        },
      };
    },
  };
}
