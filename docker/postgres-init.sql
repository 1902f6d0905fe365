-- Runs once, when the postgres container creates its cluster. The app connects as lifeboat_app (neither
-- superuser nor owner of the tables, so it cannot switch the audit log's append-only triggers off); the
-- migrations run as the image's superuser `lifeboat` and grant lifeboat_app what it needs.
CREATE ROLE lifeboat_app LOGIN PASSWORD 'lifeboat_app';
