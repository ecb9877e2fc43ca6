/**
 * Importing this module registers every resource kind's activities with the Functions host:
 * `ensure<Kind>`, `remove<Kind>` and `inspect<Kind>` for each kind of the registry.
 */
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { activityName, type ActivityInput } from "../src/contract/activity";
import type { DesiredOf, ResourceKind } from "../src/contract/resources";
import { activityDepsFromEnv } from "./deps";
import { runActivity } from "./define";
import { inspectResource } from "./inspect";
import { RESOURCE_KIND_NAMES, kindActivities } from "./registry";
import { inStepSpan } from "../src/telemetry/trace";

function register<K extends ResourceKind>(kind: K): void {
  // Handlers are built on first use: the deps read app settings the host sets before invoking.
  const handlers = (step: ActivityInput) => kindActivities(kind, activityDepsFromEnv(step.subscriptionId));
  const log = (context: InvocationContext) => (message: string) => context.warn(message);
  // Each attempt in its span, under the operation's trace (src/telemetry/trace.ts).
  const traced = (verb: "ensure" | "remove") => (input: unknown, context: InvocationContext) => {
    const step = input as ActivityInput<DesiredOf<K>>;
    return inStepSpan({ ...step, kind, verb }, () => runActivity(handlers(step)[verb], step, log(context)));
  };
  df.app.activity(activityName("ensure", kind), { handler: traced("ensure") });
  df.app.activity(activityName("remove", kind), { handler: traced("remove") });
  df.app.activity(activityName("inspect", kind), {
    handler: (input: unknown) => {
      const step = input as ActivityInput<DesiredOf<K>>;
      return inspectResource(kind, activityDepsFromEnv(step.subscriptionId), step);
    },
  });
}

for (const kind of RESOURCE_KIND_NAMES) register(kind);
