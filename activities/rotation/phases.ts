/**
 * The rotation's phases as activity handlers on a set of deps (the host's, or a test's).
 */
import type { ActivityDeps } from "../deps";
import type { ActivityHandler } from "../define";
import type { ROTATION_ACTIVITIES } from "../../src/contract/rotation";
import { createStageActivity } from "./stage";
import { createRestartActivity } from "./restart";
import { createRevokeActivity } from "./revoke";
import { createRetireVersionsActivity } from "./retire-versions";

export type RotationPhase = keyof typeof ROTATION_ACTIVITIES;

/** The phases on `deps` (tests call them directly; the host gets them from the app settings). */
export function rotationActivities(deps: ActivityDeps): Record<RotationPhase, ActivityHandler<never>> {
  return {
    stage: createStageActivity(deps) as ActivityHandler<never>,
    restart: createRestartActivity(deps) as ActivityHandler<never>,
    revoke: createRevokeActivity(deps) as ActivityHandler<never>,
    retireVersions: createRetireVersionsActivity(deps) as ActivityHandler<never>,
  };
}
