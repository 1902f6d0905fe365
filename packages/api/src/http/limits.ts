/**
 * Calls per tRPC HTTP batch. The server answers 400 to a larger batch; the browser's batch link splits its
 * requests at the same size. Kept free of imports so the client bundle can read it.
 */
export const MAX_TRPC_BATCH = 20;
