// The adaptive batch size and sync interval (issue 13) in the real n8n against the OpenProject
// stand-in: a scripted sequence of runs, each writing 80 local edits to OpenProject, with 429s
// injected into one and the stand-in's latency rising for another. What is asserted is what each
// run recorded (sync_metrics: the size used, its figures, the size chosen for the next run and
// why), never a wall clock.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { root, startSyncStack } from './harness.mjs';
import { withSettings } from '../../workflows/src/build.mjs';

const PAIRS = 200;
const EDITS = 80;
const BOUNDS = { BATCH_SIZE: 10, BATCH_SIZE_MIN: 5, BATCH_SIZE_MAX: 40 };
let pg;
let op;
let n8n;
const db = (sql) => pg.psql(sql, 'flrts').trim();
const json = (sql) => JSON.parse(db(sql) || 'null');
const text = (i) => `Description of task ${i}: check the pump, write the report.`;

before(async () => {
	({ pg, op, n8n } = await startSyncStack({ apiKey: 'adaptive-key', standin: { latencyMs: 20, seed: 7 } }));
	const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
	n8n.importWorkflow([
		withSettings(read('batch-sync-manager.json'), {
			...BOUNDS,
			RETRY_BASE_SECONDS: 1,
			PAGE_WEBHOOK_URL: `http://127.0.0.1:${n8n.env.N8N_PORT}/webhook/batch-sync/page`,
		}),
		read('batch-sync-page.json'),
		read('batch-sync-operations.json'),
	]);
	n8n.publish('batchSyncPage');
	await n8n.startMain();
	for (let i = 1; i <= PAIRS; i++) op.insert({ id: i, subject: `Task ${i}`, description: text(i), statusId: 1, dueDate: null });
	db(`INSERT INTO tasks (external_id, title, description, status)
	    SELECT i::text, 'Task ' || i, 'Description of task ' || i || ': check the pump, write the report.', 'New'
	    FROM generate_series(1, ${PAIRS}) i`);
});

after(async () => {
	n8n?.stop();
	await op?.close();
	pg?.stop();
});

/** One run of the manager; returns what it recorded. `edits`: tasks edited locally before it. */
async function run(edits = EDITS) {
	if (edits > 0) db(`UPDATE tasks SET title = title || '.' WHERE id <= ${edits}`);
	const patches = op.stats.patches;
	const result = await n8n.execute('batchSyncManager');
	assert.equal(result.status, 'success', JSON.stringify(result.data?.resultData?.error ?? {}).slice(0, 2000));
	const m = json(`SELECT jsonb_build_object('used', batch_size, 'next', batch_size_next, 'reason', batch_size_reason, 'thr', batch_throttled,
	                                          'lat', batch_latency_ms, 'rate', batch_rows_per_second, 'interval', interval_minutes,
	                                          'interval_reason', interval_reason, 'status', status)
	                 FROM sync_metrics WHERE status <> 'blocked' ORDER BY started_at DESC, id DESC LIMIT 1`);
	m.patches = op.stats.patches - patches;
	return m;
}

const seen = [];
/** Every run keeps to the bounds and uses the size the run before chose. */
function check(m) {
	const last = seen.at(-1);
	if (last) assert.equal(m.used, last.next, `a run uses the size the run before chose: ${JSON.stringify([last, m])}`);
	for (const v of [m.used, m.next]) assert.ok(v >= BOUNDS.BATCH_SIZE_MIN && v <= BOUNDS.BATCH_SIZE_MAX, `within the bounds: ${JSON.stringify(m)}`);
	seen.push(m);
	return m;
}

test('the batch size is searched upwards while OpenProject answers quickly', async () => {
	check(await run(0)); // the first, full run: seeds the mirror
	const a = check(await run());
	assert.ok(a.patches >= EDITS, `${a.patches} PATCHes`);
	assert.equal(a.thr, 0);
	check(await run());
	assert.ok(seen.some((m) => m.next > m.used && /: trying \d+$/.test(m.reason)), JSON.stringify(seen));
});

test('429s from OpenProject halve the batch size; the sizes from the throttled one up are not tried for a while', async () => {
	op.setFailureRates({ PATCH: { 429: 0.25 } });
	const m = check(await run());
	op.setFailureRates({});
	assert.ok(m.thr > 0, JSON.stringify(m));
	assert.equal(m.next, Math.max(BOUNDS.BATCH_SIZE_MIN, Math.floor(m.used / 2)));
	assert.equal(m.reason, `OpenProject throttled ${m.thr} answers (429/5xx) at ${m.used}: smaller`);
	const throttledAt = m.used;
	const after1 = check(await run());
	assert.ok(after1.next < throttledAt, `below the throttled size: ${JSON.stringify(after1)}`);
});

test('OpenProject slowing down (20 ms -> 200 ms a request) takes a quarter off; quick again, the size goes back up', async () => {
	const before = seen.at(-1);
	op.setLatency(200);
	const slow = check(await run());
	op.setLatency(20);
	assert.equal(slow.thr, 0);
	assert.ok(slow.lat > before.lat * 1.5 && slow.lat > before.lat + 20, JSON.stringify([before, slow]));
	assert.equal(slow.next, Math.max(BOUNDS.BATCH_SIZE_MIN, Math.floor((slow.used * 3) / 4)));
	assert.equal(slow.reason, `OpenProject answered in ${slow.lat.toFixed(1)} ms, ${before.lat.toFixed(1)} ms the run before: smaller`);
	const quick = [];
	for (let k = 0; k < 3; k++) quick.push(check(await run()));
	assert.ok(quick.some((m) => m.next > m.used), `back up within three quick runs: ${JSON.stringify(quick)}`);
	// Every decision's reason is one of the rules', with the figures it was taken from.
	for (const m of seen.slice(1)) {
		assert.match(m.reason, /^(OpenProject throttled|OpenProject answered in|[\d.]+ rows\/s at \d+)/, m.reason);
	}
});

test('bursts of edits shorten the interval down to its minimum; runs that find nothing lengthen it', async () => {
	// Every write run above changed 80 pairs (at least BATCH_SIZE), or left rows waiting for a
	// retry after the 429s: each halved the interval.
	const bursts = json("SELECT jsonb_agg(jsonb_build_object('i', interval_minutes, 'r', interval_reason) ORDER BY started_at) FROM sync_metrics WHERE status <> 'blocked'").slice(1);
	assert.ok(bursts.filter((b) => b.r.startsWith('burst')).length >= 6, JSON.stringify(bursts));
	for (const [k, b] of bursts.entries()) {
		assert.match(b.r, /^(burst: \d+ changes \(at least BATCH_SIZE, 10\)|backlog: \d+ rows waiting, \d+ pages failed): sooner$/, JSON.stringify(b));
		if (k > 0) assert.ok(b.i <= bursts[k - 1].i, JSON.stringify(bursts));
	}
	assert.equal(Number(bursts.at(-1).i), 1, 'SYNC_INTERVAL_MIN_MINUTES');
	const idle1 = await run(0);
	const idle2 = await run(0);
	assert.deepEqual([Number(idle1.interval), idle1.interval_reason], [15, 'nothing changed: SYNC_INTERVAL_MINUTES']);
	assert.deepEqual([Number(idle2.interval), idle2.interval_reason], [30, 'nothing changed, two runs in a row: later']);
});
