/**
 * The directory quota's claims: installs accepted at the same moment share the broker's
 * remaining Entra quota instead of each seeing all of it, and a claim stops counting once its
 * install has ended (what it created then counts as used) or after an hour.
 */
import { describe, expect, it } from "vitest";
import { DIRECTORY_CLAIM_TTL_MS, ledgerDirectoryClaims, quotaRefusal } from "../../src/api/directory-quota";
import { slugRecord as record, useRecordStore } from "../fixtures/record-store";

const records = useRecordStore("directory-claims");

describe("directory quota claims", () => {
  it("lets installs accepted at once fill the quota, and no further", async () => {
    const claims = ledgerDirectoryClaims(records.store, "principal-burst");
    // 240 of 250 used, three objects per install: three fit (249), the other four do not.
    const answers = await Promise.all(
      Array.from({ length: 7 }, (_, index) =>
        claims.reserve({ slug: `burst-${index}`, used: 240, needed: 3, limit: 250, write: true }),
      ),
    );
    expect(answers.filter((answer) => answer.fits)).toHaveLength(3);
    const refused = answers.filter((answer) => !answer.fits);
    expect(refused).toHaveLength(4);
    expect(refused.every((answer) => answer.pending === 9)).toBe(true);
    expect(Object.keys((await records.store.getDirectoryLedger("principal-burst"))!.claims)).toHaveLength(3);
    // The refusal says what is claimed.
    const response = quotaRefusal("burst-x", {
      used: 240,
      limit: 250,
      needed: 3,
      objects: ["a", "b", "c"],
      pending: 9,
      fits: false,
    });
    expect(response?.status).toBe(422);
    expect(JSON.stringify(response?.jsonBody)).toContain("installs under way have claimed 9 more");
  });

  it("counts claims in the dry run without making one, and an install needing nothing claims nothing", async () => {
    const claims = ledgerDirectoryClaims(records.store, "principal-look");
    await claims.reserve({ slug: "first", used: 0, needed: 4, limit: 10, write: true });
    expect(await claims.reserve({ slug: "look", used: 0, needed: 4, limit: 10, write: false })).toEqual({
      pending: 4,
      fits: true,
    });
    expect(await claims.reserve({ slug: "again", used: 0, needed: 0, limit: 10, write: true })).toEqual({
      pending: 4,
      fits: true,
    });
    // The slug's own claim is not counted against it (an install asked again).
    expect(await claims.reserve({ slug: "first", used: 0, needed: 4, limit: 4, write: false })).toEqual({
      pending: 0,
      fits: true,
    });
    expect(Object.keys((await records.store.getDirectoryLedger("principal-look"))!.claims)).toEqual(["first"]);
  });

  it("stops counting a claim when its install ends, or after an hour", async () => {
    let now = Date.now();
    const claims = ledgerDirectoryClaims(records.store, "principal-ends", () => now);
    const pending = async () =>
      (await claims.reserve({ slug: "probe", used: 0, needed: 1, limit: 100, write: false })).pending;
    // A slug installed before, installed again: its old record predates the claim.
    await records.store.updateSlug("again", () => record("again", "installed", now - 60_000));
    await claims.reserve({ slug: "again", used: 0, needed: 2, limit: 100, write: true });
    await claims.reserve({ slug: "fresh", used: 0, needed: 3, limit: 100, write: true });
    expect(await pending()).toBe(5);
    // Both start: their records say installing.
    now += 1_000;
    await records.store.updateSlug("again", () => record("again", "installing", now));
    await records.store.updateSlug("fresh", () => record("fresh", "installing", now));
    expect(await pending()).toBe(5);
    // One ends (failed counts as ended: what it created is in `used`).
    now += 1_000;
    await records.store.updateSlug("fresh", () => record("fresh", "failed", now));
    expect(await pending()).toBe(2);
    // The next claim written drops the ended one from the ledger.
    await claims.reserve({ slug: "later", used: 0, needed: 1, limit: 100, write: true });
    expect(Object.keys((await records.store.getDirectoryLedger("principal-ends"))!.claims).sort()).toEqual([
      "again",
      "later",
    ]);
    // An install that never ends its record stops counting after an hour.
    now += DIRECTORY_CLAIM_TTL_MS;
    expect(await pending()).toBe(0);
  });
});
