/**
 * Operation and slug records (STYLE.md §10, AzureTRE's shape): who asked for what, when, every
 * step with its status and duration, and the result. Persisted as JSON blobs in the app's own
 * storage account (AzureWebJobsStorage), container `shire-operations`, with ETag-guarded writes.
 */
import { BlobServiceClient, RestError, type ContainerClient } from "@azure/storage-blob";
import { ManagedIdentityCredential } from "@azure/identity";
import { BrokerError } from "../errors";
import { createBlobServiceClient } from "../azure/blob";
import { azureContextFromEnv, type AzureContext } from "../azure/credential";
import type { DriftRecord } from "./drift";
import type { RotationRecord } from "./rotation-record";

export type { OperationKind } from "./lifecycle";
import type { OperationKind } from "./lifecycle";
export type OperationStatus = "notStarted" | "running" | "succeeded" | "failed" | "canceled";
export type StepStatus = "pending" | "running" | "done" | "failed" | "skipped" | "canceled";

export interface OperationStep {
  id: string;
  title?: string;
  kind?: string;
  status: StepStatus;
  /** Set for a step that removes its resource (prune, teardown); absent means it converges it. */
  verb?: "remove";
  action?: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  error?: string;
  /** Deliveries of the step's activity so far (more than 1: it was retried). */
  attempts?: number;
  /** When a retried step runs again (it is waiting out a backoff or the service's Retry-After). */
  retryAt?: string;
  /** ARM resource id or Graph object id the step converged. */
  resourceId?: string;
  /** What the step could not do and the operator should know (e.g. a vault kept by purge protection). */
  notes?: string[];
}

export interface OperationRecord {
  id: string;
  slug: string;
  kind: OperationKind;
  actor: string;
  status: OperationStatus;
  message: string;
  createdAt: string;
  updatedAt: string;
  /** The validated request (never secrets). */
  request: unknown;
  steps: OperationStep[];
  /** Durable instance running it. */
  instanceId: string;
  /** An upgrade's own facts: what ran before, the share snapshot, the new revision, a rollback. */
  upgrade?: UpgradeDetails;
}

export interface UpgradeDetails {
  fromImage?: string;
  fromRevision?: string;
  toImage: string;
  /** The state share's snapshot taken before anything changed (its `snapshotTime`, the snapshot's id). */
  snapshot?: string;
  toRevision?: string;
  /** The seed's migration (`doctor --fix`) ran: the OpenClaw version changed and a new revision started. */
  migrated?: boolean;
  /** Why the upgrade was rolled back, and what the rollback did. */
  rollback?: { reason: string; toImage: string; revision?: string; restoredSnapshot?: string; healthy: boolean };
  /** The slug already ran the image: nothing was changed. */
  unchanged?: boolean;
}

export { SLUG_STATES, type SlugState } from "./lifecycle";
import type { SlugState } from "./lifecycle";

export interface SlugRecord {
  slug: string;
  state: SlugState;
  /** While retired: when the teardown destroys the footprint unless it is cancelled. */
  destroyAt?: string;
  /** The OpenClaw image the footprint runs: the last one an operation converged; null before that. */
  version: string | null;
  region: string;
  /**
   * The subscription the slug's footprint is in, chosen by placement at its first install and
   * never changed after (docs/operations.md, "Placement"). Absent on slugs installed before
   * placement existed: they are in the broker's own subscription.
   */
  subscriptionId?: string;
  resourceGroup: string;
  lastOperationId: string;
  updatedAt: string;
  /** `https://<container app fqdn>` once an install got that far. */
  url?: string;
  /** What the footprint is made of, as the last operation left it: plan node, kind, Azure/Entra id. */
  resources?: SlugResource[];
}

/**
 * What placement has promised in one subscription and region (src/api/placement.ts): the slugs
 * it chose there, each with the environment and role assignments it will create. A claim counts
 * against the quotas until its environment shows in ARM's listing (then ARM counts it), or until
 * it is older than an install takes to create its environment.
 */
export interface PlacementLedger {
  subscriptionId: string;
  region: string;
  claims: Record<string, PlacementClaim>;
}

export interface PlacementClaim {
  environment: string;
  roleAssignments: number;
  at: string;
}

/**
 * Entra directory objects claimed by installs under way, per creating principal (the quota is
 * the principal's): `directory/<principalId>.json`.
 */
export interface DirectoryLedger {
  principalId: string;
  claims: Record<string, DirectoryClaim>;
}

export interface DirectoryClaim {
  /** Objects the install would create when it was accepted. */
  objects: number;
  at: string;
}

export interface SlugResource {
  node: string;
  kind?: string;
  id: string;
}

/**
 * What the slug's operations have converged, node by node: kind, dependencies, the desired state
 * the activity received (references resolved; never secrets), its outputs and resource id. Kept
 * apart from the slug record (it is large: the Container App's template): prune finds what a new
 * plan drops here, and removals use the desired state recorded here.
 */
export interface AppliedState {
  slug: string;
  /** The install request the footprint was last converged to (validated; no secrets). */
  spec?: unknown;
  nodes: Record<string, AppliedNodeRecord>;
  updatedAt: string;
}

/** What an `ensure` step converged. */
export interface AppliedNode {
  kind: string;
  dependsOn: string[];
  /** The desired state as the activity received it (references resolved; never secrets). */
  desired: unknown;
  outputs: Record<string, string | number | boolean | null>;
  resourceId?: string;
}

export interface AppliedNodeRecord extends AppliedNode {
  /** The operation that last converged it. */
  operationId: string;
}

export const OPERATIONS_CONTAINER = "shire-operations";

export interface JournalQuery {
  slug?: string;
  kind?: string;
  status?: string;
  /** ISO time: operations created at or after it. */
  since?: string;
  limit?: number;
  continuationToken?: string;
}

export interface JournalPage {
  operations: OperationRecord[];
  continuationToken?: string;
}

/** Names sort newest first: 13-digit inverted creation time, then the id. */
function journalName(record: OperationRecord): string {
  const inverted = (9_999_999_999_999 - Date.parse(record.createdAt)).toString().padStart(13, "0");
  return `${inverted}-${record.id}`;
}

/** Blob metadata is ASCII: values are URI-encoded. */
function journalMetadata(record: OperationRecord): Record<string, string> {
  const values = {
    operationid: record.id,
    slug: record.slug,
    kind: record.kind,
    status: record.status,
    actor: record.actor,
    createdat: record.createdAt,
    updatedat: record.updatedAt,
  };
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, encodeURIComponent(value)]));
}

function fromJournalMetadata(
  metadata: Record<string, string>,
): { operationId: string; kind: string; status: string; createdAt: string } | undefined {
  const value = (key: string) => (metadata[key] !== undefined ? decodeURIComponent(metadata[key]) : undefined);
  const operationId = value("operationid");
  const createdAt = value("createdat");
  if (!operationId || !createdAt) return undefined;
  return { operationId, kind: value("kind") ?? "", status: value("status") ?? "", createdAt };
}
const stores = new Map<string, OperationStore>();

/** The cloud and credential for the app's own account: the broker's, or the identity `__clientId` names. */
function storageContext(env: NodeJS.ProcessEnv): AzureContext {
  let context: AzureContext;
  try {
    context = azureContextFromEnv(env);
  } catch (error) {
    throw new BrokerError("NotConfigured", `AzureWebJobsStorage__accountName is set, but ${(error as Error).message}`, {
      statusCode: 503,
    });
  }
  const clientId = env.AzureWebJobsStorage__clientId;
  // The sandbox has one broker identity; on Azure a named user-assigned identity signs the requests.
  return clientId && context.endpoints.name !== "Sandbox"
    ? { ...context, credential: new ManagedIdentityCredential({ clientId }) }
    : context;
}

/** Operation ids carry their slug (`<slug>.<yyyymmddThhmmssZ>.<random hex>`), so a record is found from its id. */
export function newOperationId(slug: string, now: Date, random: string): string {
  return `${slug}.${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}.${random}`;
}

const OPERATION_ID = /^([a-z][a-z0-9-]*)\.\d{8}T\d{6}Z\.[0-9a-f]+$/;

/** The slug an operation id names, or undefined when the string is not an operation id at all. */
export function slugOfOperation(operationId: string): string | undefined {
  return OPERATION_ID.exec(operationId)?.[1];
}

export class OperationStore {
  private containerReady?: Promise<unknown>;
  private readonly container: ContainerClient;

  /** `service`: a connection string (Azurite, account keys) or a client on the account (identity-based). */
  constructor(service: string | BlobServiceClient) {
    const client = typeof service === "string" ? BlobServiceClient.fromConnectionString(service) : service;
    this.container = client.getContainerClient(OPERATIONS_CONTAINER);
  }

  /**
   * The store on the app's own storage account, one per setting. As the Functions host reads
   * AzureWebJobsStorage: a connection string, else the identity-based form
   * (`AzureWebJobsStorage__accountName`, with `__clientId` naming a user-assigned identity), where
   * the broker's identity needs Storage Blob Data Contributor on the account.
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): OperationStore {
    const connection = env.AzureWebJobsStorage;
    const accountName = env.AzureWebJobsStorage__accountName;
    const key =
      connection ?? (accountName ? `identity:${accountName}:${env.AzureWebJobsStorage__clientId ?? ""}` : undefined);
    if (!key) {
      throw new BrokerError(
        "NotConfigured",
        "Neither AzureWebJobsStorage (a connection string) nor AzureWebJobsStorage__accountName (identity-based) is set: operation records have nowhere to live.",
        { statusCode: 503 },
      );
    }
    let store = stores.get(key);
    if (!store) {
      store = new OperationStore(connection ?? createBlobServiceClient(storageContext(env), accountName!));
      stores.set(key, store);
    }
    return store;
  }

  /** Create the container once; a failure (storage not up yet) is not cached, the next call retries. */
  private ready(): Promise<unknown> {
    this.containerReady ??= this.container.createIfNotExists().catch((error: unknown) => {
      this.containerReady = undefined;
      throw error;
    });
    return this.containerReady;
  }

  private async read<T>(name: string): Promise<{ value: T; etag: string } | undefined> {
    await this.ready();
    try {
      // One GET gives body and ETag together, so the ETag is the one of the bytes we parsed.
      const response = await this.container.getBlockBlobClient(name).download();
      const text = await readStream(response.readableStreamBody);
      return { value: JSON.parse(text) as T, etag: response.etag ?? "" };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  private async write(
    name: string,
    value: unknown,
    condition: { ifMatch?: string; ifNoneMatch?: string },
  ): Promise<boolean> {
    await this.ready();
    const body = JSON.stringify(value);
    try {
      await this.container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), {
        conditions: condition,
        blobHTTPHeaders: { blobContentType: "application/json" },
      });
      return true;
    } catch (error) {
      if (error instanceof RestError && (error.statusCode === 412 || error.statusCode === 409)) return false;
      throw error;
    }
  }

  /** Read-modify-write with ETag guard, retried on a concurrent update. */
  private update<T>(name: string, change: (current: T | undefined) => T): Promise<T> {
    return this.decide<T, T>(name, (current) => {
      const next = change(current);
      return { next, answer: next };
    });
  }

  /**
   * Read-modify-write with ETag guard where the change may write nothing (`next` absent): a
   * concurrent writer makes it decide again on what that one wrote, after a short random wait
   * (so a crowd of writers spreads out instead of colliding again).
   */
  private async decide<T, R>(
    name: string,
    decide: (current: T | undefined) => { next?: T; answer: R },
    attempts = 10,
  ): Promise<R> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const current = await this.read<T>(name);
      const { next, answer } = decide(current?.value);
      if (next === undefined) return answer;
      if (await this.write(name, next, current ? { ifMatch: current.etag } : { ifNoneMatch: "*" })) return answer;
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * Math.min(attempt, 10)));
    }
    throw new Error(`Could not update ${name}: too many concurrent writers.`);
  }

  private operationBlob(id: string): string {
    const slug = slugOfOperation(id);
    if (!slug) throw new TypeError(`'${id}' is not an operation id.`);
    return `operations/${slug}/${id}.json`;
  }

  /** Create the record; returns false when it already exists (the orchestration was faster). */
  async createOperation(record: OperationRecord): Promise<boolean> {
    const created = await this.write(this.operationBlob(record.id), record, { ifNoneMatch: "*" });
    if (created) await this.index(record);
    return created;
  }

  async getOperation(id: string): Promise<OperationRecord | undefined> {
    if (!slugOfOperation(id)) return undefined;
    return (await this.read<OperationRecord>(this.operationBlob(id)))?.value;
  }

  async updateOperation(
    id: string,
    change: (current: OperationRecord | undefined) => OperationRecord,
  ): Promise<OperationRecord> {
    const record = await this.update(this.operationBlob(id), change);
    await this.index(record);
    return record;
  }

  /**
   * The journal's index: for each operation an empty blob under `journal/all/` and one under
   * `journal/slugs/<slug>/`, named so that listing order is newest first (inverted creation time),
   * carrying what the filters need as metadata (kind, status, actor, times). A query lists index
   * blobs with their metadata, one service page at a time, and reads only the records it returns:
   * never a scan of every record. Writing is idempotent (same names, same metadata).
   */
  private async index(record: OperationRecord): Promise<void> {
    const metadata = journalMetadata(record);
    const name = journalName(record);
    await Promise.all(
      [`journal/all/${name}`, `journal/slugs/${record.slug}/${name}`].map((blob) =>
        this.container.getBlockBlobClient(blob).upload("", 0, { metadata }),
      ),
    );
  }

  /**
   * One page of the journal, newest first: up to `limit` index entries of the slug (or of all
   * slugs) from where `continuationToken` left off, filtered by kind, status and creation time.
   * A page may hold fewer than `limit` operations (filtered out); follow `continuationToken`
   * until there is none.
   */
  async queryOperations(query: JournalQuery = {}): Promise<JournalPage> {
    await this.ready();
    const prefix = query.slug ? `journal/slugs/${query.slug}/` : "journal/all/";
    const pages = this.container.listBlobsFlat({ prefix, includeMetadata: true }).byPage({
      maxPageSize: query.limit ?? 50,
      ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
    });
    const page = (await pages.next()).value as
      | { segment: { blobItems: { name: string; metadata?: Record<string, string> }[] }; continuationToken?: string }
      | undefined;
    if (!page) return { operations: [] };
    const ids: string[] = [];
    let reachedSince = false;
    for (const item of page.segment.blobItems) {
      const entry = fromJournalMetadata(item.metadata ?? {});
      if (!entry) continue;
      if (query.since && entry.createdAt < query.since) {
        // Newest first: everything after this is older still.
        reachedSince = true;
        break;
      }
      if (query.kind && entry.kind !== query.kind) continue;
      if (query.status && entry.status !== query.status) continue;
      ids.push(entry.operationId);
    }
    const operations = (await Promise.all(ids.map((id) => this.getOperation(id)))).filter(
      (record): record is OperationRecord => record !== undefined,
    );
    const next = !reachedSince && page.continuationToken ? page.continuationToken : undefined;
    return { operations, ...(next ? { continuationToken: next } : {}) };
  }

  async listOperations(slug?: string): Promise<OperationRecord[]> {
    await this.ready();
    const records: OperationRecord[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: slug ? `operations/${slug}/` : "operations/" })) {
      const record = await this.read<OperationRecord>(blob.name);
      if (record) records.push(record.value);
    }
    return records.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async getSlug(slug: string): Promise<SlugRecord | undefined> {
    return (await this.read<SlugRecord>(`slugs/${slug}.json`))?.value;
  }

  updateSlug(slug: string, change: (current: SlugRecord | undefined) => SlugRecord): Promise<SlugRecord> {
    return this.update(`slugs/${slug}.json`, change);
  }

  async getApplied(slug: string): Promise<AppliedState | undefined> {
    return (await this.read<AppliedState>(`applied/${slug}.json`))?.value;
  }

  updateApplied(slug: string, change: (current: AppliedState | undefined) => AppliedState): Promise<AppliedState> {
    return this.update(`applied/${slug}.json`, change);
  }

  async getDrift(slug: string): Promise<DriftRecord | undefined> {
    return (await this.read<DriftRecord>(`drift/${slug}.json`))?.value;
  }

  /** The latest audit's finding replaces the previous one (an audit is a snapshot). */
  async putDrift(record: DriftRecord): Promise<void> {
    await this.ready();
    const body = JSON.stringify(record);
    await this.container
      .getBlockBlobClient(`drift/${record.slug}.json`)
      .upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: "application/json" } });
  }

  async listDrift(): Promise<DriftRecord[]> {
    await this.ready();
    const records: DriftRecord[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: "drift/" })) {
      const record = await this.read<DriftRecord>(blob.name);
      if (record) records.push(record.value);
    }
    return records.sort((a, b) => a.slug.localeCompare(b.slug));
  }

  /** An upgrade wave's record (src/operations/waves.ts): its request, control, and each slug's state. */
  async getWave<T>(id: string): Promise<T | undefined> {
    return (await this.read<T>(`waves/${id}.json`))?.value;
  }

  updateWave<T>(id: string, change: (current: T | undefined) => T): Promise<T> {
    return this.update(`waves/${id}.json`, change);
  }

  /** The slug's rotation record (src/operations/rotation-record.ts). */
  async getRotation(slug: string): Promise<RotationRecord | undefined> {
    return (await this.read<RotationRecord>(`rotations/${slug}.json`))?.value;
  }

  updateRotation(
    slug: string,
    change: (current: RotationRecord | undefined) => RotationRecord,
  ): Promise<RotationRecord> {
    return this.update(`rotations/${slug}.json`, change);
  }

  /** The placement ledger as stored (claims are judged against slug records before deciding). */
  async getPlacementLedger(subscriptionId: string, region: string): Promise<PlacementLedger | undefined> {
    return (await this.read<PlacementLedger>(this.placementBlob(subscriptionId, region)))?.value;
  }

  /**
   * Read-modify-write of the placement ledger of one subscription and region, under its ETag:
   * `decide` sees the ledger as stored and returns what to write (or nothing) and its answer.
   * Installs placed at the same moment each see the others' claims, whichever instance runs them.
   */
  async decidePlacement<R>(
    subscriptionId: string,
    region: string,
    decide: (ledger: PlacementLedger | undefined) => { next?: PlacementLedger; answer: R },
  ): Promise<R> {
    // Every install placed at once writes here: more attempts than a record's few writers need.
    return this.decide(this.placementBlob(subscriptionId, region), decide, 50);
  }

  private placementBlob(subscriptionId: string, region: string): string {
    return `placements/${subscriptionId.toLowerCase()}/${region}.json`;
  }

  /** The directory ledger as stored (claims are judged against slug records before deciding). */
  async getDirectoryLedger(principalId: string): Promise<DirectoryLedger | undefined> {
    return (await this.read<DirectoryLedger>(this.directoryBlob(principalId)))?.value;
  }

  /** Read-modify-write of the directory ledger, like decidePlacement. */
  async decideDirectory<R>(
    principalId: string,
    decide: (ledger: DirectoryLedger | undefined) => { next?: DirectoryLedger; answer: R },
  ): Promise<R> {
    return this.decide(this.directoryBlob(principalId), decide, 50);
  }

  private directoryBlob(principalId: string): string {
    return `directory/${principalId.toLowerCase()}.json`;
  }

  async listSlugs(): Promise<SlugRecord[]> {
    await this.ready();
    const records: SlugRecord[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: "slugs/" })) {
      const record = await this.read<SlugRecord>(blob.name);
      if (record) records.push(record.value);
    }
    return records.sort((a, b) => a.slug.localeCompare(b.slug));
  }
}

async function readStream(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return "";
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}
