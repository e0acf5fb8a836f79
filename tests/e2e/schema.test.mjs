// workflows/sql/schema.sql is idempotent: applied twice, the second run changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
		assert.equal(tables, 'sync_audit,sync_conflicts,sync_metrics,sync_staging_work_packages,sync_state,tasks,work_packages');
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

test('Process Batch does not overwrite a task edited after the run read it; one run at a time', async () => {
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		for (const f of ['schema.sql', 'sync.sql', 'sync.sql']) pg.psqlFile(path.join(root, 'workflows/sql', f), 'flrts');
		const q = (sql) => pg.psql(sql, 'flrts').trim();
		q("INSERT INTO tasks (external_id, title) VALUES ('7', 'as read')");
		const run = q("SELECT run_id FROM batch_sync_start(false)");
		assert.match(run, /^[0-9a-f-]{36}$/);
		// A second run while the first holds the lock gets no row: the workflow stops there.
		assert.equal(q('SELECT count(*) FROM batch_sync_start(false)'), '0');
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
		pg.psqlVars("SELECT * FROM batch_sync_finish(:'run', false, now(), '', '{}'::jsonb, 'wf', 'ex');", 'flrts', { run });
		assert.equal(q('SELECT count(*) FROM batch_sync_start(false)'), '1', 'the lock is released at the end of a run');
	} finally {
		pg.stop();
	}
});
