-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- AlterTable
ALTER TABLE "engine" ADD COLUMN     "inventoryAt" TIMESTAMP(3),
ADD COLUMN     "lastCheckAt" TIMESTAMP(3),
ADD COLUMN     "lastError" TEXT;

-- AlterTable
ALTER TABLE "job" ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "bytesDone" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "bytesTotal" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "engineId" TEXT,
ADD COLUMN     "heartbeatAt" TIMESTAMP(3),
ADD COLUMN     "phase" TEXT,
ADD COLUMN     "policyId" TEXT,
ADD COLUMN     "rate" DOUBLE PRECISION,
ADD COLUMN     "restorePointId" TEXT,
ADD COLUMN     "vmId" TEXT;

-- CreateTable
CREATE TABLE "job_event" (
    "id" BIGSERIAL NOT NULL,
    "jobId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "level" TEXT NOT NULL DEFAULT 'info',
    "step" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "details" JSONB,

    CONSTRAINT "job_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "leftover" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "engineId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "objectId" TEXT NOT NULL,
    "description" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "resolvedAt" TIMESTAMP(3),
    "resolvedBy" TEXT,

    CONSTRAINT "leftover_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "vm" (
    "id" TEXT NOT NULL,
    "engineId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "status" TEXT,
    "osType" TEXT,
    "clusterName" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "diskCount" INTEGER NOT NULL DEFAULT 0,
    "memoryBytes" BIGINT,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "goneAt" TIMESTAMP(3),

    CONSTRAINT "vm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "vm_team" (
    "vmId" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,

    CONSTRAINT "vm_team_pkey" PRIMARY KEY ("vmId","teamId")
);

-- CreateTable
CREATE TABLE "restore_point" (
    "id" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "engineId" TEXT NOT NULL,
    "vmName" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "kind" TEXT NOT NULL DEFAULT 'snapshot-chain',
    "state" TEXT NOT NULL DEFAULT 'pending',
    "virtualBytes" BIGINT NOT NULL DEFAULT 0,
    "logicalBytes" BIGINT NOT NULL DEFAULT 0,
    "newStoredBytes" BIGINT NOT NULL DEFAULT 0,
    "transferredBytes" BIGINT NOT NULL DEFAULT 0,
    "ovf" TEXT NOT NULL,
    "osType" TEXT,
    "nicCount" INTEGER NOT NULL DEFAULT 0,
    "memoryMiB" INTEGER,
    "cpuCount" INTEGER,
    "clusterName" TEXT,
    "description" TEXT NOT NULL DEFAULT '',
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "pinned" BOOLEAN NOT NULL DEFAULT false,
    "verifyState" TEXT NOT NULL DEFAULT 'unverified',
    "verifiedAt" TIMESTAMP(3),
    "verifyError" TEXT,
    "snapshotKept" BOOLEAN NOT NULL DEFAULT false,
    "snapshotId" TEXT,
    "manifestId" TEXT,
    "jobId" TEXT,
    "policyId" TEXT,
    "searchText" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "restore_point_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "restore_point_disk" (
    "id" TEXT NOT NULL,
    "restorePointId" TEXT NOT NULL,
    "diskId" TEXT NOT NULL,
    "alias" TEXT NOT NULL,
    "interface" TEXT,
    "bootable" BOOLEAN NOT NULL DEFAULT false,
    "provisionedSize" BIGINT NOT NULL,
    "format" TEXT NOT NULL,
    "storageDomainId" TEXT,
    "storageDomainName" TEXT,
    "position" INTEGER NOT NULL,

    CONSTRAINT "restore_point_disk_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "layer" (
    "id" TEXT NOT NULL,
    "restorePointDiskId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "imageId" TEXT NOT NULL,
    "parentImageId" TEXT,
    "format" TEXT NOT NULL,
    "virtualSize" BIGINT NOT NULL,
    "size" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "manifestId" TEXT NOT NULL,
    "snapshotId" TEXT,
    "reused" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "layer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "repository_usage" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "storedBytes" BIGINT NOT NULL,
    "logicalBytes" BIGINT NOT NULL,
    "chunkCount" INTEGER NOT NULL,

    CONSTRAINT "repository_usage_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "job_event_jobId_id_idx" ON "job_event"("jobId", "id");

-- CreateIndex
CREATE INDEX "leftover_resolvedAt_idx" ON "leftover"("resolvedAt");

-- CreateIndex
CREATE INDEX "vm_name_idx" ON "vm"("name");

-- CreateIndex
CREATE UNIQUE INDEX "vm_engineId_vmId_key" ON "vm"("engineId", "vmId");

-- CreateIndex
CREATE INDEX "vm_team_teamId_idx" ON "vm_team"("teamId");

-- CreateIndex
CREATE INDEX "restore_point_vmId_createdAt_idx" ON "restore_point"("vmId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "restore_point_createdAt_id_idx" ON "restore_point"("createdAt" DESC, "id");

-- CreateIndex
CREATE INDEX "restore_point_state_createdAt_idx" ON "restore_point"("state", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "restore_point_engineId_createdAt_idx" ON "restore_point"("engineId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "restore_point_tags_idx" ON "restore_point" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "restore_point_search_trgm" ON "restore_point" USING GIN ("searchText" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "restore_point_disk_restorePointId_idx" ON "restore_point_disk"("restorePointId");

-- CreateIndex
CREATE INDEX "restore_point_disk_diskId_idx" ON "restore_point_disk"("diskId");

-- CreateIndex
CREATE INDEX "layer_imageId_idx" ON "layer"("imageId");

-- CreateIndex
CREATE UNIQUE INDEX "layer_restorePointDiskId_position_key" ON "layer"("restorePointDiskId", "position");

-- CreateIndex
CREATE INDEX "repository_usage_at_idx" ON "repository_usage"("at");

-- CreateIndex
CREATE INDEX "job_vmId_createdAt_idx" ON "job"("vmId", "createdAt");

-- CreateIndex
CREATE INDEX "job_policyId_createdAt_idx" ON "job"("policyId", "createdAt");

-- AddForeignKey
ALTER TABLE "job_event" ADD CONSTRAINT "job_event_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "leftover" ADD CONSTRAINT "leftover_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "vm" ADD CONSTRAINT "vm_engineId_fkey" FOREIGN KEY ("engineId") REFERENCES "engine"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "vm_team" ADD CONSTRAINT "vm_team_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "vm_team" ADD CONSTRAINT "vm_team_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "restore_point" ADD CONSTRAINT "restore_point_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "vm"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "restore_point_disk" ADD CONSTRAINT "restore_point_disk_restorePointId_fkey" FOREIGN KEY ("restorePointId") REFERENCES "restore_point"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "layer" ADD CONSTRAINT "layer_restorePointDiskId_fkey" FOREIGN KEY ("restorePointDiskId") REFERENCES "restore_point_disk"("id") ON DELETE CASCADE ON UPDATE CASCADE;
