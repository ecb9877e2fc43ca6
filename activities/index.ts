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

function register<K extends ResourceKind>(kind: K): void {
  // Handlers are built on first use: the deps read app settings the host sets before invoking.
  const handlers = () => kindActivities(kind, activityDepsFromEnv());
  const log = (context: InvocationContext) => (message: string) => context.warn(message);
  df.app.activity(activityName("ensure", kind), {
    handler: (input: unknown, context: InvocationContext) =>
      runActivity(handlers().ensure, input as ActivityInput<DesiredOf<K>>, log(context)),
  });
  df.app.activity(activityName("remove", kind), {
    handler: (input: unknown, context: InvocationContext) =>
      runActivity(handlers().remove, input as ActivityInput<DesiredOf<K>>, log(context)),
  });
  df.app.activity(activityName("inspect", kind), {
    handler: (input: unknown) => inspectResource(kind, activityDepsFromEnv(), input as ActivityInput<DesiredOf<K>>),
  });
}

for (const kind of RESOURCE_KIND_NAMES) register(kind);
