import retry from "async-retry";
import { DEFAULT_OPENLINEAGE_ENDPOINT, type OpenLineageSettings } from "../config/openlineage.ts";
import type { RunEvent } from "./openlineage.ts";
import { SightlineError, type SightlineErrorOptions } from "../errors.ts";

/** The events could not be sent: the server refused them or did not answer (or its URL is wrong: kind config). */
export class OpenLineageExportError extends SightlineError {
  constructor(message: string, options?: SightlineErrorOptions & { kind?: "unavailable" | "config" }) {
    super(
      options?.kind ?? "unavailable",
      options?.kind === "config" ? "openlineage_config" : "openlineage_export_failed",
      message,
      options,
    );
  }
}

/** A bearer token for each request (Google access tokens expire; the source caches and refreshes them). */
export type TokenSource = () => Promise<string>;

export type TransportSettings = Pick<OpenLineageSettings, "endpoint" | "auth" | "apiKey" | "timeoutMs" | "retries"> & {
  url: string;
};

/** The URL events are POSTed to: `endpoint` (default `api/v1/lineage`, Marquez's) under the base URL. */
export function lineageEndpoint(baseUrl: string, endpoint: string = DEFAULT_OPENLINEAGE_ENDPOINT): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new OpenLineageExportError(`SIGHTLINE_OPENLINEAGE_URL: ${JSON.stringify(baseUrl)} is not a URL`, {
      kind: "config",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new OpenLineageExportError(`SIGHTLINE_OPENLINEAGE_URL: ${baseUrl} is not http(s)`, { kind: "config" });
  return `${url.href.replace(/\/+$/, "")}/${endpoint.replace(/^\/+/, "")}`;
}

/**
 * An access token from Application Default Credentials (the function's service account on Google Cloud). The
 * project, when known (Dataplex's path names it), spares the library looking it up, which may run the gcloud CLI.
 */
export function googleAccessToken(projectId?: string): TokenSource {
  let auth: Promise<{ getAccessToken(): Promise<string | null | undefined> }> | undefined;
  return async () => {
    // Loaded on first use: only a Dataplex sink needs it.
    auth ??= import("google-auth-library").then(
      ({ GoogleAuth }) =>
        new GoogleAuth({
          scopes: ["https://www.googleapis.com/auth/cloud-platform"],
          ...(projectId ? { projectId } : {}),
        }),
    );
    const token = await (await auth).getAccessToken();
    if (!token)
      throw new SightlineError("config", "credentials_missing", "Application Default Credentials gave no access token");
    return token;
  };
}

/** Statuses worth another attempt: the server may answer differently in a moment. */
const retryable = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/**
 * OpenLineage's HTTP transport: one RunEvent per POST, as JSON, with `Authorization: Bearer` (an API key or a Google
 * access token) when configured. Network errors, timeouts, 408, 429 and 5xx are retried with exponential backoff
 * (async-retry); any other refusal fails at once. Errors name the endpoint, the event and the answer.
 */
export class OpenLineageHttpTransport {
  readonly endpoint: string;
  private readonly settings: TransportSettings;
  private readonly token: TokenSource | undefined;
  private readonly minTimeoutMs: number;

  constructor(settings: TransportSettings, options: { token?: TokenSource; minTimeoutMs?: number } = {}) {
    this.endpoint = lineageEndpoint(settings.url, settings.endpoint);
    this.settings = settings;
    const apiKey = settings.apiKey;
    const project = /(?:^|\/)projects\/([^/]+)\//.exec(settings.endpoint)?.[1];
    this.token =
      options.token ??
      (settings.auth === "google" ? googleAccessToken(project) : apiKey ? async () => apiKey : undefined);
    this.minTimeoutMs = options.minTimeoutMs ?? 250;
  }

  /** Sends one event; resolves once the server accepted it (2xx), throws OpenLineageExportError otherwise. */
  async send(event: RunEvent): Promise<void> {
    const what = `${event.eventType} event of run ${event.run.runId}`;
    const body = JSON.stringify(event);
    await retry(
      async (bail) => {
        const headers: Record<string, string> = { "content-type": "application/json" };
        let res: Response;
        try {
          if (this.token) headers.authorization = `Bearer ${await this.token()}`;
          res = await fetch(this.endpoint, {
            method: "POST",
            headers,
            body,
            signal: AbortSignal.timeout(this.settings.timeoutMs),
          });
        } catch (err) {
          const reason =
            err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
          throw new OpenLineageExportError(`POST ${this.endpoint} (${what}) failed: ${reason}`, { cause: err });
        }
        const text = await res.text().catch(() => "");
        if (res.ok) return;
        const refused = new OpenLineageExportError(
          `POST ${this.endpoint} (${what}) answered ${res.status}: ${text.slice(0, 300) || res.statusText}`,
        );
        if (!retryable(res.status)) return bail(refused);
        throw refused;
      },
      { retries: this.settings.retries, minTimeout: this.minTimeoutMs, maxTimeout: 5_000, factor: 2 },
    );
  }
}
