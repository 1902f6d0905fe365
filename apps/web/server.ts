// The web server: Next behind Lifeboat's edge (packages/api/src/http/edge.ts) — security headers, the client
// address from the TCP peer and the trusted proxies, body limits. Run it instead of `next start`: only here is
// the socket's peer known, so plain `next start` would leave client addresses unknown.
import http from "node:http";
import path from "node:path";
import { createEdgeListener, parseTrustedProxies, publicUrl } from "@lifeboat/api/edge";
import { serverEnv } from "@lifeboat/config";
import { warnAboutAppRole } from "@lifeboat/db/roles";
import next from "next";

const env = serverEnv();
if (env.DATABASE_URL) await warnAboutAppRole(env.DATABASE_URL, (line) => console.error(`[web] ${line}`));
const dev = process.argv.includes("--dev");
// Built, this file runs as dist/server.mjs; the app (with its .next build) is the folder above.
const dir =
  path.basename(import.meta.dirname) === "dist" ? path.dirname(import.meta.dirname) : import.meta.dirname;
const app = next({ dev, dir, hostname: env.HOST, port: env.PORT });
await app.prepare();
const handle = app.getRequestHandler();
const server = http.createServer(
  createEdgeListener((req, res) => handle(req, res), {
    trustedProxies: parseTrustedProxies(env.LIFEBOAT_TRUSTED_PROXIES),
    maxBodyBytes: env.LIFEBOAT_MAX_BODY_BYTES,
    publicUrl: publicUrl(env),
    dev,
  }),
);
server.listen(env.PORT, env.HOST, () => console.log(`[web] listening on http://${env.HOST}:${env.PORT}`));
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5_000).unref();
  });
