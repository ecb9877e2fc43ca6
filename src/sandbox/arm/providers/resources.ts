/**
 * Microsoft.Resources: resource groups. Deleting one is an LRO (202 with `Location` only): the
 * group shows `Deleting` and refuses writes into it (409 ResourceGroupBeingDeleted) until the
 * operation ends, then everything in it is gone.
 */
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord } from "./rules";

export const normalizeLocation = (value: unknown) => String(value).replace(/\s+/g, "").toLowerCase();

export function defineResources(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.Resources/resourceGroups",
    tracked: true,
    // ResourceGroups_Delete: 200/202, x-ms-long-running-operation, polled through Location.
    lro: { delete: { headers: "location", doneStatus: 200 } },
    patch: "merge",
    nameRule: NAME_RULES.resourceGroup,
    put: ({ body, existing }) => {
      if (existing && existing.resource.location !== normalizeLocation(body.location)) {
        throw ArmErrors.conflict(
          "InvalidResourceGroupLocation",
          `Invalid resource group location '${normalizeLocation(body.location)}'. The Resource group '${existing.resource.name}' already exists in location '${existing.resource.location}'.`,
        );
      }
      return {
        resource: {
          id: "",
          name: "",
          type: "Microsoft.Resources/resourceGroups",
          location: normalizeLocation(body.location),
          tags: (body.tags as Record<string, string>) ?? {},
          ...(body.managedBy ? { managedBy: body.managedBy } : {}),
          // provisioningState is the only property, and it is ARM's.
          properties: { ...asRecord(body.properties), provisioningState: "Succeeded" },
        },
      };
    },
  });
}
