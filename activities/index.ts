/**
 * Importing this module registers every activity (one module per Azure resource kind).
 * Activity names are `ensure<Kind>` for plan node kind `<kind>`.
 */
import "./resource-group";
import "./log-analytics";
import "./app-insights";
import "./identity";
import "./key-vault";
import "./role-assignment";
import "./storage";
import "./static-website";
import "./managed-environment";
import "./secret";
import "./container-app";
import "./entra";
import "./bot";

export { ENSURE_RESOURCE_GROUP } from "./resource-group";
export { ENSURE_LOG_ANALYTICS } from "./log-analytics";
export { ENSURE_APP_INSIGHTS } from "./app-insights";
export { ENSURE_IDENTITY } from "./identity";
export { ENSURE_KEY_VAULT } from "./key-vault";
export { ENSURE_ROLE_ASSIGNMENT } from "./role-assignment";
export { ENSURE_STORAGE_ACCOUNT, ENSURE_FILE_SHARE } from "./storage";
export { ENSURE_STATIC_WEBSITE } from "./static-website";
export { ENSURE_MANAGED_ENVIRONMENT, ENSURE_ENVIRONMENT_STORAGE } from "./managed-environment";
export { ENSURE_SECRET } from "./secret";
export { ENSURE_CONTAINER_APP, ENSURE_AUTH_CONFIG } from "./container-app";
export { ENSURE_ENTRA_APP, ENSURE_ENTRA_GROUP, ENSURE_GROUP_ASSIGNMENT } from "./entra";
export { ENSURE_BOT_SERVICE } from "./bot";

import type { ActivityDeps } from "./deps";
import type { ActivityHandler } from "./define";
import { createResourceGroupActivities } from "./resource-group";
import { createLogAnalyticsActivities } from "./log-analytics";
import { createAppInsightsActivities } from "./app-insights";
import { createIdentityActivities } from "./identity";
import { createKeyVaultActivities } from "./key-vault";
import { createRoleAssignmentActivities } from "./role-assignment";
import { createStorageActivities } from "./storage";
import { createStaticWebsiteActivities } from "./static-website";
import { createManagedEnvironmentActivities } from "./managed-environment";
import { createSecretActivities } from "./secret";
import { createContainerAppActivities } from "./container-app";
import { createEntraActivities } from "./entra";
import { createBotActivities } from "./bot";

/** Every converge handler by plan node kind, built on the given deps (the dry run passes its own). */
export function activityHandlersByKind(deps: ActivityDeps): Record<string, ActivityHandler<never>> {
  const storage = createStorageActivities(deps);
  const environment = createManagedEnvironmentActivities(deps);
  const app = createContainerAppActivities(deps);
  const entra = createEntraActivities(deps);
  const handlers = {
    resourceGroup: createResourceGroupActivities(deps).ensureResourceGroup,
    logAnalytics: createLogAnalyticsActivities(deps).ensureLogAnalytics,
    appInsights: createAppInsightsActivities(deps).ensureAppInsights,
    identity: createIdentityActivities(deps).ensureIdentity,
    keyVault: createKeyVaultActivities(deps).ensureKeyVault,
    roleAssignment: createRoleAssignmentActivities(deps).ensureRoleAssignment,
    storageAccount: storage.ensureStorageAccount,
    fileShare: storage.ensureFileShare,
    staticWebsite: createStaticWebsiteActivities(deps).ensureStaticWebsite,
    managedEnvironment: environment.ensureManagedEnvironment,
    environmentStorage: environment.ensureEnvironmentStorage,
    secret: createSecretActivities(deps).ensureSecret,
    containerApp: app.ensureContainerApp,
    authConfig: app.ensureAuthConfig,
    entraApp: entra.ensureEntraApp,
    entraGroup: entra.ensureEntraGroup,
    groupAssignment: entra.ensureGroupAssignment,
    botService: createBotActivities(deps).ensureBotService,
  };
  return handlers as unknown as Record<string, ActivityHandler<never>>;
}
