/**
 * Teams: the Azure Bot registration pointing at the app's `/api/messages`, with the Microsoft
 * Teams channel enabled. The bot's Microsoft App is the slug's own Entra app registration
 * (single tenant), whose client secret the Teams plugin reads from the vault.
 */
import type { Bot } from "@azure/arm-botservice";
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { convergeAction, getOrUndefined } from "./arm";
import { diffDesired } from "./diff";
import { provisioningDifference } from "./provisioning";

export const ENSURE_BOT_SERVICE = "ensureBotService";

export interface BotServiceDesired {
  resourceGroup: string;
  name: string;
  displayName: string;
  tags: Record<string, string>;
  /** `https://<app fqdn>/api/messages` */
  messagingEndpoint: string;
  msaAppId: string;
  tenantId: string;
  sku: "F0" | "S1";
}

export function createBotActivities(deps: ActivityDeps) {
  const ensureBotService: ActivityHandler<BotServiceDesired> = async ({ nodeId, desired }) => {
    const bots = deps.clients.botService.bots;
    const channels = deps.clients.botService.channels;
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
        msaAppType: "SingleTenant",
        msaAppTenantId: desired.tenantId,
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
  };
  return { ensureBotService };
}

registerActivity(ENSURE_BOT_SERVICE, () => createBotActivities(activityDepsFromEnv()).ensureBotService);
