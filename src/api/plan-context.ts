/**
 * The plan's Azure context from the app settings. A module of its own, with no function
 * registrations, so tools (the benchmark) can plan without loading the HTTP API.
 */
import type { PlanContext } from "../model/plan";
import { azureContextFromEnv, brokerPrincipalIdFromEnv } from "../azure/credential";
import { keyVaultUrl } from "../azure/endpoints";
import { BrokerError } from "../errors";

/**
 * The plan's Azure context: subscription, tenant, endpoints, the broker's identity, the registry.
 * `subscriptionId`: the slug's placement; absent, the broker's own subscription (slugs from before
 * placement, and the plan of a slug not placed yet).
 */
export function planContextFromEnv(env: NodeJS.ProcessEnv = process.env, subscriptionId?: string): PlanContext {
  let azure;
  let brokerPrincipalId: string;
  try {
    azure = azureContextFromEnv(env);
    brokerPrincipalId = brokerPrincipalIdFromEnv(env);
  } catch (error) {
    throw new BrokerError("NotConfigured", `Shire is not connected to Azure: ${(error as Error).message}`, {
      statusCode: 503,
    });
  }
  const registryId = env.SHIRE_SHARED_REGISTRY_ID;
  const registryServer = env.SHIRE_SHARED_REGISTRY_LOGIN_SERVER;
  return {
    subscriptionId: subscriptionId ?? azure.subscriptionId,
    tenantId: azure.tenantId,
    brokerPrincipalId,
    vaultUri: (name) => keyVaultUrl(azure.endpoints, name),
    authorityHost: azure.endpoints.authorityHost,
    ...(env.SHIRE_NGINX_IMAGE ? { nginxImage: env.SHIRE_NGINX_IMAGE } : {}),
    ...(registryId && registryServer
      ? { sharedRegistry: { resourceId: registryId, loginServer: registryServer } }
      : {}),
  };
}

/** The plan context of a slug Shire has a record of: in the subscription its install chose. */
export function planContextForSlug(record: { subscriptionId?: string } | undefined): PlanContext {
  return planContextFromEnv(process.env, record?.subscriptionId);
}
