-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- AlterTable
ALTER TABLE "restore_point" ADD COLUMN     "backupMode" TEXT NOT NULL DEFAULT 'snapshot-chain',
ADD COLUMN     "fromCheckpointId" TEXT,
ADD COLUMN     "toCheckpointId" TEXT;

-- AlterTable
ALTER TABLE "restore_point_disk" ADD COLUMN     "backupMode" TEXT NOT NULL DEFAULT 'snapshot-chain',
ADD COLUMN     "changedBytes" BIGINT,
ADD COLUMN     "transferredBytes" BIGINT;
