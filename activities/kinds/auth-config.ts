/** Entra sign-in at the Container App's edge (`authConfigs/current`); exactly the webhook paths stay open. */
import type { AuthConfig } from "@azure/arm-appcontainers";
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import type { AuthConfigDesired } from "../../src/contract/resources";
import { containedIn } from "./teardown";

/** The one auth config a Container App has. */
const CONFIG_NAME = "current";

export const authConfigKind = defineKind({
  kind: "authConfig",
  summary: "Container Apps authentication (Entra sign-in at the edge, webhook paths excluded).",
  api: "ARM Microsoft.App/containerApps/authConfigs",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const configs = deps.clients.containerApps.containerAppsAuthConfigs;
    return {
      ensure: async ({ nodeId, desired }) => {
        const current = await getOrUndefined(() =>
          configs.get(desired.resourceGroup, desired.containerAppName, CONFIG_NAME),
        );
        const changed = current
          ? diffDesired(current, desired.config).concat(excludedPathsDiffer(current, desired.config))
          : ["."];
        let config = current;
        if (changed.length > 0) deps.beforeWrite(current ? [...new Set(changed)] : [], Boolean(current));
        if (changed.length > 0)
          config = await configs.createOrUpdate(
            desired.resourceGroup,
            desired.containerAppName,
            CONFIG_NAME,
            desired.config,
          );
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: config?.id,
          changed: current ? [...new Set(changed)] : [],
          outputs: { resourceId: config?.id ?? null },
        };
      },
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => configs.get(desired.resourceGroup, desired.containerAppName, CONFIG_NAME),
          () => configs.delete(desired.resourceGroup, desired.containerAppName, CONFIG_NAME),
        ),
    };
  },
});

/** Excluded paths must be exactly the webhook paths: an extra one would open the app without sign-in. */
function excludedPathsDiffer(current: AuthConfig, desired: AuthConfigDesired["config"]): string[] {
  const have = [...(current.globalValidation?.excludedPaths ?? [])].sort();
  const want = [...(desired.globalValidation?.excludedPaths ?? [])].sort();
  return JSON.stringify(have) === JSON.stringify(want) ? [] : ["globalValidation.excludedPaths"];
}
