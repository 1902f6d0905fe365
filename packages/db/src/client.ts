import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client";

export type Db = InstanceType<typeof PrismaClient>;

const clients = new Map<string, Db>();

/** A Prisma client for `url` (default DATABASE_URL), one per URL and process. */
export function getDb(url = process.env.DATABASE_URL): Db {
  if (!url) throw new Error("DATABASE_URL is not set: start Lifeboat with `pnpm start` or set it");
  let db = clients.get(url);
  if (!db) {
    db = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 10 }) });
    clients.set(url, db);
  }
  return db;
}

export async function disconnectAll(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.all(all.map((c) => c.$disconnect()));
}
