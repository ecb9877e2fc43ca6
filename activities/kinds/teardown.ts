/** Teardown policies several kinds share. */
import type { TeardownContext, TeardownPolicy } from "../define";

/** A resource in the slug's resource group goes when the group goes; one elsewhere is removed on its own. */
export function containedIn(resourceGroup: unknown, context: TeardownContext): TeardownPolicy {
  const groupName = context.resourceGroupId.split("/").at(-1)?.toLowerCase();
  return typeof resourceGroup === "string" && resourceGroup.toLowerCase() === groupName ? "cascade" : "remove";
}

/** The same for a resource known by its ARM id (or a role assignment's scope). */
export function idContainedIn(resourceId: unknown, context: TeardownContext): TeardownPolicy {
  const group = context.resourceGroupId.toLowerCase();
  if (typeof resourceId !== "string") return "remove";
  const id = resourceId.toLowerCase();
  return id === group || id.startsWith(`${group}/`) ? "cascade" : "remove";
}
