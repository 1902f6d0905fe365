-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- AlterTable
ALTER TABLE "policy" ADD COLUMN     "backupMode" TEXT NOT NULL DEFAULT 'auto',
ADD COLUMN     "fullEveryDays" INTEGER NOT NULL DEFAULT 30,
ADD COLUMN     "fullEveryIncrementals" INTEGER NOT NULL DEFAULT 30;


-- Keeping the temporary snapshot needs the snapshot chain: such policies keep backing up as they did.
UPDATE "policy" SET "backupMode" = 'snapshot-chain' WHERE "keepSnapshot";
