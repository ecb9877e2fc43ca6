/**
 * Every resource kind Shire manages: the state its plan node asks for (`desired`, checked at
 * compile time) and the outputs its activities hand to dependents. The model (plans), the
 * activities (one module per kind, activities/kinds/) and the orchestrations all type against
 * this one map, so a wrong key or a reference to an output a kind does not have fails to compile.
 *
 * Adding a kind: its entry here, its module in activities/kinds/ with its line in
 * activities/registry.ts (the registry's type makes a missing one a compile error), and the plan
 * node that uses it (docs/resources.md explains).
 */
import type { AuthConfig, ContainerApp } from "@azure/arm-appcontainers";
import type { NodeReference, Resolvable } from "./reference";

export interface ResourceGroupDesired {
  name: string;
  location: string;
  tags: Record<string, string>;
}

export interface LogAnalyticsDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  retentionInDays: number;
  sku: string;
}

export interface AppInsightsDesired {
  resourceId: string;
  location: string;
  tags: Record<string, string>;
  workspaceResourceId: string;
}

export interface IdentityDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
}

export interface KeyVaultDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  tenantId: string;
  softDeleteRetentionInDays: number;
  enablePurgeProtection?: boolean;
}

export interface RoleAssignmentDesired {
  /** ARM id of the scope (vault, registry, resource group...). */
  scope: string;
  /** Built-in role definition GUID (azure-facts §B). */
  roleDefinitionGuid: string;
  principalId: string;
  principalType: "ServicePrincipal" | "Group" | "User";
  description?: string;
}

export interface StorageAccountDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  sku: string;
}

export interface FileShareDesired {
  resourceGroup: string;
  accountName: string;
  shareName: string;
  quotaGiB: number;
}

export interface StaticWebsiteDesired {
  accountName: string;
  slug: string;
  /** `https://<app fqdn>` the tab opens. */
  appUrl: string;
  /** The account's static website endpoint (`primaryEndpoints.web`): where Teams loads the page, anonymously. */
  webEndpoint: string;
}

export interface ManagedEnvironmentDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  workspaceResourceGroup: string;
  workspaceName: string;
  workspaceCustomerId: string;
}

export interface EnvironmentStorageDesired {
  resourceGroup: string;
  environmentName: string;
  name: string;
  storageAccountName: string;
  shareName: string;
  accessMode: "ReadWrite" | "ReadOnly";
  /**
   * The vault's copy of the account key in use: when the storage is written, it gets that key (a
   * rotation alternates key1 and key2; an install must not move it back). Absent: key1.
   */
  accountKeyFrom?: { vaultName: string; secretName: string };
}

export type SecretSource =
  | { type: "random"; bytes: number }
  | { type: "storageAccountKey"; resourceGroup: string; accountName: string; keyName: "key1" | "key2" }
  | { type: "cognitiveServicesKey"; accountResourceId: string }
  | { type: "entraClientSecret"; applicationObjectId: string; displayName: string; validityDays: number }
  /** Supplied by the operator out of band (channel tokens): checked, never written. */
  | { type: "external" };

export interface SecretDesired {
  vaultName: string;
  secretName: string;
  source: SecretSource;
  contentType?: string;
  tags?: Record<string, string>;
}

export interface ContainerAppDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  environmentId: string;
  /** ARM id of the user-assigned identity that pulls the image and reads the vault. */
  identityResourceId: string;
  configuration: NonNullable<ContainerApp["configuration"]>;
  template: NonNullable<ContainerApp["template"]>;
  /**
   * false: the step is done once ARM has the app, without waiting for its latest revision to run
   * (an upgrade waits in its own health gate, with its own timeout and rollback). Not part of the
   * app: never sent to Azure.
   */
  awaitRevision?: boolean;
}

export interface AuthConfigDesired {
  resourceGroup: string;
  containerAppName: string;
  config: Omit<AuthConfig, "id" | "name" | "type" | "systemData">;
}

/** Whether the app serves: retire stops it (no replicas, nothing routed), cancel starts it again. */
export interface AppRunStateDesired {
  resourceGroup: string;
  containerAppName: string;
  running: boolean;
}

export interface EntraAppDesired {
  displayName: string;
  /** Tenant-unique key of this app (`shire-<slug>-<suffix>`): lookups and creates go by it. */
  uniqueName: string;
  /** Tag that marks the app as this slug's (`shire-slug:<slug>`): nothing without it is changed or deleted. */
  ownershipTag: string;
  /** Sign-in redirect URIs (Container Apps authentication callback); none for the bot's app. */
  redirectUris: string[];
  /** Only principals assigned to the app get tokens for it (the sign-in app, not the bot). */
  assignmentRequired: boolean;
  /** Container Apps authentication signs users in with the hybrid flow and needs ID tokens. */
  idTokenIssuance: boolean;
}

export interface EntraGroupDesired {
  displayName: string;
  /** Tenant-unique key (`shire-admins`, `shire-<slug>-<suffix>`). */
  uniqueName: string;
  mailNickname: string;
  description: string;
  /** Shared by every slug (`shire-admins`): never removed by a slug's operations. */
  shared?: boolean;
}

export interface GroupAssignmentDesired {
  servicePrincipalId: string;
  /** The group to assign to the app (default role). */
  principalId: string;
}

/**
 * The users and service principals assigned to the sign-in app one by one (`allowedIdentities`),
 * as one step however many there are. The list is complete: a direct user or service principal
 * assignment not in it is revoked (groups are other steps' business and left alone).
 */
export interface IdentityAssignmentsDesired {
  servicePrincipalId: string;
  principalIds: string[];
}

export interface BotServiceDesired {
  resourceGroup: string;
  name: string;
  displayName: string;
  tags: Record<string, string>;
  /** `https://<app fqdn>/api/messages` */
  messagingEndpoint: string;
  /**
   * `SingleTenant`: the bot's own app registration; `UserAssignedMSI`: the slug's user-assigned
   * identity (msaAppId its client id, msaAppMSIResourceId its ARM id). Azure sets it at creation.
   */
  msaAppType: "SingleTenant" | "UserAssignedMSI";
  msaAppId: string;
  msaAppMSIResourceId?: string;
  tenantId: string;
  sku: "F0" | "S1";
}

/** Each kind: what its node asks for, and the names of the outputs its activities return. */
export interface ResourceKinds {
  resourceGroup: { desired: ResourceGroupDesired; outputs: "name" | "location" };
  logAnalytics: { desired: LogAnalyticsDesired; outputs: "resourceId" | "customerId" };
  appInsights: { desired: AppInsightsDesired; outputs: "resourceId" | "connectionString" };
  identity: { desired: IdentityDesired; outputs: "resourceId" | "principalId" | "clientId" };
  keyVault: { desired: KeyVaultDesired; outputs: "resourceId" | "vaultUri" | "recovered" };
  roleAssignment: { desired: RoleAssignmentDesired; outputs: "name" | "resourceId" };
  storageAccount: { desired: StorageAccountDesired; outputs: "resourceId" | "blobEndpoint" | "webEndpoint" };
  fileShare: { desired: FileShareDesired; outputs: "resourceId" | "shareName" };
  staticWebsite: { desired: StaticWebsiteDesired; outputs: "pageUrl" | "tabUrl" };
  managedEnvironment: { desired: ManagedEnvironmentDesired; outputs: "resourceId" | "defaultDomain" | "staticIp" };
  environmentStorage: { desired: EnvironmentStorageDesired; outputs: "resourceId" | "name" };
  secret: { desired: SecretDesired; outputs: "secretName" | "version" };
  containerApp: { desired: ContainerAppDesired; outputs: "resourceId" | "fqdn" | "latestRevisionName" };
  authConfig: { desired: AuthConfigDesired; outputs: "resourceId" };
  appRunState: { desired: AppRunStateDesired; outputs: "runningStatus" };
  entraApp: { desired: EntraAppDesired; outputs: "applicationObjectId" | "appId" | "servicePrincipalId" };
  entraGroup: { desired: EntraGroupDesired; outputs: "groupId" };
  groupAssignment: { desired: GroupAssignmentDesired; outputs: "assignmentId" };
  identityAssignments: { desired: IdentityAssignmentsDesired; outputs: "assigned" | "revoked" };
  botService: { desired: BotServiceDesired; outputs: "resourceId" | "messagingEndpoint" };
}

export type ResourceKind = keyof ResourceKinds;
export type DesiredOf<K extends ResourceKind> = ResourceKinds[K]["desired"];
export type OutputOf<K extends ResourceKind> = ResourceKinds[K]["outputs"];

/** One resource of a slug's desired-state graph, its `desired` typed by its kind. */
export type PlanNode = {
  [K in ResourceKind]: {
    id: string;
    kind: K;
    title: string;
    dependsOn: string[];
    desired: Resolvable<DesiredOf<K>>;
  };
}[ResourceKind];

export type PlanNodeOf<K extends ResourceKind> = Extract<PlanNode, { kind: K }>;

/** A reference to an output a node of kind K really has (`ref(node, "principalId")`). */
export function ref<K extends ResourceKind>(
  node: { id: string; kind: K },
  output: OutputOf<K>,
  format?: string,
): NodeReference {
  return format === undefined ? { fromNode: node.id, output } : { fromNode: node.id, output, format };
}
