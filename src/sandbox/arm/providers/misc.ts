/** Azure Bot (+ Teams channel), AI Foundry (Cognitive Services) accounts, container registries. */
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord, newKey } from "./rules";
import { normalizeLocation } from "./resources";

const BOT_CHANNELS = new Set(["MsTeamsChannel", "WebChatChannel", "DirectLineChannel", "TelegramChannel", "EmailChannel", "SlackChannel"]);

export function defineBotService(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.BotService/botServices",
    tracked: true,
    nameRule: NAME_RULES.bot,
    put: ({ body, name, existing }) => {
      const properties = asRecord(body.properties);
      if (!["sdk", "designer", "bot", "function", "azurebot"].includes(String(body.kind))) throw ArmErrors.badRequest("InvalidBotData", `Bot kind '${String(body.kind)}' is not valid.`);
      if (!["F0", "S1"].includes(String(asRecord(body.sku).name))) throw ArmErrors.badRequest("InvalidBotData", "sku.name must be F0 or S1.");
      if (typeof properties.displayName !== "string" || typeof properties.msaAppId !== "string") throw ArmErrors.badRequest("InvalidBotData", "properties.displayName and properties.msaAppId are required.");
      const endpoint = String(properties.endpoint ?? "");
      if (endpoint && !/^https:\/\//.test(endpoint)) throw ArmErrors.badRequest("InvalidBotData", "The messaging endpoint must be an https URL.");
      if (properties.msaAppType !== undefined && !["MultiTenant", "SingleTenant", "UserAssignedMSI"].includes(String(properties.msaAppType))) throw ArmErrors.badRequest("InvalidBotData", "msaAppType is not valid.");
      if (properties.msaAppType === "SingleTenant" && typeof properties.msaAppTenantId !== "string") throw ArmErrors.badRequest("InvalidBotData", "A SingleTenant bot needs msaAppTenantId.");
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.BotService/botServices",
          location: normalizeLocation(body.location),
          kind: body.kind,
          sku: body.sku,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: { ...asRecord(existing?.resource.properties), ...properties, endpoint, configuredChannels: ["webchat", "directline"] },
        },
      };
    },
  });
  engine.define({
    type: "Microsoft.BotService/botServices/channels",
    put: ({ body, name }) => {
      if (!BOT_CHANNELS.has(name)) throw ArmErrors.badRequest("InvalidChannelData", `Channel '${name}' is not a known channel.`);
      const properties = asRecord(body.properties);
      if (properties.channelName !== name) throw ArmErrors.badRequest("InvalidChannelData", `properties.channelName must be '${name}'.`);
      return { resource: { id: "", name, type: "Microsoft.BotService/botServices/channels", location: normalizeLocation(body.location ?? "global"), properties: { ...properties, provisioningState: "Succeeded" } } };
    },
  });
}

export function defineCognitiveServices(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.CognitiveServices/accounts",
    tracked: true,
    lro: { put: true },
    nameRule: NAME_RULES.cognitiveAccount,
    put: ({ env, store, body, name, existing }) => {
      const properties = { ...asRecord(existing?.resource.properties), ...asRecord(body.properties) };
      if (typeof body.kind !== "string") throw ArmErrors.badRequest("InvalidRequestContent", "kind is required.");
      if (!asRecord(body.sku).name) throw ArmErrors.badRequest("InvalidRequestContent", "sku.name is required.");
      const subdomain = properties.customSubDomainName as string | undefined;
      if (subdomain) {
        const taken = store.listByType("Microsoft.CognitiveServices/accounts").find((stored) => stored.resource.name !== name && asRecord(stored.resource.properties).customSubDomainName === subdomain);
        if (taken) throw ArmErrors.conflict("CustomDomainInUse", `Custom domain '${subdomain}' is already in use.`);
      }
      const keys = (existing?.hidden.keys as { key1: string; key2: string }) ?? { key1: newKey(16).replace(/[^a-zA-Z0-9]/g, "a"), key2: newKey(16).replace(/[^a-zA-Z0-9]/g, "b") };
      env.secrets.remember(keys.key1);
      env.secrets.remember(keys.key2);
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.CognitiveServices/accounts",
          location: normalizeLocation(body.location),
          kind: body.kind,
          sku: body.sku,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: { ...properties, endpoint: `https://${subdomain ?? name}.cognitiveservices.azure.com/` },
        },
        hidden: { keys },
      };
    },
    actions: {
      listKeys: ({ resource }) => ({ status: 200, body: resource.hidden.keys }),
      regenerateKey: ({ env, resource, request }) => {
        const keyName = String(asRecord(request.body).keyName ?? "");
        if (keyName !== "Key1" && keyName !== "Key2") throw ArmErrors.badRequest("InvalidRequestContent", "keyName must be Key1 or Key2.");
        const keys = resource.hidden.keys as { key1: string; key2: string };
        const fresh = newKey(16).replace(/[^a-zA-Z0-9]/g, "c");
        if (keyName === "Key1") keys.key1 = fresh;
        else keys.key2 = fresh;
        env.secrets.remember(fresh);
        return { status: 200, body: keys };
      },
    },
  });
}

export function defineContainerRegistry(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.ContainerRegistry/registries",
    tracked: true,
    nameRule: NAME_RULES.registry,
    put: ({ store, body, name, existing }) => {
      if (!existing && store.listByType("Microsoft.ContainerRegistry/registries").some((stored) => stored.resource.name.toLowerCase() === name.toLowerCase())) {
        throw ArmErrors.conflict("AlreadyInUse", `The registry name '${name}' is already in use.`);
      }
      if (!["Basic", "Standard", "Premium"].includes(String(asRecord(body.sku).name))) throw ArmErrors.badRequest("InvalidRequestContent", "sku.name must be Basic, Standard or Premium.");
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.ContainerRegistry/registries",
          location: normalizeLocation(body.location),
          sku: body.sku,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: { ...asRecord(body.properties), loginServer: `${name.toLowerCase()}.azurecr.io`, adminUserEnabled: false },
        },
      };
    },
  });
}
