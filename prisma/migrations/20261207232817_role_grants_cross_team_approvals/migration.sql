-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- AlterTable
ALTER TABLE "approval_request" ADD COLUMN     "otherTeamIds" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "membership" ADD COLUMN     "roleGrantedAt" TIMESTAMP(3),
ADD COLUMN     "roleGrantedById" TEXT;

-- AlterTable
ALTER TABLE "user" ADD COLUMN     "roleGrantedAt" TIMESTAMP(3),
ADD COLUMN     "roleGrantedById" TEXT;

-- AddForeignKey
ALTER TABLE "user" ADD CONSTRAINT "user_roleGrantedById_fkey" FOREIGN KEY ("roleGrantedById") REFERENCES "user"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "membership" ADD CONSTRAINT "membership_roleGrantedById_fkey" FOREIGN KEY ("roleGrantedById") REFERENCES "user"("id") ON DELETE SET NULL ON UPDATE CASCADE;
