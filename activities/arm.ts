/** Small helpers shared by ARM activities. */

/** True for a 404 from ARM (or a Graph 404). */
export function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { statusCode?: number }).statusCode === 404;
}

/** Read a resource, mapping 404 to undefined. */
export async function getOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The action a converge took, from whether the resource existed and what differed. */
export function convergeAction(existed: boolean, changed: string[]): "created" | "updated" | "unchanged" {
  if (!existed) return "created";
  return changed.length > 0 ? "updated" : "unchanged";
}

/** What a removal reports: it deleted the resource, or there was nothing to delete. */
export function removalResult(
  nodeId: string,
  resourceId: string | undefined,
): {
  nodeId: string;
  action: "deleted" | "absent";
  resourceId?: string;
  changed: string[];
  outputs: Record<never, never>;
} {
  return resourceId
    ? { nodeId, action: "deleted", resourceId, changed: [], outputs: {} }
    : { nodeId, action: "absent", changed: [], outputs: {} };
}

/**
 * Remove one resource: read it (absent is done), say so to `beforeWrite` (the dry run stops
 * there), delete it and wait for the deletion (the SDK's `begin...AndWait` for long-running
 * deletes). A 404 from the delete means someone (a previous delivery whose answer was lost, a
 * cascade) got there first: the same end state.
 */
export async function removeResource(
  nodeId: string,
  deps: { beforeWrite(changed: string[], existed: boolean, deleting?: boolean): void },
  read: () => Promise<{ id?: string } | undefined>,
  remove: () => Promise<unknown>,
): Promise<ReturnType<typeof removalResult>> {
  const current = await getOrUndefined(read);
  if (!current) return removalResult(nodeId, undefined);
  deps.beforeWrite(["."], true, true);
  try {
    await remove();
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return removalResult(nodeId, current.id ?? nodeId);
}
