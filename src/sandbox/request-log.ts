/**
 * The sandbox's request log: one JSON line per request `{time, method, url, status, body}`, with
 * secret values redacted both by key name and by value (every secret the sandbox issued or stored).
 * Only bodies the log can read structurally are kept: JSON and form bodies (redacted by key),
 * readable blob text; anything else is logged as its size, since a body the log cannot parse is a
 * body it cannot redact by key.
 */
import fs from "node:fs";
import { ChangeMark } from "./persistence";

const SECRET_KEYS = new Set(
  [
    "value",
    "secrettext",
    "password",
    "key",
    "key1",
    "key2",
    "primarykey",
    "secondarykey",
    "primarysharedkey",
    "secondarysharedkey",
    "accountkey",
    "sharedkey",
    "clientsecret",
    "client_secret",
    "client_assertion",
    "assertion",
    "refresh_token",
    "access_token",
    "code",
    "connectionstring",
    "token",
    "apppassword",
    "bottoken",
  ].map((key) => key.toLowerCase()),
);

export const REDACTED = "[redacted]";

export class SecretRegistry {
  private readonly values = new Set<string>();
  /** Bumped when a new value is remembered (persistence compares the values only then). */
  readonly changes = new ChangeMark();
  remember(value: string | undefined): void {
    if (value && value.length >= 8 && !this.values.has(value)) {
      this.values.add(value);
      this.changes.bump();
    }
  }
  /** Every secret value seen so far (tests scan stored state for them). */
  all(): string[] {
    return [...this.values];
  }
  /** Replace the values (at start, from the state directory). */
  load(values: Iterable<string>): void {
    this.values.clear();
    for (const value of values) this.values.add(value);
  }
  redact(text: string): string {
    let result = text;
    for (const value of this.values) if (result.includes(value)) result = result.split(value).join(REDACTED);
    return result;
  }
}

export function redactBody(body: unknown, secrets: SecretRegistry): unknown {
  if (Array.isArray(body)) return body.map((item) => redactBody(item, secrets));
  if (body && typeof body === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      out[key] =
        SECRET_KEYS.has(key.toLowerCase()) && (typeof value === "string" || typeof value === "number")
          ? REDACTED
          : redactBody(value, secrets);
    }
    return out;
  }
  if (typeof body === "string") return secrets.redact(body);
  return body;
}

/** A form-urlencoded body as an object (first value per key), so it is redacted by key. */
export function parseForm(raw: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(raw.toString("utf8"))) if (!(key in out)) out[key] = value;
  return out;
}

/**
 * What the log records of a request body: the parsed JSON or form, text the blob service received
 * (XML properties, uploaded pages) when it is text, else `[N bytes]`.
 */
export function loggableBody(
  raw: Buffer,
  contentType: string,
  parsed: { json?: unknown; form?: Record<string, string> },
  blobText: boolean,
): unknown {
  if (raw.length === 0) return undefined;
  if (parsed.json !== undefined) return parsed.json;
  if (parsed.form !== undefined) return parsed.form;
  if (blobText && /^(text\/|application\/(xml|json))/i.test(contentType) && !raw.includes(0))
    return raw.toString("utf8");
  return `[${raw.length} bytes]`;
}

export class RequestLog {
  constructor(
    private readonly file: string | undefined,
    private readonly secrets: SecretRegistry,
  ) {}

  /** The last 1000 requests. */
  readonly recent: { time: string; method: string; url: string; status: number }[] = [];
  /** Every request logged since the start (what `since` counts from). */
  total = 0;

  /** The requests after the `mark`-th (a `total` read earlier); throws when some have left `recent`. */
  since(mark: number): { time: string; method: string; url: string; status: number }[] {
    const count = this.total - mark;
    if (count > this.recent.length)
      throw new Error(`${count} requests since the mark: only the last ${this.recent.length} are kept.`);
    return count <= 0 ? [] : this.recent.slice(this.recent.length - count);
  }

  /** `status` is the status answered; 0 only for a connection cut without an answer. */
  write(entry: { method: string; url: string; status: number; body: unknown }): void {
    const line = {
      time: new Date().toISOString(),
      method: entry.method,
      url: this.secrets.redact(entry.url),
      status: entry.status,
      body: redactBody(entry.body, this.secrets),
    };
    this.recent.push({ time: line.time, method: line.method, url: line.url, status: line.status });
    this.total++;
    if (this.recent.length > 1000) this.recent.shift();
    if (this.file) fs.appendFileSync(this.file, `${this.secrets.redact(JSON.stringify(line))}\n`);
  }
}
