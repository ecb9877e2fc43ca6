/** Microsoft.Resources: resource groups. Deleting one deletes everything in it (an LRO). */
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord } from "./rules";

export const normalizeLocation = (value: unknown) => String(value).replace(/\s+/g, "").toLowerCase();

export function defineResources(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.Resources/resourceGroups",
    tracked: true,
    lro: { delete: true },
    nameRule: NAME_RULES.resourceGroup,
    put: ({ body, existing }) => {
      if (existing && existing.resource.location !== normalizeLocation(body.location)) {
        throw ArmErrors.conflict("InvalidResourceGroupLocation", `Invalid resource group location '${normalizeLocation(body.location)}'. The Resource group '${existing.resource.name}' already exists in location '${existing.resource.location}'.`);
      }
      return {
        resource: {
          id: "",
          name: "",
          type: "Microsoft.Resources/resourceGroups",
          location: normalizeLocation(body.location),
          tags: (body.tags as Record<string, string>) ?? {},
          ...(body.managedBy ? { managedBy: body.managedBy } : {}),
          properties: { ...asRecord(body.properties), provisioningState: "Succeeded" },
        },
      };
    },
  });
}
