/**
 * `inspect`: how the live resource differs from its desired state, read without writing. It is
 * the kind's own `ensure` run on deps whose `beforeWrite` refuses: the compare logic is the one
 * converging uses, so inspect and ensure cannot disagree about what differs. The dry run
 * (`POST /api/slugs/{slug}/plan`) and the `inspect<Kind>` activities both use it.
 */
import type { ActivityInput, Inspection } from "../src/contract/activity";
import type { DesiredOf, ResourceKind } from "../src/contract/resources";
import { BrokerError } from "../src/errors";
import type { ActivityDeps } from "./deps";
import { runActivity } from "./define";
import { kindDefinition } from "./registry";

/** Thrown where the activity would write; permanent, so the handler stops at once. */
class WouldWrite extends BrokerError {
  constructor(
    readonly changed: string[],
    readonly existed: boolean,
  ) {
    super("InspectWouldWrite", "inspect: would write", { retryable: false });
  }
}

export interface InspectOutcome extends Inspection {
  /** The outputs ensure returned when nothing differs (dependents of a matching node resolve from them). */
  outputs?: Record<string, string | number | boolean | null>;
  /** The failure was one a retry may clear (throttling, a blip). */
  retryable?: boolean;
  retryAfterMs?: number;
}

export async function inspectResource<K extends ResourceKind>(
  kind: K,
  deps: ActivityDeps,
  input: ActivityInput<DesiredOf<K>>,
): Promise<InspectOutcome> {
  let intercepted: WouldWrite | undefined;
  const readOnly: ActivityDeps = {
    ...deps,
    beforeWrite: (changed, existed) => {
      intercepted = new WouldWrite(changed, existed);
      throw intercepted;
    },
  };
  const result = await runActivity(kindDefinition(kind).activities(readOnly).ensure, input);
  const wouldWrite = intercepted as WouldWrite | undefined;
  if (wouldWrite) {
    return wouldWrite.existed
      ? { nodeId: input.nodeId, state: "differs", changed: wouldWrite.changed }
      : { nodeId: input.nodeId, state: "absent", changed: [] };
  }
  if ("failed" in result) {
    return {
      nodeId: input.nodeId,
      state: "unknown",
      changed: [],
      error: `${result.code}: ${result.message}`,
      ...(result.retryable ? { retryable: true } : {}),
      ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
    };
  }
  return { nodeId: input.nodeId, state: "matches", changed: [], outputs: result.outputs };
}
