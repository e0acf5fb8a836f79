-- batch-sync: the PostgreSQL schema the Batch Sync Manager workflow needs. Idempotent: running it
-- again changes nothing. Every statement the workflow runs against it uses bind parameters.

-- FLRTS tasks: the application's own table (the local side of the sync).
CREATE TABLE IF NOT EXISTS tasks (
  id           bigserial PRIMARY KEY,
  external_id  text UNIQUE,                 -- the OpenProject work package id, once linked
  title        text NOT NULL,
  description  text NOT NULL DEFAULT '',
  status       text NOT NULL DEFAULT 'New',
  due_date     date,
  assignee     text,                        -- the OpenProject user's name (one of the project's assignees)
  deleted_at   timestamptz,                 -- tombstone: a deleted task stays until synced
  updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS tasks_updated_at ON tasks (updated_at);

CREATE OR REPLACE FUNCTION tasks_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS tasks_touch ON tasks;
CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks
  FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION tasks_touch();

-- Mirror of OpenProject as last synced: the base of the next three-way comparison.
CREATE TABLE IF NOT EXISTS work_packages (
  external_id   text PRIMARY KEY,
  data          jsonb NOT NULL,             -- the record in the common shape (Compare's target.record)
  checksum      text NOT NULL,              -- its canonical SHA-256
  lock_version  integer,                    -- OpenProject lockVersion after the last write/read
  synced_at     timestamptz NOT NULL DEFAULT now()
);

-- Staging: one row per planned change (the seed story's columns plus retry bookkeeping).
CREATE TABLE IF NOT EXISTS sync_staging_work_packages (
  id               bigserial PRIMARY KEY,
  run_id           text NOT NULL,
  external_id      text NOT NULL,
  operation        text NOT NULL,           -- the base write: insert / update / delete / none
  data             jsonb,
  checksum         text,
  decision         text NOT NULL,
  local_action     text NOT NULL DEFAULT 'none',
  local_record     jsonb,
  remote_op        text,                    -- create / patch / delete, or null
  remote_body      jsonb,
  remote_lock_version integer,
  remote_version   integer,                 -- the work package's lockVersion as read
  conflict         jsonb,                   -- an open conflict the row leaves for a person
  idempotency_key  text NOT NULL,
  retry_delays_ms  jsonb,                   -- the plan's delays before each retry
  status           text NOT NULL DEFAULT 'pending',
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  seen_run_id      text,                    -- the last run that planned it again while it waited
  last_error       jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  processed_at     timestamptz,
  CONSTRAINT sync_staging_idempotency UNIQUE (idempotency_key)
);
CREATE INDEX IF NOT EXISTS sync_staging_open ON sync_staging_work_packages (status, next_attempt_at)
  WHERE status IN ('pending', 'retry');
-- The rows of a key (an older plan superseded, a page's keys, unfinished creates).
CREATE INDEX IF NOT EXISTS sync_staging_key ON sync_staging_work_packages (external_id);

-- Cursors per direction ('local' = tasks.updated_at, 'remote' = OpenProject updatedAt).
CREATE TABLE IF NOT EXISTS sync_state (
  direction   text PRIMARY KEY CHECK (direction IN ('local', 'remote')),
  cursor_at   timestamptz NOT NULL DEFAULT '-infinity',
  run_id      text,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  full_requested boolean NOT NULL DEFAULT false, -- the next run is a full sync
  running_run_id text,                           -- one run at a time: the run holding the lock
  running_since  timestamptz,                    -- and since when
  running_execution_id text,                     -- the n8n execution running it
  heartbeat_at   timestamptz                     -- its last sign of life (each batch)
);
INSERT INTO sync_state (direction) VALUES ('local'), ('remote') ON CONFLICT (direction) DO NOTHING;

-- One row per run (the seed story's fields).
CREATE TABLE IF NOT EXISTS sync_metrics (
  id                  bigserial PRIMARY KEY,
  run_id              text NOT NULL UNIQUE,
  workflow_id         text,
  execution_id        text,
  mode                text NOT NULL,
  started_at          timestamptz NOT NULL,
  finished_at         timestamptz NOT NULL DEFAULT now(),
  total_items         integer NOT NULL,
  processed_items     integer NOT NULL,
  failed_items        integer NOT NULL,
  conflicts_detected  integer NOT NULL,
  conflicts_resolved  integer NOT NULL,
  per_decision        jsonb NOT NULL DEFAULT '{}',
  duration_ms         integer NOT NULL,
  per_item_ms         numeric,
  status              text NOT NULL DEFAULT 'success', -- success / partial / failed / blocked / abandoned
  reason              text                        -- why a run was not a success
);

-- Conflicts left for a person.
CREATE TABLE IF NOT EXISTS sync_conflicts (
  id             bigserial PRIMARY KEY,
  run_id         text NOT NULL,
  external_id    text NOT NULL,
  conflict_type  text NOT NULL,
  strategy       text NOT NULL,
  conflicts      jsonb NOT NULL,            -- [{path, base, local, remote, reason, resolution}]
  local_checksum text,
  remote_checksum text,
  status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  resolved_at    timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS sync_conflicts_one_open ON sync_conflicts (external_id) WHERE status = 'open';

-- Who changed what: one row per write the sync made.
CREATE TABLE IF NOT EXISTS sync_audit (
  id               bigserial PRIMARY KEY,
  at               timestamptz NOT NULL DEFAULT now(),
  run_id           text NOT NULL,
  workflow_id      text,
  execution_id     text,
  actor            text NOT NULL DEFAULT 'batch-sync',
  external_id      text NOT NULL,
  action           text NOT NULL,           -- e.g. local.update, remote.patch, base.upsert
  before_checksum  text,
  after_checksum   text,
  detail           jsonb
);
CREATE INDEX IF NOT EXISTS sync_audit_external_id ON sync_audit (external_id, at);

-- A run and its pages. The coordinator (Batch Sync Manager) splits the run's keys into pages of
-- PAGE_SIZE keys (both sides of a key always in the same page); each page is read, compared,
-- planned, staged, processed and written by its own execution of Batch Sync Page, on a worker
-- in n8n's queue mode. The run's state lives here, not in an execution's memory.
CREATE TABLE IF NOT EXISTS sync_runs (
  run_id        text PRIMARY KEY,
  full_sync     boolean NOT NULL,
  settings      jsonb NOT NULL,
  started_at    timestamptz NOT NULL,
  local_since   timestamptz,                -- the local cursor the run reads from
  remote_max    text,                       -- the newest OpenProject updatedAt it listed
  workflow_id   text,
  execution_id  text,
  status        text NOT NULL DEFAULT 'running', -- running / success / partial / failed / abandoned
  finished_at   timestamptz
);
CREATE TABLE IF NOT EXISTS sync_run_pages (
  run_id        text NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
  page_no       integer NOT NULL,
  keys          jsonb NOT NULL,             -- the page's keys (work package ids and task-<id>)
  status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'claimed', 'done', 'failed')),
  dispatches    integer NOT NULL DEFAULT 0, -- how often it was sent to a worker
  dispatched_at timestamptz,
  claimed_by    text,                       -- the n8n execution working on it
  claimed_at    timestamptz,
  heartbeat_at  timestamptz,                -- its last sign of life (each batch)
  finished_at   timestamptz,
  summary       jsonb,                      -- Compare's counts by decision for the page
  last_error    jsonb,
  PRIMARY KEY (run_id, page_no)
);
-- A page reads its tasks by key (batch_sync_key).
CREATE INDEX IF NOT EXISTS tasks_sync_key ON tasks ((coalesce(external_id, 'task-' || id)));

-- Run kinds (DEVELOPERS' story: full_sync, incremental, delta_sync, reconciliation), asked for
-- through the run webhook or batch_sync_request_run (the CLI); who asked is kept.
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'incremental';
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS since timestamptz;          -- delta_sync: changes since
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS requested_by text;          -- the person or caller that asked
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS requested_kind text;       -- the next run's kind (the CLI's way)
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS requested_since timestamptz;
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS requested_by text;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS kind text;

-- A reconciliation run's report: every pair whose sides differ (nothing is written anywhere
-- else by such a run).
CREATE TABLE IF NOT EXISTS sync_reconciliation (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  external_id   text NOT NULL,
  decision      text NOT NULL,              -- what a sync would do: update_remote, conflict, invalid, ...
  differences   jsonb NOT NULL DEFAULT '[]',-- the JSON Pointers where the two sides differ
  detail        jsonb,                      -- conflict type, checksums, or the invalid record's error
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS sync_reconciliation_pair ON sync_reconciliation (run_id, external_id);

-- The story's hourly performance report.
CREATE OR REPLACE VIEW sync_hourly_report AS
  SELECT date_trunc('hour', started_at) AS hour,
         count(*) AS runs,
         sum(total_items) AS items,
         round(avg(duration_ms)) AS avg_duration_ms,
         round(sum(total_items)::numeric / nullif(sum(duration_ms), 0) * 1000, 1) AS items_per_second,
         sum(conflicts_detected) AS conflicts,
         sum(failed_items) AS failed_items,
         count(*) FILTER (WHERE status IN ('failed', 'partial', 'abandoned')) AS failed_runs,
         count(*) FILTER (WHERE status = 'blocked') AS blocked_runs
  FROM sync_metrics GROUP BY 1 ORDER BY 1 DESC;

-- Upgrades: a database made by an earlier version gets the columns added since, and the checks
-- as they are now (each statement does nothing when already so).
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS full_requested boolean NOT NULL DEFAULT false;
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS running_run_id text;
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS running_since timestamptz;
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS running_execution_id text;
ALTER TABLE sync_state ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'success';
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS reason text;
ALTER TABLE sync_staging_work_packages ADD COLUMN IF NOT EXISTS remote_version integer;
ALTER TABLE sync_staging_work_packages ADD COLUMN IF NOT EXISTS retry_delays_ms jsonb;
ALTER TABLE sync_staging_work_packages ADD COLUMN IF NOT EXISTS conflict jsonb;
ALTER TABLE sync_staging_work_packages ADD COLUMN IF NOT EXISTS seen_run_id text;
ALTER TABLE sync_staging_work_packages DROP CONSTRAINT IF EXISTS sync_staging_work_packages_operation_check;
ALTER TABLE sync_staging_work_packages ADD CONSTRAINT sync_staging_work_packages_operation_check
  CHECK (operation IN ('insert', 'update', 'delete', 'none'));
-- A row replaced by a newer plan for the same key is 'superseded'; 'dead' is the dead letter.
ALTER TABLE sync_staging_work_packages DROP CONSTRAINT IF EXISTS sync_staging_work_packages_status_check;
ALTER TABLE sync_staging_work_packages ADD CONSTRAINT sync_staging_work_packages_status_check
  CHECK (status IN ('pending', 'processed', 'retry', 'dead', 'superseded'));

-- Alerts raised (the threshold checks at the end of each run, and failed executions through
-- the error workflow), whether or not a channel was configured to receive them.
CREATE TABLE IF NOT EXISTS sync_alerts (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  kind        text NOT NULL,                -- dead_letters, error_rate, no_success, conflict_age, run_partial, run_failed, ...
  run_id      text,
  message     text NOT NULL,
  detail      jsonb
);
CREATE INDEX IF NOT EXISTS sync_alerts_kind ON sync_alerts (kind, at);

-- A person's choice for an open conflict (the dashboard): per field, take FLRTS, take
-- OpenProject, or a typed value. The next run applies it to both sides (batch_sync_apply_resolutions).
ALTER TABLE sync_conflicts ADD COLUMN IF NOT EXISTS resolution jsonb;          -- {"/path": {"take": "flrts"|"openproject"|"value", "value": …}}
ALTER TABLE sync_conflicts ADD COLUMN IF NOT EXISTS resolution_by text;
ALTER TABLE sync_conflicts ADD COLUMN IF NOT EXISTS resolution_at timestamptz;
ALTER TABLE sync_conflicts ADD COLUMN IF NOT EXISTS resolution_applied_run text; -- the run that applied it

-- OpenProject's statuses and types, read once and kept for CACHE_MAX_AGE_MINUTES: the links the
-- mapping needs (STATUS_MAPPING's names, OPENPROJECT_TYPE) come from here, not from the workflow.
CREATE TABLE IF NOT EXISTS sync_openproject_cache (
  kind        text PRIMARY KEY CHECK (kind IN ('statuses', 'types')),
  items       jsonb NOT NULL,               -- [{id, name, href}]
  fetched_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-stage timings of a page (read: claimed -> both sides and the base read; compare: -> its
-- first batch processed; write: -> done), summed into the run's metrics (sync_metrics.stage_ms).
ALTER TABLE sync_run_pages ADD COLUMN IF NOT EXISTS read_at timestamptz;
ALTER TABLE sync_run_pages ADD COLUMN IF NOT EXISTS write_started_at timestamptz;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS stage_ms jsonb;

-- Calls of the inbound endpoints per minute (batch_sync_admit: 429 past ENDPOINT_RATE_PER_MINUTE).
CREATE TABLE IF NOT EXISTS sync_endpoint_calls (
  endpoint      text NOT NULL,
  window_start  timestamptz NOT NULL,
  calls         integer NOT NULL,
  PRIMARY KEY (endpoint, window_start)
);

-- Audit attribution: each row of a run names its kind and who asked for it (sync_runs), filled
-- in by the trigger below whatever function writes the row; the execution is in execution_id,
-- a person acting (a conflict's choice) in actor.
ALTER TABLE sync_audit ADD COLUMN IF NOT EXISTS run_kind text;
ALTER TABLE sync_audit ADD COLUMN IF NOT EXISTS requested_by text;
CREATE OR REPLACE FUNCTION sync_audit_attribute() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.run_kind IS NULL AND NEW.run_id <> '-' THEN
    SELECT r.kind, r.requested_by INTO NEW.run_kind, NEW.requested_by FROM sync_runs r WHERE r.run_id = NEW.run_id;
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS sync_audit_attribute ON sync_audit;
CREATE TRIGGER sync_audit_attribute BEFORE INSERT ON sync_audit
  FOR EACH ROW EXECUTE FUNCTION sync_audit_attribute();

-- The dashboard's form tokens (batch_sync_dashboard makes one per page, a choice posted as a form
-- uses it up): a choice can only come from a page this dashboard served.
CREATE TABLE IF NOT EXISTS sync_form_tokens (
  token       text PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Assignees: the task's assignee is the name of an OpenProject user the project's work packages
-- may be assigned (GET /api/v3/projects/{id}/available_assignees, cached per project).
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS assignee text;
ALTER TABLE sync_openproject_cache ADD COLUMN IF NOT EXISTS project text;
ALTER TABLE sync_openproject_cache DROP CONSTRAINT IF EXISTS sync_openproject_cache_kind_check;
ALTER TABLE sync_openproject_cache ADD CONSTRAINT sync_openproject_cache_kind_check CHECK (kind IN ('statuses', 'types', 'assignees'));

-- The adaptive schedule: the interval each run chose for the next (batch_sync_choose_interval),
-- why, and the SYNC_INTERVAL_MINUTES it started from.
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS interval_minutes numeric;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS interval_reason text;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS interval_base integer;

-- The adaptive batch size: each batch of a page (Stage Batch -> Record OpenProject Results),
-- timed, with its OpenProject requests, the throttled answers among them (429, 502, 503, 504,
-- sent again or failed) and their mean time; the size each run used and the one it chose for
-- the next (batch_sync_choose_batch_size), why, and the BATCH_SIZE it started from.
CREATE TABLE IF NOT EXISTS sync_batches (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  execution_id  text,
  rows          integer NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  processed_at  timestamptz,
  finished_at   timestamptz,
  writes        integer,
  throttled     integer,
  latency_ms    numeric
);
CREATE INDEX IF NOT EXISTS sync_batches_run ON sync_batches (run_id, execution_id, id);
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS batch_size integer;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_size integer;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_rows_per_second numeric;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_latency_ms numeric;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_throttled integer;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_size_next integer;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_size_reason text;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_size_base integer;
-- The run's kind of batch work: 'openproject' (its batches wrote to OpenProject) or 'local'
-- (staging and the mirror only, e.g. a first full sync seeding the mirror); sizes are compared
-- within one kind.
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS batch_work text;

-- Memory watched: the peak RSS of the n8n process that ran each page (and the coordinator),
-- written by the external hook workflows/hooks/memory.js (batch_sync_record_memory); the page
-- size each run used and why (batch_sync_page_size: a page over MEMORY_LIMIT_MB is split in two
-- the next time).
ALTER TABLE sync_run_pages ADD COLUMN IF NOT EXISTS peak_rss_mib numeric;
ALTER TABLE sync_run_pages ADD COLUMN IF NOT EXISTS rss_process text;      -- host:pid of that n8n process
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS page_size integer;
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS page_size_reason text;
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS coordinator_rss_mib numeric;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS peak_rss_mib numeric;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS memory_limit_mib integer;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS page_size integer;
ALTER TABLE sync_metrics ADD COLUMN IF NOT EXISTS page_size_reason text;

-- Staging tables and STAGING_TABLE_PREFIX: the staging rows of a run live in the table
-- <STAGING_TABLE_PREFIX>work_packages (sync_staging_work_packages with the default prefix). A
-- table for another prefix is made like this one (LIKE ... INCLUDING ALL) by the first run that
-- uses it (batch_sync_use_staging in sync.sql), marked by this comment.
COMMENT ON TABLE sync_staging_work_packages IS 'batch-sync staging table';
-- Upgrades of staging tables made for another prefix: the columns added to the template since.
DO $$
DECLARE
  t regclass;
  c record;
BEGIN
  FOR t IN SELECT c2.oid::regclass FROM pg_class c2
            WHERE c2.relkind = 'r' AND c2.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'sync_staging_work_packages'::regclass)
              AND obj_description(c2.oid, 'pg_class') = 'batch-sync staging table' AND c2.oid <> 'sync_staging_work_packages'::regclass
  LOOP
    FOR c IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type,
                    (SELECT ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) AS dflt
              FROM pg_attribute a
              WHERE a.attrelid = 'sync_staging_work_packages'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                AND NOT EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = t AND b.attname = a.attname AND NOT b.attisdropped)
              ORDER BY a.attnum
    LOOP
      EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s%s', t, c.attname, c.type, coalesce(c.dflt, ''));
    END LOOP;
    -- and the indexes added since (named after the table, as LIKE ... INCLUDING ALL names them).
    IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = t AND i.indnatts = 1 AND a.attname = 'external_id' AND i.indpred IS NULL) THEN
      EXECUTE format('CREATE INDEX ON %s (external_id)', t);
    END IF;
  END LOOP;
END $$;

-- The staging table in use, as every function reaches it: the view sync_staging points at it
-- (batch_sync_use_staging switches it when STAGING_TABLE_PREFIX changes). Made again here, on
-- the same table, so that it shows the columns added above.
CREATE OR REPLACE FUNCTION batch_sync_staging_table() RETURNS regclass LANGUAGE sql STABLE AS $$
  SELECT DISTINCT d.refobjid::regclass
  FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
  WHERE r.ev_class = to_regclass('sync_staging') AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
$$;
DO $$
BEGIN
  EXECUTE format('CREATE OR REPLACE VIEW sync_staging AS SELECT * FROM %s',
                 coalesce(batch_sync_staging_table(), 'sync_staging_work_packages'::regclass));
END $$;

-- The dead letter: rows that failed MAX_RETRIES times, or that OpenProject refused (422), with
-- the last error. They stay until a person re-queues them (batch_sync_requeue).
CREATE OR REPLACE VIEW sync_dead_letters AS
  SELECT external_id, decision, operation, remote_op, attempts, last_error,
         last_error->>'status' AS http_status, coalesce(last_error->>'message', last_error->>'code') AS message,
         run_id, created_at, id AS staging_id
  FROM sync_staging WHERE status = 'dead';
