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
