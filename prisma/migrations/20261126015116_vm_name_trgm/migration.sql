-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateIndex
CREATE INDEX "vm_name_trgm" ON "vm" USING GIN ("name" gin_trgm_ops);
