/**
 * Where Azure is: one `CloudEndpoints` value per cloud. Nothing outside `src/azure` knows which
 * cloud it talks to (DESIGN.md principle 5).
 */
export type CloudName = "AzureCloud" | "AzureUSGovernment" | "AzureChinaCloud" | "Sandbox";

export interface CloudEndpoints {
  name: CloudName;
  /** ARM base URL, no trailing slash. */
  resourceManager: string;
  /** OAuth scope for ARM tokens. */
  armScope: string;
  /** Entra authority host (login). */
  authorityHost: string;
  /** Microsoft Graph base URL (no version segment). */
  graph: string;
  graphScope: string;
  /** Key Vault DNS suffix: vault URL is `https://<name>.<suffix>/` (plus `:port` in the sandbox). */
  keyVaultDnsSuffix: string;
  keyVaultScope: string;
  /** Storage DNS suffix: `https://<account>.blob.<suffix>/`. */
  storageDnsSuffix: string;
  /** Suffix of container registry login servers. */
  acrLoginServerSuffix: string;
  /** Sandbox only: port every service listens on (one HTTPS server on loopback). */
  port?: number;
  /** Sandbox only: PEM of the CA that signed the sandbox's certificate; clients trust it explicitly. */
  caCertificatePem?: string;
  /** Sandbox only: host names under this suffix resolve to 127.0.0.1 for our clients. */
  loopbackDnsSuffix?: string;
}

export const AZURE_PUBLIC_CLOUD: CloudEndpoints = {
  name: "AzureCloud",
  resourceManager: "https://management.azure.com",
  armScope: "https://management.azure.com/.default",
  authorityHost: "https://login.microsoftonline.com",
  graph: "https://graph.microsoft.com",
  graphScope: "https://graph.microsoft.com/.default",
  keyVaultDnsSuffix: "vault.azure.net",
  keyVaultScope: "https://vault.azure.net/.default",
  storageDnsSuffix: "core.windows.net",
  acrLoginServerSuffix: "azurecr.io",
};

export const AZURE_US_GOVERNMENT: CloudEndpoints = {
  name: "AzureUSGovernment",
  resourceManager: "https://management.usgovcloudapi.net",
  armScope: "https://management.usgovcloudapi.net/.default",
  authorityHost: "https://login.microsoftonline.us",
  graph: "https://graph.microsoft.us",
  graphScope: "https://graph.microsoft.us/.default",
  keyVaultDnsSuffix: "vault.usgovcloudapi.net",
  keyVaultScope: "https://vault.usgovcloudapi.net/.default",
  storageDnsSuffix: "core.usgovcloudapi.net",
  acrLoginServerSuffix: "azurecr.us",
};

export const AZURE_CHINA_CLOUD: CloudEndpoints = {
  name: "AzureChinaCloud",
  resourceManager: "https://management.chinacloudapi.cn",
  armScope: "https://management.chinacloudapi.cn/.default",
  authorityHost: "https://login.chinacloudapi.cn",
  graph: "https://microsoftgraph.chinacloudapi.cn",
  graphScope: "https://microsoftgraph.chinacloudapi.cn/.default",
  keyVaultDnsSuffix: "vault.azure.cn",
  keyVaultScope: "https://vault.azure.cn/.default",
  storageDnsSuffix: "core.chinacloudapi.cn",
  acrLoginServerSuffix: "azurecr.cn",
};

/** Host names the sandbox answers for; all resolve to 127.0.0.1 through our clients' transport. */
export const SANDBOX_DNS_SUFFIX = "sandbox.localhost";

export function sandboxEndpoints(port: number, caCertificatePem: string): CloudEndpoints {
  const at = (host: string) => `https://${host}.${SANDBOX_DNS_SUFFIX}:${port}`;
  return {
    name: "Sandbox",
    resourceManager: at("management"),
    armScope: `${at("management")}/.default`,
    authorityHost: at("login"),
    graph: at("graph"),
    graphScope: `${at("graph")}/.default`,
    keyVaultDnsSuffix: `vault.${SANDBOX_DNS_SUFFIX}`,
    keyVaultScope: `https://vault.${SANDBOX_DNS_SUFFIX}/.default`,
    storageDnsSuffix: SANDBOX_DNS_SUFFIX,
    acrLoginServerSuffix: `azurecr.${SANDBOX_DNS_SUFFIX}`,
    port,
    caCertificatePem,
    loopbackDnsSuffix: SANDBOX_DNS_SUFFIX,
  };
}

/** Vault URL for a vault name in this cloud (with the sandbox's port where there is one). */
export function keyVaultUrl(endpoints: CloudEndpoints, vaultName: string): string {
  const port = endpoints.port ? `:${endpoints.port}` : "";
  return `https://${vaultName}.${endpoints.keyVaultDnsSuffix}${port}/`;
}

/** Blob endpoint of a storage account in this cloud. */
export function blobEndpoint(endpoints: CloudEndpoints, accountName: string): string {
  const port = endpoints.port ? `:${endpoints.port}` : "";
  return `https://${accountName}.blob.${endpoints.storageDnsSuffix}${port}/`;
}
