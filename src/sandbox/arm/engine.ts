/**
 * ARM's generic behaviour: path parsing, api-version checks, resource-group and parent checks,
 * name rules, PUT/GET/PATCH/DELETE/LIST and POST actions, long-running operations with
 * `Azure-AsyncOperation` + `Location` and `provisioningState` progressing on the sandbox clock,
 * and cascading deletes. Providers (providers/*.ts) describe only what differs per type.
 */
import { randomUUID } from "node:crypto";
import type { SandboxEnvironment } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse } from "../types";
import { ArmErrors } from "./errors";
import { armSchemaValidator } from "./schemas";
import { ArmStore, resourceGroupOf, type ArmResource, type StoredResource } from "./store";

export interface PutContext {
  env: SandboxEnvironment;
  store: ArmStore;
  request: SandboxRequest;
  id: string;
  name: string;
  type: string;
  resourceGroup?: string;
  parent?: StoredResource;
  existing?: StoredResource;
  body: Record<string, unknown>;
  baseUrl: string;
}

export interface ActionContext {
  env: SandboxEnvironment;
  store: ArmStore;
  request: SandboxRequest;
  resource: StoredResource;
  engine: ArmEngine;
}

export interface ResourceTypeDefinition {
  /** Full type, e.g. `Microsoft.App/containerApps/authConfigs`. */
  type: string;
  /** Tracked resources require `location`. */
  tracked?: boolean;
  /** Status a create answers with when it is not 201 (auth configs answer 200, per their REST spec). */
  createdStatus?: 200 | 201;
  /** PUT (and DELETE) answer as long-running operations. */
  lro?: { put?: boolean; delete?: boolean };
  nameRule?: { test: (name: string) => boolean; code: string; message: (name: string) => string };
  /** Build the stored resource from the request (validate, fill read-only properties). */
  put(ctx: PutContext): { resource: ArmResource; hidden?: Record<string, unknown> } | Promise<{ resource: ArmResource; hidden?: Record<string, unknown> }>;
  /** PATCH: merge and re-validate; defaults to a shallow merge of tags and properties. */
  patch?(ctx: PutContext): { resource: ArmResource; hidden?: Record<string, unknown> };
  /** Side effects of deleting (soft delete, cleaning up dependants). Return false to keep the default removal from happening. */
  onDelete?(ctx: { env: SandboxEnvironment; store: ArmStore; resource: StoredResource }): boolean | void;
  actions?: Record<string, (ctx: ActionContext) => SandboxResponse | Promise<SandboxResponse>>;
  /** Called once an LRO on this resource finishes, e.g. to create a revision or fail provisioning. */
  onProvisioned?(ctx: { env: SandboxEnvironment; store: ArmStore; resource: StoredResource; failed: boolean }): void;
}

interface Operation {
  id: string;
  resourceId: string;
  kind: "put" | "delete";
  type: string;
  startedAt: number;
  durationMs: number;
  failed: boolean;
  done: boolean;
  error?: { code: string; message: string };
}

/** Pinned api-version per provider namespace (shared/reference/specs/MANIFEST.md). */
export const PINNED_API_VERSIONS: Record<string, string[]> = {
  "microsoft.resources": ["2025-04-01"],
  "microsoft.app": ["2025-07-01"],
  "microsoft.keyvault": ["2026-02-01"],
  "microsoft.storage": ["2025-08-01"],
  "microsoft.managedidentity": ["2024-11-30"],
  "microsoft.authorization": ["2022-04-01"],
  "microsoft.operationalinsights": ["2025-07-01", "2022-10-01"],
  "microsoft.insights": ["2020-02-02"],
  "microsoft.cognitiveservices": ["2025-09-01"],
  "microsoft.containerregistry": ["2025-11-01"],
  "microsoft.botservice": ["2022-09-15"],
};

export interface ParsedArmPath {
  subscriptionId: string;
  /** Scope the provider segment hangs off (for extension resources, another resource's id). */
  scope: string;
  resourceGroup?: string;
  namespace: string;
  /** Full type, e.g. Microsoft.App/containerApps/authConfigs. */
  type: string;
  /** Resource id when the path names a resource; undefined for a collection. */
  id?: string;
  name?: string;
  /** Id of the parent resource for child types. */
  parentId?: string;
  /** Trailing POST action (listKeys, restart...). */
  action?: string;
}

export function parseArmPath(path: string): ParsedArmPath | undefined {
  const segments = path.split("/").filter(Boolean);
  if (segments[0]?.toLowerCase() !== "subscriptions" || !segments[1]) return undefined;
  const subscriptionId = segments[1];
  let providersAt = -1;
  for (let i = 2; i < segments.length; i++) if (segments[i].toLowerCase() === "providers") providersAt = i;
  if (providersAt < 0) {
    // Resource groups: /subscriptions/{s}/resourcegroups[/{name}]
    if (segments[2]?.toLowerCase() !== "resourcegroups") return undefined;
    if (segments.length === 3) return { subscriptionId, scope: `/subscriptions/${subscriptionId}`, namespace: "Microsoft.Resources", type: "Microsoft.Resources/resourceGroups" };
    if (segments.length === 4) {
      return { subscriptionId, scope: `/subscriptions/${subscriptionId}`, namespace: "Microsoft.Resources", type: "Microsoft.Resources/resourceGroups", id: `/subscriptions/${subscriptionId}/resourceGroups/${segments[3]}`, name: segments[3], resourceGroup: segments[3] };
    }
    return undefined;
  }
  const scopeSegments = segments.slice(0, providersAt);
  const scope = `/${scopeSegments.join("/")}`;
  const rest = segments.slice(providersAt + 1);
  const namespace = rest[0];
  if (!namespace) return undefined;
  const pairs = rest.slice(1);
  const types: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    types.push(pairs[i]);
    if (i + 1 < pairs.length) names.push(pairs[i + 1]);
  }
  const resourceGroup = scopeSegments[2]?.toLowerCase() === "resourcegroups" && scopeSegments.length === 4 ? scopeSegments[3] : resourceGroupOf(scope);
  const base = { subscriptionId, scope, resourceGroup, namespace };
  const idFor = (count: number) => `${scope}/providers/${namespace}/${types.slice(0, count).map((type, i) => `${type}/${names[i]}`).join("/")}`;
  if (types.length === names.length) {
    return { ...base, type: `${namespace}/${types.join("/")}`, id: idFor(names.length), name: names.at(-1), parentId: names.length > 1 ? idFor(names.length - 1) : undefined };
  }
  // One more type than names: a collection under a resource, or an action on it.
  return {
    ...base,
    type: `${namespace}/${types.join("/")}`,
    id: names.length > 0 ? idFor(names.length) : undefined,
    name: names.at(-1),
    action: types.at(-1),
    parentId: names.length > 0 ? idFor(names.length) : undefined,
  };
}

export class ArmEngine {
  readonly store = new ArmStore();
  private readonly definitions = new Map<string, ResourceTypeDefinition>();
  private readonly operations = new Map<string, Operation>();

  constructor(readonly env: SandboxEnvironment) {}

  define(definition: ResourceTypeDefinition): void {
    this.definitions.set(definition.type.toLowerCase(), definition);
  }

  definition(type: string): ResourceTypeDefinition | undefined {
    return this.definitions.get(type.toLowerCase());
  }

  checkApiVersion(request: SandboxRequest, namespace: string, type: string, location = "westeurope"): void {
    const apiVersion = request.query.get("api-version");
    if (!apiVersion) throw ArmErrors.missingApiVersion();
    const supported = PINNED_API_VERSIONS[namespace.toLowerCase()];
    if (!supported) throw ArmErrors.invalidResourceType(type);
    if (!supported.includes(apiVersion)) throw ArmErrors.noRegisteredProvider(type, apiVersion, location, supported.join(", "));
  }

  /** Resolve finished LROs (on the sandbox clock) before anything reads state. */
  settle(): void {
    const now = this.env.clock.now();
    for (const operation of this.operations.values()) {
      if (operation.done || now < operation.startedAt + operation.durationMs) continue;
      operation.done = true;
      const stored = this.store.get(operation.resourceId);
      if (operation.kind === "put" && stored) {
        const properties = (stored.resource.properties ?? {}) as Record<string, unknown>;
        properties.provisioningState = operation.failed ? "Failed" : "Succeeded";
        stored.resource.properties = properties;
        this.definition(operation.type)?.onProvisioned?.({ env: this.env, store: this.store, resource: stored, failed: operation.failed });
        if (!operation.failed && properties.provisioningState === "Failed") {
          const failure = (stored.hidden.provisioningError as { code: string; message: string } | undefined) ?? { code: "ProvisioningFailed", message: "Provisioning failed." };
          operation.failed = true;
          operation.error = failure;
        }
      }
    }
  }

  /** Start an LRO for a resource; returns headers pointing at its status. */
  startOperation(request: SandboxRequest, resourceId: string, type: string, kind: "put" | "delete"): Record<string, string> {
    const faults = this.env.faults;
    const duration = (faults.lroDurationMs[type] ?? faults.defaultLroDurationMs) * faults.latencyScale;
    const failRate = faults.lroFailure[type] ?? 0;
    const operation: Operation = {
      id: randomUUID(),
      resourceId,
      kind,
      type,
      startedAt: this.env.clock.now(),
      durationMs: duration,
      failed: kind === "put" && failRate > 0 && Math.random() < failRate,
      done: false,
    };
    if (operation.failed) operation.error = { code: "ProvisioningFailed", message: `The provisioning of ${type} '${resourceId.split("/").at(-1)}' failed (sandbox fault injection).` };
    this.operations.set(operation.id, operation);
    const url = `${request.baseUrl}/subscriptions/${this.env.subscriptionId}/providers/${type.split("/")[0]}/operationStatuses/${operation.id}?api-version=${request.query.get("api-version") ?? ""}`;
    return { "azure-asyncoperation": url, location: url, "retry-after": "0" };
  }

  operationStatus(operationId: string): SandboxResponse {
    this.settle();
    const operation = this.operations.get(operationId);
    if (!operation) throw new SandboxHttpError(404, "OperationNotFound", `Operation ${operationId} was not found.`);
    const status = !operation.done ? "InProgress" : operation.failed ? "Failed" : "Succeeded";
    const body: Record<string, unknown> = { id: operation.id, name: operation.id, status, startTime: new Date(operation.startedAt).toISOString() };
    if (operation.done) body.endTime = new Date(operation.startedAt + operation.durationMs).toISOString();
    if (operation.failed && operation.done) body.error = operation.error;
    return { status: operation.done ? 200 : 202, headers: operation.done ? {} : { "retry-after": "0" }, body };
  }

  // ----- generic handlers -----

  async handle(request: SandboxRequest): Promise<SandboxResponse> {
    this.settle();
    const opMatch = /\/providers\/[^/]+\/operationStatuses\/([^/]+)$/i.exec(request.path);
    if (opMatch) return this.operationStatus(opMatch[1]);
    const parsed = parseArmPath(request.path);
    if (!parsed) throw new SandboxHttpError(404, "InvalidRequestUri", `The request URI '${request.path}' is not valid.`);
    if (parsed.subscriptionId.toLowerCase() !== this.env.subscriptionId.toLowerCase()) {
      throw new SandboxHttpError(404, "SubscriptionNotFound", `The subscription '${parsed.subscriptionId}' could not be found.`);
    }
    const special = this.definition(`${parsed.type}#special`);
    if (special?.actions?.handle) {
      this.checkApiVersion(request, parsed.namespace, parsed.type);
      return special.actions.handle({ env: this.env, store: this.store, request, resource: undefined as unknown as StoredResource, engine: this });
    }
    if (parsed.action && request.method === "POST") return this.action(request, parsed);
    const definition = this.definition(parsed.type);
    this.checkApiVersion(request, parsed.namespace, parsed.type);
    if (parsed.action && request.method === "GET") return this.list(request, parsed);
    if (!definition) throw ArmErrors.invalidResourceType(parsed.type);
    if (!parsed.id) return this.list(request, parsed);
    switch (request.method) {
      case "GET":
      case "HEAD":
        return this.get(parsed);
      case "PUT":
        return this.put(request, parsed, definition);
      case "PATCH":
        return this.patch(request, parsed, definition);
      case "DELETE":
        return this.delete(request, parsed, definition);
      default:
        throw ArmErrors.methodNotAllowed(request.method, parsed.type);
    }
  }

  private requireResourceGroup(parsed: ParsedArmPath): StoredResource | undefined {
    if (!parsed.resourceGroup) return undefined;
    const group = this.store.get(`/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}`);
    if (!group) throw ArmErrors.resourceGroupNotFound(parsed.resourceGroup);
    return group;
  }

  private get(parsed: ParsedArmPath): SandboxResponse {
    if (parsed.type !== "Microsoft.Resources/resourceGroups") this.requireResourceGroup(parsed);
    const stored = this.store.get(parsed.id!);
    if (!stored) {
      if (parsed.type === "Microsoft.Resources/resourceGroups") throw ArmErrors.resourceGroupNotFound(parsed.name!);
      throw ArmErrors.resourceNotFound(parsed.type, parsed.name!, parsed.resourceGroup);
    }
    return { status: 200, body: stored.resource };
  }

  /** A collection: `.../<type>` under the scope, or `.../<resource>/<childType>` under a resource. */
  private list(request: SandboxRequest, parsed: ParsedArmPath): SandboxResponse {
    if (parsed.type !== "Microsoft.Resources/resourceGroups") this.requireResourceGroup(parsed);
    if (parsed.id && !this.store.get(parsed.id)) throw ArmErrors.parentNotFound(parsed.id);
    const under = (parsed.id ?? parsed.scope).toLowerCase();
    const items = this.store
      .listByType(parsed.type)
      .filter((stored) => stored.resource.id.toLowerCase().startsWith(`${under}/`))
      .map((stored) => stored.resource);
    return { status: 200, body: { value: filterList(items, request.query.get("$filter")) } };
  }

  private async put(request: SandboxRequest, parsed: ParsedArmPath, definition: ResourceTypeDefinition): Promise<SandboxResponse> {
    const group = parsed.type === "Microsoft.Resources/resourceGroups" ? undefined : this.requireResourceGroup(parsed);
    if (group && (group.resource.properties as { provisioningState?: string })?.provisioningState === "Deleting") throw ArmErrors.beingDeleted(parsed.resourceGroup!);
    let parent: StoredResource | undefined;
    if (parsed.parentId) {
      parent = this.store.get(parsed.parentId);
      if (!parent) throw ArmErrors.parentNotFound(parsed.parentId);
    }
    const body = request.body;
    if (!body || typeof body !== "object" || Array.isArray(body)) throw ArmErrors.invalidContent("The request content was invalid and could not be deserialized: the body must be a JSON object.");
    if (definition.nameRule && !definition.nameRule.test(parsed.name!)) throw ArmErrors.invalidName(definition.nameRule.code, definition.nameRule.message(parsed.name!));
    if (definition.tracked && typeof (body as { location?: unknown }).location !== "string") throw ArmErrors.locationRequired();
    armSchemaValidator()?.validate(parsed.type, body);
    const existing = this.store.get(parsed.id!);
    const id = existing?.resource.id ?? parsed.id!;
    const built = await definition.put({
      env: this.env,
      store: this.store,
      request,
      id,
      name: parsed.name!,
      type: parsed.type,
      resourceGroup: parsed.resourceGroup,
      parent,
      existing,
      body: body as Record<string, unknown>,
      baseUrl: request.baseUrl,
    });
    const resource: ArmResource = { ...built.resource, id, name: parsed.name!, type: definition.type.includes("#") ? parsed.type : canonicalType(definition.type, parsed.type) };
    const stored: StoredResource = { resource, hidden: { ...(existing?.hidden ?? {}), ...(built.hidden ?? {}) }, createdAt: existing?.createdAt ?? this.env.clock.now() };
    this.store.put(stored);
    const status = existing ? 200 : (definition.createdStatus ?? 201);
    if (definition.lro?.put) {
      const properties = (resource.properties ?? {}) as Record<string, unknown>;
      properties.provisioningState = existing ? "Updating" : "Creating";
      resource.properties = properties;
      const headers = this.startOperation(request, id, definition.type, "put");
      this.settle();
      return { status, headers, body: this.store.get(id)?.resource ?? resource };
    }
    if (resource.properties && typeof resource.properties === "object") {
      const properties = resource.properties as Record<string, unknown>;
      if (properties.provisioningState === undefined) properties.provisioningState = "Succeeded";
    }
    definition.onProvisioned?.({ env: this.env, store: this.store, resource: stored, failed: false });
    return { status, body: resource };
  }

  private patch(request: SandboxRequest, parsed: ParsedArmPath, definition: ResourceTypeDefinition): SandboxResponse {
    this.requireResourceGroup(parsed);
    const existing = this.store.get(parsed.id!);
    if (!existing) throw ArmErrors.resourceNotFound(parsed.type, parsed.name!, parsed.resourceGroup);
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (definition.patch) {
      const built = definition.patch({ env: this.env, store: this.store, request, id: existing.resource.id, name: parsed.name!, type: parsed.type, resourceGroup: parsed.resourceGroup, existing, body, baseUrl: request.baseUrl });
      existing.resource = { ...built.resource, id: existing.resource.id, name: existing.resource.name, type: existing.resource.type } as ArmResource;
      existing.hidden = { ...existing.hidden, ...(built.hidden ?? {}) };
    } else {
      if (body.tags) existing.resource.tags = body.tags as Record<string, string>;
      if (body.properties && typeof body.properties === "object") existing.resource.properties = { ...(existing.resource.properties as object), ...(body.properties as object) };
    }
    return { status: 200, body: existing.resource };
  }

  private delete(request: SandboxRequest, parsed: ParsedArmPath, definition: ResourceTypeDefinition): SandboxResponse {
    if (parsed.type !== "Microsoft.Resources/resourceGroups") this.requireResourceGroup(parsed);
    const stored = this.store.get(parsed.id!);
    if (!stored) return { status: 204 };
    this.deleteWithChildren(stored);
    if (definition.lro?.delete) return { status: 202, headers: this.startOperation(request, stored.resource.id, definition.type, "delete") };
    return { status: 200 };
  }

  /** Delete a resource and everything under it (children, extension resources such as role assignments). */
  deleteWithChildren(stored: StoredResource): void {
    for (const child of this.store.descendants(stored.resource.id)) this.deleteOne(child);
    this.deleteOne(stored);
  }

  private deleteOne(stored: StoredResource): void {
    const definition = this.definition(stored.resource.type);
    const keep = definition?.onDelete?.({ env: this.env, store: this.store, resource: stored }) === false;
    if (!keep) this.store.delete(stored.resource.id);
  }

  private async action(request: SandboxRequest, parsed: ParsedArmPath): Promise<SandboxResponse> {
    const ownerType = parsed.type.split("/").slice(0, -1).join("/");
    const definition = this.definition(ownerType);
    this.checkApiVersion(request, parsed.namespace, ownerType);
    const handler = definition?.actions?.[parsed.action!];
    if (!handler || !parsed.id) throw ArmErrors.invalidResourceType(parsed.type);
    this.requireResourceGroup(parsed);
    const stored = this.store.get(parsed.id);
    if (!stored) throw ArmErrors.resourceNotFound(ownerType, parsed.name!, parsed.resourceGroup);
    return handler({ env: this.env, store: this.store, request, resource: stored, engine: this });
  }
}

function canonicalType(definitionType: string, requested: string): string {
  return definitionType.split("/").length === requested.split("/").length ? definitionType : requested;
}

/** The `$filter` forms Shire's clients send: `principalId eq '<id>'` and `atScope()`. */
function filterList(items: ArmResource[], filter: string | null): ArmResource[] {
  if (!filter) return items;
  const principal = /principalId eq '([^']+)'/i.exec(filter)?.[1];
  return items.filter((item) => !principal || String((item.properties as { principalId?: string })?.principalId).toLowerCase() === principal.toLowerCase());
}
