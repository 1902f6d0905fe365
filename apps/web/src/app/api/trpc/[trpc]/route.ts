import { trpcResponse } from "@/server/app";

export const dynamic = "force-dynamic";

const handler = (req: Request) => trpcResponse(req);

export { handler as GET, handler as POST };
