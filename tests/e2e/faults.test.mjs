// Faults, end to end in the real n8n + PostgreSQL against the OpenProject stand-in: n8n killed
// with SIGKILL at different points of a run, and OpenProject failing 20% of its requests (409,
// 429 with and without Retry-After, 5xx, timeouts after the write was committed). Each ends
// with both databases checked: every pair equal through the mapping, every link one-to-one, no
// work package or task created twice, nothing left pending, the lock free.
//
// Time is simulated where the product waits for it: "LOCK_TIMEOUT_MINUTES later" moves the dead
// run's heartbeat back instead of sleeping, as a scheduled run would find it minutes later.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { packNode, root, setupN8n, startPostgres } from './harness.mjs';
import { createStandin } from '../openproject/standin.mjs';
import { CREDENTIALS, SYNC_CONFIG, withSettings } from '../../workflows/src/build.mjs';

const MAX_RETRIES = 3;
let pg;
let n8n;
let op;
const db = (sql) => pg.psql(sql, 'flrts').trim();
const json = (sql) => JSON.parse(db(sql) || 'null');

before(async () => {
	const tarball = packNode();
	pg = await startPostgres();
	pg.createDatabase('flrts');
	pg.psqlFile(path.join(root, 'workflows/sql/schema.sql'), 'flrts');
	pg.psqlFile(path.join(root, 'workflows/sql/sync.sql'), 'flrts');
	op = createStandin({ apiKey: 'fault-key', latencyMs: 15, seed: 42 });
	const opUrl = `http://127.0.0.1:${await op.listen(0)}`;
	n8n = await setupN8n({ pg, tarball });
	n8n.importCredentials([
		{ ...CREDENTIALS.postgres, type: 'postgres', data: { host: pg.host, port: pg.port, database: 'flrts', user: pg.user, password: '', ssl: 'disable' } },
		{ ...CREDENTIALS.openProjectApi, type: 'openProjectApi', data: { baseUrl: opUrl, apiKey: 'fault-key' } },
	]);
	const wf = JSON.parse(readFileSync(path.join(root, 'workflows/batch-sync-manager.json'), 'utf8'));
	n8n.importWorkflow([withSettings(wf, { RETRY_BASE_SECONDS: 1, REQUEST_TIMEOUT_SECONDS: 2, MAX_RETRIES, BATCH_SIZE: 25 })]);
});

after(async () => {
	n8n?.stop();
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

// Where n8n dies: a predicate on the stand-in's counters, checked every 5 ms.
const killPoints = [
	['while reading OpenProject', (s, at) => s.requests > at.requests],
	['after 10 creates', (s, at) => s.posts >= at.posts + 10],
	['after 60 creates', (s, at) => s.posts >= at.posts + 60],
	['after 20 patches', (s, at) => s.patches >= at.patches + 20],
	['near the end of the writes', (s, at) => s.posts >= at.posts + 110],
];

for (const [where, when] of killPoints) {
	test(`kill -9 of n8n ${where}: the next run is blocked and says so, a run after the lock timeout takes over, nothing is lost or doubled`, async () => {
		edits({ localCreates: 120, remoteCreates: 30, localEdits: 40, remoteEdits: 20 });
		const at = { ...op.stats };
		const { kill, done } = n8n.spawnExecute('batchSyncManager');
		const killed = await new Promise((resolve) => {
			const timer = setInterval(() => {
				if (when(op.stats, at)) {
					clearInterval(timer);
					kill();
					resolve(true);
				}
			}, 5);
			done.then(
				() => {
					clearInterval(timer);
					resolve(false);
				},
				() => {},
			);
		});
		await done.catch(() => {});
		assert.ok(killed, `the run ended before the kill point (${where})`);
		// The dead run still holds the lock: a run now is blocked, as a failed execution with the
		// reason, and a metrics row says so.
		const held = db("SELECT running_run_id FROM sync_state WHERE direction = 'local'");
		if (held !== '') {
			await assert.rejects(n8n.execute('batchSyncManager'), /Sync blocked: run [0-9a-f-]+ \(execution \d+\) holds the lock/);
			assert.equal(db("SELECT status FROM sync_metrics ORDER BY id DESC LIMIT 1"), 'blocked');
			// LOCK_TIMEOUT_MINUTES later, the scheduled run takes over.
			db("UPDATE sync_state SET heartbeat_at = heartbeat_at - interval '6 minutes' WHERE direction = 'local'");
		}
		const runs = await settle(MAX_RETRIES + 1);
		assert.ok(runs <= MAX_RETRIES + 1, `settled within ${MAX_RETRIES + 1} runs: ${left()}`);
		if (held !== '') assert.equal(db(`SELECT status FROM sync_metrics WHERE run_id = '${held}'`), 'abandoned');
		assertConsistent(pairs);
	});
}

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
