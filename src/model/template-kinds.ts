/**
 * How each resource kind appears in a slug's exported template (src/model/template.ts builds it):
 * the ARM resources a node of the kind becomes, with the body its activity sends
 * (activities/kinds/*) in ARM's REST shape at the api-version Shire speaks, and each of its
 * outputs as an expression on them; or why no ARM template can express it. `TEMPLATE_KINDS` is
 * typed over every kind: a new kind does not compile until it says which.
 */
import type { Resolvable } from "../contract/reference";
import type { OutputOf, PlanNodeOf, ResourceKind, SecretSource } from "../contract/resources";
import { API_VERSIONS } from "../azure/api-versions";
import { roleAssignmentName } from "./names";

type Json = Record<string, unknown>;

/** A raw template expression (its text without the brackets) inside a resource body. */
export class Expression {
  constructor(readonly text: string) {}
}

/** A string as a template expression literal: `'it''s'`. */
export const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** Where a resource is deployed: the subscription itself, or a resource group of a subscription. */
export type Target = "subscription" | { subscriptionId: string; resourceGroup: string };

/** One ARM resource of a plan node, before it is written into a template. */
export interface ResourceSpec {
  type: string;
  apiVersion: string;
  /** Name segments (a child resource has its parents'); a role assignment's name may be an expression. */
  name: string[] | Expression;
  target: Target;
  /** An extension resource's scope (role assignments): the ARM id of what it applies to. */
  scope?: string;
  /** The body: location, tags, kind, sku, identity, properties; leaves may be references or expressions. */
  body: Json;
}

/** What a conversion needs besides the node: where the slug's own resources are. */
export interface ExportContext {
  subscriptionId: string;
  /** `claw-<slug>` */
  resourceGroup: string;
}

/** How a kind's node becomes template resources, and how its outputs read back from them. */
export interface ArmExport<K extends ResourceKind> {
  resources(node: PlanNodeOf<K>, context: ExportContext): ResourceSpec[];
  /** Each output as an expression on the node's first resource (`id` is its resourceId expression). */
  outputs: { [O in OutputOf<K>]: (id: string, node: PlanNodeOf<K>) => string };
}
/** A kind no ARM template can express, and why. */
export interface OutsideArm {
  outside: string;
}
export type KindExport<K extends ResourceKind> = ArmExport<K> | OutsideArm;

export const isOutside = (conversion: KindExport<ResourceKind>): conversion is OutsideArm => "outside" in conversion;

/** A name, id or place must be known when the deployment starts: never a run-time reference. */
export function literal(value: Resolvable<string>, what: string): string {
  if (typeof value !== "string")
    throw new TypeError(`${what} is known only at run time; a template needs it literally.`);
  return value;
}

/** The subscription and resource group an ARM id lies in (or the subscription, for one outside any group). */
export function targetOf(armId: string): Target {
  const match = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?/i.exec(armId);
  if (!match) throw new TypeError(`'${armId}' is not an ARM id.`);
  return match[2] ? { subscriptionId: match[1], resourceGroup: match[2] } : "subscription";
}

/** The group a node names (`resourceGroup`), in the slug's subscription. */
function inGroup(desired: { resourceGroup: Resolvable<string> }, context: ExportContext): Target {
  return { subscriptionId: context.subscriptionId, resourceGroup: literal(desired.resourceGroup, "A resource group") };
}

const resourceOutputs = <K extends ResourceKind>(
  outputs: Omit<ArmExport<K>["outputs"], "resourceId">,
): ArmExport<K>["outputs"] => ({ resourceId: (id: string) => id, ...outputs }) as ArmExport<K>["outputs"];

const ref = (id: string, apiVersion: string) => `reference(${id}, ${quote(apiVersion)})`;

/** A secret's value that only the deployer can give: a securestring parameter named after its node. */
export class SecureParameter {
  constructor(readonly nodeId: string) {}
}

/**
 * Every kind, and how it is exported. The bodies are the ones each kind's activity sends
 * (activities/kinds/*), in ARM's REST shape.
 */
export const TEMPLATE_KINDS: { [K in ResourceKind]: KindExport<K> } = {
  resourceGroup: {
    resources: (node) => [
      {
        type: "Microsoft.Resources/resourceGroups",
        apiVersion: API_VERSIONS.resources,
        name: [literal(node.desired.name, "The resource group's name")],
        target: "subscription",
        body: { location: node.desired.location, tags: node.desired.tags },
      },
    ],
    outputs: {
      name: (_id, node) => quote(literal(node.desired.name, "name")),
      location: (id) => `reference(${id}, ${quote(API_VERSIONS.resources)}, 'Full').location`,
    },
  },
  logAnalytics: {
    resources: (node, context) => [
      {
        type: "Microsoft.OperationalInsights/workspaces",
        apiVersion: API_VERSIONS.operationalInsights,
        name: [literal(node.desired.name, "The workspace's name")],
        target: inGroup(node.desired, context),
        body: {
          location: node.desired.location,
          tags: node.desired.tags,
          properties: { sku: { name: node.desired.sku }, retentionInDays: node.desired.retentionInDays },
        },
      },
    ],
    outputs: resourceOutputs<"logAnalytics">({
      customerId: (id) => `${ref(id, API_VERSIONS.operationalInsights)}.customerId`,
    }),
  },
  appInsights: {
    resources: (node) => {
      const id = literal(node.desired.resourceId, "Application Insights' id");
      return [
        {
          type: "Microsoft.Insights/components",
          apiVersion: API_VERSIONS.insightsComponents,
          name: [id.split("/").at(-1)!],
          target: targetOf(id),
          body: {
            location: node.desired.location,
            kind: "web",
            tags: node.desired.tags,
            properties: {
              Application_Type: "web",
              WorkspaceResourceId: node.desired.workspaceResourceId,
              IngestionMode: "LogAnalytics",
            },
          },
        },
      ];
    },
    outputs: resourceOutputs<"appInsights">({
      connectionString: (id) => `${ref(id, API_VERSIONS.insightsComponents)}.ConnectionString`,
    }),
  },
  identity: {
    resources: (node, context) => [
      {
        type: "Microsoft.ManagedIdentity/userAssignedIdentities",
        apiVersion: API_VERSIONS.managedIdentity,
        name: [literal(node.desired.name, "The identity's name")],
        target: inGroup(node.desired, context),
        body: { location: node.desired.location, tags: node.desired.tags },
      },
    ],
    outputs: resourceOutputs<"identity">({
      principalId: (id) => `${ref(id, API_VERSIONS.managedIdentity)}.principalId`,
      clientId: (id) => `${ref(id, API_VERSIONS.managedIdentity)}.clientId`,
    }),
  },
  keyVault: {
    // Creating over a soft-deleted vault of the same name fails; Shire recovers it instead (a
    // template cannot tell): the metadata's notes say so.
    resources: (node, context) => [
      {
        type: "Microsoft.KeyVault/vaults",
        apiVersion: API_VERSIONS.keyVault,
        name: [literal(node.desired.name, "The vault's name")],
        target: inGroup(node.desired, context),
        body: {
          location: node.desired.location,
          tags: node.desired.tags,
          properties: {
            tenantId: node.desired.tenantId,
            sku: { family: "A", name: "standard" },
            enableRbacAuthorization: true,
            enableSoftDelete: true,
            publicNetworkAccess: "Enabled",
            softDeleteRetentionInDays: node.desired.softDeleteRetentionInDays,
            ...(node.desired.enablePurgeProtection ? { enablePurgeProtection: true } : {}),
          },
        },
      },
    ],
    outputs: resourceOutputs<"keyVault">({
      vaultUri: (id) => `${ref(id, API_VERSIONS.keyVault)}.vaultUri`,
      recovered: () => "false()",
    }),
  },
  roleAssignment: {
    resources: (node) => {
      const scope = literal(node.desired.scope, "A role assignment's scope");
      const role = literal(node.desired.roleDefinitionGuid, "A role");
      const principal = node.desired.principalId;
      const target = targetOf(scope);
      const atTarget =
        target === "subscription"
          ? /^\/subscriptions\/[^/]+$/i.test(scope)
          : /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+$/i.test(scope);
      return [
        {
          type: "Microsoft.Authorization/roleAssignments",
          apiVersion: API_VERSIONS.authorization,
          // Shire names a grant after (scope, role, principal). A principal known only at run time
          // (an identity made in this deployment, an Entra group) cannot be in a name, which ARM
          // needs before it starts: then the name is a GUID of (scope, role, plan node).
          name:
            typeof principal === "string"
              ? [roleAssignmentName(scope, role, principal)]
              : new Expression(`guid(${quote(scope)}, ${quote(role)}, ${quote(node.id)})`),
          target,
          ...(atTarget ? {} : { scope }),
          body: {
            properties: {
              roleDefinitionId: new Expression(
                `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ${quote(role)})`,
              ),
              principalId: principal,
              principalType: node.desired.principalType,
              ...(node.desired.description ? { description: node.desired.description } : {}),
            },
          },
        },
      ];
    },
    outputs: resourceOutputs<"roleAssignment">({
      name: (id) => `last(split(${id}, '/'))`,
    }),
  },
  storageAccount: {
    resources: (node, context) => [
      {
        type: "Microsoft.Storage/storageAccounts",
        apiVersion: API_VERSIONS.storage,
        name: [literal(node.desired.name, "The storage account's name")],
        target: inGroup(node.desired, context),
        body: {
          location: node.desired.location,
          tags: node.desired.tags,
          sku: { name: node.desired.sku },
          kind: "StorageV2",
          properties: {
            supportsHttpsTrafficOnly: true,
            minimumTlsVersion: "TLS1_2",
            allowBlobPublicAccess: false,
            allowSharedKeyAccess: true,
          },
        },
      },
    ],
    outputs: resourceOutputs<"storageAccount">({
      blobEndpoint: (id) => `${ref(id, API_VERSIONS.storage)}.primaryEndpoints.blob`,
      webEndpoint: (id) => `${ref(id, API_VERSIONS.storage)}.primaryEndpoints.web`,
    }),
  },
  fileShare: {
    resources: (node, context) => [
      {
        type: "Microsoft.Storage/storageAccounts/fileServices/shares",
        apiVersion: API_VERSIONS.storage,
        name: [
          literal(node.desired.accountName, "The account's name"),
          "default",
          literal(node.desired.shareName, "The share's name"),
        ],
        target: inGroup(node.desired, context),
        body: { properties: { shareQuota: node.desired.quotaGiB, enabledProtocols: "SMB" } },
      },
    ],
    outputs: resourceOutputs<"fileShare">({
      shareName: (_id, node) => quote(literal(node.desired.shareName, "share")),
    }),
  },
  staticWebsite: {
    outside:
      "The Teams tab's pages are blobs in the account's $web container, written through the Blob data plane (and the static website a blob service property set there): an ARM template deploys neither.",
  },
  managedEnvironment: {
    resources: (node, context) => {
      const workspace = `resourceId(${quote(literal(node.desired.workspaceResourceGroup, "The workspace's group"))}, 'Microsoft.OperationalInsights/workspaces', ${quote(literal(node.desired.workspaceName, "The workspace's name"))})`;
      return [
        {
          type: "Microsoft.App/managedEnvironments",
          apiVersion: API_VERSIONS.app,
          name: [literal(node.desired.name, "The environment's name")],
          target: inGroup(node.desired, context),
          body: {
            location: node.desired.location,
            tags: node.desired.tags,
            properties: {
              appLogsConfiguration: {
                destination: "log-analytics",
                logAnalyticsConfiguration: {
                  customerId: node.desired.workspaceCustomerId,
                  // Shire reads the key and passes it on; here ARM does, inside the deployment.
                  sharedKey: new Expression(
                    `listKeys(${workspace}, ${quote(API_VERSIONS.operationalInsights)}).primarySharedKey`,
                  ),
                },
              },
            },
          },
        },
      ];
    },
    outputs: resourceOutputs<"managedEnvironment">({
      defaultDomain: (id) => `${ref(id, API_VERSIONS.app)}.defaultDomain`,
      staticIp: (id) => `${ref(id, API_VERSIONS.app)}.staticIp`,
    }),
  },
  environmentStorage: {
    resources: (node, context) => {
      const account = `resourceId('Microsoft.Storage/storageAccounts', ${quote(literal(node.desired.storageAccountName, "The account's name"))})`;
      return [
        {
          type: "Microsoft.App/managedEnvironments/storages",
          apiVersion: API_VERSIONS.app,
          name: [
            literal(node.desired.environmentName, "The environment's name"),
            literal(node.desired.name, "The storage's name"),
          ],
          target: inGroup(node.desired, context),
          body: {
            properties: {
              azureFile: {
                accountName: node.desired.storageAccountName,
                shareName: node.desired.shareName,
                accessMode: node.desired.accessMode,
                // key1, as Shire registers it.
                accountKey: new Expression(`listKeys(${account}, ${quote(API_VERSIONS.storage)}).keys[0].value`),
              },
            },
          },
        },
      ];
    },
    outputs: resourceOutputs<"environmentStorage">({ name: (_id, node) => quote(literal(node.desired.name, "name")) }),
  },
  secret: {
    resources: (node, context) => {
      // A source's kind is never a reference (the plan writes it); its names are checked literal below.
      const source = node.desired.source as unknown as SecretSource;
      const vault = literal(node.desired.vaultName, "The vault's name");
      let value: Expression | SecureParameter;
      if (source.type === "storageAccountKey")
        value = new Expression(
          `listKeys(resourceId(${quote(literal(source.resourceGroup, "group"))}, 'Microsoft.Storage/storageAccounts', ${quote(literal(source.accountName, "account"))}), ${quote(API_VERSIONS.storage)}).keys[${source.keyName === "key2" ? 1 : 0}].value`,
        );
      else if (source.type === "cognitiveServicesKey")
        value = new Expression(
          `listKeys(${quote(literal(source.accountResourceId, "The account's id"))}, ${quote(API_VERSIONS.cognitiveServices)}).key1`,
        );
      else value = new SecureParameter(node.id);
      return [
        {
          type: "Microsoft.KeyVault/vaults/secrets",
          apiVersion: API_VERSIONS.keyVault,
          name: [vault, literal(node.desired.secretName, "The secret's name")],
          // Every secret node names the slug's own vault.
          target: { subscriptionId: context.subscriptionId, resourceGroup: context.resourceGroup },
          body: {
            ...(node.desired.tags ? { tags: node.desired.tags } : {}),
            properties: { value, ...(node.desired.contentType ? { contentType: node.desired.contentType } : {}) },
          },
        },
      ];
    },
    outputs: {
      secretName: (_id, node) => quote(literal(node.desired.secretName, "name")),
      version: (id) => `last(split(${ref(id, API_VERSIONS.keyVault)}.secretUriWithVersion, '/'))`,
    },
  },
  containerApp: {
    resources: (node, context) => [
      {
        type: "Microsoft.App/containerApps",
        apiVersion: API_VERSIONS.app,
        name: [literal(node.desired.name, "The app's name")],
        target: inGroup(node.desired, context),
        body: {
          location: node.desired.location,
          tags: node.desired.tags,
          identity: {
            type: "UserAssigned",
            userAssignedIdentities: { [literal(node.desired.identityResourceId, "The identity's id")]: {} },
          },
          properties: {
            environmentId: node.desired.environmentId,
            configuration: node.desired.configuration,
            template: node.desired.template,
          },
        },
      },
    ],
    outputs: resourceOutputs<"containerApp">({
      fqdn: (id) => `${ref(id, API_VERSIONS.app)}.configuration.ingress.fqdn`,
      latestRevisionName: (id) => `${ref(id, API_VERSIONS.app)}.latestRevisionName`,
    }),
  },
  authConfig: {
    resources: (node, context) => [
      {
        type: "Microsoft.App/containerApps/authConfigs",
        apiVersion: API_VERSIONS.app,
        name: [literal(node.desired.containerAppName, "The app's name"), "current"],
        target: inGroup(node.desired, context),
        body: { properties: node.desired.config },
      },
    ],
    outputs: resourceOutputs<"authConfig">({}),
  },
  appRunState: {
    outside:
      "Whether the app runs is a start or stop action on it, not a property a template sets: a deployed app runs (a retired slug's app is stopped with `az containerapp stop`).",
  },
  entraApp: {
    outside:
      "An Entra app registration with its service principal, made through Microsoft Graph: ARM templates cannot create Entra objects. Its ids are parameters of this template.",
  },
  entraGroup: {
    outside: "An Entra security group, made through Microsoft Graph: ARM templates cannot create Entra objects.",
  },
  groupAssignment: {
    outside:
      "A group assigned to the sign-in app's service principal (Microsoft Graph appRoleAssignedTo): ARM templates cannot create it.",
  },
  identityAssignments: {
    outside:
      "Users and service principals assigned to the sign-in app (Microsoft Graph appRoleAssignedTo): ARM templates cannot create them.",
  },
  botService: {
    resources: (node, context) => {
      const target = inGroup(node.desired, context);
      const name = literal(node.desired.name, "The bot's name");
      return [
        {
          type: "Microsoft.BotService/botServices",
          apiVersion: API_VERSIONS.botService,
          name: [name],
          target,
          body: {
            location: "global",
            kind: "azurebot",
            sku: { name: node.desired.sku },
            tags: node.desired.tags,
            properties: {
              displayName: node.desired.displayName,
              endpoint: node.desired.messagingEndpoint,
              msaAppId: node.desired.msaAppId,
              msaAppType: node.desired.msaAppType,
              msaAppTenantId: node.desired.tenantId,
              ...(node.desired.msaAppMSIResourceId ? { msaAppMSIResourceId: node.desired.msaAppMSIResourceId } : {}),
            },
          },
        },
        {
          type: "Microsoft.BotService/botServices/channels",
          apiVersion: API_VERSIONS.botService,
          name: [name, "MsTeamsChannel"],
          target,
          body: { location: "global", properties: { channelName: "MsTeamsChannel", properties: { isEnabled: true } } },
        },
      ];
    },
    outputs: resourceOutputs<"botService">({
      messagingEndpoint: (id) => `${ref(id, API_VERSIONS.botService)}.endpoint`,
    }),
  },
};
