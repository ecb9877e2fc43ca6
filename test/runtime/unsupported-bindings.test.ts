/** An app declaring bindings the local host does not implement is refused at start-up, not served with them dropped. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FunctionsHost } from "../../src/runtime/host";

describe("unsupported bindings", () => {
  it("refuses to start and names each binding", async () => {
    const host = new FunctionsHost({
      appRoot: path.resolve(__dirname, "../fixtures/unsupported-app"),
      port: 0,
      stateDir: fs.mkdtempSync(path.join(os.tmpdir(), "shire-unsupported-")),
      storageConnectionString:
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=eA==;QueueEndpoint=http://127.0.0.1:1/devstoreaccount1",
      log: () => {},
    });
    const started = host.start();
    await expect(started).rejects.toThrow(/toCosmos: out binding '\w+' of type 'cosmosDB' is not implemented/);
    await expect(started).rejects.toThrow(/onBlob: trigger type 'blobTrigger' is not implemented/);
  });
});
