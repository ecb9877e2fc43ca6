/**
 * The sandbox's request log: one JSON line per request `{time, method, url, status, body}`, with
 * secret values redacted both by key name and by value (every secret the sandbox issued or stored).
 */
import fs from "node:fs";

const SECRET_KEYS = new Set(
  ["value", "secrettext", "password", "key", "key1", "key2", "primarykey", "secondarykey", "primarysharedkey", "secondarysharedkey", "accountkey", "sharedkey", "clientsecret", "connectionstring", "token", "apppassword", "bottoken"].map((key) => key.toLowerCase()),
);

export const REDACTED = "[redacted]";

export class SecretRegistry {
  private readonly values = new Set<string>();
  remember(value: string | undefined): void {
    if (value && value.length >= 8) this.values.add(value);
  }
  /** Every secret value seen so far (tests scan stored state for them). */
  all(): string[] {
    return [...this.values];
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
      out[key] = SECRET_KEYS.has(key.toLowerCase()) && (typeof value === "string" || typeof value === "number") ? REDACTED : redactBody(value, secrets);
    }
    return out;
  }
  if (typeof body === "string") return secrets.redact(body);
  return body;
}

export class RequestLog {
  constructor(
    private readonly file: string | undefined,
    private readonly secrets: SecretRegistry,
  ) {}

  readonly recent: { time: string; method: string; url: string; status: number }[] = [];

  write(entry: { method: string; url: string; status: number; body: unknown }): void {
    const line = { time: new Date().toISOString(), method: entry.method, url: this.secrets.redact(entry.url), status: entry.status, body: redactBody(entry.body, this.secrets) };
    this.recent.push({ time: line.time, method: line.method, url: line.url, status: line.status });
    if (this.recent.length > 1000) this.recent.shift();
    if (this.file) fs.appendFileSync(this.file, `${this.secrets.redact(JSON.stringify(line))}\n`);
  }
}
