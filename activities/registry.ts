/**
 * The one registry of resource kinds. Everything that needs to know the kinds derives from it:
 * the activities registered with the Functions host (`ensure<Kind>`, `remove<Kind>`,
 * `inspect<Kind>`), the dry run and `inspect`, teardown's policy per resource, and the table in
 * docs/resources.md (`npm run docs:resources` writes it; a test checks it is current).
 *
 * Its type maps every kind of src/contract/resources.ts to its module: a kind without a module,
 * or a module whose desired state does not match the contract, does not compile.
 */
import type { DesiredOf, ResourceKind } from "../src/contract/resources";
import type { ActivityDeps } from "./deps";
import type { ResourceKindDefinition } from "./define";
import { resourceGroupKind } from "./kinds/resource-group";
import { logAnalyticsKind } from "./kinds/log-analytics";
import { appInsightsKind } from "./kinds/app-insights";
import { identityKind } from "./kinds/identity";
import { keyVaultKind } from "./kinds/key-vault";
import { roleAssignmentKind } from "./kinds/role-assignment";
import { storageAccountKind } from "./kinds/storage-account";
import { fileShareKind } from "./kinds/file-share";
import { staticWebsiteKind } from "./kinds/static-website";
import { managedEnvironmentKind } from "./kinds/managed-environment";
import { environmentStorageKind } from "./kinds/environment-storage";
import { secretKind } from "./kinds/secret";
import { containerAppKind } from "./kinds/container-app";
import { authConfigKind } from "./kinds/auth-config";
import { appRunStateKind } from "./kinds/app-run-state";
import { entraAppKind } from "./kinds/entra-app";
import { entraGroupKind } from "./kinds/entra-group";
import { groupAssignmentKind } from "./kinds/group-assignment";
import { identityAssignmentsKind } from "./kinds/identity-assignments";
import { botServiceKind } from "./kinds/bot-service";

export type ResourceRegistry = { [K in ResourceKind]: ResourceKindDefinition<K> };

export const RESOURCE_KINDS: ResourceRegistry = {
  resourceGroup: resourceGroupKind,
  logAnalytics: logAnalyticsKind,
  appInsights: appInsightsKind,
  identity: identityKind,
  keyVault: keyVaultKind,
  roleAssignment: roleAssignmentKind,
  storageAccount: storageAccountKind,
  fileShare: fileShareKind,
  staticWebsite: staticWebsiteKind,
  managedEnvironment: managedEnvironmentKind,
  environmentStorage: environmentStorageKind,
  secret: secretKind,
  containerApp: containerAppKind,
  authConfig: authConfigKind,
  appRunState: appRunStateKind,
  entraApp: entraAppKind,
  entraGroup: entraGroupKind,
  groupAssignment: groupAssignmentKind,
  identityAssignments: identityAssignmentsKind,
  botService: botServiceKind,
};

export const RESOURCE_KIND_NAMES = Object.keys(RESOURCE_KINDS) as ResourceKind[];

export function kindDefinition<K extends ResourceKind>(kind: K): ResourceKindDefinition<K> {
  const definition = RESOURCE_KINDS[kind];
  if (!definition) throw new TypeError(`Unknown resource kind '${String(kind)}'.`);
  return definition as ResourceKindDefinition<K>;
}

export function isResourceKind(kind: string): kind is ResourceKind {
  return Object.prototype.hasOwnProperty.call(RESOURCE_KINDS, kind);
}

/** A kind's activities on `deps` (what a test or the dry run calls directly). */
export function kindActivities<K extends ResourceKind>(kind: K, deps: ActivityDeps) {
  return kindDefinition(kind).activities(deps);
}

/** The desired type of a kind, for callers holding a kind name. */
export type AnyDesired = DesiredOf<ResourceKind>;
