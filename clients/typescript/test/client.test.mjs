// The TypeScript client against a real `qmdr serve` on 127.0.0.1, and its types against the server's OpenAPI document.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { QmdrClient, QmdrError } from "../dist/index.js";
import { differences } from "./schema-check.mjs";
import { startServer } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const TYPES = readFileSync(join(here, "..", "src", "types.ts"), "utf8");
/** interfaces the client sends: their optional fields must be exactly the schema's defaulted ones */
const REQUESTS = new Set(["MemorySearchRequest", "ContextRequest", "NoteWrite", "FeedbackRequest", "VaultCreate",
  "TokenCreate"]);

let server;
let memory;

before(async () => {
  server = await startServer();
  memory = new QmdrClient({ baseUrl: server.baseUrl, token: server.token });
});

after(async () => {
  await server?.stop();
});

describe("types", () => {
  test("every interface matches the OpenAPI schema of the same name", async () => {
    const response = await fetch(`${server.baseUrl}/openapi.json`, { headers: { authorization: `Bearer ${server.token}` } });
    assert.equal(response.status, 200);
    const openapi = await response.json();
    assert.deepEqual(differences(TYPES, openapi, REQUESTS), []);
  });

  test("the check finds a renamed field, a wrong type and a wrong optionality", async () => {
    const response = await fetch(`${server.baseUrl}/openapi.json`, { headers: { authorization: `Bearer ${server.token}` } });
    const openapi = await response.json();
    const broken = TYPES.replace("  snippet: string;", "  snipet: string;")
      .replace("  prior: number;", "  prior: string;")
      .replace("export interface FeedbackRequest {\n  vault?: string;\n  path: string;", "export interface FeedbackRequest {\n  vault?: string;\n  path?: string;");
    const problems = differences(broken, openapi, REQUESTS);
    assert.ok(problems.includes("MemoryHitModel.snippet: in the schema, missing in TypeScript"), problems.join("\n"));
    assert.ok(problems.includes("MemoryHitModel.snipet: not in the schema"));
    assert.ok(problems.includes("FeedbackResponse.prior: TypeScript allows string, the schema number"));
    assert.ok(problems.includes("FeedbackRequest.path: optional in TypeScript, required in the schema"));
  });
});

describe("client against qmdr serve", () => {
  test("remember, search, get and context", async () => {
    const written = await memory.remember("decisions/retries", "# Retries\n\nUploads retry with exponential backoff and jitter.\n",
      { frontmatter: { tags: ["decision"] } });
    assert.equal(written.path, "decisions/retries.md");
    assert.equal(written.created, true);
    assert.equal(written.action, "written");
    assert.equal(written.index.added, 1);

    const found = await memory.search("exponential backoff", { mode: "keyword", vaults: ["default"] });
    assert.deepEqual(found.results.map((r) => [r.vault, r.path]), [["default", "decisions/retries.md"]]);
    assert.ok(found.results[0].relevance > 0 && found.results[0].relevance <= 100);

    const note = await memory.getNote("decisions/retries.md");
    assert.deepEqual(note.tags, ["decision"]);
    assert.match(note.chunks[0].text, /exponential backoff/);

    const block = await memory.context("how do uploads retry", { budget: 400, mode: "keyword" });
    assert.ok(block.tokens <= 400);
    assert.match(block.markdown, /exponential backoff/);
    assert.equal(block.entries[0].path, "decisions/retries.md");
  });

  test("supersedes and near duplicates", async () => {
    await memory.remember("facts/limit", "# Upload limit\n\nThe upload size limit is 10 megabytes per file.\n");
    const skipped = await memory.remember("facts/limit-again", "# Upload limit\n\nThe upload size limit is 10 megabytes per file.\n",
      { on_duplicate: "skip" });
    assert.equal(skipped.action, "skipped");
    assert.equal(skipped.similar[0].path, "facts/limit.md");
    assert.ok(skipped.similar[0].similarity > 0.9);

    const newer = await memory.remember("facts/limit-2025", "# Upload limit\n\nUploads may be up to 50 megabytes since May.\n",
      { supersedes: "facts/limit" });
    assert.equal(newer.superseded, "facts/limit.md");
    const current = await memory.search("upload size limit megabytes", { mode: "keyword" });
    assert.ok(!current.results.some((r) => r.path === "facts/limit.md"));
    const all = await memory.search("upload size limit megabytes", { mode: "keyword", include_superseded: true });
    assert.ok(all.results.some((r) => r.path === "facts/limit.md"));
  });

  test("metadata and date filters", async () => {
    await memory.remember("filters/kept", "# Heron survey\n\nThe heron survey counted nests.\n",
      { frontmatter: { status: "decided", project: ["birds", "lake"], date: "2026-03-01" } });
    await memory.remember("filters/other", "# Heron notes\n\nA heron survey idea, not decided.\n",
      { frontmatter: { status: "open", project: "birds", date: "2025-03-01" } });
    const decided = await memory.search("heron survey", { mode: "keyword", where: { status: "decided", project: ["lake"] } });
    assert.deepEqual(decided.results.map((r) => r.path), ["filters/kept.md"]);
    const older = await memory.search("heron survey", { mode: "keyword", before: "2026-01-01" });
    assert.deepEqual(older.results.map((r) => r.path), ["filters/other.md"]);
    const block = await memory.context("heron survey", { mode: "keyword", where: { status: { $in: ["open"] } } });
    assert.deepEqual([...new Set(block.entries.map((e) => e.path))], ["filters/other.md"]);
    await assert.rejects(memory.search("heron", { where: { status: { $regex: "dec" } } }),
      (err) => err instanceof QmdrError && err.status === 422 && /where\.status: unknown operator/.test(err.detail));
  });

  test("context since a date: what changed", async () => {
    const before = new Date(Date.now() - 2_000);
    await memory.remember("run/log", "Step 1: rotated the keys.", { append: true });
    const block = await memory.context(null, { since: before, budget: 600 });
    assert.ok(block.entries.some((e) => e.path === "run/log.md" && e.kind === "changed"));
    const none = await memory.context(null, { since: "2999-01-01" });
    assert.deepEqual(none.entries, []);
  });

  test("feedback, vaults, export", async () => {
    const vote = await memory.feedback("decisions/retries.md", true, { vault: "default" });
    assert.equal(vote.useful, 1);
    assert.equal(vote.prior, 2 / 3);

    const added = await memory.addVault({ name: "shared", folder: server.shared });
    assert.equal(added.name, "shared");
    const { vaults } = await memory.vaults();
    assert.deepEqual(vaults.map((v) => v.name), ["default", "shared"]);
    assert.equal((await memory.vault("shared")).index.notes, 1);

    const zip = await memory.exportVault("shared");
    assert.deepEqual([...zip.slice(0, 2)], [0x50, 0x4b]); // "PK"
    await memory.removeVault("shared");
    assert.deepEqual((await memory.vaults()).vaults.map((v) => v.name), ["default"]);
  });

  test("import a Claude export", async () => {
    const exported = JSON.stringify([{
      uuid: "5d1e2f3a-0000-4000-8000-000000000001", name: "Kestrel survey", created_at: "2024-06-10T09:15:00Z",
      chat_messages: [{ uuid: "m1", sender: "human", text: "How many kestrels nest on the tower?", content: [] },
        { uuid: "m2", sender: "assistant", text: "Two pairs nest on the north face.", content: [] }],
    }]);
    const done = await memory.importExport("claude", exported);
    assert.deepEqual(done.written, ["conversations/claude/2024-06-10-kestrel-survey-5d1e2f3a0000.md"]);
    assert.equal(done.index.added, 1);
    const again = await memory.importExport("claude", exported);
    assert.deepEqual(again.unchanged, done.written);
    const found = await memory.search("kestrels nest north face", { mode: "keyword" });
    assert.equal(found.results[0].path, done.written[0]);
    await assert.rejects(memory.importExport("claude", exported.slice(0, -5)),
      (err) => err instanceof QmdrError && err.status === 422);
  });

  test("scoped tokens: created once, enforced, listed and revoked", async () => {
    const created = await memory.createToken("ts-agent", { default: "r" });
    assert.equal(typeof created.token, "string");
    assert.deepEqual(created.vaults, { default: "r" });
    const agent = new QmdrClient({ baseUrl: server.baseUrl, token: created.token });
    const found = await agent.search("exponential backoff", { mode: "keyword", vaults: ["default"] });
    assert.ok(found.results.length > 0);
    await assert.rejects(agent.remember("agents/ts/x", "not allowed"), (err) => err instanceof QmdrError && err.status === 403);
    await assert.rejects(agent.tokens(), (err) => err instanceof QmdrError && err.status === 403);
    const listed = await memory.tokens();
    assert.deepEqual(listed.tokens.map((t) => t.name), ["ts-agent"]);
    assert.ok(!JSON.stringify(listed).includes(created.token));
    await memory.revokeToken("ts-agent");
    await assert.rejects(agent.vaults(), (err) => err instanceof QmdrError && err.status === 401);
  });

  test("errors carry status, type and detail", async () => {
    await assert.rejects(memory.getNote("nope.md"), (err) => err instanceof QmdrError && err.status === 404);
    await assert.rejects(memory.search("x", { vaults: ["nobody"] }), (err) => err instanceof QmdrError && err.status === 404
      && /nobody/.test(err.detail));
    const stranger = new QmdrClient({ baseUrl: server.baseUrl, token: "wrong-token" });
    await assert.rejects(stranger.vaults(), (err) => err instanceof QmdrError && err.status === 401);
  });
});
