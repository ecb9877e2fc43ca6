/**
 * Upgrade waves end to end: the real app on the local host, the sandbox as Azure, a fleet of 50
 * installed slugs. A failing canary stops the wave before its first batch; slugs that never
 * become healthy are rolled back and the wave finishes within maxFailures, or stops past it;
 * pause, resume and cancel; a busy slug is tried again later; a queue message starts a wave and
 * the same message twice starts one.
 */
import { QueueServiceClient } from "@azure/storage-queue";
import { beforeAll, describe, expect, it } from "vitest";
import { getJson, install, postJson } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { until } from "../fixtures/wait";
import type { WaveRecord } from "../../src/operations/waves";
import { validateWaveRequest, waveIdFor } from "../../src/model/wave";

const shire = useInstallHost({
  env: {
    SHIRE_UPGRADE_GATE_TIMEOUT_MS: "1500",
    SHIRE_UPGRADE_GATE_POLL_MS: "150",
    SHIRE_WAVE_POLL_MS: "150",
    // The broker's own preflight must know the room beforeAll gives the sandbox's quota.
    SHIRE_DIRECTORY_OBJECT_QUOTA: "1000",
    // Fifty slugs in one region of one subscription: Container Apps' 15 raised, as Azure does on request.
    SHIRE_ENVIRONMENTS_PER_REGION: "100",
  },
});

const IMAGE = (version: string) => `ghcr.io/openclaw/openclaw:${version}`;
const FLEET = Array.from({ length: 50 }, (_, index) => `w-${String(index).padStart(2, "0")}`);

beforeAll(async () => {
  // Entra's 250 objects per principal is about 50 slugs: this fleet needs a little more room.
  shire.sandbox.setFaults({ directoryObjectQuota: 1_000, environmentsPerRegion: 100 });
  // Ten installs at a time: a fleet on the 9.6 image.
  for (let index = 0; index < FLEET.length; index += 10) {
    const installs = await Promise.all(
      FLEET.slice(index, index + 10).map((slug) => install(shire.url, slug, { image: IMAGE("2026.9.6") }, 120_000)),
    );
    for (const operation of installs) expect(operation.status, operation.message).toBe("succeeded");
  }
}, 600_000);

async function startWave(body: Record<string, unknown>): Promise<string> {
  const started = await postJson(`${shire.url}/api/waves`, body);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return String(started.body.waveId);
}

async function wave(id: string): Promise<WaveRecord> {
  const { status, body } = await getJson<WaveRecord>(`${shire.url}/api/waves/${id}`);
  expect(status).toBe(200);
  return body;
}

function finished(id: string, timeoutMs = 240_000): Promise<WaveRecord> {
  let last: WaveRecord | undefined;
  return until(
    async () => {
      last = await wave(id);
      return ["succeeded", "stopped", "canceled", "failed"].includes(last.status) ? last : undefined;
    },
    () => `wave ${id} to finish: ${last?.status} ${JSON.stringify(last?.counts)}`,
    { timeoutMs },
  );
}

const imageOf = (slug: string): string => {
  const state = shire.sandbox.inspect() as {
    arm: {
      resources: {
        id: string;
        type: string;
        properties: { template?: { containers?: { name: string; image: string }[] } };
      }[];
    };
  };
  const app = state.arm.resources.find(
    (resource) =>
      resource.type === "Microsoft.App/containerApps" && resource.id.includes(`/resourceGroups/claw-${slug}/`),
  )!;
  return app.properties.template!.containers!.find((container) => container.name === "openclaw")!.image;
};

/** Some slugs' revisions of `image` never become healthy. */
const unhealthyIn = (image: string, slugs: string[]) =>
  shire.sandbox.setFaults({ unhealthyImages: [{ image, resourceGroups: slugs.map((slug) => `claw-${slug}`) }] });
const slice = (from: number, to: number) => FLEET.slice(from, to);

describe("upgrade waves", () => {
  it("stops before its first batch when the canary fails: the canary rolled back, every other slug skipped and untouched", async () => {
    shire.sandbox.setFaults({ unhealthyImages: [IMAGE("2026.9.99")] });
    try {
      const id = await startWave({
        image: IMAGE("2026.9.99"),
        selector: { prefix: "w-" },
        canary: 1,
        batchSize: 10,
        maxFailures: 5,
      });
      const record = await finished(id);
      expect(record.status).toBe("stopped");
      expect(record.order).toHaveLength(50);
      expect(record.slugs["w-00"]).toMatchObject({ state: "rolledBack", batch: 0 });
      expect(record.slugs["w-00"].reason).toMatch(/health gate failed/);
      expect(record.counts).toEqual({ rolledBack: 1, skipped: 49 });
      expect(record.slugs["w-01"].reason).toMatch(/a canary failed/);
      expect(record.batches).toBe(1);
      for (const slug of FLEET) expect(imageOf(slug)).toBe(IMAGE("2026.9.6"));
    } finally {
      shire.sandbox.setFaults({ unhealthyImages: [] });
    }
  });

  it("stops before it starts when a named canary is not among the slugs the selector picks", async () => {
    const mark = shire.mark();
    const id = await startWave({ image: IMAGE("2026.9.7"), selector: { prefix: "w-1" }, canary: ["w-00"] });
    const record = await finished(id);
    expect(record.status).toBe("stopped");
    expect(record.message).toMatch(/canary w-00 is not among the wave's slugs/);
    expect(Object.values(record.slugs).every((slug) => slug.state === "skipped")).toBe(true);
    expect(shire.writesSince(mark)).toEqual([]);
  });

  it("rolls back the slugs that never become healthy and finishes within maxFailures", async () => {
    const bad = ["w-03", "w-07", "w-11"];
    unhealthyIn(IMAGE("2026.9.7"), bad);
    try {
      const id = await startWave({
        image: IMAGE("2026.9.7"),
        slugs: slice(0, 20),
        canary: ["w-00"],
        batchSize: 5,
        maxParallel: 3,
        maxFailures: 3,
      });
      const record = await finished(id);
      expect(record.status, record.message).toBe("succeeded");
      expect(record.counts).toEqual({ done: 17, rolledBack: 3 });
      for (const slug of bad) {
        expect(record.slugs[slug].state).toBe("rolledBack");
        expect(imageOf(slug)).toBe(IMAGE("2026.9.6"));
      }
      expect(imageOf("w-00")).toBe(IMAGE("2026.9.7"));
      expect(imageOf("w-19")).toBe(IMAGE("2026.9.7"));
      // The canaries, then four batches of five.
      expect(record.batches).toBe(5);
      expect(record.slugs["w-00"].batch).toBe(0);
    } finally {
      shire.sandbox.setFaults({ unhealthyImages: [] });
    }
  });

  it("stops once failures exceed maxFailures: what is in flight finishes, the rest is skipped", async () => {
    unhealthyIn(IMAGE("2026.9.8"), ["w-21", "w-22", "w-23"]);
    try {
      const id = await startWave({
        image: IMAGE("2026.9.8"),
        slugs: slice(20, 35),
        canary: ["w-20"],
        batchSize: 5,
        maxParallel: 5,
        maxFailures: 1,
      });
      const record = await finished(id);
      expect(record.status).toBe("stopped");
      expect(record.message).toMatch(/more than maxFailures \(1\)/);
      expect(record.counts).toEqual({ done: 3, rolledBack: 3, skipped: 9 });
      for (const slug of slice(26, 35)) {
        expect(record.slugs[slug].state).toBe("skipped");
        expect(imageOf(slug)).toBe(IMAGE("2026.9.6"));
      }
    } finally {
      shire.sandbox.setFaults({ unhealthyImages: [] });
    }
  });

  it("pauses (nothing new starts), resumes, and cancels (what has not started is skipped)", async () => {
    shire.sandbox.setFaults({ revisionStartMs: 300 });
    try {
      const id = await startWave({
        image: IMAGE("2026.9.7"),
        slugs: slice(35, 45),
        canary: 0,
        batchSize: 2,
        maxParallel: 1,
      });
      const paused = await postJson(`${shire.url}/api/waves/${id}/pause`, undefined);
      expect(paused.status).toBe(202);
      const settled = await until(
        async () => {
          const record = await wave(id);
          const live = (record as WaveRecord & { live?: { phase?: string; running?: string[] } }).live;
          return live?.phase === "paused" && live.running?.length === 0 ? record : undefined;
        },
        "the wave to pause with nothing in flight",
        { timeoutMs: 30_000 },
      );
      const startedWhilePausing = Object.values(settled.slugs).filter((slug) => slug.state !== "pending").length;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const still = await wave(id);
      expect(Object.values(still.slugs).filter((slug) => slug.state !== "pending").length).toBe(startedWhilePausing);
      expect((await postJson(`${shire.url}/api/waves/${id}/resume`, undefined)).status).toBe(202);
      const done = await finished(id);
      expect(done.status).toBe("succeeded");
      expect(done.counts).toEqual({ done: 10 });

      const other = await startWave({
        image: IMAGE("2026.9.8"),
        slugs: slice(45, 50),
        canary: 0,
        batchSize: 1,
        maxParallel: 1,
      });
      await until(
        async () => ((await wave(other)).counts.upgrading ? true : undefined),
        "a slug of the wave upgrading",
        {
          timeoutMs: 30_000,
        },
      );
      expect((await postJson(`${shire.url}/api/waves/${other}/cancel`, undefined)).status).toBe(202);
      const canceled = await finished(other);
      expect(canceled.status).toBe("canceled");
      expect(canceled.counts.skipped).toBeGreaterThanOrEqual(3);
      for (const [slug, entry] of Object.entries(canceled.slugs))
        if (entry.state === "skipped") {
          expect(entry.reason).toMatch(/canceled by the operator/);
          expect(imageOf(slug)).toBe(IMAGE("2026.9.6"));
        }
      expect((await postJson(`${shire.url}/api/waves/${other}/resume`, undefined)).status).toBe(409);
      // Only pause, resume and cancel are actions: not whatever the object prototype holds.
      for (const action of ["constructor", "toString", "hasOwnProperty"])
        expect((await postJson(`${shire.url}/api/waves/${other}/${action}`, undefined)).status, action).toBe(404);
    } finally {
      shire.sandbox.setFaults({ revisionStartMs: 0 });
    }
  });

  it("says a wave whose instance was terminated failed, instead of running for ever, and refuses to steer it", async () => {
    const id = await startWave({ image: IMAGE("2026.9.9"), slugs: slice(45, 50), canary: 0, batchSize: 1 });
    expect((await postJson(`${shire.url}/api/waves/${id}/pause`, undefined)).status).toBe(202);
    expect(shire.host.engine.terminate(id, "an operator stopped it")).toBe(true);
    const record = await until(
      async () => {
        const read = await wave(id);
        return read.status === "failed" ? read : undefined;
      },
      "the terminated wave to read failed",
      { timeoutMs: 30_000 },
    );
    expect(record.message).toMatch(/was terminated before it finished/);
    // Nothing steers it any more: resume and cancel are refused, not accepted and lost.
    for (const action of ["resume", "cancel"]) {
      const refused = await postJson(`${shire.url}/api/waves/${id}/${action}`, undefined);
      expect(refused.status, action).toBe(409);
      expect((refused.body.error as { code: string }).code).toBe("WaveFinished");
    }
  });

  it("tries a slug busy with another operation again later instead of failing it", async () => {
    shire.sandbox.setFaults({ revisionStartMs: 1_000 });
    try {
      const direct = await postJson(`${shire.url}/api/slugs/w-30/upgrade`, { image: IMAGE("2026.9.7") });
      expect(direct.status).toBe(202);
      const id = await startWave({ image: IMAGE("2026.9.5"), slugs: ["w-30", "w-31"], canary: 0 });
      await until(
        async () => ((await wave(id)).slugs["w-30"]?.reason?.startsWith("busy") ? true : undefined),
        "w-30 found busy",
        { timeoutMs: 30_000 },
      );
      const record = await finished(id);
      expect(record.status).toBe("succeeded");
      expect(record.slugs["w-30"]).toMatchObject({ state: "done", busyAttempts: 1 });
      expect(imageOf("w-30")).toBe(IMAGE("2026.9.5"));
    } finally {
      shire.sandbox.setFaults({ revisionStartMs: 0 });
    }
  });

  it("starts a wave from a queue message, and the same message twice starts one wave", async () => {
    const body = { image: IMAGE("2026.9.7"), slugs: ["w-41", "w-42"], canary: 0 };
    const validation = validateWaveRequest(body);
    if (!validation.ok) throw new Error("invalid wave");
    const id = waveIdFor(validation.request);
    const queue = QueueServiceClient.fromConnectionString(String(process.env.AzureWebJobsStorage)).getQueueClient(
      "shire-waves",
    );
    await queue.createIfNotExists();
    const message = Buffer.from(JSON.stringify(body)).toString("base64");
    await queue.sendMessage(message);
    await queue.sendMessage(message);
    const record = await until(
      async () => {
        const { status, body } = await getJson<WaveRecord>(`${shire.url}/api/waves/${id}`);
        return status === 200 ? body : undefined;
      },
      "the queued wave's record",
      { timeoutMs: 60_000 },
    );
    expect(record.source).toMatch(/^queue:shire-waves:/);
    const done = await finished(id);
    expect(done.status).toBe("succeeded");
    expect(done.counts).toEqual({ done: 2 });
    await until(
      () => (shire.logs.filter((line) => line.includes(`wave already started ${id}`)).length >= 1 ? true : undefined),
      "the second delivery to be seen as the same wave",
      { timeoutMs: 30_000 },
    );
    // One operation per slug: the second message started nothing.
    const operations = await getJson<{ operations: { kind: string; slug: string }[] }>(
      `${shire.url}/api/operations?slug=w-41`,
    );
    expect(operations.body.operations.filter((operation) => operation.kind === "upgrade")).toHaveLength(2); // 9.7 (earlier wave) and this one
    // The same body by HTTP names the same wave.
    const again = await postJson(`${shire.url}/api/waves`, body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ waveId: id, duplicate: true });
  });

  it("runs every activity twice (at-least-once delivery) and still upgrades each slug once", async () => {
    shire.host.engine.faults = { duplicateActivityDelivery: true };
    try {
      const id = await startWave({
        image: IMAGE("2026.9.5"),
        slugs: ["w-43", "w-44", "w-46"],
        canary: 1,
        batchSize: 2,
      });
      const record = await finished(id);
      expect(record.status, record.message).toBe("succeeded");
      expect(record.counts).toEqual({ done: 3 });
      for (const slug of ["w-43", "w-44", "w-46"]) {
        expect(imageOf(slug)).toBe(IMAGE("2026.9.5"));
        const { body } = await getJson<{ operations: { id: string; kind: string; request: { image?: string } }[] }>(
          `${shire.url}/api/operations?slug=${slug}`,
        );
        const mine = body.operations.filter(
          (operation) => operation.kind === "upgrade" && operation.request.image === IMAGE("2026.9.5"),
        );
        expect(
          mine.map((operation) => operation.id),
          slug,
        ).toEqual([record.slugs[slug].operationId]);
      }
    } finally {
      shire.host.engine.faults = {};
    }
  });

  it("keeps only running instances in the host's memory: the finished ones are on disk", async () => {
    await shire.host.engine.waitForIdle();
    const all = shire.host.engine.listInstances();
    expect(all.length).toBeGreaterThan(200);
    expect(shire.host.engine.residentInstances()).toBe(
      all.filter((state) => !["Completed", "Failed", "Terminated"].includes(state.runtimeStatus)).length,
    );
    expect(shire.host.engine.residentInstances()).toBeLessThan(5);
  });
});
