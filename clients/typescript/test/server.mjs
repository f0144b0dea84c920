// Start a real `qmdr serve` on 127.0.0.1 for the tests: its own data dir, vault and token.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..", "..");
/** seconds to wait for the server's /health (it loads the embedded model; CI machines can be busy) */
const START_TIMEOUT_S = 180;

function qmdrCommand() {
  if (process.env.QMDR_BIN) return process.env.QMDR_BIN;
  const local = join(repo, ".venv", "bin", "qmdr");
  return existsSync(local) ? local : "qmdr";
}

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

export async function startServer() {
  const root = mkdtempSync(join(tmpdir(), "qmdr-ts-"));
  const vault = join(root, "vault");
  const shared = join(root, "shared");
  mkdirSync(vault);
  mkdirSync(shared);
  writeFileSync(join(shared, "team.md"), "# Team\n\nThe shared vault holds decisions every agent may read.\n");
  const port = await freePort();
  const token = "ts-client-test-token-0123456789";
  const env = {
    ...process.env,
    QMDR_DATA_DIR: join(root, "data"),
    QMDR_VAULT: vault,
    QMDR_VAULT_ROOTS: JSON.stringify([root]),
    QMDR_API_TOKEN: token,
    QMD_EMBED_PROVIDER: "local",
    QMD_RERANK_PROVIDER: "",
  };
  const child = spawn(qmdrCommand(), ["serve", "--host", "127.0.0.1", "--port", String(port)], {
    env, stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr = (stderr + chunk).slice(-4000); });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_S * 1000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`qmdr serve exited (${child.exitCode}): ${stderr}`);
    try {
      const response = await fetch(`${baseUrl}/health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error(`qmdr serve did not answer /health within ${START_TIMEOUT_S} s: ${stderr}`);
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  return {
    baseUrl, token, root, vault, shared,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once("exit", ok));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((ok) => setTimeout(ok, 10_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
