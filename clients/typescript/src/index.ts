/**
 * A small typed client for the qmdr HTTP API: search, context, remember, notes, feedback and vaults.
 *
 * `fetch`-based (Node 18+, Deno, Bun, browsers), no runtime dependencies. Errors come back as
 * `QmdrError` with the server's status, error type and detail message.
 *
 * ```ts
 * const memory = new QmdrClient({ baseUrl: "http://127.0.0.1:8181", token: process.env.QMDR_API_TOKEN });
 * await memory.remember("agents/alice/today", "Decided: uploads retry with backoff.", { vault: "alice" });
 * const { results } = await memory.search("retry policy", { vaults: ["alice", "shared"] });
 * const { markdown } = await memory.context("what did we decide about retries", { budget: 800 });
 * ```
 */

import type {
  ContextRequest,
  ContextResponse,
  FeedbackRequest,
  FeedbackResponse,
  ImportResult,
  MemorySearchRequest,
  MemorySearchResponse,
  NoteModel,
  NoteWrite,
  NoteWriteResult,
  TokenCreate,
  TokenCreated,
  TokenList,
  VaultCreate,
  VaultList,
  VaultModel,
} from "./types.js";

export type * from "./types.js";

/** Milliseconds a request may take: a note write embeds the note, a context request runs several searches. */
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface ClientOptions {
  /** e.g. http://127.0.0.1:8181 (the default) */
  baseUrl?: string;
  /** the server's QMDR_API_TOKEN, sent as a bearer token */
  token?: string;
  timeoutMs?: number;
  /** a fetch implementation (default: the global one) */
  fetch?: typeof fetch;
}

/** The server answered with an error status. */
export class QmdrError extends Error {
  readonly status: number;
  readonly error: string;
  readonly detail: string;

  constructor(status: number, error: string, detail: string) {
    super(`${status} ${error}: ${detail}`);
    this.name = "QmdrError";
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

export type SearchOptions = Omit<MemorySearchRequest, "query">;
export type ContextOptions = Omit<ContextRequest, "query" | "queries" | "since"> & { since?: string | Date | null };
export type RememberOptions = Omit<NoteWrite, "path" | "content"> & { vault?: string };

const enc = encodeURIComponent;

function notePath(path: string): string {
  return path.split("/").map(enc).join("/");
}

export class QmdrClient {
  readonly baseUrl: string;
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "http://127.0.0.1:8181").replace(/\/+$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Hybrid search over one, several or all vaults; each result names its vault. */
  search(query: string, options: SearchOptions = {}): Promise<MemorySearchResponse> {
    return this.request("POST", "/vaults/search", { ...options, query } satisfies MemorySearchRequest);
  }

  /**
   * A ready-to-paste markdown block within a token budget. `since` keeps only notes changed after
   * that date; with no query it is what changed, newest first (an agent picking up another's run).
   */
  context(query: string | string[] | null, options: ContextOptions = {}): Promise<ContextResponse> {
    const { since, ...rest } = options;
    const body: ContextRequest = {
      ...rest,
      queries: query == null ? [] : Array.isArray(query) ? query : [query],
      ...(since != null ? { since: since instanceof Date ? since.toISOString() : since } : {}),
    };
    return this.request("POST", "/context", body);
  }

  /**
   * Create or update a note; it is searchable when this resolves. `similar` in the answer lists
   * stored chunks the text nearly duplicates; `onDuplicate`-style `on_duplicate` skips or merges;
   * `supersedes` marks an old note as replaced by this one.
   */
  remember(path: string, content: string | null, options: RememberOptions = {}): Promise<NoteWriteResult> {
    const { vault = "default", ...rest } = options;
    return this.request("POST", `/vaults/${enc(vault)}/notes`, { ...rest, path, content } satisfies NoteWrite);
  }

  getNote(path: string, vault = "default"): Promise<NoteModel> {
    return this.request("GET", `/vaults/${enc(vault)}/notes/${notePath(path)}`);
  }

  deleteNote(path: string, vault = "default"): Promise<NoteWriteResult> {
    return this.request("DELETE", `/vaults/${enc(vault)}/notes/${notePath(path)}`);
  }

  /** Was a result useful? Feeds the usefulness prior (used when QMDR_FEEDBACK_WEIGHT > 0). */
  feedback(path: string, useful: boolean, options: Omit<FeedbackRequest, "path" | "useful"> = {}): Promise<FeedbackResponse> {
    return this.request("POST", "/feedback", { ...options, path, useful } satisfies FeedbackRequest);
  }

  vaults(): Promise<VaultList> {
    return this.request("GET", "/vaults");
  }

  vault(name: string): Promise<VaultModel> {
    return this.request("GET", `/vaults/${enc(name)}`);
  }

  addVault(body: VaultCreate): Promise<VaultModel> {
    return this.request("POST", "/vaults", body);
  }

  async removeVault(name: string): Promise<void> {
    await this.request("DELETE", `/vaults/${enc(name)}`);
  }

  /**
   * Create an agent token scoped to vaults (`{ alice: "rw", shared: "r" }`); needs the admin token.
   * The answer's `token` is shown this once: the server keeps only its hash.
   */
  createToken(name: string, vaults: Record<string, "r" | "rw">): Promise<TokenCreated> {
    return this.request("POST", "/tokens", { name, vaults } satisfies TokenCreate);
  }

  /** Every agent token (names and scopes, never the tokens); needs the admin token. */
  tokens(): Promise<TokenList> {
    return this.request("GET", "/tokens");
  }

  /** Revoke an agent token by name; needs the admin token. */
  async revokeToken(name: string): Promise<void> {
    await this.request("DELETE", `/tokens/${enc(name)}`);
  }

  /**
   * Import a ChatGPT export (its ZIP or conversations.json) or a Claude export: one note per conversation;
   * re-importing updates the same notes. Bodies are held to the server's request limit (2 MiB).
   */
  async importExport(source: "chatgpt" | "claude", data: Uint8Array | string,
                     options: { vault?: string; folder?: string } = {}): Promise<ImportResult> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const zip = bytes[0] === 0x50 && bytes[1] === 0x4b;
    const query = options.folder ? `?folder=${enc(options.folder)}` : "";
    const response = await this.send("POST", `/vaults/${enc(options.vault ?? "default")}/import/${enc(source)}${query}`,
      bytes, zip ? "application/zip" : "application/json");
    return (await response.json()) as ImportResult;
  }

  /** The vault's notes as a ZIP of plain markdown files. */
  async exportVault(name: string): Promise<Uint8Array> {
    const response = await this.send("GET", `/vaults/${enc(name)}/export`);
    return new Uint8Array(await response.arrayBuffer());
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  private async send(method: string, path: string, body?: unknown, contentType?: string): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = contentType ?? "application/json";
    const payload: BodyInit | undefined = body === undefined ? undefined
      : body instanceof Uint8Array ? (body as unknown as BodyInit) : JSON.stringify(body);
    const response = await this.fetchImpl(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (response.status >= 400) throw await toError(response);
    return response;
  }
}

/** The server's error body: `{error, detail}` (or RFC 9457 problem details: `{title, detail}`). */
async function toError(response: Response): Promise<QmdrError> {
  const text = await response.text();
  let error = "HTTPError";
  let detail = text;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") {
      const body = parsed as Record<string, unknown>;
      const name = body.error ?? body.title;
      if (typeof name === "string") error = name;
      if (typeof body.detail === "string") detail = body.detail;
      else if (body.detail !== undefined) detail = JSON.stringify(body.detail);
    }
  } catch {
    // not JSON: keep the text
  }
  return new QmdrError(response.status, error, detail);
}
