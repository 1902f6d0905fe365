-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateTable
CREATE TABLE "policy" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "includeTeamVms" BOOLEAN NOT NULL DEFAULT false,
    "schedule" TEXT NOT NULL,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "windowMinutes" INTEGER NOT NULL DEFAULT 120,
    "keepLast" INTEGER NOT NULL DEFAULT 0,
    "keepHourly" INTEGER NOT NULL DEFAULT 0,
    "keepDaily" INTEGER NOT NULL DEFAULT 7,
    "keepWeekly" INTEGER NOT NULL DEFAULT 4,
    "keepMonthly" INTEGER NOT NULL DEFAULT 6,
    "keepYearly" INTEGER NOT NULL DEFAULT 0,
    "verifySchedule" TEXT,
    "verifyMaxAgeDays" INTEGER NOT NULL DEFAULT 30,
    "keepSnapshot" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "policy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "policy_vm" (
    "policyId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,

    CONSTRAINT "policy_vm_pkey" PRIMARY KEY ("policyId","vmId")
);

-- CreateTable
CREATE TABLE "policy_run" (
    "id" TEXT NOT NULL,
    "policyId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "scheduledFor" TIMESTAMP(3) NOT NULL,
    "state" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3),
    "details" JSONB,

    CONSTRAINT "policy_run_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "policy_teamId_name_key" ON "policy"("teamId", "name");

-- CreateIndex
CREATE INDEX "policy_run_policyId_scheduledFor_idx" ON "policy_run"("policyId", "scheduledFor" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "policy_run_policyId_kind_scheduledFor_key" ON "policy_run"("policyId", "kind", "scheduledFor");

-- AddForeignKey
ALTER TABLE "policy" ADD CONSTRAINT "policy_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "policy_vm" ADD CONSTRAINT "policy_vm_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "policy"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "policy_vm" ADD CONSTRAINT "policy_vm_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "policy_run" ADD CONSTRAINT "policy_run_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "policy"("id") ON DELETE CASCADE ON UPDATE CASCADE;
