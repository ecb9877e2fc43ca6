/**
 * The operation journal on real blob storage (Azurite): every operation queryable newest first by
 * slug, kind, status and time, page by page, from its index (only the returned records are read),
 * and still there after the storage restarts.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type AzuriteHandle } from "../../src/runtime/azurite";
import { newOperationId, OperationStore, type OperationRecord } from "../../src/operations/records";
import type { OperationKind } from "../../src/operations/lifecycle";

let azurite: AzuriteHandle;
let location: string;
let store: OperationStore;
const created: OperationRecord[] = [];

const KINDS: OperationKind[] = ["install", "teardown", "upgrade"];
const SLUGS = ["alpha", "beta", "gamma"];

beforeAll(async () => {
  location = fs.mkdtempSync(path.join(os.tmpdir(), "shire-journal-"));
  azurite = await startAzurite(location);
  store = new OperationStore(azurite.connectionString);
  // 30 operations a minute apart, over three slugs and kinds; every third one finished.
  for (let i = 0; i < 30; i++) {
    const at = new Date(Date.UTC(2026, 10, 20, 8, i));
    const slug = SLUGS[i % 3];
    const id = newOperationId(slug, at, i.toString(16).padStart(4, "0"));
    const record: OperationRecord = {
      id,
      slug,
      kind: KINDS[Math.floor(i / 3) % 3],
      actor: `ops-${i} (Zoë)`,
      status: "running",
      message: "started",
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
      request: { slug },
      steps: [],
      instanceId: `slug-${slug}`,
    };
    await store.createOperation(record);
    created.push(record);
    if (i % 3 === 0)
      created[i] = await store.updateOperation(id, (current) => ({
        ...current!,
        status: "succeeded",
        message: "done",
      }));
  }
}, 60_000);

afterAll(async () => {
  await azurite?.stop();
  fs.rmSync(location, { recursive: true, force: true });
});

const newestFirst = (records: OperationRecord[]) =>
  [...records].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((r) => r.id);

/** Every page, following the tokens; each page no larger than the limit. */
async function allPages(query: Parameters<OperationStore["queryOperations"]>[0]): Promise<string[]> {
  const ids: string[] = [];
  let continuationToken: string | undefined;
  do {
    const page = await store.queryOperations({ ...query, ...(continuationToken ? { continuationToken } : {}) });
    expect(page.operations.length).toBeLessThanOrEqual(query?.limit ?? 50);
    ids.push(...page.operations.map((record) => record.id));
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return ids;
}

describe("the operation journal", () => {
  it("lists every operation newest first, page by page, each once", async () => {
    expect(await allPages({ limit: 7 })).toEqual(newestFirst(created));
    const first = await store.queryOperations({ limit: 7 });
    expect(first.operations).toHaveLength(7);
    expect(first.continuationToken).toBeTruthy();
  });

  it("filters by slug, kind, status and time, combined", async () => {
    expect(await allPages({ slug: "beta", limit: 4 })).toEqual(newestFirst(created.filter((r) => r.slug === "beta")));
    expect(await allPages({ kind: "teardown" })).toEqual(newestFirst(created.filter((r) => r.kind === "teardown")));
    expect(await allPages({ status: "succeeded", limit: 5 })).toEqual(
      newestFirst(created.filter((r) => r.status === "succeeded")),
    );
    const since = created[20].createdAt;
    expect(await allPages({ since, limit: 3 })).toEqual(newestFirst(created.filter((r) => r.createdAt >= since)));
    expect(await allPages({ slug: "gamma", kind: "install", status: "running" })).toEqual(
      newestFirst(created.filter((r) => r.slug === "gamma" && r.kind === "install" && r.status === "running")),
    );
    // The records come back whole, status as last written.
    const [latestDone] = (await store.queryOperations({ status: "succeeded", limit: 50 })).operations;
    expect(latestDone).toMatchObject({ status: "succeeded", message: "done", actor: created[27].actor });
  });

  it("reads only the records a page returns, never every record", async () => {
    const reads: string[] = [];
    const original = store.getOperation.bind(store);
    store.getOperation = async (id: string) => (reads.push(id), original(id));
    try {
      const page = await store.queryOperations({ limit: 5 });
      expect(reads.sort()).toEqual(page.operations.map((record) => record.id).sort());
      expect(reads).toHaveLength(5);
    } finally {
      store.getOperation = original;
    }
  });

  it("survives the storage restarting", async () => {
    const before = await allPages({ limit: 50 });
    await azurite.stop();
    azurite = await startAzurite(location);
    store = new OperationStore(azurite.connectionString);
    expect(await allPages({ limit: 50 })).toEqual(before);
  }, 60_000);
});
