/**
 * The chaos run's client against a stand-in API: a start whose answer is lost is found in the
 * journal or named by a 409 and followed, never started twice; a 409 naming the previous operation
 * is waited out; a refusal that retrying cannot fix is thrown.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ChaosClient, StartRefused } from "../../bench/chaos/client";

type Handler = (request: http.IncomingMessage, response: http.ServerResponse, url: URL) => void;
const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function api(handler: Handler): Promise<string> {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => handler(request, response, new URL(request.url!, "http://x")));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const send = (response: http.ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
};
const busy = (id: string, kind: string) => ({
  error: { code: "OperationInProgress", message: "busy", details: { operationId: id, kind } },
});
const deadline = () => Date.now() + 10_000;

describe("ChaosClient.start", () => {
  it("follows the operation a lost start made, found in the journal, instead of posting again", async () => {
    let posts = 0;
    const url = await api((request, response, target) => {
      if (request.method === "POST") {
        posts++;
        response.socket!.destroy(); // the host died with the answer
      } else if (target.pathname === "/api/operations")
        send(response, 200, {
          operations: [
            { id: "s.new", kind: "upgrade" },
            { id: "s.old", kind: "upgrade" },
          ],
        });
      else send(response, 404, {});
    });
    const client = new ChaosClient(url);
    const known = new Set(["s.old"]);
    const duplicates: string[] = [];
    expect(await client.start("s", "upgrade", "upgrade", {}, known, deadline(), duplicates)).toBe("s.new");
    expect(posts).toBe(1);
    expect(duplicates).toEqual([]);
    expect(known.has("s.new")).toBe(true);
    expect(client.counters).toMatchObject({ lostStarts: 1, adoptedAfterLoss: 1 });
  });

  it("takes a 409 naming an operation of its kind it does not know as its own, and waits out the previous one", async () => {
    const answers = [busy("s.previous", "install"), busy("s.mine", "rotate")];
    const url = await api((request, response, target) => {
      if (request.method === "POST") send(response, 409, answers.shift());
      else if (target.pathname === "/api/operations/s.previous")
        send(response, 200, { id: "s.previous", status: "succeeded", steps: [] });
      else send(response, 404, {});
    });
    const client = new ChaosClient(url, undefined, 10);
    const id = await client.start("s", "rotate", "rotate", {}, new Set(["s.previous"]), deadline());
    expect(id).toBe("s.mine");
    expect(client.counters.busy).toBe(2);
  });

  it("reports a second operation a lost start finds, and throws a refusal retrying cannot fix", async () => {
    const url = await api((request, response, target) => {
      if (request.method === "POST") response.socket!.destroy();
      else if (target.pathname === "/api/operations")
        send(response, 200, { operations: [{ id: "s.b" }, { id: "s.a" }] });
      else send(response, 404, {});
    });
    const duplicates: string[] = [];
    expect(await new ChaosClient(url).start("s", "install", "install", {}, new Set(), deadline(), duplicates)).toBe(
      "s.a",
    );
    expect(duplicates).toEqual(["s.b"]);

    const refusing = await api((request, response) =>
      request.method === "POST"
        ? send(response, 409, { error: { code: "SlugStateConflict", message: "no" } })
        : send(response, 404, {}),
    );
    await expect(
      new ChaosClient(refusing).start("s", "upgrade", "upgrade", {}, new Set(), deadline()),
    ).rejects.toBeInstanceOf(StartRefused);
  });
});
