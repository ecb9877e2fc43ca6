/**
 * The api-version Shire speaks per provider (shared/reference/specs/MANIFEST.md): what its SDK
 * clients send (src/azure/clients.ts) and what its exported templates name. A module of its own,
 * so the model can use it without loading the SDKs.
 */
export const API_VERSIONS = {
  resources: "2025-04-01",
  app: "2025-07-01",
  keyVault: "2026-02-01",
  storage: "2025-08-01",
  managedIdentity: "2024-11-30",
  authorization: "2022-04-01",
  operationalInsights: "2025-07-01",
  insightsComponents: "2020-02-02",
  cognitiveServices: "2025-09-01",
  containerRegistry: "2025-11-01",
  botService: "2022-09-15",
} as const;
