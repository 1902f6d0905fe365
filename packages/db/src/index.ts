export type * from "../generated/prisma/client";
export { Prisma } from "../generated/prisma/client";
export { type Db, disconnectAll, getDb } from "./client";
export { databaseUnavailable } from "./unavailable";
