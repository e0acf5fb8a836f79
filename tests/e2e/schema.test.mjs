// workflows/sql/schema.sql is idempotent: applied twice, the second run changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { root, startPostgres } from './harness.mjs';

test('the schema applies to an empty database and again without changes', async () => {
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		const schema = path.join(root, 'workflows/sql/schema.sql');
		const dump = () => execFileSync('pg_dump', ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '--schema-only', 'flrts'], { encoding: 'utf8' }).replace(/^\\(un)?restrict .*$/gm, '');
		pg.psqlFile(schema, 'flrts');
		const first = dump();
		pg.psqlFile(schema, 'flrts');
		assert.equal(dump(), first);
		const tables = pg.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'", 'flrts').trim();
		assert.equal(tables, 'sync_alerts,sync_audit,sync_batches,sync_conflicts,sync_endpoint_calls,sync_form_tokens,sync_metrics,sync_openproject_cache,sync_reconciliation,sync_run_pages,sync_runs,sync_staging_work_packages,sync_state,tasks,work_packages');
		assert.equal(pg.psql('SELECT count(*) FROM sync_state', 'flrts').trim(), '2');
		// The trigger keeps updated_at current on a real change only.
		pg.psql("INSERT INTO tasks (title) VALUES ('a')", 'flrts');
		const before = pg.psql('SELECT updated_at FROM tasks', 'flrts');
		pg.psql("UPDATE tasks SET title = 'a'", 'flrts');
		assert.equal(pg.psql('SELECT updated_at FROM tasks', 'flrts'), before);
		pg.psql("UPDATE tasks SET title = 'b'", 'flrts');
		assert.notEqual(pg.psql('SELECT updated_at FROM tasks', 'flrts'), before);
	} finally {
		pg.stop();
	}
});

test('an installation of an earlier release (427631b, 2026-12-03) upgrades in place as the README says: its data kept, the runs go on', async () => {
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		const q = (sql) => pg.psql(sql, 'flrts').trim();
		// The earlier release's SQL, from the repository's history.
		for (const f of ['schema.sql', 'sync.sql']) {
			const old = path.join(pg.dir, `old-${f}`);
			writeFileSync(old, execFileSync('git', ['-C', root, 'show', `427631b:workflows/sql/${f}`]));
			pg.psqlFile(old, 'flrts');
		}
		q("INSERT INTO tasks (external_id, title) VALUES ('1', 'made before the upgrade')");
		const before = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e1')`);
		q(`SELECT status FROM batch_sync_finish('${before}', 'wf', 'e1')`);
		// README step 2: both files in one transaction.
		execFileSync('psql', ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'flrts', '-v', 'ON_ERROR_STOP=1', '-q', '--single-transaction',
			'-f', path.join(root, 'workflows/sql/schema.sql'), '-f', path.join(root, 'workflows/sql/sync.sql')], { stdio: 'pipe' });
		assert.equal(q("SELECT title FROM tasks WHERE external_id = '1'"), 'made before the upgrade');
		assert.equal(q(`SELECT status FROM sync_metrics WHERE run_id = '${before}'`), 'success');
		const after = q(`SELECT run_id FROM batch_sync_start(false, '{"MEMORY_LIMIT_MB": 600}', 'wf', 'e2')`);
		assert.equal(q(`SELECT status FROM batch_sync_finish('${after}', 'wf', 'e2')`), 'success');
		assert.equal(q(`SELECT page_size || ' ' || memory_limit_mib || ' ' || batch_work FROM sync_metrics WHERE run_id = '${after}'`), '1000 600 local');
	} finally {
		pg.stop();
	}
});

test('Process Batch does not overwrite a task edited after the run read it; one run at a time', async () => {
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		for (const f of ['schema.sql', 'sync.sql', 'sync.sql']) pg.psqlFile(path.join(root, 'workflows/sql', f), 'flrts');
		const q = (sql) => pg.psql(sql, 'flrts').trim();
		q("INSERT INTO tasks (external_id, title) VALUES ('7', 'as read')");
		const run = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'ex1')`);
		assert.match(run, /^[0-9a-f-]{36}$/);
		// A second run while the first holds the lock is blocked, with its reason, and says so in
		// the metrics: the workflow stops there with an error.
		const blocked = q(`SELECT blocked || ' ' || reason FROM batch_sync_start(false, '{}', 'wf', 'ex2')`);
		assert.match(blocked, new RegExp(`^true run ${run} \\(execution ex1\\) holds the lock`));
		assert.equal(q("SELECT status || ' ' || execution_id FROM sync_metrics WHERE status = 'blocked'"), 'blocked ex2');
		const readAt = q("SELECT to_jsonb(updated_at) #>> '{}' FROM tasks WHERE external_id = '7'");
		const row = (key, title) => ({
			external_id: '7', operation: 'update', data: { title }, checksum: 'c'.repeat(64), decision: 'update_local',
			local_action: 'update', local_record: { sync_id: '7', title, updated_at: readAt }, idempotency_key: key, retry_delays_ms: [1000],
		});
		pg.psqlVars("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", 'flrts', { run, rows: JSON.stringify([row('k1', 'from OpenProject')]) });
		// The user edits the task after the run read it.
		q("UPDATE tasks SET title = 'edited meanwhile' WHERE external_id = '7'");
		pg.psqlVars("SELECT * FROM batch_sync_process(:'run', '[\"k1\"]'::jsonb, 'wf', 'ex');", 'flrts', { run });
		assert.equal(q("SELECT title FROM tasks WHERE external_id = '7'"), 'edited meanwhile');
		assert.equal(q("SELECT status || ' ' || (last_error->>'code') FROM sync_staging_work_packages WHERE idempotency_key = 'k1'"), 'retry local_changed');
		assert.equal(q("SELECT count(*) FROM work_packages"), '0', 'the mirror is not advanced either');
		// The next plan for the same key supersedes the waiting row; an unedited task is written.
		const readNow = q("SELECT to_jsonb(updated_at) #>> '{}' FROM tasks WHERE external_id = '7'");
		const fresh = { ...row('k2', 'merged'), local_record: { sync_id: '7', title: 'merged', updated_at: readNow } };
		pg.psqlVars("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", 'flrts', { run, rows: JSON.stringify([fresh]) });
		assert.equal(q("SELECT status FROM sync_staging_work_packages WHERE idempotency_key = 'k1'"), 'superseded');
		pg.psqlVars("SELECT * FROM batch_sync_process(:'run', '[\"k2\"]'::jsonb, 'wf', 'ex');", 'flrts', { run });
		assert.equal(q("SELECT title FROM tasks WHERE external_id = '7'"), 'merged');
		assert.equal(q("SELECT status FROM sync_staging_work_packages WHERE idempotency_key = 'k2'"), 'processed');
		pg.psqlVars("SELECT * FROM batch_sync_finish(:'run', 'wf', 'ex');", 'flrts', { run });
		assert.equal(q(`SELECT blocked FROM batch_sync_start(false, '{}', 'wf', 'ex3')`), 'f', 'the lock is released at the end of a run');
	} finally {
		pg.stop();
	}
});

/** A database with the schema and the functions, and a psql helper. */
test('Process Batch: rows that only write the mirror (done together) end as the row-by-row rows do; a key with two rows, a local write, a kept conflict and an OpenProject request go one by one', async () => {
	const { pg, q, json } = await database();
	try {
		const sum = (c) => c.repeat(64);
		q("INSERT INTO tasks (external_id, title) VALUES ('l-upd', 'old title')");
		q(`INSERT INTO work_packages (external_id, data, checksum, lock_version) VALUES
		     ('m-same', '{"title": "same"}', '${sum('1')}', 4), ('m-old', '{"title": "old"}', '${sum('0')}', 2),
		     ('m-del', '{"title": "gone"}', '${sum('5')}', 1), ('m-conf', '{"title": "c0"}', '${sum('6')}', 1),
		     ('l-upd', '{"title": "old title"}', '${sum('8')}', 3)`);
		const oldSynced = q("SELECT synced_at FROM work_packages WHERE external_id = 'm-same'");
		q(`INSERT INTO sync_conflicts (run_id, external_id, conflict_type, strategy, conflicts) VALUES
		     ('earlier', 'm-conf', 'field', 'manual', '[{"path": "/title"}]')`);
		const run = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e1')`);
		const row = (key, external_id, operation, checksum, more = {}) => ({
			external_id, operation, data: operation === 'delete' ? null : { title: key }, checksum, decision: 'update_base',
			local_action: 'none', remote_version: null, idempotency_key: key, retry_delays_ms: [1000], ...more,
		});
		const conflict = { type: 'field', strategy: 'manual', conflicts: [{ path: '/due_date' }], local_checksum: 'l', remote_checksum: 'r' };
		const rows = [
			row('k-same', 'm-same', 'update', sum('1')), // mirror already so: no write, no audit
			row('k-old', 'm-old', 'update', sum('2'), { remote_version: 3 }),
			row('k-new', 'm-new', 'insert', sum('3')),
			row('k-del', 'm-del', 'delete', null),
			row('k-conf', 'm-conf', 'update', sum('7')), // its open conflict is closed
			row('k-keep', 'm-keep', 'insert', sum('9'), { conflict }), // keeps a conflict open: one by one
			row('k-upd', 'l-upd', 'update', sum('a'), { local_action: 'update', local_record: { sync_id: 'l-upd', title: 'new title' } }),
			row('k-patch', 'r-patch', 'update', sum('b'), { remote: { op: 'patch', body: { subject: 'p', lockVersion: 1 }, lock_version: 1 } }),
			row('k-dup1', 'dup', 'insert', sum('c')), // one key twice in the batch: one by one, in order
			row('k-dup2', 'dup', 'update', sum('d')),
		];
		assert.equal(q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb, 'e1');", { run, rows: JSON.stringify(rows) }), '10');
		const keys = JSON.stringify(rows.map((r) => r.idempotency_key));
		const out = json("SELECT to_jsonb(p) FROM batch_sync_process(:'run', :'keys'::jsonb, 'wf', 'e1') p;", { run, keys });
		assert.equal(out.processed, 10);
		assert.deepEqual(out.ops.map((o) => o.idempotency_key), ['k-patch']);
		// The mirror.
		const mirror = Object.fromEntries(json("SELECT jsonb_agg(jsonb_build_array(external_id, data->>'title', checksum, lock_version)) FROM work_packages").map((r) => [r[0], r.slice(1)]));
		assert.deepEqual(mirror, {
			'm-same': ['same', sum('1'), 4], 'm-old': ['k-old', sum('2'), 3], 'm-new': ['k-new', sum('3'), null],
			'm-conf': ['k-conf', sum('7'), 1], 'm-keep': ['k-keep', sum('9'), null], 'l-upd': ['k-upd', sum('a'), 3], dup: ['k-dup2', sum('d'), null],
		});
		assert.equal(q("SELECT synced_at FROM work_packages WHERE external_id = 'm-same'"), oldSynced, 'a mirror row already so is not rewritten');
		assert.equal(q("SELECT title FROM tasks WHERE external_id = 'l-upd'"), 'new title');
		// Staging: every row processed but the one waiting for OpenProject.
		assert.deepEqual(json("SELECT jsonb_object_agg(idempotency_key, status) FROM sync_staging_work_packages"),
			Object.fromEntries(rows.map((r) => [r.idempotency_key, r.idempotency_key === 'k-patch' ? 'pending' : 'processed'])));
		// Conflicts: m-conf's closed, m-keep's opened.
		assert.deepEqual(json("SELECT jsonb_object_agg(external_id, status) FROM sync_conflicts"), { 'm-conf': 'resolved', 'm-keep': 'open' });
		// The audit: per key, in order, what was written.
		const audit = {};
		for (const [key, action, before, after] of json("SELECT jsonb_agg(jsonb_build_array(external_id, action, before_checksum, after_checksum) ORDER BY id) FROM sync_audit WHERE run_id = :'run'", { run })) {
			(audit[key] ??= []).push([action, before, after]);
		}
		assert.deepEqual(audit, {
			'm-old': [['base.update', sum('0'), sum('2')]],
			'm-new': [['base.insert', null, sum('3')]],
			'm-del': [['base.delete', sum('5'), null]],
			'm-conf': [['base.update', sum('6'), sum('7')], ['conflict.resolved', null, null]],
			'm-keep': [['base.insert', null, sum('9')], ['conflict.open', 'r', 'l']],
			'l-upd': [['local.update', null, sum('a')], ['base.update', sum('8'), sum('a')]],
			dup: [['base.insert', null, sum('c')], ['base.update', sum('c'), sum('d')]],
		});
		assert.equal(q("SELECT bool_and(workflow_id = 'wf' AND execution_id = 'e1' AND detail->>'decision' = 'update_base') FROM sync_audit WHERE run_id = :'run' AND action NOT LIKE 'conflict.open'", { run }), 't');
		// Every audit row names the run's kind and requester, as the audit trigger fills them in.
		assert.equal(q("SELECT string_agg(DISTINCT coalesce(a.run_kind, '?') || '/' || (a.requested_by IS NOT DISTINCT FROM r.requested_by), ',') FROM sync_audit a JOIN sync_runs r USING (run_id) WHERE a.run_id = :'run'", { run }),
			`${q("SELECT kind FROM sync_runs WHERE run_id = :'run'", { run })}/true`);
		// The batch waits for its OpenProject answers (Record OpenProject Results ends it); a batch
		// with no request is ended by Process Batch itself (the workflow goes on to the next).
		const batch = () => json("SELECT to_jsonb(b) - 'id' - 'run_id' - 'started_at' FROM sync_batches b ORDER BY id DESC LIMIT 1");
		assert.deepEqual({ ...batch(), processed_at: batch().processed_at !== null }, { execution_id: 'e1', rows: 10, processed_at: true, finished_at: null, writes: null, throttled: null, latency_ms: null });
		q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb, 'e1');", { run, rows: JSON.stringify([row('k-more', 'm-more', 'insert', sum('e'))]) });
		assert.deepEqual(json("SELECT to_jsonb(p) FROM batch_sync_process(:'run', '[\"k-more\"]'::jsonb, 'wf', 'e1') p;", { run }), { ops: [], processed: 1 });
		const quiet = batch();
		assert.equal(quiet.rows, 1);
		assert.ok(quiet.finished_at !== null && quiet.finished_at >= quiet.processed_at, JSON.stringify(quiet));
		assert.deepEqual([quiet.writes, quiet.throttled, quiet.latency_ms], [0, 0, null]);
	} finally {
		pg.stop();
	}
});

async function database() {
	const pg = await startPostgres();
	pg.createDatabase('flrts');
	for (const f of ['schema.sql', 'sync.sql']) pg.psqlFile(path.join(root, 'workflows/sql', f), 'flrts');
	const q = (sql, vars) => (vars ? pg.psqlVars(sql, 'flrts', vars) : pg.psql(sql, 'flrts')).trim();
	const json = (sql, vars) => JSON.parse(q(sql, vars) || 'null');
	return { pg, q, json };
}

/** A run of one page (the key '1', which the caller's tasks hold) from its start to its end,
 * as the workflows run it: `during({ run, exec, claim })` runs while the page is held, then the
 * page completes with `summary` and the run finishes. Returns the run id and the claim. */
let pageRuns = 0;
function runOnePage({ q, json }, { settings = {}, summary, during = () => {} }) {
	const remote = JSON.stringify({ ids: ['1'], maxUpdatedAt: '2026-12-03T10:00:00Z' });
	const run = q(`SELECT run_id FROM batch_sync_start(false, '${JSON.stringify(settings)}', 'wf', 'coord')`);
	q("SELECT * FROM batch_sync_plan_pages(:'run', :'remote'::jsonb);", { run, remote });
	json("SELECT to_jsonb(n) FROM batch_sync_next_pages(:'run') n;", { run });
	const exec = `x${pageRuns++}`;
	const claim = json(`SELECT to_jsonb(c) FROM batch_sync_claim_page('${run}', 0, '${exec}') c`);
	assert.equal(claim.claimed, true);
	during({ run, exec, claim });
	q(`SELECT * FROM batch_sync_complete_page('${run}', 0, :'s', '${exec}')`, { s: JSON.stringify(summary) });
	json("SELECT to_jsonb(f) FROM batch_sync_finish(:'run', 'wf', 'coord') f;", { run });
	return { run, claim };
}

/** One run of one page (runOnePage): its execution staged `rows` plan rows in one batch that
 * took rows/rate seconds, with `thr` throttled answers and a mean request time of `lat` ms;
 * `local`: the batch wrote nothing to OpenProject (no results). Returns the run's batch figures
 * and choice from sync_metrics. */
function batchRun({ q, json }, { rate, thr = 0, lat = 50, rows, local = false }, settings = {}) {
	const { run, claim } = runOnePage({ q, json }, {
		settings,
		summary: { total: 1, update_remote: 1 },
		during: ({ run, exec, claim }) => {
			rows ??= 2 * claim.settings.BATCH_SIZE;
			// Stage Batch -> Process Batch -> Record OpenProject Results, as the page runs them (timed).
			q("SELECT * FROM batch_sync_stage(:'run', '[]'::jsonb, :'exec');", { run, exec });
			q("SELECT * FROM batch_sync_process(:'run', '[]'::jsonb, 'wf', :'exec');", { run, exec });
			const results = local ? [] : Array.from({ length: 4 }, (_, k) => ({ idempotency_key: `none-${k}`, result: { ok: true, status: 200, tries: k < thr ? 2 : 1, ms: lat } }));
			q("SELECT * FROM batch_sync_record_remote(:'run', :'results'::jsonb, 'wf', :'exec');", { run, exec, results: JSON.stringify(results) });
			// The batch's figures as if it held `rows` rows for rows/rate seconds.
			q(`UPDATE sync_batches SET rows = ${rows}, started_at = finished_at - make_interval(secs => ${rows / rate}) WHERE run_id = '${run}'`);
		},
	});
	const m = json(`SELECT jsonb_build_object('used', batch_size, 'next', batch_size_next, 'reason', batch_size_reason, 'thr', batch_throttled, 'lat', batch_latency_ms, 'rate', batch_rows_per_second, 'work', batch_work) FROM sync_metrics WHERE run_id = '${run}'`);
	assert.equal(claim.settings.BATCH_SIZE, m.used, 'the page plans with the size in use');
	return m;
}

test('settings: defaults filled in, a bad key or value is an error that names it', async () => {
	const { pg, q } = await database();
	try {
		const out = JSON.parse(q(`SELECT batch_sync_settings('{"BATCH_SIZE": 200, "OPENPROJECT_PROJECT_ID": 3}')`));
		assert.equal(out.BATCH_SIZE, 200);
		assert.equal(out.MAX_RETRIES, 3);
		assert.equal(out.LOCK_TIMEOUT_MINUTES, 5);
		assert.equal(out.OPENPROJECT_PROJECT_ID, '3');
		const refused = (json) => {
			try {
				q(`SELECT batch_sync_settings('${json}')`);
			} catch (e) {
				return String(e.stderr ?? e.message);
			}
			return 'accepted';
		};
		assert.match(refused('{"BATCH_SIZ": 10}'), /unknown key "BATCH_SIZ"/);
		assert.match(refused('{"MAX_RETRIES": "3"}'), /MAX_RETRIES must be a whole number from 0 to 20, got "3"/);
		assert.match(refused('{"BATCH_SIZE": 0}'), /BATCH_SIZE must be a whole number from 1/);
		assert.match(refused('{"BATCH_SIZE": 2.5}'), /BATCH_SIZE/);
		assert.match(refused('{"MARKER_FIELD": "FLRTS key"}'), /MARKER_FIELD must be empty or a custom field/);
		assert.match(refused('{"OPENPROJECT_PROJECT_ID": "3; DROP TABLE tasks"}'), /OPENPROJECT_PROJECT_ID/);
		assert.match(refused('[]'), /expected a JSON object/);
		assert.match(refused('{"CONFLICT_STRATEGY": "last_wins"}'), /CONFLICT_STRATEGY must be one of server_wins, client_wins, newest_wins, manual, merge/);
		assert.match(refused('{"CONFLICT_STRATEGY": {"default": "merge", "fields": {"subject": "server_wins"}}}'), /CONFLICT_STRATEGY/);
		assert.equal(q(`SELECT batch_sync_settings('{"CONFLICT_STRATEGY": {"default": "merge", "fields": {"/subject": "server_wins"}}}')->'CONFLICT_STRATEGY'->'fields'->>'/subject'`), 'server_wins');
		assert.match(refused('{"MAX_ERROR_RATE": 1.5}'), /MAX_ERROR_RATE must be a number from 0 to 1/);
		assert.match(refused('{"ALERT_WEBHOOK_URL": "slack"}'), /ALERT_WEBHOOK_URL must be empty or an http\(s\) URL/);
		assert.match(refused('{"SYNC_INTERVAL_MINUTES": 0}'), /SYNC_INTERVAL_MINUTES must be a whole number from 1 to 1440/);
		assert.match(refused('{"ALERT_EMAIL_TO": "ops at example.com"}'), /ALERT_EMAIL_TO must be empty or e-mail addresses separated by commas/);
		assert.match(refused('{"ALERT_EMAIL_TO": "a@example.com; b@example.com"}'), /ALERT_EMAIL_TO/);
		assert.equal(q(`SELECT batch_sync_settings('{"ALERT_EMAIL_TO": "a@example.com, b@example.org"}')->>'ALERT_EMAIL_TO'`), 'a@example.com, b@example.org');
		assert.match(refused('{"ALERT_EMAIL_FROM": ""}'), /ALERT_EMAIL_FROM must be an e-mail address/);
		assert.match(refused('{"ENDPOINT_RATE_PER_MINUTE": 2.5}'), /ENDPOINT_RATE_PER_MINUTE/);
		// A run with bad settings does not take the lock.
		assert.match(refused('{"X": 1}'), /unknown key/);
		try {
			q(`SELECT * FROM batch_sync_start(false, '{"X": 1}', 'wf', 'ex')`);
		} catch {
			// expected
		}
		assert.equal(q("SELECT running_run_id IS NULL FROM sync_state WHERE direction = 'local'"), 't');
	} finally {
		pg.stop();
	}
});

test('a run whose heartbeat stopped is taken over at once after LOCK_TIMEOUT_MINUTES; it cannot write any more', async () => {
	const { pg, q } = await database();
	try {
		const dead = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'dead-exec')`);
		const row = { external_id: '9', operation: 'insert', data: { title: 't' }, checksum: 'c'.repeat(64), decision: 'create_local', local_action: 'none', idempotency_key: 'd1', retry_delays_ms: [1000] };
		q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run: dead, rows: JSON.stringify([row]) });
		// Within the bound: blocked.
		assert.equal(q(`SELECT blocked FROM batch_sync_start(false, '{"LOCK_TIMEOUT_MINUTES": 2}', 'wf', 'e2')`), 't');
		assert.equal(q(`SELECT running_run_id FROM sync_state WHERE direction = 'local'`), dead, 'a blocked start changes nothing');
		// The process died: no heartbeat for 3 minutes.
		q("UPDATE sync_state SET heartbeat_at = now() - interval '3 minutes', running_since = now() - interval '4 minutes' WHERE direction = 'local'");
		const next = q(`SELECT run_id || ' ' || blocked || ' ' || retry_keys FROM batch_sync_start(false, '{"LOCK_TIMEOUT_MINUTES": 2}', 'wf', 'e3')`).split(' ');
		assert.equal(next[1], 'false');
		// The dead run's pending row is read again by the new run.
		assert.equal(next[2], '["9"]');
		assert.notEqual(next[0], dead);
		const abandoned = q(`SELECT status || '|' || execution_id || '|' || failed_items || '|' || reason FROM sync_metrics WHERE run_id = '${dead}'`).split('|');
		assert.deepEqual(abandoned.slice(0, 3), ['abandoned', 'dead-exec', '1']);
		assert.match(abandoned[3], new RegExp(`taken over by run ${next[0]}`));
		// The dead run, should it wake up, writes nothing.
		assert.throws(() => q("SELECT * FROM batch_sync_process(:'run', '[\"d1\"]'::jsonb, 'wf', 'x');", { run: dead }), /no longer holds the sync lock/);
		assert.throws(() => q("SELECT * FROM batch_sync_finish(:'run', 'wf', 'x');", { run: dead }), /no longer holds the sync lock/);
		assert.equal(q(`SELECT cursor_at FROM sync_state WHERE direction = 'local'`), '-infinity');
	} finally {
		pg.stop();
	}
});

/** A psql session kept open (one connection, statements sent one at a time), to hold a
 * transaction while other sessions act. `send(sql)` resolves with the statement's output, or
 * rejects with its error; `pending(sql)` sends it without waiting: a promise that settles when the
 * statement does (e.g. one waiting for a lock). */
function session(pg) {
	const proc = spawn('psql', ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'flrts', '-qAtX', '-v', 'ON_ERROR_STOP=0'], { stdio: ['pipe', 'pipe', 'pipe'] });
	let out = '';
	let err = '';
	proc.stdout.on('data', (d) => (out += d));
	proc.stderr.on('data', (d) => (err += d));
	let n = 0;
	const send = (sql) => {
		const mark = `--done-${n++}--`;
		proc.stdin.write(`${sql.trim().replace(/;?$/, ';')}\n\\echo ${mark}\n`);
		return new Promise((resolve, reject) => {
			const timer = setInterval(() => {
				const at = out.indexOf(mark);
				if (at < 0) return;
				clearInterval(timer);
				const text = out.slice(0, at).trim();
				out = out.slice(at + mark.length + 1);
				const e = err;
				err = '';
				if (/ERROR:/.test(e)) reject(new Error(e.trim()));
				else resolve(text);
			}, 10);
		});
	};
	return { send, close: () => proc.stdin.end() };
}

test("a run's transactions do not wait for each other on the sync lock; a takeover waits for those that passed its check, after which they fail", async () => {
	const { pg, q } = await database();
	const a = session(pg);
	const b = session(pg);
	const c = session(pg);
	try {
		const run = q(`SELECT run_id FROM batch_sync_start(false, '{"LOCK_TIMEOUT_MINUTES": 1}', 'wf', 'e1')`);
		const beat = () => q("SELECT heartbeat_at FROM sync_state WHERE direction = 'local'");
		const beat0 = beat();
		// Two of the run's transactions pass the check at once (a batch of each of two pages).
		await a.send('BEGIN');
		await a.send(`SELECT batch_sync_heartbeat('${run}')`);
		await b.send("BEGIN; SET LOCAL lock_timeout = '2s'");
		await b.send(`SELECT batch_sync_heartbeat('${run}')`);
		await b.send(`SELECT batch_sync_heartbeat('${run}')`); // twice in one transaction: no wait either
		assert.equal(beat(), beat0, 'a fresh heartbeat is not written again');
		await b.send('COMMIT');
		// A start (here the schedule's next tick) waits for the transaction that passed the check,
		// then sees the run alive.
		let started = false;
		const tick = c.send(`SELECT blocked FROM batch_sync_start(false, '{"LOCK_TIMEOUT_MINUTES": 1}', 'wf', 'e2')`).then((r) => ((started = true), r));
		await new Promise((res) => setTimeout(res, 500));
		assert.equal(started, false, 'the start waits for the transaction holding the check');
		await a.send(`SELECT batch_sync_heartbeat('${run}')`); // that transaction goes on as it was
		await a.send('COMMIT');
		assert.equal(await tick, 't');
		// A heartbeat 5 seconds old or more is written again.
		q("UPDATE sync_state SET heartbeat_at = now() - interval '6 seconds' WHERE direction = 'local'");
		const stale = beat();
		q(`SELECT batch_sync_heartbeat('${run}')`);
		assert.ok(beat() > stale && beat() > beat0, `${stale} → ${beat()}`);
		// The process died (no heartbeat for 2 minutes): a new run takes over; the old one's
		// transactions fail from then on.
		q("UPDATE sync_state SET heartbeat_at = now() - interval '2 minutes', running_since = now() - interval '3 minutes' WHERE direction = 'local'");
		const next = q(`SELECT run_id FROM batch_sync_start(false, '{"LOCK_TIMEOUT_MINUTES": 1}', 'wf', 'e3')`);
		assert.notEqual(next, run);
		await assert.rejects(b.send(`SELECT batch_sync_heartbeat('${run}')`), /no longer holds the sync lock/);
		assert.throws(() => q(`SELECT batch_sync_heartbeat('${run}')`), /no longer holds the sync lock/);
		q(`SELECT batch_sync_heartbeat('${next}')`);
	} finally {
		a.close();
		b.close();
		c.close();
		pg.stop();
	}
});

test('next_attempt_at: a row waiting for its retry is not staged for writing before its time; dead letters stay until re-queued', async () => {
	const { pg, q } = await database();
	try {
		const run = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e1')`);
		const row = { external_id: '5', operation: 'update', data: { title: 't' }, checksum: 'c'.repeat(64), decision: 'update_remote', local_action: 'none', remote: { op: 'patch', body: { subject: 't', lockVersion: 1 }, lock_version: 1 }, remote_version: 1, idempotency_key: 'r1', retry_delays_ms: [60000, 120000] };
		q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run, rows: JSON.stringify([row]) });
		const ops = JSON.parse(q("SELECT ops FROM batch_sync_process(:'run', '[\"r1\"]'::jsonb, 'wf', 'e1');", { run }));
		assert.equal(ops.length, 1);
		const fail = (run) => q("SELECT * FROM batch_sync_record_remote(:'run', :'res'::jsonb, 'wf', 'e');", { run, res: JSON.stringify([{ idempotency_key: 'r1', result: { ok: false, status: 503, message: 'busy' } }]) });
		fail(run);
		assert.equal(q("SELECT status || ' ' || attempts || ' ' || (next_attempt_at > now() + interval '59 seconds') FROM sync_staging_work_packages WHERE idempotency_key = 'r1'"), 'retry 1 true');
		q("SELECT * FROM batch_sync_finish(:'run', 'wf', 'e1');", { run });
		assert.equal(q(`SELECT status || ' ' || failed_items FROM sync_metrics WHERE run_id = '${run}'`), 'partial 1');
		// The next run plans the same write: it stays waiting, nothing goes out.
		const run2 = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e2')`);
		assert.equal(q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run: run2, rows: JSON.stringify([row]) }), '0');
		assert.deepEqual(JSON.parse(q("SELECT ops FROM batch_sync_process(:'run', '[\"r1\"]'::jsonb, 'wf', 'e2');", { run: run2 })), []);
		// Once its time has come, it is written again; after the last planned retry it is dead.
		q("UPDATE sync_staging_work_packages SET next_attempt_at = now() - interval '1 second' WHERE idempotency_key = 'r1'");
		assert.equal(q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run: run2, rows: JSON.stringify([row]) }), '1');
		assert.equal(JSON.parse(q("SELECT ops FROM batch_sync_process(:'run', '[\"r1\"]'::jsonb, 'wf', 'e2');", { run: run2 })).length, 1);
		fail(run2);
		q("UPDATE sync_staging_work_packages SET next_attempt_at = now() - interval '1 second' WHERE idempotency_key = 'r1'");
		q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run: run2, rows: JSON.stringify([row]) });
		q("SELECT ops FROM batch_sync_process(:'run', '[\"r1\"]'::jsonb, 'wf', 'e2');", { run: run2 });
		fail(run2);
		assert.equal(q("SELECT external_id || ' ' || attempts || ' ' || http_status || ' ' || message FROM sync_dead_letters"), '5 3 503 busy');
		assert.equal(q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run: run2, rows: JSON.stringify([row]) }), '0', 'dead stays dead');
		assert.equal(q("SELECT * FROM batch_sync_requeue('5', 'alice')"), '1');
		assert.equal(q("SELECT actor || ' ' || action FROM sync_audit WHERE action = 'dead.requeued'"), 'alice dead.requeued');
		assert.equal(q('SELECT count(*) FROM sync_dead_letters'), '0');
		assert.equal(q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run: run2, rows: JSON.stringify([row]) }), '1');
	} finally {
		pg.stop();
	}
});

test('a create whose answer was lost is recorded from the work package found by its marker, not created again', async () => {
	const { pg, q } = await database();
	try {
		q("INSERT INTO tasks (title) VALUES ('made here')");
		const key = `task-${q('SELECT id FROM tasks')}`;
		const run = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e1')`);
		const row = { external_id: key, operation: 'insert', data: { title: 'made here' }, checksum: 'c'.repeat(64), decision: 'create_remote', local_action: 'none', remote: { op: 'create', body: { id: key, subject: 'made here' }, lock_version: null }, idempotency_key: 'c1', retry_delays_ms: [1000] };
		q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run, rows: JSON.stringify([row]) });
		q("SELECT ops FROM batch_sync_process(:'run', '[\"c1\"]'::jsonb, 'wf', 'e1');", { run });
		// The process dies here: the POST went out, its answer was never recorded.
		q("UPDATE sync_state SET heartbeat_at = now() - interval '1 hour' WHERE direction = 'local'");
		const run2 = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e2')`);
		assert.deepEqual(JSON.parse(q('SELECT keys FROM batch_sync_unfinished_creates()')), [key]);
		const found = [{ key, id: 4711, lockVersion: 0, updatedAt: '2026-12-03T10:00:00Z', duplicates: [4712] }, { key: 'task-999', id: 5000, lockVersion: 0, duplicates: [] }];
		assert.equal(q("SELECT * FROM batch_sync_recover_creates(:'run', :'found'::jsonb, 'wf', 'e2');", { run: run2, found: JSON.stringify(found) }), '1');
		assert.equal(q("SELECT external_id FROM tasks"), '4711');
		assert.equal(q("SELECT external_id || ' ' || lock_version || ' ' || checksum FROM work_packages"), `4711 0 ${'c'.repeat(64)}`);
		assert.equal(q("SELECT status FROM sync_staging_work_packages WHERE idempotency_key = 'c1'"), 'processed');
		assert.equal(q("SELECT detail->>'recovered' FROM sync_audit WHERE action = 'remote.create'"), 'true');
		assert.equal(q("SELECT detail->>'duplicates' FROM sync_audit WHERE action = 'remote.duplicate'"), '[4712]');
		assert.deepEqual(JSON.parse(q('SELECT keys FROM batch_sync_unfinished_creates()')), []);
	} finally {
		pg.stop();
	}
});

test('a failed batch: its rows wait for a retry, the run goes on and ends partial; a failed run releases the lock', async () => {
	const { pg, q } = await database();
	try {
		const run = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e1')`);
		const row = (k) => ({ external_id: k, operation: 'update', data: { title: k }, checksum: 'c'.repeat(64), decision: 'update_remote', local_action: 'none', remote: { op: 'patch', body: {}, lock_version: 1 }, idempotency_key: `b${k}`, retry_delays_ms: [1000] });
		q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run, rows: JSON.stringify([row('1'), row('2')]) });
		assert.equal(q("SELECT * FROM batch_sync_fail_batch(:'run', '[\"b1\",\"b2\"]'::jsonb, '{\"message\":\"connection reset\"}'::jsonb, 'wf', 'e1');", { run }), '2');
		assert.equal(q("SELECT string_agg(status || ':' || (last_error->>'message'), ',' ORDER BY external_id) FROM sync_staging_work_packages"), 'retry:connection reset,retry:connection reset');
		const fin = q("SELECT status FROM batch_sync_finish(:'run', 'wf', 'e1');", { run });
		assert.equal(fin, 'partial');
		assert.match(q(`SELECT reason FROM sync_metrics WHERE run_id = '${run}'`), /2 rows failed, 1 batches failed, 0 of 0 pages failed/);
		const run2 = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'e2')`);
		assert.match(q("SELECT reason FROM batch_sync_fail_run(:'run', 'Reading OpenProject', '{\"message\":\"HTTP 503\"}'::jsonb, 'wf', 'e2');", { run: run2 }), /Reading OpenProject failed: HTTP 503/);
		assert.equal(q(`SELECT status FROM sync_metrics WHERE run_id = '${run2}'`), 'failed');
		assert.equal(q(`SELECT blocked FROM batch_sync_start(false, '{}', 'wf', 'e3')`), 'f', 'the lock is free again');
		assert.equal(q("SELECT cursor_at > '-infinity' FROM sync_state WHERE direction = 'local'"), 't', 'only the finished run moved the cursor');
	} finally {
		pg.stop();
	}
});

test('pages: every key in one page, PARALLEL_WORKERS in flight, a page sent twice taken once, a dead worker\'s page sent again, the cursors only after every page', async () => {
	const { pg, q, json } = await database();
	try {
		// 7 linked pairs, 2 new tasks, 1 new work package (listed), 1 mirror row only (full sync).
		q("INSERT INTO tasks (external_id, title) SELECT i::text, 'T' || i FROM generate_series(1, 7) i");
		q("INSERT INTO tasks (title) VALUES ('new a'), ('new b')");
		q("INSERT INTO work_packages (external_id, data, checksum) VALUES ('12', '{}', 'x')");
		const settings = JSON.stringify({ PAGE_SIZE: 4, PARALLEL_WORKERS: 2, PAGE_TIMEOUT_SECONDS: 30, MAX_RETRIES: 1 });
		const run = q(`SELECT run_id FROM batch_sync_start(false, '${settings}', 'wf', 'coord')`);
		const remote = JSON.stringify({ ids: ['1', '2', '3', '4', '5', '6', '7', '10'], maxUpdatedAt: '2026-12-03T10:00:00Z' });
		assert.equal(q("SELECT pages || ' ' || keys FROM batch_sync_plan_pages(:'run', :'remote'::jsonb);", { run, remote }), '3 11');
		const pages = json(`SELECT jsonb_agg(keys ORDER BY page_no) FROM sync_run_pages WHERE run_id = '${run}'`);
		assert.deepEqual(pages, [['1', '2', '3', '4'], ['5', '6', '7', '10'], ['12', 'task-8', 'task-9']]);
		const next = () => json("SELECT to_jsonb(n) FROM batch_sync_next_pages(:'run') n;", { run });
		let n = next();
		assert.deepEqual(n.dispatch.map((d) => d.page_no), [0, 1], 'two in flight');
		assert.equal(n.finished, false);
		assert.deepEqual(next().dispatch, [], 'no room until one is done');
		const claim = (page, exec) => json(`SELECT to_jsonb(c) FROM batch_sync_claim_page('${run}', ${page}, '${exec}') c`);
		const c0 = claim(0, 'w1');
		assert.equal(c0.claimed, true);
		assert.deepEqual(c0.remote_ids, ['1', '2', '3', '4']);
		assert.equal(c0.settings.PAGE_SIZE, 4);
		assert.equal(claim(0, 'w2').claimed, false, 'a page sent twice is taken once');
		assert.equal(claim(1, 'w2').claimed, true);
		// The page's tasks, by key.
		assert.equal(json("SELECT records FROM batch_sync_page_tasks('[\"task-8\", \"3\"]')").map((r) => r.sync_id).join(','), '3,task-8');
		// Rows an earlier run left for keys of page 0: one this run planned again while it waits for
		// its retry (seen), one nobody plans any more (the pair needs no such write now).
		q(`INSERT INTO sync_staging_work_packages (run_id, external_id, operation, decision, idempotency_key, status, next_attempt_at)
		   VALUES ('old', '2', 'update', 'update_remote', 'old-2', 'retry', now() + interval '1 hour'),
		          ('old', '3', 'update', 'update_remote', 'old-3', 'retry', now() + interval '1 hour')`);
		q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run, rows: JSON.stringify([{ external_id: '3', operation: 'update', decision: 'update_remote', local_action: 'none', idempotency_key: 'old-3', retry_delays_ms: [1000] }]) });
		// Page 0 completes; only its own execution may write for it.
		assert.equal(q(`SELECT done FROM batch_sync_complete_page('${run}', 0, '{"total": 4, "unchanged": 4}', 'w1')`), 't');
		assert.equal(q("SELECT string_agg(external_id || ':' || status, ',' ORDER BY external_id) FROM sync_staging_work_packages WHERE run_id = 'old'"), '2:superseded,3:retry');
		assert.throws(() => q(`SELECT * FROM batch_sync_process('${run}', '[]', 'wf', 'w1')`), /no longer holds a page/);
		n = next();
		assert.deepEqual(n.dispatch.map((d) => d.page_no), [2]);
		// The worker of page 1 dies: after PAGE_TIMEOUT_SECONDS without a heartbeat the page goes back
		// to the queue and is sent again; the dead execution cannot write for it any more.
		q(`UPDATE sync_run_pages SET heartbeat_at = now() - interval '31 seconds' WHERE run_id = '${run}' AND page_no = 1`);
		n = next();
		assert.deepEqual(n.dispatch.map((d) => d.page_no), [1]);
		assert.throws(() => q(`SELECT * FROM batch_sync_process('${run}', '[]', 'wf', 'w2')`), /no longer holds a page/);
		assert.equal(claim(1, 'w3').claimed, true);
		q(`SELECT * FROM batch_sync_complete_page('${run}', 1, '{"total": 4, "update_local": 1, "unchanged": 3}', 'w3')`);
		// Page 2 is never claimed (its job was lost) and has been sent 1 + MAX_RETRIES times: failed.
		q(`UPDATE sync_run_pages SET dispatched_at = now() - interval '31 seconds' WHERE run_id = '${run}' AND page_no = 2`);
		n = next();
		assert.deepEqual(n.dispatch.map((d) => d.page_no), [2], 'sent again');
		q(`UPDATE sync_run_pages SET dispatched_at = now() - interval '31 seconds' WHERE run_id = '${run}' AND page_no = 2`);
		n = next();
		assert.deepEqual([n.done, n.failed, n.finished], [2, 1, true]);
		assert.match(q(`SELECT last_error->>'message' FROM sync_run_pages WHERE run_id = '${run}' AND page_no = 2`), /sent 2 times without finishing/);
		// The run ends partial: the counts summed over the pages, the cursors not moved.
		const fin = json("SELECT to_jsonb(f) FROM batch_sync_finish(:'run', 'wf', 'coord') f;", { run });
		assert.deepEqual([fin.status, fin.total, fin.pages, fin.pages_failed], ['partial', 8, 3, 1]);
		assert.deepEqual(json(`SELECT per_decision FROM sync_metrics WHERE run_id = '${run}'`), { total: 8, unchanged: 7, update_local: 1 });
		assert.equal(q("SELECT count(*) FROM sync_state WHERE cursor_at > '-infinity'"), '0', 'cursors stay until every page is done');
		assert.equal(q("SELECT running_run_id IS NULL FROM sync_state WHERE direction = 'local'"), 't');
		// The next run: every page done, the cursors move (the remote one to the listing's newest).
		const run2 = q(`SELECT run_id FROM batch_sync_start(false, '${settings}', 'wf', 'coord2')`);
		q("SELECT * FROM batch_sync_plan_pages(:'run', :'remote'::jsonb);", { run: run2, remote });
		for (let k = 0; k < 3; k++) {
			json("SELECT to_jsonb(n) FROM batch_sync_next_pages(:'run') n;", { run: run2 });
			assert.equal(json(`SELECT to_jsonb(c) FROM batch_sync_claim_page('${run2}', ${k}, 'x${k}') c`).claimed, true);
			q(`SELECT * FROM batch_sync_complete_page('${run2}', ${k}, '{"total": 1}', 'x${k}')`);
		}
		assert.equal(json("SELECT to_jsonb(f) FROM batch_sync_finish(:'run', 'wf', 'coord2') f;", { run: run2 }).status, 'success');
		assert.equal(q("SELECT to_char(cursor_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM sync_state WHERE direction = 'remote'"), '2026-12-03T10:00:00');
		// A claim for a run that ended is refused.
		assert.equal(claim(0, 'late').claimed, false);
	} finally {
		pg.stop();
	}
});

test('run kinds: asked for by the webhook or the CLI, delta_sync needs since, the schedule runs when due', async () => {
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		for (const f of ['schema.sql', 'sync.sql']) pg.psqlFile(path.join(root, 'workflows/sql', f), 'flrts');
		const q = (sql) => pg.psql(sql, 'flrts').trim();
		const start = (request, settings = '{}') =>
			JSON.parse(q(`SELECT to_jsonb(s) FROM batch_sync_start(false, '${settings}', 'wf', 'ex', '${JSON.stringify(request)}') s`));
		// A run that listed one work package (OpenProject's newest updatedAt moves the remote cursor).
		const finish = (run) => {
			q(`SELECT * FROM batch_sync_plan_pages('${run}', '{"ids": [], "maxUpdatedAt": "2026-01-01T00:00:00Z"}')`);
			return q(`SELECT status FROM batch_sync_finish('${run}', 'wf', 'ex')`);
		};
		const refused = (request) => {
			try {
				start(request);
			} catch (e) {
				return String(e.stderr);
			}
			return 'accepted';
		};
		// The first run is a full sync whatever is asked, except a reconciliation.
		let s = start({ kind: 'incremental', by: 'ana' });
		assert.deepEqual([s.kind, s.full_sync, s.requested_by, s.due, s.remote_since], ['full_sync', true, 'ana', true, '']);
		assert.equal(finish(s.run_id), 'success');
		// The schedule, right after: not due, nothing written.
		const runs = q('SELECT count(*) FROM sync_runs');
		s = start({ scheduled: true });
		assert.equal(s.due, false);
		assert.match(s.reason, /^not due: the last run started at .*, the interval is 15 minutes \(nothing changed: SYNC_INTERVAL_MINUTES\)$/);
		assert.equal(q('SELECT count(*) FROM sync_runs'), runs);
		assert.equal(q("SELECT running_run_id IS NULL FROM sync_state WHERE direction = 'local'"), 't');
		// Due once the interval has passed (the last run moved back an hour).
		q("UPDATE sync_runs SET started_at = started_at - interval '1 hour'");
		s = start({ scheduled: true });
		assert.deepEqual([s.due, s.kind], [true, 'incremental']);
		// A tick while that run is live and young: not due, no blocked row.
		const tick = start({ scheduled: true });
		assert.equal(tick.due, false);
		assert.match(tick.reason, /^not due: the last run started at /);
		assert.equal(q("SELECT count(*) FROM sync_metrics WHERE status = 'blocked'"), '0');
		// The same asked for by a person: blocked (409), with a metrics row.
		const blocked = start({ kind: 'full_sync' });
		assert.equal(blocked.blocked, true);
		assert.equal(q("SELECT kind FROM sync_metrics WHERE status = 'blocked'"), 'full_sync');
		assert.equal(finish(s.run_id), 'success');
		// Bad requests name what is wrong and take no lock.
		assert.match(refused({ kind: 'weekly' }), /kind must be one of full_sync, incremental, delta_sync, reconciliation, got "weekly"/);
		assert.match(refused({ kind: 'delta_sync' }), /delta_sync needs "since"/);
		assert.match(refused({ kind: 'delta_sync', since: 'soon' }), /since must be an ISO 8601 time/);
		assert.equal(q("SELECT running_run_id IS NULL FROM sync_state WHERE direction = 'local'"), 't');
		// delta_sync: reads from since on both sides; the cursors stay.
		const cursors = q("SELECT string_agg(cursor_at::text, ',' ORDER BY direction) FROM sync_state");
		s = start({ kind: 'delta_sync', since: '2026-01-02T03:04:05Z' });
		assert.deepEqual([s.kind, s.full_sync, s.remote_since], ['delta_sync', false, '2026-01-02T03:04:05Z']);
		assert.equal(new Date(s.local_since).toISOString(), '2026-01-02T03:04:05.000Z');
		assert.equal(finish(s.run_id), 'success');
		assert.equal(q("SELECT string_agg(cursor_at::text, ',' ORDER BY direction) FROM sync_state"), cursors);
		// The CLI's request: the next run (even a scheduled tick) is of that kind, by that person;
		// it is through once such a run got through.
		assert.match(q("SELECT requested_kind FROM batch_sync_request_run('reconciliation', NULL, 'cli-user')"), /reconciliation/);
		s = start({ scheduled: true });
		assert.deepEqual([s.due, s.kind, s.full_sync, s.requested_by], [true, 'reconciliation', true, 'cli-user']);
		assert.equal(finish(s.run_id), 'success');
		assert.equal(q("SELECT count(*) FROM sync_state WHERE requested_kind IS NOT NULL"), '0');
		assert.equal(q("SELECT string_agg(cursor_at::text, ',' ORDER BY direction) FROM sync_state"), cursors, 'a reconciliation moves no cursor');
		assert.throws(() => q("SELECT * FROM batch_sync_request_run('delta_sync')"), /delta_sync needs "since"/);
		// full_requested (the older way) still asks for a full sync.
		q('UPDATE sync_state SET full_requested = true');
		s = start({});
		assert.equal(s.kind, 'full_sync');
		finish(s.run_id);
		assert.equal(q('SELECT bool_or(full_requested) FROM sync_state'), 'f');
		// Settings in human units: SYNC_INTERVAL_MINUTES decides when the schedule's run is due.
		q("UPDATE sync_runs SET started_at = started_at - interval '10 minutes'");
		assert.equal(start({ scheduled: true }, '{"SYNC_INTERVAL_MINUTES": 30}').due, false);
		assert.equal(start({ scheduled: true }, '{"SYNC_INTERVAL_MINUTES": 5}').due, true);
	} finally {
		pg.stop();
	}
});

test('conflict choices: checked when made, applied against the base, set aside when FLRTS changed meanwhile; alerts sent once', async () => {
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		for (const f of ['schema.sql', 'sync.sql']) pg.psqlFile(path.join(root, 'workflows/sql', f), 'flrts');
		const q = (sql) => pg.psql(sql, 'flrts').trim();
		const resolve = (body) => JSON.parse(q(`SELECT jsonb_build_object('code', status_code, 'body', body) FROM batch_sync_resolve_conflict('${JSON.stringify(body).replace(/'/g, "''")}')`));
		q("INSERT INTO tasks (external_id, title, status) VALUES ('5', 'FLRTS five', 'New'), ('6', 'FLRTS six', 'New'), ('7', 'Seven', 'New')");
		q(`INSERT INTO work_packages (external_id, data, checksum) VALUES
		   ('5', '{"title": "Five", "status": "New", "description": "", "due_date": null}', '${'a'.repeat(64)}'),
		   ('6', '{"title": "Six", "status": "New", "description": "", "due_date": null}', '${'b'.repeat(64)}')`);
		const conflict = (key, local, remote, base) =>
			q(`INSERT INTO sync_conflicts (run_id, external_id, conflict_type, strategy, conflicts) VALUES ('r0', '${key}', 'concurrent_modification', 'merge',
			   '[{"path": "/title", "base": ${JSON.stringify(base)}, "local": ${JSON.stringify(local)}, "remote": ${JSON.stringify(remote)}}]') RETURNING id`);
		const c5 = Number(conflict('5', 'FLRTS five', 'OP five', 'Five'));
		const c6 = Number(conflict('6', 'FLRTS six', 'OP six', 'Six'));
		const c7 = Number(conflict('7', 'Seven', 'OP seven', null));
		// Refused: no name, an unknown field, an empty title, a conflict never synced (no base).
		assert.equal(resolve({ id: c5, fields: { '/title': { take: 'flrts' } } }).code, 400);
		assert.match(resolve({ id: c5, by: 'Ana', fields: { '/due_date': { take: 'value', value: '2026-02-30' } } }).body.error, /has no field \/due_date/);
		assert.match(resolve({ id: c5, by: 'Ana', fields: { '/title': { take: 'value', value: ' ' } } }).body.error, /\/title: a task needs one/);
		assert.match(resolve({ id: c5, by: 'Ana', fields: { '/title': { take: 'mine' } } }).body.error, /"take" must be flrts, openproject or value/);
		const noBase = resolve({ id: c7, by: 'Ana', fields: { '/title': { take: 'flrts' } } });
		assert.equal(noBase.code, 409);
		assert.match(noBase.body.error, /never synced \(no base\)/);
		assert.equal(resolve({ id: 999, by: 'Ana', fields: { '/title': { take: 'flrts' } } }).code, 404);
		// Accepted: 5 takes a typed value; 6 takes FLRTS, but FLRTS changes again before the run.
		assert.equal(resolve({ id: c5, by: 'Ana', fields: { '/title': { take: 'value', value: 'Agreed five' } } }).code, 200);
		assert.equal(resolve({ id: c6, by: 'Ben', fields: { '/title': { take: 'flrts' } } }).code, 200);
		q("UPDATE tasks SET title = 'FLRTS six, edited again' WHERE external_id = '6'");
		const run = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'ex')`);
		q(`SELECT * FROM batch_sync_plan_pages('${run}', '{"ids": []}')`);
		// 5: the task holds the choice; the base holds OpenProject's value there, its checksum
		// left for the core to compute (the run then writes the choice to OpenProject).
		assert.equal(q("SELECT title FROM tasks WHERE external_id = '5'"), 'Agreed five');
		assert.equal(q("SELECT data->>'title' || '|' || checksum FROM work_packages WHERE external_id = '5'"), 'OP five|');
		assert.equal(q(`SELECT actor || ' ' || action FROM sync_audit WHERE external_id = '5' AND action LIKE 'conflict.%' ORDER BY id DESC LIMIT 1`), 'Ana conflict.applied');
		// 6: set aside (FLRTS changed since), the conflict open for the person, nothing written.
		assert.equal(q("SELECT title FROM tasks WHERE external_id = '6'"), 'FLRTS six, edited again');
		assert.equal(q(`SELECT data->>'title' FROM work_packages WHERE external_id = '6'`), 'Six');
		assert.equal(q(`SELECT status || ' ' || (resolution IS NULL) FROM sync_conflicts WHERE id = ${c6}`), 'open true');
		assert.match(q(`SELECT detail->>'reason' FROM sync_audit WHERE action = 'conflict.choice_set_aside'`), /FLRTS changed \/title since the conflict was recorded/);
		// The base function leaves the emptied checksum out (the core computes it from the snapshot).
		const base = JSON.parse(q(`SELECT records FROM batch_sync_base(false, '["5", "6"]')`));
		assert.deepEqual(base.map((b) => Object.keys(b).sort()), [['id', 'snapshot', 'version'], ['checksum', 'id', 'snapshot', 'version']]);
		// A pair that comes back unchanged closes its open conflict.
		q(`SELECT * FROM batch_sync_refresh_versions('${run}', '[{"id": "6", "decision": "unchanged"}]')`);
		assert.equal(q(`SELECT status FROM sync_conflicts WHERE id = ${c6}`), 'resolved');
		// Alerts: raised once, not again within their repeat interval, and nothing to send then.
		q("UPDATE sync_staging_work_packages SET status = 'dead'");
		q(`INSERT INTO sync_staging_work_packages (run_id, external_id, operation, decision, idempotency_key, status) VALUES ('${run}', '5', 'none', 'update_remote', 'dead-1', 'dead')`);
		q(`SELECT * FROM batch_sync_finish('${run}', 'wf', 'ex')`);
		const first = JSON.parse(q(`SELECT to_jsonb(a) FROM batch_sync_check_alerts('${run}') a`));
		// (The run ended partial and is the only one: the error rate and no success so far say so too.)
		assert.deepEqual(first.alerts.map((a) => a.kind).sort(), ['dead_letters', 'error_rate', 'no_success', 'run_partial']);
		const again = JSON.parse(q(`SELECT to_jsonb(a) FROM batch_sync_check_alerts('${run}') a`));
		assert.deepEqual([again.alerts, again.send], [[], false]);
	} finally {
		pg.stop();
	}
});

test('endpoint admission: ENDPOINT_RATE_PER_MINUTE calls of each endpoint a minute, then refused with the wait; 0 is no limit', async () => {
	const { pg, q } = await database();
	try {
		const admit = (e) => JSON.parse(q(`SELECT to_jsonb(a) FROM batch_sync_admit('${e}') a`));
		// No run yet: the default (60).
		assert.equal(admit('health').rate, 60);
		const setRate = (n) => q(`INSERT INTO sync_runs (run_id, full_sync, settings, started_at) VALUES ('r${n}', false, batch_sync_settings('{"ENDPOINT_RATE_PER_MINUTE": ${n}}'), clock_timestamp())`);
		setRate(2);
		// The calls of one minute (a minute boundary between them would reset the count: retry once).
		for (let attempt = 0; ; attempt++) {
			q('DELETE FROM sync_endpoint_calls');
			const minute = q("SELECT date_trunc('minute', clock_timestamp())");
			const got = [admit('metrics'), admit('metrics'), admit('metrics'), admit('health')];
			if (q("SELECT date_trunc('minute', clock_timestamp())") !== minute && attempt === 0) continue;
			assert.deepEqual(got.map((a) => [a.admitted, a.calls]), [[true, 1], [true, 2], [false, 3], [true, 1]]);
			assert.ok(got[2].retry_after >= 1 && got[2].retry_after <= 60, `retry_after ${got[2].retry_after}`);
			break;
		}
		// Old minutes are cleared as calls come in.
		q("INSERT INTO sync_endpoint_calls VALUES ('metrics', date_trunc('minute', clock_timestamp()) - interval '2 hours', 9)");
		admit('metrics');
		assert.equal(q("SELECT count(*) FROM sync_endpoint_calls WHERE window_start < clock_timestamp() - interval '1 hour'"), '0');
		setRate(0);
		for (let i = 0; i < 5; i++) assert.equal(admit('conflicts').admitted, true);
		assert.throws(() => q("SELECT * FROM batch_sync_admit('x; drop table tasks')"), /endpoint must be a short lower-case name/);
		assert.throws(() => q("SELECT batch_sync_settings('{\"ENDPOINT_RATE_PER_MINUTE\": -1}')"), /ENDPOINT_RATE_PER_MINUTE must be a whole number from 0 to 100000/);
	} finally {
		pg.stop();
	}
});

test('STAGING_TABLE_PREFIX: a run makes <prefix>work_packages, moves the open rows into it and stages there; the rows done stay as history', async () => {
	const { pg, q } = await database();
	const row = (key, id) => ({
		external_id: id, operation: 'update', data: { title: key }, checksum: 'c'.repeat(64), decision: 'update_remote',
		local_action: 'none', remote: { op: 'patch', body: { subject: key }, lock_version: 1 }, idempotency_key: key, retry_delays_ms: [1000],
	});
	const stage = (run, rows) => pg.psqlVars("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", 'flrts', { run, rows: JSON.stringify(rows) });
	const start = (settings) => q(`SELECT run_id FROM batch_sync_start(false, '${JSON.stringify(settings)}', 'wf', 'ex')`);
	const release = () => q("UPDATE sync_state SET running_run_id = NULL WHERE direction = 'local'");
	const statuses = (table) => q(`SELECT coalesce(string_agg(idempotency_key || ':' || status, ' ' ORDER BY idempotency_key), '') FROM ${table}`);
	try {
		assert.equal(q('SELECT batch_sync_staging_table()'), 'sync_staging_work_packages', 'the default prefix uses the schema\'s table');
		const first = start({});
		stage(first, [row('done', '1'), row('waiting', '2'), row('dead', '3'), row('pending', '4')]);
		q("UPDATE sync_staging_work_packages SET status = CASE idempotency_key WHEN 'done' THEN 'processed' WHEN 'waiting' THEN 'retry' WHEN 'dead' THEN 'dead' ELSE status END, next_attempt_at = now() + interval '1 hour'");
		release();

		const second = start({ STAGING_TABLE_PREFIX: 'acme_sync_' });
		assert.equal(q('SELECT batch_sync_staging_table()'), 'acme_sync_work_packages');
		assert.equal(statuses('acme_sync_work_packages'), 'dead:dead pending:pending waiting:retry', 'the open rows moved, with their state');
		assert.equal(statuses('sync_staging_work_packages'), 'done:processed', 'the rows done stay where they were');
		assert.equal(q("SELECT next_attempt_at > now() + interval '50 minutes' FROM acme_sync_work_packages WHERE idempotency_key = 'waiting'"), 't', 'a retry keeps its time');
		assert.equal(q('SELECT external_id FROM sync_dead_letters'), '3', 'the dead letters are those of the table in use');
		assert.equal(q("SELECT detail->>'open_rows_moved' FROM sync_audit WHERE action = 'staging_table' AND run_id = :'run'", { run: second }), '3');
		// The table has the template's constraints and indexes: the same key staged again is one row.
		stage(second, [row('new', '5'), row('new', '5')]);
		assert.equal(q("SELECT count(*) FROM acme_sync_work_packages WHERE idempotency_key = 'new'"), '1');
		assert.equal(q("SELECT count(*) FROM sync_staging_work_packages WHERE idempotency_key = 'new'"), '0');
		assert.throws(() => q("UPDATE acme_sync_work_packages SET status = 'lost' WHERE idempotency_key = 'new'"), /check constraint/);
		// The run's retry keys come from the table in use.
		release();
		const third = JSON.parse(q(`SELECT to_jsonb(s) FROM batch_sync_start(false, '${JSON.stringify({ STAGING_TABLE_PREFIX: 'acme_sync_' })}', 'wf', 'ex') s`));
		assert.deepEqual([...third.retry_keys].sort(), ['2', '4', '5']);
		assert.equal(q("SELECT count(*) FROM sync_audit WHERE action = 'staging_table'"), '1', 'the same prefix again switches nothing');
		release();

		// Back to the default: the open rows come back, the old rows done stay in both. A key done
		// in the default table and open again here (the same plan, failed this time) comes back
		// open: the open row wins, nothing is skipped.
		q(`INSERT INTO acme_sync_work_packages (run_id, external_id, operation, decision, idempotency_key, status)
		   VALUES ('again', '1', 'update', 'update_remote', 'done', 'retry')`);
		start({});
		assert.equal(statuses('sync_staging_work_packages'), 'dead:dead done:retry new:pending pending:pending waiting:retry');
		assert.equal(statuses('acme_sync_work_packages'), '');
		release();

		// A table that is not a staging table is never taken; a bad prefix names the key.
		q('CREATE TABLE mine_work_packages (id integer)');
		assert.throws(() => start({ STAGING_TABLE_PREFIX: 'mine_' }), /STAGING_TABLE_PREFIX "mine_" names the table mine_work_packages, which is not a batch-sync staging table/);
		for (const bad of ['Acme_', '1x_', 'a b', 'x"; DROP TABLE tasks; --', 'a'.repeat(51)]) {
			assert.throws(() => q(`SELECT batch_sync_settings(:'s'::jsonb)`, { s: JSON.stringify({ STAGING_TABLE_PREFIX: bad }) }), /STAGING_TABLE_PREFIX must be lower-case letters/, bad);
		}
		assert.equal(q('SELECT batch_sync_staging_table()'), 'sync_staging_work_packages');
		assert.equal(q("SELECT running_run_id IS NULL FROM sync_state WHERE direction = 'local'"), 't', 'a refused prefix takes no lock');
		assert.equal(q("SELECT count(*) FROM pg_tables WHERE tablename = 'tasks'"), '1');

		// Applying the schema again keeps the table in use, and gives a prefixed table the template's new columns.
		start({ STAGING_TABLE_PREFIX: 'acme_sync_' });
		release();
		q('ALTER TABLE sync_staging_work_packages ADD COLUMN note text');
		pg.psqlFile(path.join(root, 'workflows/sql/schema.sql'), 'flrts');
		assert.equal(q('SELECT batch_sync_staging_table()'), 'acme_sync_work_packages');
		assert.equal(q("SELECT count(*) FROM information_schema.columns WHERE table_name = 'acme_sync_work_packages' AND column_name = 'note'"), '1');
		assert.equal(q("SELECT count(*) FROM information_schema.columns WHERE table_name = 'sync_staging' AND column_name = 'note'"), '1');
	} finally {
		pg.stop();
	}
});

test('adaptive interval: idle runs lengthen it up to the maximum, edits bring it back, a burst or a backlog shortens it to the minimum; the schedule and health follow it', async () => {
	const { q, json, pg } = await database();
	try {
		q("INSERT INTO tasks (external_id, title) VALUES ('1', 'T1')");
		/** One run whose single page found `summary` (the page's Compare summary). */
		const runWith = (summary, settings = {}, during = () => {}) => {
			const { run } = runOnePage({ q, json }, { settings, summary, during: ({ run }) => during(run) });
			return json(`SELECT jsonb_build_object('minutes', interval_minutes, 'reason', interval_reason) FROM sync_metrics WHERE run_id = '${run}'`);
		};
		const idle = { total: 1, unchanged: 1 };
		const seq = [];
		const step = (summary, settings, during) => {
			const i = runWith(summary, settings, during);
			seq.push(i.minutes);
			return i.reason;
		};
		assert.equal(step(idle), 'nothing changed: SYNC_INTERVAL_MINUTES');
		assert.equal(step(idle), 'nothing changed, two runs in a row: later');
		step(idle);
		step(idle);
		assert.deepEqual(seq, [15, 30, 60, 60], 'idle runs double it, up to SYNC_INTERVAL_MAX_MINUTES');
		assert.equal(step({ total: 1, update_remote: 1 }), '1 changes: SYNC_INTERVAL_MINUTES');
		assert.match(step({ total: 120, update_local: 70, create_remote: 50 }), /^burst: 120 changes \(at least BATCH_SIZE, 50\): sooner$/);
		step({ total: 60, update_local: 60 });
		step({ total: 60, update_local: 60 });
		step({ total: 60, update_local: 60 });
		step({ total: 60, update_local: 60 });
		assert.deepEqual(seq.slice(4), [15, 7.5, 3.8, 1.9, 1, 1], 'a burst halves it, down to SYNC_INTERVAL_MIN_MINUTES');
		// The schedule: due after the chosen interval, not after SYNC_INTERVAL_MINUTES.
		q("UPDATE sync_runs SET started_at = started_at - interval '2 minutes'");
		const tick = (settings = {}) => json(`SELECT to_jsonb(s) FROM batch_sync_start(false, '${JSON.stringify(settings)}', 'wf', 'tick', '{"scheduled": true}') s`);
		let t = tick();
		assert.equal(t.due, true, 'due after 2 minutes with an interval of 1');
		q(`SELECT * FROM batch_sync_fail_run('${t.run_id}', 'test', '{"message": "stop"}', 'wf', 'tick')`);
		// Quiet again: back to SYNC_INTERVAL_MINUTES, then longer.
		assert.equal(step(idle), 'nothing changed: SYNC_INTERVAL_MINUTES');
		step(idle);
		assert.deepEqual(seq.slice(-2), [15, 30]);
		q("UPDATE sync_runs SET started_at = started_at - interval '20 minutes'");
		t = tick();
		assert.equal(t.due, false);
		assert.match(t.reason, /the interval is 30 minutes \(nothing changed, two runs in a row: later\)$/);
		// Switched off, the setting is the interval; another SYNC_INTERVAL_MINUTES starts over from it.
		const stop = (r) => {
			q(`SELECT * FROM batch_sync_fail_run('${r.run_id}', 'test', '{"message": "stop"}', 'wf', 'tick')`);
			q("UPDATE sync_runs SET started_at = started_at - interval '20 minutes'");
		};
		t = tick({ ADAPTIVE_INTERVAL: false });
		assert.equal(t.due, true);
		stop(t);
		t = tick({ SYNC_INTERVAL_MINUTES: 10 });
		assert.equal(t.due, true);
		stop(t);
		// A backlog (a row whose retry is due) shortens it whatever the run found.
		const failedWrite = (run) => {
			q("SELECT * FROM batch_sync_stage(:'run', :'rows'::jsonb);", { run, rows: JSON.stringify([{ external_id: '1', operation: 'update', decision: 'update_remote', local_action: 'none', idempotency_key: 'wait-1', retry_delays_ms: [120000] }]) });
			q("UPDATE sync_staging_work_packages SET status = 'retry', attempts = 1, next_attempt_at = now() + interval '2 minutes' WHERE idempotency_key = 'wait-1'");
		};
		assert.equal(step({ total: 1, update_remote: 1 }, {}, failedWrite), 'backlog: 1 rows waiting, 0 pages failed: sooner');
		assert.equal(seq.at(-1), 7.5);
		// A retry due only after the interval is no reason to come sooner.
		assert.equal(step({ total: 1, update_remote: 1 }, {}, (run) => {
			failedWrite(run);
			q("UPDATE sync_staging_work_packages SET next_attempt_at = now() + interval '2 hours' WHERE idempotency_key = 'wait-1'");
		}), '1 changes: SYNC_INTERVAL_MINUTES');
		q("UPDATE sync_staging_work_packages SET status = 'processed' WHERE idempotency_key = 'wait-1'");
		assert.equal(step(idle), 'nothing changed: SYNC_INTERVAL_MINUTES');
		// Health and metrics show it; the last-success limit follows a longer interval.
		step(idle);
		const health = json("SELECT body FROM batch_sync_health('{}')");
		const last = health.checks.find((c) => c.name === 'last_success');
		assert.deepEqual([last.interval_minutes, last.interval_reason, last.limit_minutes], [30, 'nothing changed, two runs in a row: later', 60]);
		assert.match(q("SELECT body FROM batch_sync_metrics('prometheus')"), /^batch_sync_interval_minutes 30$/m);
		// A conflict still waiting for a person, found again, is no edit; one the run opens is.
		assert.equal(step({ total: 1, conflict: 1, conflicts_unresolved: 1 }), 'nothing changed, two runs in a row: later');
		assert.equal(seq.at(-1), 60);
		assert.equal(step({ total: 1, conflict: 1, conflicts_unresolved: 1 }, {}, (run) => {
			q(`INSERT INTO sync_conflicts (run_id, external_id, conflict_type, strategy, conflicts) VALUES ('${run}', '1', 'concurrent_modification', 'manual', '[]')`);
		}), '1 changes: SYNC_INTERVAL_MINUTES');
		// Bounds are checked with the interval.
		assert.throws(() => q(`SELECT batch_sync_settings('{"SYNC_INTERVAL_MIN_MINUTES": 70}')`), /SYNC_INTERVAL_MIN_MINUTES \(70\) must not be above SYNC_INTERVAL_MAX_MINUTES \(60\)/);
		assert.throws(() => q(`SELECT batch_sync_settings('{"ADAPTIVE_INTERVAL": "yes"}')`), /ADAPTIVE_INTERVAL must be true or false/);
	} finally {
		pg.stop();
	}
});

test('adaptive batch size: searched from measured batches within its bounds, halved when OpenProject throttles and tried upwards again later, smaller when requests slow down', async () => {
	const { q, json, pg } = await database();
	try {
		q("INSERT INTO tasks (external_id, title) VALUES ('1', 'T1')");
		const runAt = (figures, settings) => batchRun({ q, json }, figures, settings);
		const used = [];
		const step = (figures, settings) => {
			const m = runAt(figures, settings);
			used.push(m.used);
			return m;
		};
		let m = step({ rate: 100 });
		assert.deepEqual([m.used, m.next, m.reason, m.rate, m.lat, m.thr], [50, 100, '100.0 rows/s at 50, the best so far: trying 100', 100, 50, 0]);
		step({ rate: 150 });
		step({ rate: 160 });
		m = step({ rate: 120 });
		assert.equal(m.reason, '120.0 rows/s at 400, 160.0 at 200: back to 200');
		// OpenProject throttles at 200: half; sizes from 200 up are not tried while that run is among the last six.
		m = step({ rate: 158, thr: 3 });
		assert.deepEqual([m.used, m.thr, m.next, m.reason], [200, 3, 100, 'OpenProject throttled 3 answers (429/5xx) at 200: smaller']);
		m = step({ rate: 140 });
		assert.equal(m.reason, '140.0 rows/s at 100, the best of the sizes measured below 200 (throttled): kept');
		for (const rate of [140, 100, 140, 140, 140]) step({ rate: rate });
		m = step({ rate: 165 });
		step({ rate: 170 });
		assert.deepEqual(used, [50, 100, 200, 400, 200, 100, 100, 50, 100, 100, 100, 200, 400], 'up, back, down when throttled, up again');
		// Requests slowing down (50 -> 200 ms): a quarter off.
		m = step({ rate: 170, lat: 200 });
		assert.deepEqual([m.used, m.next, m.reason], [800, 600, 'OpenProject answered in 200.0 ms, 50.0 ms the run before: smaller']);
		// The bounds hold; switched off, BATCH_SIZE is the size.
		m = step({ rate: 170 }, { BATCH_SIZE_MAX: 200 });
		assert.equal(m.used, 200);
		m = step({ rate: 170 }, { ADAPTIVE_BATCH_SIZE: false });
		assert.deepEqual([m.used, m.next, m.reason], [50, 50, 'fixed: ADAPTIVE_BATCH_SIZE is off']);
		// Batch timings older than a week go at a run's end; the runs' figures stay.
		q("UPDATE sync_batches SET started_at = started_at - interval '8 days' WHERE id = (SELECT min(id) FROM sync_batches)");
		const before = Number(q('SELECT count(*) FROM sync_batches'));
		// A run with less than one full batch measures nothing: kept, no figure.
		m = step({ rate: 170, rows: 20 });
		assert.deepEqual([m.used, m.next, m.rate, m.reason], [50, 50, null, '20 rows, no batch full (50): kept']);
		assert.equal(Number(q('SELECT count(*) FROM sync_batches')), before, 'one old batch gone, this run\'s one added');
		// A run that wrote nothing keeps it.
		const quiet = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'coord')`);
		json("SELECT to_jsonb(f) FROM batch_sync_finish(:'run', 'wf', 'coord') f;", { run: quiet });
		assert.equal(q(`SELECT batch_size_reason FROM sync_metrics WHERE run_id = '${quiet}'`), 'nothing written: kept');
		// A slow OpenProject (2 rows/s): no batch may take more than a quarter of PAGE_TIMEOUT_SECONDS
		// (120 s), whatever size was fastest before.
		m = step({ rate: 2 });
		assert.deepEqual([m.used, m.next], [50, 60]);
		assert.match(m.reason, /: back to 60$/);
		m = step({ rate: 2 });
		assert.deepEqual([m.used, m.next], [60, 60]);
		// A batch that failed as a whole (no Record) says nothing of its size.
		const failedRun = q(`SELECT run_id FROM batch_sync_start(false, '{}', 'wf', 'coord')`);
		q("INSERT INTO sync_batches (run_id, execution_id, rows, started_at, processed_at) VALUES (:'run', 'x', 60, now() - interval '1 second', now())", { run: failedRun });
		json("SELECT to_jsonb(f) FROM batch_sync_finish(:'run', 'wf', 'coord') f;", { run: failedRun });
		assert.equal(q(`SELECT batch_size_reason FROM sync_metrics WHERE run_id = '${failedRun}'`), 'nothing written: kept');
		assert.throws(() => q(`SELECT batch_sync_settings('{"BATCH_SIZE_MIN": 1001}')`), /BATCH_SIZE_MIN \(1001\) must not be above BATCH_SIZE_MAX \(1000\)/);
		// The metrics show each run's choice.
		const reasons = json('SELECT batch_sync_figures(8)').runs.map((r) => r.batch?.reason);
		for (const r of ['nothing written: kept', '2.0 rows/s at 60, 170.0 at 200: back to 60', '20 rows, no batch full (50): kept', 'fixed: ADAPTIVE_BATCH_SIZE is off']) {
			assert.ok(reasons.includes(r), `${r} in ${JSON.stringify(reasons)}`);
		}
	} finally {
		pg.stop();
	}
});

/**
 * The pages batch_sync_plan_pages should cut `total` keys into, from its rule: the fewest pages of
 * at most `size` keys, their number rounded up to a multiple of `workers` unless a page would get
 * fewer than min(`min`, `size`) keys; key n goes to page floor(n · pages / total). Sizes in page order.
 */
function evenPages(total, size, { workers = 3, min = 2 } = {}) {
	const fewest = Math.ceil(total / size);
	const count = Math.max(fewest, Math.min(Math.ceil(fewest / workers) * workers, Math.floor(total / Math.min(min, size))));
	const sizes = new Array(count).fill(0);
	for (let n = 0; n < total; n++) sizes[Math.floor((n * count) / total)]++;
	return sizes;
}

test('pages are even and spread over the workers: never above the page size, a multiple of PARALLEL_WORKERS while a page keeps PAGE_SIZE_MIN keys', async () => {
	const { q, json, pg } = await database();
	try {
		const plan = (keys, settings) => {
			q('TRUNCATE tasks RESTART IDENTITY CASCADE');
			q(`INSERT INTO tasks (title) SELECT 'T' || n FROM generate_series(1, ${keys}) n`);
			const run = q(`SELECT run_id FROM batch_sync_start(true, '${JSON.stringify({ ADAPTIVE_PAGE_SIZE: false, ...settings })}', 'wf', 'coord')`);
			q("SELECT * FROM batch_sync_plan_pages(:'run', '{\"ids\": [], \"maxUpdatedAt\": \"\"}'::jsonb);", { run });
			const pages = json(`SELECT coalesce(jsonb_agg(keys ORDER BY page_no), '[]') FROM sync_run_pages WHERE run_id = '${run}'`);
			json("SELECT to_jsonb(f) FROM batch_sync_finish(:'run', 'wf', 'coord') f;", { run });
			// Every key once.
			assert.deepEqual(pages.flat().sort(), Array.from({ length: keys }, (_, i) => `task-${i + 1}`).sort(), 'every key once');
			return pages.map((p) => p.length);
		};
		// 10,000 keys in pages of 1000 on 3 workers: 12 pages, four full rounds (not 10 pages, the last round one page).
		assert.deepEqual(plan(10000, { PAGE_SIZE: 1000, PARALLEL_WORKERS: 3 }), [834, 833, 833, 834, 833, 833, 834, 833, 833, 834, 833, 833]);
		// One worker: the fewest pages of at most 1000, as even as can be.
		assert.deepEqual(plan(2500, { PAGE_SIZE: 1000, PARALLEL_WORKERS: 1 }), [834, 833, 833]);
		// 600 keys: one page of 600 would run on one worker; 3 pages of 200.
		assert.deepEqual(plan(600, { PAGE_SIZE: 1000, PARALLEL_WORKERS: 3 }), [200, 200, 200]);
		// 250 keys: three pages would hold fewer than PAGE_SIZE_MIN (100): two of 125.
		assert.deepEqual(plan(250, { PAGE_SIZE: 1000, PARALLEL_WORKERS: 3 }), [125, 125]);
		assert.deepEqual(plan(150, { PAGE_SIZE: 1000, PARALLEL_WORKERS: 3 }), [150]);
		// The page size wins over the workers' multiple: never above it.
		assert.deepEqual(plan(7, { PAGE_SIZE: 2, PAGE_SIZE_MIN: 5, PARALLEL_WORKERS: 3 }), [2, 2, 2, 1]);
		assert.deepEqual(plan(0, { PAGE_SIZE: 10, PARALLEL_WORKERS: 3 }), []);
		// The rule, over many shapes: the sizes evenPages gives, none above the size, at most one apart.
		for (const [keys, size, workers, min] of [[25, 10, 3, 2], [101, 10, 4, 1], [1000, 1000, 3, 100], [1001, 1000, 3, 100], [37, 5, 5, 3], [9, 100, 8, 1]]) {
			const sizes = plan(keys, { PAGE_SIZE: size, PARALLEL_WORKERS: workers, PAGE_SIZE_MIN: min });
			assert.deepEqual(sizes, evenPages(keys, size, { workers, min }), JSON.stringify({ keys, size, workers, min }));
			assert.ok(Math.max(...sizes) <= size && Math.max(...sizes) - Math.min(...sizes) <= 1, JSON.stringify(sizes));
		}
	} finally {
		pg.stop();
	}
});

test('memory watch: a page whose n8n process went over MEMORY_LIMIT_MB is split in two the next time, the size grows back with room to spare, the figures are in the metrics', async () => {
	const { q, json, pg } = await database();
	try {
		q("INSERT INTO tasks (title) SELECT 'T' || n FROM generate_series(1, 25) n");
		const base = { PAGE_SIZE: 10, PAGE_SIZE_MIN: 2 };
		/** A full run: each page is claimed, the hook reports `peaks[page]` MiB for it (none when
		 * undefined), the page completes; the run finishes. Returns the run's pages and metrics.
		 * `fill`: the pages re-cut as full pages of the run's size and a short last one (as a
		 * planner without even pages cut them). */
		const runWith = (peaks, settings = {}, { fill = false } = {}) => {
			const run = q(`SELECT run_id FROM batch_sync_start(true, '${JSON.stringify({ ...base, ...settings })}', 'wf', 'coord')`);
			q("SELECT * FROM batch_sync_plan_pages(:'run', '{\"ids\": [], \"maxUpdatedAt\": \"\"}'::jsonb);", { run });
			if (fill) {
				q(`CREATE TEMP TABLE k AS SELECT key, row_number() OVER (ORDER BY p.page_no, k.ord) - 1 AS n FROM sync_run_pages p, jsonb_array_elements_text(p.keys) WITH ORDINALITY k(key, ord) WHERE p.run_id = '${run}';
				   DELETE FROM sync_run_pages WHERE run_id = '${run}';
				   INSERT INTO sync_run_pages (run_id, page_no, keys) SELECT '${run}', n / r.page_size, jsonb_agg(key ORDER BY n) FROM k, sync_runs r WHERE r.run_id = '${run}' GROUP BY n / r.page_size`);
			}
			const pages = json(`SELECT jsonb_agg(jsonb_array_length(keys) ORDER BY page_no) FROM sync_run_pages WHERE run_id = '${run}'`);
			pages.forEach((_, n) => {
				const exec = `p${pageRuns++}`;
				assert.equal(json(`SELECT to_jsonb(c) FROM batch_sync_claim_page('${run}', ${n}, '${exec}') c`).claimed, true);
				if (peaks[n] !== undefined) {
					assert.equal(q(`SELECT batch_sync_record_memory('${run}', ${n}, '${exec}', ${peaks[n]}, 'host:1')`), 't');
				}
				q(`SELECT * FROM batch_sync_complete_page('${run}', ${n}, '{"total": 1, "unchanged": 1}', '${exec}')`);
			});
			json("SELECT to_jsonb(f) FROM batch_sync_finish(:'run', 'wf', 'coord') f;", { run });
			const m = json(`SELECT to_jsonb(m) FROM sync_metrics m WHERE run_id = '${run}'`);
			return { run, pages, m };
		};
		let r = runWith([300, 620, 200]);
		assert.deepEqual(r.pages, evenPages(25, 10));
		assert.deepEqual(r.pages, [9, 8, 8]);
		assert.deepEqual([r.m.page_size, r.m.page_size_reason, r.m.peak_rss_mib, r.m.memory_limit_mib], [10, 'PAGE_SIZE: no run at this PAGE_SIZE yet', 620, 500]);
		// Only the execution that holds a page is heard; the coordinator's figure may come after the run's end.
		assert.equal(q(`SELECT batch_sync_record_memory('${r.run}', 0, 'someone else', 9999, 'h:2')`), 'f');
		assert.equal(q(`SELECT batch_sync_record_memory('${r.run}', NULL, 'not the coordinator', 9999, 'h:2')`), 'f');
		assert.equal(q(`SELECT batch_sync_record_memory('${r.run}', NULL, 'coord', 700, 'h:3')`), 't');
		assert.equal(q(`SELECT peak_rss_mib || ' ' || coordinator_rss_mib FROM sync_metrics JOIN sync_runs USING (run_id) WHERE run_id = '${r.run}'`), '700 700');
		assert.equal(q(`SELECT rss_process FROM sync_run_pages WHERE run_id = '${r.run}' AND page_no = 1`), 'host:1');
		// Page 1 (8 keys) went over 500 MiB: pages of 4 now (9 of them: 7 rounded up to 3 workers).
		r = runWith([300, 300, 300, 300, 300]);
		assert.deepEqual(r.pages, evenPages(25, 4));
		assert.equal(r.pages.length, 9);
		assert.equal(r.m.page_size_reason, 'page 1 (8 keys) peaked at 620 MiB, over MEMORY_LIMIT_MB 500: split in two, pages of 4');
		// Room to spare, but 8 keys went over the bound lately: kept.
		r = runWith([300, 300, 300, 300, 300]);
		assert.deepEqual(r.pages, evenPages(25, 4));
		assert.equal(r.m.page_size_reason, 'peak 300 MiB of MEMORY_LIMIT_MB 500 (a page of 8 keys went over it lately): kept');
		// With a higher bound, nothing lately went over it: twice the size, up to PAGE_SIZE.
		r = runWith([], { MEMORY_LIMIT_MB: 1000 });
		assert.deepEqual(r.pages, evenPages(25, 8));
		assert.equal(r.m.page_size_reason, 'peak 300 MiB, under three quarters of MEMORY_LIMIT_MB 1000: pages of 8');
		assert.equal(r.m.peak_rss_mib, null, 'no figure from the hook this time');
		// A run without figures (the hook not loaded) keeps its size.
		r = runWith([3000], { MEMORY_LIMIT_MB: 1000 });
		assert.deepEqual([r.m.page_size, r.pages], [8, evenPages(25, 8)]);
		assert.match(r.m.page_size_reason, /^no memory figure from run [0-9a-f-]+ \(workflows\/hooks\/memory\.js is not loaded\): kept$/);
		// 3000 MiB on page 0: halves, and again, down to PAGE_SIZE_MIN.
		r = runWith([3000], { MEMORY_LIMIT_MB: 1000 });
		assert.deepEqual([r.m.page_size, r.pages], [3, evenPages(25, 3)]);
		assert.equal(r.m.page_size_reason, `page 0 (${evenPages(25, 8)[0]} keys) peaked at 3000 MiB, over MEMORY_LIMIT_MB 1000: split in two, pages of 3`);
		r = runWith([], { MEMORY_LIMIT_MB: 1000 });
		assert.deepEqual([r.m.page_size, r.pages], [2, evenPages(25, 2)]);
		assert.equal(r.m.page_size_reason, 'page 0 (3 keys) peaked at 3000 MiB, over MEMORY_LIMIT_MB 1000: split in two, pages of 2');
		// Switched off: PAGE_SIZE.
		r = runWith([], { ADAPTIVE_PAGE_SIZE: false });
		assert.deepEqual([r.m.page_size, r.m.page_size_reason, r.pages], [10, 'fixed: ADAPTIVE_PAGE_SIZE is off', [9, 8, 8]]);
		assert.throws(() => q(`SELECT batch_sync_settings('{"MEMORY_LIMIT_MB": 10}')`), /MEMORY_LIMIT_MB must be a whole number from 64/);
		assert.throws(() => q(`SELECT batch_sync_settings('{"ADAPTIVE_PAGE_SIZE": "yes"}')`), /ADAPTIVE_PAGE_SIZE must be true or false/);
		// The metrics: each run's figures, the next run's page size and why; Prometheus gauges.
		runWith([450]);
		const f = json('SELECT batch_sync_figures(3)');
		assert.deepEqual([f.runs[0].memory.peak_rss_mib, f.runs[0].memory.limit_mib, f.runs[0].memory.page_size], [450, 500, 10]);
		assert.match(f.runs[0].memory.reason, /^no memory figure from run .*: kept$/, 'the run before was not measured');
		assert.deepEqual(f.memory, { peak_rss_mib: 450, limit_mib: 500, page_size: 10, reason: 'peak 450 MiB of MEMORY_LIMIT_MB 500: kept' });
		const prom = q("SELECT body FROM batch_sync_metrics('prometheus')");
		assert.match(prom, new RegExp(`^batch_sync_last_run_peak_rss_bytes ${450 * 1048576}$`, 'm'));
		assert.match(prom, new RegExp(`^batch_sync_memory_limit_bytes ${500 * 1048576}$`, 'm'));
		assert.match(prom, /^batch_sync_page_size 10$/m);
		// Over the bound with a short last page of 5 keys only, the full pages of 10 under it: no page size would help.
		r = runWith([100, 100, 900], {}, { fill: true });
		assert.deepEqual(r.pages, [10, 10, 5]);
		assert.equal(json('SELECT batch_sync_figures(1)').memory.reason,
			"page 2 (5 keys, half the run's fullest page of 10 or less) peaked at 900 MiB, over MEMORY_LIMIT_MB 500: the n8n process takes that much whatever the page size (raise the bound or give n8n less to hold): kept");
		// Full pages over it too: the fullest of them is split.
		runWith([100, 600, 900], {}, { fill: true });
		assert.equal(json('SELECT batch_sync_figures(1)').memory.reason, 'page 1 (10 keys) peaked at 600 MiB, over MEMORY_LIMIT_MB 500: split in two, pages of 5');
		// Even pages all over it: split, whatever their size against the page size.
		r = runWith([900, 900, 900]);
		assert.deepEqual(r.pages, evenPages(25, 5));
		assert.equal(json('SELECT batch_sync_figures(1)').memory.reason, `page 0 (${r.pages[0]} keys) peaked at 900 MiB, over MEMORY_LIMIT_MB 500: split in two, pages of ${Math.ceil(r.pages[0] / 2)}`);
	} finally {
		pg.stop();
	}
});

test('adaptive batch size: local work (a full sync seeding the mirror) and writes to OpenProject are measured apart', async () => {
	const { q, json, pg } = await database();
	try {
		q("INSERT INTO tasks (external_id, title) VALUES ('1', 'T1')");
		// Seeding the mirror: fast a row, no OpenProject request.
		let m = batchRun({ q, json }, { rate: 1000, local: true });
		assert.deepEqual([m.used, m.next, m.work, m.reason], [50, 100, 'local', '1000.0 rows/s at 50, the best so far: trying 100']);
		// Writes at 100: slower a row, but compared with writes only (none yet), not with the seeding at 50.
		m = batchRun({ q, json }, { rate: 100 });
		assert.deepEqual([m.used, m.next, m.work, m.reason], [100, 200, 'openproject', '100.0 rows/s at 100, the best so far: trying 200']);
		m = batchRun({ q, json }, { rate: 80 });
		assert.deepEqual([m.used, m.next, m.reason], [200, 100, '80.0 rows/s at 200, 100.0 at 100: back to 100']);
		// Local work again: its own history (1000 rows/s at 50).
		m = batchRun({ q, json }, { rate: 900, local: true });
		assert.deepEqual([m.used, m.next, m.work, m.reason], [100, 50, 'local', '900.0 rows/s at 100, 1000.0 at 50: back to 50']);
		assert.equal(json('SELECT batch_sync_figures(1)').runs[0].batch.work, 'local');
	} finally {
		pg.stop();
	}
});
