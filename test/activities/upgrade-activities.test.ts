/**
 * The upgrade's own activities against the sandbox, through the SDK clients: the share snapshot
 * run twice, and run again after Azure took it but its answer was lost, leaves one snapshot for
 * the operation and gives the same id every time; the reads write nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createUpgradeActivities, snapshotsToPrune, STATE_SNAPSHOTS_KEPT } from "../../activities/upgrade";
import { SNAPSHOT_OPERATION_KEY } from "../../src/contract/upgrade";
import { useSandbox } from "../fixtures/sandbox";

const RG = "rg-upgrade-activities";
const azure = useSandbox();
const share = { resourceGroup: RG, accountName: "stupgradeact1", shareName: "openclaw-state" };
const activities = () => createUpgradeActivities(azure.deps);

beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
  await azure.clients.storage.storageAccounts.create(RG, share.accountName, {
    location: "westeurope",
    sku: { name: "Standard_LRS" },
    kind: "StorageV2",
  });
  await azure.clients.storage.fileShares.create(RG, share.accountName, share.shareName, { shareQuota: 100 });
});

/** The operation's snapshots as Storage lists them (by their metadata). */
async function snapshotsOf(operationId: string): Promise<number> {
  let count = 0;
  for await (const item of azure.clients.storage.fileShares.list(RG, share.accountName, { expand: "snapshots" }))
    if (item.snapshotTime && item.metadata?.[SNAPSHOT_OPERATION_KEY] === operationId) count++;
  return count;
}

describe("snapshotStateShare", () => {
  it("takes one snapshot per operation: a second run finds it", async () => {
    const first = await activities().snapshotStateShare({ ...share, operationId: "op-twice" });
    const second = await activities().snapshotStateShare({ ...share, operationId: "op-twice" });
    expect(first.created).toBe(true);
    expect(second).toEqual({ snapshotTime: first.snapshotTime, created: false });
    expect(await snapshotsOf("op-twice")).toBe(1);
    // Another operation gets its own.
    const other = await activities().snapshotStateShare({ ...share, operationId: "op-other" });
    expect(other.snapshotTime).not.toBe(first.snapshotTime);
  });

  it("after a snapshot whose answer was lost, the next run finds that snapshot instead of taking another", async () => {
    azure.sandbox.setFaults({ loseResponseOfWrite: 1 });
    let firstAnswer: string | undefined;
    try {
      firstAnswer = (await activities().snapshotStateShare({ ...share, operationId: "op-lost" })).snapshotTime;
    } catch {
      // The answer was lost and not retried: the activity fails, the orchestration delivers it again.
    } finally {
      azure.sandbox.setFaults({ loseResponseOfWrite: 0 });
    }
    const again = await activities().snapshotStateShare({ ...share, operationId: "op-lost" });
    const third = await activities().snapshotStateShare({ ...share, operationId: "op-lost" });
    expect(again.created).toBe(false);
    expect(third.snapshotTime).toBe(again.snapshotTime);
    if (firstAnswer !== undefined) expect(again.snapshotTime).toBe(firstAnswer);
    // The SDK's pipeline sends the PUT again after the dropped connection (a second snapshot with
    // the same metadata, at most one more per lost answer); every run names the newest of them.
    expect(await snapshotsOf("op-lost")).toBeGreaterThanOrEqual(1);
  });
});

describe("snapshotStateShare keeps Shire's newest snapshots", () => {
  const pruned = { ...share, shareName: "openclaw-prune" };
  /** The share's snapshots: Shire's by operation id, and how many are someone else's. */
  async function snapshotsOfShare(): Promise<{ shire: string[]; foreign: number }> {
    const shire: { operationId: string; time: string }[] = [];
    let foreign = 0;
    for await (const item of azure.clients.storage.fileShares.list(RG, share.accountName, { expand: "snapshots" })) {
      if (item.name !== pruned.shareName || !item.snapshotTime) continue;
      const operationId = item.metadata?.[SNAPSHOT_OPERATION_KEY];
      if (operationId) shire.push({ operationId, time: item.snapshotTime.toISOString() });
      else foreign++;
    }
    return { shire: shire.sort((a, b) => a.time.localeCompare(b.time)).map((s) => s.operationId), foreign };
  }

  it("deletes all but the newest nine before taking one, and never a snapshot it did not take", async () => {
    await azure.clients.storage.fileShares.create(RG, share.accountName, pruned.shareName, { shareQuota: 100 });
    // An operator's own snapshot, taken first (the oldest of all).
    await azure.clients.storage.fileShares.create(
      RG,
      share.accountName,
      pruned.shareName,
      { metadata: { by: "operator" } },
      { expand: "snapshots" },
    );
    for (let i = 1; i <= STATE_SNAPSHOTS_KEPT + 2; i++)
      await activities().snapshotStateShare({ ...pruned, operationId: `op-${i}` });
    const after = await snapshotsOfShare();
    expect(after.foreign).toBe(1);
    expect(after.shire).toEqual(Array.from({ length: STATE_SNAPSHOTS_KEPT }, (_, i) => `op-${i + 3}`));

    // A delete whose answer was lost: the next delivery finds it gone and carries on.
    azure.sandbox.setFaults({ loseResponseOfWrite: 1 });
    try {
      await activities().snapshotStateShare({ ...pruned, operationId: "op-lost-delete" });
    } catch {
      // The activity fails; the orchestration delivers it again.
    } finally {
      azure.sandbox.setFaults({ loseResponseOfWrite: 0 });
    }
    await activities().snapshotStateShare({ ...pruned, operationId: "op-lost-delete" });
    const final = await snapshotsOfShare();
    expect(final.foreign).toBe(1);
    expect(final.shire).toHaveLength(STATE_SNAPSHOTS_KEPT);
    expect(final.shire.at(-1)).toBe("op-lost-delete");
    expect(final.shire[0]).toBe("op-4");
  });

  it("picks the oldest by snapshot time", () => {
    const times = Array.from({ length: 12 }, (_, i) => ({
      snapshotTime: `2026-12-05T04:${String(10 + i)}:00.0000000Z`,
    }));
    expect(snapshotsToPrune([...times].reverse())).toEqual([times[2], times[1], times[0]]);
    expect(snapshotsToPrune(times.slice(0, STATE_SNAPSHOTS_KEPT - 1))).toEqual([]);
  });
});

describe("getAppRevision and checkRevisionHealth", () => {
  it("read only: a missing app is reported, twice the same, with no write", async () => {
    const mark = azure.mark();
    const app = { resourceGroup: RG, name: "openclaw" };
    expect(await activities().getAppRevision(app)).toEqual({ exists: false, healthy: false });
    expect(await activities().getAppRevision(app)).toEqual({ exists: false, healthy: false });
    expect(await activities().checkRevisionHealth({ ...app, image: "x:1" })).toMatchObject({ phase: "failed" });
    expect(azure.writesSince(mark)).toEqual([]);
  });
});
