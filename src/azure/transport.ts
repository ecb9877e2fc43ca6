/**
 * How our clients reach the sandbox: trust its CA explicitly and resolve its host names to
 * loopback. Only clients we build get this; TLS verification stays on everywhere.
 */
import https from "node:https";
import dns from "node:dns";
import type { LookupFunction } from "node:net";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { CloudEndpoints } from "./endpoints";

const agents = new WeakMap<CloudEndpoints, https.Agent>();

/** DNS lookup that answers 127.0.0.1 for the sandbox's host names and asks DNS for the rest. */
export function loopbackLookup(suffix: string): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    const host = hostname.toLowerCase();
    if (host === suffix || host.endsWith(`.${suffix}`)) {
      if (options && options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
      else callback(null, "127.0.0.1", 4);
      return;
    }
    dns.lookup(hostname, options, callback as never);
  }) as LookupFunction;
}

/** The https.Agent for a sandbox cloud, or undefined for a real cloud. */
export function sandboxAgent(endpoints: CloudEndpoints): https.Agent | undefined {
  if (!endpoints.caCertificatePem || !endpoints.loopbackDnsSuffix) return undefined;
  let agent = agents.get(endpoints);
  if (!agent) {
    agent = new https.Agent({
      ca: endpoints.caCertificatePem,
      lookup: loopbackLookup(endpoints.loopbackDnsSuffix),
      keepAlive: true,
    });
    agents.set(endpoints, agent);
  }
  return agent;
}

/** Pipeline policy that routes an Azure SDK client's requests through the sandbox agent. */
export function sandboxTransportPolicy(endpoints: CloudEndpoints): PipelinePolicy | undefined {
  const agent = sandboxAgent(endpoints);
  if (!agent) return undefined;
  return {
    name: "shireSandboxTransport",
    sendRequest: (request, next) => {
      request.agent = agent;
      return next(request);
    },
  };
}
