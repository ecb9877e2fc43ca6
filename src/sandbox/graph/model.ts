/**
 * The Microsoft Graph resource types the sandbox serves, as their v1.0 metadata describes them:
 * which properties a client may write (on create, on update), which are the service's own
 * (read-only), which `$filter` supports. A body naming anything else is refused as Graph refuses
 * it, so a client sending a misspelt or read-only property fails here and not in production.
 */
import { SandboxHttpError } from "../types";

export type Kind = "application" | "servicePrincipal" | "group" | "user";

export const ODATA_TYPE: Record<Kind, string> = {
  application: "#microsoft.graph.application",
  servicePrincipal: "#microsoft.graph.servicePrincipal",
  group: "#microsoft.graph.group",
  user: "#microsoft.graph.user",
};

/** The type name Graph's directory reports in validation errors. */
export const DIRECTORY_TYPE: Record<Kind, string> = {
  application: "Application",
  servicePrincipal: "ServicePrincipal",
  group: "Group",
  user: "User",
};

/** Collection segment per kind. */
export const COLLECTION: Record<Kind, string> = {
  application: "applications",
  servicePrincipal: "servicePrincipals",
  group: "groups",
  user: "users",
};

interface TypeSpec {
  /** Writable on create and update. */
  writable: string[];
  /** Writable on create only (immutable afterwards). */
  createOnly: string[];
  /** Computed by the service: refused in a body unless an update repeats the current value. */
  readOnly: string[];
  /** Properties `$filter` supports (eq; `startswith` on strings; `any` on collections). */
  filterable: string[];
}

export const TYPES: Record<Kind, TypeSpec> = {
  application: {
    writable: [
      "addIns",
      "api",
      "appRoles",
      "defaultRedirectUri",
      "description",
      "displayName",
      "groupMembershipClaims",
      "identifierUris",
      "info",
      "isDeviceOnlyAuthSupported",
      "isFallbackPublicClient",
      "keyCredentials",
      "nativeAuthenticationApisEnabled",
      "notes",
      "oauth2RequirePostResponse",
      "optionalClaims",
      "parentalControlSettings",
      "publicClient",
      "requestSignatureVerification",
      "requiredResourceAccess",
      "samlMetadataUrl",
      "serviceManagementReference",
      "servicePrincipalLockConfiguration",
      "signInAudience",
      "spa",
      "tags",
      "tokenEncryptionKeyId",
      "web",
    ],
    createOnly: ["uniqueName"],
    readOnly: [
      "id",
      "appId",
      "createdDateTime",
      "deletedDateTime",
      "publisherDomain",
      "applicationTemplateId",
      "disabledByMicrosoftStatus",
      "certification",
      "verifiedPublisher",
      "passwordCredentials",
    ],
    filterable: [
      "id",
      "appId",
      "displayName",
      "uniqueName",
      "identifierUris",
      "signInAudience",
      "tags",
      "publisherDomain",
      "createdDateTime",
    ],
  },
  servicePrincipal: {
    writable: [
      "accountEnabled",
      "alternativeNames",
      "appRoleAssignmentRequired",
      "description",
      "homepage",
      "keyCredentials",
      "loginUrl",
      "logoutUrl",
      "notes",
      "notificationEmailAddresses",
      "preferredSingleSignOnMode",
      "preferredTokenSigningKeyThumbprint",
      "replyUrls",
      "samlSingleSignOnSettings",
      "servicePrincipalNames",
      "tags",
      "tokenEncryptionKeyId",
    ],
    createOnly: ["appId"],
    readOnly: [
      "id",
      "appDisplayName",
      "appDescription",
      "appOwnerOrganizationId",
      "appRoles",
      "oauth2PermissionScopes",
      "createdDateTime",
      "deletedDateTime",
      "displayName",
      "info",
      "servicePrincipalType",
      "signInAudience",
      "publisherName",
      "verifiedPublisher",
      "disabledByMicrosoftStatus",
      "addIns",
      "passwordCredentials",
    ],
    filterable: [
      "id",
      "appId",
      "displayName",
      "servicePrincipalType",
      "tags",
      "accountEnabled",
      "appOwnerOrganizationId",
      "servicePrincipalNames",
      "alternativeNames",
    ],
  },
  group: {
    writable: [
      "description",
      "displayName",
      "mailEnabled",
      "mailNickname",
      "securityEnabled",
      "visibility",
      "classification",
      "preferredDataLocation",
      "theme",
      "membershipRule",
      "membershipRuleProcessingState",
    ],
    createOnly: [
      "groupTypes",
      "isAssignableToRole",
      "uniqueName",
      "resourceBehaviorOptions",
      "resourceProvisioningOptions",
      "members@odata.bind",
      "owners@odata.bind",
    ],
    readOnly: [
      "id",
      "createdDateTime",
      "deletedDateTime",
      "mail",
      "proxyAddresses",
      "renewedDateTime",
      "securityIdentifier",
      "onPremisesSyncEnabled",
    ],
    filterable: [
      "id",
      "displayName",
      "uniqueName",
      "mailNickname",
      "mail",
      "securityEnabled",
      "mailEnabled",
      "groupTypes",
      "createdDateTime",
    ],
  },
  user: {
    writable: [
      "accountEnabled",
      "displayName",
      "givenName",
      "surname",
      "jobTitle",
      "mail",
      "mailNickname",
      "userPrincipalName",
      "usageLocation",
      "userType",
    ],
    createOnly: [],
    readOnly: ["id", "createdDateTime", "deletedDateTime"],
    filterable: [
      "id",
      "displayName",
      "userPrincipalName",
      "mail",
      "accountEnabled",
      "userType",
      "givenName",
      "surname",
    ],
  },
};

/** Every property a kind has (what `$select` may name). */
export function knownProperties(kind: Kind): string[] {
  const spec = TYPES[kind];
  return [...spec.writable, ...spec.createOnly, ...spec.readOnly].filter((name) => !name.includes("@"));
}

export const badRequest = (message: string, code = "Request_BadRequest") => new SandboxHttpError(400, code, message);

/**
 * Check a create or update body against the type: unknown properties and read-only ones are
 * refused (an update may repeat a read-only property's current value: a no-op, by Graph's
 * convention); on update, create-only properties must not change.
 */
export function checkBody(
  kind: Kind,
  body: Record<string, unknown>,
  mode: "create" | "update",
  current?: Record<string, unknown>,
): Record<string, unknown> {
  const spec = TYPES[kind];
  const accepted: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === "@odata.type") continue;
    if (spec.writable.includes(key)) accepted[key] = value;
    else if (spec.createOnly.includes(key)) {
      if (mode === "create") accepted[key] = value;
      else if (JSON.stringify(current?.[key]) !== JSON.stringify(value))
        throw badRequest(`Property '${key}' is read-only and cannot be set.`);
    } else if (spec.readOnly.includes(key)) {
      if (mode === "update" && JSON.stringify(current?.[key]) === JSON.stringify(value)) continue;
      if (key === "passwordCredentials")
        throw badRequest(
          "Property 'passwordCredentials' is read-only and cannot be set. Use the addPassword and removePassword actions.",
        );
      throw badRequest(`Property '${key}' is read-only and cannot be set.`);
    } else {
      throw badRequest(
        `The property '${key}' does not exist on type 'Microsoft.DirectoryServices.${DIRECTORY_TYPE[kind]}'. Make sure to only use property names that are defined by the type.`,
      );
    }
  }
  return accepted;
}

const invalidValue = (property: string, kind: Kind) =>
  badRequest(`Invalid value specified for property '${property}' of resource '${DIRECTORY_TYPE[kind]}'.`);

const GROUP_MEMBERSHIP_CLAIMS = new Set(["None", "SecurityGroup", "All", "DirectoryRole", "ApplicationGroup"]);
const SIGN_IN_AUDIENCES = new Set([
  "AzureADMyOrg",
  "AzureADMultipleOrgs",
  "AzureADandPersonalMicrosoftAccount",
  "PersonalMicrosoftAccount",
]);

/** Values Graph validates for applications (the ones a broker is likely to get wrong). */
export function checkApplicationValues(
  values: Record<string, unknown>,
  context: { appId: string; tenantId: string; verifiedDomains: string[] },
): void {
  if (
    values.displayName !== undefined &&
    (typeof values.displayName !== "string" || !values.displayName || values.displayName.length > 256)
  )
    throw invalidValue("displayName", "application");
  if (values.signInAudience !== undefined && !SIGN_IN_AUDIENCES.has(String(values.signInAudience)))
    throw invalidValue("signInAudience", "application");
  if (values.groupMembershipClaims !== undefined && values.groupMembershipClaims !== null) {
    const parts = String(values.groupMembershipClaims)
      .split(",")
      .map((part) => part.trim());
    if (!parts.every((part) => GROUP_MEMBERSHIP_CLAIMS.has(part)))
      throw invalidValue("groupMembershipClaims", "application");
  }
  if (
    values.tags !== undefined &&
    (!Array.isArray(values.tags) || values.tags.some((tag) => typeof tag !== "string" || tag.length > 256))
  )
    throw invalidValue("tags", "application");
  if (
    values.uniqueName !== undefined &&
    (typeof values.uniqueName !== "string" || !/^[^\s/\\'"]{1,120}$/.test(values.uniqueName))
  )
    throw invalidValue("uniqueName", "application");
  if (values.identifierUris !== undefined) {
    if (!Array.isArray(values.identifierUris)) throw invalidValue("identifierUris", "application");
    for (const uri of values.identifierUris as unknown[]) {
      const text = String(uri);
      // Single-tenant apps: api://<appId>, api://<tenantId>/..., api://<string>, or a URI on a verified domain.
      if (/^api:\/\/[^\s]+$/i.test(text)) continue;
      const host = /^https:\/\/([^/]+)/i.exec(text)?.[1]?.toLowerCase();
      if (host && context.verifiedDomains.some((domain) => host === domain || host.endsWith(`.${domain}`))) continue;
      throw badRequest(
        `Values of identifierUris property must use a verified domain of the organization or its subdomain: '${text}'`,
        "HostNameNotOnVerifiedDomain",
      );
    }
  }
}

export function checkGroupValues(values: Record<string, unknown>, mode: "create" | "update"): void {
  if (mode === "create")
    for (const field of ["displayName", "mailNickname"])
      if (typeof values[field] !== "string" || !values[field]) throw badRequest(`Property '${field}' is required.`);
  if (values.displayName !== undefined && (typeof values.displayName !== "string" || values.displayName.length > 256))
    throw invalidValue("displayName", "group");
  if (
    values.mailNickname !== undefined &&
    (!/^[\x21-\x7e]{1,64}$/.test(String(values.mailNickname)) || /[@()\\[\]";:<>, ]/.test(String(values.mailNickname)))
  )
    throw invalidValue("mailNickname", "group");
  if (mode === "create") {
    const unified = Array.isArray(values.groupTypes) && values.groupTypes.includes("Unified");
    if (!unified && (values.mailEnabled !== false || values.securityEnabled !== true))
      throw badRequest(
        "Only security groups (mailEnabled false, securityEnabled true) or Microsoft 365 groups can be created through this API.",
      );
  }
}
