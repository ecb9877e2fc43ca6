/**
 * What activities need from the outside world, built once per worker process from the app
 * settings (src/azure/credential.ts). Tests build their own from a sandbox's context.
 */
import type { Client as GraphClient } from "@microsoft/microsoft-graph-client";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { AzureClients } from "../src/azure/clients";
import { azureContextFromEnv, brokerPrincipalIdFromEnv, type AzureContext } from "../src/azure/credential";
import { createGraphClient } from "../src/azure/graph";

export interface ActivityDeps {
  context: AzureContext;
  clients: AzureClients;
  /** Microsoft Graph client for the context's cloud (lazily created). */
  graph(): GraphClient;
  /** Object id of the broker's own identity (granted Key Vault Secrets Officer on each vault). */
  brokerPrincipalId: string;
  /** Waits between retries inside an activity (replication delays); tests may shorten it. */
  sleep(ms: number): Promise<void>;
  /**
   * Called by every activity right before it writes, with what differs. A no-op when converging;
   * the dry run (`GET /api/slugs/{slug}/plan`) throws here, so the same compare logic reports
   * what would change and nothing is written. `deleting` marks a removal.
   */
  beforeWrite(changed: string[], existed: boolean, deleting?: boolean): void;
}

export function createActivityDeps(
  context: AzureContext,
  options: { brokerPrincipalId?: string; sleep?: (ms: number) => Promise<void>; armPolicies?: PipelinePolicy[] } = {},
): ActivityDeps {
  const clients = new AzureClients(context, options.armPolicies);
  let graphClient: GraphClient | undefined;
  return {
    context,
    clients,
    graph: () => (graphClient ??= createGraphClient(context)),
    brokerPrincipalId: options.brokerPrincipalId ?? brokerPrincipalIdFromEnv(),
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    beforeWrite: () => {},
  };
}

let processContext: AzureContext | undefined;
const processDeps = new Map<string, ActivityDeps>();

/**
 * The deps of this worker process for one subscription (a slug's placement; the broker's own
 * when absent), from the app settings; built on first use. Every subscription shares the
 * process's credential and cloud: a placement pool is subscriptions of the broker's tenant.
 */
export function activityDepsFromEnv(subscriptionId?: string): ActivityDeps {
  processContext ??= azureContextFromEnv();
  const subscription = subscriptionId ?? processContext.subscriptionId;
  let deps = processDeps.get(subscription.toLowerCase());
  if (!deps) {
    deps = createActivityDeps({ ...processContext, subscriptionId: subscription });
    processDeps.set(subscription.toLowerCase(), deps);
  }
  return deps;
}

/** For tests that run activities through the host against a fresh sandbox. */
export function resetActivityDeps(): void {
  processContext = undefined;
  processDeps.clear();
}
