/**
 * One factory for every Azure client Shire uses, each pinned to the api-version in
 * shared/reference/specs/MANIFEST.md and configured for the cloud in the context.
 * Activities get clients from here; nothing else constructs an SDK client.
 */
import { ResourceManagementClient } from "@azure/arm-resources";
import { ContainerAppsAPIClient } from "@azure/arm-appcontainers";
import { KeyVaultManagementClient } from "@azure/arm-keyvault";
import { StorageManagementClient } from "@azure/arm-storage";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { OperationalInsightsManagementClient } from "@azure/arm-operationalinsights";
import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { AzureBotService } from "@azure/arm-botservice";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import { SecretClient } from "@azure/keyvault-secrets";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { AzureContext } from "./credential";
import { sandboxTransportPolicy } from "./transport";
import { API_VERSIONS } from "./api-versions";

export { API_VERSIONS };

/**
 * No request waits forever: a connection that accepts a request and never answers fails after a
 * minute (and is retried), instead of holding an activity until the host gives up on it.
 */
export const requestTimeoutPolicy: PipelinePolicy = {
  name: "shireRequestTimeout",
  sendRequest: (request, next) => {
    if (!request.timeout) request.timeout = 60_000;
    return next(request);
  },
};

/**
 * With a poll interval of the broker's own (AzureContext.operationPollIntervalMs: the sandbox on
 * a compressed clock), the service's Retry-After on a successful answer is dropped, so the SDK's
 * operation poller waits the interval each call passes (`AzureClients.operationPolling`) instead
 * of a whole second. Failed answers keep it: a 429's or 503's wait is the retry policy's.
 */
export function operationPollIntervalPolicy(): PipelinePolicy {
  return {
    name: "shireOperationPollInterval",
    sendRequest: async (request, next) => {
      const response = await next(request);
      if (response.status < 300) response.headers.delete("retry-after");
      return response;
    },
  };
}

/** Pipeline policies every Azure SDK client gets: request timeout, and the sandbox transport when there is one. */
function shirePolicies(context: AzureContext): { policy: PipelinePolicy; position: "perCall" | "perRetry" }[] {
  const sandbox = sandboxTransportPolicy(context.endpoints);
  return [
    { policy: requestTimeoutPolicy, position: "perRetry" },
    ...(sandbox ? [{ policy: sandbox, position: "perCall" as const }] : []),
  ];
}

/** Options every ARM management client takes: endpoint, scope, pinned version, transport. */
export function armClientOptions(context: AzureContext, apiVersion: string, extraPolicies: PipelinePolicy[] = []) {
  const additionalPolicies = [
    ...shirePolicies(context),
    ...(context.operationPollIntervalMs
      ? [{ policy: operationPollIntervalPolicy(), position: "perCall" as const }]
      : []),
    ...extraPolicies.map((policy) => ({ policy, position: "perCall" as const })),
  ];
  return {
    endpoint: context.endpoints.resourceManager,
    // Classic (core-client) SDKs read `$host` and `credentialScopes`; the modular (TypeSpec) ones,
    // e.g. arm-resources 8, arm-keyvault 5, arm-storage 20, read `endpoint` and `credentials.scopes`.
    $host: context.endpoints.resourceManager,
    credentialScopes: [context.endpoints.armScope],
    credentials: { scopes: [context.endpoints.armScope] },
    apiVersion,
    additionalPolicies,
  };
}

export class AzureClients {
  private readonly cache = new Map<string, unknown>();

  /** `armPolicies`: more pipeline policies for the ARM clients (a drift audit counts its reads with one). */
  constructor(
    readonly context: AzureContext,
    private readonly armPolicies: PipelinePolicy[] = [],
  ) {}

  private memo<T>(key: string, build: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, build());
    return this.cache.get(key) as T;
  }

  /**
   * Options for every long-running ARM call (`begin...AndWait`, the modular SDKs' pollers): the
   * broker's poll interval when it has one (see operationPollIntervalPolicy), else nothing, and
   * the SDK follows the service's Retry-After.
   */
  get operationPolling(): { updateIntervalInMs?: number } {
    const ms = this.context.operationPollIntervalMs;
    return ms ? { updateIntervalInMs: ms } : {};
  }

  private get subscriptionId(): string {
    return this.context.subscriptionId;
  }

  get resources(): ResourceManagementClient {
    return this.memo(
      "resources",
      () =>
        new ResourceManagementClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.resources, this.armPolicies),
        ),
    );
  }

  get containerApps(): ContainerAppsAPIClient {
    return this.memo(
      "app",
      () =>
        new ContainerAppsAPIClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.app, this.armPolicies),
        ),
    );
  }

  get keyVault(): KeyVaultManagementClient {
    return this.memo(
      "keyVault",
      () =>
        new KeyVaultManagementClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.keyVault, this.armPolicies),
        ),
    );
  }

  get storage(): StorageManagementClient {
    return this.memo(
      "storage",
      () =>
        new StorageManagementClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.storage, this.armPolicies),
        ),
    );
  }

  get managedIdentity(): ManagedServiceIdentityClient {
    return this.memo(
      "msi",
      () =>
        new ManagedServiceIdentityClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.managedIdentity, this.armPolicies),
        ),
    );
  }

  get authorization(): AuthorizationManagementClient {
    return this.memo(
      "authorization",
      () =>
        new AuthorizationManagementClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.authorization, this.armPolicies),
        ),
    );
  }

  get operationalInsights(): OperationalInsightsManagementClient {
    return this.memo(
      "operationalInsights",
      () =>
        new OperationalInsightsManagementClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.operationalInsights, this.armPolicies),
        ),
    );
  }

  get cognitiveServices(): CognitiveServicesManagementClient {
    return this.memo(
      "cognitiveServices",
      () =>
        new CognitiveServicesManagementClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.cognitiveServices, this.armPolicies),
        ),
    );
  }

  get botService(): AzureBotService {
    return this.memo(
      "botService",
      () =>
        new AzureBotService(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.botService, this.armPolicies),
        ),
    );
  }

  get containerRegistry(): ContainerRegistryManagementClient {
    return this.memo(
      "containerRegistry",
      () =>
        new ContainerRegistryManagementClient(
          this.context.credential,
          this.subscriptionId,
          armClientOptions(this.context, API_VERSIONS.containerRegistry, this.armPolicies),
        ),
    );
  }

  /** Key Vault data plane for one vault (challenge-based auth, as the real service). */
  secrets(vaultUrl: string): SecretClient {
    return this.memo(`secrets:${vaultUrl}`, () => {
      return new SecretClient(vaultUrl, this.context.credential, { additionalPolicies: shirePolicies(this.context) });
    });
  }
}
