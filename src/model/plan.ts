/**
 * The desired-state graph: `planSlug(spec, context)` returns a node per resource of DESIGN.md's
 * table with its dependencies and the desired state its activity converges to. Pure and
 * deterministic (no clock, no randomness): the same spec and context give a deep-equal plan.
 * Values known only at run time are `{ fromNode, output }` references (activities/contract.ts).
 */
import type { NodeReference } from "../../activities/contract";
import { ROLE_IDS, SECRET_NAMES, STATE_VOLUME_NAME, deriveNames, resourceId } from "./names";
import { buildOpenClawContainerSpec, STATE_MOUNT_OPTIONS } from "./openclaw";
import { pluginsFor } from "./spec";
import type { SlugSpec } from "./spec";
import { TEAMS_WEBHOOK_PATH } from "./nginx";

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

export interface PlanNode {
  id: string;
  /** Resource kind: the activity is `ensure<Kind>`. */
  kind: string;
  title: string;
  dependsOn: string[];
  desired: Record<string, unknown>;
}

export interface SlugPlan {
  slug: string;
  nodes: PlanNode[];
}

const ref = (fromNode: string, output: string, format?: string): NodeReference =>
  format ? { fromNode, output, format } : { fromNode, output };

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
  const telegram = spec.channels.telegram;
  const appOrigin = ref("managedEnvironment", "defaultDomain", `https://${names.containerApp}.\${value}`);

  const nodes: PlanNode[] = [];
  const add = (node: PlanNode) => nodes.push(node);

  add({
    id: "resourceGroup",
    kind: "resourceGroup",
    title: `Resource group ${rg}`,
    dependsOn: [],
    desired: { name: rg, location, tags },
  });
  add({
    id: "logAnalytics",
    kind: "logAnalytics",
    title: `Log Analytics ${names.logAnalytics}`,
    dependsOn: ["resourceGroup"],
    desired: { resourceGroup: rg, name: names.logAnalytics, location, tags, sku: "PerGB2018", retentionInDays: 30 },
  });
  add({
    id: "appInsights",
    kind: "appInsights",
    title: `Application Insights ${names.appInsights}`,
    dependsOn: ["logAnalytics"],
    desired: {
      resourceId: id("Microsoft.Insights", "components", names.appInsights),
      location,
      tags,
      workspaceResourceId: ref("logAnalytics", "resourceId"),
    },
  });
  add({
    id: "identity",
    kind: "identity",
    title: `Managed identity ${names.identity}`,
    dependsOn: ["resourceGroup"],
    desired: { resourceGroup: rg, name: names.identity, location, tags },
  });
  add({
    id: "keyVault",
    kind: "keyVault",
    title: `Key Vault ${names.keyVault}`,
    dependsOn: ["resourceGroup"],
    desired: {
      resourceGroup: rg,
      name: names.keyVault,
      location,
      tags,
      tenantId: context.tenantId,
      softDeleteRetentionInDays: 90,
    },
  });
  const roleAssignment = (
    nodeId: string,
    title: string,
    dependsOn: string[],
    scope: string,
    role: string,
    principalId: string | NodeReference,
  ) =>
    add({
      id: nodeId,
      kind: "roleAssignment",
      title,
      dependsOn,
      desired: { scope, roleDefinitionGuid: role, principalId, principalType: "ServicePrincipal" },
    });
  roleAssignment(
    "vaultAccess:broker",
    "Broker writes secrets (Key Vault Secrets Officer)",
    ["keyVault"],
    vaultId,
    ROLE_IDS.keyVaultSecretsOfficer,
    context.brokerPrincipalId,
  );
  // Operators (shire-admins) write the tokens Shire cannot make (Telegram, a Foundry key) into the
  // vault: in RBAC mode not even a subscription Owner can without a data-plane role.
  add({
    id: "vaultAccess:admins",
    kind: "roleAssignment",
    title: "Operators write channel tokens (Key Vault Secrets Officer for shire-admins)",
    dependsOn: ["keyVault", "group:admins"],
    desired: {
      scope: vaultId,
      roleDefinitionGuid: ROLE_IDS.keyVaultSecretsOfficer,
      principalId: ref("group:admins", "groupId"),
      principalType: "Group",
    },
  });
  roleAssignment(
    "vaultAccess:gateway",
    "Gateway reads secrets (Key Vault Secrets User)",
    ["keyVault", "identity"],
    vaultId,
    ROLE_IDS.keyVaultSecretsUser,
    ref("identity", "principalId"),
  );
  if (context.sharedRegistry) {
    roleAssignment(
      "registryAccess:gateway",
      "Gateway pulls the image (AcrPull)",
      ["identity"],
      context.sharedRegistry.resourceId,
      ROLE_IDS.acrPull,
      ref("identity", "principalId"),
    );
  }
  add({
    id: "storageAccount",
    kind: "storageAccount",
    title: `Storage account ${names.storageAccount}`,
    dependsOn: ["resourceGroup"],
    desired: { resourceGroup: rg, name: names.storageAccount, location, tags, sku: "Standard_LRS" },
  });
  add({
    id: "fileShare",
    kind: "fileShare",
    title: `File share ${names.fileShare}`,
    dependsOn: ["storageAccount"],
    desired: { resourceGroup: rg, accountName: names.storageAccount, shareName: names.fileShare, quotaGiB: 100 },
  });
  add({
    id: "managedEnvironment",
    kind: "managedEnvironment",
    title: `Container Apps environment ${names.managedEnvironment}`,
    dependsOn: ["logAnalytics"],
    desired: {
      resourceGroup: rg,
      name: names.managedEnvironment,
      location,
      tags,
      workspaceResourceGroup: rg,
      workspaceName: names.logAnalytics,
      workspaceCustomerId: ref("logAnalytics", "customerId"),
    },
  });
  add({
    id: "environmentStorage",
    kind: "environmentStorage",
    title: `Environment storage ${names.environmentStorage}`,
    dependsOn: ["managedEnvironment", "fileShare"],
    desired: {
      resourceGroup: rg,
      environmentName: names.managedEnvironment,
      name: names.environmentStorage,
      storageAccountName: names.storageAccount,
      shareName: names.fileShare,
      accessMode: "ReadWrite",
    },
  });

  // Entra: the app registration (sign-in at the edge; also the Teams bot's app), groups, assignments.
  const ownershipTag = `shire-slug:${spec.slug}`;
  add({
    id: "entraApp",
    kind: "entraApp",
    title: `Entra app ${names.entraApp} (sign-in)`,
    dependsOn: ["managedEnvironment"],
    desired: {
      displayName: names.entraApp,
      uniqueName: names.entraAppUniqueName,
      ownershipTag,
      redirectUris: [
        ref("managedEnvironment", "defaultDomain", `https://${names.containerApp}.\${value}/.auth/login/aad/callback`),
      ],
      assignmentRequired: true,
      idTokenIssuance: true,
    },
  });
  add({
    id: "group:admins",
    kind: "entraGroup",
    title: `Entra group ${names.adminsGroup}`,
    dependsOn: [],
    desired: {
      displayName: names.adminsGroup,
      uniqueName: names.adminsGroupUniqueName,
      mailNickname: names.adminsGroup,
      description: "Shire operators: allowed into every slug.",
    },
  });
  add({
    id: "group:slug",
    kind: "entraGroup",
    title: `Entra group ${names.slugGroup}`,
    dependsOn: [],
    desired: {
      displayName: names.slugGroup,
      uniqueName: names.slugGroupUniqueName,
      mailNickname: names.slugGroupUniqueName,
      description: `Users of the ${spec.slug} OpenClaw environment.`,
    },
  });
  for (const group of ["admins", "slug"]) {
    add({
      id: `assignment:${group}`,
      kind: "groupAssignment",
      title: `Assign ${group === "admins" ? names.adminsGroup : names.slugGroup} to the app`,
      dependsOn: ["entraApp", `group:${group}`],
      desired: {
        servicePrincipalId: ref("entraApp", "servicePrincipalId"),
        principalId: ref(`group:${group}`, "groupId"),
      },
    });
  }
  for (const identity of spec.allowedIdentities) {
    add({
      id: `assignment:identity:${identity}`,
      kind: "groupAssignment",
      title: `Assign identity ${identity} to the app`,
      dependsOn: ["entraApp"],
      desired: { servicePrincipalId: ref("entraApp", "servicePrincipalId"), principalId: identity, external: true },
    });
  }
  if (teams) {
    // The bot's own app: Bot Framework gets tokens for it, which an assignment requirement would refuse.
    add({
      id: "botApp",
      kind: "entraApp",
      title: `Entra app ${names.botApp} (Teams bot)`,
      dependsOn: [],
      desired: {
        displayName: names.botApp,
        uniqueName: names.botAppUniqueName,
        ownershipTag,
        redirectUris: [],
        assignmentRequired: false,
        idTokenIssuance: false,
      },
    });
  }

  // Secrets, written by the broker straight into the vault.
  const secret = (
    nodeId: string,
    title: string,
    dependsOn: string[],
    secretName: string,
    source: Record<string, unknown>,
  ) =>
    add({
      id: nodeId,
      kind: "secret",
      title,
      dependsOn: ["vaultAccess:broker", ...dependsOn],
      desired: { vaultName: names.keyVault, secretName, source, tags: { "managed-by": "shire" } },
    });
  secret("secret:gatewayToken", "Gateway token", [], SECRET_NAMES.gatewayToken, { type: "random", bytes: 32 });
  secret("secret:entraClientSecret", "Entra client secret (sign-in)", ["entraApp"], SECRET_NAMES.entraClientSecret, {
    type: "entraClientSecret",
    applicationObjectId: ref("entraApp", "applicationObjectId"),
    displayName: "shire",
    validityDays: 180,
  });
  if (teams)
    secret("secret:teamsAppPassword", "Teams bot app password", ["botApp"], SECRET_NAMES.teamsAppPassword, {
      type: "entraClientSecret",
      applicationObjectId: ref("botApp", "applicationObjectId"),
      displayName: "shire",
      validityDays: 180,
    });
  secret("secret:storageKey", "Storage account key copy", ["storageAccount"], SECRET_NAMES.storageAccountKey, {
    type: "storageAccountKey",
    resourceGroup: rg,
    accountName: names.storageAccount,
    keyName: "key1",
  });
  if (spec.foundry?.accountResourceId)
    secret("secret:foundryKey", "AI Foundry key", [], SECRET_NAMES.foundryApiKey, {
      type: "cognitiveServicesKey",
      accountResourceId: spec.foundry.accountResourceId,
    });
  else if (spec.foundry)
    secret("secret:foundryKey", "AI Foundry key (supplied by the operator)", [], SECRET_NAMES.foundryApiKey, {
      type: "external",
    });
  if (telegram)
    secret(
      "secret:telegramBotToken",
      "Telegram bot token (supplied by the operator)",
      [],
      SECRET_NAMES.telegramBotToken,
      { type: "external" },
    );
  if (telegram?.mode === "webhook")
    secret("secret:telegramWebhookSecret", "Telegram webhook secret", [], SECRET_NAMES.telegramWebhookSecret, {
      type: "random",
      bytes: 32,
    });

  // The Container App: secrets are Key Vault references through the gateway identity.
  const appSecrets = [
    {
      name: SECRET_NAMES.gatewayToken,
      keyVaultUrl: `${vaultUri}secrets/${SECRET_NAMES.gatewayToken}`,
      identity: identityId,
    },
    {
      name: SECRET_NAMES.entraClientSecret,
      keyVaultUrl: `${vaultUri}secrets/${SECRET_NAMES.entraClientSecret}`,
      identity: identityId,
    },
    ...(teams
      ? [
          {
            name: SECRET_NAMES.teamsAppPassword,
            keyVaultUrl: `${vaultUri}secrets/${SECRET_NAMES.teamsAppPassword}`,
            identity: identityId,
          },
        ]
      : []),
    ...(telegram
      ? [
          {
            name: SECRET_NAMES.telegramBotToken,
            keyVaultUrl: `${vaultUri}secrets/${SECRET_NAMES.telegramBotToken}`,
            identity: identityId,
          },
        ]
      : []),
    ...(telegram?.mode === "webhook"
      ? [
          {
            name: SECRET_NAMES.telegramWebhookSecret,
            keyVaultUrl: `${vaultUri}secrets/${SECRET_NAMES.telegramWebhookSecret}`,
            identity: identityId,
          },
        ]
      : []),
    ...(spec.foundry
      ? [
          {
            name: SECRET_NAMES.foundryApiKey,
            keyVaultUrl: `${vaultUri}secrets/${SECRET_NAMES.foundryApiKey}`,
            identity: identityId,
          },
        ]
      : []),
  ];
  const containerSpec = buildOpenClawContainerSpec({
    image: spec.image,
    appOrigin,
    channels: spec.channels,
    secretNames: {
      gatewayToken: SECRET_NAMES.gatewayToken,
      teamsAppPassword: teams ? SECRET_NAMES.teamsAppPassword : undefined,
      telegramBotToken: telegram ? SECRET_NAMES.telegramBotToken : undefined,
      telegramWebhookSecret: telegram?.mode === "webhook" ? SECRET_NAMES.telegramWebhookSecret : undefined,
      foundryApiKey: spec.foundry ? SECRET_NAMES.foundryApiKey : undefined,
    },
    teams: teams ? { appId: ref("botApp", "appId"), tenantId: context.tenantId } : undefined,
    foundry: spec.foundry ? { endpoint: spec.foundry.endpoint, deployment: spec.foundry.deployment } : undefined,
    // (No App Insights connection string: nothing in OpenClaw reads it; see src/model/openclaw.ts.)
    volumeName: STATE_VOLUME_NAME,
    resources: spec.resources,
    plugins: pluginsFor(spec),
    ...(context.nginxImage ? { nginxImage: context.nginxImage } : {}),
  });
  const secretNodes = nodes
    .filter((node) => node.kind === "secret" && node.id !== "secret:storageKey")
    .map((node) => node.id);
  add({
    id: "containerApp",
    kind: "containerApp",
    title: `Container App ${names.containerApp}`,
    dependsOn: [
      "environmentStorage",
      "vaultAccess:gateway",
      "appInsights",
      "identity",
      "entraApp",
      ...(teams ? ["botApp"] : []),
      ...secretNodes,
      ...(context.sharedRegistry ? ["registryAccess:gateway"] : []),
    ],
    desired: {
      resourceGroup: rg,
      name: names.containerApp,
      location,
      tags,
      environmentId: ref("managedEnvironment", "resourceId"),
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
  });

  // Entra sign-in at the edge; exactly the webhook paths stay open.
  const excludedPaths = [
    ...(teams ? [TEAMS_WEBHOOK_PATH] : []),
    ...(telegram?.mode === "webhook" ? ["/telegram-webhook"] : []),
  ];
  add({
    id: "authConfig",
    kind: "authConfig",
    title: "Entra sign-in (auth config)",
    dependsOn: ["containerApp", "entraApp"],
    desired: {
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
              clientId: ref("entraApp", "appId"),
              clientSecretSettingName: SECRET_NAMES.entraClientSecret,
              openIdIssuer: `${(context.authorityHost ?? "https://login.microsoftonline.com").replace(/\/$/, "")}/${context.tenantId}/v2.0`,
            },
            // No api://<appId>: the sign-in app has no identifier URI (activities/entra.ts sets
            // none), and Easy Auth takes the client id as an audience by itself. Empty, not absent,
            // so an auth config written with the old audience converges (diff sees the extra entry).
            validation: { allowedAudiences: [] },
          },
        },
        login: { preserveUrlFragmentsForLogins: true },
      },
    },
  });

  if (teams) {
    roleAssignment(
      "blobAccess:broker",
      "Broker publishes the tab page (Storage Blob Data Contributor)",
      ["storageAccount"],
      storageId,
      ROLE_IDS.storageBlobDataContributor,
      context.brokerPrincipalId,
    );
    add({
      id: "staticWebsite",
      kind: "staticWebsite",
      title: "Teams tab configuration page",
      dependsOn: ["blobAccess:broker", "containerApp", "storageAccount"],
      desired: {
        accountName: names.storageAccount,
        slug: spec.slug,
        appUrl: ref("containerApp", "fqdn", "https://${value}"),
        webEndpoint: ref("storageAccount", "webEndpoint"),
      },
    });
    add({
      id: "botService",
      kind: "botService",
      title: `Azure Bot ${names.bot} (Teams)`,
      dependsOn: ["containerApp", "botApp"],
      desired: {
        resourceGroup: rg,
        name: names.bot,
        displayName: `OpenClaw (${spec.slug})`,
        tags,
        messagingEndpoint: ref("containerApp", "fqdn", `https://\${value}${TEAMS_WEBHOOK_PATH}`),
        msaAppId: ref("botApp", "appId"),
        tenantId: context.tenantId,
        sku: "F0",
      },
    });
  }

  assertValidGraph(nodes);
  return { slug: spec.slug, nodes };
}

/** Every dependency exists and the graph has no cycle. */
export function assertValidGraph(nodes: PlanNode[]): void {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  if (byId.size !== nodes.length) throw new Error("Plan has duplicate node ids.");
  for (const node of nodes)
    for (const dependency of node.dependsOn)
      if (!byId.has(dependency)) throw new Error(`Node '${node.id}' depends on unknown node '${dependency}'.`);
  topologicalOrder(nodes);
}

/** Nodes in an order where every node follows its dependencies; throws on a cycle. */
export function topologicalOrder(nodes: PlanNode[]): PlanNode[] {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const state = new Map<string, "visiting" | "done">();
  const order: PlanNode[] = [];
  const visit = (node: PlanNode, trail: string[]) => {
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
export function criticalPathLength(nodes: PlanNode[], weight: (node: PlanNode) => number = () => 1): number {
  const finish = new Map<string, number>();
  for (const node of topologicalOrder(nodes)) {
    finish.set(node.id, weight(node) + Math.max(0, ...node.dependsOn.map((dependency) => finish.get(dependency)!)));
  }
  return Math.max(0, ...finish.values());
}
