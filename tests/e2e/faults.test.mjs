// Faults, end to end in n8n's queue mode (Redis, one main, two workers; real PostgreSQL; the
// OpenProject stand-in): a worker killed with SIGKILL in the middle of a page at five points,
// the coordinator killed mid-run, n8n's main killed mid-run, PostgreSQL stopped with
// `pg_ctl stop -m immediate` mid-run, and OpenProject failing 20% of its requests (409, 429 with
// and without Retry-After, 5xx, timeouts after the write was committed). Each ends with both
// databases checked: every pair equal through the mapping, every link one-to-one, no work
// package or task created twice, nothing left pending, the lock free.
//
// Time is simulated where the product waits minutes for it: "LOCK_TIMEOUT_MINUTES later" moves
// the dead run's heartbeat back instead of sleeping, as the next scheduled run would find it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { root, startRedis, startSyncStack } from './harness.mjs';
import { SYNC_CONFIG, withSettings } from '../../workflows/src/build.mjs';

const MAX_RETRIES = 3;
const PAGE_TIMEOUT_SECONDS = 8;
let pg;
let n8n;
let op;
let redis;
let main;
const workers = [];
const db = (sql) => pg.psql(sql, 'flrts').trim();
const json = (sql) => JSON.parse(db(sql) || 'null');

before(async () => {
	redis = await startRedis();
	({ pg, op, n8n } = await startSyncStack({ apiKey: 'fault-key', pgSettings: { max_connections: 300 }, standin: { latencyMs: 15, seed: 42 }, redis }));
	const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
	n8n.importWorkflow([
		withSettings(read('batch-sync-manager.json'), {
			RETRY_BASE_SECONDS: 1,
			REQUEST_TIMEOUT_SECONDS: 2,
			MAX_RETRIES,
			BATCH_SIZE: 25,
			PAGE_SIZE: 100,
			PAGE_TIMEOUT_SECONDS,
			PAGE_WEBHOOK_URL: `http://127.0.0.1:${n8n.env.N8N_PORT}/webhook/batch-sync/page`,
		}),
		read('batch-sync-page.json'),
		read('batch-sync-operations.json'),
	]);
	n8n.publish('batchSyncPage');
	main = await n8n.startMain();
	for (let k = 0; k < 2; k++) workers.push(await n8n.startWorker());
});

after(async () => {
	n8n?.stop();
	redis?.stop();
	await op?.close();
	pg?.stop();
});

/** A run that must succeed; its execution result. */
async function run() {
	const result = await n8n.execute('batchSyncManager');
	assert.equal(result.status, 'success', JSON.stringify(result.data?.resultData?.error ?? {}).slice(0, 2000));
	return result;
}

/** Runs until nothing is left pending, waiting or in conflict (at most `limit` runs). */
async function settle(limit) {
	for (let k = 1; k <= limit; k++) {
		await run();
		const open = db("SELECT count(*) FROM sync_staging_work_packages WHERE status IN ('pending', 'retry')");
		const unfinished = json('SELECT keys FROM batch_sync_unfinished_creates()').length;
		if (open === '0' && unfinished === 0 && differences().length === 0) return k;
	}
	return Infinity;
}

/** The pairs that differ, by the core's own reconciliation of both systems (native CLI). */
function differences() {
	const local = json(`SELECT coalesce(jsonb_agg(jsonb_build_object('sync_id', batch_sync_key(t), 'title', t.title, 'description', t.description, 'status', t.status, 'due_date', t.due_date, 'deleted_at', t.deleted_at, 'updated_at', t.updated_at)), '[]') FROM tasks t`);
	const request = { op: 'classify', local, remote: op.workPackages(), config: { ...SYNC_CONFIG, local_id_field: '/sync_id', mode: 'reconciliation' } };
	const out = execFileSync(path.join(root, 'target/release/batch-sync'), ['call'], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 28 });
	return JSON.parse(out).decisions.filter((d) => d.decision !== 'unchanged').map((d) => `${d.id}:${d.decision}`);
}

/** What is left when a run did not settle, for the failure message. */
function left() {
	return JSON.stringify({
		differences: differences().slice(0, 10),
		staging: json("SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) n FROM sync_staging_work_packages GROUP BY 1) x"),
		errors: json("SELECT jsonb_agg(DISTINCT last_error->>'message') FROM sync_staging_work_packages WHERE status IN ('retry', 'dead', 'pending')"),
		unfinished: json('SELECT keys FROM batch_sync_unfinished_creates()').slice(0, 5),
		pages: json("SELECT jsonb_agg(jsonb_build_object('run', run_id, 'page', page_no, 'status', status, 'dispatches', dispatches, 'error', last_error)) FROM sync_run_pages WHERE status <> 'done'"),
		runs: json('SELECT jsonb_agg(jsonb_build_object(\'status\', status, \'reason\', reason) ORDER BY id) FROM (SELECT * FROM sync_metrics ORDER BY id DESC LIMIT 6) m'),
		history: differences().slice(0, 3).map((d) => {
			const key = d.split(':')[0];
			return {
				key,
				task: json(`SELECT jsonb_agg(to_jsonb(t)) FROM tasks t WHERE external_id = '${key}' OR 'task-' || id = '${key}'`),
				audit: json(`SELECT jsonb_agg(jsonb_build_object('action', action, 'detail', detail) ORDER BY id) FROM sync_audit WHERE external_id = '${key}' OR detail->>'local_key' = '${key}'`),
				staging: json(`SELECT jsonb_agg(jsonb_build_object('status', status, 'op', remote_op, 'err', last_error) ORDER BY id) FROM sync_staging_work_packages WHERE external_id = '${key}'`),
				marked: op.workPackages().filter((w) => w.customField1 === key || String(w.id) === key).map((w) => w.id),
			};
		}),
	});
}

/** Both databases after the dust settled: the invariants a user relies on. */
function assertConsistent(expectedPairs) {
	const wps = op.workPackages();
	assert.deepEqual(differences(), [], 'every pair equal through the mapping');
	assert.equal(db('SELECT count(*) FROM tasks WHERE external_id IS NULL'), '0', 'every task linked');
	assert.equal(db('SELECT count(*) FROM (SELECT external_id FROM tasks GROUP BY 1 HAVING count(*) > 1) d'), '0', 'one task per work package');
	assert.equal(wps.length, expectedPairs, 'no work package created twice, none lost');
	assert.equal(Number(db('SELECT count(*) FROM tasks')), expectedPairs, 'no task created twice, none lost');
	const markers = wps.map((w) => w.customField1).filter((m) => m !== null);
	assert.equal(new Set(markers).size, markers.length, 'each marker on one work package');
	const titles = json('SELECT jsonb_agg(title) FROM tasks');
	assert.equal(new Set(titles).size, titles.length, 'each title once (the data has unique titles)');
	assert.equal(db('SELECT count(*) FROM work_packages'), String(expectedPairs), 'a mirror row per pair');
	assert.equal(db("SELECT count(*) FROM sync_staging_work_packages WHERE status IN ('pending', 'retry', 'dead')"), '0');
	assert.equal(db("SELECT running_run_id IS NULL FROM sync_state WHERE direction = 'local'"), 't', 'the lock is free');
}

let pairs = 0;
let made = 0;
/** New tasks, new work packages and edits on both sides. */
function edits({ localCreates, remoteCreates, localEdits, remoteEdits }) {
	db(`INSERT INTO tasks (title, description, status) SELECT 'Local task ' || (${made} + i), 'made in FLRTS', 'New' FROM generate_series(1, ${localCreates}) i`);
	for (let k = 1; k <= remoteCreates; k++) op.insert({ subject: `Remote wp ${made + k}`, description: 'made in OpenProject', statusId: 1 });
	made += Math.max(localCreates, remoteCreates);
	// Local edits change the due date, remote ones the description and status: no pair has a
	// real conflict (those wait for a person), so everything must settle.
	db(`UPDATE tasks SET due_date = date '2027-01-01' + (id % 300)::int WHERE id IN (SELECT id FROM tasks WHERE external_id IS NOT NULL ORDER BY id DESC LIMIT ${localEdits})`);
	const linked = op.workPackages().slice(0, pairs);
	for (let k = 0; k < remoteEdits; k++) {
		const w = linked[(k * 7919) % linked.length];
		op.insert({ ...w, id: w.id, subject: w.subject, description: `${w.description.raw} +r`, statusId: 7, lockVersion: w.lockVersion + 1, updatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
	}
	pairs += localCreates + remoteCreates;
}

test('a first full sync links 150 pairs', async () => {
	edits({ localCreates: 100, remoteCreates: 50, localEdits: 0, remoteEdits: 0 });
	assert.equal(await settle(1), 1);
	assertConsistent(pairs);
	assert.equal(json("SELECT count(*) FROM sync_audit WHERE action = 'remote.create'"), 100);
});

/** Starts a run and, when `when(stats, at)` holds for the stand-in's counters (checked every
 * 5 ms), calls `act`; resolves with whether it acted and the run's outcome. */
async function runAndStrike(when, act) {
	const at = { ...op.stats };
	const execution = n8n.spawnExecute('batchSyncManager');
	// Struck: the fault was made while the run was going (the run may end while `act` is still
	// busy, e.g. restarting a process; `act` is awaited either way).
	let struck = false;
	await new Promise((resolve) => {
		const timer = setInterval(async () => {
			if (struck || !when(op.stats, at)) return;
			struck = true;
			clearInterval(timer);
			await act(execution);
			resolve();
		}, 5);
		execution.done.then(
			() => {
				clearInterval(timer);
				if (!struck) resolve();
			},
			() => {},
		);
	});
	const outcome = await execution.done.then((r) => ({ ok: r.status === 'success' }), (e) => ({ ok: false, error: e }));
	return { struck, ...outcome };
}

/** Replaces dead n8n processes (main, workers) as a process manager would. */
async function revive() {
	if (main.proc.exitCode !== null || main.proc.signalCode !== null) main = await n8n.startMain();
	for (let k = 0; k < workers.length; k++) {
		const w = workers[k];
		if (w.proc.exitCode !== null || w.proc.signalCode !== null) workers[k] = await n8n.startWorker();
	}
}

/** After a coordinator died: the next run is blocked while its lock is fresh, and says so;
 * LOCK_TIMEOUT_MINUTES later a run takes over. */
async function afterDeadCoordinator() {
	const held = db("SELECT running_run_id FROM sync_state WHERE direction = 'local'");
	if (held === '') return null;
	await assert.rejects(n8n.execute('batchSyncManager'), /Sync blocked: run [0-9a-f-]+ \(execution \d+\) holds the lock/);
	assert.equal(db('SELECT status FROM sync_metrics ORDER BY id DESC LIMIT 1'), 'blocked');
	db("UPDATE sync_state SET heartbeat_at = heartbeat_at - interval '6 minutes' WHERE direction = 'local'");
	return held;
}

// Where a worker dies, in the middle of a page: a predicate on the stand-in's counters.
const workerKills = [
	['while its page reads OpenProject', (s, at) => s.requests > at.requests + 2],
	['after 10 creates', (s, at) => s.posts >= at.posts + 10],
	['after 60 creates', (s, at) => s.posts >= at.posts + 60],
	['after 20 patches', (s, at) => s.patches >= at.patches + 20],
	['near the end of the writes', (s, at) => s.posts >= at.posts + 110],
];

for (const [where, when] of workerKills) {
	test(`kill -9 of a worker ${where}: its page is sent again, the run completes, nothing is lost or doubled`, async () => {
		edits({ localCreates: 120, remoteCreates: 30, localEdits: 40, remoteEdits: 20 });
		let victim = null;
		const { struck, ok, error } = await runAndStrike(when, async () => {
			// The worker running a page now (its execution claimed one), else the first.
			const claimed = new Set(json("SELECT coalesce(jsonb_agg(claimed_by), '[]') FROM sync_run_pages WHERE status = 'claimed'"));
			victim = workers.find((w) => [...w.executions].some((id) => claimed.has(id))) ?? workers[0];
			victim.kill();
			workers[workers.indexOf(victim)] = await n8n.startWorker();
		});
		assert.ok(struck, `the run ended before the kill point (${where})`);
		assert.ok(ok, `the run completes without the dead worker: ${error?.message?.slice(0, 500)}`);
		const run = db('SELECT run_id FROM sync_runs ORDER BY started_at DESC LIMIT 1');
		assert.ok(json(`SELECT max(dispatches) FROM sync_run_pages WHERE run_id = '${run}'`) >= 2, 'the dead worker\'s page was sent again');
		const runs = await settle(MAX_RETRIES);
		assert.ok(runs <= MAX_RETRIES, `settled within ${MAX_RETRIES} further runs: ${left()}`);
		assertConsistent(pairs);
	});
}

test('kill -9 of the coordinator mid-run: the next run is blocked and says so; after the lock timeout a run takes over', async () => {
	edits({ localCreates: 150, remoteCreates: 20, localEdits: 20, remoteEdits: 20 });
	const { struck } = await runAndStrike((s, at) => s.posts >= at.posts + 30, async (execution) => execution.kill());
	assert.ok(struck);
	const held = await afterDeadCoordinator();
	assert.ok(held, 'the dead coordinator held the lock');
	const runs = await settle(MAX_RETRIES + 1);
	assert.ok(runs <= MAX_RETRIES + 1, `settled: ${left()}`);
	assert.equal(db(`SELECT status FROM sync_metrics WHERE run_id = '${held}'`), 'abandoned');
	assert.equal(db(`SELECT status FROM sync_runs WHERE run_id = '${held}'`), 'abandoned');
	assertConsistent(pairs);
});

test("kill -9 of n8n's main mid-run (the webhooks): the pages it could not take are sent again once it is back", async () => {
	edits({ localCreates: 150, remoteCreates: 20, localEdits: 20, remoteEdits: 20 });
	// Early in the run (the listing and the first pages' reads done), while most pages are still
	// to be sent: those sent while main is down are sent again.
	const { struck, ok, error } = await runAndStrike((s, at) => s.requests >= at.requests + 6, async () => {
		main.kill();
		await new Promise((r) => setTimeout(r, 2000));
		main = await n8n.startMain();
	});
	assert.ok(struck);
	assert.ok(ok, `the run completes: ${error?.message?.slice(0, 500)}`);
	const run = db('SELECT run_id FROM sync_runs ORDER BY started_at DESC LIMIT 1');
	assert.ok(json(`SELECT max(dispatches) FROM sync_run_pages WHERE run_id = '${run}'`) >= 2, 'a page was sent again');
	const runs = await settle(MAX_RETRIES);
	assert.ok(runs <= MAX_RETRIES, `settled: ${left()}`);
	assertConsistent(pairs);
});

test('PostgreSQL stopped with pg_ctl stop -m immediate mid-run and started again: nothing lost or doubled', async () => {
	edits({ localCreates: 150, remoteCreates: 20, localEdits: 20, remoteEdits: 20 });
	const { struck } = await runAndStrike((s, at) => s.posts >= at.posts + 30, async () => {
		pg.crash();
		await new Promise((r) => setTimeout(r, 1500));
		pg.restart();
	});
	assert.ok(struck);
	await revive();
	await afterDeadCoordinator();
	const runs = await settle(MAX_RETRIES + 1);
	assert.ok(runs <= MAX_RETRIES + 1, `settled: ${left()}`);
	assertConsistent(pairs);
});

test('OpenProject failing 20% of requests (409, 429 with and without Retry-After, 5xx, timeouts after commit): settled within MAX_RETRIES runs, nothing doubled', async () => {
	op.setFailureRates({
		GET: { 429: 0.06, '429-retry-after': 0.04, 503: 0.06, 500: 0.02, timeout: 0.02 },
		POST: { 429: 0.04, '429-retry-after': 0.03, 503: 0.04, 500: 0.03, 'timeout-after-commit': 0.06 },
		PATCH: { 409: 0.05, 429: 0.03, '429-retry-after': 0.02, 503: 0.03, 500: 0.02, 'timeout-after-commit': 0.05 },
	});
	const failed = json("SELECT count(*) FROM sync_metrics WHERE status = 'failed'");
	try {
		edits({ localCreates: 200, remoteCreates: 40, localEdits: 120, remoteEdits: 40 });
		let runs = 0;
		for (; runs < MAX_RETRIES + 2; runs++) {
			// A run whose listing fails even after its retries is recorded as failed and lets go of
			// the lock; the next one carries on.
			await n8n.execute('batchSyncManager').catch((e) => assert.match(e.message, /Sync run failed: Reading OpenProject failed/));
			if (db("SELECT count(*) FROM sync_staging_work_packages WHERE status IN ('pending', 'retry')") === '0' && differences().length === 0) break;
		}
		assert.ok(runs < MAX_RETRIES + 2, `settled within ${MAX_RETRIES + 1} runs: ${left()}`);
	} finally {
		op.setFailureRates({});
	}
	for (const f of ['POST timeout-after-commit', 'PATCH timeout-after-commit', 'PATCH 409', '429', '429-retry-after', '503', '500']) {
		assert.ok(op.stats.byFailure[f] > 0, `the stand-in failed with ${f}: ${JSON.stringify(op.stats.byFailure)}`);
	}
	// The creates whose answer was lost were found by their marker, not created again.
	assert.ok(json("SELECT count(*) FROM sync_audit WHERE action = 'remote.create' AND detail->>'recovered' = 'true'") > 0);
	assert.equal(json("SELECT count(*) FROM sync_audit WHERE action = 'remote.duplicate'"), 0);
	assert.ok(json("SELECT count(*) FROM sync_metrics WHERE status = 'failed'") >= failed);
	await settle(1);
	assertConsistent(pairs);
});
