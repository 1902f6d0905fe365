import { authResponse } from "@/server/app";

export const dynamic = "force-dynamic";

// Created on first request: the build must not need a database or secrets.
const handler = (req: Request) => authResponse(req);

export { handler as GET, handler as POST };
