// Benchmark (a script, not a test): a full sync of N linked task/work-package pairs through the
// bundled Batch Sync Manager workflow in the real, pinned n8n, against the floor of the same rows
// loaded and upserted directly in psql (COPY into staging + the same upsert into the mirror).
//
//   node benches/workflow/full-sync.mjs [N=100000] [--batch=50,1000]
//
// Each run: a fresh FLRTS database with N tasks, the OpenProject stand-in with the N equal work
// packages, the first (full) run of the workflow: read both sides, Compare (no base yet: every
// pair is unchanged and seeds the mirror), plan, stage and process every row, record metrics.
// Reported: wall time of `n8n execute`, the workflow's own duration (sync_metrics), items/s,
// peak RSS of the n8n process (maxRSS, from the external hook benches/n8n/hooks.js).
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { packNode, root, setupN8n, startPostgres } from '../../tests/e2e/harness.mjs';
import { createStandin } from '../../tests/openproject/standin.mjs';
import * as build from '../../workflows/src/build.mjs';

const { CREDENTIALS } = build;

const args = process.argv.slice(2);
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 100000);
const batches = args.includes('--floor-only') ? [] : (args.find((a) => a.startsWith('--batch='))?.split('=')[1] ?? '50,1000').split(',').map(Number);
const tarball = batches.length ? packNode() : null;
const results = [];

for (const batchSize of batches) {
	const pg = await startPostgres();
	const op = createStandin({ apiKey: 'bench' });
	const opUrl = `http://127.0.0.1:${await op.listen(0)}`;
	const out = path.join(tmpdir(), `batch-sync-wf-bench-${process.pid}.json`);
	const n8n = await setupN8n({
		pg,
		tarball,
		env: { EXTERNAL_HOOK_FILES: path.join(root, 'benches/n8n/hooks.js'), BATCH_SYNC_BENCH_OUT: out, N8N_LOG_LEVEL: 'info' },
	});
	try {
		pg.createDatabase('flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/schema.sql'), 'flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/sync.sql'), 'flrts');
		pg.psql(`INSERT INTO tasks (external_id, title, description, status, due_date)
		         SELECT i::text, 'Task ' || i, 'Description of task ' || i || ': check the pump and write the report for the site visit.',
		                CASE WHEN i % 3 = 0 THEN 'In progress' ELSE 'New' END, CASE WHEN i % 4 = 0 THEN date '2026-12-01' END
		         FROM generate_series(1, ${N}) i`, 'flrts');
		for (let i = 1; i <= N; i++) {
			op.insert({ id: i, subject: `Task ${i}`, description: `Description of task ${i}: check the pump and write the report for the site visit.`, statusId: i % 3 === 0 ? 7 : 1, dueDate: i % 4 === 0 ? '2026-12-01' : null });
		}
		n8n.importCredentials([
			{ ...CREDENTIALS.postgres, type: 'postgres', data: { host: pg.host, port: pg.port, database: 'flrts', user: pg.user, password: '', ssl: 'disable' } },
			{ ...CREDENTIALS.openProjectApi, type: 'openProjectApi', data: { baseUrl: opUrl, apiKey: 'bench' } },
		]);
		const wf = JSON.parse(readFileSync(path.join(root, 'workflows/batch-sync-manager.json'), 'utf8'));
		// The batch size is a setting (Settings node) since the settings place; before, a parameter.
		if (build.withSettings && wf.nodes.some((n) => n.name === 'Settings')) n8n.importWorkflow([build.withSettings(wf, { BATCH_SIZE: batchSize })]);
		else {
			wf.nodes.find((n) => n.name === 'Plan Staging Rows').parameters.batchSize = batchSize;
			n8n.importWorkflow([wf]);
		}
		rmSync(out, { force: true });
		const t0 = performance.now();
		let error = null;
		try {
			await n8n.execute('batchSyncManager');
		} catch (e) {
			error = e.message.slice(-1500);
		}
		const wallS = (performance.now() - t0) / 1000;
		const hook = JSON.parse(readFileSync(out, 'utf8'));
		const m = JSON.parse(pg.psql('SELECT coalesce(to_jsonb(m), \'null\') FROM sync_metrics m ORDER BY id DESC LIMIT 1', 'flrts') || 'null');
		const mirror = Number(pg.psql('SELECT count(*) FROM work_packages', 'flrts'));
		const slowest = Object.entries(hook.nodes).sort((a, b) => b[1].executionTime - a[1].executionTime).slice(0, 5).map(([k, v]) => `${k} ${v.executionTime} ms`);
		const row = { N, batchSize, status: hook.status, error: error ?? hook.error, wallS: +wallS.toFixed(1), workflowS: m ? m.duration_ms / 1000 : null, itemsPerS: Math.round(N / wallS), maxRssMiB: Math.round(hook.maxRssMiB), mirror, slowestNodes: slowest };
		results.push(row);
		console.error(JSON.stringify(row));
	} finally {
		n8n.stop();
		await op.close();
		pg.stop();
	}
}

// The floor: the same N rows straight into PostgreSQL: COPY into staging, then the same upsert
// into the mirror, in psql.
{
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/schema.sql'), 'flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/sync.sql'), 'flrts');
		const csv = path.join(tmpdir(), `batch-sync-floor-${process.pid}.csv`);
		const lines = [];
		for (let i = 1; i <= N; i++) {
			const data = JSON.stringify({ title: `Task ${i}`, status: i % 3 === 0 ? 'In progress' : 'New', due_date: i % 4 === 0 ? '2026-12-01' : null, description: `Description of task ${i}: check the pump and write the report for the site visit.` });
			lines.push(`floor\t${i}\tinsert\tunchanged\t${data.replace(/\\/g, '\\\\')}\t${'0'.repeat(63)}${i % 10}\tk${i}`);
		}
		writeFileSync(csv, lines.join('\n') + '\n');
		const t0 = performance.now();
		execFileSync('psql', ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'flrts', '-v', 'ON_ERROR_STOP=1', '-q', '-c',
			`\\copy sync_staging_work_packages (run_id, external_id, operation, decision, data, checksum, idempotency_key) FROM '${csv}'`], { stdio: 'pipe' });
		pg.psql(`INSERT INTO work_packages (external_id, data, checksum, lock_version, synced_at)
		         SELECT external_id, data, checksum, 0, now() FROM sync_staging_work_packages
		         ON CONFLICT (external_id) DO UPDATE SET data = EXCLUDED.data, checksum = EXCLUDED.checksum, synced_at = now()
		         WHERE work_packages.checksum IS DISTINCT FROM EXCLUDED.checksum`, 'flrts');
		pg.psql(`UPDATE sync_staging_work_packages SET status = 'processed', processed_at = now()`, 'flrts');
		const floorS = (performance.now() - t0) / 1000;
		rmSync(csv, { force: true });
		results.push({ N, floor: 'psql COPY + upsert + mark processed', wallS: +floorS.toFixed(2) });
		console.error(JSON.stringify(results.at(-1)));
		// The staging load alone, both ways: COPY (what psql can do) against one set-based
		// INSERT ... SELECT FROM jsonb_to_recordset($1) (what the workflow's Postgres node can do).
		const rows = [];
		for (let i = 1; i <= N; i++) rows.push({ run_id: 'floor2', external_id: `b${i}`, operation: 'insert', decision: 'unchanged', data: { title: `Task ${i}`, status: 'New' }, checksum: '0'.repeat(64), idempotency_key: `j${i}` });
		writeFileSync(csv, rows.map((r) => [r.run_id, r.external_id, r.operation, r.decision, JSON.stringify(r.data), r.checksum, r.idempotency_key].join('\t')).join('\n') + '\n');
		pg.psql('TRUNCATE sync_staging_work_packages', 'flrts');
		const c0 = performance.now();
		execFileSync('psql', ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'flrts', '-v', 'ON_ERROR_STOP=1', '-q', '-c',
			`\\copy sync_staging_work_packages (run_id, external_id, operation, decision, data, checksum, idempotency_key) FROM '${csv}'`], { stdio: 'pipe' });
		const copyS = (performance.now() - c0) / 1000;
		pg.psql('TRUNCATE sync_staging_work_packages', 'flrts');
		// (batch_sync_stage writes only for the run holding the sync lock.)
		pg.psql("UPDATE sync_state SET running_run_id = 'floor2' WHERE direction = 'local'", 'flrts');
		const j0 = performance.now();
		pg.psqlVars("SELECT batch_sync_stage('floor2', :'rows'::jsonb);", 'flrts', { rows: JSON.stringify(rows) });
		const recordsetS = (performance.now() - j0) / 1000;
		rmSync(csv, { force: true });
		results.push({ N, staging: 'load only', copyS: +copyS.toFixed(2), jsonbToRecordsetS: +recordsetS.toFixed(2) });
		console.error(JSON.stringify(results.at(-1)));
	} finally {
		pg.stop();
	}
}
console.log(JSON.stringify(results, null, 1));
