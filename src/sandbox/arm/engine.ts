/**
 * ARM's generic behaviour: path parsing, api-version checks, resource-group and parent checks,
 * name and location rules, PUT/GET/HEAD/PATCH/DELETE/LIST and POST actions, long-running
 * operations (operations.ts) with each type's own answer shapes and provisioning states on the
 * sandbox clock, and cascading deletes. Providers (providers/*.ts) describe only what differs per type.
 */
import { knowsSubscription, type SandboxEnvironment } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse } from "../types";
import { ARM_LOCATIONS, ArmErrors } from "./errors";
import {
  OperationTracker,
  matchOperationPath,
  operationTypeOf,
  type LroDeleteStyle,
  type LroStyle,
  type Operation,
} from "./operations";
import { armSchemaValidator } from "./schemas";
import { ArmStore, resourceGroupOf, type ArmResource, type StoredResource } from "./store";
import { asRecord, clone, jsonEqual, mergePatch } from "./providers/rules";
import { noteGate, noteLatency } from "../timings";

export type { LroDeleteStyle, LroStyle } from "./operations";

export const RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups";

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
  /** The full body: as sent for a PUT; for a PATCH, the last accepted body with the PATCH merged in. */
  body: Record<string, unknown>;
  baseUrl: string;
  mode: "put" | "patch";
  /** The PATCH body as sent (mode "patch"), for rules that only apply to what a PATCH names. */
  patch?: Record<string, unknown>;
}

export interface BuiltResource {
  resource: ArmResource;
  hidden?: Record<string, unknown>;
  /** What a later PATCH merges into, when it is not the body itself (e.g. a vault recovered from its soft-deleted state). */
  request?: Record<string, unknown>;
}

export interface ActionContext {
  env: SandboxEnvironment;
  store: ArmStore;
  request: SandboxRequest;
  resource: StoredResource;
  engine: ArmEngine;
}

export interface ListContext {
  store: ArmStore;
  request: SandboxRequest;
  /** The scope the collection was asked for (a resource id, group or subscription). */
  scope: string;
  items: StoredResource[];
}

export interface ResourceTypeDefinition {
  /** Full type, e.g. `Microsoft.App/containerApps/authConfigs`. */
  type: string;
  /** Tracked resources require `location`, one of `locations`, and keep it for life. */
  tracked?: boolean;
  /** Regions the type is offered in (default ARM_LOCATIONS). */
  locations?: string[];
  /** Status a synchronous create answers with when it is not 201 (auth configs answer 200, per their REST spec). */
  createdStatus?: 200 | 201;
  /** Which writes answer as long-running operations, and how (per the type's REST spec). */
  lro?: { put?: LroStyle; patch?: LroStyle; delete?: LroDeleteStyle };
  /** provisioningState while an LRO runs: the listed states in turn over its duration (per the type's enum). */
  states?: { creating?: string[]; updating?: string[]; deleting?: string };
  /**
   * PATCH: "merge" applies a JSON merge patch to the last accepted body, then everything a PUT
   * checks; "tags" changes only tags (UpdateTags operations). Absent: 405, for types whose REST spec has no PATCH.
   */
  patch?: "merge" | "tags";
  nameRule?: { test: (name: string) => boolean; code: string; message: (name: string) => string };
  /** Build the stored resource from the request (validate, fill read-only properties). */
  put(ctx: PutContext): BuiltResource | Promise<BuiltResource>;
  /** The error for a write while this resource's own LRO runs (default: ARM's AnotherOperationInProgress). */
  lockConflict?(name: string, id: string): SandboxHttpError;
  /** Refuse a delete Azure refuses (an environment that still holds apps); throw to refuse. */
  beforeDelete?(ctx: { env: SandboxEnvironment; store: ArmStore; resource: StoredResource }): void;
  /** Side effects of deleting (soft delete, cleaning up dependants). Return false to keep the default removal from happening. */
  onDelete?(ctx: { env: SandboxEnvironment; store: ArmStore; resource: StoredResource }): boolean | void;
  actions?: Record<string, (ctx: ActionContext) => SandboxResponse | Promise<SandboxResponse>>;
  /** DELETE answers 200 with the deleted resource (RoleAssignments_Delete), not an empty 200. */
  deleteReturnsResource?: boolean;
  /** A collection's members, when they are not simply the stored ones under the scope (role assignments inherit). */
  list?(ctx: ListContext): ArmResource[];
  /** Called when a long-running POST action on this resource (`startOperation` with `action`) finishes. */
  onActionDone?(ctx: {
    env: SandboxEnvironment;
    store: ArmStore;
    resource: StoredResource;
    action: string;
    failed: boolean;
  }): void;
  /**
   * Answer a request on one resource of this type before the generic handlers do, or return
   * undefined to let them (share snapshots: a PUT with `$expand=snapshots`, `x-ms-snapshot` reads).
   */
  intercept?(ctx: {
    env: SandboxEnvironment;
    store: ArmStore;
    request: SandboxRequest;
    id: string;
    engine: ArmEngine;
  }): SandboxResponse | undefined;
  /** Called once an LRO on this resource finishes (or at once for a synchronous PUT), e.g. to create a revision or fail provisioning. */
  onProvisioned?(ctx: { env: SandboxEnvironment; store: ArmStore; resource: StoredResource; failed: boolean }): void;
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
  /** Trailing POST action (listKeys, restart...) or child collection name. */
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
    if (segments.length === 3)
      return {
        subscriptionId,
        scope: `/subscriptions/${subscriptionId}`,
        namespace: "Microsoft.Resources",
        type: RESOURCE_GROUP_TYPE,
      };
    if (segments.length === 4) {
      return {
        subscriptionId,
        scope: `/subscriptions/${subscriptionId}`,
        namespace: "Microsoft.Resources",
        type: RESOURCE_GROUP_TYPE,
        id: `/subscriptions/${subscriptionId}/resourceGroups/${segments[3]}`,
        name: segments[3],
        resourceGroup: segments[3],
      };
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
  const resourceGroup =
    scopeSegments[2]?.toLowerCase() === "resourcegroups" && scopeSegments.length === 4
      ? scopeSegments[3]
      : resourceGroupOf(scope);
  const base = { subscriptionId, scope, resourceGroup, namespace };
  const idFor = (count: number) =>
    `${scope}/providers/${namespace}/${types
      .slice(0, count)
      .map((type, i) => `${type}/${names[i]}`)
      .join("/")}`;
  if (types.length === names.length) {
    return {
      ...base,
      type: `${namespace}/${types.join("/")}`,
      id: idFor(names.length),
      name: names.at(-1),
      parentId: names.length > 1 ? idFor(names.length - 1) : undefined,
    };
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

/**
 * The resource types a request path belongs to, most specific first: an action or child
 * collection, then the resources above it (`.../storageAccounts/listKeys` ->
 * [`.../storageAccounts/listKeys`, `Microsoft.Storage/storageAccounts`]); an operation poll
 * belongs to the type whose operation it is. Per-type latency uses the first type that has one.
 */
export function typeChainOf(path: string): string[] {
  const operation = matchOperationPath(path);
  const type = operation ? operationTypeOf(operation.id) : parseArmPath(path)?.type;
  if (!type) return [];
  const [namespace, ...segments] = type.split("/");
  return segments.map((_, i) => [namespace, ...segments.slice(0, segments.length - i)].join("/"));
}

const isDeleting = (stored: StoredResource | undefined) =>
  asRecord(stored?.resource.properties).provisioningState === "Deleting";
const normalizeLocation = (value: unknown) => String(value).replace(/\s+/g, "").toLowerCase();

export class ArmEngine {
  readonly store = new ArmStore();
  readonly operations: OperationTracker;
  private readonly definitions = new Map<string, ResourceTypeDefinition>();
  /** Settle hooks providers add (lazy sweeps on the sandbox clock, e.g. soft-deleted vaults reaching their purge date). */
  private readonly sweepers: (() => void)[] = [];

  constructor(readonly env: SandboxEnvironment) {
    this.operations = new OperationTracker(env);
    this.store.beforeRead = () => this.sweep();
  }

  define(definition: ResourceTypeDefinition): void {
    this.definitions.set(definition.type.toLowerCase(), definition);
  }

  definition(type: string): ResourceTypeDefinition | undefined {
    return this.definitions.get(type.toLowerCase());
  }

  onSettle(sweeper: () => void): void {
    this.sweepers.push(sweeper);
  }

  checkApiVersion(request: SandboxRequest, namespace: string, type: string, location = "westeurope"): void {
    const apiVersion = request.query.get("api-version");
    if (!apiVersion) throw ArmErrors.missingApiVersion();
    const supported = PINNED_API_VERSIONS[namespace.toLowerCase()];
    if (!supported) throw ArmErrors.invalidResourceType(type);
    // ARM parses the version before looking it up: a malformed one is a different error.
    if (!/^\d{4}-\d{2}-\d{2}(-[a-z]+)?$/i.test(apiVersion))
      throw ArmErrors.invalidApiVersion(apiVersion, supported.join(", "));
    if (!supported.includes(apiVersion))
      throw ArmErrors.noRegisteredProvider(type, apiVersion, location, supported.join(", "));
  }

  private sweeping = false;

  private sweep(): void {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const sweeper of this.sweepers) sweeper();
    } finally {
      this.sweeping = false;
    }
  }

  /** Resolve finished LROs and move running ones through their states (on the sandbox clock) before anything reads state. */
  settle(): void {
    const now = this.env.clock.now();
    this.sweep();
    for (const operation of this.operations.due(now)) {
      this.operations.finish(operation);
      const stored = this.store.get(operation.resourceId);
      if (!stored) continue;
      if (operation.kind === "delete") {
        this.deleteWithChildren(stored);
      } else if (operation.kind === "action" && operation.action) {
        this.definition(operation.type)?.onActionDone?.({
          env: this.env,
          store: this.store,
          resource: stored,
          action: operation.action,
          failed: operation.failed,
        });
      } else if (operation.kind === "put") {
        const properties = asRecord(stored.resource.properties);
        properties.provisioningState = operation.failed ? "Failed" : "Succeeded";
        stored.resource.properties = properties;
        this.definition(operation.type)?.onProvisioned?.({
          env: this.env,
          store: this.store,
          resource: stored,
          failed: operation.failed,
        });
        if (!operation.failed && properties.provisioningState === "Failed") {
          operation.failed = true;
          operation.error = (stored.hidden.provisioningError as { code: string; message: string } | undefined) ?? {
            code: "ProvisioningFailed",
            message: "Provisioning failed.",
          };
        }
      }
    }
    this.advanceStates(now);
  }

  /** Types with several provisioning states walk through them while their LRO runs. */
  private advanceStates(now: number): void {
    for (const operation of this.operations.unfinished()) {
      const stored = this.store.get(operation.resourceId);
      if (!stored || operation.kind !== "put") continue;
      const states = this.progressStates(operation, stored);
      if (states.length < 2) continue;
      const index = Math.min(states.length - 1, Math.floor(this.operations.progress(operation, now) * states.length));
      asRecord(stored.resource.properties).provisioningState = states[index];
    }
  }

  private progressStates(operation: Operation, stored: StoredResource): string[] {
    const states = this.definition(operation.type)?.states;
    return (
      (stored.hidden.lroUpdate ? states?.updating : states?.creating) ?? [
        stored.hidden.lroUpdate ? "Updating" : "Creating",
      ]
    );
  }

  /**
   * Start an LRO that is not a PUT or DELETE of a resource (a purge, a stop); returns its polling
   * headers. With `action`, the type's `onActionDone` runs when it ends (on the sandbox clock);
   * with `returnsResource`, its Location URL then answers the resource.
   */
  startOperation(
    request: SandboxRequest,
    resourceId: string,
    type: string,
    style: "async" | "location" | "both" = "location",
    options: { action?: string; returnsResource?: boolean; location?: string } = {},
  ): Record<string, string> {
    const operation = this.operations.start({
      resourceId,
      type,
      kind: "action",
      location: options.location,
      apiVersion: request.query.get("api-version") ?? "",
      doneStatus: 200,
      action: options.action,
      returnsResource: options.returnsResource,
    });
    this.settle();
    return this.operations.headers(operation, request.baseUrl, style);
  }

  // ----- generic handlers -----

  async handle(request: SandboxRequest): Promise<SandboxResponse> {
    await this.chainLatency(request.path);
    this.settle();
    const operationPath = matchOperationPath(request.path);
    if (operationPath) return this.operationPoll(request, operationPath);
    const groupResources = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/resources\/?$/i.exec(request.path);
    if (groupResources) return this.listGroupResources(request, groupResources[1], groupResources[2]);
    const parsed = parseArmPath(request.path);
    if (!parsed)
      throw new SandboxHttpError(404, "InvalidRequestUri", `The request URI '${request.path}' is not valid.`);
    if (!knowsSubscription(this.env, parsed.subscriptionId)) {
      throw new SandboxHttpError(
        404,
        "SubscriptionNotFound",
        `The subscription '${parsed.subscriptionId}' could not be found.`,
      );
    }
    const special = this.definition(`${parsed.type}#special`);
    if (special?.actions?.handle) {
      this.checkApiVersion(request, parsed.namespace, parsed.type);
      return special.actions.handle({
        env: this.env,
        store: this.store,
        request,
        resource: undefined as unknown as StoredResource,
        engine: this,
      });
    }
    if (parsed.action && request.method === "POST") return this.action(request, parsed);
    const definition = this.definition(parsed.type);
    this.checkApiVersion(request, parsed.namespace, parsed.type);
    if (parsed.action) {
      // A collection under a resource (revisions, shares) lists; an action's name is not a resource type.
      if (definition && request.method === "GET") return this.list(request, parsed, definition);
      const owner = this.definition(parsed.type.split("/").slice(0, -1).join("/"));
      if (owner?.actions?.[parsed.action]) throw ArmErrors.methodNotAllowed(request.method, parsed.type);
      throw ArmErrors.invalidResourceType(parsed.type);
    }
    if (!definition) throw ArmErrors.invalidResourceType(parsed.type);
    if (!parsed.id) {
      if (request.method !== "GET") throw ArmErrors.methodNotAllowed(request.method, parsed.type);
      return this.list(request, parsed, definition);
    }
    const intercepted = definition.intercept?.({
      env: this.env,
      store: this.store,
      request,
      id: parsed.id,
      engine: this,
    });
    if (intercepted) return intercepted;
    switch (request.method) {
      case "GET":
        return this.get(parsed);
      case "HEAD":
        // ARM's existence check: 204 No Content, or 404 (the SDK's checkExistence accepts only these).
        this.get(parsed);
        return { status: 204 };
      case "PUT":
        return this.write(request, parsed, definition, "put");
      case "PATCH":
        if (!definition.patch) throw ArmErrors.methodNotAllowed("PATCH", parsed.type);
        return this.write(request, parsed, definition, "patch");
      case "DELETE":
        return this.delete(request, parsed, definition);
      default:
        throw ArmErrors.methodNotAllowed(request.method, parsed.type);
    }
  }

  /**
   * The server waits the latency of the path's own type; actions, child collections and operation
   * polls of a type with a latency setting should wait that type's latency too.
   */
  private async chainLatency(path: string): Promise<void> {
    const faults = this.env.faults;
    const chain = typeChainOf(path);
    if (chain.length === 0) return;
    const applied = faults.latencyMs[chain[0]] ?? faults.defaultLatencyMs;
    const wanted =
      chain.map((type) => faults.latencyMs[type]).find((ms) => ms !== undefined) ?? faults.defaultLatencyMs;
    const extra = (wanted - applied) * faults.latencyScale;
    noteLatency(extra);
    if (extra > 0) await new Promise((resolve) => setTimeout(resolve, extra));
  }

  private operationPoll(request: SandboxRequest, path: { id: string; kind: "status" | "result" }): SandboxResponse {
    if (request.method !== "GET") throw ArmErrors.methodNotAllowed(request.method, "operationStatuses");
    const operation = this.operations.get(path.id);
    if (!operation) throw new SandboxHttpError(404, "OperationNotFound", `Operation ${path.id} was not found.`);
    if (path.kind === "status") return this.operations.statusResponse(operation);
    return this.operations.resultResponse(operation, request.baseUrl, this.store.get(operation.resourceId)?.resource);
  }

  private requireResourceGroup(parsed: ParsedArmPath): StoredResource | undefined {
    if (!parsed.resourceGroup) return undefined;
    const group = this.store.get(`/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}`);
    if (!group) throw ArmErrors.resourceGroupNotFound(parsed.resourceGroup);
    return group;
  }

  private get(parsed: ParsedArmPath): SandboxResponse {
    if (parsed.type !== RESOURCE_GROUP_TYPE) this.requireResourceGroup(parsed);
    const stored = this.store.get(parsed.id!);
    if (!stored) {
      if (parsed.type === RESOURCE_GROUP_TYPE) throw ArmErrors.resourceGroupNotFound(parsed.name!);
      throw ArmErrors.resourceNotFound(parsed.type, parsed.name!, parsed.resourceGroup);
    }
    // What a reader of a resource on its way waits for (timings.ts): its PUT's operation, a revision's start-up.
    const operation = this.operations.latestOn(stored.resource.id);
    if (operation?.kind === "put")
      noteGate({ kind: "lro", originAt: operation.startedAt, delayMs: operation.durationMs, open: operation.done });
    const gate = stored.hidden.startGate as { originAt: number; delayMs: number } | undefined;
    if (gate) noteGate({ kind: "revision", ...gate, open: typeof stored.hidden.readyAt !== "number" });
    return { status: 200, body: stored.resource };
  }

  /**
   * Resources_ListByResourceGroup: the group's top-level resources (not child resources, not
   * extension resources such as role assignments), as GenericResourceExpanded.
   */
  private listGroupResources(request: SandboxRequest, subscriptionId: string, groupName: string): SandboxResponse {
    if (request.method !== "GET") throw ArmErrors.methodNotAllowed(request.method, "Microsoft.Resources/resources");
    if (!knowsSubscription(this.env, subscriptionId))
      throw new SandboxHttpError(
        404,
        "SubscriptionNotFound",
        `The subscription '${subscriptionId}' could not be found.`,
      );
    this.checkApiVersion(request, "Microsoft.Resources", RESOURCE_GROUP_TYPE);
    const group = this.store.get(`/subscriptions/${subscriptionId}/resourceGroups/${groupName}`);
    if (!group) throw ArmErrors.resourceGroupNotFound(groupName);
    const prefix = `${group.resource.id.toLowerCase()}/providers/`;
    const value = this.store
      .all()
      .map((stored) => stored.resource)
      .filter((resource) => {
        const id = resource.id.toLowerCase();
        // Exactly namespace/type/name under the group's providers: top level, not an extension.
        return id.startsWith(prefix) && id.slice(prefix.length).split("/").length === 3;
      })
      .map((resource) => {
        const item = resource as unknown as Record<string, unknown>;
        return Object.fromEntries(
          ["id", "name", "type", "location", "tags", "kind", "sku", "identity"]
            .filter((key) => item[key] !== undefined)
            .map((key) => [key, item[key]]),
        );
      });
    return { status: 200, body: { value } };
  }

  /** A collection: `.../<type>` under the scope, or `.../<resource>/<childType>` under a resource. */
  private list(request: SandboxRequest, parsed: ParsedArmPath, definition: ResourceTypeDefinition): SandboxResponse {
    if (parsed.type !== RESOURCE_GROUP_TYPE) this.requireResourceGroup(parsed);
    if (parsed.id && !this.store.get(parsed.id)) throw ArmErrors.parentNotFound(parsed.id);
    const scope = parsed.id ?? parsed.scope;
    const items = this.store.listByType(parsed.type);
    const value = definition.list
      ? definition.list({ store: this.store, request, scope, items })
      : items
          .filter((stored) => stored.resource.id.toLowerCase().startsWith(`${scope.toLowerCase()}/`))
          .map((stored) => stored.resource);
    return { status: 200, body: { value } };
  }

  /** PUT, and PATCH as a PUT of the merged body: one path, so a PATCH gets every check a PUT gets. */
  private async write(
    request: SandboxRequest,
    parsed: ParsedArmPath,
    definition: ResourceTypeDefinition,
    mode: "put" | "patch",
  ): Promise<SandboxResponse> {
    const isGroup = parsed.type === RESOURCE_GROUP_TYPE;
    const existing = this.store.get(parsed.id!);
    if (isGroup && isDeleting(existing)) throw ArmErrors.beingDeleted(parsed.name!);
    const group = isGroup ? undefined : this.requireResourceGroup(parsed);
    if (isDeleting(group)) throw ArmErrors.beingDeleted(parsed.resourceGroup!);
    let parent: StoredResource | undefined;
    if (parsed.parentId) {
      parent = this.store.get(parsed.parentId);
      if (!parent) throw ArmErrors.parentNotFound(parsed.parentId);
    }
    const sent = request.body;
    if (!sent || typeof sent !== "object" || Array.isArray(sent))
      throw ArmErrors.invalidContent(
        "The request content was invalid and could not be deserialized: the body must be a JSON object.",
      );
    if (mode === "patch" && !existing) {
      if (isGroup) throw ArmErrors.resourceGroupNotFound(parsed.name!);
      throw ArmErrors.resourceNotFound(parsed.type, parsed.name!, parsed.resourceGroup);
    }
    const body =
      mode === "put"
        ? (sent as Record<string, unknown>)
        : this.patched(existing!, definition, sent as Record<string, unknown>);
    if (definition.nameRule && !definition.nameRule.test(parsed.name!))
      throw ArmErrors.invalidName(definition.nameRule.code, definition.nameRule.message(parsed.name!));
    if (definition.tracked) this.checkLocation(parsed, definition, body, existing);
    armSchemaValidator()?.validate(parsed.type, body, request.query.get("api-version") ?? undefined);
    const running = existing && this.operations.running(existing.resource.id);
    if (running)
      throw (
        definition.lockConflict?.(parsed.name!, existing.resource.id) ??
        ArmErrors.anotherOperationInProgress(existing.resource.id)
      );

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
      body,
      baseUrl: request.baseUrl,
      mode,
      patch: mode === "patch" ? (sent as Record<string, unknown>) : undefined,
    });
    const accepted = clone(built.request ?? body);
    const declared = mode === "patch" ? definition.lro?.patch : definition.lro?.put;
    const style = declared?.createOnly && existing ? undefined : declared;
    const unchanged = Boolean(
      existing &&
      style?.noChangeIsSync &&
      jsonEqual(existing.hidden.request, accepted) &&
      asRecord(existing.resource.properties).provisioningState === "Succeeded",
    );
    const resource: ArmResource = {
      ...built.resource,
      id,
      name: parsed.name!,
      type: definition.type.includes("#") ? parsed.type : canonicalType(definition.type, parsed.type),
    };
    const hidden: Record<string, unknown> = {
      ...(existing?.hidden ?? {}),
      ...(built.hidden ?? {}),
      request: accepted,
      lroUpdate: Boolean(existing),
    };
    delete hidden.provisioningError;
    const stored: StoredResource = { resource, hidden, createdAt: existing?.createdAt ?? this.env.clock.now() };
    this.store.put(stored);

    if (style && !unchanged) {
      const operation = this.operations.start({
        resourceId: id,
        type: definition.type,
        kind: "put",
        location: typeof resource.location === "string" ? resource.location : undefined,
        apiVersion: request.query.get("api-version") ?? "",
      });
      resource.properties = {
        ...asRecord(resource.properties),
        provisioningState: this.progressStates(operation, stored)[0],
      };
      this.settle();
      const headers = this.operations.headers(operation, request.baseUrl, style.headers);
      return {
        status: existing ? style.updated : style.created,
        headers,
        body: style.emptyBody ? undefined : (this.store.get(id)?.resource ?? resource),
      };
    }
    if (resource.properties && typeof resource.properties === "object") {
      const properties = resource.properties as Record<string, unknown>;
      if (properties.provisioningState === undefined) properties.provisioningState = "Succeeded";
    }
    if (!unchanged) definition.onProvisioned?.({ env: this.env, store: this.store, resource: stored, failed: false });
    return { status: existing || mode === "patch" ? 200 : (definition.createdStatus ?? 201), body: resource };
  }

  /** The body a PATCH stands for: the last accepted body with the PATCH merged in (RFC 7396). */
  private patched(
    existing: StoredResource,
    definition: ResourceTypeDefinition,
    patch: Record<string, unknown>,
  ): Record<string, unknown> {
    const before = (existing.hidden.request as Record<string, unknown> | undefined) ?? requestOf(existing.resource);
    if (definition.patch === "tags") {
      // UpdateTags operations take `{tags}` only: nothing else in the body changes the resource.
      return patch.tags === undefined ? clone(before) : { ...clone(before), tags: patch.tags };
    }
    const merged = mergePatch(before, patch) as Record<string, unknown>;
    // ARM's resource provider contract: a PATCH's `tags` replace the resource's tags whole (a tag
    // left out is removed), unlike the merge every other property gets.
    if (patch.tags !== undefined && patch.tags !== null) merged.tags = clone(patch.tags);
    return merged;
  }

  private checkLocation(
    parsed: ParsedArmPath,
    definition: ResourceTypeDefinition,
    body: Record<string, unknown>,
    existing: StoredResource | undefined,
  ): void {
    if (typeof body.location !== "string") throw ArmErrors.locationRequired();
    const location = normalizeLocation(body.location);
    const allowed = definition.locations ?? ARM_LOCATIONS;
    if (!allowed.includes(location)) {
      if (parsed.type === RESOURCE_GROUP_TYPE) throw ArmErrors.locationNotAvailableForGroup(body.location);
      throw ArmErrors.locationNotAvailableForType(body.location, definition.type, allowed);
    }
    // Resource groups answer their own InvalidResourceGroupLocation (providers/resources.ts).
    if (
      existing &&
      parsed.type !== RESOURCE_GROUP_TYPE &&
      typeof existing.resource.location === "string" &&
      normalizeLocation(existing.resource.location) !== location
    ) {
      throw ArmErrors.locationChange(parsed.name!, existing.resource.location, parsed.resourceGroup ?? "", location);
    }
  }

  private delete(request: SandboxRequest, parsed: ParsedArmPath, definition: ResourceTypeDefinition): SandboxResponse {
    const isGroup = parsed.type === RESOURCE_GROUP_TYPE;
    if (!isGroup) this.requireResourceGroup(parsed);
    const stored = this.store.get(parsed.id!);
    if (!stored) {
      // ARM answers a missing group itself; resource providers answer 204 for a resource that is not there.
      if (isGroup) throw ArmErrors.resourceGroupNotFound(parsed.name!);
      return { status: 204 };
    }
    const style = definition.lro?.delete;
    const running = this.operations.running(stored.resource.id);
    if (running?.kind === "delete")
      return { status: 202, headers: this.operations.headers(running, request.baseUrl, style?.headers ?? "location") };
    if (running)
      throw (
        definition.lockConflict?.(parsed.name!, stored.resource.id) ??
        ArmErrors.anotherOperationInProgress(stored.resource.id)
      );
    definition.beforeDelete?.({ env: this.env, store: this.store, resource: stored });
    if (style) {
      stored.resource.properties = {
        ...asRecord(stored.resource.properties),
        provisioningState: definition.states?.deleting ?? "Deleting",
      };
      const operation = this.operations.start({
        resourceId: stored.resource.id,
        type: definition.type,
        kind: "delete",
        location: typeof stored.resource.location === "string" ? stored.resource.location : undefined,
        apiVersion: request.query.get("api-version") ?? "",
        doneStatus: style.doneStatus,
      });
      this.settle();
      return { status: 202, headers: this.operations.headers(operation, request.baseUrl, style.headers) };
    }
    this.deleteWithChildren(stored);
    return { status: 200, body: definition.deleteReturnsResource ? stored.resource : undefined };
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

/** A PUT body rebuilt from a stored resource that never had one (created by Azure itself, like a storage account's default services). */
function requestOf(resource: ArmResource): Record<string, unknown> {
  const { id: _id, name: _name, type: _type, ...rest } = resource;
  const properties = { ...asRecord(rest.properties) };
  delete properties.provisioningState;
  return clone({ ...rest, ...(rest.properties ? { properties } : {}) });
}
