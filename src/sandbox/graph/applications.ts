/**
 * Applications (+ passwords, federated identity credentials, owners) and service principals.
 * An application's creator becomes its owner (what `Application.ReadWrite.OwnedBy` lets it
 * manage); deleting an application deletes its service principal too, and restoring the
 * application does not bring the principal back.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { SandboxHttpError, type SandboxResponse } from "../types";
import { badRequest, checkApplicationValues, checkBody } from "./model";
import { CREATE_APPLICATIONS, READ_APPLICATIONS, WRITE_ANY_APPLICATION } from "./permissions";
import { hashSecret, type DirectoryObject } from "./store";
import { page } from "./query";
import {
  body,
  collection,
  missingTarget,
  resolve,
  resolveForWrite,
  single,
  TENANT_DOMAIN,
  wantsUpsert,
  type GraphCall,
  type GraphContext,
  type GraphHandler,
} from "./context";

/** Entra's quota of directory objects one principal may create (it counts deleted ones for 30 days). */
export const DIRECTORY_OBJECT_QUOTA = 250;
const MAX_FEDERATED_CREDENTIALS = 20;

export const uniqueNameTaken = () =>
  badRequest(
    "Another object with the same value for property uniqueName already exists.",
    "Request_MultipleObjectsWithSameKeyValue",
  );

export function checkQuota(context: GraphContext, caller: string): void {
  if (context.store.createdBy(caller) >= (context.env.faults.directoryObjectQuota ?? DIRECTORY_OBJECT_QUOTA)) {
    throw badRequest(
      "The directory object quota limit for the Principal has been exceeded. Please ask your administrator to increase the quota limit or delete objects to reduce the used quota.",
      "Directory_QuotaExceeded",
    );
  }
}

/** Defaults Graph fills into a new application's complex properties. */
const WEB_DEFAULTS = {
  homePageUrl: null,
  logoutUrl: null,
  redirectUris: [],
  implicitGrantSettings: { enableAccessTokenIssuance: false, enableIdTokenIssuance: false },
  redirectUriSettings: [],
};
const API_DEFAULTS = {
  acceptMappedClaims: null,
  knownClientApplications: [],
  requestedAccessTokenVersion: null,
  oauth2PermissionScopes: [],
  preAuthorizedApplications: [],
};

function withDefaults(values: Record<string, unknown>): Record<string, unknown> {
  const out = { ...values };
  if (values.web && typeof values.web === "object") {
    const web = values.web as Record<string, unknown>;
    out.web = {
      ...WEB_DEFAULTS,
      ...web,
      implicitGrantSettings: {
        ...WEB_DEFAULTS.implicitGrantSettings,
        ...((web.implicitGrantSettings as object) ?? {}),
      },
    };
  }
  if (values.api && typeof values.api === "object") out.api = { ...API_DEFAULTS, ...(values.api as object) };
  for (const key of ["spa", "publicClient"])
    if (values[key] && typeof values[key] === "object") out[key] = { redirectUris: [], ...(values[key] as object) };
  return out;
}

export function applicationHandlers(context: GraphContext): Record<string, GraphHandler> {
  const { store, permissions, env } = context;
  const application = (call: GraphCall) => resolve(context, "application", call.refs[0]);
  const writable = (call: GraphCall, object: DirectoryObject) =>
    permissions.requireWrite(call.caller, store.owns(call.caller, object));

  const createdBy = (call: GraphCall) => {
    const principal = resolve(context, "servicePrincipal", call.refs[0]);
    return [...store.objects.values()].filter(
      (object) => object.createdBy === principal.data.id && object.deletedAt === undefined && store.visible(object),
    );
  };

  /** A new application (POST, or an upsert by uniqueName that found none): the caller owns it. */
  function createApp(call: GraphCall, values: Record<string, unknown>): SandboxResponse {
    permissions.require(call.caller, CREATE_APPLICATIONS);
    checkQuota(context, call.caller);
    if (typeof values.displayName !== "string" || !values.displayName)
      throw badRequest("Property 'displayName' is required.");
    const appId = randomUUID();
    checkApplicationValues(values, { appId, tenantId: env.tenantId, verifiedDomains: [TENANT_DOMAIN] });
    if (values.uniqueName !== undefined && store.keyTaken("application", "uniqueName", String(values.uniqueName)))
      throw uniqueNameTaken();
    const defaults = {
      signInAudience: "AzureADMyOrg",
      tags: [],
      identifierUris: [],
      appRoles: [],
      requiredResourceAccess: [],
      keyCredentials: [],
      groupMembershipClaims: null,
      description: null,
      notes: null,
      publisherDomain: TENANT_DOMAIN,
      web: WEB_DEFAULTS,
      spa: { redirectUris: [] },
      publicClient: { redirectUris: [] },
      api: API_DEFAULTS,
    };
    const object = store.create("application", { ...defaults, ...withDefaults(values), appId }, call.caller, [
      call.caller,
    ]);
    object.passwords = [];
    object.federatedCredentials = [];
    return {
      status: 201,
      body: { "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#applications/$entity`, ...store.view(object) },
    };
  }

  /** A new service principal for an application (POST, or an upsert by appId that found none). */
  function createPrincipal(call: GraphCall, values: Record<string, unknown>): SandboxResponse {
    checkQuota(context, call.caller);
    const app = store
      .list("application")
      .find((object) => String(object.data.appId).toLowerCase() === String(values.appId ?? "").toLowerCase());
    // The application must have replicated before a service principal can be made for it.
    if (!app)
      throw badRequest(
        `The appId '${String(values.appId)}' of the service principal does not reference a valid application object.`,
      );
    permissions.requireWrite(call.caller, store.owns(call.caller, app));
    const existing = store.servicePrincipalOf(app);
    if (existing)
      throw new SandboxHttpError(
        409,
        "Request_MultipleObjectsWithSameKeyValue",
        "The service principal cannot be created, updated, or restored because the service principal name is already in use.",
      );
    const data = {
      accountEnabled: true,
      alternativeNames: [],
      appDisplayName: app.data.displayName,
      appOwnerOrganizationId: env.tenantId,
      appRoleAssignmentRequired: false,
      description: null,
      notes: null,
      servicePrincipalNames: [String(app.data.appId), ...((app.data.identifierUris as string[] | undefined) ?? [])],
      servicePrincipalType: "Application",
      signInAudience: app.data.signInAudience,
      tags: [],
      ...values,
      appId: app.data.appId,
      displayName: app.data.displayName,
    };
    const object = store.create("servicePrincipal", data, call.caller, [call.caller]);
    object.assignments = [];
    return {
      status: 201,
      body: {
        "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#servicePrincipals/$entity`,
        ...store.view(object),
      },
    };
  }

  return {
    createApplication: (call) => createApp(call, checkBody("application", body(call.request), "create")),
    listApplications: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      return collection(context, "application", call.request, store.list("application"), "applications");
    },
    getApplication: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      return single(context, application(call), call.request);
    },
    updateApplication: (call) => {
      const ref = call.refs[0];
      const object = resolveForWrite(context, "application", ref);
      if (!object) {
        // Upsert: `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing` creates it.
        if (!wantsUpsert(call.request) || "id" in ref) throw missingTarget(ref);
        if (ref.key.toLowerCase() !== "uniquename")
          throw badRequest("Upsert is supported only with the uniqueName alternate key.");
        const values = checkBody("application", body(call.request), "create");
        if (values.uniqueName !== undefined && String(values.uniqueName).toLowerCase() !== ref.value.toLowerCase())
          throw badRequest("The uniqueName in the request body does not match the one in the URL.");
        return createApp(call, { ...values, uniqueName: ref.value });
      }
      writable(call, object);
      const values = checkBody("application", body(call.request), "update", object.data);
      checkApplicationValues(values, {
        appId: String(object.data.appId),
        tenantId: env.tenantId,
        verifiedDomains: [TENANT_DOMAIN],
      });
      // A complex property in a PATCH replaces the stored one whole.
      Object.assign(object.data, withDefaults(values));
      return { status: 204 };
    },
    deleteApplication: (call) => {
      const object = application(call);
      writable(call, object);
      // Entra deletes the app's service principal with it; restoring the app does not restore it.
      const principal = store.servicePrincipalOf(object);
      store.softDelete(object);
      if (principal) store.softDelete(principal);
      return { status: 204 };
    },
    listOwners: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      const object = application(call);
      const owners = object.owners
        .map((id) => store.live(id))
        .filter((owner): owner is DirectoryObject => owner !== undefined)
        .map((owner) => store.view(owner));
      return { status: 200, body: { value: owners } };
    },
    addPassword: (call) => {
      const object = application(call);
      writable(call, object);
      const input = (body(call.request).passwordCredential ?? {}) as Record<string, unknown>;
      const now = env.clock.now();
      const start = input.startDateTime ? Date.parse(String(input.startDateTime)) : now;
      const end = input.endDateTime ? Date.parse(String(input.endDateTime)) : start + 2 * 365 * 86_400_000;
      if (Number.isNaN(start) || Number.isNaN(end) || end <= start)
        throw badRequest("Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.");
      const secretText = randomBytes(30).toString("base64").replace(/[+/=]/g, "").slice(0, 40);
      env.secrets.remember(secretText);
      const view = {
        customKeyIdentifier: null,
        displayName: input.displayName ?? null,
        endDateTime: new Date(end).toISOString(),
        hint: secretText.slice(0, 3),
        keyId: randomUUID(),
        secretText: null,
        startDateTime: new Date(start).toISOString(),
      };
      object.passwords = [...(object.passwords ?? []), { view, hash: hashSecret(secretText) }];
      return {
        status: 200,
        body: {
          "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#microsoft.graph.passwordCredential`,
          ...view,
          secretText,
        },
      };
    },
    removePassword: (call) => {
      const object = application(call);
      writable(call, object);
      const keyId = String(body(call.request).keyId ?? "").toLowerCase();
      const before = object.passwords?.length ?? 0;
      object.passwords = (object.passwords ?? []).filter(
        (password) => String(password.view.keyId).toLowerCase() !== keyId,
      );
      if (object.passwords.length === before)
        throw new SandboxHttpError(
          404,
          "Request_ResourceNotFound",
          `No password credential found with keyId '${keyId}'.`,
        );
      return { status: 204 };
    },
    createFederatedCredential: (call) => {
      const object = application(call);
      writable(call, object);
      const input = body(call.request);
      const allowed = ["name", "issuer", "subject", "audiences", "description", "@odata.type"];
      for (const key of Object.keys(input))
        if (!allowed.includes(key))
          throw badRequest(
            `The property '${key}' does not exist on type 'Microsoft.DirectoryServices.FederatedIdentityCredential'. Make sure to only use property names that are defined by the type.`,
          );
      const invalid = (property: string) =>
        badRequest(`Invalid value specified for property '${property}' of resource 'FederatedIdentityCredential'.`);
      for (const field of ["name", "issuer", "subject", "audiences"])
        if (input[field] === undefined || input[field] === null || input[field] === "")
          throw badRequest(`Property '${field}' is required.`);
      // The name is part of the credential's URL: up to 120 URL-safe characters.
      if (typeof input.name !== "string" || !/^[A-Za-z0-9_-]{1,120}$/.test(input.name)) throw invalid("name");
      if (typeof input.issuer !== "string" || !/^https:\/\/\S+$/.test(input.issuer) || input.issuer.length > 600)
        throw invalid("issuer");
      if (typeof input.subject !== "string" || input.subject.length > 600) throw invalid("subject");
      // Exactly one audience, at most 600 characters.
      if (
        !Array.isArray(input.audiences) ||
        input.audiences.length !== 1 ||
        typeof input.audiences[0] !== "string" ||
        !input.audiences[0] ||
        input.audiences[0].length > 600
      )
        throw invalid("audiences");
      const existing = object.federatedCredentials ?? [];
      if (
        existing.some((credential) => String(credential.name).toLowerCase() === input.name!.toString().toLowerCase())
      ) {
        throw new SandboxHttpError(
          409,
          "Request_MultipleObjectsWithSameKeyValue",
          `FederatedIdentityCredential with name ${String(input.name)} already exists.`,
        );
      }
      if (existing.some((credential) => credential.issuer === input.issuer && credential.subject === input.subject)) {
        throw badRequest(
          `The combination of issuer and subject must be unique for the application. Issuer ${String(input.issuer)} and Subject: ${String(input.subject)} already exist. paramName: FederatedIdentityCredential.Subject, paramValue: ${String(input.subject)}, objectType: Microsoft.Online.DirectoryServices.Application`,
          "InvalidFederatedIdentityCredentialValue",
        );
      }
      if (existing.length >= MAX_FEDERATED_CREDENTIALS)
        throw badRequest(
          `The application already has the maximum of ${MAX_FEDERATED_CREDENTIALS} federated identity credentials.`,
          "InvalidFederatedIdentityCredentialValue",
        );
      const credential = {
        id: randomUUID(),
        name: input.name,
        issuer: input.issuer,
        subject: input.subject,
        description: input.description ?? null,
        audiences: input.audiences,
      };
      object.federatedCredentials = [...existing, credential];
      return {
        status: 201,
        body: {
          "@odata.context": `${call.request.baseUrl}/v1.0/$metadata#applications('${object.data.id}')/federatedIdentityCredentials/$entity`,
          ...credential,
        },
      };
    },
    listFederatedCredentials: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      return { status: 200, body: { value: application(call).federatedCredentials ?? [] } };
    },
    deleteFederatedCredential: (call) => {
      const object = application(call);
      writable(call, object);
      const target = call.names[0].toLowerCase();
      const before = object.federatedCredentials?.length ?? 0;
      object.federatedCredentials = (object.federatedCredentials ?? []).filter(
        (credential) =>
          String(credential.id).toLowerCase() !== target && String(credential.name).toLowerCase() !== target,
      );
      if (object.federatedCredentials.length === before)
        throw new SandboxHttpError(
          404,
          "Request_ResourceNotFound",
          `Resource '${call.names[0]}' does not exist or one of its queried reference-property objects are not present.`,
        );
      return { status: 204 };
    },

    // ---- service principals
    createServicePrincipal: (call) =>
      createPrincipal(call, checkBody("servicePrincipal", body(call.request), "create")),
    listServicePrincipals: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      return collection(context, "servicePrincipal", call.request, store.list("servicePrincipal"), "servicePrincipals");
    },
    getServicePrincipal: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      return single(context, resolve(context, "servicePrincipal", call.refs[0]), call.request);
    },
    updateServicePrincipal: (call) => {
      const ref = call.refs[0];
      const object =
        "id" in ref
          ? resolve(context, "servicePrincipal", ref)
          : (resolveForWrite(context, "servicePrincipal", ref) ??
            store
              .list("servicePrincipal")
              .find(
                (principal) =>
                  principal.managed && String(principal.data.appId).toLowerCase() === ref.value.toLowerCase(),
              ));
      if (!object) {
        // Upsert: `PATCH /servicePrincipals(appId='…')` with `Prefer: create-if-missing` creates it.
        if (!wantsUpsert(call.request) || "id" in ref) throw missingTarget(ref);
        const values = checkBody("servicePrincipal", body(call.request), "create");
        if (values.appId !== undefined && String(values.appId).toLowerCase() !== ref.value.toLowerCase())
          throw badRequest("The appId in the request body does not match the one in the URL.");
        return createPrincipal(call, { ...values, appId: ref.value });
      }
      permissions.requireWrite(call.caller, !object.managed && store.owns(call.caller, object));
      if (object.managed)
        throw badRequest("The service principal of a managed identity is managed by Azure and cannot be updated.");
      Object.assign(object.data, checkBody("servicePrincipal", body(call.request), "update", object.data));
      return { status: 204 };
    },
    // `createdObjects`: the live objects the principal created (deleted ones are in deleted items).
    // Graph's advanced-query table does not list it, so no `/createdObjects/$count` is served.
    listCreatedObjects: (call) => {
      permissions.require(call.caller, READ_APPLICATIONS);
      const views = createdBy(call).map((object) => store.view(object));
      return { status: 200, body: page(views, call.request, "directoryObjects") };
    },
    deleteServicePrincipal: (call) => {
      const object = resolve(context, "servicePrincipal", call.refs[0]);
      if (object.managed) {
        permissions.require(call.caller, WRITE_ANY_APPLICATION);
        throw badRequest("The service principal of a managed identity is deleted with its identity.");
      }
      permissions.requireWrite(call.caller, store.owns(call.caller, object));
      store.softDelete(object);
      return { status: 204 };
    },
  };
}
