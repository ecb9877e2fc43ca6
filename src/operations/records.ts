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
  resourceGroup: string;
  lastOperationId: string;
  updatedAt: string;
  /** `https://<container app fqdn>` once an install got that far. */
  url?: string;
  /** What the footprint is made of, as the last operation left it: plan node, kind, Azure/Entra id. */
  resources?: SlugResource[];
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
  private async update<T>(name: string, change: (current: T | undefined) => T): Promise<T> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.read<T>(name);
      const next = change(current?.value);
      const written = await this.write(name, next, current ? { ifMatch: current.etag } : { ifNoneMatch: "*" });
      if (written) return next;
    }
    throw new Error(`Could not update ${name}: too many concurrent writers.`);
  }

  private operationBlob(id: string): string {
    const slug = slugOfOperation(id);
    if (!slug) throw new TypeError(`'${id}' is not an operation id.`);
    return `operations/${slug}/${id}.json`;
  }

  /** Create the record; returns false when it already exists (the orchestration was faster). */
  createOperation(record: OperationRecord): Promise<boolean> {
    return this.write(this.operationBlob(record.id), record, { ifNoneMatch: "*" });
  }

  async getOperation(id: string): Promise<OperationRecord | undefined> {
    if (!slugOfOperation(id)) return undefined;
    return (await this.read<OperationRecord>(this.operationBlob(id)))?.value;
  }

  updateOperation(
    id: string,
    change: (current: OperationRecord | undefined) => OperationRecord,
  ): Promise<OperationRecord> {
    return this.update(this.operationBlob(id), change);
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
