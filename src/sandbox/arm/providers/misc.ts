/** Azure Bot (+ Teams channel), AI Foundry (Cognitive Services) accounts, container registries. */
import type { ArmEngine } from "../engine";
import { subscriptionOf } from "../../service";
import { ArmErrors } from "../errors";
import { SandboxHttpError } from "../../types";
import type { DeletedAccount } from "../store";
import { NAME_RULES, asRecord, isGuid, newKey } from "./rules";
import { normalizeLocation } from "./resources";

const BOT_CHANNELS = new Set([
  "MsTeamsChannel",
  "WebChatChannel",
  "DirectLineChannel",
  "TelegramChannel",
  "EmailChannel",
  "SlackChannel",
]);
/** Azure Bot is a global resource, with regional data residency in these regions. */
const BOT_LOCATIONS = ["global", "westeurope", "centralindia"];

/**
 * Bots: names are global (Microsoft.BotService/checkNameAvailability), the Microsoft App id is an
 * Entra application id (a GUID), and each app type needs its own identity details: a
 * `UserAssignedMSI` bot names an existing user-assigned identity (`msaAppMSIResourceId`) whose
 * client id is its `msaAppId`, and a tenant. A bot's app type is fixed once it exists: Azure sets
 * it when a bot is created (the portal offers it only then, and moving a bot off its password
 * means a new bot); the sandbox refuses a change with 400, a conservative assumption that has not
 * been tried on real Azure.
 */
export function defineBotService(engine: ArmEngine): void {
  const store = engine.store;
  const botNamed = (name: string) =>
    store
      .listByType("Microsoft.BotService/botServices")
      .find((stored) => stored.resource.name.toLowerCase() === name.toLowerCase());
  engine.define({
    type: "Microsoft.BotService/botServices",
    tracked: true,
    locations: BOT_LOCATIONS,
    // Bots_Update (PATCH): 200/201.
    patch: "merge",
    nameRule: NAME_RULES.bot,
    put: ({ body, name, existing }) => {
      const properties = asRecord(body.properties);
      if (!existing && botNamed(name))
        throw ArmErrors.conflict(
          "BotNameNotAvailable",
          `Bot name '${name}' is not available: bot names are global and it is already in use.`,
        );
      if (!["sdk", "designer", "bot", "function", "azurebot"].includes(String(body.kind)))
        throw ArmErrors.badRequest("InvalidBotData", `Bot kind '${String(body.kind)}' is not valid.`);
      if (!["F0", "S1"].includes(String(asRecord(body.sku).name)))
        throw ArmErrors.badRequest("InvalidBotData", "sku.name must be F0 or S1.");
      if (typeof properties.displayName !== "string" || typeof properties.msaAppId !== "string")
        throw ArmErrors.badRequest("InvalidBotData", "properties.displayName and properties.msaAppId are required.");
      if (!isGuid(properties.msaAppId))
        throw ArmErrors.badRequest(
          "InvalidBotData",
          `MsaAppId '${properties.msaAppId}' is not valid: it must be the application (client) id of an Entra app, a GUID.`,
        );
      const endpoint = String(properties.endpoint ?? "");
      if (endpoint && !/^https:\/\//.test(endpoint))
        throw ArmErrors.badRequest("InvalidBotData", "The messaging endpoint must be an https URL.");
      const appType = properties.msaAppType;
      if (appType !== undefined && !["MultiTenant", "SingleTenant", "UserAssignedMSI"].includes(String(appType)))
        throw ArmErrors.badRequest("InvalidBotData", "msaAppType is not valid.");
      if ((appType === "SingleTenant" || appType === "UserAssignedMSI") && !isGuid(properties.msaAppTenantId))
        throw ArmErrors.badRequest("InvalidBotData", `A ${String(appType)} bot needs msaAppTenantId (a tenant GUID).`);
      if (appType === "UserAssignedMSI") {
        const identity =
          typeof properties.msaAppMSIResourceId === "string" ? store.get(properties.msaAppMSIResourceId) : undefined;
        if (identity?.resource.type.toLowerCase() !== "microsoft.managedidentity/userassignedidentities")
          throw ArmErrors.badRequest(
            "InvalidBotData",
            `A UserAssignedMSI bot needs msaAppMSIResourceId naming an existing user-assigned identity, not '${String(properties.msaAppMSIResourceId)}'.`,
          );
        const clientId = String(asRecord(identity.resource.properties).clientId);
        if (properties.msaAppId.toLowerCase() !== clientId.toLowerCase())
          throw ArmErrors.badRequest(
            "InvalidBotData",
            `MsaAppId '${properties.msaAppId}' is not the client id of the user-assigned identity ${identity.resource.name} (${clientId}): a UserAssignedMSI bot's app id is its identity's client id.`,
          );
      }
      if (existing) {
        // Absent means MultiTenant, Azure's default.
        const was = String(asRecord(existing.resource.properties).msaAppType ?? "MultiTenant");
        const now = String(appType ?? "MultiTenant");
        if (was !== now)
          throw ArmErrors.badRequest(
            "InvalidBotData",
            `Bot '${name}' is a ${was} bot: its msaAppType is set when the bot is created and cannot change to ${now}. Create a new bot for the other app type.`,
          );
      }
      const {
        configuredChannels: _channels,
        enabledChannels: _enabled,
        provisioningState: _state,
        migrationToken: _token,
        ...given
      } = properties;
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.BotService/botServices",
          location: normalizeLocation(body.location),
          kind: body.kind,
          sku: body.sku,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: { ...given, endpoint, configuredChannels: ["webchat", "directline"] },
        },
      };
    },
  });
  engine.define({
    type: "Microsoft.BotService/checkNameAvailability#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "checkNameAvailability");
    },
    actions: {
      handle: ({ request }) => {
        const name = String(asRecord(request.body).name ?? "");
        if (!NAME_RULES.bot.test(name))
          return {
            status: 200,
            body: { valid: false, message: NAME_RULES.bot.message(name), absCode: "InvalidBotName" },
          };
        return {
          status: 200,
          body: botNamed(name)
            ? { valid: false, message: `Bot name '${name}' is not available.`, absCode: "NameUnavailable" }
            : { valid: true, message: null, absCode: null },
        };
      },
    },
  });
  engine.define({
    type: "Microsoft.BotService/botServices/channels",
    // Channels_Update (PATCH): 200/201.
    patch: "merge",
    put: ({ body, name }) => {
      if (!BOT_CHANNELS.has(name))
        throw ArmErrors.badRequest("InvalidChannelData", `Channel '${name}' is not a known channel.`);
      const properties = asRecord(body.properties);
      if (properties.channelName !== name)
        throw ArmErrors.badRequest("InvalidChannelData", `properties.channelName must be '${name}'.`);
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.BotService/botServices/channels",
          location: normalizeLocation(body.location ?? "global"),
          properties: { ...properties, provisioningState: "Succeeded" },
        },
      };
    },
  });
}

/** Account kinds Cognitive Services offers (anything else is InvalidApiSetId). */
const ACCOUNT_KINDS = new Set([
  "AIServices",
  "OpenAI",
  "CognitiveServices",
  "ComputerVision",
  "CustomVision.Training",
  "CustomVision.Prediction",
  "Face",
  "FormRecognizer",
  "TextAnalytics",
  "TextTranslation",
  "SpeechServices",
  "ContentSafety",
  "ContentModerator",
  "AnomalyDetector",
  "Personalizer",
  "LUIS",
  "LUIS.Authoring",
  "QnAMaker",
  "ImmersiveReader",
  "HealthInsights",
  "MetricsAdvisor",
]);

/** Cognitive Services keeps a deleted account for 48 hours: its name and custom subdomain stay taken until it is purged or restored. */
const ACCOUNT_RETENTION_MS = 48 * 3_600_000;

/**
 * AI Foundry (Cognitive Services) accounts: kind and custom subdomain are fixed once set; custom
 * subdomains are global; a deleted account is soft-deleted (a recreate must ask to `restore` it,
 * else FlagMustBeSetForRestore), listed under deletedAccounts and purged by DELETE there.
 */
export function defineCognitiveServices(engine: ArmEngine): void {
  const store = engine.store;
  const deleted = store.deletedAccounts;
  const key = (resourceGroup: string | undefined, name: string) =>
    `${String(resourceGroup).toLowerCase()}/${name.toLowerCase()}`;
  engine.onSettle(() => {
    const now = engine.env.clock.now();
    for (const [name, account] of [...deleted])
      if (now - account.deletedAt >= ACCOUNT_RETENTION_MS) deleted.delete(name);
  });
  const deletedView = (account: DeletedAccount) => ({
    ...account.account.resource,
    id: `/subscriptions/${subscriptionOf(account.account.resource.id)}/providers/Microsoft.CognitiveServices/locations/${account.location}/resourceGroups/${account.resourceGroup}/deletedAccounts/${account.account.resource.name}`,
    type: "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts",
    properties: {
      ...asRecord(account.account.resource.properties),
      deletionDate: new Date(account.deletedAt).toISOString(),
      scheduledPurgeDate: new Date(account.deletedAt + ACCOUNT_RETENTION_MS).toISOString(),
    },
  });

  engine.define({
    type: "Microsoft.CognitiveServices/accounts",
    tracked: true,
    // Accounts_Create: 200/201/202, long-running; Accounts_Update (PATCH) answers 200 here.
    lro: { put: { created: 201, updated: 200, headers: "both" } },
    states: { creating: ["Accepted", "Creating", "ResolvingDNS"], updating: ["Accepted"] },
    patch: "merge",
    nameRule: NAME_RULES.cognitiveAccount,
    put: ({ env, body, name, existing, resourceGroup, id }) => {
      const properties = asRecord(body.properties);
      if (typeof body.kind !== "string") throw ArmErrors.badRequest("InvalidRequestContent", "kind is required.");
      if (!asRecord(body.sku).name) throw ArmErrors.badRequest("InvalidRequestContent", "sku.name is required.");
      if (!ACCOUNT_KINDS.has(body.kind))
        throw ArmErrors.badRequest(
          "InvalidApiSetId",
          `The account type '${body.kind}' is either invalid or unavailable in given region.`,
        );
      const soft = deleted.get(key(resourceGroup, name));
      if (!existing && soft && properties.restore !== true) {
        throw ArmErrors.conflict(
          "FlagMustBeSetForRestore",
          `An existing resource with ID '${id}' has been soft-deleted. To restore the resource, you must specify 'restore' to be 'true' in the property. If you don't want to restore existing resource, please purge it first.`,
        );
      }
      if (!existing && !soft && properties.restore === true)
        throw ArmErrors.badRequest(
          "SoftDeletedResourceNotFound",
          `No soft-deleted account named '${name}' was found to restore.`,
        );
      const before = existing?.resource ?? soft?.account.resource;
      const beforeProperties = asRecord(before?.properties);
      if (before && before.kind !== body.kind)
        throw ArmErrors.badRequest(
          "BadRequest",
          `The kind of account '${name}' cannot be changed from '${String(before.kind)}' to '${String(body.kind)}'.`,
        );
      const subdomain = properties.customSubDomainName as string | undefined;
      if (
        beforeProperties.customSubDomainName &&
        subdomain !== undefined &&
        subdomain !== beforeProperties.customSubDomainName
      ) {
        throw ArmErrors.badRequest(
          "BadRequest",
          `The custom subdomain name of account '${name}' is '${String(beforeProperties.customSubDomainName)}' and cannot be changed.`,
        );
      }
      const domain = subdomain ?? (beforeProperties.customSubDomainName as string | undefined);
      if (domain) {
        const holders = [
          ...store.listByType("Microsoft.CognitiveServices/accounts"),
          ...[...deleted.values()].map((account) => account.account),
        ];
        const taken = holders.find(
          (stored) =>
            stored.resource.id.toLowerCase() !== id.toLowerCase() &&
            String(asRecord(stored.resource.properties).customSubDomainName).toLowerCase() === domain.toLowerCase(),
        );
        if (taken) throw ArmErrors.conflict("CustomDomainInUse", `Custom domain '${domain}' is already in use.`);
      }
      if (soft) deleted.delete(key(resourceGroup, name));
      const keys = (existing?.hidden.keys as { key1: string; key2: string }) ??
        (soft?.account.hidden.keys as { key1: string; key2: string }) ?? {
          key1: newKey(16).replace(/[^a-zA-Z0-9]/g, "a"),
          key2: newKey(16).replace(/[^a-zA-Z0-9]/g, "b"),
        };
      env.secrets.remember(keys.key1);
      env.secrets.remember(keys.key2);
      const {
        restore: _restore,
        endpoint: _endpoint,
        endpoints: _endpoints,
        provisioningState: _state,
        dateCreated: _created,
        ...given
      } = properties;
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.CognitiveServices/accounts",
          location: normalizeLocation(body.location),
          kind: body.kind,
          sku: body.sku,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: {
            ...given,
            ...(domain ? { customSubDomainName: domain } : {}),
            endpoint: `https://${domain ?? name}.cognitiveservices.azure.com/`,
          },
        },
        hidden: { keys },
      };
    },
    onDelete: ({ env, resource }) => {
      deleted.set(key(/\/resourceGroups\/([^/]+)/i.exec(resource.resource.id)?.[1], resource.resource.name), {
        location: String(resource.resource.location),
        resourceGroup: /\/resourceGroups\/([^/]+)/i.exec(resource.resource.id)?.[1] ?? "",
        deletedAt: env.clock.now(),
        account: resource,
      });
    },
    actions: {
      listKeys: ({ resource }) => ({ status: 200, body: resource.hidden.keys }),
      regenerateKey: ({ env, resource, request }) => {
        const keyName = String(asRecord(request.body).keyName ?? "");
        if (keyName !== "Key1" && keyName !== "Key2")
          throw ArmErrors.badRequest("InvalidRequestContent", "keyName must be Key1 or Key2.");
        const keys = resource.hidden.keys as { key1: string; key2: string };
        const fresh = newKey(16).replace(/[^a-zA-Z0-9]/g, "c");
        if (keyName === "Key1") keys.key1 = fresh;
        else keys.key2 = fresh;
        env.secrets.remember(fresh);
        return { status: 200, body: keys };
      },
    },
  });
  // /subscriptions/{s}/providers/Microsoft.CognitiveServices/deletedAccounts
  engine.define({
    type: "Microsoft.CognitiveServices/deletedAccounts#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "deletedAccounts");
    },
    actions: { handle: () => ({ status: 200, body: { value: [...deleted.values()].map(deletedView) } }) },
  });
  // /subscriptions/{s}/providers/Microsoft.CognitiveServices/locations/{l}/resourceGroups/{g}/deletedAccounts/{name}: GET, and DELETE to purge.
  engine.define({
    type: "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "deletedAccounts");
    },
    actions: {
      handle: ({ request, engine: arm }) => {
        const match = /\/locations\/([^/]+)\/resourceGroups\/([^/]+)\/deletedAccounts\/([^/]+)$/i.exec(request.path);
        const account = match ? deleted.get(key(match[2], match[3])) : undefined;
        if (!match || !account || account.location !== normalizeLocation(match[1]))
          throw new SandboxHttpError(
            404,
            "ResourceNotFound",
            `The deleted account '${match?.[3] ?? ""}' was not found in location '${match?.[1] ?? ""}'.`,
          );
        if (request.method === "GET") return { status: 200, body: deletedView(account) };
        if (request.method !== "DELETE") throw ArmErrors.methodNotAllowed(request.method, "deletedAccounts");
        deleted.delete(key(match[2], match[3]));
        // DeletedAccounts_Purge: long-running, 200/202/204.
        return {
          status: 202,
          headers: arm.startOperation(
            request,
            account.account.resource.id,
            "Microsoft.CognitiveServices/deletedAccounts",
            "location",
          ),
        };
      },
    },
  });
}

export function defineContainerRegistry(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.ContainerRegistry/registries",
    tracked: true,
    patch: "merge",
    nameRule: NAME_RULES.registry,
    put: ({ store, body, name, existing }) => {
      if (
        !existing &&
        store
          .listByType("Microsoft.ContainerRegistry/registries")
          .some((stored) => stored.resource.name.toLowerCase() === name.toLowerCase())
      ) {
        throw ArmErrors.conflict("AlreadyInUse", `The registry name '${name}' is already in use.`);
      }
      if (!["Basic", "Standard", "Premium"].includes(String(asRecord(body.sku).name)))
        throw ArmErrors.badRequest("InvalidRequestContent", "sku.name must be Basic, Standard or Premium.");
      const {
        loginServer: _login,
        creationDate: _created,
        provisioningState: _state,
        status: _status,
        ...given
      } = asRecord(body.properties);
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.ContainerRegistry/registries",
          location: normalizeLocation(body.location),
          sku: body.sku,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: { adminUserEnabled: false, ...given, loginServer: `${name.toLowerCase()}.azurecr.io` },
        },
      };
    },
  });
}
