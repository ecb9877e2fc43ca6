/**
 * The CLI's HTTP client for the broker's API: one request shape, the API's error shape turned
 * into an `ApiError`, and the caller's credentials. Against a deployed broker behind App Service
 * authentication a bearer token for the broker's Entra app (`SHIRE_TOKEN`) signs the requests in;
 * locally none is needed (the development principal).
 */
export interface ClientOptions {
  url: string;
  token?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export class ShireClient {
  constructor(private readonly options: ClientOptions) {}

  async request<T>(method: string, route: string, body?: unknown, raw?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined || raw !== undefined)
      headers["content-type"] = raw !== undefined ? "text/plain" : "application/json";
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let response: Response;
    try {
      response = await fetch(`${this.options.url.replace(/\/+$/, "")}/api/${route}`, {
        method,
        headers,
        ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new ApiError(
        0,
        "Unreachable",
        `Cannot reach the broker at ${this.options.url}: ${(error as Error).message}`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new ApiError(
        response.status,
        error?.code ?? `Http${response.status}`,
        error?.message ?? (text.slice(0, 300) || response.statusText),
        error?.details,
      );
    }
    return json as T;
  }
}
