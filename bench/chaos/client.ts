/**
 * The chaos run's client of the HTTP API: what a careful operator's script does against a host
 * that may be killed at any moment.
 *
 * - A refused or dropped connection (the host is down, or died mid-request) is waited out: the
 *   client polls until the host answers again, on the same URL.
 * - A start whose answer was lost may or may not have started the operation. Before posting again
 *   the client looks in the journal (`GET /api/operations?slug=&kind=&since=`) for an operation of
 *   that kind it does not know yet; then it posts again, and a 409 `OperationInProgress` naming an
 *   operation of that kind it does not know is the one its lost request started: it follows that
 *   one instead of starting a second.
 * - A 409 naming an operation it already knows (the previous one still settling) is waited for,
 *   then the start is posted again.
 * - An operation is followed through `GET /api/operations/{id}` until it is no longer running.
 */

export interface OperationView {
  id: string;
  kind: string;
  status: string;
  message: string;
  createdAt?: string;
  steps: { id: string; status: string; error?: string; attempts?: number }[];
}

export interface ClientCounters {
  /** Requests that found the host down or lost their connection. */
  unreachable: number;
  /** Starts whose answer was lost (the operation may or may not have started). */
  lostStarts: number;
  /** Of those, found in the journal or named by a 409 and followed instead of started again. */
  adoptedAfterLoss: number;
  /** 409 OperationInProgress answers. */
  busy: number;
  /** 5xx answers from the host. */
  serverErrors: number;
}

export function newCounters(): ClientCounters {
  return { unreachable: 0, lostStarts: 0, adoptedAfterLoss: 0, busy: 0, serverErrors: 0 };
}

/** A start the API refused for a reason retrying cannot fix (what the run reports). */
export class StartRefused extends Error {
  override name = "StartRefused";
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface ApiErrorBody {
  error?: { code?: string; message?: string; details?: { operationId?: string; kind?: string } };
}

export class ChaosClient {
  /** Called as each start is sent (the chaos run aims some kills at starts in flight). */
  onStart?: () => void;

  constructor(
    private readonly baseUrl: string,
    readonly counters: ClientCounters = newCounters(),
    private readonly pollMs = 1_000,
  ) {}

  /** One request; undefined when the host was unreachable or dropped the connection. */
  private async send(method: string, route: string, body?: unknown): Promise<Answer | undefined> {
    try {
      const response = await fetch(`${this.baseUrl}/api/${route}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await response.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        parsed = { text };
      }
      if (response.status >= 500) this.counters.serverErrors++;
      return { status: response.status, body: parsed };
    } catch {
      this.counters.unreachable++;
      return undefined;
    }
  }

  /** Poll until the host answers (any HTTP status). */
  async untilUp(deadline: number): Promise<void> {
    while ((await this.send("GET", "slugs/health-check-probe")) === undefined) {
      if (Date.now() > deadline) throw new Error("the host did not come back before the deadline");
      await sleep(250);
    }
  }

  /** A GET that rides out a host restart. */
  async get<T>(route: string, deadline: number): Promise<{ status: number; body: T }> {
    for (;;) {
      const answer = await this.send("GET", route);
      if (answer && answer.status < 500) return answer as { status: number; body: T };
      if (Date.now() > deadline) throw new Error(`GET ${route}: no answer before the deadline`);
      await sleep(answer ? 500 : 250);
    }
  }

  /** Operations of `kind` on `slug` created since `since` that are not in `known`, oldest first. */
  private async startedSince(
    slug: string,
    kind: string,
    since: string,
    known: Set<string>,
    deadline: number,
  ): Promise<string[]> {
    const { status, body } = await this.get<{ operations?: OperationView[] }>(
      `operations?slug=${slug}&kind=${kind}&since=${encodeURIComponent(since)}`,
      deadline,
    );
    if (status !== 200) return [];
    return (body.operations ?? [])
      .filter((operation) => !known.has(operation.id))
      .map((operation) => operation.id)
      .reverse();
  }

  /**
   * Start `kind` on `slug` (`POST /api/slugs/{slug}/{route}`) exactly once however the host
   * behaves: the operation's id. `known` holds the slug's earlier operations; the new one is added.
   * `duplicates` gets any second operation a retried start found (it must stay empty).
   */
  async start(
    slug: string,
    kind: string,
    route: string,
    body: unknown,
    known: Set<string>,
    deadline: number,
    duplicates: string[] = [],
  ): Promise<string> {
    const since = new Date(Date.now() - 2_000).toISOString();
    let uncertain = false;
    const adopt = (id: string) => {
      known.add(id);
      return id;
    };
    /** The operation a lost start made, if the journal has one (any second one is a duplicate). */
    const fromJournal = async () => {
      const found = await this.startedSince(slug, kind, since, known, deadline);
      if (found.length === 0) return undefined;
      this.counters.adoptedAfterLoss++;
      duplicates.push(...found.slice(1));
      return adopt(found[0]);
    };
    for (;;) {
      if (Date.now() > deadline) throw new Error(`${kind} of ${slug}: not started before the deadline`);
      const lost = uncertain ? await fromJournal() : undefined;
      if (lost) return lost;
      this.onStart?.();
      const answer = await this.send("POST", `slugs/${slug}/${route}`, body);
      if (!answer || answer.status >= 500) {
        if (!uncertain) this.counters.lostStarts++;
        uncertain = true;
        await this.untilUp(deadline);
        continue;
      }
      if (answer.status === 202) return adopt(String(answer.body.operationId));
      const error = (answer.body as ApiErrorBody).error;
      if (answer.status === 409 && error?.code === "OperationInProgress") {
        this.counters.busy++;
        const running = error.details?.operationId;
        if (running && !known.has(running) && error.details?.kind === kind) {
          if (uncertain) this.counters.adoptedAfterLoss++;
          return adopt(running);
        }
        // The previous operation, ended in its record while its instance finishes: wait, then again.
        if (running) await this.follow(running, deadline);
        await sleep(500);
        continue;
      }
      if (answer.status === 409 && error?.code === "OperationStopping") {
        await sleep(500);
        continue;
      }
      // Refused now, perhaps because the lost start ran to its end already: the journal says.
      const ended = uncertain ? await fromJournal() : undefined;
      if (ended) return ended;
      throw new StartRefused(`${kind} of ${slug}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  }

  /** Follow an operation until it is no longer running: its record. */
  async follow(operationId: string, deadline: number): Promise<OperationView> {
    let last: OperationView | undefined;
    for (;;) {
      const { status, body } = await this.get<OperationView>(`operations/${operationId}`, deadline);
      if (status === 200) {
        last = body;
        if (body.status !== "running" && body.status !== "notStarted") return body;
      }
      if (Date.now() > deadline)
        throw new Error(
          `operation ${operationId} still ${last?.status ?? `unknown (${status})`} at the deadline: ${JSON.stringify(last?.steps?.filter((step) => step.status !== "done"))}`,
        );
      await sleep(this.pollMs);
    }
  }
}
