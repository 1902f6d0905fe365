-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- AlterTable
ALTER TABLE "approval_request" ADD COLUMN     "executedAt" TIMESTAMP(3),
ADD COLUMN     "executionError" TEXT,
ADD COLUMN     "result" JSONB;

-- AlterTable
ALTER TABLE "audit_event" ADD COLUMN     "searchText" TEXT NOT NULL DEFAULT '';

-- CreateIndex
CREATE INDEX "approval_request_requestedById_createdAt_idx" ON "approval_request"("requestedById", "createdAt");

-- CreateIndex
CREATE INDEX "audit_event_at_id_idx" ON "audit_event"("at", "id");

-- CreateIndex
CREATE INDEX "audit_event_search_trgm" ON "audit_event" USING GIN ("searchText" gin_trgm_ops);
