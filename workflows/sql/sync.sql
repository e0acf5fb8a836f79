-- batch-sync: the statements the Batch Sync Manager workflow runs, as functions (idempotent:
-- CREATE OR REPLACE). The workflow calls each with bind parameters only; nothing here is built
-- from strings but the staging table's name (batch_sync_use_staging), quoted. Apply after schema.sql.
--
-- Keys: a task linked to OpenProject is keyed by its work package id (tasks.external_id); a task
-- not yet created in OpenProject by 'task-<id>'. The mirror (work_packages) and the staging rows
-- use the same key.

-- Signatures that changed (CREATE OR REPLACE cannot change them): the old ones go.
DROP FUNCTION IF EXISTS batch_sync_close_conflict(text, text, text, text, text);
DROP FUNCTION IF EXISTS batch_sync_stage(text, jsonb);

CREATE OR REPLACE FUNCTION batch_sync_key(t tasks) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(t.external_id, 'task-' || t.id)
$$;

-- One audit row (the actor is the table's default, 'batch-sync').
CREATE OR REPLACE FUNCTION batch_sync_audit(p_run_id text, p_workflow_id text, p_execution_id text, p_key text,
                                           p_action text, p_before text, p_after text, p_detail jsonb)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO sync_audit (run_id, workflow_id, execution_id, external_id, action, before_checksum, after_checksum, detail)
  VALUES (p_run_id, p_workflow_id, p_execution_id, p_key, p_action, p_before, p_after, p_detail)
$$;

-- The mirror of p_key after a sync: the agreed record with the lockVersion OpenProject has now
-- (the stored one kept when it is not known), or no row after a delete. The seed story's
-- checksum guard: a row that is already so (same checksum, and the same lockVersion when one
-- is known) is not rewritten.
CREATE OR REPLACE FUNCTION batch_sync_write_mirror(p_key text, p_delete boolean, p_data jsonb, p_checksum text,
                                                  p_lock_version integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_delete THEN
    DELETE FROM work_packages WHERE external_id = p_key;
    RETURN;
  END IF;
  INSERT INTO work_packages (external_id, data, checksum, lock_version, synced_at)
  VALUES (p_key, p_data, p_checksum, p_lock_version, now())
  ON CONFLICT (external_id) DO UPDATE
    SET data = EXCLUDED.data, checksum = EXCLUDED.checksum,
        lock_version = coalesce(EXCLUDED.lock_version, work_packages.lock_version), synced_at = now()
    WHERE work_packages.checksum IS DISTINCT FROM EXCLUDED.checksum
       OR (EXCLUDED.lock_version IS NOT NULL AND work_packages.lock_version IS DISTINCT FROM EXCLUDED.lock_version);
END $$;

-- The settings of a run (the workflow's Settings node), checked, with the defaults filled in.
-- A bad value stops the run with an error naming the key. The README's settings table says
-- what each does.
CREATE OR REPLACE FUNCTION batch_sync_settings(p_settings jsonb)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  defaults jsonb := jsonb_build_object(
    'SYNC_INTERVAL_MINUTES', 15, 'BATCH_SIZE', 50, 'MAX_RETRIES', 3, 'RETRY_BASE_SECONDS', 60,
    'CONFLICT_STRATEGY', 'merge', 'LOCK_TIMEOUT_MINUTES', 5,
    'WRITE_CONCURRENCY', 8, 'REQUESTS_PER_SECOND', 0, 'REQUEST_TIMEOUT_SECONDS', 60,
    'PAGE_SIZE', 1000, 'PARALLEL_WORKERS', 3, 'PAGE_TIMEOUT_SECONDS', 120,
    'PAGE_WEBHOOK_URL', 'http://127.0.0.1:5678/webhook/batch-sync/page',
    'OPENPROJECT_PROJECT_ID', '', 'MARKER_FIELD', '',
    'MAX_BACKLOG', 1000, 'MAX_DEAD_LETTERS', 0, 'MAX_ERROR_RATE', 0.5, 'MAX_FAILED_RUNS_IN_A_ROW', 2,
    'MAX_CONFLICT_AGE_HOURS', 24, 'CONSISTENCY_SAMPLE', 5, 'ALERT_WEBHOOK_URL', '',
    'STATUS_MAPPING', jsonb_build_object('New', 'New', 'In progress', 'In progress', 'Closed', 'Closed', 'Rejected', 'Rejected'),
    'OPENPROJECT_TYPE', 'Task', 'CACHE_MAX_AGE_MINUTES', 60, 'ENDPOINT_RATE_PER_MINUTE', 60,
    'ALERT_EMAIL_TO', '', 'ALERT_EMAIL_FROM', 'batch-sync@localhost', 'STAGING_TABLE_PREFIX', 'sync_staging_',
    'ADAPTIVE_INTERVAL', true, 'SYNC_INTERVAL_MIN_MINUTES', 1, 'SYNC_INTERVAL_MAX_MINUTES', 60,
    'ADAPTIVE_BATCH_SIZE', true, 'BATCH_SIZE_MIN', 10, 'BATCH_SIZE_MAX', 1000,
    'MEMORY_LIMIT_MB', 500, 'ADAPTIVE_PAGE_SIZE', true, 'PAGE_SIZE_MIN', 100);
  out jsonb;
  k text;
  v jsonb;
  ints jsonb := '{"SYNC_INTERVAL_MINUTES":[1,1440],"BATCH_SIZE":[1,10000],"MAX_RETRIES":[0,20],"RETRY_BASE_SECONDS":[1,86400],"LOCK_TIMEOUT_MINUTES":[1,1440],"WRITE_CONCURRENCY":[1,64],"REQUESTS_PER_SECOND":[0,10000],"REQUEST_TIMEOUT_SECONDS":[1,600],"PAGE_SIZE":[1,100000],"PARALLEL_WORKERS":[1,64],"PAGE_TIMEOUT_SECONDS":[5,86400],"MAX_BACKLOG":[0,100000000],"MAX_DEAD_LETTERS":[0,100000000],"MAX_FAILED_RUNS_IN_A_ROW":[1,1000],"MAX_CONFLICT_AGE_HOURS":[1,8760],"CONSISTENCY_SAMPLE":[0,100],"CACHE_MAX_AGE_MINUTES":[1,10080],"ENDPOINT_RATE_PER_MINUTE":[0,100000],"SYNC_INTERVAL_MIN_MINUTES":[1,1440],"SYNC_INTERVAL_MAX_MINUTES":[1,1440],"BATCH_SIZE_MIN":[1,10000],"BATCH_SIZE_MAX":[1,10000],"MEMORY_LIMIT_MB":[64,1048576],"PAGE_SIZE_MIN":[1,100000]}';
  strategies text[] := ARRAY['server_wins', 'client_wins', 'newest_wins', 'manual', 'merge'];
BEGIN
  IF p_settings IS NULL OR jsonb_typeof(p_settings) <> 'object' THEN
    RAISE EXCEPTION 'settings: expected a JSON object of settings, got %', coalesce(jsonb_typeof(p_settings), 'nothing');
  END IF;
  FOR k IN SELECT jsonb_object_keys(p_settings) LOOP
    IF NOT defaults ? k THEN
      RAISE EXCEPTION 'settings: unknown key "%" (known: %)', k, (SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_object_keys(defaults) x);
    END IF;
  END LOOP;
  out := defaults || jsonb_strip_nulls(p_settings);
  FOR k IN SELECT jsonb_object_keys(ints) LOOP
    v := out->k;
    IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
       OR (v #>> '{}')::numeric < (ints->k->>0)::numeric OR (v #>> '{}')::numeric > (ints->k->>1)::numeric THEN
      RAISE EXCEPTION 'settings: % must be a whole number from % to %, got %', k, ints->k->>0, ints->k->>1, v;
    END IF;
  END LOOP;
  IF jsonb_typeof(out->'MAX_ERROR_RATE') <> 'number' OR (out->>'MAX_ERROR_RATE')::numeric NOT BETWEEN 0 AND 1 THEN
    RAISE EXCEPTION 'settings: MAX_ERROR_RATE must be a number from 0 to 1 (the share of failed runs among the last 10), got %', out->'MAX_ERROR_RATE';
  END IF;
  -- CONFLICT_STRATEGY: one strategy, or {"default": s, "fields": {"/path": s}} (the core's
  -- per-field rules; paths are those of the OpenProject side, e.g. /subject, /description/raw).
  v := out->'CONFLICT_STRATEGY';
  IF NOT (jsonb_typeof(v) = 'string' AND (v #>> '{}') = ANY (strategies))
     AND NOT (jsonb_typeof(v) = 'object'
              AND (SELECT bool_and(x IN ('default', 'fields')) FROM jsonb_object_keys(v) x)
              AND jsonb_typeof(v->'default') = 'string' AND (v->>'default') = ANY (strategies)
              AND coalesce(jsonb_typeof(v->'fields'), 'object') = 'object'
              AND NOT EXISTS (SELECT 1 FROM jsonb_each(coalesce(v->'fields', '{}')) f
                               WHERE f.key !~ '^/' OR jsonb_typeof(f.value) <> 'string' OR NOT (f.value #>> '{}') = ANY (strategies))) THEN
    RAISE EXCEPTION 'settings: CONFLICT_STRATEGY must be one of % or {"default": <one of them>, "fields": {"/path": <one of them>}}, got %',
      array_to_string(strategies, ', '), v;
  END IF;
  -- STATUS_MAPPING: each FLRTS status to the name of an OpenProject status (checked against
  -- OpenProject's list when it is read: batch_sync_mapping_links).
  IF jsonb_typeof(out->'STATUS_MAPPING') <> 'object' OR NOT EXISTS (SELECT 1 FROM jsonb_object_keys(out->'STATUS_MAPPING'))
     OR EXISTS (SELECT 1 FROM jsonb_each(out->'STATUS_MAPPING') e WHERE jsonb_typeof(e.value) <> 'string' OR btrim(e.value #>> '{}') = '') THEN
    RAISE EXCEPTION 'settings: STATUS_MAPPING must map each FLRTS status to an OpenProject status name, like {"New": "New", "Done": "Closed"}, got %', out->'STATUS_MAPPING';
  END IF;
  IF jsonb_typeof(out->'OPENPROJECT_TYPE') <> 'string' THEN
    RAISE EXCEPTION 'settings: OPENPROJECT_TYPE must be the name of an OpenProject type (for created work packages) or "", got %', out->'OPENPROJECT_TYPE';
  END IF;
  IF jsonb_typeof(out->'OPENPROJECT_PROJECT_ID') NOT IN ('string', 'number') OR (out->>'OPENPROJECT_PROJECT_ID') !~ '^[A-Za-z0-9_-]*$' THEN
    RAISE EXCEPTION 'settings: OPENPROJECT_PROJECT_ID must be a project id or identifier, got %', out->'OPENPROJECT_PROJECT_ID';
  END IF;
  IF jsonb_typeof(out->'MARKER_FIELD') <> 'string' OR (out->>'MARKER_FIELD') !~ '^(customField[0-9]+)?$' THEN
    RAISE EXCEPTION 'settings: MARKER_FIELD must be empty or a custom field''s API name like customField1, got %', out->'MARKER_FIELD';
  END IF;
  IF jsonb_typeof(out->'PAGE_WEBHOOK_URL') <> 'string' OR (out->>'PAGE_WEBHOOK_URL') !~ '^https?://[^\s]+$' THEN
    RAISE EXCEPTION 'settings: PAGE_WEBHOOK_URL must be the http(s) URL of the Batch Sync Page webhook, got %', out->'PAGE_WEBHOOK_URL';
  END IF;
  IF jsonb_typeof(out->'ALERT_WEBHOOK_URL') <> 'string' OR (out->>'ALERT_WEBHOOK_URL') !~ '^(https?://[^\s]+)?$' THEN
    RAISE EXCEPTION 'settings: ALERT_WEBHOOK_URL must be empty or an http(s) URL that receives alerts, got %', out->'ALERT_WEBHOOK_URL';
  END IF;
  IF jsonb_typeof(out->'ALERT_EMAIL_TO') <> 'string'
     OR (out->>'ALERT_EMAIL_TO') !~ '^([^@\s,<>]+@[^@\s,<>]+(\s*,\s*[^@\s,<>]+@[^@\s,<>]+)*)?$' THEN
    RAISE EXCEPTION 'settings: ALERT_EMAIL_TO must be empty or e-mail addresses separated by commas, got %', out->'ALERT_EMAIL_TO';
  END IF;
  IF jsonb_typeof(out->'ALERT_EMAIL_FROM') <> 'string' OR (out->>'ALERT_EMAIL_FROM') !~ '^[^@\s,<>]+@[^@\s,<>]+$' THEN
    RAISE EXCEPTION 'settings: ALERT_EMAIL_FROM must be an e-mail address, got %', out->'ALERT_EMAIL_FROM';
  END IF;
  IF jsonb_typeof(out->'ADAPTIVE_INTERVAL') <> 'boolean' THEN
    RAISE EXCEPTION 'settings: ADAPTIVE_INTERVAL must be true or false, got %', out->'ADAPTIVE_INTERVAL';
  END IF;
  -- (The bounds of the adaptive interval and batch size widen to take in SYNC_INTERVAL_MINUTES
  -- and BATCH_SIZE.)
  IF (out->>'SYNC_INTERVAL_MIN_MINUTES')::integer > (out->>'SYNC_INTERVAL_MAX_MINUTES')::integer THEN
    RAISE EXCEPTION 'settings: SYNC_INTERVAL_MIN_MINUTES (%) must not be above SYNC_INTERVAL_MAX_MINUTES (%)',
      out->'SYNC_INTERVAL_MIN_MINUTES', out->'SYNC_INTERVAL_MAX_MINUTES';
  END IF;
  IF jsonb_typeof(out->'ADAPTIVE_BATCH_SIZE') <> 'boolean' THEN
    RAISE EXCEPTION 'settings: ADAPTIVE_BATCH_SIZE must be true or false, got %', out->'ADAPTIVE_BATCH_SIZE';
  END IF;
  IF (out->>'BATCH_SIZE_MIN')::integer > (out->>'BATCH_SIZE_MAX')::integer THEN
    RAISE EXCEPTION 'settings: BATCH_SIZE_MIN (%) must not be above BATCH_SIZE_MAX (%)', out->'BATCH_SIZE_MIN', out->'BATCH_SIZE_MAX';
  END IF;
  IF jsonb_typeof(out->'ADAPTIVE_PAGE_SIZE') <> 'boolean' THEN
    RAISE EXCEPTION 'settings: ADAPTIVE_PAGE_SIZE must be true or false, got %', out->'ADAPTIVE_PAGE_SIZE';
  END IF;
  -- The staging table's name is the prefix and 'work_packages': a lower-case SQL name of at most
  -- 63 bytes, as PostgreSQL keeps it.
  IF jsonb_typeof(out->'STAGING_TABLE_PREFIX') <> 'string' OR (out->>'STAGING_TABLE_PREFIX') !~ '^[a-z_][a-z0-9_]{0,49}$' THEN
    RAISE EXCEPTION 'settings: STAGING_TABLE_PREFIX must be lower-case letters, digits and _ (not first a digit, at most 50), like "sync_staging_", got %', out->'STAGING_TABLE_PREFIX';
  END IF;
  RETURN out || jsonb_build_object('OPENPROJECT_PROJECT_ID', out->>'OPENPROJECT_PROJECT_ID');
END $$;

-- The staging table of STAGING_TABLE_PREFIX in use (under the run lock, at a run's start): when
-- the prefix changed, its table is made like the template (if missing), the rows still open in
-- the table used until now (pending, waiting for a retry, dead letters) move to it, and the view
-- sync_staging, through which every function here reaches staging, points at it. The rows done
-- stay where they were, as history. Returns the table in use.
CREATE OR REPLACE FUNCTION batch_sync_use_staging(p_prefix text, p_run_id text DEFAULT '-') RETURNS regclass LANGUAGE plpgsql AS $$
DECLARE
  v_name text := p_prefix || 'work_packages';
  -- Every staging table lives in the template's schema (whatever search_path says).
  v_schema text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = 'sync_staging_work_packages'::regclass);
  v_old regclass := batch_sync_staging_table();
  v_new regclass;
  v_moved integer;
  v_open integer;
BEGIN
  IF p_prefix IS NULL OR p_prefix !~ '^[a-z_][a-z0-9_]{0,49}$' THEN
    RAISE EXCEPTION 'settings: STAGING_TABLE_PREFIX must be lower-case letters, digits and _ (not first a digit, at most 50), got %', p_prefix;
  END IF;
  v_new := to_regclass(quote_ident(v_schema) || '.' || quote_ident(v_name));
  IF v_new IS NOT NULL AND v_new = v_old THEN
    RETURN v_new;
  END IF;
  IF v_new IS NULL THEN
    EXECUTE format('CREATE TABLE %I.%I (LIKE sync_staging_work_packages INCLUDING ALL)', v_schema, v_name);
    EXECUTE format('COMMENT ON TABLE %I.%I IS %L', v_schema, v_name, 'batch-sync staging table');
    v_new := to_regclass(quote_ident(v_schema) || '.' || quote_ident(v_name));
  ELSIF coalesce(obj_description(v_new, 'pg_class'), '') <> 'batch-sync staging table' THEN
    RAISE EXCEPTION 'settings: STAGING_TABLE_PREFIX "%" names the table %, which is not a batch-sync staging table (choose another prefix)', p_prefix, v_new;
  END IF;
  -- Whoever still reads or writes staging (a page of a run that died, the metrics) finishes first.
  LOCK TABLE sync_staging IN ACCESS EXCLUSIVE MODE;
  -- The open rows move; a row of the same key left in the new table (history of an earlier
  -- switch) gives way to them: the open row is the current one. Nothing is skipped: every open
  -- row arrives or the run does not start.
  EXECUTE format($q$SELECT count(*) FROM %s WHERE status IN ('pending', 'retry', 'dead')$q$, v_old) INTO v_open;
  EXECUTE format($q$DELETE FROM %s t USING %s o WHERE o.idempotency_key = t.idempotency_key
                      AND o.status IN ('pending', 'retry', 'dead')$q$, v_new, v_old);
  EXECUTE format($q$WITH moved AS (DELETE FROM %s WHERE status IN ('pending', 'retry', 'dead') RETURNING *)
                    INSERT INTO %s SELECT * FROM moved$q$, v_old, v_new);
  GET DIAGNOSTICS v_moved = ROW_COUNT;
  IF v_moved <> v_open THEN
    RAISE EXCEPTION 'staging: % open rows in %, % moved to %', v_open, v_old, v_moved, v_new;
  END IF;
  BEGIN
    EXECUTE format('CREATE OR REPLACE VIEW sync_staging AS SELECT * FROM %s', v_new);
  EXCEPTION WHEN others THEN
    RAISE EXCEPTION 'settings: STAGING_TABLE_PREFIX "%": the table % does not have the staging columns in order (%)', p_prefix, v_new, SQLERRM;
  END;
  INSERT INTO sync_audit (run_id, external_id, action, detail)
  VALUES (p_run_id, '-', 'staging_table', jsonb_build_object('from', v_old::text, 'to', v_new::text, 'open_rows_moved', v_moved));
  RETURN v_new;
END $$;

-- ---------------------------------------------------------------------------------------------
-- OpenProject's reference data (statuses, types), cached.

-- Whether the cache is younger than CACHE_MAX_AGE_MINUTES (the three collections; the
-- assignees those of OPENPROJECT_PROJECT_ID).
CREATE OR REPLACE FUNCTION batch_sync_cache_fresh(p_settings jsonb) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT count(*) = 3 FROM sync_openproject_cache
   WHERE fetched_at > clock_timestamp() - make_interval(mins => (p_settings->>'CACHE_MAX_AGE_MINUTES')::integer)
     AND (kind <> 'assignees' OR project IS NOT DISTINCT FROM (p_settings->>'OPENPROJECT_PROJECT_ID'))
$$;

-- The links the mapping needs, from the cache: STATUS_HREFS (each FLRTS status of STATUS_MAPPING
-- to the href of its OpenProject status), TYPE_HREF (OPENPROJECT_TYPE's) and ASSIGNEE_HREFS
-- (the name of each user the project's work packages may be assigned to their href: a task's
-- assignee is that name). p_strict: a status or type OpenProject does not have is an error
-- naming it (else it is left out); an assignee OpenProject does not know makes that record
-- invalid, with its name.
CREATE OR REPLACE FUNCTION batch_sync_mapping_links(p_settings jsonb, p_strict boolean DEFAULT true)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  statuses jsonb := (SELECT items FROM sync_openproject_cache WHERE kind = 'statuses');
  types jsonb := (SELECT items FROM sync_openproject_cache WHERE kind = 'types');
  hrefs jsonb := '{}';
  e record;
  v_href text;
  v_type text;
BEGIN
  FOR e IN SELECT key, value #>> '{}' AS name FROM jsonb_each(p_settings->'STATUS_MAPPING') LOOP
    SELECT x->>'href' INTO v_href FROM jsonb_array_elements(coalesce(statuses, '[]')) x WHERE lower(x->>'name') = lower(e.name) LIMIT 1;
    IF v_href IS NULL AND p_strict THEN
      RAISE EXCEPTION 'settings: STATUS_MAPPING maps "%" to "%", which OpenProject does not have (its statuses: %)', e.key, e.name,
        coalesce((SELECT string_agg(x->>'name', ', ') FROM jsonb_array_elements(statuses) x), 'not read yet');
    END IF;
    IF v_href IS NOT NULL THEN
      hrefs := hrefs || jsonb_build_object(e.key, v_href);
    END IF;
  END LOOP;
  IF (p_settings->>'OPENPROJECT_TYPE') <> '' THEN
    SELECT x->>'href' INTO v_type FROM jsonb_array_elements(coalesce(types, '[]')) x
     WHERE lower(x->>'name') = lower(p_settings->>'OPENPROJECT_TYPE') LIMIT 1;
    IF v_type IS NULL AND p_strict THEN
      RAISE EXCEPTION 'settings: OPENPROJECT_TYPE is "%", which OpenProject does not have (its types: %)', p_settings->>'OPENPROJECT_TYPE',
        coalesce((SELECT string_agg(x->>'name', ', ') FROM jsonb_array_elements(types) x), 'not read yet');
    END IF;
  END IF;
  RETURN jsonb_build_object('STATUS_HREFS', hrefs, 'TYPE_HREF', coalesce(v_type, ''),
    'ASSIGNEE_HREFS', (SELECT coalesce(jsonb_object_agg(x->>'name', x->>'href'), '{}')
                         FROM sync_openproject_cache c, jsonb_array_elements(c.items) x
                        WHERE c.kind = 'assignees' AND x->>'name' IS NOT NULL AND x->>'href' IS NOT NULL));
END $$;

-- Read Reference Data's answer ({statuses, types, assignees}) stored; the run's mapping is
-- checked against it (a missing status or type fails the run with its name).
CREATE OR REPLACE FUNCTION batch_sync_store_reference(p_run_id text, p_data jsonb)
RETURNS TABLE (statuses integer, types integer) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  k text;
BEGIN
  PERFORM batch_sync_heartbeat(p_run_id);
  FOREACH k IN ARRAY ARRAY['statuses', 'types', 'assignees'] LOOP
    IF coalesce(jsonb_typeof(p_data->k), '') <> 'array' THEN
      RAISE EXCEPTION 'reference data: % missing from OpenProject''s answer', k;
    END IF;
    INSERT INTO sync_openproject_cache (kind, items, fetched_at, project)
    VALUES (k, p_data->k, clock_timestamp(),
            CASE WHEN k = 'assignees' THEN (SELECT r.settings->>'OPENPROJECT_PROJECT_ID' FROM sync_runs r WHERE r.run_id = p_run_id) END)
    ON CONFLICT (kind) DO UPDATE SET items = EXCLUDED.items, fetched_at = EXCLUDED.fetched_at, project = EXCLUDED.project;
  END LOOP;
  PERFORM batch_sync_mapping_links((SELECT settings FROM sync_runs WHERE sync_runs.run_id = p_run_id), true);
  RETURN QUERY SELECT jsonb_array_length(p_data->'statuses'), jsonb_array_length(p_data->'types');
END $$;

-- Start of a run: its id, its kind, the cursors and the checked settings. Kinds:
--   incremental     (the schedule) both sides' changes since the cursors, retries, open conflicts
--   full_sync       everything on both sides (deletions by absence); the first run is one
--   delta_sync      both sides' changes since p_request.since (e.g. to replay a window after an
--                   outage); the cursors stay where they are
--   reconciliation  both sides read completely, compared, nothing written: a differences report
-- The kind comes from p_request ({kind, since, by}: the run webhook), else from a request
-- stored by batch_sync_request_run (the CLI), else full_requested, else incremental.
-- p_request.scheduled: started by the schedule, which fires every minute; the run starts only
-- when the interval (SYNC_INTERVAL_MINUTES, or with ADAPTIVE_INTERVAL the one the last run
-- chose: batch_sync_interval) has passed since the last one started, or a run was requested
-- (due = false otherwise, and nothing is written).
-- One run at a time: the lock is held by a run whose heartbeat (each batch) is younger than
-- LOCK_TIMEOUT_MINUTES. A run whose process died stops beating: the next start takes over at
-- once after that bound, records the dead run as 'abandoned', and redoes its rows (they are
-- still pending). A start that finds the lock held returns blocked = true with the reason and
-- records a 'blocked' metrics row.
DROP FUNCTION IF EXISTS batch_sync_start(boolean);
DROP FUNCTION IF EXISTS batch_sync_start(boolean, jsonb, text, text);
DROP FUNCTION IF EXISTS batch_sync_start(boolean, jsonb, text, text, jsonb);
CREATE OR REPLACE FUNCTION batch_sync_start(p_requested_full boolean, p_settings jsonb, p_workflow_id text,
                                            p_execution_id text, p_request jsonb DEFAULT '{}')
RETURNS TABLE (run_id text, full_sync boolean, started_at timestamptz, local_since timestamptz,
               remote_since text, retry_keys jsonb, retry_remote_ids jsonb, settings jsonb,
               blocked boolean, reason text, kind text, requested_by text, due boolean, cache_fresh boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_run text := gen_random_uuid()::text;
  v_now timestamptz := clock_timestamp();
  v_settings jsonb := batch_sync_settings(p_settings);
  v_timeout interval := make_interval(mins => (v_settings->>'LOCK_TIMEOUT_MINUTES')::integer);
  v_request jsonb := coalesce(p_request, '{}');
  v_kind text := nullif(v_request->>'kind', '');
  v_since timestamptz;
  v_by text := nullif(left(v_request->>'by', 200), '');
  v_remote_cursor timestamptz;
  v_last_start timestamptz;
  st sync_state;
  v_reason text;
  v_fresh boolean;
  v_from_request boolean := false;
  v_interval numeric;
  v_interval_reason text;
BEGIN
  IF jsonb_typeof(v_request) <> 'object' THEN
    RAISE EXCEPTION 'run: the request must be a JSON object like {"kind": "full_sync"}, got %', v_request;
  END IF;
  -- Through the webhook only a JSON body (Content-Type: application/json): a browser sends that
  -- cross-site only after a CORS preflight, which n8n does not grant with credentials, so a page
  -- elsewhere cannot start runs with a signed-in operator's browser (a form could).
  IF v_request ? 'json' AND NOT coalesce((v_request->>'json')::boolean, false) THEN
    RAISE EXCEPTION 'run: send the request as JSON (Content-Type: application/json)';
  END IF;
  IF v_kind IS NOT NULL AND v_kind NOT IN ('full_sync', 'incremental', 'delta_sync', 'reconciliation') THEN
    RAISE EXCEPTION 'run: kind must be one of full_sync, incremental, delta_sync, reconciliation, got "%"', v_kind;
  END IF;
  IF nullif(v_request->>'since', '') IS NOT NULL THEN
    BEGIN
      v_since := (v_request->>'since')::timestamptz;
    EXCEPTION WHEN others THEN
      RAISE EXCEPTION 'run: since must be an ISO 8601 time like 2026-12-01T08:00:00Z, got "%"', v_request->>'since';
    END;
  END IF;
  -- With OpenProject's statuses and types in the cache, the mapping is checked now (a name it
  -- does not have refuses the run); else after they are read.
  v_fresh := batch_sync_cache_fresh(v_settings);
  IF v_fresh THEN
    PERFORM batch_sync_mapping_links(v_settings, true);
  END IF;
  SELECT * INTO st FROM sync_state WHERE direction = 'local' FOR UPDATE;
  IF v_kind IS NULL AND NOT p_requested_full AND st.requested_kind IS NOT NULL THEN
    v_kind := st.requested_kind;
    v_since := coalesce(v_since, st.requested_since);
    v_by := coalesce(v_by, st.requested_by);
    v_from_request := true;
  END IF;
  IF v_kind = 'delta_sync' AND v_since IS NULL THEN
    RAISE EXCEPTION 'run: delta_sync needs "since", the time from which both sides'' changes are read';
  END IF;
  SELECT cursor_at INTO v_remote_cursor FROM sync_state WHERE direction = 'remote';
  v_kind := CASE
    WHEN v_kind IN ('full_sync', 'reconciliation') THEN v_kind
    WHEN p_requested_full OR st.full_requested OR v_remote_cursor = '-infinity' THEN 'full_sync'
    ELSE coalesce(v_kind, 'incremental') END;
  -- The schedule fires often; a run is due after SYNC_INTERVAL_MINUTES, or when one was asked
  -- for. (A run still going when the next is due blocks it: a 'blocked' row says so.)
  IF coalesce((v_request->>'scheduled')::boolean, false) AND st.requested_kind IS NULL THEN
    SELECT max(r.started_at) INTO v_last_start FROM sync_runs r;
    SELECT i.minutes, i.reason INTO v_interval, v_interval_reason FROM batch_sync_interval(v_settings) i;
    IF v_last_start > v_now - make_interval(secs => v_interval * 60) + interval '5 seconds' THEN
      RETURN QUERY SELECT v_run, false, v_now, NULL::timestamptz, NULL::text, '[]'::jsonb, '[]'::jsonb, v_settings, false,
        format('not due: the last run started at %s, the interval is %s minutes (%s)', v_last_start, v_interval, v_interval_reason),
        v_kind, v_by, false, true;
      RETURN;
    END IF;
  END IF;
  IF st.running_run_id IS NOT NULL THEN
    IF coalesce(st.heartbeat_at, st.running_since) >= v_now - v_timeout THEN
      -- The schedule's tick while a live run is still going: not due (the running run shows on
      -- the dashboard and in the health check); a person's request is answered 'blocked'.
      IF coalesce((v_request->>'scheduled')::boolean, false) THEN
        RETURN QUERY SELECT v_run, false, v_now, NULL::timestamptz, NULL::text, '[]'::jsonb, '[]'::jsonb, v_settings, false,
          format('not due: run %s is still going (since %s)', st.running_run_id, st.running_since), v_kind, v_by, false, true;
        RETURN;
      END IF;
      v_reason := format('run %s (execution %s) holds the lock since %s, last heartbeat %s',
                         st.running_run_id, coalesce(st.running_execution_id, '?'), st.running_since,
                         coalesce(st.heartbeat_at, st.running_since));
      INSERT INTO sync_metrics (run_id, workflow_id, execution_id, mode, kind, started_at, total_items, processed_items,
                                failed_items, conflicts_detected, conflicts_resolved, duration_ms, status, reason)
      VALUES (v_run, p_workflow_id, p_execution_id, 'none', v_kind, v_now, 0, 0, 0, 0, 0, 0, 'blocked', v_reason);
      RETURN QUERY SELECT v_run, false, v_now, NULL::timestamptz, NULL::text, '[]'::jsonb, '[]'::jsonb, v_settings, true,
                          v_reason, v_kind, v_by, true, true;
      RETURN;
    END IF;
    -- The holder stopped beating: its process died (or lost its database). Taken over.
    INSERT INTO sync_metrics (run_id, workflow_id, execution_id, mode, kind, started_at, total_items, processed_items,
                              failed_items, conflicts_detected, conflicts_resolved, duration_ms, status, reason)
    SELECT st.running_run_id, p_workflow_id, st.running_execution_id, 'unknown',
           (SELECT r.kind FROM sync_runs r WHERE r.run_id = st.running_run_id), st.running_since, 0,
           count(*) FILTER (WHERE s.status = 'processed'), count(*) FILTER (WHERE s.status <> 'processed'), 0, 0,
           (extract(epoch FROM coalesce(st.heartbeat_at, st.running_since) - st.running_since) * 1000)::integer,
           'abandoned', format('no heartbeat since %s; taken over by run %s', coalesce(st.heartbeat_at, st.running_since), v_run)
    FROM sync_staging s RIGHT JOIN (SELECT 1) one ON s.run_id = st.running_run_id
    ON CONFLICT (run_id) DO NOTHING;
    UPDATE sync_runs SET status = 'abandoned', finished_at = v_now WHERE sync_runs.run_id = st.running_run_id;
  END IF;
  PERFORM batch_sync_use_staging(v_settings->>'STAGING_TABLE_PREFIX', v_run);
  -- A stored request is taken by this run (a run that fails is not started again by itself).
  UPDATE sync_state SET running_run_id = v_run, running_since = v_now, heartbeat_at = v_now,
                        running_execution_id = p_execution_id,
                        requested_kind = CASE WHEN v_from_request THEN NULL ELSE requested_kind END,
                        requested_since = CASE WHEN v_from_request THEN NULL ELSE requested_since END,
                        requested_by = CASE WHEN v_from_request THEN NULL ELSE requested_by END
   WHERE direction = 'local';
  INSERT INTO sync_runs (run_id, full_sync, kind, since, requested_by, settings, started_at, local_since, workflow_id, execution_id,
                         batch_size, page_size, page_size_reason)
  SELECT v_run, v_kind IN ('full_sync', 'reconciliation'), v_kind, v_since, v_by, v_settings, v_now,
         CASE WHEN v_kind = 'delta_sync' THEN v_since ELSE max(cursor_at) FILTER (WHERE direction = 'local') END,
         p_workflow_id, p_execution_id, batch_sync_batch_size(v_settings), ps.size, ps.reason
  FROM sync_state, batch_sync_page_size(v_settings) ps
  GROUP BY ps.size, ps.reason;
  RETURN QUERY
  WITH s AS (
    SELECT max(cursor_at) FILTER (WHERE direction = 'local') AS local_cursor,
           max(cursor_at) FILTER (WHERE direction = 'remote') AS remote_cursor
    FROM sync_state
  ), waiting AS (
    -- Rows waiting for a retry (or left pending by a run that died) and conflicts waiting for a
    -- person: both sides of them are read again whatever the cursors say (batch_sync_plan_pages).
    SELECT w.external_id FROM sync_staging w WHERE w.status IN ('pending', 'retry')
    UNION SELECT c.external_id FROM sync_conflicts c WHERE c.status = 'open'
  ), r AS (
    SELECT coalesce(jsonb_agg(DISTINCT external_id), '[]') AS keys,
           coalesce(jsonb_agg(DISTINCT external_id) FILTER (WHERE external_id !~ '^task-'), '[]') AS remote_ids
    FROM waiting
  )
  SELECT v_run,
         v_kind IN ('full_sync', 'reconciliation'),
         v_now,
         CASE WHEN v_kind = 'delta_sync' THEN v_since ELSE s.local_cursor END,
         -- The OpenProject listing's lower bound ('' = everything).
         CASE WHEN v_kind IN ('full_sync', 'reconciliation') THEN ''
              ELSE to_char(CASE WHEN v_kind = 'delta_sync' THEN v_since ELSE s.remote_cursor END AT TIME ZONE 'UTC',
                           'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
         r.keys, r.remote_ids, v_settings, false, NULL::text, v_kind, v_by, true, v_fresh
  FROM s, r;
END $$;

-- The CLI's way to ask for a run kind: the next run (n8n execute, or the schedule at once) is
-- of this kind. A person who asks is named in the run and its audit.
CREATE OR REPLACE FUNCTION batch_sync_request_run(p_kind text, p_since timestamptz DEFAULT NULL, p_by text DEFAULT NULL)
RETURNS TABLE (requested_kind text, requested_since timestamptz, requested_by text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  IF p_kind IS NULL OR p_kind NOT IN ('full_sync', 'incremental', 'delta_sync', 'reconciliation') THEN
    RAISE EXCEPTION 'run: kind must be one of full_sync, incremental, delta_sync, reconciliation, got "%"', p_kind;
  END IF;
  IF p_kind = 'delta_sync' AND p_since IS NULL THEN
    RAISE EXCEPTION 'run: delta_sync needs "since", the time from which both sides'' changes are read';
  END IF;
  UPDATE sync_state SET requested_kind = p_kind, requested_since = p_since, requested_by = p_by WHERE direction = 'local';
  RETURN QUERY SELECT p_kind, p_since, p_by;
END $$;

-- The kind of a run (incremental when the run is not known).
CREATE OR REPLACE FUNCTION batch_sync_run_kind(p_run_id text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT kind FROM sync_runs WHERE run_id = p_run_id), 'incremental')
$$;

-- The run still holds the lock: its heartbeat moves on. A run that lost the lock (taken over
-- after its heartbeat stopped for LOCK_TIMEOUT_MINUTES) must not write any more: an error.
--
-- Every transaction of a run calls this first, the pages' transactions at once among them, so it
-- must not make them wait for each other: the heartbeat (an UPDATE, whose row lock lasts to the
-- end of the transaction) is written only when it is 5 seconds old or more (measured: written by
-- every call, it serialised all the pages' batches on sync_state's row — 5.5 s of waiting in a
-- 30k-pair full sync, the machine's two cores 60% used); else the row is read FOR SHARE, which
-- pages hold together, and which a takeover (batch_sync_start's FOR UPDATE of the row) waits for:
-- a transaction that passed this check ends before a takeover, one that comes after it fails
-- here. `now()` is the transaction's start: a second call in the same transaction never writes
-- once the first read (no share lock is ever raised to a write lock, which could deadlock).
CREATE OR REPLACE FUNCTION batch_sync_heartbeat(p_run_id text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sync_state SET heartbeat_at = clock_timestamp()
   WHERE direction = 'local' AND running_run_id = p_run_id
     AND (heartbeat_at IS NULL OR heartbeat_at < now() - interval '5 seconds');
  IF FOUND THEN
    RETURN;
  END IF;
  PERFORM 1 FROM sync_state WHERE direction = 'local' AND running_run_id = p_run_id FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run % no longer holds the sync lock (it was taken over or has ended): it writes nothing more', p_run_id;
  END IF;
END $$;

-- The same for the page an execution works on: its heartbeat moves on, and an execution whose
-- page was handed to another (its heartbeat stopped for PAGE_TIMEOUT_SECONDS) writes nothing
-- more. (A run without pages, as in the SQL tests, has nothing to check here.)
CREATE OR REPLACE FUNCTION batch_sync_page_heartbeat(p_run_id text, p_execution_id text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM batch_sync_heartbeat(p_run_id);
  IF NOT EXISTS (SELECT 1 FROM sync_run_pages WHERE run_id = p_run_id) THEN
    RETURN;
  END IF;
  UPDATE sync_run_pages SET heartbeat_at = clock_timestamp()
   WHERE run_id = p_run_id AND claimed_by = p_execution_id AND status = 'claimed';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'execution % no longer holds a page of run % (it was handed to another or is done): it writes nothing more',
      p_execution_id, p_run_id;
  END IF;
END $$;

-- The run's pages: every key the run must look at (tasks changed since the cursor, the work
-- packages OpenProject listed as changed, rows waiting for a retry, open conflicts; in a full
-- sync every task, work package and mirror row), in order (work package ids by number, then
-- task-<id>), cut into pages of at most PAGE_SIZE keys (the run's page size) and as even as can
-- be. Their number is rounded up to a multiple of PARALLEL_WORKERS while a page keeps at least
-- PAGE_SIZE_MIN keys: 10,000 keys in pages of 1000 on 3 workers are 12 pages of 833–834, four
-- rounds of three, not 10 pages of which the last runs alone; 600 keys are 3 pages of 200, not
-- one page on one worker. p_remote: {ids, maxUpdatedAt} of the listing. Tasks are
-- read with a 5-minute overlap before the cursor: updated_at is stamped when a row is written,
-- not when its transaction commits, so an edit committed just after a run read the table still
-- has a stamp before that run's start.
CREATE OR REPLACE FUNCTION batch_sync_plan_pages(p_run_id text, p_remote jsonb)
RETURNS TABLE (pages integer, keys integer) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  run sync_runs;
  v_size integer;
  v_min integer;
  v_workers integer;
BEGIN
  PERFORM batch_sync_heartbeat(p_run_id);
  SELECT * INTO run FROM sync_runs WHERE sync_runs.run_id = p_run_id;
  v_size := coalesce(run.page_size, (run.settings->>'PAGE_SIZE')::integer);
  v_min := greatest(1, least(coalesce((run.settings->>'PAGE_SIZE_MIN')::integer, v_size), v_size));
  v_workers := greatest(1, coalesce((run.settings->>'PARALLEL_WORKERS')::integer, 1));
  -- A person's choices for open conflicts go to both sides in this run (their keys are read:
  -- open conflicts always are).
  PERFORM batch_sync_apply_resolutions(p_run_id, run.workflow_id, run.execution_id);
  UPDATE sync_runs SET remote_max = nullif(p_remote->>'maxUpdatedAt', '') WHERE sync_runs.run_id = p_run_id;
  DELETE FROM sync_run_pages WHERE sync_run_pages.run_id = p_run_id;
  INSERT INTO sync_run_pages (run_id, page_no, keys)
  WITH k AS (
    SELECT coalesce(t.external_id, 'task-' || t.id) AS key FROM tasks t
     WHERE run.full_sync OR t.updated_at >= run.local_since - interval '5 minutes'
    UNION SELECT jsonb_array_elements_text(coalesce(p_remote->'ids', '[]'))
    UNION SELECT s.external_id FROM sync_staging s WHERE s.status IN ('pending', 'retry')
    UNION SELECT c.external_id FROM sync_conflicts c WHERE c.status = 'open'
    UNION SELECT w.external_id FROM work_packages w WHERE run.full_sync
  ), ordered AS (
    SELECT key, row_number() OVER (ORDER BY key !~ '^[0-9]+$', CASE WHEN key ~ '^[0-9]+$' THEN key::numeric END, key) - 1 AS n,
           count(*) OVER () AS total
    FROM k
  ), counted AS (
    -- pages: at least ceil(total / size) (no page above the size); rounded up to a multiple of
    -- the workers unless that makes a page smaller than v_min.
    SELECT key, n, total,
           greatest(ceil(total::numeric / v_size),
                    least(ceil(ceil(total::numeric / v_size) / v_workers) * v_workers, floor(total::numeric / v_min)))::bigint AS pages
    FROM ordered
  )
  -- Key n of total goes to page floor(n · pages / total): every page holds floor or ceil of total / pages.
  SELECT p_run_id, (n * pages / total)::integer, jsonb_agg(key ORDER BY n) FROM counted GROUP BY (n * pages / total)::integer;
  RETURN QUERY SELECT count(*)::integer, coalesce(sum(jsonb_array_length(p.keys)), 0)::integer
    FROM sync_run_pages p WHERE p.run_id = p_run_id;
END $$;

-- The coordinator's loop: pages to send to a worker now (at most PARALLEL_WORKERS in flight),
-- and whether the run is through. A page claimed by an execution that stopped beating, or sent
-- and never claimed (a lost queue job), for PAGE_TIMEOUT_SECONDS is sent again; one sent
-- 1 + MAX_RETRIES times fails.
--
-- It answers as soon as there is something to do: while every worker's slot is taken (or no
-- page is ready to send) and the run is not through, it waits, up to 2 seconds, looking every
-- 50 ms, so that a page is sent within ~50 ms of a slot coming free (the coordinator calls it
-- again at once). It waits before it takes any lock (the heartbeat comes after), so the pages'
-- transactions never wait for it. Measured: polled every second instead, a 100k full sync
-- (102 pages of ~1 s on 3 slots) left slots idle half a second a page on average.
CREATE OR REPLACE FUNCTION batch_sync_next_pages(p_run_id text)
RETURNS TABLE (dispatch jsonb, total integer, done integer, failed integer, in_flight integer, finished boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  run sync_runs;
  v_timeout interval;
  v_room integer;
BEGIN
  SELECT * INTO run FROM sync_runs WHERE sync_runs.run_id = p_run_id;
  v_timeout := make_interval(secs => (run.settings->>'PAGE_TIMEOUT_SECONDS')::integer);
  FOR i IN 1..40 LOOP
    EXIT WHEN EXISTS (
      SELECT 1 FROM sync_run_pages p WHERE p.run_id = p_run_id
      HAVING count(*) FILTER (WHERE p.status IN ('done', 'failed')) = count(*)
          OR (count(*) FILTER (WHERE p.status = 'queued' AND (p.dispatched_at IS NULL OR p.dispatched_at < clock_timestamp() - v_timeout)) > 0
              AND count(*) FILTER (WHERE p.status = 'claimed' OR (p.status = 'queued' AND p.dispatched_at >= clock_timestamp() - v_timeout))
                  < (run.settings->>'PARALLEL_WORKERS')::integer)
          OR count(*) FILTER (WHERE p.status = 'claimed' AND p.heartbeat_at < clock_timestamp() - v_timeout) > 0);
    PERFORM pg_sleep(0.05);
  END LOOP;
  PERFORM batch_sync_heartbeat(p_run_id);
  -- Claimed by an execution that stopped beating: back to the queue.
  UPDATE sync_run_pages p SET status = 'queued', claimed_by = NULL, dispatched_at = NULL,
         last_error = jsonb_build_object('code', 'page_timeout', 'message',
           format('execution %s stopped beating at %s', p.claimed_by, p.heartbeat_at))
   WHERE p.run_id = p_run_id AND p.status = 'claimed' AND p.heartbeat_at < clock_timestamp() - v_timeout;
  -- Sent too often: failed.
  UPDATE sync_run_pages p SET status = 'failed', finished_at = clock_timestamp(),
         last_error = jsonb_build_object('code', 'page_failed', 'message',
           format('sent %s times without finishing', p.dispatches), 'last', p.last_error)
   WHERE p.run_id = p_run_id AND p.status = 'queued' AND p.dispatches > (run.settings->>'MAX_RETRIES')::integer
     AND (p.dispatched_at IS NULL OR p.dispatched_at < clock_timestamp() - v_timeout);
  SELECT greatest(0, (run.settings->>'PARALLEL_WORKERS')::integer - count(*))::integer INTO v_room
    FROM sync_run_pages p
   WHERE p.run_id = p_run_id
     AND (p.status = 'claimed' OR (p.status = 'queued' AND p.dispatched_at >= clock_timestamp() - v_timeout));
  RETURN QUERY
  WITH pick AS (
    UPDATE sync_run_pages p SET dispatched_at = clock_timestamp(), dispatches = p.dispatches + 1
     WHERE (p.run_id, p.page_no) IN (
       SELECT q.run_id, q.page_no FROM sync_run_pages q
        WHERE q.run_id = p_run_id AND q.status = 'queued'
          AND (q.dispatched_at IS NULL OR q.dispatched_at < clock_timestamp() - v_timeout)
        ORDER BY q.page_no LIMIT v_room)
    RETURNING p.page_no
  ), counts AS (
    SELECT count(*)::integer AS total,
           count(*) FILTER (WHERE p.status = 'done')::integer AS done,
           count(*) FILTER (WHERE p.status = 'failed')::integer AS failed,
           count(*) FILTER (WHERE p.status = 'claimed')::integer AS claimed
      FROM sync_run_pages p WHERE p.run_id = p_run_id
  )
  SELECT coalesce((SELECT jsonb_agg(jsonb_build_object('run_id', p_run_id, 'page_no', pick.page_no) ORDER BY pick.page_no) FROM pick), '[]'),
         c.total, c.done, c.failed, c.claimed + (SELECT count(*)::integer FROM pick), c.done + c.failed = c.total
  FROM counts c;
END $$;

-- A page execution starts: it takes the page if it is queued (or its holder stopped beating).
-- A page sent twice, already done, or of a run that ended is not taken (claimed = false).
CREATE OR REPLACE FUNCTION batch_sync_claim_page(p_run_id text, p_page_no integer, p_execution_id text)
RETURNS TABLE (claimed boolean, run_id text, page_no integer, keys jsonb, remote_ids jsonb, settings jsonb, reason text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  run sync_runs;
  v_keys jsonb;
BEGIN
  SELECT * INTO run FROM sync_runs WHERE sync_runs.run_id = p_run_id;
  IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM sync_state WHERE direction = 'local' AND running_run_id = p_run_id) THEN
    RETURN QUERY SELECT false, p_run_id, p_page_no, '[]'::jsonb, '[]'::jsonb, '{}'::jsonb, 'the run is not running';
    RETURN;
  END IF;
  UPDATE sync_run_pages p SET status = 'claimed', claimed_by = p_execution_id, claimed_at = clock_timestamp(),
                              heartbeat_at = clock_timestamp()
   WHERE p.run_id = p_run_id AND p.page_no = p_page_no
     AND (p.status = 'queued' OR (p.status = 'claimed' AND p.heartbeat_at <
          clock_timestamp() - make_interval(secs => (run.settings->>'PAGE_TIMEOUT_SECONDS')::integer)))
  RETURNING p.keys INTO v_keys;
  IF NOT FOUND THEN
    RETURN QUERY SELECT false, p_run_id, p_page_no, '[]'::jsonb, '[]'::jsonb, '{}'::jsonb, 'the page is taken or done';
    RETURN;
  END IF;
  PERFORM batch_sync_heartbeat(p_run_id);
  RETURN QUERY SELECT true, p_run_id, p_page_no, v_keys,
    coalesce((SELECT jsonb_agg(k) FROM jsonb_array_elements_text(v_keys) k WHERE k ~ '^[0-9]+$'), '[]'),
    run.settings || jsonb_build_object('FULL_SYNC', run.full_sync, 'KIND', run.kind,
                                       'BATCH_SIZE', coalesce(run.batch_size, (run.settings->>'BATCH_SIZE')::integer))
      || batch_sync_mapping_links(run.settings, false),
    NULL::text;
END $$;

-- A page's local records: the tasks of its keys (one row, a JSON array).
CREATE OR REPLACE FUNCTION batch_sync_page_tasks(p_keys jsonb)
RETURNS TABLE (records jsonb, count integer) LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'sync_id', coalesce(t.external_id, 'task-' || t.id), 'title', t.title, 'description', t.description,
           'status', t.status, 'due_date', t.due_date, 'assignee', t.assignee, 'deleted_at', t.deleted_at,
           'updated_at', t.updated_at) ORDER BY t.id), '[]'),
         count(*)::integer
  FROM tasks t
  WHERE coalesce(t.external_id, 'task-' || t.id) IN (SELECT jsonb_array_elements_text(p_keys))
$$;

-- A page is through: Compare's counts are kept for the run's metrics.
CREATE OR REPLACE FUNCTION batch_sync_complete_page(p_run_id text, p_page_no integer, p_summary jsonb, p_execution_id text)
RETURNS TABLE (done boolean) LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
  v_done boolean;
BEGIN
  PERFORM batch_sync_page_heartbeat(p_run_id, p_execution_id);
  UPDATE sync_run_pages SET status = 'done', finished_at = clock_timestamp(), summary = coalesce(p_summary, '{}')
   WHERE run_id = p_run_id AND page_no = p_page_no AND claimed_by = p_execution_id AND status = 'claimed';
  v_done := FOUND;
  -- Every key of the page was read and planned again: a row an earlier run left pending or
  -- waiting that this run did not plan again (the pair needs no such write any more: it is in
  -- sync, in conflict or invalid now) is superseded.
  IF v_done AND batch_sync_run_kind(p_run_id) <> 'reconciliation' THEN
    UPDATE sync_staging s SET status = 'superseded'
     WHERE s.external_id IN (SELECT jsonb_array_elements_text(p.keys) FROM sync_run_pages p
                              WHERE p.run_id = p_run_id AND p.page_no = p_page_no)
       AND (s.status IN ('pending', 'retry')) IS TRUE AND s.run_id <> p_run_id AND s.seen_run_id IS DISTINCT FROM p_run_id;
  END IF;
  RETURN QUERY SELECT v_done;
END $$;

-- A page that could not go on (OpenProject could not be read): back to the queue, to be sent
-- again by the coordinator (at most 1 + MAX_RETRIES times in all).
CREATE OR REPLACE FUNCTION batch_sync_fail_page(p_run_id text, p_page_no integer, p_error jsonb, p_execution_id text)
RETURNS TABLE (reason text) LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sync_run_pages SET status = 'queued', claimed_by = NULL, dispatched_at = NULL,
         last_error = jsonb_build_object('code', 'page_error', 'message', p_error->>'message', 'execution', p_execution_id)
   WHERE run_id = p_run_id AND page_no = p_page_no AND claimed_by = p_execution_id AND status = 'claimed';
  RETURN QUERY SELECT format('page %s of run %s failed: %s', p_page_no, p_run_id, p_error->>'message');
END $$;


-- Creates of work packages whose answer never came back (a timeout, or the process died
-- between the POST and recording its answer): the local keys, to look up by their marker
-- before anything is created again.
DROP FUNCTION IF EXISTS batch_sync_unfinished_creates();
CREATE OR REPLACE FUNCTION batch_sync_unfinished_creates(p_keys jsonb DEFAULT NULL)
RETURNS TABLE (keys jsonb) LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(DISTINCT s.external_id), '[]')
  FROM sync_staging s
  JOIN tasks t ON 'task-' || t.id = s.external_id AND t.external_id IS NULL
  WHERE s.remote_op = 'create' AND s.status IN ('pending', 'retry', 'dead')
    AND (p_keys IS NULL OR s.external_id IN (SELECT jsonb_array_elements_text(p_keys)))
$$;

-- The work packages Find by Marker found for unfinished creates ({key, id, lockVersion,
-- duplicates}): each is the create's answer, recorded as if it had come back (the task linked,
-- the mirror written), so it is not created again. Further work packages with the same marker
-- are reported in the audit for a person; nothing is deleted.
CREATE OR REPLACE FUNCTION batch_sync_recover_creates(p_run_id text, p_found jsonb, p_workflow_id text, p_execution_id text)
RETURNS TABLE (recovered integer) LANGUAGE plpgsql AS $$
DECLARE
  f jsonb;
  r sync_staging;
  n integer := 0;
BEGIN
  PERFORM batch_sync_page_heartbeat(p_run_id, p_execution_id);
  IF batch_sync_run_kind(p_run_id) = 'reconciliation' THEN
    RETURN QUERY SELECT 0;  -- a reconciliation writes nothing; the next sync recovers them
    RETURN;
  END IF;
  FOR f IN SELECT * FROM jsonb_array_elements(coalesce(p_found, '[]')) LOOP
    SELECT * INTO r FROM sync_staging
     WHERE external_id = f->>'key' AND remote_op = 'create' AND status IN ('pending', 'retry', 'dead')
     ORDER BY id DESC LIMIT 1;
    CONTINUE WHEN NOT FOUND;
    UPDATE sync_staging SET status = 'superseded'
     WHERE external_id = r.external_id AND remote_op = 'create' AND status IN ('pending', 'retry', 'dead') AND id <> r.id;
    PERFORM batch_sync_record_remote(p_run_id,
      jsonb_build_array(jsonb_build_object('idempotency_key', r.idempotency_key,
        'result', jsonb_build_object('ok', true, 'status', 200, 'recovered', true, 'id', f->'id',
                                     'lockVersion', f->'lockVersion', 'updatedAt', f->'updatedAt'))),
      p_workflow_id, p_execution_id);
    IF jsonb_array_length(coalesce(f->'duplicates', '[]')) > 0 THEN
      PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, f->>'id', 'remote.duplicate', NULL, NULL,
                               jsonb_build_object('local_key', r.external_id, 'kept', f->'id', 'duplicates', f->'duplicates'));
    END IF;
    n := n + 1;
  END LOOP;
  RETURN QUERY SELECT n;
END $$;

-- A batch whose statement or request failed as a whole (the error output of Stage, Process or
-- Record): its rows still pending go to a retry with the planned delay (or the dead letter),
-- the failure is in the audit, and the run goes on with the next batch.
CREATE OR REPLACE FUNCTION batch_sync_fail_batch(p_run_id text, p_keys jsonb, p_error jsonb, p_workflow_id text, p_execution_id text)
RETURNS TABLE (failed integer) LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET enable_seqscan = off AS $$
DECLARE
  n integer;
BEGIN
  WITH up AS (
    UPDATE sync_staging
       SET attempts = attempts + 1,
           last_error = jsonb_build_object('code', 'batch_failed', 'message', p_error->>'message', 'error', p_error),
           status = CASE WHEN attempts + 1 > jsonb_array_length(coalesce(retry_delays_ms, '[]')) THEN 'dead' ELSE 'retry' END,
           next_attempt_at = now() + make_interval(secs => coalesce((retry_delays_ms->>(attempts))::numeric, 0) / 1000)
     WHERE run_id = p_run_id AND (status = 'pending') IS TRUE AND idempotency_key IN (SELECT jsonb_array_elements_text(p_keys))
    RETURNING 1)
  SELECT count(*)::integer INTO n FROM up;
  PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, '*', 'batch.failed', NULL, NULL,
                           jsonb_build_object('rows', jsonb_array_length(coalesce(p_keys, '[]')), 'pending', n, 'error', p_error));
  RETURN QUERY SELECT n;
END $$;

-- A run that cannot go on (OpenProject could not be read): the metrics row says so, the lock
-- is released, the cursors stay. The workflow then ends the execution as an error.
CREATE OR REPLACE FUNCTION batch_sync_fail_run(p_run_id text, p_stage text, p_error jsonb, p_workflow_id text, p_execution_id text)
RETURNS TABLE (run_id text, reason text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_started timestamptz;
  v_reason text := format('%s failed: %s', p_stage, coalesce(p_error->>'message', p_error::text));
BEGIN
  SELECT running_since INTO v_started FROM sync_state WHERE direction = 'local' AND running_run_id = p_run_id;
  INSERT INTO sync_metrics (run_id, workflow_id, execution_id, mode, kind, started_at, total_items, processed_items,
                            failed_items, conflicts_detected, conflicts_resolved, duration_ms, status, reason)
  VALUES (p_run_id, p_workflow_id, p_execution_id, 'unknown', batch_sync_run_kind(p_run_id), coalesce(v_started, now()), 0, 0, 0, 0, 0,
          (extract(epoch FROM clock_timestamp() - coalesce(v_started, now())) * 1000)::integer, 'failed', v_reason)
  ON CONFLICT (run_id) DO NOTHING;
  UPDATE sync_state SET running_run_id = NULL, running_since = NULL, heartbeat_at = NULL, running_execution_id = NULL
   WHERE direction = 'local' AND running_run_id = p_run_id;
  UPDATE sync_runs SET status = 'failed', finished_at = clock_timestamp() WHERE sync_runs.run_id = p_run_id AND status = 'running';
  RETURN QUERY SELECT p_run_id, v_reason;
END $$;

-- A person re-queues a dead-lettered row: the next run reads its pair again and plans it anew.
CREATE OR REPLACE FUNCTION batch_sync_requeue(p_key text, p_actor text)
RETURNS TABLE (requeued integer) LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  WITH up AS (
    UPDATE sync_staging SET status = 'retry', attempts = 0, next_attempt_at = now()
     WHERE external_id = p_key AND status = 'dead' RETURNING 1)
  SELECT count(*)::integer INTO n FROM up;
  IF n > 0 THEN
    INSERT INTO sync_audit (run_id, actor, external_id, action, detail)
    VALUES ('-', coalesce(p_actor, 'unknown'), p_key, 'dead.requeued', jsonb_build_object('rows', n));
  END IF;
  RETURN QUERY SELECT n;
END $$;

-- (batch_sync_changed_tasks read a whole run's tasks for one execution; pages read theirs
-- with batch_sync_page_tasks.)
DROP FUNCTION IF EXISTS batch_sync_changed_tasks(boolean, timestamptz, jsonb);

-- Base records for Compare: the mirror rows of the given keys (all of them in a full sync).
CREATE OR REPLACE FUNCTION batch_sync_base(p_full boolean, p_keys jsonb)
RETURNS TABLE (records jsonb, count integer) LANGUAGE sql STABLE AS $$
  -- A checksum emptied by batch_sync_apply_resolutions is left out: the core computes it from
  -- the snapshot.
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', w.external_id, 'snapshot', w.data, 'version', w.lock_version)
           || CASE WHEN w.checksum = '' THEN '{}'::jsonb ELSE jsonb_build_object('checksum', w.checksum) END
           ORDER BY w.external_id), '[]'),
         count(*)::integer
  FROM work_packages w
  WHERE p_full OR w.external_id IN (SELECT jsonb_array_elements_text(p_keys))
$$;

-- Get Base of a page: the mirror rows of its keys, and the end of its read stage (both sides
-- are read by then) for the run's per-stage timings.
CREATE OR REPLACE FUNCTION batch_sync_page_base(p_run_id text, p_page_no integer, p_keys jsonb, p_execution_id text)
RETURNS TABLE (records jsonb, count integer) LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sync_run_pages SET read_at = clock_timestamp(), write_started_at = NULL
   WHERE run_id = p_run_id AND page_no = p_page_no AND claimed_by = p_execution_id;
  RETURN QUERY SELECT * FROM batch_sync_base(false, p_keys);
END $$;

-- Stage Batch: one set-based statement per batch of plan rows, stored as Plan Staging Rows
-- wrote them (each row already holds its OpenProject request; the columns are the plan row's
-- fields, checked against the core's schema by tests/schema.rs). A key seen again (a retry) is
-- staged again.
CREATE OR REPLACE FUNCTION batch_sync_stage(p_run_id text, p_rows jsonb, p_execution_id text DEFAULT NULL)
RETURNS TABLE (staged integer) LANGUAGE sql SET enable_seqscan = off AS $$
  SELECT batch_sync_heartbeat(p_run_id);
  -- A batch begins (timed for the adaptive batch size: sync_batches).
  INSERT INTO sync_batches (run_id, execution_id, rows) VALUES (p_run_id, p_execution_id, coalesce(jsonb_array_length(p_rows), 0));
  -- A row waiting for its retry that this run plans again: noted, so that the page's end does
  -- not take it for a plan nobody makes any more (batch_sync_complete_page).
  UPDATE sync_staging SET seen_run_id = p_run_id
   WHERE status = 'retry' AND next_attempt_at > now()
     AND idempotency_key IN (SELECT r->>'idempotency_key' FROM jsonb_array_elements(p_rows) r);
  WITH input AS (
    SELECT DISTINCT ON (r.idempotency_key) r.*
    FROM jsonb_to_recordset(p_rows) AS r(
      external_id text, operation text, data jsonb, checksum text, decision text, decision_index integer,
      local_action text, local_record jsonb, remote jsonb, remote_version integer, conflict jsonb,
      idempotency_key text, retry_delays_ms jsonb)
    ORDER BY r.idempotency_key
  ), up AS (
    INSERT INTO sync_staging AS s
      (run_id, external_id, operation, data, checksum, decision, local_action, local_record,
       remote_op, remote_body, remote_lock_version, remote_version, conflict, idempotency_key, retry_delays_ms)
    SELECT p_run_id, external_id, operation, nullif(data, 'null'), checksum, decision, local_action,
           nullif(local_record, 'null'), remote->>'op', nullif(remote->'body', 'null'),
           (remote->>'lock_version')::integer, remote_version, nullif(conflict, 'null'),
           idempotency_key, retry_delays_ms
    FROM input
    ON CONFLICT (idempotency_key) DO UPDATE
      SET run_id = EXCLUDED.run_id, status = 'pending', data = EXCLUDED.data, operation = EXCLUDED.operation,
          decision = EXCLUDED.decision, local_action = EXCLUDED.local_action, local_record = EXCLUDED.local_record,
          remote_op = EXCLUDED.remote_op, remote_body = EXCLUDED.remote_body,
          remote_lock_version = EXCLUDED.remote_lock_version, remote_version = EXCLUDED.remote_version,
          conflict = EXCLUDED.conflict
      -- A dead-lettered row stays dead until a person re-queues it; a row waiting for its retry
      -- is not written again before its time (it stays as it is, in the run that failed it).
      WHERE s.status <> 'dead' AND NOT (s.status = 'retry' AND s.next_attempt_at > now())
    RETURNING 1
  ), superseded AS (
    -- An older plan for the same key (e.g. a row left for a retry whose record has changed
    -- since) is replaced by this one.
    -- (Found by key, not through the index of open rows: see batch_sync_process.)
    UPDATE sync_staging s SET status = 'superseded'
    WHERE s.external_id IN (SELECT external_id FROM input) AND (s.status IN ('pending', 'retry')) IS TRUE
      AND s.idempotency_key NOT IN (SELECT idempotency_key FROM input)
    RETURNING 1
  )
  SELECT count(*)::integer FROM up
$$;

-- A conflict left for a person, as a plan row carries it (or as Record Conflicts builds it from
-- a decision): {type, strategy, conflicts, local_checksum, remote_checksum}. Returns whether it
-- was opened or its content (type, conflicting paths and values) changed; only then is there an
-- audit row. The sides' checksums follow silently (they move when the other fields sync).
CREATE OR REPLACE FUNCTION batch_sync_open_conflict(p_run_id text, p_key text, p_conflict jsonb,
                                                   p_workflow_id text, p_execution_id text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  old sync_conflicts;
  v_conflicts jsonb := coalesce(p_conflict->'conflicts', '[]');
BEGIN
  SELECT * INTO old FROM sync_conflicts WHERE external_id = p_key AND status = 'open' FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO sync_conflicts (run_id, external_id, conflict_type, strategy, conflicts, local_checksum, remote_checksum)
    VALUES (p_run_id, p_key, p_conflict->>'type', p_conflict->>'strategy', v_conflicts,
            p_conflict->>'local_checksum', p_conflict->>'remote_checksum');
  ELSIF (old.conflict_type, old.conflicts) IS DISTINCT FROM (p_conflict->>'type', v_conflicts) THEN
    UPDATE sync_conflicts SET run_id = p_run_id, conflict_type = p_conflict->>'type', conflicts = v_conflicts,
                              local_checksum = p_conflict->>'local_checksum', remote_checksum = p_conflict->>'remote_checksum'
      WHERE id = old.id;
  ELSE
    UPDATE sync_conflicts SET local_checksum = p_conflict->>'local_checksum', remote_checksum = p_conflict->>'remote_checksum'
      WHERE id = old.id AND (local_checksum, remote_checksum)
            IS DISTINCT FROM (p_conflict->>'local_checksum', p_conflict->>'remote_checksum');
    RETURN false;
  END IF;
  PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, p_key, 'conflict.open',
                           p_conflict->>'remote_checksum', p_conflict->>'local_checksum',
                           jsonb_build_object('type', p_conflict->'type', 'strategy', p_conflict->'strategy'));
  RETURN true;
END $$;

-- After a row of p_key was written: the conflict it leaves open (its other fields were synced)
-- is recorded; without one, an open conflict of the key is closed (a person aligned the sides,
-- or the strategy resolved it), with an audit row.
CREATE OR REPLACE FUNCTION batch_sync_close_conflict(p_run_id text, p_key text, p_decision text,
                                                    p_conflict jsonb, p_workflow_id text, p_execution_id text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_conflict IS NOT NULL THEN
    PERFORM batch_sync_open_conflict(p_run_id, p_key, p_conflict, p_workflow_id, p_execution_id);
    RETURN;
  END IF;
  UPDATE sync_conflicts SET status = 'resolved', resolved_at = now()
    WHERE external_id = p_key AND status = 'open';
  IF FOUND THEN
    PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, p_key, 'conflict.resolved', NULL, NULL,
                             jsonb_build_object('decision', p_decision));
  END IF;
END $$;

-- Process Batch, one transaction: the local writes, the mirror for rows with no remote write
-- (with the seed story's checksum guard), audit rows; rows with a remote write stay pending
-- until OpenProject answered. Returns the remote requests of the batch (one row, a JSON array).
--
-- A batch's rows are found by their keys (the unique index), never through the index of open
-- rows: "(status = 'pending') IS TRUE" keeps the planner off sync_staging_open, whose entries
-- of rows processed since its last vacuum stay until then (a status change is never a HOT
-- update) and which a bitmap scan reads all of: measured, a 20k full sync's later batches read
-- 20,000 such entries each, so a batch cost grew with the run (and with the table's history).
-- And its statements are planned at each call (plan_cache_mode): a plan cached by a pooled
-- connection while staging was nearly empty (a sequential scan) was kept as the table grew.
-- Sequential scans are off in it (enable_seqscan): staging grows by a page's rows every few
-- seconds during a first full sync, faster than autovacuum analyzes it, and with statistics of
-- a nearly empty table the planner scans all of it for a batch's 50 keys (measured: 34 ms a
-- batch at 100k rows, against 1.4 ms by the key index). The same in batch_sync_fail_batch,
-- batch_sync_stage and batch_sync_complete_page, whose statements all go by keys.
CREATE OR REPLACE FUNCTION batch_sync_process(p_run_id text, p_keys jsonb, p_workflow_id text, p_execution_id text)
RETURNS TABLE (ops jsonb, processed integer) LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET enable_seqscan = off AS $$
DECLARE
  r sync_staging;
  rec jsonb;
  before_sum text;
  n integer := 0;
  v_started timestamptz;
  v_read timestamptz;
  v_now_at timestamptz;
  v_ops jsonb;
BEGIN
  PERFORM batch_sync_page_heartbeat(p_run_id, p_execution_id);
  -- The page's compare stage ends with its first batch processed (per-stage timings).
  UPDATE sync_run_pages SET write_started_at = clock_timestamp()
   WHERE run_id = p_run_id AND claimed_by = p_execution_id AND status = 'claimed' AND write_started_at IS NULL;
  SELECT running_since INTO v_started FROM sync_state WHERE direction = 'local' AND running_run_id = p_run_id;
  v_started := coalesce(v_started, now());
  -- Rows that only write the mirror (no local write, no OpenProject request, no conflict left
  -- open; a first full sync is nearly all such rows) are done together, set-based, with what the
  -- loop below would do for each: the mirror (checksum guard), the base.* audit row when the
  -- mirror changed, the row processed, an open conflict of the key closed with its audit row
  -- (per key in the loop's order). A key with two rows in the batch is left to the loop.
  -- Measured (pg_stat_statements, 30k pairs): this function was a sixth of PostgreSQL's time.
  WITH f AS (
    SELECT s.id, s.external_id, s.operation, s.data, s.checksum, s.remote_version, s.decision
      FROM sync_staging s
     WHERE s.run_id = p_run_id AND (s.status = 'pending') IS TRUE AND s.remote_op IS NULL AND s.conflict IS NULL
       AND coalesce(s.local_action, 'none') NOT IN ('create', 'update', 'delete')
       AND s.idempotency_key IN (SELECT jsonb_array_elements_text(p_keys))
     ORDER BY s.id FOR UPDATE
  ), b AS (
    SELECT f.*, w.checksum AS before_sum
      FROM (SELECT f.*, count(*) OVER (PARTITION BY f.external_id) AS rows_of_key FROM f) f
      LEFT JOIN work_packages w ON w.external_id = f.external_id
     WHERE f.rows_of_key = 1
  ), gone AS (
    DELETE FROM work_packages w USING b WHERE b.operation = 'delete' AND w.external_id = b.external_id
    RETURNING 1
  ), mirrored AS (
    INSERT INTO work_packages (external_id, data, checksum, lock_version, synced_at)
    SELECT b.external_id, b.data, b.checksum, b.remote_version, now() FROM b WHERE b.operation IN ('insert', 'update')
    ON CONFLICT (external_id) DO UPDATE
      SET data = EXCLUDED.data, checksum = EXCLUDED.checksum,
          lock_version = coalesce(EXCLUDED.lock_version, work_packages.lock_version), synced_at = now()
      WHERE work_packages.checksum IS DISTINCT FROM EXCLUDED.checksum
         OR (EXCLUDED.lock_version IS NOT NULL AND work_packages.lock_version IS DISTINCT FROM EXCLUDED.lock_version)
    RETURNING 1
  ), done AS (
    UPDATE sync_staging s SET status = 'processed', processed_at = now(), attempts = s.attempts + 1
      FROM b WHERE s.id = b.id
    RETURNING 1
  ), closed AS (
    UPDATE sync_conflicts c SET status = 'resolved', resolved_at = now()
      FROM b WHERE c.external_id = b.external_id AND c.status = 'open'
    RETURNING c.external_id
  ), audited AS (
    -- (The run's kind and requester filled in here, once: the audit trigger then has nothing to look up.)
    INSERT INTO sync_audit (run_id, workflow_id, execution_id, external_id, action, before_checksum, after_checksum, detail,
                            run_kind, requested_by)
    SELECT p_run_id, p_workflow_id, p_execution_id, a.external_id, a.action, a.before_sum, a.after_sum,
           jsonb_build_object('decision', a.decision), run.kind, run.requested_by
      FROM (SELECT b.id, 0 AS step, b.external_id, 'base.' || b.operation AS action, b.before_sum, b.checksum AS after_sum, b.decision
              FROM b WHERE b.operation <> 'none' AND b.before_sum IS DISTINCT FROM b.checksum
            UNION ALL
            SELECT b.id, 1, b.external_id, 'conflict.resolved', NULL, NULL, b.decision
              FROM b JOIN closed ON closed.external_id = b.external_id) a
      LEFT JOIN sync_runs run ON run.run_id = p_run_id
     ORDER BY a.id, a.step
    RETURNING 1
  )
  SELECT count(*) INTO n FROM done;
  FOR r IN SELECT * FROM sync_staging
           WHERE run_id = p_run_id AND (status = 'pending') IS TRUE
             AND idempotency_key IN (SELECT jsonb_array_elements_text(p_keys))
           ORDER BY id FOR UPDATE
  LOOP
    -- The new local state: the planned local record, or (when the local side was not in the
    -- batch, as in an incremental run) the agreed record, which is in the local shape.
    rec := coalesce(r.local_record, r.data);
    -- Tasks have no lockVersion: a task edited after this run read it (or, when it was not read,
    -- after the run started) is not overwritten. The row waits; the next run reads the edit.
    IF r.local_action IN ('update', 'delete') THEN
      SELECT t.updated_at INTO v_now_at FROM tasks t WHERE batch_sync_key(t) = r.external_id FOR UPDATE;
      v_read := coalesce((r.local_record->>'updated_at')::timestamptz, v_started);
      IF v_now_at IS NOT NULL AND v_now_at > v_read THEN
        UPDATE sync_staging
          SET status = 'retry', attempts = attempts + 1,
              last_error = jsonb_build_object('code', 'local_changed', 'message', 'the task changed after it was read')
          WHERE id = r.id;
        CONTINUE;
      END IF;
    END IF;
    IF r.local_action = 'create' THEN
      INSERT INTO tasks (external_id, title, description, status, due_date, assignee)
      VALUES (r.external_id, rec->>'title', coalesce(rec->>'description', ''),
              coalesce(rec->>'status', 'New'), (rec->>'due_date')::date, rec->>'assignee')
      ON CONFLICT (external_id) DO UPDATE
        SET title = EXCLUDED.title, description = EXCLUDED.description,
            status = EXCLUDED.status, due_date = EXCLUDED.due_date, assignee = EXCLUDED.assignee, deleted_at = NULL;
    ELSIF r.local_action = 'update' THEN
      UPDATE tasks t SET title = rec->>'title', description = coalesce(rec->>'description', ''),
                         status = coalesce(rec->>'status', t.status), due_date = (rec->>'due_date')::date,
                         assignee = rec->>'assignee'
      WHERE batch_sync_key(t) = r.external_id;
    ELSIF r.local_action = 'delete' THEN
      UPDATE tasks t SET deleted_at = coalesce(t.deleted_at, now()) WHERE batch_sync_key(t) = r.external_id;
    END IF;
    IF r.local_action IN ('create', 'update', 'delete') THEN
      PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, r.external_id, 'local.' || r.local_action,
                               NULL, r.checksum, jsonb_build_object('decision', r.decision));
    END IF;
    IF r.remote_op IS NULL THEN
      SELECT checksum INTO before_sum FROM work_packages WHERE external_id = r.external_id;
      IF r.operation <> 'none' THEN
        PERFORM batch_sync_write_mirror(r.external_id, r.operation = 'delete', r.data, r.checksum, r.remote_version);
      END IF;
      IF r.operation <> 'none' AND before_sum IS DISTINCT FROM r.checksum THEN
        PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, r.external_id, 'base.' || r.operation,
                                 before_sum, r.checksum, jsonb_build_object('decision', r.decision));
      END IF;
      UPDATE sync_staging SET status = 'processed', processed_at = now(), attempts = attempts + 1
      WHERE id = r.id;
      PERFORM batch_sync_close_conflict(p_run_id, r.external_id, r.decision, r.conflict, p_workflow_id, p_execution_id);
    END IF;
    n := n + 1;
  END LOOP;
  SELECT coalesce(jsonb_agg(jsonb_build_object('op', s.remote_op, 'id', s.external_id, 'body', s.remote_body,
           'idempotency_key', s.idempotency_key) ORDER BY s.id), '[]') INTO v_ops
    FROM sync_staging s
    WHERE s.run_id = p_run_id AND (s.status = 'pending') IS TRUE AND s.remote_op IS NOT NULL
      AND s.idempotency_key IN (SELECT jsonb_array_elements_text(p_keys));
  -- A batch with no OpenProject request ends here (the page workflow goes straight on to the
  -- next batch): as batch_sync_record_remote would end it with no results.
  UPDATE sync_batches SET processed_at = clock_timestamp(),
         finished_at = CASE WHEN v_ops = '[]' THEN clock_timestamp() END,
         writes = CASE WHEN v_ops = '[]' THEN 0 END, throttled = CASE WHEN v_ops = '[]' THEN 0 END
   WHERE id = (SELECT max(b.id) FROM sync_batches b WHERE b.run_id = p_run_id AND b.execution_id = p_execution_id);
  RETURN QUERY SELECT v_ops, n;
END $$;

-- After the OpenProject requests of a batch: successes update the mirror (with the lockVersion
-- OpenProject returned) and link created work packages to their tasks; failures (409
-- UpdateConflict included) stay for a retry with the planned delay, or go to the dead letter;
-- a 422 (OpenProject rejected the content, e.g. a blank subject) is permanent and goes to the
-- dead letter at once with its reason.
CREATE OR REPLACE FUNCTION batch_sync_record_remote(p_run_id text, p_results jsonb, p_workflow_id text, p_execution_id text)
RETURNS TABLE (succeeded integer, failed integer) LANGUAGE plpgsql AS $$
DECLARE
  x jsonb;
  r sync_staging;
  res jsonb;
  new_key text;
  ok_n integer := 0;
  fail_n integer := 0;
  delays jsonb;
BEGIN
  PERFORM batch_sync_page_heartbeat(p_run_id, p_execution_id);
  FOR x IN SELECT * FROM jsonb_array_elements(p_results) LOOP
    SELECT * INTO r FROM sync_staging WHERE idempotency_key = x->>'idempotency_key' FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    res := x->'result';
    IF (res->>'ok')::boolean THEN
      new_key := r.external_id;
      IF r.remote_op = 'create' THEN
        new_key := res->>'id';
        -- (A task already linked to this work package keeps it: the audit row says so.)
        UPDATE tasks t SET external_id = new_key
         WHERE 'task-' || t.id = r.external_id AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.external_id = new_key);
      END IF;
      IF r.operation <> 'none' OR r.remote_op = 'delete' THEN
        PERFORM batch_sync_write_mirror(new_key, r.remote_op = 'delete' OR r.operation = 'delete', r.data, r.checksum,
                                        (res->>'lockVersion')::integer);
      ELSE
        -- The stored record is already the agreed one; OpenProject's new lockVersion is kept.
        UPDATE work_packages SET lock_version = (res->>'lockVersion')::integer, synced_at = now()
          WHERE external_id = new_key;
      END IF;
      UPDATE sync_staging
        SET status = 'processed', processed_at = now(), attempts = attempts + 1, last_error = NULL,
            external_id = new_key
        WHERE id = r.id;
      PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, new_key, 'remote.' || r.remote_op, NULL, r.checksum,
                               jsonb_build_object('decision', r.decision, 'status', res->'status',
                                                  'lockVersion', res->'lockVersion', 'local_key', r.external_id,
                                                  'recovered', coalesce(res->'recovered', 'false')));
      PERFORM batch_sync_close_conflict(p_run_id, new_key, r.decision, r.conflict, p_workflow_id, p_execution_id);
      ok_n := ok_n + 1;
    ELSE
      delays := coalesce(r.retry_delays_ms, '[]');
      UPDATE sync_staging
        SET attempts = attempts + 1, last_error = res,
            status = CASE WHEN (res->>'status') = '422' OR attempts + 1 > jsonb_array_length(delays) THEN 'dead'
                          ELSE 'retry' END,
            next_attempt_at = now() + make_interval(secs => coalesce((delays->>(attempts))::numeric, 0) / 1000)
        WHERE id = r.id;
      PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, r.external_id, 'remote.failed', NULL, NULL,
                               jsonb_build_object('decision', r.decision, 'op', r.remote_op, 'result', res));
      fail_n := fail_n + 1;
    END IF;
  END LOOP;
  -- The batch ends: its OpenProject requests, the throttled answers (each send again, and a
  -- request that stayed throttled) and their mean time (for the adaptive batch size).
  UPDATE sync_batches b SET finished_at = clock_timestamp(), writes = x.writes, throttled = x.throttled, latency_ms = x.latency
    FROM (SELECT count(*)::integer AS writes,
                 coalesce(sum(greatest(coalesce((e->'result'->>'tries')::integer, 1) - 1, 0)
                              + CASE WHEN NOT coalesce((e->'result'->>'ok')::boolean, false)
                                          AND (e->'result'->>'status') IN ('429', '502', '503', '504') THEN 1 ELSE 0 END), 0)::integer AS throttled,
                 round(avg((e->'result'->>'ms')::numeric), 1) AS latency
            FROM jsonb_array_elements(p_results) e) x
   WHERE b.id = (SELECT max(y.id) FROM sync_batches y WHERE y.run_id = p_run_id AND y.execution_id = p_execution_id);
  RETURN QUERY SELECT ok_n, fail_n;
END $$;

-- Conflicts left for a person and rejected records (Compare's Conflicts and Invalid outputs).
CREATE OR REPLACE FUNCTION batch_sync_record_exceptions(p_run_id text, p_conflicts jsonb, p_invalid jsonb,
                                                      p_workflow_id text, p_execution_id text)
RETURNS TABLE (conflicts integer, invalid integer) LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
  c integer := 0;
  i integer := 0;
BEGIN
  -- A reconciliation run reports them and writes nothing else.
  IF batch_sync_run_kind(p_run_id) = 'reconciliation' THEN
    INSERT INTO sync_reconciliation (run_id, external_id, decision, differences, detail)
    SELECT p_run_id, x->>'id', 'conflict', coalesce(x->'differences', '[]'),
           jsonb_build_object('type', x->'conflict'->'type', 'conflicts', x->'conflicts',
                              'local_checksum', x->'local'->'checksum', 'remote_checksum', x->'remote'->'checksum')
      FROM jsonb_array_elements(coalesce(p_conflicts, '[]')) x
    ON CONFLICT (run_id, external_id) DO UPDATE SET decision = EXCLUDED.decision, differences = EXCLUDED.differences,
                                                   detail = EXCLUDED.detail;
    GET DIAGNOSTICS c = ROW_COUNT;
    INSERT INTO sync_reconciliation (run_id, external_id, decision, detail)
    SELECT p_run_id, coalesce(x->>'id', format('?%s:%s:%s', x->>'side', x->>'index', md5(x::text))), 'invalid',
           jsonb_build_object('side', x->'side', 'index', x->'index', 'error', x->'error')
      FROM jsonb_array_elements(coalesce(p_invalid, '[]')) x
    ON CONFLICT (run_id, external_id) DO UPDATE SET decision = EXCLUDED.decision, detail = EXCLUDED.detail;
    GET DIAGNOSTICS i = ROW_COUNT;
    RETURN QUERY SELECT c, i;
    RETURN;
  END IF;
  -- A conflict seen again unchanged, or a record rejected again for the same reason, writes
  -- nothing: a run with nothing new leaves these tables as they were.
  FOR d IN SELECT * FROM jsonb_array_elements(p_conflicts) LOOP
    IF batch_sync_open_conflict(p_run_id, d->>'id',
         jsonb_build_object('type', d->'conflict'->'type', 'strategy', d->'conflict'->'strategy',
                            'conflicts', coalesce(d->'conflicts', '[]'), 'local_checksum', d->'local'->'checksum',
                            'remote_checksum', d->'remote'->'checksum'),
         p_workflow_id, p_execution_id) THEN
      c := c + 1;
    END IF;
  END LOOP;
  FOR d IN SELECT * FROM jsonb_array_elements(p_invalid) LOOP
    CONTINUE WHEN EXISTS (
      SELECT 1 FROM sync_audit a
      WHERE a.external_id = coalesce(d->>'id', '?') AND a.action = 'invalid'
        AND a.detail->'error'->>'code' = d->'error'->>'code' AND a.detail->'side' = d->'side');
    PERFORM batch_sync_audit(p_run_id, p_workflow_id, p_execution_id, coalesce(d->>'id', '?'), 'invalid', NULL, NULL,
                             jsonb_build_object('side', d->'side', 'index', d->'index', 'error', d->'error'));
    i := i + 1;
  END LOOP;
  RETURN QUERY SELECT c, i;
END $$;

-- Unchanged pairs (Compare's Unchanged output): OpenProject may have bumped lockVersion for a
-- change outside the mapped fields (assignee, priority, ...). Keep the mirror's lock_version
-- current, so that the next local edit's PATCH carries the right one. Only a changed version is
-- written.
DROP FUNCTION IF EXISTS batch_sync_refresh_versions(jsonb);
CREATE OR REPLACE FUNCTION batch_sync_refresh_versions(p_run_id text, p_decisions jsonb)
RETURNS TABLE (refreshed integer) LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  k text;
BEGIN
  IF batch_sync_run_kind(p_run_id) = 'reconciliation' THEN
    RETURN QUERY SELECT 0;
    RETURN;
  END IF;
  WITH v AS (
    SELECT DISTINCT ON (d->>'id') d->>'id' AS external_id, (d->'remote'->>'version')::integer AS version
    FROM jsonb_array_elements(p_decisions) d
    WHERE d->'remote' ? 'version' AND d ? 'base'
  ), up AS (
    UPDATE work_packages w SET lock_version = v.version
    FROM v WHERE w.external_id = v.external_id AND w.lock_version IS DISTINCT FROM v.version
    RETURNING 1
  )
  SELECT count(*)::integer INTO n FROM up;
  -- A pair with an open conflict that now agrees with its base on both sides (a person made
  -- both sides agree, or a choice made them so): nothing is left to decide.
  FOR k IN SELECT c.external_id FROM sync_conflicts c
            WHERE c.status = 'open' AND c.external_id IN (SELECT d->>'id' FROM jsonb_array_elements(p_decisions) d) LOOP
    PERFORM batch_sync_close_conflict(p_run_id, k, 'unchanged', NULL, NULL, NULL);
  END LOOP;
  RETURN QUERY SELECT n;
END $$;

-- A reconciliation run's decisions that would change something (Compare's Changes output in
-- reconciliation mode): the report, one row a pair. An unchanged pair is not reported.
CREATE OR REPLACE FUNCTION batch_sync_record_differences(p_run_id text, p_decisions jsonb)
RETURNS TABLE (reported integer) LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  IF batch_sync_run_kind(p_run_id) <> 'reconciliation' THEN
    RAISE EXCEPTION 'run %: differences are only recorded by a reconciliation run', p_run_id;
  END IF;
  INSERT INTO sync_reconciliation (run_id, external_id, decision, differences, detail)
  SELECT p_run_id, d->>'id', d->>'decision', coalesce(d->'differences', '[]'),
         jsonb_strip_nulls(jsonb_build_object('local_checksum', d->'local'->'checksum', 'remote_checksum', d->'remote'->'checksum',
                                              'base_checksum', d->'base'->'checksum'))
    FROM jsonb_array_elements(coalesce(p_decisions, '[]')) d
   WHERE d->>'decision' IS DISTINCT FROM 'unchanged'
  -- A page sent again (its worker died) reports its pairs again: one row a pair.
  ON CONFLICT (run_id, external_id) DO UPDATE SET decision = EXCLUDED.decision, differences = EXCLUDED.differences,
                                                 detail = EXCLUDED.detail;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN QUERY SELECT n;
END $$;

-- End of a run, when every page is done or failed: the metrics row (Compare's counts summed
-- over the pages; status 'success', 'partial' when rows, batches or pages failed), the lock
-- released. The cursors advance only when every page is done; a run with a failed page is read
-- again from the same cursors. A run that lost the lock (taken over) ends with an error.
DROP FUNCTION IF EXISTS batch_sync_finish(text, boolean, timestamptz, text, jsonb, text, text);
-- The batch size a run uses (BATCH_SIZE, or with ADAPTIVE_BATCH_SIZE the one the latest run
-- chose, within the bounds of p_settings; a choice made from another BATCH_SIZE starts over).
CREATE OR REPLACE FUNCTION batch_sync_batch_size(p_settings jsonb) RETURNS integer LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN coalesce((p_settings->>'ADAPTIVE_BATCH_SIZE')::boolean, false) AND l.batch_size_base = (p_settings->>'BATCH_SIZE')::integer
              THEN least(greatest(l.batch_size_next, least((p_settings->>'BATCH_SIZE_MIN')::integer, l.batch_size_base)),
                         greatest((p_settings->>'BATCH_SIZE_MAX')::integer, l.batch_size_base))
              ELSE (p_settings->>'BATCH_SIZE')::integer END
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT m.batch_size_next, m.batch_size_base FROM sync_metrics m
                      WHERE m.batch_size_next IS NOT NULL ORDER BY m.started_at DESC, m.id DESC LIMIT 1) l ON true
$$;

-- The adaptive batch size (ADAPTIVE_BATCH_SIZE): at the end of each run, the size for the next,
-- within [BATCH_SIZE_MIN, BATCH_SIZE_MAX], from the run's batches (sync_batches: rows a second
-- through Stage -> Record, OpenProject's throttled answers, the mean request time) and those of
-- the 5 runs before with the same BATCH_SIZE and the same kind of work (batches that wrote to
-- OpenProject, or local ones only: a first full sync seeding the mirror is much faster a row and
-- says nothing of the size for writes):
--   throttled answers (429, 502, 503, 504): half, and no size from the smallest throttled one up
--   is tried while it is among those runs;
--   requests slower by half than in the run before (and by 20 ms at least): three quarters;
--   else the size with the most rows a second (its latest figure) when it is not this one; at
--   the best size, twice or half when not measured among those runs (the search); else kept.
-- A run that wrote nothing, or less than one full batch, keeps the size. Returns the size used, its rows a second, mean request
-- time, throttled answers, and the size chosen with the reason (kept in sync_metrics).
DROP FUNCTION IF EXISTS batch_sync_choose_batch_size(text);
CREATE OR REPLACE FUNCTION batch_sync_choose_batch_size(p_run_id text)
RETURNS TABLE (used integer, rows_per_second numeric, latency_ms numeric, throttled integer, next integer, reason text, work text)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  run sync_runs;
  s jsonb;
  v_base integer;
  v_lo integer;
  v_hi integer;
  v_used integer;
  v_rows integer;
  v_secs numeric;
  v_rate numeric;
  v_lat numeric;
  v_thr integer;
  v_last_lat numeric;
  v_fullest integer;
  v_ceiling integer;
  v_best integer;
  v_best_rate numeric;
  v_measured integer[];
  v_recent jsonb;
  v_up integer;
  v_down integer;
  v_work text;
BEGIN
  SELECT * INTO run FROM sync_runs r WHERE r.run_id = p_run_id;
  s := run.settings;
  v_base := (s->>'BATCH_SIZE')::integer;
  v_lo := least((s->>'BATCH_SIZE_MIN')::integer, v_base);
  v_hi := greatest((s->>'BATCH_SIZE_MAX')::integer, v_base);
  v_used := coalesce(run.batch_size, v_base);
  -- Batches that went through to Record (one that failed as a whole says nothing of its size).
  SELECT sum(b.rows)::integer, sum(extract(epoch FROM b.finished_at - b.started_at)), max(b.rows),
         round(sum(b.latency_ms * b.writes) FILTER (WHERE b.latency_ms IS NOT NULL) / nullif(sum(b.writes) FILTER (WHERE b.latency_ms IS NOT NULL), 0), 1),
         coalesce(sum(b.throttled), 0)::integer,
         CASE WHEN coalesce(sum(b.writes), 0) > 0 THEN 'openproject' ELSE 'local' END
    INTO v_rows, v_secs, v_fullest, v_lat, v_thr, v_work
    FROM sync_batches b WHERE b.run_id = p_run_id AND b.finished_at IS NOT NULL;
  v_rate := CASE WHEN v_secs > 0 THEN round(v_rows / v_secs, 1) END;
  v_thr := coalesce(v_thr, 0);
  IF NOT coalesce((s->>'ADAPTIVE_BATCH_SIZE')::boolean, false) THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, v_base, 'fixed: ADAPTIVE_BATCH_SIZE is off'::text, v_work;
    RETURN;
  END IF;
  IF coalesce(v_rows, 0) = 0 OR v_rate IS NULL THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, v_used, 'nothing written: kept'::text, v_work;
    RETURN;
  END IF;
  -- Fewer rows than one full batch measure the run's fixed costs, not the size: no figure kept
  -- (throttling still counts).
  IF v_fullest < v_used AND v_thr = 0 THEN
    RETURN QUERY SELECT v_used, NULL::numeric, v_lat, v_thr, v_used,
      format('%s rows, no batch full (%s): kept', v_rows, v_used), v_work;
    RETURN;
  END IF;
  -- A batch must stay well inside PAGE_TIMEOUT_SECONDS (the page's heartbeat waits for it): at
  -- most a quarter of it at this run's pace, and no more than a page holds.
  v_hi := greatest(v_lo, least(v_hi, (s->>'PAGE_SIZE')::integer, floor(v_rate * (s->>'PAGE_TIMEOUT_SECONDS')::numeric / 4)::integer));
  IF v_thr > 0 THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, greatest(v_lo, v_used / 2),
      format('OpenProject throttled %s answers (429/5xx) at %s: smaller', v_thr, v_used), v_work;
    RETURN;
  END IF;
  -- (A throttled run's request times hold its waits: not a baseline.)
  SELECT m.batch_latency_ms INTO v_last_lat FROM sync_metrics m
   WHERE m.run_id <> p_run_id AND m.batch_size_base = v_base AND m.batch_rows_per_second IS NOT NULL
     AND m.batch_work = v_work AND coalesce(m.batch_throttled, 0) = 0
   ORDER BY m.started_at DESC, m.id DESC LIMIT 1;
  IF v_last_lat IS NOT NULL AND v_lat > v_last_lat * 1.5 AND v_lat > v_last_lat + 20 THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, greatest(v_lo, (v_used * 3) / 4),
      format('OpenProject answered in %s ms, %s ms the run before: smaller', v_lat, v_last_lat), v_work;
    RETURN;
  END IF;
  -- This run and the 5 before: the smallest throttled size caps the search; each size's latest
  -- figure among the others.
  v_recent := coalesce((SELECT jsonb_agg(jsonb_build_object('size', x.batch_size, 'rate', x.batch_rows_per_second,
                                                             'thr', coalesce(x.batch_throttled, 0), 'k', x.k))
                           FROM (SELECT m.batch_size, m.batch_rows_per_second, m.batch_throttled,
                                        row_number() OVER (ORDER BY m.started_at DESC, m.id DESC) AS k
                                   FROM sync_metrics m
                                  WHERE m.run_id <> p_run_id AND m.batch_size_base = v_base AND m.batch_rows_per_second IS NOT NULL
                                    AND m.batch_work = v_work
                                  ORDER BY m.started_at DESC, m.id DESC LIMIT 5) x), '[]')
              || jsonb_build_array(jsonb_build_object('size', v_used, 'rate', v_rate, 'thr', 0, 'k', 0));
  SELECT min(r.size) INTO v_ceiling FROM jsonb_to_recordset(v_recent) r(size integer, rate numeric, thr integer, k integer) WHERE r.thr > 0;
  SELECT x.size, x.rate INTO v_best, v_best_rate FROM (
    SELECT DISTINCT ON (r.size) r.size, r.rate FROM jsonb_to_recordset(v_recent) r(size integer, rate numeric, thr integer, k integer)
     WHERE r.thr = 0 AND (v_ceiling IS NULL OR r.size < v_ceiling) ORDER BY r.size, r.k) x
   ORDER BY x.rate DESC, x.size LIMIT 1;
  SELECT array_agg(DISTINCT r.size) INTO v_measured FROM jsonb_to_recordset(v_recent) r(size integer, rate numeric, thr integer, k integer);
  v_up := least(v_hi, v_used * 2);
  v_down := greatest(v_lo, v_used / 2);
  IF v_best IS NOT NULL AND v_best <> v_used AND v_best_rate >= v_rate * 1.05 THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, least(v_hi, greatest(v_lo, v_best)),
      format('%s rows/s at %s, %s at %s: back to %s', v_rate, v_used, v_best_rate, v_best, least(v_hi, greatest(v_lo, v_best))), v_work;
  ELSIF v_used > v_hi THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, v_hi,
      format('%s rows/s at %s: a batch would take more than a quarter of PAGE_TIMEOUT_SECONDS (or exceed PAGE_SIZE): %s', v_rate, v_used, v_hi), v_work;
  ELSIF v_up > v_used AND (v_ceiling IS NULL OR v_up < v_ceiling) AND NOT v_up = ANY (v_measured) THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, v_up, format('%s rows/s at %s, the best so far: trying %s', v_rate, v_used, v_up), v_work;
  ELSIF v_down < v_used AND NOT v_down = ANY (v_measured) THEN
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, v_down, format('%s rows/s at %s, the best so far: trying %s', v_rate, v_used, v_down), v_work;
  ELSE
    RETURN QUERY SELECT v_used, v_rate, v_lat, v_thr, v_used,
      format('%s rows/s at %s, the best of the sizes measured%s: kept', v_rate, v_used,
             CASE WHEN v_ceiling IS NOT NULL THEN format(' below %s (throttled)', v_ceiling) ELSE '' END), v_work;
  END IF;
END $$;

-- Memory watched (ADAPTIVE_PAGE_SIZE): the page size of the next run, from the peak RSS of the
-- n8n processes that ran the latest run's pages (sync_run_pages.peak_rss_mib, written by the
-- external hook workflows/hooks/memory.js through batch_sync_record_memory):
--   a page above MEMORY_LIMIT_MB: half its keys (it is split in two the next time); when even
--   the fullest page over the bound held half as many keys as the run's fullest page or fewer
--   (which stayed under it), the size is kept and the reason says that the process takes that
--   much anyway;
--   every page under three quarters of the bound: twice the size, up to PAGE_SIZE, unless a page
--   of that many keys or more went over the bound in the last 6 measured runs;
--   else kept. A run without figures (the hook not loaded) keeps its size; a run without pages
--   says nothing; PAGE_SIZE to begin with, and again when PAGE_SIZE changes. Within [min(PAGE_SIZE_MIN, PAGE_SIZE), PAGE_SIZE].
CREATE OR REPLACE FUNCTION batch_sync_page_size(p_settings jsonb)
RETURNS TABLE (size integer, reason text) LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  v_base integer := (p_settings->>'PAGE_SIZE')::integer;
  v_limit numeric := (p_settings->>'MEMORY_LIMIT_MB')::numeric;
  v_lo integer := least((p_settings->>'PAGE_SIZE_MIN')::integer, (p_settings->>'PAGE_SIZE')::integer);
  v_run text;
  v_used integer;
  v_page integer;
  v_keys integer;
  v_fullest integer;
  v_peak numeric;
  v_ceiling integer;
  v_up integer;
BEGIN
  IF NOT coalesce((p_settings->>'ADAPTIVE_PAGE_SIZE')::boolean, false) THEN
    RETURN QUERY SELECT v_base, 'fixed: ADAPTIVE_PAGE_SIZE is off'::text;
    RETURN;
  END IF;
  SELECT r.run_id, greatest(v_lo, least(v_base, r.page_size)) INTO v_run, v_used FROM sync_runs r
   WHERE r.page_size IS NOT NULL AND (r.settings->>'PAGE_SIZE')::integer = v_base AND r.status <> 'running'
     AND EXISTS (SELECT 1 FROM sync_run_pages p WHERE p.run_id = r.run_id)
   ORDER BY r.started_at DESC LIMIT 1;
  IF v_run IS NULL THEN
    RETURN QUERY SELECT v_base, 'PAGE_SIZE: no run at this PAGE_SIZE yet'::text;
    RETURN;
  END IF;
  -- The page to go by: the fullest of those over the bound, else the one that took the most.
  SELECT p.page_no, jsonb_array_length(p.keys), p.peak_rss_mib INTO v_page, v_keys, v_peak
    FROM sync_run_pages p WHERE p.run_id = v_run AND p.peak_rss_mib IS NOT NULL
   ORDER BY p.peak_rss_mib > v_limit DESC,
            CASE WHEN p.peak_rss_mib > v_limit THEN jsonb_array_length(p.keys) END DESC NULLS LAST,
            p.peak_rss_mib DESC, jsonb_array_length(p.keys) DESC LIMIT 1;
  IF v_peak IS NULL THEN
    RETURN QUERY SELECT v_used, format('no memory figure from run %s (workflows/hooks/memory.js is not loaded): kept', v_run);
    RETURN;
  END IF;
  -- Over the bound with half the run's fullest page or less (which stayed under it, else it would
  -- be the page to go by): smaller pages would not bring the process under it.
  SELECT max(jsonb_array_length(p.keys)) INTO v_fullest FROM sync_run_pages p WHERE p.run_id = v_run;
  IF v_peak > v_limit AND v_keys * 2 <= v_fullest THEN
    RETURN QUERY SELECT v_used,
      format('page %s (%s keys, half the run''s fullest page of %s or less) peaked at %s MiB, over MEMORY_LIMIT_MB %s: the n8n process takes that much whatever the page size (raise the bound or give n8n less to hold): kept',
             v_page, v_keys, v_fullest, round(v_peak), v_limit);
    RETURN;
  END IF;
  IF v_peak > v_limit THEN
    RETURN QUERY SELECT greatest(v_lo, ceil(v_keys / 2.0)::integer),
      format('page %s (%s keys) peaked at %s MiB, over MEMORY_LIMIT_MB %s: split in two, pages of %s',
             v_page, v_keys, round(v_peak), v_limit, greatest(v_lo, ceil(v_keys / 2.0)::integer));
    RETURN;
  END IF;
  v_up := least(v_base, v_used * 2);
  SELECT min(jsonb_array_length(p.keys)) INTO v_ceiling
    FROM sync_run_pages p
   WHERE p.peak_rss_mib > v_limit
     AND p.run_id IN (SELECT r.run_id FROM sync_runs r
                       WHERE r.page_size IS NOT NULL AND (r.settings->>'PAGE_SIZE')::integer = v_base
                         AND EXISTS (SELECT 1 FROM sync_run_pages q WHERE q.run_id = r.run_id AND q.peak_rss_mib IS NOT NULL)
                       ORDER BY r.started_at DESC LIMIT 6);
  IF v_up > v_used AND v_peak <= v_limit * 0.75 AND (v_ceiling IS NULL OR v_up < v_ceiling) THEN
    RETURN QUERY SELECT v_up, format('peak %s MiB, under three quarters of MEMORY_LIMIT_MB %s: pages of %s', round(v_peak), v_limit, v_up);
  ELSE
    RETURN QUERY SELECT v_used, format('peak %s MiB of MEMORY_LIMIT_MB %s%s: kept', round(v_peak), v_limit,
      CASE WHEN v_up > v_used AND v_ceiling IS NOT NULL AND v_up >= v_ceiling
           THEN format(' (a page of %s keys went over it lately)', v_ceiling) ELSE '' END);
  END IF;
END $$;

-- The external hook's figure (workflows/hooks/memory.js): the peak RSS of the n8n process while
-- an execution of the run ran, for its page (p_page_no) or for the coordinator (p_page_no NULL);
-- only the execution that holds the page, or started the run, is heard. Arrives after the
-- execution ended, possibly after the run's end: the run's metrics row is raised too.
CREATE OR REPLACE FUNCTION batch_sync_record_memory(p_run_id text, p_page_no integer, p_execution_id text,
                                                    p_peak_mib numeric, p_process text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF p_peak_mib IS NULL OR p_peak_mib <= 0 THEN
    RETURN false;
  END IF;
  IF p_page_no IS NULL THEN
    UPDATE sync_runs SET coordinator_rss_mib = greatest(coalesce(coordinator_rss_mib, 0), p_peak_mib)
     WHERE run_id = p_run_id AND execution_id = p_execution_id;
  ELSE
    UPDATE sync_run_pages SET peak_rss_mib = greatest(coalesce(peak_rss_mib, 0), p_peak_mib), rss_process = p_process
     WHERE run_id = p_run_id AND page_no = p_page_no AND claimed_by = p_execution_id;
  END IF;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  UPDATE sync_metrics SET peak_rss_mib = greatest(coalesce(peak_rss_mib, 0), p_peak_mib) WHERE run_id = p_run_id;
  RETURN true;
END $$;

-- The interval in force for the schedule: SYNC_INTERVAL_MINUTES, or with ADAPTIVE_INTERVAL the
-- one the latest run chose (within the bounds of p_settings; a choice made from another
-- SYNC_INTERVAL_MINUTES starts over from the setting).
CREATE OR REPLACE FUNCTION batch_sync_interval(p_settings jsonb)
RETURNS TABLE (minutes numeric, reason text) LANGUAGE sql STABLE AS $$
  WITH last AS (
    SELECT m.interval_minutes, m.interval_reason, m.interval_base FROM sync_metrics m
     WHERE m.interval_minutes IS NOT NULL ORDER BY m.started_at DESC, m.id DESC LIMIT 1
  )
  SELECT CASE WHEN adaptive AND l.interval_base = base
              THEN least(greatest(l.interval_minutes, least((p_settings->>'SYNC_INTERVAL_MIN_MINUTES')::numeric, base)),
                         greatest((p_settings->>'SYNC_INTERVAL_MAX_MINUTES')::numeric, base))
              ELSE base END,
         CASE WHEN NOT adaptive THEN 'fixed: ADAPTIVE_INTERVAL is off'
              WHEN l.interval_base = base THEN l.interval_reason
              WHEN l.interval_base IS NOT NULL THEN 'SYNC_INTERVAL_MINUTES changed: starting from it'
              ELSE 'no run yet: SYNC_INTERVAL_MINUTES' END
  FROM (SELECT (p_settings->>'SYNC_INTERVAL_MINUTES')::numeric AS base,
               coalesce((p_settings->>'ADAPTIVE_INTERVAL')::boolean, false) AS adaptive) x
  LEFT JOIN last l ON true
$$;

-- The adaptive schedule (ADAPTIVE_INTERVAL): at the end of each run, the interval to the next,
-- within [SYNC_INTERVAL_MIN_MINUTES, SYNC_INTERVAL_MAX_MINUTES], from what the run found:
--   a backlog (rows waiting whose retry is due within SYNC_INTERVAL_MINUTES, pages that failed)
--   or a burst of changes (at least BATCH_SIZE writes found, conflicts resolved or opened): half
--   the shorter of the interval before and SYNC_INTERVAL_MINUTES (for waiting rows, not before
--   the first is due);
--   a reconciliation (it reports, it finds no edits): the interval kept;
--   some changes: back to SYNC_INTERVAL_MINUTES;
--   nothing, and the run before found nothing either: twice the interval before (at least
--   SYNC_INTERVAL_MINUTES); nothing once: SYNC_INTERVAL_MINUTES.
-- Returns the minutes and the reason (kept in sync_metrics, shown by the health endpoint and
-- the dashboard).
CREATE OR REPLACE FUNCTION batch_sync_choose_interval(p_run_id text, p_summary jsonb, p_pages_failed integer)
RETURNS TABLE (minutes numeric, reason text) LANGUAGE plpgsql STABLE AS $$
DECLARE
  s jsonb := (SELECT r.settings FROM sync_runs r WHERE r.run_id = p_run_id);
  v_base numeric := (s->>'SYNC_INTERVAL_MINUTES')::numeric;
  v_lo numeric := least((s->>'SYNC_INTERVAL_MIN_MINUTES')::numeric, v_base);
  v_hi numeric := greatest((s->>'SYNC_INTERVAL_MAX_MINUTES')::numeric, v_base);
  v_prev numeric;
  v_changes integer;
  v_waiting integer;
  v_first_due timestamptz;
  v_idle_before boolean;
BEGIN
  IF NOT coalesce((s->>'ADAPTIVE_INTERVAL')::boolean, false) THEN
    RETURN QUERY SELECT v_base, 'fixed: ADAPTIVE_INTERVAL is off'::text;
    RETURN;
  END IF;
  SELECT i.minutes INTO v_prev FROM batch_sync_interval(s) i;
  -- Changes: the writes the run found, the conflicts its strategy resolved and those it opened (a
  -- conflict still waiting for a person from an earlier run is no new edit).
  SELECT coalesce(sum((e.value #>> '{}')::numeric), 0)::integer INTO v_changes
    FROM jsonb_each(coalesce(p_summary, '{}')) e
   WHERE e.key IN ('create_remote', 'create_local', 'update_remote', 'update_local', 'converged',
                   'delete_remote', 'delete_local', 'conflicts_resolved') AND jsonb_typeof(e.value) = 'number';
  v_changes := v_changes + (SELECT count(*) FROM sync_conflicts c WHERE c.run_id = p_run_id)::integer;
  SELECT count(*), min(w.next_attempt_at) INTO v_waiting, v_first_due FROM sync_staging w
   WHERE w.status IN ('pending', 'retry') AND w.next_attempt_at < clock_timestamp() + make_interval(mins => v_base::integer);
  IF (SELECT r.kind FROM sync_runs r WHERE r.run_id = p_run_id) = 'reconciliation' THEN
    -- A reconciliation reports differences; it finds no edits to follow.
    RETURN QUERY SELECT v_prev, 'reconciliation: kept'::text;
  ELSIF v_waiting > 0 OR p_pages_failed > 0 THEN
    -- Sooner, but not before the first waiting row is due (a failed page: at once).
    RETURN QUERY SELECT greatest(v_lo, round(least(v_prev, v_base) / 2, 1),
                                 CASE WHEN p_pages_failed > 0 THEN 0
                                      ELSE ceil(greatest(extract(epoch FROM v_first_due - clock_timestamp()), 0) / 6) / 10 END),
      format('backlog: %s rows waiting, %s pages failed: sooner', v_waiting, p_pages_failed);
  ELSIF v_changes >= (s->>'BATCH_SIZE')::integer THEN
    RETURN QUERY SELECT greatest(v_lo, round(least(v_prev, v_base) / 2, 1)),
      format('burst: %s changes (at least BATCH_SIZE, %s): sooner', v_changes, s->>'BATCH_SIZE');
  ELSIF v_changes > 0 THEN
    RETURN QUERY SELECT v_base, format('%s changes: SYNC_INTERVAL_MINUTES', v_changes);
  ELSE
    SELECT coalesce(m.interval_reason LIKE 'nothing%', false) INTO v_idle_before
      FROM sync_metrics m WHERE m.interval_minutes IS NOT NULL AND m.run_id <> p_run_id
     ORDER BY m.started_at DESC, m.id DESC LIMIT 1;
    IF coalesce(v_idle_before, false) THEN
      RETURN QUERY SELECT least(v_hi, greatest(v_prev, v_base) * 2), 'nothing changed, two runs in a row: later'::text;
    ELSE
      RETURN QUERY SELECT v_base, 'nothing changed: SYNC_INTERVAL_MINUTES'::text;
    END IF;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION batch_sync_finish(p_run_id text, p_workflow_id text, p_execution_id text)
RETURNS TABLE (run_id text, total integer, processed integer, failed integer, conflicts integer, duration_ms integer,
               status text, pages integer, pages_failed integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  run sync_runs;
  v_summary jsonb;
  v_total integer;
  v_processed integer;
  v_failed integer;
  v_batches integer;
  v_pages integer;
  v_pages_failed integer;
  v_status text;
  v_reason text;
  v_duration integer;
  v_stages jsonb;
  v_interval numeric;
  v_interval_reason text;
  v_batch record;
BEGIN
  PERFORM batch_sync_heartbeat(p_run_id);
  SELECT * INTO run FROM sync_runs WHERE sync_runs.run_id = p_run_id;
  v_duration := (extract(epoch FROM clock_timestamp() - run.started_at) * 1000)::integer;
  SELECT coalesce(jsonb_object_agg(k, n), '{}') INTO v_summary FROM (
    SELECT e.key AS k, sum((e.value #>> '{}')::numeric)::integer AS n
      FROM sync_run_pages p, jsonb_each(coalesce(p.summary, '{}')) e
     WHERE p.run_id = p_run_id AND jsonb_typeof(e.value) = 'number'
     GROUP BY e.key) x;
  SELECT count(*), count(*) FILTER (WHERE p.status <> 'done') INTO v_pages, v_pages_failed
    FROM sync_run_pages p WHERE p.run_id = p_run_id;
  v_total := coalesce((v_summary->>'total')::integer, 0);
  -- Per-stage time summed over the pages (pages run side by side: the sums can exceed the run).
  SELECT jsonb_build_object(
           'read', coalesce(round(sum(extract(epoch FROM p.read_at - p.claimed_at)) * 1000), 0),
           'compare', coalesce(round(sum(extract(epoch FROM coalesce(p.write_started_at, p.finished_at) - p.read_at)) * 1000), 0),
           'write', coalesce(round(sum(extract(epoch FROM p.finished_at - p.write_started_at)) * 1000), 0),
           'pages', count(*))
    INTO v_stages
    FROM sync_run_pages p WHERE p.run_id = p_run_id AND p.status = 'done' AND p.read_at IS NOT NULL;
  SELECT count(*) FILTER (WHERE s.status = 'processed'), count(*) FILTER (WHERE s.status IN ('retry', 'dead', 'pending'))
    INTO v_processed, v_failed
    FROM sync_staging s WHERE s.run_id = p_run_id;
  SELECT count(*) INTO v_batches FROM sync_audit a WHERE a.run_id = p_run_id AND a.action = 'batch.failed';
  v_status := CASE WHEN v_failed > 0 OR v_batches > 0 OR v_pages_failed > 0 THEN 'partial' ELSE 'success' END;
  v_reason := CASE WHEN v_status = 'partial' THEN format('%s rows failed, %s batches failed, %s of %s pages failed',
                                                         v_failed, v_batches, v_pages_failed, v_pages) END;
  SELECT i.minutes, i.reason INTO v_interval, v_interval_reason FROM batch_sync_choose_interval(p_run_id, v_summary, v_pages_failed) i;
  SELECT * INTO v_batch FROM batch_sync_choose_batch_size(p_run_id);
  -- Batch timings are read by their own run's end only (the runs' figures stay in sync_metrics).
  DELETE FROM sync_batches b WHERE b.started_at < clock_timestamp() - interval '7 days';
  INSERT INTO sync_metrics (run_id, workflow_id, execution_id, mode, kind, started_at, total_items, processed_items,
                            failed_items, conflicts_detected, conflicts_resolved, per_decision, duration_ms, per_item_ms,
                            status, reason, stage_ms, interval_minutes, interval_reason, interval_base,
                            batch_size, batch_rows_per_second, batch_latency_ms, batch_throttled, batch_size_next,
                            batch_size_reason, batch_size_base, batch_work, peak_rss_mib, memory_limit_mib, page_size, page_size_reason)
  VALUES (p_run_id, p_workflow_id, p_execution_id, CASE WHEN run.full_sync THEN 'full' ELSE 'incremental' END, run.kind, run.started_at,
          v_total, v_processed, v_failed,
          coalesce((v_summary->>'conflict')::integer, 0), coalesce((v_summary->>'conflicts_resolved')::integer, 0),
          v_summary, v_duration, CASE WHEN v_total > 0 THEN v_duration::numeric / v_total END, v_status, v_reason, v_stages,
          v_interval, v_interval_reason, (run.settings->>'SYNC_INTERVAL_MINUTES')::integer,
          v_batch.used, v_batch.rows_per_second, v_batch.latency_ms, v_batch.throttled, v_batch.next, v_batch.reason,
          (run.settings->>'BATCH_SIZE')::integer, v_batch.work,
          (SELECT nullif(greatest(coalesce(max(p.peak_rss_mib), 0), coalesce(run.coordinator_rss_mib, 0)), 0)
             FROM sync_run_pages p WHERE p.run_id = p_run_id),
          (run.settings->>'MEMORY_LIMIT_MB')::integer,
          coalesce(run.page_size, (run.settings->>'PAGE_SIZE')::integer), run.page_size_reason);
  UPDATE sync_runs SET status = v_status, finished_at = clock_timestamp() WHERE sync_runs.run_id = p_run_id;
  UPDATE sync_state SET running_run_id = NULL, running_since = NULL, heartbeat_at = NULL, running_execution_id = NULL
    WHERE direction = 'local';
  -- The cursors move after an incremental or full run whose pages are all done; a delta_sync
  -- (a window of its own) and a reconciliation (writes nothing) leave them.
  IF v_pages_failed = 0 AND run.kind IN ('incremental', 'full_sync') THEN
    UPDATE sync_state SET cursor_at = run.started_at, run_id = p_run_id, updated_at = now(),
                          full_requested = full_requested AND NOT run.full_sync
      WHERE direction = 'local';
    UPDATE sync_state SET cursor_at = greatest(cursor_at, coalesce(run.remote_max::timestamptz, cursor_at)),
                          run_id = p_run_id, updated_at = now(), full_requested = full_requested AND NOT run.full_sync
      WHERE direction = 'remote';
  END IF;

  RETURN QUERY SELECT p_run_id, v_total, v_processed, v_failed,
                      coalesce((v_summary->>'conflict')::integer, 0), v_duration, v_status, v_pages, v_pages_failed;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Operating the sync (the Batch Sync Operations workflow's endpoints).

-- The settings in force: those of the latest run (the Settings node of the manager is the one
-- place they are edited), the defaults before the first run.
CREATE OR REPLACE FUNCTION batch_sync_current_settings() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT r.settings FROM sync_runs r ORDER BY r.started_at DESC LIMIT 1), batch_sync_settings('{}'))
$$;

-- The figures behind /webhook/sync/metrics and /webhook/sync/health, one JSON object.
CREATE OR REPLACE FUNCTION batch_sync_figures(p_runs integer DEFAULT 20) RETURNS jsonb LANGUAGE sql STABLE AS $$
  WITH st AS (SELECT * FROM sync_state WHERE direction = 'local'),
  recent AS (
    SELECT m.*, r.requested_by FROM sync_metrics m LEFT JOIN sync_runs r ON r.run_id = m.run_id
     ORDER BY m.started_at DESC, m.id DESC LIMIT greatest(p_runs, 0)
  ), last_success AS (
    SELECT * FROM sync_metrics WHERE status = 'success' ORDER BY started_at DESC, id DESC LIMIT 1
  ), last_run AS (
    SELECT * FROM sync_metrics WHERE status <> 'blocked' ORDER BY started_at DESC, id DESC LIMIT 1
  ), decisions AS (
    SELECT coalesce(jsonb_object_agg(k, n), '{}') AS j FROM (
      SELECT e.key AS k, sum((e.value #>> '{}')::numeric)::bigint AS n
        FROM sync_metrics m, jsonb_each(m.per_decision) e
       WHERE jsonb_typeof(e.value) = 'number' AND e.key NOT IN ('total', 'conflicts_resolved')
       GROUP BY e.key) x
  ), statuses AS (
    SELECT coalesce(jsonb_object_agg(status, n), '{}') AS j FROM (SELECT status, count(*) AS n FROM sync_metrics GROUP BY status) x
  )
  SELECT jsonb_build_object(
    'generated_at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'runs', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'run_id', run_id, 'kind', coalesce(kind, CASE mode WHEN 'full' THEN 'full_sync' WHEN 'incremental' THEN 'incremental' END),
        'status', status, 'reason', reason, 'started_at', started_at, 'finished_at', finished_at,
        'duration_ms', duration_ms, 'items', total_items, 'processed', processed_items, 'failed', failed_items,
        'conflicts', conflicts_detected, 'items_per_second',
        CASE WHEN duration_ms > 0 THEN round(total_items * 1000.0 / duration_ms, 1) ELSE 0 END,
        'decisions', per_decision - 'total', 'stage_ms', stage_ms, 'requested_by', requested_by, 'execution_id', execution_id,
        'batch', CASE WHEN batch_size_next IS NOT NULL THEN jsonb_build_object(
          'size', batch_size, 'rows_per_second', batch_rows_per_second, 'latency_ms', batch_latency_ms,
          'throttled', batch_throttled, 'next', batch_size_next, 'reason', batch_size_reason, 'work', batch_work) END,
        'interval', CASE WHEN interval_minutes IS NOT NULL THEN jsonb_build_object('minutes', interval_minutes, 'reason', interval_reason) END,
        'memory', CASE WHEN page_size IS NOT NULL THEN jsonb_build_object('peak_rss_mib', round(peak_rss_mib), 'limit_mib', memory_limit_mib,
                                                                          'page_size', page_size, 'reason', page_size_reason) END)
        ORDER BY started_at DESC, id DESC) FROM recent), '[]'),
    'totals', jsonb_build_object(
        'runs', (SELECT count(*) FROM sync_metrics),
        'runs_by_status', (SELECT j FROM statuses),
        'items', (SELECT coalesce(sum(total_items), 0) FROM sync_metrics),
        'items_by_decision', (SELECT j FROM decisions),
        'failed_items', (SELECT coalesce(sum(failed_items), 0) FROM sync_metrics)),
    'conflicts_open', (SELECT count(*) FROM sync_conflicts WHERE status = 'open'),
    'oldest_open_conflict_at', (SELECT min(created_at) FROM sync_conflicts WHERE status = 'open'),
    'retry_backlog', (SELECT count(*) FROM sync_staging WHERE status IN ('pending', 'retry')),
    'dead_letters', (SELECT count(*) FROM sync_staging WHERE status = 'dead'),
    'last_success_at', (SELECT started_at FROM last_success),
    'interval', (SELECT jsonb_build_object('minutes', i.minutes, 'reason', i.reason)
                   FROM batch_sync_interval(batch_sync_current_settings()) i),
    'batch_size', (SELECT jsonb_build_object('next', batch_sync_batch_size(batch_sync_current_settings()),
                     'reason', (SELECT m.batch_size_reason FROM sync_metrics m WHERE m.batch_size_next IS NOT NULL
                                 ORDER BY m.started_at DESC, m.id DESC LIMIT 1))),
    'memory', (SELECT jsonb_build_object(
                 'peak_rss_mib', (SELECT round(m.peak_rss_mib) FROM sync_metrics m WHERE m.status <> 'blocked' ORDER BY m.started_at DESC, m.id DESC LIMIT 1),
                 'limit_mib', (batch_sync_current_settings()->>'MEMORY_LIMIT_MB')::integer,
                 'page_size', ps.size, 'reason', ps.reason)
                 FROM batch_sync_page_size(batch_sync_current_settings()) ps),
    'last_run', (SELECT jsonb_build_object('run_id', run_id, 'status', status, 'started_at', started_at,
                                           'duration_ms', duration_ms, 'items', total_items,
                                           'items_per_second', CASE WHEN duration_ms > 0 THEN round(total_items * 1000.0 / duration_ms, 1) ELSE 0 END)
                 FROM last_run),
    'running', (SELECT CASE WHEN running_run_id IS NULL THEN NULL ELSE jsonb_build_object(
                  'run_id', running_run_id, 'since', running_since, 'heartbeat_at', heartbeat_at,
                  'execution_id', running_execution_id,
                  'pages', (SELECT jsonb_build_object('total', count(*), 'done', count(*) FILTER (WHERE p.status = 'done'))
                              FROM sync_run_pages p WHERE p.run_id = st.running_run_id)) END FROM st),
    'requested', (SELECT CASE WHEN requested_kind IS NULL THEN NULL ELSE jsonb_build_object(
                    'kind', requested_kind, 'since', requested_since, 'by', requested_by) END FROM st),
    'cursors', (SELECT jsonb_object_agg(direction, cursor_at) FROM sync_state),
    'hourly', (SELECT coalesce(jsonb_agg(to_jsonb(h) ORDER BY h.hour DESC), '[]')
                 FROM (SELECT * FROM sync_hourly_report LIMIT 24) h),
    'alerts', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', a.at, 'kind', a.kind, 'message', a.message) ORDER BY a.at DESC), '[]')
                 FROM (SELECT * FROM sync_alerts ORDER BY at DESC, id DESC LIMIT 10) a),
    'settings', batch_sync_current_settings())
$$;

-- GET /webhook/sync/metrics: the latest runs and totals as JSON, or with format=prometheus in
-- Prometheus's text exposition format (version 0.0.4).
CREATE OR REPLACE FUNCTION batch_sync_metrics(p_format text, p_runs integer DEFAULT 20)
RETURNS TABLE (content_type text, body text) LANGUAGE plpgsql STABLE AS $$
DECLARE
  f jsonb := batch_sync_figures(coalesce(p_runs, 20));
  lines text[] := ARRAY[]::text[];
  k text;
  v jsonb;
  -- A label value escaped as the format asks (backslash, double quote, line feed).
  esc text;
BEGIN
  IF coalesce(p_format, 'json') NOT IN ('json', 'prometheus') THEN
    RAISE EXCEPTION 'metrics: format must be json or prometheus, got "%"', p_format;
  END IF;
  IF coalesce(p_format, 'json') = 'json' THEN
    RETURN QUERY SELECT 'application/json; charset=utf-8', jsonb_pretty(f);
    RETURN;
  END IF;
  lines := lines || '# HELP batch_sync_runs_total Runs that ended, by status (success, partial, failed, blocked, abandoned).'::text
                 || '# TYPE batch_sync_runs_total counter'::text;
  FOR k IN SELECT unnest(ARRAY['success', 'partial', 'failed', 'blocked', 'abandoned']) LOOP
    lines := lines || format('batch_sync_runs_total{status="%s"} %s', k, coalesce(f->'totals'->'runs_by_status'->>k, '0'));
  END LOOP;
  lines := lines || '# HELP batch_sync_items_total Items compared by all runs, by the decision taken.'::text
                 || '# TYPE batch_sync_items_total counter'::text;
  FOR k, v IN SELECT * FROM jsonb_each(f->'totals'->'items_by_decision') ORDER BY 1 LOOP
    esc := replace(replace(replace(k, '\', '\\'), '"', '\"'), E'\n', '\n');
    lines := lines || format('batch_sync_items_total{decision="%s"} %s', esc, v);
  END LOOP;
  lines := lines
    || '# HELP batch_sync_failed_items_total Staged rows that failed (waiting for a retry or dead) at the end of their run.'::text
    || '# TYPE batch_sync_failed_items_total counter'::text
    || format('batch_sync_failed_items_total %s', f->'totals'->'failed_items')
    || '# HELP batch_sync_conflicts_open Conflicts waiting for a person.'::text
    || '# TYPE batch_sync_conflicts_open gauge'::text
    || format('batch_sync_conflicts_open %s', f->'conflicts_open')
    || '# HELP batch_sync_retry_backlog Staged rows waiting to be written (pending or waiting for a retry).'::text
    || '# TYPE batch_sync_retry_backlog gauge'::text
    || format('batch_sync_retry_backlog %s', f->'retry_backlog')
    || '# HELP batch_sync_dead_letters Staged rows that failed MAX_RETRIES times or were refused, until a person re-queues them.'::text
    || '# TYPE batch_sync_dead_letters gauge'::text
    || format('batch_sync_dead_letters %s', f->'dead_letters')
    || '# HELP batch_sync_last_run_duration_seconds Duration of the last run that was not blocked.'::text
    || '# TYPE batch_sync_last_run_duration_seconds gauge'::text
    || format('batch_sync_last_run_duration_seconds %s', coalesce((f->'last_run'->>'duration_ms')::numeric / 1000, 0))
    || '# HELP batch_sync_last_run_items_per_second Items compared per second by the last run that was not blocked.'::text
    || '# TYPE batch_sync_last_run_items_per_second gauge'::text
    || format('batch_sync_last_run_items_per_second %s', coalesce(f->'last_run'->>'items_per_second', '0'))
    || '# HELP batch_sync_last_success_timestamp_seconds Start of the last successful run, in Unix seconds (0: none yet).'::text
    || '# TYPE batch_sync_last_success_timestamp_seconds gauge'::text
    || format('batch_sync_last_success_timestamp_seconds %s',
              coalesce(round(floor(extract(epoch FROM (f->>'last_success_at')::timestamptz) * 1000) / 1000, 3), 0))
    || '# HELP batch_sync_run_in_progress 1 while a run holds the lock.'::text
    || '# TYPE batch_sync_run_in_progress gauge'::text
    || format('batch_sync_run_in_progress %s', CASE WHEN jsonb_typeof(f->'running') = 'object' THEN 1 ELSE 0 END)
    || '# HELP batch_sync_interval_minutes Minutes from the start of one scheduled run to the next (SYNC_INTERVAL_MINUTES, or the adaptive interval).'::text
    || '# TYPE batch_sync_interval_minutes gauge'::text
    || format('batch_sync_interval_minutes %s', coalesce(f->'interval'->>'minutes', '0'))
    || '# HELP batch_sync_last_run_peak_rss_bytes Peak RSS of the n8n processes that ran the last run''s pages and coordinator (workflows/hooks/memory.js; 0: not measured).'::text
    || '# TYPE batch_sync_last_run_peak_rss_bytes gauge'::text
    || format('batch_sync_last_run_peak_rss_bytes %s', coalesce((f->'memory'->>'peak_rss_mib')::bigint * 1048576, 0))
    || '# HELP batch_sync_memory_limit_bytes MEMORY_LIMIT_MB: a page whose process goes above it is split in two the next time.'::text
    || '# TYPE batch_sync_memory_limit_bytes gauge'::text
    || format('batch_sync_memory_limit_bytes %s', coalesce((f->'memory'->>'limit_mib')::bigint * 1048576, 0))
    || '# HELP batch_sync_page_size Keys per page of the next run (PAGE_SIZE, or the one chosen from memory).'::text
    || '# TYPE batch_sync_page_size gauge'::text
    || format('batch_sync_page_size %s', coalesce(f->'memory'->>'page_size', '0'));
  RETURN QUERY SELECT 'text/plain; version=0.0.4; charset=utf-8', array_to_string(lines, E'\n') || E'\n';
END $$;

-- The health check's sample: up to CONSISTENCY_SAMPLE linked pairs whose task was not changed
-- since the last successful run started and whose mirror row that run (or an earlier one)
-- wrote, with their work package ids. Both sides are then read and compared with the mirror by
-- the workflow (the core's Compare), and batch_sync_health weighs the result (a work package
-- edited since that run started may differ for now).
DROP FUNCTION IF EXISTS batch_sync_health_sample();
CREATE OR REPLACE FUNCTION batch_sync_health_sample()
RETURNS TABLE (keys jsonb, remote_ids jsonb, since timestamptz, settings jsonb) LANGUAGE sql STABLE AS $$
  WITH s AS (
    SELECT m.started_at AS since, m.finished_at AS until FROM sync_metrics m
     WHERE m.status = 'success' ORDER BY m.started_at DESC LIMIT 1
  ), pick AS (
    SELECT t.external_id FROM tasks t JOIN work_packages w ON w.external_id = t.external_id, s
     WHERE t.updated_at < s.since AND w.synced_at <= s.until AND t.deleted_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM sync_staging x WHERE x.external_id = t.external_id AND x.status IN ('pending', 'retry', 'dead'))
       AND NOT EXISTS (SELECT 1 FROM sync_conflicts c WHERE c.external_id = t.external_id AND c.status = 'open')
     ORDER BY md5(t.external_id || to_char(clock_timestamp(), 'YYYYMMDDHH24MI'))  -- a different sample each minute
     LIMIT (batch_sync_current_settings()->>'CONSISTENCY_SAMPLE')::integer
  )
  SELECT coalesce(jsonb_agg(external_id), '[]'), coalesce(jsonb_agg(external_id), '[]'), (SELECT since FROM s),
         batch_sync_current_settings() || batch_sync_mapping_links(batch_sync_current_settings(), false) FROM pick
$$;

-- GET /webhook/sync/health: each check with its value, limit and verdict; healthy when all
-- pass (the webhook answers 200, else 503). p_sample: the consistency sample as compared
-- ({sampled, differ: the keys Compare did not find unchanged, remote: [{id, updatedAt}] of the
-- work packages read, since: the last successful run's start, summary}), or {error} when
-- OpenProject could not be read.
CREATE OR REPLACE FUNCTION batch_sync_health(p_sample jsonb)
RETURNS TABLE (healthy boolean, status_code integer, body jsonb) LANGUAGE plpgsql STABLE AS $$
DECLARE
  f jsonb := batch_sync_figures(10);
  cfg jsonb := f->'settings';
  checks jsonb := '[]';
  v_age numeric;
  v_runs integer;
  v_bad integer;
  v_streak integer;
  v_stuck boolean;
  v_sampled integer := coalesce((p_sample->>'sampled')::integer, 0);
  v_differ integer;
  v_unexplained jsonb;
  v_conflict_age numeric;
  v_limit numeric;
BEGIN
  -- 1. The last successful run is younger than twice the interval (SYNC_INTERVAL_MINUTES, or the
  -- adaptive one when it is longer), which is shown with its reason.
  v_limit := 2 * greatest((cfg->>'SYNC_INTERVAL_MINUTES')::numeric, (f->'interval'->>'minutes')::numeric);
  v_age := round(extract(epoch FROM clock_timestamp() - (f->>'last_success_at')::timestamptz) / 60, 1);
  checks := checks || jsonb_build_object('name', 'last_success', 'ok', coalesce(v_age <= v_limit, false),
    'value', f->'last_success_at', 'age_minutes', v_age, 'limit_minutes', v_limit,
    'interval_minutes', f->'interval'->'minutes', 'interval_reason', f->'interval'->'reason');
  -- 2. Backlog and dead letters under their limits.
  checks := checks || jsonb_build_object('name', 'retry_backlog', 'ok', (f->>'retry_backlog')::integer <= (cfg->>'MAX_BACKLOG')::integer,
    'value', f->'retry_backlog', 'limit', cfg->'MAX_BACKLOG');
  checks := checks || jsonb_build_object('name', 'dead_letters', 'ok', (f->>'dead_letters')::integer <= (cfg->>'MAX_DEAD_LETTERS')::integer,
    'value', f->'dead_letters', 'limit', cfg->'MAX_DEAD_LETTERS');
  -- 3. Error rate of the last 10 runs that ran (blocked ones did not), and failed runs in a row.
  SELECT count(*), count(*) FILTER (WHERE status IN ('failed', 'partial', 'abandoned')) INTO v_runs, v_bad
    FROM (SELECT status FROM sync_metrics WHERE status <> 'blocked' ORDER BY started_at DESC, id DESC LIMIT 10) x;
  SELECT count(*) INTO v_streak FROM sync_metrics
   WHERE status IN ('failed', 'partial', 'abandoned')
     AND started_at > coalesce((SELECT max(started_at) FROM sync_metrics WHERE status = 'success'), '-infinity');
  checks := checks || jsonb_build_object('name', 'error_rate', 'ok', v_runs = 0 OR v_bad::numeric / v_runs <= (cfg->>'MAX_ERROR_RATE')::numeric,
    'value', CASE WHEN v_runs > 0 THEN round(v_bad::numeric / v_runs, 2) ELSE 0 END, 'runs', v_runs, 'limit', cfg->'MAX_ERROR_RATE');
  checks := checks || jsonb_build_object('name', 'failed_runs_in_a_row', 'ok', v_streak < (cfg->>'MAX_FAILED_RUNS_IN_A_ROW')::integer,
    'value', v_streak, 'limit', cfg->'MAX_FAILED_RUNS_IN_A_ROW');
  -- 4. The lock is not stuck: a run holding it still beats.
  v_stuck := jsonb_typeof(f->'running') = 'object' AND (f->'running'->>'heartbeat_at')::timestamptz
             < clock_timestamp() - make_interval(mins => (cfg->>'LOCK_TIMEOUT_MINUTES')::integer);
  checks := checks || jsonb_build_object('name', 'lock', 'ok', NOT v_stuck, 'value',
    CASE WHEN jsonb_typeof(f->'running') <> 'object' THEN 'free' WHEN v_stuck THEN 'stuck' ELSE 'held by a live run' END,
    'running', f->'running');
  -- 5. Conflicts waiting longer than MAX_CONFLICT_AGE_HOURS.
  v_conflict_age := round(extract(epoch FROM clock_timestamp() - (f->>'oldest_open_conflict_at')::timestamptz) / 3600, 1);
  checks := checks || jsonb_build_object('name', 'conflict_age', 'ok', coalesce(v_conflict_age <= (cfg->>'MAX_CONFLICT_AGE_HOURS')::numeric, true),
    'value', coalesce(v_conflict_age, 0), 'open', f->'conflicts_open', 'limit_hours', cfg->'MAX_CONFLICT_AGE_HOURS');
  -- 6. Consistency: sampled pairs read from both sides agree with the mirror. A work package
  --    edited after the last successful run started may differ for now (its next run syncs it).
  IF p_sample ? 'error' THEN
    checks := checks || jsonb_build_object('name', 'consistency', 'ok', false, 'value', 'OpenProject could not be read',
      'error', p_sample->'error');
  ELSE
    -- A pair that differs is explained only by an OpenProject edit since that run started.
    SELECT count(*), coalesce(jsonb_agg(k.value) FILTER (WHERE NOT EXISTS (
             SELECT 1 FROM jsonb_array_elements(coalesce(p_sample->'remote', '[]')) r
              WHERE r->>'id' = k.value AND (r->>'updatedAt')::timestamptz >= (p_sample->>'since')::timestamptz)), '[]')
      INTO v_differ, v_unexplained
      FROM jsonb_array_elements_text(coalesce(p_sample->'differ', '[]')) k;
    checks := checks || jsonb_build_object('name', 'consistency', 'ok', jsonb_array_length(v_unexplained) = 0,
      'value', format('%s of %s sampled pairs agree with the mirror', v_sampled - v_differ, v_sampled),
      'sampled', v_sampled, 'agree', v_sampled - v_differ, 'edited_since_last_success', v_differ - jsonb_array_length(v_unexplained),
      'disagree', v_unexplained, 'summary', p_sample->'summary');
  END IF;
  healthy := NOT EXISTS (SELECT 1 FROM jsonb_array_elements(checks) c WHERE NOT (c->>'ok')::boolean);
  status_code := CASE WHEN healthy THEN 200 ELSE 503 END;
  body := jsonb_build_object('status', CASE WHEN healthy THEN 'healthy' ELSE 'unhealthy' END,
    'checked_at', f->'generated_at', 'checks', checks);
  RETURN NEXT;
END $$;

-- Alerts. A condition raises an alert of its kind once; it is raised again only after
-- its repeat interval (conflicts waiting: a day; the rest: an hour), or for dead letters when
-- their number grew. Each alert is kept in sync_alerts; the workflow sends the new ones to
-- ALERT_WEBHOOK_URL when that is set.
CREATE OR REPLACE FUNCTION batch_sync_raise_alert(p_kind text, p_run_id text, p_message text, p_detail jsonb, p_repeat interval)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  last sync_alerts;
  a sync_alerts;
BEGIN
  -- The same condition: the same kind (and, for a failed execution, the same workflow, node and
  -- error: detail.dedup).
  SELECT * INTO last FROM sync_alerts
   WHERE kind = p_kind AND coalesce(detail->>'dedup', '') = coalesce(p_detail->>'dedup', '')
   ORDER BY at DESC, id DESC LIMIT 1;
  IF FOUND AND last.at > clock_timestamp() - p_repeat
     AND NOT (p_kind = 'dead_letters' AND (p_detail->>'count')::integer > coalesce((last.detail->>'count')::integer, 0)) THEN
    RETURN NULL;
  END IF;
  INSERT INTO sync_alerts (kind, run_id, message, detail) VALUES (p_kind, p_run_id, p_message, p_detail) RETURNING * INTO a;
  RETURN jsonb_build_object('id', a.id, 'at', a.at, 'kind', a.kind, 'run_id', a.run_id, 'message', a.message, 'detail', a.detail);
END $$;

-- The threshold checks at the end of a run: the new alerts and where to send them.
-- Returns the new alerts, whether to POST them to ALERT_WEBHOOK_URL (send) and whether to e-mail
-- them to ALERT_EMAIL_TO (email).
DROP FUNCTION IF EXISTS batch_sync_check_alerts(text);
CREATE OR REPLACE FUNCTION batch_sync_check_alerts(p_run_id text)
RETURNS TABLE (url text, alerts jsonb, send boolean, email_to text, email_from text, email boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  f jsonb := batch_sync_figures(10);
  cfg jsonb := f->'settings';
  h jsonb;
  c jsonb;
  found jsonb := '[]';
  a jsonb;
  m sync_metrics;
BEGIN
  SELECT * INTO m FROM sync_metrics WHERE run_id = p_run_id;
  SELECT body INTO h FROM batch_sync_health('{"sampled": 0}');
  IF m.status = 'partial' THEN
    a := batch_sync_raise_alert('run_partial', p_run_id, format('Sync run %s ended partial: %s', p_run_id, m.reason),
                                jsonb_build_object('reason', m.reason, 'failed_items', m.failed_items), interval '1 hour');
    IF a IS NOT NULL THEN
      found := found || jsonb_build_array(a);
    END IF;
  END IF;
  FOR c IN SELECT * FROM jsonb_array_elements(h->'checks') WHERE NOT (value->>'ok')::boolean LOOP
    a := CASE c->>'name'
      WHEN 'dead_letters' THEN batch_sync_raise_alert('dead_letters', p_run_id,
        format('%s dead letters (limit %s): rows that failed MAX_RETRIES times or were refused wait for a person (sync_dead_letters)', c->'value', c->'limit'),
        jsonb_build_object('count', c->'value', 'limit', c->'limit'), interval '1 hour')
      WHEN 'error_rate' THEN batch_sync_raise_alert('error_rate', p_run_id,
        format('%s of the last %s runs failed (limit %s)', c->'value', c->'runs', c->'limit'), c, interval '1 hour')
      WHEN 'failed_runs_in_a_row' THEN batch_sync_raise_alert('failed_runs_in_a_row', p_run_id,
        format('%s runs in a row did not succeed (limit %s)', c->'value', c->'limit'), c, interval '1 hour')
      WHEN 'last_success' THEN batch_sync_raise_alert('no_success', p_run_id,
        format('no successful run for %s minutes (limit %s)', coalesce(c->>'age_minutes', 'ever'), c->'limit_minutes'), c, interval '1 hour')
      WHEN 'conflict_age' THEN batch_sync_raise_alert('conflict_age', p_run_id,
        format('%s open conflicts, the oldest waiting %s hours (limit %s)', c->'open', c->'value', c->'limit_hours'), c, interval '1 day')
      WHEN 'retry_backlog' THEN batch_sync_raise_alert('retry_backlog', p_run_id,
        format('%s rows wait to be written (limit %s)', c->'value', c->'limit'), c, interval '1 hour')
      END;
    IF a IS NOT NULL THEN
      found := found || jsonb_build_array(a);
    END IF;
  END LOOP;
  RETURN QUERY SELECT cfg->>'ALERT_WEBHOOK_URL', found, jsonb_array_length(found) > 0 AND cfg->>'ALERT_WEBHOOK_URL' <> '',
                      cfg->>'ALERT_EMAIL_TO', cfg->>'ALERT_EMAIL_FROM',
                      jsonb_array_length(found) > 0 AND coalesce(cfg->>'ALERT_EMAIL_TO', '') <> '';
END $$;

-- A failed execution (n8n's Error Trigger in Batch Sync Operations): the alert for it. A run
-- refused for a bad request, or asked for while another runs, is the caller's to see in the
-- answer (400, 409), not an alert.
DROP FUNCTION IF EXISTS batch_sync_alert_failure(jsonb);
CREATE OR REPLACE FUNCTION batch_sync_alert_failure(p_error jsonb)
RETURNS TABLE (url text, alerts jsonb, send boolean, email_to text, email_from text, email boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  cfg jsonb := batch_sync_current_settings();
  v_node text := p_error->'execution'->>'lastNodeExecuted';
  -- A run asked for through the webhook while another runs was answered 409: the caller knows.
  v_kind text := CASE WHEN v_node = 'Run Blocked' AND p_error->'execution'->>'mode' = 'webhook' THEN NULL
                      WHEN v_node = 'Run Blocked' THEN 'run_blocked' WHEN v_node = 'Run Failed' THEN 'run_failed'
                      WHEN v_node = 'Page Failed' THEN 'page_failed'
                      WHEN v_node = 'Run Refused' AND p_error->'execution'->>'mode' = 'webhook' THEN NULL
                      WHEN v_node = 'Run Refused' THEN 'run_refused'
                      ELSE 'workflow_error' END;
  a jsonb;
BEGIN
  IF v_kind IS NOT NULL THEN
    a := batch_sync_raise_alert(v_kind, NULL,
      format('%s: execution %s failed at %s: %s', coalesce(p_error->'workflow'->>'name', 'a workflow'),
             coalesce(p_error->'execution'->>'id', '?'), coalesce(v_node, '?'),
             coalesce(p_error->'execution'->'error'->>'message', p_error->'trigger'->'error'->>'message', 'unknown error')),
      jsonb_build_object('workflow', p_error->'workflow', 'execution_id', p_error->'execution'->'id',
                         'node', v_node, 'url', p_error->'execution'->'url', 'mode', p_error->'execution'->'mode',
                         'dedup', concat_ws('|', p_error->'workflow'->>'id', v_node,
                                            coalesce(p_error->'execution'->'error'->>'message', p_error->'trigger'->'error'->>'message'))),
      CASE WHEN v_kind = 'run_failed' THEN interval '0' ELSE interval '1 hour' END);
  END IF;
  RETURN QUERY SELECT cfg->>'ALERT_WEBHOOK_URL', CASE WHEN a IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(a) END,
                      a IS NOT NULL AND cfg->>'ALERT_WEBHOOK_URL' <> '',
                      cfg->>'ALERT_EMAIL_TO', coalesce(cfg->>'ALERT_EMAIL_FROM', 'batch-sync@localhost'),
                      a IS NOT NULL AND coalesce(cfg->>'ALERT_EMAIL_TO', '') <> '';
END $$;

-- ---------------------------------------------------------------------------------------------
-- Conflict review (the dashboard).

-- The open conflicts with each field's base, FLRTS and OpenProject value, and a choice made
-- for them that the next run will apply.
CREATE OR REPLACE FUNCTION batch_sync_open_conflicts()
RETURNS TABLE (conflicts jsonb) LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'id', c.id, 'external_id', c.external_id, 'type', c.conflict_type, 'strategy', c.strategy,
           'created_at', c.created_at, 'run_id', c.run_id,
           'title', (SELECT t.title FROM tasks t WHERE batch_sync_key(t) = c.external_id),
           'fields', (SELECT coalesce(jsonb_agg(jsonb_build_object('path', f->'path', 'base', f->'base', 'local', f->'local',
                                                                   'remote', f->'remote', 'reason', f->'reason')), '[]')
                        FROM jsonb_array_elements(c.conflicts) f),
           'resolution', c.resolution, 'resolution_by', c.resolution_by, 'resolution_at', c.resolution_at)
         ORDER BY c.created_at, c.id), '[]')
  FROM sync_conflicts c WHERE c.status = 'open'
$$;

-- POST /webhook/sync/conflicts/resolve {"id", "by", "fields": {"/path": {"take": "flrts" |
-- "openproject" | "value", "value": …}}}: the person's choice, checked and kept (and audited)
-- for the next run. Answers a status code and a body.
DROP FUNCTION IF EXISTS batch_sync_resolve_conflict(jsonb);
DROP FUNCTION IF EXISTS batch_sync_resolve_conflict(jsonb, text, text);
-- p_via: 'json' (an API caller's JSON body), 'form' (the dashboard's form, with p_token from the
-- page), anything else is refused; NULL (SQL callers) takes the request as it is.
CREATE OR REPLACE FUNCTION batch_sync_resolve_conflict(p_request jsonb, p_workflow_id text DEFAULT NULL,
                                                       p_execution_id text DEFAULT NULL,
                                                       p_via text DEFAULT NULL, p_token text DEFAULT NULL)
RETURNS TABLE (status_code integer, body jsonb) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  c sync_conflicts;
  v_by text := nullif(btrim(coalesce(p_request->>'by', '')), '');
  f record;
  v_paths text[];
BEGIN
  IF p_via IS NOT NULL AND p_via NOT IN ('json', 'form') THEN
    RETURN QUERY SELECT 415, jsonb_build_object('error', 'send the choice as JSON (Content-Type: application/json)');
    RETURN;
  END IF;
  IF p_via = 'form' THEN
    DELETE FROM sync_form_tokens t WHERE t.token = coalesce(p_token, '') AND t.created_at > clock_timestamp() - interval '1 hour';
    IF NOT FOUND THEN
      RETURN QUERY SELECT 403, jsonb_build_object('error', 'the page was too old or not this dashboard''s: reload it and choose again');
      RETURN;
    END IF;
  END IF;
  IF coalesce(jsonb_typeof(p_request), '') <> 'object' OR coalesce(jsonb_typeof(p_request->'id'), '') <> 'number' THEN
    RETURN QUERY SELECT 400, jsonb_build_object('error', 'expected {"id": <conflict id>, "by": <your name>, "fields": {"/path": {"take": "flrts" | "openproject" | "value", "value": ...}}}');
    RETURN;
  END IF;
  IF v_by IS NULL OR length(v_by) > 200 THEN
    RETURN QUERY SELECT 400, jsonb_build_object('error', '"by": who chooses (1 to 200 characters) is required; the audit records it');
    RETURN;
  END IF;
  SELECT * INTO c FROM sync_conflicts WHERE id = (p_request->>'id')::bigint FOR UPDATE;
  IF NOT FOUND OR c.status <> 'open' THEN
    RETURN QUERY SELECT 404, jsonb_build_object('error', format('no open conflict %s', p_request->>'id'));
    RETURN;
  END IF;
  SELECT array_agg(x->>'path') INTO v_paths FROM jsonb_array_elements(c.conflicts) x WHERE coalesce(x->>'path', '') <> '';
  -- A choice is applied against the last synced record (the base): a pair never synced, or a
  -- conflict of the whole record (deleted on one side, edited on the other), is settled by
  -- hand in FLRTS or OpenProject; the next run closes it.
  IF NOT EXISTS (SELECT 1 FROM work_packages w WHERE w.external_id = c.external_id) OR v_paths IS NULL THEN
    RETURN QUERY SELECT 409, jsonb_build_object('error', format('conflict %s (%s) cannot take a choice here: %s; make both sides agree in FLRTS or OpenProject, the next run closes it',
      c.id, c.conflict_type, CASE WHEN v_paths IS NULL THEN 'it is about the whole record' ELSE 'the pair was never synced (no base)' END));
    RETURN;
  END IF;
  IF jsonb_typeof(p_request->'fields') <> 'object' OR NOT EXISTS (SELECT 1 FROM jsonb_object_keys(p_request->'fields')) THEN
    RETURN QUERY SELECT 400, jsonb_build_object('error', format('"fields": a choice for at least one of %s', array_to_string(v_paths, ', ')));
    RETURN;
  END IF;
  FOR f IN SELECT key, value FROM jsonb_each(p_request->'fields') LOOP
    IF NOT f.key = ANY (coalesce(v_paths, '{}')) THEN
      RETURN QUERY SELECT 400, jsonb_build_object('error', format('conflict %s has no field %s (its fields: %s)', c.id, f.key, array_to_string(v_paths, ', ')), 'path', f.key);
      RETURN;
    END IF;
    IF jsonb_typeof(f.value) <> 'object' OR coalesce(f.value->>'take', '') NOT IN ('flrts', 'openproject', 'value') THEN
      RETURN QUERY SELECT 400, jsonb_build_object('error', format('%s: "take" must be flrts, openproject or value', f.key), 'path', f.key);
      RETURN;
    END IF;
    IF f.value->>'take' = 'value' AND (NOT f.value ? 'value' OR jsonb_typeof(f.value->'value') NOT IN ('string', 'null')
       OR length(coalesce(f.value->>'value', '')) > 100000) THEN
      RETURN QUERY SELECT 400, jsonb_build_object('error', format('%s: a typed value must be a string (or null), at most 100000 characters', f.key), 'path', f.key);
      RETURN;
    END IF;
    IF f.value->>'take' = 'value' AND f.key = '/due_date' AND f.value->>'value' IS NOT NULL THEN
      BEGIN
        IF (f.value->>'value') !~ '^\d{4}-\d{2}-\d{2}$' OR to_char((f.value->>'value')::date, 'YYYY-MM-DD') <> (f.value->>'value') THEN
          RAISE EXCEPTION 'bad date';
        END IF;
      EXCEPTION WHEN others THEN
        RETURN QUERY SELECT 400, jsonb_build_object('error', '/due_date: a date like 2026-12-31 (or null)', 'path', f.key);
        RETURN;
      END;
    END IF;
    IF f.value->>'take' = 'value' AND f.key IN ('/title', '/status') AND btrim(coalesce(f.value->>'value', '')) = '' THEN
      RETURN QUERY SELECT 400, jsonb_build_object('error', format('%s: a task needs one (not empty)', f.key), 'path', f.key);
      RETURN;
    END IF;
  END LOOP;
  UPDATE sync_conflicts SET resolution = p_request->'fields', resolution_by = v_by, resolution_at = now(),
                            resolution_applied_run = NULL
   WHERE id = c.id;
  INSERT INTO sync_audit (run_id, workflow_id, execution_id, actor, external_id, action, detail)
  VALUES ('-', p_workflow_id, p_execution_id, v_by, c.external_id, 'conflict.choice',
          jsonb_build_object('conflict', c.id, 'fields', p_request->'fields'));
  RETURN QUERY SELECT 200, jsonb_build_object('id', c.id, 'external_id', c.external_id, 'resolution', p_request->'fields',
                                              'by', v_by, 'applied', 'by the next run');
END $$;

-- The choices made for open conflicts, applied at the start of a run (not a reconciliation):
-- for each chosen field the task takes the chosen value, and the mirror (the base) takes
-- OpenProject's value as the conflict recorded it, or, when the choice is that value, FLRTS's:
-- the run's three-way comparison then writes the choice to OpenProject (or stores it as agreed),
-- and the conflict closes with the pair. When a side changed again since the conflict was
-- recorded, the run finds a conflict again, with the new values, for the person to look at.
-- The task columns are FLRTS's (adapt with batch_sync_process).
CREATE OR REPLACE FUNCTION batch_sync_apply_resolutions(p_run_id text, p_workflow_id text, p_execution_id text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  c sync_conflicts;
  f jsonb;
  ch jsonb;
  v jsonb;
  v_base jsonb;
  v_path text[];
  v_now jsonb;
  rec jsonb;
  n integer := 0;
BEGIN
  IF batch_sync_run_kind(p_run_id) = 'reconciliation' THEN
    RETURN 0;
  END IF;
  FOR c IN SELECT * FROM sync_conflicts WHERE status = 'open' AND resolution IS NOT NULL AND resolution_applied_run IS NULL
           ORDER BY id FOR UPDATE LOOP
    -- One conflict at a time: a choice that cannot be applied is set aside (audited, the
    -- conflict stays open for the person) and never stops the run.
    BEGIN
      -- The task as it is now, in the mapping's FLRTS fields: a field edited since the conflict
      -- was recorded makes the choice stale.
      SELECT jsonb_build_object('title', t.title, 'description', t.description, 'status', t.status, 'due_date', t.due_date,
                                'assignee', t.assignee)
        INTO v_now FROM tasks t WHERE batch_sync_key(t) = c.external_id;
      IF v_now IS NULL OR NOT EXISTS (SELECT 1 FROM work_packages w WHERE w.external_id = c.external_id) THEN
        RAISE EXCEPTION 'the task or its last synced record is gone';
      END IF;
      rec := '{}';
      FOR f IN SELECT * FROM jsonb_array_elements(c.conflicts) LOOP
        ch := c.resolution->(f->>'path');
        CONTINUE WHEN ch IS NULL OR coalesce(f->>'path', '') = '';
        SELECT array_agg(replace(replace(x, '~1', '/'), '~0', '~') ORDER BY o) INTO v_path
          FROM unnest(string_to_array(substr(f->>'path', 2), '/')) WITH ORDINALITY AS t(x, o);
        IF v_path IS NULL OR array_length(v_path, 1) <> 1 OR NOT v_now ? v_path[1] THEN
          RAISE EXCEPTION 'field % is not a task column', f->>'path';
        END IF;
        IF (v_now->v_path[1]) IS DISTINCT FROM coalesce(f->'local', 'null') THEN
          RAISE EXCEPTION 'FLRTS changed % since the conflict was recorded (now %, then %)', f->>'path', v_now->v_path[1], f->'local';
        END IF;
        v := CASE ch->>'take' WHEN 'flrts' THEN coalesce(f->'local', 'null') WHEN 'openproject' THEN coalesce(f->'remote', 'null')
                              ELSE coalesce(ch->'value', 'null') END;
        v_base := CASE WHEN v = coalesce(f->'remote', 'null') THEN coalesce(f->'local', 'null') ELSE coalesce(f->'remote', 'null') END;
        rec := rec || jsonb_build_object(v_path[1], v);
        UPDATE work_packages SET data = jsonb_set(data, v_path, v_base, true), checksum = '' WHERE external_id = c.external_id;
      END LOOP;
      UPDATE tasks t SET title = CASE WHEN rec ? 'title' THEN coalesce(rec->>'title', t.title) ELSE t.title END,
                         description = CASE WHEN rec ? 'description' THEN coalesce(rec->>'description', '') ELSE t.description END,
                         status = CASE WHEN rec ? 'status' THEN coalesce(rec->>'status', t.status) ELSE t.status END,
                         due_date = CASE WHEN rec ? 'due_date' THEN (rec->>'due_date')::date ELSE t.due_date END,
                         assignee = CASE WHEN rec ? 'assignee' THEN rec->>'assignee' ELSE t.assignee END
       WHERE batch_sync_key(t) = c.external_id;
      UPDATE sync_conflicts SET resolution_applied_run = p_run_id WHERE id = c.id;
      INSERT INTO sync_audit (run_id, workflow_id, execution_id, actor, external_id, action, detail)
      VALUES (p_run_id, p_workflow_id, p_execution_id, coalesce(c.resolution_by, 'unknown'), c.external_id, 'conflict.applied',
              jsonb_build_object('conflict', c.id, 'fields', c.resolution, 'chosen_at', c.resolution_at));
      n := n + 1;
    EXCEPTION WHEN others THEN
      UPDATE sync_conflicts SET resolution = NULL, resolution_by = NULL, resolution_at = NULL WHERE id = c.id;
      INSERT INTO sync_audit (run_id, workflow_id, execution_id, actor, external_id, action, detail)
      VALUES (p_run_id, p_workflow_id, p_execution_id, coalesce(c.resolution_by, 'unknown'), c.external_id, 'conflict.choice_set_aside',
              jsonb_build_object('conflict', c.id, 'fields', c.resolution, 'reason', SQLERRM));
    END;
  END LOOP;
  RETURN n;
END $$;

-- Admission of a call to one of the inbound endpoints (run, metrics, health, dashboard,
-- conflicts, resolve), after n8n checked its credentials: at most ENDPOINT_RATE_PER_MINUTE calls
-- of an endpoint in a minute (0: no limit), counted in PostgreSQL so that every n8n process
-- (main, workers) shares the count. Past it: admitted false and the seconds until the next
-- minute, for the 429's Retry-After.
CREATE OR REPLACE FUNCTION batch_sync_admit(p_endpoint text)
RETURNS TABLE (admitted boolean, retry_after integer, calls integer, rate integer) LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_window timestamptz := date_trunc('minute', v_now);
  v_rate integer := coalesce((batch_sync_current_settings()->>'ENDPOINT_RATE_PER_MINUTE')::integer, 60);
  v_calls integer;
BEGIN
  IF p_endpoint IS NULL OR p_endpoint !~ '^[a-z_]{1,40}$' THEN
    RAISE EXCEPTION 'admit: endpoint must be a short lower-case name, got %', p_endpoint;
  END IF;
  INSERT INTO sync_endpoint_calls AS c (endpoint, window_start, calls) VALUES (p_endpoint, v_window, 1)
  ON CONFLICT (endpoint, window_start) DO UPDATE SET calls = c.calls + 1
  RETURNING c.calls INTO v_calls;
  -- Old windows go (the table stays a few rows an endpoint).
  DELETE FROM sync_endpoint_calls WHERE window_start < v_window - interval '1 hour';
  RETURN QUERY SELECT v_rate = 0 OR v_calls <= v_rate,
                      greatest(1, ceil(extract(epoch FROM (v_window + interval '1 minute' - v_now)))::integer),
                      v_calls, v_rate;
END $$;

-- The figures of the dashboard page: the metrics of the last 50 runs (batch_sync_metrics' JSON)
-- and the open conflicts.
-- Each page carries a new form token (single use, an hour): a choice posted as a form is only
-- taken with one, so a page elsewhere cannot post choices through a signed-in browser (CSRF).
DROP FUNCTION IF EXISTS batch_sync_dashboard();
CREATE OR REPLACE FUNCTION batch_sync_dashboard()
RETURNS TABLE (metrics jsonb, conflicts jsonb, token text) LANGUAGE plpgsql AS $$
DECLARE
  v_token text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
BEGIN
  DELETE FROM sync_form_tokens WHERE created_at < clock_timestamp() - interval '1 hour';
  INSERT INTO sync_form_tokens (token) VALUES (v_token);
  RETURN QUERY SELECT (SELECT m.body FROM batch_sync_metrics('json', 50) m)::jsonb,
                      (SELECT c.conflicts FROM batch_sync_open_conflicts() c), v_token;
END $$;
