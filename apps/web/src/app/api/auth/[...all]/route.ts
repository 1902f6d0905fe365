import { toNextJsHandler } from "better-auth/next-js";
import { serverAuth } from "@/server/app";

export const dynamic = "force-dynamic";

// Created on first request: the build must not need a database or secrets.
const handler = (req: Request) => toNextJsHandler(serverAuth())[req.method === "GET" ? "GET" : "POST"](req);

export { handler as GET, handler as POST };
