export type * from "../generated/prisma/client";
export { Prisma } from "../generated/prisma/client";
export { type Db, disconnectAll, getDb } from "./client";
export { appRoleOf, appRoleProblems, EMBEDDED_APP_ROLE, grantAppRole, warnAboutAppRole } from "./roles";
export { databaseUnavailable } from "./unavailable";
