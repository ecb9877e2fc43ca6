/** Operation and slug records on real blob storage (Azurite): ids, ETag-guarded create and update. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type AzuriteHandle } from "../../src/runtime/azurite";
import {
  newOperationId,
  OperationStore,
  slugOfOperation,
  type OperationRecord,
  type SlugRecord,
} from "../../src/operations/records";
import { recordOperationResult } from "../../src/operations/result";

let azurite: AzuriteHandle;
let location: string;
let store: OperationStore;

beforeAll(async () => {
  location = fs.mkdtempSync(path.join(os.tmpdir(), "shire-records-"));
  azurite = await startAzurite(location);
  store = new OperationStore(azurite.connectionString);
});

afterAll(async () => {
  await azurite?.stop();
  fs.rmSync(location, { recursive: true, force: true });
});

const record = (id: string, slug: string, createdAt: string): OperationRecord => ({
  id,
  slug,
  kind: "install",
  actor: "alice",
  status: "running",
  message: "Install started.",
  createdAt,
  updatedAt: createdAt,
  request: { slug },
  steps: [{ id: "resourceGroup", title: "Resource group claw-x", kind: "resourceGroup", status: "pending" }],
  instanceId: `slug-${slug}`,
});

describe("operation ids", () => {
  it("name their slug and nothing else parses as one", () => {
    const id = newOperationId("my-slug", new Date("2026-11-25T10:15:00.123Z"), "a1b2c3d4");
    expect(id).toBe("my-slug.20261125T101500Z.a1b2c3d4");
    expect(slugOfOperation(id)).toBe("my-slug");
    for (const bad of ["op-unknown", "my-slug", "My-Slug.20261125T101500Z.a1", "my-slug.20261125T101500Z.a1/../x", ""])
      expect(slugOfOperation(bad), bad).toBeUndefined();
  });
});

describe("OperationStore on Azurite", () => {
  it("creates a record once (If-None-Match: *) and lists by slug, newest first", async () => {
    const first = record("rec-a.20261125T100000Z.01", "rec-a", "2026-11-25T10:00:00.000Z");
    const second = record("rec-a.20261125T110000Z.02", "rec-a", "2026-11-25T11:00:00.000Z");
    const other = record("rec-ab.20261125T120000Z.03", "rec-ab", "2026-11-25T12:00:00.000Z");
    expect(await store.createOperation(first)).toBe(true);
    expect(await store.createOperation({ ...first, actor: "mallory" })).toBe(false);
    expect((await store.getOperation(first.id))?.actor).toBe("alice");
    await store.createOperation(second);
    await store.createOperation(other);
    expect((await store.listOperations("rec-a")).map((r) => r.id)).toEqual([second.id, first.id]);
    expect(await store.getOperation("rec-a.20261125T100000Z.ff")).toBeUndefined();
    expect(await store.getOperation("not an id")).toBeUndefined();
  });

  it("applies concurrent updates one after another (If-Match), losing none", async () => {
    const bump = () =>
      store.updateSlug("counter", (current) => ({
        slug: "counter",
        state: "installing",
        version: String(Number(current?.version ?? "0") + 1),
        region: "westeurope",
        resourceGroup: "claw-counter",
        lastOperationId: "x",
        updatedAt: "2026-11-25T10:00:00.000Z",
      }));
    await Promise.all(Array.from({ length: 6 }, bump));
    expect((await store.getSlug("counter"))?.version).toBe("6");
  });

  it("recordOperationResult writes the final record (keeping titles and actor) and the slug record, idempotently", async () => {
    const id = "rec-done.20261125T100000Z.0a";
    await store.createOperation(record(id, "rec-done", "2026-11-25T10:00:00.000Z"));
    const input = {
      operationId: id,
      slug: "rec-done",
      kind: "install" as const,
      actor: "alice",
      request: { slug: "rec-done" },
      status: "succeeded" as const,
      message: "Installed rec-done: 1 steps done.",
      steps: [
        {
          id: "resourceGroup",
          status: "done" as const,
          action: "created",
          startedAt: "2026-11-25T10:00:01.000Z",
          finishedAt: "2026-11-25T10:00:02.000Z",
          durationMs: 1000,
          resourceId: "/subscriptions/s/resourceGroups/claw-rec-done",
        },
      ],
      finishedAt: "2026-11-25T10:00:03.000Z",
      image: "ghcr.io/openclaw/openclaw:2026.9.6",
      region: "westeurope",
      resourceGroup: "claw-rec-done",
      fqdn: "openclaw.example.azurecontainerapps.io",
      applied: {
        resourceGroup: {
          kind: "resourceGroup",
          dependsOn: [],
          desired: { name: "claw-rec-done", location: "westeurope", tags: {} },
          outputs: { name: "claw-rec-done" },
          resourceId: "/subscriptions/s/resourceGroups/claw-rec-done",
        },
      },
    };
    await recordOperationResult(store, input);
    await recordOperationResult(store, input); // at-least-once delivery
    const stored = await store.getOperation(id);
    expect(stored).toMatchObject({ status: "succeeded", actor: "alice", updatedAt: "2026-11-25T10:00:03.000Z" });
    expect(stored?.steps).toEqual([
      {
        id: "resourceGroup",
        title: "Resource group claw-x",
        kind: "resourceGroup",
        status: "done",
        action: "created",
        startedAt: "2026-11-25T10:00:01.000Z",
        finishedAt: "2026-11-25T10:00:02.000Z",
        durationMs: 1000,
        resourceId: "/subscriptions/s/resourceGroups/claw-rec-done",
      },
    ]);
    const slug: SlugRecord | undefined = await store.getSlug("rec-done");
    expect(slug).toEqual({
      slug: "rec-done",
      state: "installed",
      version: "ghcr.io/openclaw/openclaw:2026.9.6",
      region: "westeurope",
      resourceGroup: "claw-rec-done",
      lastOperationId: id,
      updatedAt: "2026-11-25T10:00:03.000Z",
      url: "https://openclaw.example.azurecontainerapps.io",
      // What the footprint is made of, by plan node, with the kind the starter recorded.
      resources: [
        { node: "resourceGroup", kind: "resourceGroup", id: "/subscriptions/s/resourceGroups/claw-rec-done" },
      ],
    });
    // What it applied is kept for the next operation (prune, teardown), with the operation that did it.
    expect((await store.getApplied("rec-done"))?.nodes.resourceGroup).toMatchObject({
      kind: "resourceGroup",
      desired: { name: "claw-rec-done" },
      operationId: id,
    });

    // An operation that removed it: the slug record lists only what exists.
    const pruneId = "rec-done.20261125T110000Z.0b";
    await store.createOperation(record(pruneId, "rec-done", "2026-11-25T11:00:00.000Z"));
    await recordOperationResult(store, {
      ...input,
      operationId: pruneId,
      applied: {},
      removed: ["resourceGroup"],
      finishedAt: "2026-11-25T11:00:03.000Z",
    });
    expect((await store.getSlug("rec-done"))?.resources).toEqual([]);
    expect((await store.getApplied("rec-done"))?.nodes).toEqual({});
  });
});
