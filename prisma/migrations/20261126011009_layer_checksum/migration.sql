-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- AlterTable
ALTER TABLE "layer" ADD COLUMN     "imageioChecksum" TEXT;
