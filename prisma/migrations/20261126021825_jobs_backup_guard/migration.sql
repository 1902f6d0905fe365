-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateIndex
CREATE INDEX "job_createdAt_id_idx" ON "job"("createdAt" DESC, "id");

-- CreateIndex
CREATE INDEX "leftover_jobId_idx" ON "leftover"("jobId");

-- At most one queued or running backup per VM, whatever the number of API instances and workers (Prisma's schema
-- language has no partial indexes, so it lives here only).
CREATE UNIQUE INDEX "job_one_active_backup_per_vm" ON "job"("vmId") WHERE "type" = 'backup.vm' AND "state" IN ('queued', 'running');
