-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateIndex
CREATE INDEX "restore_point_vmName_createdAt_id_idx" ON "restore_point"("vmName", "createdAt" DESC, "id");

-- CreateIndex
CREATE INDEX "restore_point_logicalBytes_id_idx" ON "restore_point"("logicalBytes" DESC, "id");

-- CreateIndex
CREATE INDEX "restore_point_verifyState_createdAt_idx" ON "restore_point"("verifyState", "createdAt" DESC);

-- The catalog search filters on "searchText" LIKE '%word%'. With the default statistics (100 samples) the planner
-- cannot tell a rare word from a common one and walks the createdAt index for both; 1000 samples let it pick
-- the trigram index for rare words (few rows to sort) and the createdAt index for common ones (an early LIMIT).
ALTER TABLE "restore_point" ALTER COLUMN "searchText" SET STATISTICS 1000;

-- Live updates (packages/api/src/services/events.ts): one NOTIFY per change on channel lifeboat_events, carrying
-- ids only — what changed and which teams may know (null: site administrators only) — never names or data, and
-- always far below PostgreSQL's 8000-byte payload limit. Notifications are delivered at commit, so nobody hears
-- of a restore point before its transaction commits.

CREATE FUNCTION lifeboat_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Heartbeats without news (same state, phase and bytes) stay silent.
  IF TG_OP = 'UPDATE' AND NEW.state IS NOT DISTINCT FROM OLD.state AND NEW.phase IS NOT DISTINCT FROM OLD.phase
     AND NEW."bytesDone" = OLD."bytesDone" AND NEW."bytesTotal" = OLD."bytesTotal"
     AND NEW."cancelRequested" = OLD."cancelRequested"
     AND NEW."restorePointId" IS NOT DISTINCT FROM OLD."restorePointId" THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('lifeboat_events', json_build_object(
    'k', 'job', 'id', NEW.id, 'vm', NEW."vmId", 's', NEW.state,
    't', CASE WHEN NEW."teamId" IS NULL THEN NULL ELSE json_build_array(NEW."teamId") END)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER job_live_event AFTER INSERT OR UPDATE ON "job"
  FOR EACH ROW EXECUTE FUNCTION lifeboat_notify_job();

CREATE FUNCTION lifeboat_notify_restore_point() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
  teams json;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_OP = 'UPDATE' AND NEW.state = OLD.state AND NEW."verifyState" = OLD."verifyState"
     AND NEW.pinned = OLD.pinned AND NEW.description = OLD.description
     AND NEW.tags IS NOT DISTINCT FROM OLD.tags THEN
    RETURN NULL;
  END IF;
  -- The teams that own the VM; beyond 150 of them only site administrators hear of it (payload limit), and the
  -- others see the change at their next refresh.
  SELECT CASE WHEN count(*) > 150 THEN NULL ELSE coalesce(json_agg("teamId"), '[]'::json) END
    INTO teams FROM vm_team WHERE "vmId" = r."vmId";
  PERFORM pg_notify('lifeboat_events', json_build_object(
    'k', 'restorePoint', 'id', r.id, 'vm', r."vmId", 's', r.state, 't', teams)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER restore_point_live_event AFTER INSERT OR UPDATE OR DELETE ON "restore_point"
  FOR EACH ROW EXECUTE FUNCTION lifeboat_notify_restore_point();

CREATE FUNCTION lifeboat_notify_leftover() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  team text;
BEGIN
  SELECT "teamId" INTO team FROM job WHERE id = NEW."jobId";
  PERFORM pg_notify('lifeboat_events', json_build_object(
    'k', 'leftover', 'id', NEW.id, 't', CASE WHEN team IS NULL THEN NULL ELSE json_build_array(team) END)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER leftover_live_event AFTER INSERT OR UPDATE ON "leftover"
  FOR EACH ROW EXECUTE FUNCTION lifeboat_notify_leftover();
