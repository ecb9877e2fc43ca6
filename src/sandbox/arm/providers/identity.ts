/** Microsoft.ManagedIdentity/userAssignedIdentities: each one is a service principal in Entra. */
import { randomUUID } from "node:crypto";
import type { ArmEngine } from "../engine";
import { NAME_RULES } from "./rules";
import { normalizeLocation } from "./resources";

export function defineManagedIdentity(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.ManagedIdentity/userAssignedIdentities",
    tracked: true,
    // UserAssignedIdentities_Update (PATCH): tags.
    patch: "merge",
    nameRule: NAME_RULES.identity,
    put: ({ env, body, existing, name }) => {
      // principalId, clientId and tenantId are read-only: whatever the body says, Azure mints them once.
      const previous = existing?.resource.properties as
        { principalId: string; clientId: string; tenantId: string } | undefined;
      const properties = previous ?? { principalId: randomUUID(), clientId: randomUUID(), tenantId: env.tenantId };
      // A new identity's service principal replicates through Entra like any other object.
      if (!previous) env.directory.add({ id: properties.principalId, kind: "ServicePrincipal", displayName: name });
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.ManagedIdentity/userAssignedIdentities",
          location: normalizeLocation(body.location),
          tags: (body.tags as Record<string, string>) ?? {},
          properties: { ...properties },
        },
      };
    },
    onDelete: ({ env, resource }) => {
      env.directory.remove(String((resource.resource.properties as { principalId: string }).principalId));
    },
  });
}
