/** The emulated Azure Resource Manager: the engine plus every provider Shire uses. */
import type { SandboxEnvironment, SandboxServiceModule } from "../service";
import type { ArmOperationKind, SandboxRoute } from "../types";
import { ArmEngine, typeChainOf } from "./engine";
import type { ArmStore, StoredResource } from "./store";
import type { Operation } from "./operations";
import type { PersistentCollection } from "../persistence";
import { defineResources } from "./providers/resources";
import { defineManagedIdentity } from "./providers/identity";
import { defineAuthorization } from "./providers/authorization";
import { defineKeyVault } from "./providers/keyvault";
import { defineStorage } from "./providers/storage";
import { defineMonitoring } from "./providers/monitoring";
import { defineContainerApps } from "./providers/app";
import { defineBotService, defineCognitiveServices, defineContainerRegistry } from "./providers/misc";

export interface ArmService extends SandboxServiceModule {
  engine: ArmEngine;
  store: ArmStore;
  /** Called when a soft-deleted vault is purged (the Key Vault data plane drops its secrets). */
  onVaultPurged: ((vaultName: string) => void)[];
}

const KIND_BY_METHOD: Record<string, ArmOperationKind> = {
  GET: "read",
  HEAD: "read",
  PUT: "write",
  PATCH: "write",
  POST: "write",
  DELETE: "delete",
};

export function createArmService(env: SandboxEnvironment): ArmService {
  const engine = new ArmEngine(env);
  const service: ArmService = {
    name: "arm",
    engine,
    store: engine.store,
    onVaultPurged: [],
    routes: [],
    inspect: () => ({
      resources: engine.store.all().map((stored) => stored.resource),
      deletedVaults: [...engine.store.deletedVaults.values()].map((deleted) => ({
        name: deleted.name,
        properties: deleted.properties,
      })),
    }),
  };
  service.collections = armCollections(engine);
  defineResources(engine);
  defineManagedIdentity(engine);
  defineAuthorization(engine);
  defineKeyVault(engine, { onPurge: (name) => service.onVaultPurged.forEach((listener) => listener(name)) });
  defineStorage(engine);
  defineMonitoring(engine);
  defineContainerApps(engine);
  defineBotService(engine);
  defineCognitiveServices(engine);
  defineContainerRegistry(engine);

  const routes: SandboxRoute[] = (["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"] as const).map((method) => ({
    service: "arm",
    method,
    pattern: "/subscriptions/*rest",
    armKind: KIND_BY_METHOD[method],
    handler: (request) => engine.handle(request),
  }));
  service.routes.push(...routes);
  return service;
}

/**
 * Resource type of a request path, for per-type latency: the path's own type, or for an operation
 * poll the type whose operation it is (the engine adds the rest for actions and child collections
 * of a type with a latency setting: engine.ts, typeChainOf).
 */
export function resourceTypeOf(path: string): string | undefined {
  return typeChainOf(path)[0];
}

/** ARM's stores as records: resources and operations (compared where touched), soft-deleted vaults and accounts. */
function armCollections(engine: ArmEngine): PersistentCollection[] {
  const store = engine.store;
  const operations = engine.operations;
  const mapCollection = <T>(name: string, map: Map<string, T>): PersistentCollection => ({
    name,
    entries: () => map.entries(),
    load: (records) => {
      map.clear();
      for (const [key, value] of records) map.set(key, value as T);
    },
  });
  return [
    {
      name: "arm.resources",
      entries: () => store.entries(),
      takeTouched: () => store.takeTouched(),
      peek: (key) => store.peek(key),
      load: (records) => store.load(records as Map<string, StoredResource>),
    },
    {
      name: "arm.operations",
      entries: () => operations.entries(),
      takeTouched: () => operations.takeTouched(),
      peek: (key) => operations.peek(key),
      load: (records) => operations.load(records as Map<string, Operation>),
    },
    mapCollection("arm.deletedVaults", store.deletedVaults),
    mapCollection("arm.deletedAccounts", store.deletedAccounts),
  ];
}
