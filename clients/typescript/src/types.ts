/**
 * Request and response shapes of the qmdr HTTP API, written to match its OpenAPI document
 * (`GET /openapi.json`). `test/openapi.test.mjs` checks every interface here against the schema of
 * the same name: same properties, same optionality, same types. A field renamed on the server
 * fails that test, not an agent at run time.
 *
 * Request interfaces mark as optional what the server defaults; response interfaces mark as
 * required what the server always sends (a defaulted field is still sent).
 */

export type SearchMode = "keyword" | "vector" | "hybrid";
export type ContextProfile = "brief" | "balanced" | "deep";
export type OnDuplicate = "write" | "skip" | "merge";

/** A frontmatter value a filter compares with: strings exactly, numbers by value, booleans. */
export type FieldValue = string | number | boolean;
/** `where` of a search or context request: every key must hold. */
export type Where = Record<string, FieldValue | FieldValue[] | { $eq: FieldValue } | { $in: FieldValue[] }>;

/** `POST /vaults/search`: one, several or all vaults. */
export interface MemorySearchRequest {
  query: string;
  mode?: SearchMode;
  k?: number;
  path_prefix?: string | null;
  tags?: string[];
  /** frontmatter fields: a value means equal to it, a list any of them ({$eq} and {$in} spell the same) */
  where?: Where | null;
  /** ISO 8601 date or date-time: only notes dated at or after it (updated, else date, else created, else mtime) */
  after?: string | null;
  /** ISO 8601 date or date-time: only notes dated before it (exclusive) */
  before?: string | null;
  rerank?: boolean | null;
  expand?: boolean;
  /** vault names; omitted, null or [] means every vault */
  vaults?: string[] | null;
  group_by_note?: boolean;
  explain?: boolean;
  /** also notes whose frontmatter has superseded_by */
  include_superseded?: boolean;
  /** leave out results whose relevance (percent) is lower; default 0 */
  min_relevance?: number;
}

export interface MemoryHitModel {
  path: string;
  title: string;
  heading_trail: string[];
  start_line: number;
  end_line: number;
  snippet: string;
  score: number;
  ranks: Record<string, number | null>;
  scores: Record<string, number>;
  tags: string[];
  vault: string;
  /** 0-100: mean over retrievers of 61 / (60 + rank) */
  relevance: number;
  chunk_hash: string;
  explain: Record<string, unknown> | null;
}

export interface MemorySearchResponse {
  query: string;
  vaults: string[];
  results: MemoryHitModel[];
  timings_ms: Record<string, number>;
  reranked: boolean;
  warnings: string[];
}

/** `POST /context`: a ready-to-paste memory block. */
export interface ContextRequest {
  query?: string | null;
  queries?: string[];
  budget?: number | null;
  profile?: ContextProfile;
  vaults?: string[] | null;
  mode?: SearchMode;
  /** ISO 8601 date or date-time: only notes changed after it (no query: what changed, newest first) */
  since?: string | null;
  include_superseded?: boolean;
  /** leave out hits whose relevance (percent) is lower; default 10 */
  min_relevance?: number;
  path_prefix?: string | null;
  tags?: string[];
  /** frontmatter fields: a value means equal to it, a list any of them ({$eq} and {$in} spell the same) */
  where?: Where | null;
  /** ISO 8601 date or date-time: only notes dated at or after it (updated, else date, else created, else mtime) */
  after?: string | null;
  /** ISO 8601 date or date-time: only notes dated before it (exclusive) */
  before?: string | null;
}

export interface ContextEntryModel {
  vault: string;
  path: string;
  title: string;
  heading: string;
  relevance: number | null;
  chunk_hash: string;
  start_line: number;
  end_line: number;
  kind: "hit" | "linked" | "changed";
  via: string | null;
}

export interface ContextResponse {
  markdown: string;
  tokens: number;
  budget: number;
  profile: string;
  entries: ContextEntryModel[];
  warnings: string[];
}

/** `POST /vaults/{vault}/notes`: create or update a note (frontmatter merged; null removes a key). */
export interface NoteWrite {
  path: string;
  content?: string | null;
  frontmatter?: Record<string, unknown>;
  append?: boolean;
  /** path of a note this one replaces: it gets superseded_by and drops out of search and context */
  supersedes?: string | null;
  /** when the text nearly duplicates stored chunks: write anyway, skip, or merge into the most similar note */
  on_duplicate?: OnDuplicate;
}

export interface IndexSummaryModel {
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  skipped: number;
  embedded: number;
  chunks: number;
  seconds: number;
}

export interface SimilarChunk {
  path: string;
  /** [start_line, end_line] of the stored chunk */
  lines: number[];
  similarity: number;
}

export interface NoteWriteResult {
  vault: string;
  path: string;
  created: boolean;
  deleted: boolean;
  index: IndexSummaryModel;
  action: "written" | "merged" | "skipped" | "deleted";
  similar: SimilarChunk[];
  superseded: string | null;
}

export interface ChunkModel {
  ordinal: number;
  heading_trail: string[];
  start_line: number;
  end_line: number;
  text: string;
}

export interface NoteModel {
  path: string;
  title: string;
  tags: string[];
  frontmatter: Record<string, unknown>;
  links: string[];
  chunks: ChunkModel[];
}

/** `POST /feedback`: was a result useful? */
export interface FeedbackRequest {
  vault?: string;
  path: string;
  useful: boolean;
  query?: string | null;
}

export interface FeedbackResponse {
  vault: string;
  path: string;
  useful: number;
  not_useful: number;
  prior: number;
}

/** `POST /vaults`: register a folder as a named vault. */
export interface VaultCreate {
  name: string;
  folder: string;
  settings?: Record<string, unknown>;
  index?: boolean;
}

export interface VaultModel {
  name: string;
  folder: string;
  settings: Record<string, unknown>;
  created_at: number;
  index: Record<string, unknown>;
}

export interface VaultList {
  vaults: VaultModel[];
}

/** `POST /vaults/{vault}/import/{source}`: what importing a chat export did. */
export interface ImportResult {
  vault: string;
  source: "chatgpt" | "claude";
  conversations: number;
  written: string[];
  unchanged: string[];
  skipped_empty: string[];
  index: IndexSummaryModel;
}

/** `POST /tokens` (admin token only): an agent token scoped to vaults, read ("r") or read-write ("rw"). */
export interface TokenCreate {
  name: string;
  vaults: Record<string, "r" | "rw">;
}

export interface TokenModel {
  name: string;
  vaults: Record<string, "r" | "rw">;
  created_at: number;
}

/** The token itself is in this answer only: the server keeps just its hash. */
export interface TokenCreated {
  name: string;
  vaults: Record<string, "r" | "rw">;
  created_at: number;
  token: string;
}

export interface TokenList {
  tokens: TokenModel[];
}
