/**
 * The overhead bench's app (bench/overhead.ts): an orchestration that calls a no-op activity
 * `steps` times, one after another, so its history grows by the same events per step and the
 * host's replay cost can be read per event.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";

df.app.activity("noop", { handler: (n: number) => n });

const chain: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { steps } = context.df.getInput<{ steps: number }>();
  let sum = 0;
  for (let n = 0; n < steps; n++) sum += (yield context.df.callActivity("noop", n)) as number;
  return sum;
};
df.app.orchestration("chain", chain);
