/**
 * Microsoft Graph client for a cloud: the official client with a TokenCredential auth provider,
 * base URL from the cloud's endpoints, and, against the sandbox, a fetch dispatcher that trusts
 * the sandbox CA and resolves its host names to loopback.
 */
import { Client, type AuthenticationProvider } from "@microsoft/microsoft-graph-client";
import { Agent } from "undici";
import type { AzureContext } from "./credential";
import { loopbackLookup, sandboxAgent } from "./transport";

class CredentialAuthProvider implements AuthenticationProvider {
  constructor(private readonly context: AzureContext) {}
  async getAccessToken(): Promise<string> {
    const token = await this.context.credential.getToken(this.context.endpoints.graphScope);
    if (!token) throw new Error("Could not get a Microsoft Graph token.");
    return token.token;
  }
}

const dispatchers = new WeakMap<object, Agent>();

export function createGraphClient(context: AzureContext): Client {
  const endpoints = context.endpoints;
  const graphHost = new URL(endpoints.graph).hostname;
  let fetchOptions: Record<string, unknown> | undefined;
  if (sandboxAgent(endpoints) && endpoints.caCertificatePem && endpoints.loopbackDnsSuffix) {
    let dispatcher = dispatchers.get(endpoints);
    if (!dispatcher) {
      const suffix = endpoints.loopbackDnsSuffix;
      dispatcher = new Agent({
        // A request that gets no answer fails (and is retried) instead of waiting undici's 5 minutes.
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
        connect: { ca: endpoints.caCertificatePem, lookup: loopbackLookup(suffix) },
      });
      dispatchers.set(endpoints, dispatcher);
    }
    fetchOptions = { dispatcher };
  }
  return Client.initWithMiddleware({
    authProvider: new CredentialAuthProvider(context),
    baseUrl: endpoints.graph,
    defaultVersion: "v1.0",
    customHosts: new Set([graphHost]),
    fetchOptions,
  });
}
