/**
 * Importing this module registers the rotation's phase activities with the Functions host. They
 * keep the resource activities' contract (input with `desired`, a small result or a classified
 * failure, secrets scrubbed from messages), so the plan walker and its step runner run them with
 * their retries, reports and cancel: a rotation is a walk whose steps are phases.
 */
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import type { ActivityInput } from "../../src/contract/activity";
import { RECORD_ROTATION, ROTATION_ACTIVITIES, type RecordRotationInput } from "../../src/contract/rotation";
import { activityDepsFromEnv } from "../deps";
import { runActivity } from "../define";
import { rotationActivities, type RotationPhase } from "./phases";
import { recordRotation } from "./record";
import { OperationStore } from "../../src/operations/records";
import { rotationPolicyFromEnv } from "../../src/operations/rotation-policy";

for (const phase of Object.keys(ROTATION_ACTIVITIES) as RotationPhase[]) {
  df.app.activity(ROTATION_ACTIVITIES[phase], {
    handler: (input: unknown, context: InvocationContext) =>
      runActivity(
        rotationActivities(activityDepsFromEnv((input as ActivityInput).subscriptionId))[phase],
        input as ActivityInput<never>,
        (message) => context.warn(message),
      ),
  });
}

df.app.activity(RECORD_ROTATION, {
  handler: async (input: RecordRotationInput) => {
    const record = await recordRotation(
      activityDepsFromEnv(input.subscriptionId),
      OperationStore.fromEnv(),
      rotationPolicyFromEnv(),
      input,
    );
    return { slug: record.slug, secrets: record.secrets.length };
  },
});
