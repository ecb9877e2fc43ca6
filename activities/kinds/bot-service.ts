/**
 * Teams: the Azure Bot registration pointing at the app's `/api/messages`, with the Microsoft
 * Teams channel enabled. The bot's Microsoft App is either the slug's user-assigned managed
 * identity (`UserAssignedMSI`: the app id is the identity's client id, and the gateway takes Bot
 * Framework tokens from that identity) or, for Teams slugs installed before, the slug's bot app
 * registration (`SingleTenant`), whose client secret the Teams plugin reads from the vault. Azure
 * sets the app type when a bot is created: a bot of the other type is a conflict install refuses
 * up front (src/model/validate.ts, withRecordedBotIdentity), and ARM answers 400 here.
 */
import type { Bot } from "@azure/arm-botservice";
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { provisioningDifference } from "../provisioning";
import { containedIn } from "./teardown";

export const botServiceKind = defineKind({
  kind: "botService",
  summary:
    "Azure Bot registration with the Microsoft Teams channel, pointing at the app's `/api/messages`, on the slug's managed identity (`UserAssignedMSI`) or an app registration.",
  api: "ARM Microsoft.BotService/botServices (+ channels)",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const bots = deps.clients.botService.bots;
    const channels = deps.clients.botService.channels;
    return {
      ensure: async ({ nodeId, desired }) => {
        const current = await getOrUndefined(() => bots.get(desired.resourceGroup, desired.name));
        const wanted: Bot = {
          location: "global",
          kind: "azurebot",
          sku: { name: desired.sku },
          tags: desired.tags,
          properties: {
            displayName: desired.displayName,
            endpoint: desired.messagingEndpoint,
            msaAppId: desired.msaAppId,
            msaAppType: desired.msaAppType,
            msaAppTenantId: desired.tenantId,
            ...(desired.msaAppMSIResourceId ? { msaAppMSIResourceId: desired.msaAppMSIResourceId } : {}),
          },
        };
        const changed = current
          ? [
              ...provisioningDifference(`Bot ${desired.name}`, current.properties?.provisioningState),
              ...diffDesired(current, wanted),
            ]
          : ["."];
        let bot = current;
        if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
        if (changed.length > 0)
          bot = await bots.create(desired.resourceGroup, desired.name, {
            ...wanted,
            tags: { ...(current?.tags ?? {}), ...desired.tags },
          });

        const teams = await getOrUndefined(() => channels.get(desired.resourceGroup, desired.name, "MsTeamsChannel"));
        const teamsEnabled =
          (teams?.properties as { properties?: { isEnabled?: boolean } } | undefined)?.properties?.isEnabled === true;
        if (!teamsEnabled) {
          deps.beforeWrite(["channels.MsTeamsChannel"], Boolean(current));
          await channels.create(desired.resourceGroup, desired.name, "MsTeamsChannel", {
            location: "global",
            properties: { channelName: "MsTeamsChannel", properties: { isEnabled: true } },
          });
          changed.push("channels.MsTeamsChannel");
        }
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: bot?.id,
          changed: current ? changed : [],
          outputs: { resourceId: bot?.id ?? null, messagingEndpoint: desired.messagingEndpoint },
        };
      },
      // The bot's channels go with it.
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => bots.get(desired.resourceGroup, desired.name),
          () => bots.delete(desired.resourceGroup, desired.name),
        ),
    };
  },
});
