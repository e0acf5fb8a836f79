// The bundled workflows (Batch Sync Manager and Batch Sync Page), end to end: real n8n (pinned,
// with the packed node installed as the community-node installer does), real PostgreSQL (the
// FLRTS database and n8n's own), and the OpenProject API stand-in. Credentials and workflows
// are imported with n8n's CLI, the page workflow is published and served by `n8n start`, each
// run is `n8n execute` of the manager; the outcome is checked in the databases.
//
// BATCH_SYNC_E2E_WORKERS=N runs the same scenario in n8n's queue mode: Redis (Debian's
// redis-server), one main and N workers, the pages running on the workers
// (tests/e2e/workflow-queue.test.mjs does so with 2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { root, startRedis, startSyncStack } from './harness.mjs';
import { SYNC_CONFIG, withSettings } from '../../workflows/src/build.mjs';

const PAIRS = 1000;
const WORKERS = Number(process.env.BATCH_SYNC_E2E_WORKERS ?? 0);
let snapshot;
let pg;
let n8n;
let op;
let opUrl;
let redis;
const workers = [];
let main;
const db = (sql) => pg.psql(sql, 'flrts');
const json = (sql) => JSON.parse(db(sql) || 'null');

before(async () => {
	if (WORKERS > 0) redis = await startRedis();
	({ pg, op, opUrl, n8n } = await startSyncStack({ apiKey: 'e2e-key', pgSettings: { max_connections: 200 }, redis }));
	// Pages of 300 keys (several pages per run, PARALLEL_WORKERS of them at once); retries after
	// a second, not a minute: the runs here follow each other at once.
	const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
	n8n.importWorkflow([
		withSettings(read('batch-sync-manager.json'), {
			RETRY_BASE_SECONDS: 1,
			PAGE_SIZE: 300,
			// The pages keep 300 keys whatever this machine's n8n takes (the last test splits them).
			MEMORY_LIMIT_MB: 4096,
			PAGE_WEBHOOK_URL: `http://127.0.0.1:${n8n.env.N8N_PORT}/webhook/batch-sync/page`,
		}),
		read('batch-sync-page.json'),
		read('batch-sync-operations.json'),
	]);
	n8n.publish('batchSyncPage');
	main = await n8n.startMain();
	for (let k = 0; k < WORKERS; k++) workers.push(await n8n.startWorker());
});

after(async () => {
	n8n?.stop();
	redis?.stop();
	await op?.close();
	pg?.stop();
});

const STATUS = { New: 1, 'In progress': 7, Closed: 12, Rejected: 14 };
const text = (i) => `Description of task ${i}: check the pump, write the report.`;

/** The core's own verdict on the two systems: every linked pair compared through the mapping,
 * in reconciliation mode (no writes), by the native CLI. */
function reconcile() {
	const local = json(`SELECT coalesce(jsonb_agg(jsonb_build_object('sync_id', batch_sync_key(t), 'title', t.title, 'description', t.description, 'status', t.status, 'due_date', t.due_date, 'deleted_at', t.deleted_at, 'updated_at', t.updated_at)), '[]') FROM tasks t`);
	const remote = op.workPackages();
	const request = { op: 'classify', local, remote, config: { ...SYNC_CONFIG, local_id_field: '/sync_id', mode: 'reconciliation' } };
	const out = execFileSync(path.join(root, 'target/release/batch-sync'), ['call'], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 28 });
	const decisions = JSON.parse(out).decisions;
	const by = {};
	for (const d of decisions) (by[d.decision] ??= []).push(d.id);
	return by;
}

async function run() {
	const result = await n8n.execute('batchSyncManager');
	assert.equal(result.status, 'success', JSON.stringify(result.data?.resultData?.error ?? {}).slice(0, 2000));
	return result;
}

test('first run (full): 1,000 linked pairs seed the mirror', async () => {
	// Tasks and work packages already linked and equal (a migrated installation).
	const wps = [];
	for (let i = 1; i <= PAIRS; i++) {
		wps.push({ id: i, subject: `Task ${i}`, description: text(i), statusId: i % 3 === 0 ? STATUS['In progress'] : STATUS.New, dueDate: i % 4 === 0 ? '2026-12-01' : null });
	}
	for (const w of wps) op.insert(w);
	db(`INSERT INTO tasks (external_id, title, description, status, due_date)
	    SELECT i::text, 'Task ' || i, 'Description of task ' || i || ': check the pump, write the report.',
	           CASE WHEN i % 3 = 0 THEN 'In progress' ELSE 'New' END, CASE WHEN i % 4 = 0 THEN date '2026-12-01' END
	    FROM generate_series(1, ${PAIRS}) i`);
	await run();
	assert.equal(db('SELECT count(*) FROM work_packages').trim(), String(PAIRS));
	assert.equal(db("SELECT count(*) FROM sync_metrics WHERE mode = 'full'").trim(), '1');
	// The run in pages of at most 300 keys, each claimed by its own execution: 1000 keys need 4,
	// rounded up to a multiple of PARALLEL_WORKERS (3): 6 even pages.
	const pages = json('SELECT jsonb_agg(claimed_by) FROM sync_run_pages');
	assert.equal(PAIRS, 1000);
	assert.deepEqual(json('SELECT jsonb_agg(jsonb_array_length(keys) ORDER BY page_no) FROM sync_run_pages'), [167, 167, 166, 167, 167, 166]);
	assert.equal(new Set(pages).size, pages.length);
	if (WORKERS > 0) {
		// In queue mode every page ran on a worker.
		const onWorkers = new Set(workers.flatMap((w) => [...w.executions]));
		for (const id of pages) assert.ok(onWorkers.has(id), `page execution ${id} ran on a worker (${[...onWorkers]})`);
	}
	assert.equal(db("SELECT count(*) FROM sync_staging_work_packages WHERE status <> 'processed'").trim(), '0');
	assert.deepEqual(Object.keys(reconcile()), ['unchanged']);
	assert.equal(op.stats.patches + op.stats.posts, 0, 'nothing to write to OpenProject');
	// Memory watched (workflows/hooks/memory.js, loaded in every n8n process): each page's peak
	// RSS comes from the process that ran it (main, or a worker in queue mode), the coordinator's
	// from the `n8n execute` process; the hook writes once its execution has ended.
	let measured = [];
	for (let t0 = Date.now(); Date.now() - t0 < 20_000; await new Promise((r) => setTimeout(r, 200))) {
		measured = json("SELECT coalesce(jsonb_agg(jsonb_build_object('mib', peak_rss_mib, 'at', rss_process)), '[]') FROM sync_run_pages WHERE peak_rss_mib IS NOT NULL");
		if (measured.length === pages.length && db('SELECT count(*) FROM sync_runs WHERE coordinator_rss_mib IS NOT NULL').trim() === '1') break;
	}
	assert.equal(measured.length, pages.length, 'every page measured');
	const pids = WORKERS > 0 ? workers.map((w) => w.pid) : [main.pid];
	for (const m of measured) {
		assert.ok(m.mib > 60 && m.mib < 8192, `an n8n process's RSS, in MiB: ${m.mib}`);
		assert.ok(pids.includes(Number(m.at.split(':').at(-1))), `page measured in ${m.at}, one of the processes ${pids}`);
	}
	const coordinator = Number(db('SELECT coordinator_rss_mib FROM sync_runs').trim());
	assert.ok(coordinator > 60 && coordinator < 8192, `coordinator ${coordinator} MiB`);
	const metrics = json("SELECT to_jsonb(m) FROM sync_metrics m WHERE mode = 'full'");
	assert.equal(Number(metrics.peak_rss_mib), Math.max(coordinator, ...measured.map((m) => m.mib)), 'the run\'s peak, also from figures that came after its end');
	assert.deepEqual([metrics.page_size, metrics.memory_limit_mib], [300, 4096]);
});

test('second run (incremental): every decision kind, 409s left for retry', async () => {
	const edit = (id, fields) => {
		const wp = op.workPackages().find((w) => w.id === id);
		assert.ok(wp, `work package ${id}`);
		// As an OpenProject user would: the stand-in's admin edit bumps lockVersion and updatedAt.
		return fetch(`${opUrl}/__standin/work_packages/${id}`, { method: 'PATCH', body: JSON.stringify(fields) });
	};
	// update_remote: 50 tasks edited locally (10 of them will meet a 409 on PATCH).
	db("UPDATE tasks SET title = title || ' (edited locally)' WHERE id BETWEEN 1 AND 50");
	for (let id = 41; id <= 50; id++) op.fail({ method: 'PATCH', id, status: 409 });
	// update_local: 50 work packages edited in OpenProject.
	for (let id = 51; id <= 100; id++) await edit(id, { statusId: STATUS.Closed });
	// merged: 30 edited on both sides, different fields.
	db("UPDATE tasks SET title = title || ' (both, local title)' WHERE id BETWEEN 101 AND 130");
	for (let id = 101; id <= 130; id++) await edit(id, { statusId: STATUS.Rejected });
	// unresolved: 20 edited on both sides, the same field.
	db("UPDATE tasks SET title = 'Local wording ' || id WHERE id BETWEEN 131 AND 150");
	for (let id = 131; id <= 150; id++) await edit(id, { subject: `Remote wording ${id}` });
	// converged: 10 edited identically on both sides.
	db("UPDATE tasks SET status = 'Closed' WHERE id BETWEEN 151 AND 160");
	for (let id = 151; id <= 160; id++) await edit(id, { statusId: STATUS.Closed });
	// modify/delete: 10 deleted locally (tombstone) and edited remotely; 10 deleted locally only.
	db('UPDATE tasks SET deleted_at = now() WHERE id BETWEEN 161 AND 180');
	for (let id = 161; id <= 170; id++) await edit(id, { subject: `Edited after delete ${id}` });
	// create_remote: 40 new tasks; create_local: 40 new work packages.
	db(`INSERT INTO tasks (title, description, status) SELECT 'New local task ' || i, 'made in FLRTS', 'New' FROM generate_series(1, 40) i`);
	for (let k = 1; k <= 40; k++) op.insert({ subject: `New remote wp ${k}`, description: 'made in OpenProject', statusId: STATUS.New });
	// invalid: 5 work packages whose dueDate is not a date.
	for (let id = 181; id <= 185; id++) await edit(id, { dueDate: 'someday' });

	await run();

	const by = reconcile();
	const ids = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => String(from + k));
	// Synced: edits both ways, merges, converged, creates both ways, deletes.
	const notSynced = new Set([...(by.conflict ?? []), ...(by.update_remote ?? []), ...(by.update_local ?? []), ...(by.invalid ?? []), ...(by.create_local ?? []), ...(by.create_remote ?? []), ...(by.delete_local ?? []), ...(by.delete_remote ?? [])]);
	for (const id of [...ids(1, 40), ...ids(51, 130), ...ids(151, 160)]) assert.ok(!notSynced.has(id), `${id} not in sync: ${JSON.stringify(Object.fromEntries(Object.entries(by).map(([k, v]) => [k, v.includes(id)]).filter(([, v]) => v)))}`);
	// 409: left for a retry, the work package unchanged.
	assert.equal(db("SELECT count(*) FROM sync_staging_work_packages WHERE status = 'retry' AND last_error->>'conflict' = 'true'").trim(), '10');
	assert.equal(op.workPackages().find((w) => w.id === 45).subject, 'Task 45');
	// Merged: local title and remote status on both sides.
	const t105 = json("SELECT to_jsonb(t) FROM tasks t WHERE external_id = '105'");
	assert.equal(t105.title, 'Task 105 (both, local title)');
	assert.equal(t105.status, 'Rejected');
	const w105 = op.workPackages().find((w) => w.id === 105);
	assert.equal(w105.subject, 'Task 105 (both, local title)');
	// Unresolved conflicts recorded for a person, neither side overwritten.
	assert.equal(db("SELECT count(*) FROM sync_conflicts WHERE status = 'open' AND external_id::int BETWEEN 131 AND 150").trim(), '20');
	assert.equal(json("SELECT conflicts FROM sync_conflicts WHERE external_id = '140'")[0].path, '/title');
	assert.equal(db("SELECT title FROM tasks WHERE external_id = '140'").trim(), 'Local wording 140');
	assert.equal(op.workPackages().find((w) => w.id === 140).subject, 'Remote wording 140');
	// Modify/delete: recorded; delete/unchanged: the work package is gone.
	assert.equal(db("SELECT count(*) FROM sync_conflicts WHERE status = 'open' AND external_id::int BETWEEN 161 AND 170").trim(), '10');
	for (let id = 171; id <= 180; id++) assert.equal(op.workPackages().find((w) => w.id === id), undefined, `wp ${id} deleted`);
	// Creates: new tasks linked to new work packages, new work packages now tasks.
	assert.equal(db("SELECT count(*) FROM tasks WHERE title LIKE 'New local task %' AND external_id IS NOT NULL").trim(), '40');
	assert.equal(db("SELECT count(*) FROM tasks WHERE title LIKE 'New remote wp %' AND external_id IS NOT NULL").trim(), '40');
	// Invalid rows audited with their error, nothing written for them.
	assert.equal(db("SELECT count(DISTINCT external_id) FROM sync_audit WHERE action = 'invalid'").trim(), '5');
	assert.equal(db("SELECT string_agg(DISTINCT detail->'error'->>'code', ',') FROM sync_audit WHERE action = 'invalid'").trim(), 'mapping_failed');
	assert.equal(db("SELECT string_agg(DISTINCT regexp_replace(detail->'error'->>'path', '^/remote/[0-9]+', '/remote/N'), ',') FROM sync_audit WHERE action = 'invalid' AND detail->>'side' = 'remote'").trim(), '/remote/N/dueDate');
	// An unreadable record makes every record of its id invalid (here the base too): nothing is
	// written for an id that is not fully understood.
	assert.equal(db("SELECT count(*) FROM work_packages WHERE external_id IN ('181','182','183','184','185')").trim(), '5');
	// Metrics and cursors.
	const m = json("SELECT to_jsonb(m) FROM sync_metrics m WHERE mode = 'incremental' ORDER BY id DESC LIMIT 1");
	assert.ok(m.total_items >= 300 && m.failed_items === 10 && m.conflicts_detected >= 30, JSON.stringify(m));
	assert.ok(Number(db("SELECT count(*) FROM sync_audit WHERE action = 'remote.patch'")) >= 70);
});

test('third run: the 409 rows are re-detected and written; fourth run changes nothing', async () => {
	await run();
	// The pairs the second run created (tasks without a due date, work packages read back with
	// "dueDate": null) are not "converged" again: absent and null are one state.
	const third = json("SELECT to_jsonb(m) FROM sync_metrics m ORDER BY id DESC LIMIT 1");
	assert.equal(third.per_decision.converged, 0, JSON.stringify(third.per_decision));
	assert.equal(third.per_decision.total, third.total_items);
	assert.equal(db("SELECT count(*) FROM sync_staging_work_packages WHERE status IN ('retry', 'pending', 'dead')").trim(), '0');
	assert.equal(op.workPackages().find((w) => w.id === 45).subject, 'Task 45 (edited locally)');
	const by = reconcile();
	const left = [...new Set(Object.entries(by).filter(([k]) => k !== 'unchanged').flatMap(([, v]) => v))];
	// Only what is left for a person (20 + 10 conflicts) and the 5 invalid records differ.
	assert.equal(left.length, 35, JSON.stringify(by));
	assert.deepEqual([...new Set(by.invalid)].sort(), ['181', '182', '183', '184', '185']);
	assert.equal(by.conflict.length, 30);

	snapshot = () => ({
		tasks: db('SELECT md5(string_agg(t::text, \',\' ORDER BY id)) FROM tasks t'),
		mirror: db('SELECT md5(string_agg(w.external_id || w.checksum || coalesce(w.lock_version::text, \'\'), \',\' ORDER BY external_id)) FROM work_packages w'),
		staging: db('SELECT count(*) FROM sync_staging_work_packages'),
		audit: db('SELECT count(*) FROM sync_audit'),
		conflicts: db('SELECT md5(string_agg(c::text, \',\' ORDER BY id)) FROM (SELECT id, external_id, conflicts, status FROM sync_conflicts) c'),
		wps: JSON.stringify(op.workPackages().map((w) => [w.id, w.lockVersion])),
		writes: op.stats.patches + op.stats.posts,
	});
	const before = snapshot();
	const metrics = Number(db('SELECT count(*) FROM sync_metrics'));
	await run();
	assert.deepEqual(snapshot(), before);
	assert.equal(Number(db('SELECT count(*) FROM sync_metrics')), metrics + 1);
});

test('a requested full sync (sync_state.full_requested) reads everything and writes nothing new', async () => {
	db('UPDATE sync_state SET full_requested = true');
	const before = snapshot();
	await run();
	const m = json("SELECT to_jsonb(m) FROM sync_metrics m ORDER BY id DESC LIMIT 1");
	assert.equal(m.mode, 'full');
	assert.ok(m.total_items >= PAIRS, JSON.stringify(m));
	const after = snapshot();
	for (const k of ['tasks', 'mirror', 'wps', 'writes', 'conflicts']) assert.deepEqual(after[k], before[k], k);
	assert.equal(db('SELECT bool_or(full_requested) FROM sync_state').trim(), 'f');
	assert.equal(db("SELECT count(*) FROM sync_staging_work_packages WHERE status <> 'processed'").trim(), '0');
});

test('a person aligns a conflicting pair (and the listing is throttled once): the next run syncs it and closes the conflict', async () => {
	const remoteTitle = op.workPackages().find((w) => w.id === 131).subject;
	pg.psqlVars("UPDATE tasks SET title = :'title' WHERE external_id = '131';", 'flrts', { title: remoteTitle });
	// And OpenProject throttles the first listing: the node asks again and gets through.
	const throttled = op.stats.byStatus[429] ?? 0;
	op.fail({ method: 'GET', status: 429 });
	await run();
	assert.equal(op.stats.byStatus[429], throttled + 1);
	assert.equal(db("SELECT status FROM sync_conflicts WHERE external_id = '131'").trim(), 'resolved');
	assert.equal(db("SELECT count(*) FROM sync_audit WHERE external_id = '131' AND action = 'conflict.resolved'").trim(), '1');
	assert.equal(db("SELECT count(*) FROM sync_conflicts WHERE status = 'open'").trim(), '29');
	assert.ok(!(reconcile().conflict ?? []).includes('131'));
});

test('an OpenProject edit outside the mapped fields refreshes the mirror lockVersion; the next local edit goes through', async () => {
	const before = Number(db("SELECT lock_version FROM work_packages WHERE external_id = '300'"));
	await fetch(`${opUrl}/__standin/work_packages/300`, { method: 'PATCH', body: JSON.stringify({ percentageDone: 40 }) });
	await run();
	assert.equal(Number(db("SELECT lock_version FROM work_packages WHERE external_id = '300'")), before + 1);
	// Later: OpenProject's side is outside the read window, so the PATCH takes its lockVersion
	// from the mirror.
	db("UPDATE sync_state SET cursor_at = now() + interval '1 hour' WHERE direction = 'remote'");
	db("UPDATE tasks SET title = 'Task 300 (edited later)' WHERE external_id = '300'");
	const conflicts = op.stats.byStatus[409] ?? 0;
	await run();
	assert.equal(op.workPackages().find((w) => w.id === 300).subject, 'Task 300 (edited later)');
	assert.equal(op.stats.byStatus[409] ?? 0, conflicts, 'no 409 on the way');
});

const wp = (id) => op.workPackages().find((w) => w.id === id);
const adminEdit = (id, fields) => fetch(`${opUrl}/__standin/work_packages/${id}`, { method: 'PATCH', body: JSON.stringify(fields) });

test('an open conflict holds back only its own field: the others keep syncing both ways', async () => {
	// 132 and 133 have an open conflict on the title since the second run.
	assert.equal(db("SELECT count(*) FROM sync_conflicts WHERE status = 'open' AND external_id IN ('132', '133')").trim(), '2');
	await adminEdit(132, { statusId: STATUS.Closed });
	db("UPDATE tasks SET due_date = date '2027-01-15' WHERE external_id = '133'");
	await run();
	// The status edited in OpenProject reaches the task; the title stays each side's own.
	const t132 = json("SELECT to_jsonb(t) FROM tasks t WHERE external_id = '132'");
	assert.equal(t132.status, 'Closed');
	assert.equal(t132.title, 'Local wording 132');
	assert.equal(wp(132).subject, 'Remote wording 132');
	// The due date edited locally reaches OpenProject.
	assert.equal(wp(133).dueDate, '2027-01-15');
	assert.equal(wp(133).subject, 'Remote wording 133');
	// Both conflicts are still open, on the title alone; the mirror holds the synced fields.
	const open = json("SELECT jsonb_agg(conflicts ORDER BY external_id) FROM sync_conflicts WHERE status = 'open' AND external_id IN ('132', '133')");
	assert.deepEqual(open.map((c) => c.map((x) => x.path)), [['/title'], ['/title']]);
	assert.equal(json("SELECT data FROM work_packages WHERE external_id = '132'").status, 'Closed');
	// And the run after that writes nothing for them.
	const writes = op.stats.patches + op.stats.posts;
	const audit = Number(db("SELECT count(*) FROM sync_audit WHERE external_id IN ('132', '133')"));
	await run();
	assert.equal(op.stats.patches + op.stats.posts, writes);
	assert.equal(Number(db("SELECT count(*) FROM sync_audit WHERE external_id IN ('132', '133')")), audit);
});

test('a mapped value of the wrong type makes the record invalid; nothing is written for it, then or later', async () => {
	// (The test before moved the remote cursor an hour ahead; OpenProject edits are read again.)
	db("UPDATE sync_state SET cursor_at = now() - interval '1 minute' WHERE direction = 'remote'");
	await adminEdit(190, { subject: 12345 });
	const patches = op.stats.patches;
	await run();
	// Every record of the id is rejected (the task and the mirror entry with it), the work package
	// with the reason and the path of the value.
	const bad = json("SELECT jsonb_agg(detail ORDER BY detail->>'side') FROM sync_audit WHERE external_id = '190' AND action = 'invalid'");
	assert.deepEqual(bad.map((d) => [d.side, d.error.code]), [['base', 'mapping_failed'], ['local', 'mapping_failed'], ['remote', 'mapping_failed']]);
	assert.match(bad[2].error.path, /^\/remote\/\d+\/subject$/);
	assert.match(bad[2].error.message, /expected a string, got number/);
	assert.equal(db("SELECT title FROM tasks WHERE external_id = '190'").trim(), 'Task 190');
	await run();
	assert.equal(op.stats.patches, patches, 'no PATCH for the invalid work package');
	assert.equal(wp(190).subject, 12345);
});

test('OpenProject answering 422 (a blank subject) sends the row to the dead letter at once, with the reason', async () => {
	db("UPDATE tasks SET title = '' WHERE external_id = '191'");
	const posts = op.stats.byStatus[422] ?? 0;
	await run();
	assert.equal(op.stats.byStatus[422], posts + 1);
	const row = json("SELECT to_jsonb(s) FROM sync_staging_work_packages s WHERE external_id = '191' ORDER BY id DESC LIMIT 1");
	assert.equal(row.status, 'dead');
	assert.equal(row.attempts, 1);
	assert.equal(row.last_error.status, 422);
	assert.match(row.last_error.errorIdentifier, /:PropertyConstraintViolation$/);
	assert.equal(wp(191).subject, 'Task 191');
});

test('STAGING_TABLE_PREFIX set in the Settings node: the next runs stage in <prefix>work_packages, the dead letter moves along', async () => {
	const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
	const prefixed = withSettings(read('batch-sync-manager.json'), {
		...json("SELECT settings FROM sync_runs ORDER BY started_at DESC LIMIT 1"),
		STAGING_TABLE_PREFIX: 'flrts_sync_',
	});
	prefixed.id = 'batchSyncManagerPrefixed';
	prefixed.name = 'Batch Sync Manager (prefixed staging)';
	n8n.importWorkflow([prefixed]);
	const one = (sql) => db(sql).trim();
	const deadBefore = one("SELECT string_agg(external_id, ',' ORDER BY external_id) FROM sync_dead_letters");
	assert.match(deadBefore, /191/, 'the test before left a dead letter');
	db("UPDATE tasks SET title = 'Task 192, renamed with a prefix' WHERE external_id = '192'");
	await adminEdit(193, { subject: 'Work package 193, renamed in OpenProject' });
	const result = await n8n.execute(prefixed.id);
	assert.equal(result.status, 'success', JSON.stringify(result.data?.resultData?.error ?? {}).slice(0, 2000));
	const run = one("SELECT run_id FROM sync_runs ORDER BY started_at DESC LIMIT 1");
	assert.equal(one(`SELECT settings->>'STAGING_TABLE_PREFIX' FROM sync_runs WHERE run_id = '${run}'`), 'flrts_sync_');
	// Both edits went through, staged in the new table only.
	assert.equal(wp(192).subject, 'Task 192, renamed with a prefix');
	assert.equal(one("SELECT title FROM tasks WHERE external_id = '193'"), 'Work package 193, renamed in OpenProject');
	assert.equal(one(`SELECT string_agg(external_id || ':' || status, ',' ORDER BY external_id) FROM flrts_sync_work_packages WHERE run_id = '${run}'`), '192:processed,193:processed');
	assert.equal(one(`SELECT count(*) FROM sync_staging_work_packages WHERE run_id = '${run}'`), '0');
	// The dead letter is in the table in use, still shown, still dead.
	assert.equal(one("SELECT string_agg(external_id, ',' ORDER BY external_id) FROM sync_dead_letters"), deadBefore);
	assert.equal(one("SELECT count(*) FROM flrts_sync_work_packages WHERE external_id = '191' AND status = 'dead'"), '1');
	assert.equal(one("SELECT count(*) FROM sync_staging_work_packages WHERE status IN ('pending', 'retry', 'dead')"), '0');
	// The run after writes nothing.
	const writes = op.stats.patches + op.stats.posts;
	assert.equal((await n8n.execute(prefixed.id)).status, 'success');
	assert.equal(op.stats.patches + op.stats.posts, writes);
});

test('MEMORY_LIMIT_MB below what the n8n processes take: each page of a run is split in two in the next run', async () => {
	const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
	const tight = withSettings(read('batch-sync-manager.json'), {
		...json('SELECT settings FROM sync_runs ORDER BY started_at DESC LIMIT 1'),
		MEMORY_LIMIT_MB: 64,
	});
	tight.id = 'batchSyncManagerTight';
	tight.name = 'Batch Sync Manager (64 MB pages)';
	n8n.importWorkflow([tight]);
	/** A full sync by the tight manager; its pages' sizes once the hook measured every one. */
	const fullRun = async () => {
		db("UPDATE sync_state SET full_requested = true WHERE direction = 'local'");
		const result = await n8n.execute(tight.id);
		assert.equal(result.status, 'success', JSON.stringify(result.data?.resultData?.error ?? {}).slice(0, 2000));
		const run = db('SELECT run_id FROM sync_runs ORDER BY started_at DESC LIMIT 1').trim();
		let r;
		for (let t0 = Date.now(); Date.now() - t0 < 20_000; await new Promise((res) => setTimeout(res, 200))) {
			r = json(`SELECT jsonb_build_object('size', r.page_size, 'reason', r.page_size_reason, 'keys', (SELECT jsonb_agg(jsonb_array_length(p.keys) ORDER BY p.page_no) FROM sync_run_pages p WHERE p.run_id = r.run_id),
			                                    'unmeasured', (SELECT count(*) FROM sync_run_pages p WHERE p.run_id = r.run_id AND p.peak_rss_mib IS NULL)) FROM sync_runs r WHERE r.run_id = '${run}'`);
			if (r.unmeasured === 0) break;
		}
		assert.equal(r.unmeasured, 0, 'every page measured');
		return r;
	};
	const before = reconcile();
	assert.equal(db('SELECT page_size FROM sync_runs ORDER BY started_at DESC LIMIT 1').trim(), '300', 'within 4096 MB, pages of 300 keys');
	/** The run's pages are split from the run before's: its largest page's keys in two (no fewer than PAGE_SIZE_MIN, 100). */
	const split = (r) => {
		assert.match(r.reason, /^page \d+ \((\d+) keys\) peaked at \d+ MiB, over MEMORY_LIMIT_MB 64: split in two, pages of (\d+)$/);
		const [keys, size] = r.reason.match(/\((\d+) keys\).*pages of (\d+)$/).slice(1).map(Number);
		assert.equal(r.size, Math.max(100, Math.ceil(keys / 2)));
		assert.equal(size, r.size);
		// Even pages of at most that size (more of them when the workers' multiple allows).
		const total = r.keys.reduce((a, b) => a + b, 0);
		assert.ok(Math.max(...r.keys) <= r.size && Math.max(...r.keys) - Math.min(...r.keys) <= 1, JSON.stringify(r));
		assert.ok(r.keys.length >= Math.ceil(total / r.size), JSON.stringify(r));
	};
	const first = await fullRun();
	split(first);
	assert.ok(first.size < 300, JSON.stringify(first));
	const second = await fullRun();
	split(second);
	assert.ok(second.size <= first.size && second.keys.length >= first.keys.length, JSON.stringify([first, second]));
	// The dashboard's figures say so.
	const f = json('SELECT batch_sync_figures(2)');
	assert.equal(f.runs[0].memory.page_size, second.size);
	assert.equal(f.runs[0].memory.limit_mib, 64);
	assert.ok(f.runs[0].memory.peak_rss_mib > 64);
	// Smaller pages, the same sync: the two systems compare as they did before these runs.
	assert.deepEqual(reconcile(), before);
});
