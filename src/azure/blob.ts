/**
 * Blob service client for a storage account in a cloud, authenticated with the broker's
 * TokenCredential (Entra auth; the broker holds Storage Blob Data Contributor on the account).
 */
import { BlobServiceClient, newPipeline, type StorageSharedKeyCredential } from "@azure/storage-blob";
import { createDefaultHttpClient, type HttpClient } from "@azure/core-rest-pipeline";
import type { AzureContext } from "./credential";
import { blobEndpoint } from "./endpoints";
import { sandboxTransportPolicy } from "./transport";

/** `sharedKey`: sign with an account key instead of the context's Entra credential (tests, tools). */
export function createBlobServiceClient(
  context: AzureContext,
  accountName: string,
  sharedKey?: StorageSharedKeyCredential,
): BlobServiceClient {
  const pipeline = newPipeline(sharedKey ?? context.credential);
  const policy = sandboxTransportPolicy(context.endpoints);
  if (policy) {
    // storage-blob accepts no extra pipeline policies. Its pipeline converts to core-rest-pipeline
    // on first use and caches the HttpClient in `_coreHttpClient`; seeding it routes this client
    // (and every container/blob client made from it) through the sandbox agent.
    const inner = createDefaultHttpClient();
    const httpClient: HttpClient = {
      sendRequest: (request) => policy.sendRequest(request, (next) => inner.sendRequest(next)),
    };
    (pipeline as unknown as { _coreHttpClient?: HttpClient })._coreHttpClient = httpClient;
  }
  return new BlobServiceClient(blobEndpoint(context.endpoints, accountName), pipeline);
}
