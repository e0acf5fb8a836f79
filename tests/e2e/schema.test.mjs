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
