/**
 * The desired-state graph: `planSlug(spec, context)` returns a node per resource of DESIGN.md's
 * table with its dependencies and the desired state its activity converges to. Pure and
 * deterministic (no clock, no randomness): the same spec and context give a deep-equal plan.
 * Each node's `desired` is typed by its kind (src/contract/resources.ts); values known only at
 * run time are references to a dependency's outputs (`ref(node, "principalId")`, checked against
 * the outputs that node's kind has).
 */
import type { Resolvable } from "../contract/reference";
import { ref, type DesiredOf, type PlanNode, type PlanNodeOf, type ResourceKind } from "../contract/resources";
import { ROLE_IDS, SECRET_NAMES, STATE_VOLUME_NAME, deriveNames, resourceId } from "./names";
import { buildOpenClawContainerSpec, STATE_MOUNT_OPTIONS } from "./openclaw";
import { pluginsFor, teamsBotIdentityOf } from "./spec";
import type { SlugSpec } from "./spec";
import { TEAMS_WEBHOOK_PATH } from "./nginx";

export type { PlanNode } from "../contract/resources";

export interface PlanContext {
  subscriptionId: string;
  tenantId: string;
  /** Object id of the broker's identity: it writes secrets (Secrets Officer) and the tab page. */
  brokerPrincipalId: string;
  /** `https://<name>.vault.<suffix>[:port]/` for a vault name, from the cloud's endpoints. */
  vaultUri: (vaultName: string) => string;
  /** Entra authority of the cloud (issuer of sign-in tokens); public cloud when absent. */
  authorityHost?: string;
  /** The NGINX sidecar's image (a mirror in the shared registry avoids Docker Hub's rate limits). */
  nginxImage?: string;
  sharedRegistry?: { resourceId: string; loginServer: string };
}

/** The vault's copy of the storage account key the environment storage mounts with. */
const STORAGE_KEY_NODE = "secret:storageKey";

export interface SlugPlan {
  slug: string;
  nodes: PlanNode[];
}

/** A node of kind K: its desired state must be that kind's. */
export function planNode<K extends ResourceKind>(
  kind: K,
  id: string,
  title: string,
  dependsOn: string[],
  desired: Resolvable<DesiredOf<K>>,
): PlanNodeOf<K> {
  return { id, kind, title, dependsOn, desired } as PlanNodeOf<K>;
}

export function planSlug(spec: SlugSpec, context: PlanContext): SlugPlan {
  const names = deriveNames(spec.slug, { subscriptionId: context.subscriptionId });
  const rg = names.resourceGroup;
  const tags = { ...spec.tags, "managed-by": "shire", "shire-slug": spec.slug };
  const location = spec.region;
  const id = (provider: string, ...rest: string[]) => resourceId(context.subscriptionId, rg, provider, ...rest);
  const vaultId = id("Microsoft.KeyVault", "vaults", names.keyVault);
  const storageId = id("Microsoft.Storage", "storageAccounts", names.storageAccount);
  const identityId = id("Microsoft.ManagedIdentity", "userAssignedIdentities", names.identity);
  const vaultUri = context.vaultUri(names.keyVault);
  const teams = spec.channels.teams;
  const botIdentity = teamsBotIdentityOf(spec);
  const telegram = spec.channels.telegram;

  const nodes: PlanNode[] = [];
  const add = <K extends ResourceKind>(
    kind: K,
    nodeId: string,
    title: string,
    dependsOn: string[],
    desired: Resolvable<DesiredOf<K>>,
  ): PlanNodeOf<K> => {
    const node = planNode(kind, nodeId, title, dependsOn, desired);
    nodes.push(node);
    return node;
  };

  const resourceGroup = add("resourceGroup", "resourceGroup", `Resource group ${rg}`, [], { name: rg, location, tags });
  const logAnalytics = add("logAnalytics", "logAnalytics", `Log Analytics ${names.logAnalytics}`, [resourceGroup.id], {
    resourceGroup: rg,
    name: names.logAnalytics,
    location,
    tags,
    sku: "PerGB2018",
    retentionInDays: 30,
  });
  // The slug's telemetry destination (the gateway cannot send to it yet: docs/operations.md, Telemetry).
  add("appInsights", "appInsights", `Application Insights ${names.appInsights}`, [logAnalytics.id], {
    resourceId: id("Microsoft.Insights", "components", names.appInsights),
    location,
    tags,
    workspaceResourceId: ref(logAnalytics, "resourceId"),
  });
  const identity = add("identity", "identity", `Managed identity ${names.identity}`, [resourceGroup.id], {
    resourceGroup: rg,
    name: names.identity,
    location,
    tags,
  });
  const keyVault = add("keyVault", "keyVault", `Key Vault ${names.keyVault}`, [resourceGroup.id], {
    resourceGroup: rg,
    name: names.keyVault,
    location,
    tags,
    tenantId: context.tenantId,
    softDeleteRetentionInDays: 90,
  });
  const managedEnvironment = add(
    "managedEnvironment",
    "managedEnvironment",
    `Container Apps environment ${names.managedEnvironment}`,
    [logAnalytics.id],
    {
      resourceGroup: rg,
      name: names.managedEnvironment,
      location,
      tags,
      workspaceResourceGroup: rg,
      workspaceName: names.logAnalytics,
      workspaceCustomerId: ref(logAnalytics, "customerId"),
    },
  );
  const appOrigin = ref(managedEnvironment, "defaultDomain", `https://${names.containerApp}.\${value}`);
  const adminsGroup = add("entraGroup", "group:admins", `Entra group ${names.adminsGroup}`, [], {
    displayName: names.adminsGroup,
    uniqueName: names.adminsGroupUniqueName,
    mailNickname: names.adminsGroup,
    description: "Shire operators: allowed into every slug.",
    shared: true,
  });
  const slugGroup = add("entraGroup", "group:slug", `Entra group ${names.slugGroup}`, [], {
    displayName: names.slugGroup,
    uniqueName: names.slugGroupUniqueName,
    mailNickname: names.slugGroupUniqueName,
    description: `Users of the ${spec.slug} OpenClaw environment.`,
  });

  const roleAssignment = (
    nodeId: string,
    title: string,
    dependsOn: string[],
    scope: string,
    role: string,
    principalId: Resolvable<string>,
    principalType: DesiredOf<"roleAssignment">["principalType"] = "ServicePrincipal",
  ) => add("roleAssignment", nodeId, title, dependsOn, { scope, roleDefinitionGuid: role, principalId, principalType });
  const brokerVaultAccess = roleAssignment(
    "vaultAccess:broker",
    "Broker writes secrets (Key Vault Secrets Officer)",
    [keyVault.id],
    vaultId,
    ROLE_IDS.keyVaultSecretsOfficer,
    context.brokerPrincipalId,
  );
  // Operators (shire-admins) write the tokens Shire cannot make (Telegram, a Foundry key) into the
  // vault: in RBAC mode not even a subscription Owner can without a data-plane role.
  roleAssignment(
    "vaultAccess:admins",
    "Operators write channel tokens (Key Vault Secrets Officer for shire-admins)",
    [keyVault.id, adminsGroup.id],
    vaultId,
    ROLE_IDS.keyVaultSecretsOfficer,
    ref(adminsGroup, "groupId"),
    "Group",
  );
  const gatewayVaultAccess = roleAssignment(
    "vaultAccess:gateway",
    "Gateway reads secrets (Key Vault Secrets User)",
    [keyVault.id, identity.id],
    vaultId,
    ROLE_IDS.keyVaultSecretsUser,
    ref(identity, "principalId"),
  );
  const registryAccess = context.sharedRegistry
    ? roleAssignment(
        "registryAccess:gateway",
        "Gateway pulls the image (AcrPull)",
        [identity.id],
        context.sharedRegistry.resourceId,
        ROLE_IDS.acrPull,
        ref(identity, "principalId"),
      )
    : undefined;
  const storageAccount = add(
    "storageAccount",
    "storageAccount",
    `Storage account ${names.storageAccount}`,
    [resourceGroup.id],
    { resourceGroup: rg, name: names.storageAccount, location, tags, sku: "Standard_LRS" },
  );
  const fileShare = add("fileShare", "fileShare", `File share ${names.fileShare}`, [storageAccount.id], {
    resourceGroup: rg,
    accountName: names.storageAccount,
    shareName: names.fileShare,
    quotaGiB: 100,
  });
  const environmentStorage = add(
    "environmentStorage",
    "environmentStorage",
    `Environment storage ${names.environmentStorage}`,
    // The key it mounts with is the one the vault's copy holds (rotation alternates key1 and key2).
    [managedEnvironment.id, fileShare.id, STORAGE_KEY_NODE],
    {
      resourceGroup: rg,
      environmentName: names.managedEnvironment,
      name: names.environmentStorage,
      storageAccountName: names.storageAccount,
      shareName: names.fileShare,
      accessMode: "ReadWrite",
      accountKeyFrom: { vaultName: names.keyVault, secretName: SECRET_NAMES.storageAccountKey },
    },
  );

  // Entra: the app registration (sign-in at the edge), groups, assignments.
  const ownershipTag = `shire-slug:${spec.slug}`;
  const entraApp = add("entraApp", "entraApp", `Entra app ${names.entraApp} (sign-in)`, [managedEnvironment.id], {
    displayName: names.entraApp,
    uniqueName: names.entraAppUniqueName,
    ownershipTag,
    redirectUris: [
      ref(managedEnvironment, "defaultDomain", `https://${names.containerApp}.\${value}/.auth/login/aad/callback`),
    ],
    assignmentRequired: true,
    idTokenIssuance: true,
  });
  for (const [group, groupName] of [
    [adminsGroup, names.adminsGroup],
    [slugGroup, names.slugGroup],
  ] as const) {
    add(
      "groupAssignment",
      `assignment:${group.id.split(":")[1]}`,
      `Assign ${groupName} to the app`,
      [entraApp.id, group.id],
      {
        servicePrincipalId: ref(entraApp, "servicePrincipalId"),
        principalId: ref(group, "groupId"),
      },
    );
  }
  // Every individually allowed identity in one step, however many (the status stays small).
  add(
    "identityAssignments",
    "assignment:identities",
    `Assign ${spec.allowedIdentities.length} allowed identit${spec.allowedIdentities.length === 1 ? "y" : "ies"} to the app`,
    [entraApp.id],
    { servicePrincipalId: ref(entraApp, "servicePrincipalId"), principalIds: spec.allowedIdentities },
  );
  // An app-registration bot's own app: Bot Framework gets tokens for it, which an assignment
  // requirement would refuse. A managed-identity bot is the gateway's identity: no Entra object.
  const botApp =
    botIdentity === "appRegistration"
      ? add("entraApp", "botApp", `Entra app ${names.botApp} (Teams bot)`, [], {
          displayName: names.botApp,
          uniqueName: names.botAppUniqueName,
          ownershipTag,
          redirectUris: [],
          assignmentRequired: false,
          idTokenIssuance: false,
        })
      : undefined;

  // Secrets, written by the broker straight into the vault.
  const secret = (
    nodeId: string,
    title: string,
    dependsOn: string[],
    secretName: string,
    source: Resolvable<DesiredOf<"secret">["source"]>,
  ) =>
    add("secret", nodeId, title, [brokerVaultAccess.id, ...dependsOn], {
      vaultName: names.keyVault,
      secretName,
      source,
      tags: { "managed-by": "shire" },
    });
  const secrets = [
    secret("secret:gatewayToken", "Gateway token", [], SECRET_NAMES.gatewayToken, { type: "random", bytes: 32 }),
    secret("secret:entraClientSecret", "Entra client secret (sign-in)", [entraApp.id], SECRET_NAMES.entraClientSecret, {
      type: "entraClientSecret",
      applicationObjectId: ref(entraApp, "applicationObjectId"),
      displayName: "shire",
      validityDays: 180,
    }),
    ...(botApp
      ? [
          secret("secret:teamsAppPassword", "Teams bot app password", [botApp.id], SECRET_NAMES.teamsAppPassword, {
            type: "entraClientSecret",
            applicationObjectId: ref(botApp, "applicationObjectId"),
            displayName: "shire",
            validityDays: 180,
          }),
        ]
      : []),
    ...(spec.foundry?.accountResourceId
      ? [
          secret("secret:foundryKey", "AI Foundry key", [], SECRET_NAMES.foundryApiKey, {
            type: "cognitiveServicesKey",
            accountResourceId: spec.foundry.accountResourceId,
          }),
        ]
      : spec.foundry
        ? [
            secret("secret:foundryKey", "AI Foundry key (supplied by the operator)", [], SECRET_NAMES.foundryApiKey, {
              type: "external",
            }),
          ]
        : []),
    ...(telegram
      ? [
          secret(
            "secret:telegramBotToken",
            "Telegram bot token (supplied by the operator)",
            [],
            SECRET_NAMES.telegramBotToken,
            { type: "external" },
          ),
        ]
      : []),
    ...(telegram?.mode === "webhook"
      ? [
          secret("secret:telegramWebhookSecret", "Telegram webhook secret", [], SECRET_NAMES.telegramWebhookSecret, {
            type: "random",
            bytes: 32,
          }),
        ]
      : []),
  ];
  // The app does not read the storage key copy; the environment storage mounts with the key it holds.
  secret(STORAGE_KEY_NODE, "Storage account key copy", [storageAccount.id], SECRET_NAMES.storageAccountKey, {
    type: "storageAccountKey",
    resourceGroup: rg,
    accountName: names.storageAccount,
    keyName: "key1",
  });

  // The Container App: secrets are Key Vault references through the gateway identity.
  const appSecretNames = [
    SECRET_NAMES.gatewayToken,
    SECRET_NAMES.entraClientSecret,
    ...(botApp ? [SECRET_NAMES.teamsAppPassword] : []),
    ...(telegram ? [SECRET_NAMES.telegramBotToken] : []),
    ...(telegram?.mode === "webhook" ? [SECRET_NAMES.telegramWebhookSecret] : []),
    ...(spec.foundry ? [SECRET_NAMES.foundryApiKey] : []),
  ];
  const appSecrets = appSecretNames.map((name) => ({
    name,
    keyVaultUrl: `${vaultUri}secrets/${name}`,
    identity: identityId,
  }));
  const containerSpec = buildOpenClawContainerSpec({
    image: spec.image,
    appOrigin,
    channels: spec.channels,
    secretNames: {
      gatewayToken: SECRET_NAMES.gatewayToken,
      teamsAppPassword: botApp ? SECRET_NAMES.teamsAppPassword : undefined,
      telegramBotToken: telegram ? SECRET_NAMES.telegramBotToken : undefined,
      telegramWebhookSecret: telegram?.mode === "webhook" ? SECRET_NAMES.telegramWebhookSecret : undefined,
      foundryApiKey: spec.foundry ? SECRET_NAMES.foundryApiKey : undefined,
    },
    teams: botApp
      ? { appId: ref(botApp, "appId"), tenantId: context.tenantId }
      : teams
        ? { appId: ref(identity, "clientId"), tenantId: context.tenantId, managedIdentity: true }
        : undefined,
    foundry: spec.foundry ? { endpoint: spec.foundry.endpoint, deployment: spec.foundry.deployment } : undefined,
    // (No App Insights connection string: nothing in OpenClaw reads it; see src/model/openclaw.ts.)
    volumeName: STATE_VOLUME_NAME,
    resources: spec.resources,
    plugins: pluginsFor(spec),
    ...(context.nginxImage ? { nginxImage: context.nginxImage } : {}),
  });
  const containerApp = add(
    "containerApp",
    "containerApp",
    `Container App ${names.containerApp}`,
    [
      environmentStorage.id,
      gatewayVaultAccess.id,
      identity.id,
      entraApp.id,
      ...(botApp ? [botApp.id] : []),
      ...secrets.map((node) => node.id),
      ...(registryAccess ? [registryAccess.id] : []),
    ],
    {
      resourceGroup: rg,
      name: names.containerApp,
      location,
      tags,
      environmentId: ref(managedEnvironment, "resourceId"),
      identityResourceId: identityId,
      configuration: {
        activeRevisionsMode: "Single",
        ingress: containerSpec.ingress,
        secrets: appSecrets,
        registries: context.sharedRegistry
          ? [{ server: context.sharedRegistry.loginServer, identity: identityId }]
          : [],
      },
      template: {
        initContainers: containerSpec.initContainers,
        containers: containerSpec.containers,
        scale: { minReplicas: 1, maxReplicas: 1 },
        volumes: [
          {
            name: STATE_VOLUME_NAME,
            storageType: "AzureFile",
            storageName: names.environmentStorage,
            mountOptions: STATE_MOUNT_OPTIONS,
          },
        ],
      },
    },
  );

  // The app serves (a teardown's retire stops it; installing again starts it).
  add("appRunState", "appRunState", "Container App running", [containerApp.id], {
    resourceGroup: rg,
    containerAppName: names.containerApp,
    running: true,
  });

  // Entra sign-in at the edge; exactly the webhook paths stay open.
  const excludedPaths = [
    ...(teams ? [TEAMS_WEBHOOK_PATH] : []),
    ...(telegram?.mode === "webhook" ? ["/telegram-webhook"] : []),
  ];
  add("authConfig", "authConfig", "Entra sign-in (auth config)", [containerApp.id, entraApp.id], {
    resourceGroup: rg,
    containerAppName: names.containerApp,
    config: {
      platform: { enabled: true },
      globalValidation: {
        unauthenticatedClientAction: "RedirectToLoginPage",
        redirectToProvider: "azureactivedirectory",
        excludedPaths,
      },
      identityProviders: {
        azureActiveDirectory: {
          enabled: true,
          registration: {
            clientId: ref(entraApp, "appId"),
            clientSecretSettingName: SECRET_NAMES.entraClientSecret,
            openIdIssuer: `${(context.authorityHost ?? "https://login.microsoftonline.com").replace(/\/$/, "")}/${context.tenantId}/v2.0`,
          },
          // No api://<appId>: the sign-in app has no identifier URI (entra-app sets none), and Easy
          // Auth takes the client id as an audience by itself. Empty, not absent, so an auth config
          // written with the old audience converges (the diff sees the extra entry).
          validation: { allowedAudiences: [] },
        },
      },
      login: { preserveUrlFragmentsForLogins: true },
    },
  });

  if (teams) {
    const blobAccess = roleAssignment(
      "blobAccess:broker",
      "Broker publishes the tab page (Storage Blob Data Contributor)",
      [storageAccount.id],
      storageId,
      ROLE_IDS.storageBlobDataContributor,
      context.brokerPrincipalId,
    );
    add(
      "staticWebsite",
      "staticWebsite",
      "Teams tab configuration page",
      [blobAccess.id, containerApp.id, storageAccount.id],
      {
        accountName: names.storageAccount,
        slug: spec.slug,
        appUrl: ref(containerApp, "fqdn", "https://${value}"),
        webEndpoint: ref(storageAccount, "webEndpoint"),
      },
    );
    add(
      "botService",
      "botService",
      `Azure Bot ${names.bot} (Teams, ${botApp ? "app registration" : "managed identity"})`,
      [containerApp.id, botApp ? botApp.id : identity.id],
      {
        resourceGroup: rg,
        name: names.bot,
        displayName: `OpenClaw (${spec.slug})`,
        tags,
        messagingEndpoint: ref(containerApp, "fqdn", `https://\${value}${TEAMS_WEBHOOK_PATH}`),
        // A managed-identity bot: Azure Bot's UserAssignedMSI, the app id being the identity's client id.
        ...(botApp
          ? { msaAppType: "SingleTenant" as const, msaAppId: ref(botApp, "appId") }
          : {
              msaAppType: "UserAssignedMSI" as const,
              msaAppId: ref(identity, "clientId"),
              msaAppMSIResourceId: identityId,
            }),
        tenantId: context.tenantId,
        sku: "F0",
      },
    );
  }

  assertValidGraph(nodes);
  return { slug: spec.slug, nodes };
}

/** What graph functions need of a node (plan nodes and walk steps alike). */
export interface GraphNode {
  id: string;
  dependsOn: string[];
}

/** Every dependency exists and the graph has no cycle. */
export function assertValidGraph(nodes: GraphNode[]): void {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  if (byId.size !== nodes.length) throw new Error("Plan has duplicate node ids.");
  for (const node of nodes)
    for (const dependency of node.dependsOn)
      if (!byId.has(dependency)) throw new Error(`Node '${node.id}' depends on unknown node '${dependency}'.`);
  topologicalOrder(nodes);
}

/** Nodes in an order where every node follows its dependencies; throws on a cycle. */
export function topologicalOrder<N extends GraphNode>(nodes: N[]): N[] {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const state = new Map<string, "visiting" | "done">();
  const order: N[] = [];
  const visit = (node: N, trail: string[]) => {
    if (state.get(node.id) === "done") return;
    if (state.get(node.id) === "visiting")
      throw new Error(`Plan has a dependency cycle: ${[...trail, node.id].join(" -> ")}`);
    state.set(node.id, "visiting");
    for (const dependency of node.dependsOn) visit(byId.get(dependency)!, [...trail, node.id]);
    state.set(node.id, "done");
    order.push(node);
  };
  for (const node of nodes) visit(node, []);
  return order;
}

/** Length of the longest dependency chain, weighting each node (default 1). */
export function criticalPathLength<N extends GraphNode>(nodes: N[], weight: (node: N) => number = () => 1): number {
  const finish = new Map<string, number>();
  for (const node of topologicalOrder(nodes)) {
    finish.set(node.id, weight(node) + Math.max(0, ...node.dependsOn.map((dependency) => finish.get(dependency)!)));
  }
  return Math.max(0, ...finish.values());
}

/** Every node `id` depends on, directly or through others. */
export function transitiveDependencies(nodes: GraphNode[], id: string): Set<string> {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const found = new Set<string>();
  const visit = (current: string) => {
    for (const dependency of byId.get(current)?.dependsOn ?? []) {
      if (found.has(dependency)) continue;
      found.add(dependency);
      visit(dependency);
    }
  };
  visit(id);
  return found;
}
