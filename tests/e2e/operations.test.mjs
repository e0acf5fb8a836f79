// Operating the sync, end to end in real n8n + PostgreSQL + the OpenProject stand-in: the run
// kinds on demand (POST /webhook/sync/run and the CLI's batch_sync_request_run + n8n execute),
// 409 while a run holds the lock, 400 for a bad request, GET /webhook/sync/metrics (JSON, and
// Prometheus text checked with the Prometheus project's own Python parser), GET
// /webhook/sync/health (200/503 with its checks), the alerts sent to a local HTTP sink (a failed
// run, dead letters, none for a healthy run), a reconciliation run that writes nothing and
// reports exactly the planted differences, a delta_sync that replays a window the cursors passed;
// every endpoint behind the operator's Basic Auth (401 / 403 without it) and 429 past
// ENDPOINT_RATE_PER_MINUTE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { mailText, OPERATOR, operatorAuth, root, startSmtpSink, startSyncStack } from './harness.mjs';
import { withSettings } from '../../workflows/src/build.mjs';

const PAIRS = 200;
let pg;
let n8n;
let main;
let op;
let opUrl;
let sink;
let smtp;
const alerts = [];
const SMTP = { id: 'batchSyncTestSmtp', name: 'Test SMTP' };
const db = (sql) => pg.psql(sql, 'flrts').trim();
const json = (sql) => JSON.parse(db(sql) || 'null');
const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));

before(async () => {
	({ pg, op, opUrl, n8n } = await startSyncStack({ apiKey: 'ops-key' }));
	// The alert channel: a local HTTP sink that keeps what it receives.
	sink = createServer((req, res) => {
		let body = '';
		req.on('data', (d) => (body += d));
		req.on('end', () => {
			alerts.push(JSON.parse(body));
			res.writeHead(204).end();
		});
	});
	await new Promise((r) => sink.listen(0, '127.0.0.1', r));
	// The e-mail channel: n8n's Send Email node with an SMTP credential, to a local SMTP sink.
	smtp = await startSmtpSink();
	n8n.importCredentials([{ ...SMTP, type: 'smtp', data: { user: '', password: '', host: '127.0.0.1', port: smtp.port, secure: false, disableStartTls: true } }]);
	const settings = {
		RETRY_BASE_SECONDS: 1,
		PAGE_SIZE: 100,
		REQUEST_TIMEOUT_SECONDS: 5,
		// The schedule (every minute) starts nothing during the test: the interval is a day.
		SYNC_INTERVAL_MINUTES: 1440,
		ALERT_WEBHOOK_URL: `http://127.0.0.1:${sink.address().port}/alerts`,
		ALERT_EMAIL_TO: 'ops@example.com, oncall@example.com',
		ALERT_EMAIL_FROM: 'batch-sync@example.com',
		PAGE_WEBHOOK_URL: `http://127.0.0.1:${n8n.env.N8N_PORT}/webhook/batch-sync/page`,
	};
	// The SMTP credential picked in the e-mail nodes, as a user does in the editor.
	const withSmtp = (wf, name) => ({ ...wf, nodes: wf.nodes.map((n) => (n.name === name ? { ...n, credentials: { smtp: SMTP }, disabled: false } : n)) });
	n8n.importWorkflow([
		withSmtp(withSettings(read('batch-sync-manager.json'), settings), 'E-mail Alert'),
		read('batch-sync-page.json'),
		withSmtp(read('batch-sync-operations.json'), 'E-mail Failure Alert'),
	]);
	// The same manager with a bad setting: its runs must be refused with the key named.
	const bad = withSettings(read('batch-sync-manager.json'), { ...settings, BATCH_SIZE: 0 });
	bad.id = 'batchSyncManagerBadSettings';
	bad.name = 'Batch Sync Manager (bad settings)';
	n8n.importWorkflow([bad]);
	n8n.publish('batchSyncPage');
	n8n.publish('batchSyncOperations');
	main = await n8n.startMain();
});

after(async () => {
	n8n?.stop();
	await op?.close();
	await new Promise((r) => (sink ? sink.close(r) : r()));
	await smtp?.close();
	pg?.stop();
});

const call = async (method, p, body, headers = {}) => {
	const res = await fetch(`${main.url}/webhook/${p}`, {
		method,
		headers: { 'content-type': 'application/json', ...operatorAuth, ...headers },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	let parsed = null;
	try {
		parsed = JSON.parse(text);
	} catch {
		// text
	}
	return { status: res.status, type: res.headers.get('content-type'), text, json: parsed, headers: res.headers };
};

/** Waits until a run has ended (its row in sync_runs is no longer 'running'). */
async function ended(runId, timeoutMs = 180_000) {
	const t0 = Date.now();
	for (;;) {
		const r = json(`SELECT to_jsonb(r) FROM sync_runs r WHERE run_id = '${runId}'`);
		if (r && r.status !== 'running') return r;
		if (Date.now() - t0 > timeoutMs) throw new Error(`run ${runId} still ${r?.status} after ${timeoutMs} ms`);
		await new Promise((res) => setTimeout(res, 300));
	}
}

async function runKind(body) {
	const res = await call('POST', 'sync/run', body);
	assert.equal(res.status, 202, res.text);
	return { answer: res.json, run: await ended(res.json.run_id) };
}

/** What a reconciliation must not change: the tables, the mirror, OpenProject. */
const snapshot = () => ({
	tasks: db('SELECT md5(string_agg(t::text, \'|\' ORDER BY id)) FROM tasks t'),
	mirror: db("SELECT md5(string_agg(w.external_id || w.checksum || coalesce(w.lock_version, -1), '|' ORDER BY external_id)) FROM work_packages w"),
	staging: db("SELECT md5(coalesce(string_agg(s.id || s.status, '|' ORDER BY id), '')) FROM sync_staging_work_packages s"),
	conflicts: db("SELECT md5(coalesce(string_agg(c.id || c.status, '|' ORDER BY id), '')) FROM sync_conflicts c"),
	audit: db('SELECT count(*) FROM sync_audit'),
	cursors: db("SELECT string_agg(direction || cursor_at, '|' ORDER BY direction) FROM sync_state"),
	wps: JSON.stringify(op.workPackages()),
	writes: op.stats.patches + op.stats.posts,
});

const edit = (id, fields) => fetch(`${opUrl}/__standin/work_packages/${id}`, { method: 'PATCH', body: JSON.stringify(fields) });

/** Parses Prometheus text with the Prometheus project's Python client (Debian's package). */
function prometheusParse(text) {
	const script = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {"type": fam.type, "help": fam.documentation,
                     "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
print(json.dumps(out))`;
	return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8' }));
}

test('before any run: health is 503 (no successful run yet), metrics are empty and well-formed', async () => {
	const health = await call('GET', 'sync/health');
	assert.equal(health.status, 503, health.text);
	assert.equal(health.json.status, 'unhealthy');
	const last = health.json.checks.find((c) => c.name === 'last_success');
	assert.equal(last.ok, false);
	assert.equal(last.value, null);
	const metrics = await call('GET', 'sync/metrics');
	assert.equal(metrics.status, 200);
	assert.match(metrics.type, /^application\/json/);
	assert.deepEqual(metrics.json.runs, []);
	assert.equal(metrics.json.totals.runs, 0);
	const prom = await call('GET', 'sync/metrics?format=prometheus');
	assert.match(prom.type, /^text\/plain;.*version=0\.0\.4/);
	const parsed = prometheusParse(prom.text);
	assert.equal(parsed.batch_sync_last_success_timestamp_seconds.samples[0][2], 0);
	const bad = await call('GET', 'sync/metrics?format=xml');
	assert.equal(bad.status, 400);
	assert.match(bad.json.error, /format must be json or prometheus/);
});

test('the CLI asks for a full sync (batch_sync_request_run + n8n execute); the person is kept', async () => {
	// Work packages last changed a day ago: OpenProject's listing of changes then holds only
	// what the test edits.
	const dayAgo = new Date(Date.now() - 86400_000).toISOString().replace(/\.\d+Z$/, 'Z');
	for (let i = 1; i <= PAIRS; i++) op.insert({ id: i, subject: `Task ${i}`, description: `Text ${i}`, statusId: 1, createdAt: dayAgo, updatedAt: dayAgo });
	db(`INSERT INTO tasks (external_id, title, description, status) SELECT i::text, 'Task ' || i, 'Text ' || i, 'New' FROM generate_series(1, ${PAIRS}) i`);
	// Not the first run's default: make it visible that the request is what decides.
	db("SELECT * FROM batch_sync_request_run('full_sync', NULL, 'ops-person')");
	const result = await n8n.execute('batchSyncManager');
	assert.equal(result.status, 'success');
	const run = json('SELECT to_jsonb(r) FROM sync_runs r ORDER BY started_at DESC LIMIT 1');
	assert.equal(run.kind, 'full_sync');
	assert.equal(run.requested_by, 'ops-person');
	assert.equal(run.status, 'success');
	assert.equal(db('SELECT count(*) FROM work_packages'), String(PAIRS));
	assert.equal(db("SELECT count(*) FROM sync_state WHERE requested_kind IS NOT NULL"), '0', 'the request is through');
	assert.deepEqual(alerts, [], 'a healthy run sends no alert');
	// The manager is published now (its schedule and webhook): main picks it up on restart.
	n8n.publish('batchSyncManager');
	main.stop();
	main = await n8n.startMain();
});

test('POST /webhook/sync/run: 202 with the run; 409 while it runs; 400 for a bad request', async () => {
	db("UPDATE tasks SET title = title || ' (edited)' WHERE id <= 5");
	const first = await call('POST', 'sync/run', { kind: 'incremental', by: 'ana' });
	assert.equal(first.status, 202, first.text);
	assert.equal(first.json.kind, 'incremental');
	assert.equal(first.json.requested_by, 'ana');
	const second = await call('POST', 'sync/run', { kind: 'full_sync' });
	assert.equal(second.status, 409, second.text);
	assert.match(second.json.reason, new RegExp(`run ${first.json.run_id} .*holds the lock`));
	const run = await ended(first.json.run_id);
	assert.equal(run.status, 'success');
	assert.equal(db(`SELECT count(*) FROM sync_runs WHERE started_at >= '${run.started_at}'`), '1', 'no second run');
	assert.equal(db("SELECT count(*) FROM sync_metrics WHERE status = 'blocked'"), '1', 'the refused start is recorded');
	for (let id = 1; id <= 5; id++) assert.match(op.workPackages().find((w) => w.id === id).subject, /\(edited\)$/);
	// Every change the run applied is audited with the n8n execution that made it, the run's kind
	// and the person who asked for it.
	const audit = json(`SELECT jsonb_agg(to_jsonb(a) ORDER BY id) FROM sync_audit a WHERE run_id = '${run.run_id}'`);
	assert.deepEqual(audit.filter((a) => a.action === 'remote.patch').map((a) => a.external_id).sort(), ['1', '2', '3', '4', '5']);
	for (const a of audit) {
		assert.match(a.execution_id ?? '', /^\d+$/, `${a.action} ${a.external_id}: its execution`);
		assert.ok(['batchSyncManager', 'batchSyncPage'].includes(a.workflow_id), a.workflow_id);
		assert.deepEqual([a.run_kind, a.requested_by], ['incremental', 'ana'], `${a.action} ${a.external_id}`);
	}
	// The page's writes are the page execution's, not the manager's.
	assert.ok(audit.filter((a) => a.action === 'remote.patch').every((a) => a.workflow_id === 'batchSyncPage'));

	const unknown = await call('POST', 'sync/run', { kind: 'weekly' });
	assert.equal(unknown.status, 400);
	assert.match(unknown.json.error, /kind must be one of full_sync, incremental, delta_sync, reconciliation, got "weekly"/);
	const noSince = await call('POST', 'sync/run', { kind: 'delta_sync' });
	assert.equal(noSince.status, 400);
	assert.match(noSince.json.error, /delta_sync needs "since"/);
	const badSince = await call('POST', 'sync/run', { kind: 'delta_sync', since: 'yesterday-ish' });
	assert.equal(badSince.status, 400);
	assert.match(badSince.json.error, /since must be an ISO 8601 time/);
	assert.equal(db("SELECT count(*) FROM sync_state WHERE running_run_id IS NOT NULL"), '0', 'a refused request holds no lock');
});

test('a settings error is answered with the key named', async () => {
	await assert.rejects(n8n.execute('batchSyncManagerBadSettings'), /settings: BATCH_SIZE must be a whole number from 1 to 10000, got 0/);
});

test('reconciliation: both sides compared, nothing written, exactly the planted differences reported', async () => {
	// Planted: 3 local edits, 2 OpenProject edits, 1 pair edited on both sides in the same field.
	db("UPDATE tasks SET title = 'Local ' || id WHERE id IN (10, 11, 12)");
	await edit(20, { statusId: 12 });
	await edit(21, { subject: 'Remote 21' });
	db("UPDATE tasks SET title = 'Both local' WHERE id = 30");
	await edit(30, { subject: 'Both remote' });
	const before = snapshot();
	const { run } = await runKind({ kind: 'reconciliation', by: 'auditor' });
	assert.equal(run.status, 'success');
	assert.deepEqual(snapshot(), before, 'a reconciliation changes nothing');
	const report = json(`SELECT jsonb_object_agg(external_id, jsonb_build_object('decision', decision, 'differences', differences)) FROM sync_reconciliation WHERE run_id = '${run.run_id}'`);
	assert.deepEqual(Object.keys(report).sort(), ['10', '11', '12', '20', '21', '30']);
	// The differences are named by the FLRTS side's fields (the mapping's local paths).
	for (const id of ['10', '11', '12']) assert.deepEqual(report[id], { decision: 'update_remote', differences: ['/title'] });
	assert.deepEqual(report['20'], { decision: 'update_local', differences: ['/status'] });
	assert.deepEqual(report['21'], { decision: 'update_local', differences: ['/title'] });
	assert.deepEqual(report['30'], { decision: 'conflict', differences: ['/title'] });
	const m = json(`SELECT to_jsonb(m) FROM sync_metrics m WHERE run_id = '${run.run_id}'`);
	assert.equal(m.kind, 'reconciliation');
	assert.equal(m.total_items, PAIRS);
});

test('delta_sync replays a window the cursors passed; the cursors stay', async () => {
	// The incremental run syncs what reconciliation found (and opens the conflict of pair 30).
	const inc = await runKind({ kind: 'incremental' });
	assert.equal(inc.run.status, 'success');
	assert.equal(op.workPackages().find((w) => w.id === 10).subject, 'Local 10');
	// A task changed two hours ago (restored from a backup, say): behind the cursor and its
	// overlap, an incremental run does not see it.
	db('ALTER TABLE tasks DISABLE TRIGGER tasks_touch');
	db("UPDATE tasks SET title = 'Restored 40', updated_at = now() - interval '2 hours' WHERE id = 40");
	db('ALTER TABLE tasks ENABLE TRIGGER tasks_touch');
	await runKind({ kind: 'incremental' });
	assert.equal(op.workPackages().find((w) => w.id === 40).subject, 'Task 40', 'incremental: behind the cursor');
	const cursors = db("SELECT string_agg(direction || cursor_at, '|' ORDER BY direction) FROM sync_state");
	const since = new Date(Date.now() - 3 * 3600_000).toISOString();
	const delta = await runKind({ kind: 'delta_sync', since });
	assert.equal(delta.run.status, 'success');
	assert.equal(new Date(delta.run.since).toISOString(), since);
	assert.equal(op.workPackages().find((w) => w.id === 40).subject, 'Restored 40', 'delta_sync: replayed');
	assert.equal(db("SELECT string_agg(direction || cursor_at, '|' ORDER BY direction) FROM sync_state"), cursors);
});

test('metrics: the JSON and the Prometheus text agree with the tables', async () => {
	const metrics = await call('GET', 'sync/metrics?runs=3');
	assert.equal(metrics.status, 200);
	const rows = json('SELECT jsonb_agg(to_jsonb(m) ORDER BY started_at DESC, id DESC) FROM sync_metrics m');
	assert.equal(metrics.json.runs.length, 3);
	assert.deepEqual(metrics.json.runs.map((r) => r.run_id), rows.slice(0, 3).map((r) => r.run_id));
	assert.deepEqual(metrics.json.runs.map((r) => r.kind), ['delta_sync', 'incremental', 'incremental']);
	assert.equal(metrics.json.runs[0].items, rows[0].total_items);
	assert.equal(metrics.json.runs[0].duration_ms, rows[0].duration_ms);
	// Per-stage time of the run's pages: read (both sides), compare (to the first batch), write.
	const stages = metrics.json.runs[0].stage_ms;
	assert.equal(stages.pages, Number(db(`SELECT count(*) FROM sync_run_pages WHERE run_id = '${rows[0].run_id}' AND status = 'done'`)));
	assert.ok(stages.pages >= 2 && stages.read > 0 && stages.compare > 0 && stages.write >= 0, JSON.stringify(stages));
	assert.ok(stages.read + stages.compare + stages.write <= rows[0].duration_ms * stages.pages, JSON.stringify(stages));
	assert.equal(metrics.json.totals.runs, rows.length);
	const byDecision = {};
	for (const r of rows) for (const [k, v] of Object.entries(r.per_decision)) if (k !== 'total' && k !== 'conflicts_resolved') byDecision[k] = (byDecision[k] ?? 0) + v;
	assert.deepEqual(metrics.json.totals.items_by_decision, byDecision);
	assert.equal(metrics.json.conflicts_open, Number(db("SELECT count(*) FROM sync_conflicts WHERE status = 'open'")));
	assert.equal(metrics.json.conflicts_open, 1, 'pair 30');
	assert.equal(metrics.json.last_success_at, json("SELECT to_jsonb(max(started_at)) FROM sync_metrics WHERE status = 'success'"));

	const prom = prometheusParse((await call('GET', 'sync/metrics?format=prometheus')).text);
	for (const name of ['batch_sync_runs', 'batch_sync_items', 'batch_sync_failed_items']) assert.equal(prom[name].type, 'counter', name);
	for (const name of ['batch_sync_conflicts_open', 'batch_sync_retry_backlog', 'batch_sync_dead_letters', 'batch_sync_last_run_duration_seconds', 'batch_sync_last_run_items_per_second', 'batch_sync_last_success_timestamp_seconds', 'batch_sync_run_in_progress', 'batch_sync_interval_minutes', 'batch_sync_last_run_peak_rss_bytes', 'batch_sync_memory_limit_bytes', 'batch_sync_page_size']) {
		assert.equal(prom[name].type, 'gauge', name);
		assert.ok(prom[name].help.length > 10, `${name} has its HELP`);
	}
	const sample = (fam, labels = {}) => prom[fam].samples.find((s) => Object.entries(labels).every(([k, v]) => s[1][k] === v))[2];
	assert.equal(sample('batch_sync_runs', { status: 'success' }), rows.filter((r) => r.status === 'success').length);
	assert.equal(sample('batch_sync_runs', { status: 'blocked' }), 1);
	for (const [k, v] of Object.entries(byDecision)) assert.equal(sample('batch_sync_items', { decision: k }), v, k);
	assert.equal(sample('batch_sync_conflicts_open'), 1);
	assert.equal(sample('batch_sync_dead_letters'), 0);
	// Microseconds in PostgreSQL, milliseconds in JavaScript: equal to the millisecond.
	assert.ok(Math.abs(sample('batch_sync_last_success_timestamp_seconds') - Date.parse(metrics.json.last_success_at) / 1000) < 0.0015);
	assert.equal(sample('batch_sync_last_run_duration_seconds'), rows.find((r) => r.status !== 'blocked').duration_ms / 1000);
	// Memory (workflows/hooks/memory.js measured the runs' processes): the last run's peak, the bound, the next page size.
	assert.equal(sample('batch_sync_last_run_peak_rss_bytes'), metrics.json.memory.peak_rss_mib * 1048576);
	assert.ok(metrics.json.memory.peak_rss_mib > 60, JSON.stringify(metrics.json.memory));
	assert.equal(sample('batch_sync_memory_limit_bytes'), 500 * 1048576);
	assert.equal(sample('batch_sync_page_size'), metrics.json.memory.page_size);
});

test("OpenProject's statuses, types and the project's assignees are read once and cached; a stale cache is read again; a name OpenProject lacks is refused", async () => {
	// Every run so far (six) used one read of each collection: three requests in all, where
	// reading them per run would have been three a run (BENCHMARKS.md).
	assert.equal(Number(db("SELECT count(*) FROM sync_runs")), 6);
	assert.equal(op.stats.reference, 3);
	assert.deepEqual(json("SELECT jsonb_object_agg(kind, jsonb_array_length(items)) FROM sync_openproject_cache"), { statuses: 4, types: 3, assignees: 3 });
	assert.equal(db("SELECT project FROM sync_openproject_cache WHERE kind = 'assignees'"), '3');
	// Older than CACHE_MAX_AGE_MINUTES (60): the next run reads them again.
	db("UPDATE sync_openproject_cache SET fetched_at = now() - interval '61 minutes'");
	await runKind({ kind: 'incremental' });
	assert.equal(op.stats.reference, 6);
	await runKind({ kind: 'incremental' });
	assert.equal(op.stats.reference, 6, 'fresh again');
	// Assignees by name, both ways, with the links OpenProject gave: set in FLRTS, set in
	// OpenProject, unset in FLRTS; a name OpenProject does not know makes that record invalid.
	db("UPDATE tasks SET assignee = 'Ana Lima' WHERE id = 61");
	db("UPDATE tasks SET assignee = 'Nobody Known' WHERE id = 63");
	await edit(62, { assigneeId: 5 });
	await runKind({ kind: 'incremental' });
	const wp = (id) => op.workPackages().find((w) => w.id === id);
	assert.deepEqual(wp(61)._links.assignee, { href: '/api/v3/users/4', title: 'Ana Lima' });
	assert.equal(db('SELECT assignee FROM tasks WHERE id = 62'), 'Ben Ortiz');
	assert.deepEqual(wp(63)._links.assignee, { href: null });
	// (Reported on OpenProject's side: that is where the name has no link.)
	const bad = json("SELECT detail FROM sync_audit WHERE action = 'invalid' AND external_id = '63' ORDER BY id DESC LIMIT 1");
	assert.equal(bad?.error?.code, 'mapping_failed', JSON.stringify(bad));
	assert.match(bad.error.message, /remote field \/_links\/assignee: no href known for title "Nobody Known"/);
	db("UPDATE tasks SET assignee = NULL WHERE id IN (61, 63)");
	await runKind({ kind: 'incremental' });
	assert.deepEqual(wp(61)._links.assignee, { href: null });
	assert.equal(db("SELECT count(*) FROM sync_staging_work_packages WHERE status IN ('retry', 'dead')"), '0');
	// The links the page's Compare used are OpenProject's: a status change written as a link.
	db("UPDATE tasks SET status = 'Closed' WHERE id = 60");
	await runKind({ kind: 'incremental' });
	assert.equal(op.workPackages().find((w) => w.id === 60)._links.status.href, '/api/v3/statuses/12');
	// A mapping to a status OpenProject does not have: the run is refused, naming it.
	const wrong = withSettings(read('batch-sync-manager.json'), { STATUS_MAPPING: { New: 'Neu', Closed: 'Closed' } });
	wrong.id = 'batchSyncManagerWrongMapping';
	wrong.name = 'Batch Sync Manager (wrong mapping)';
	n8n.importWorkflow([wrong]);
	await assert.rejects(n8n.execute(wrong.id), /STATUS_MAPPING maps "New" to "Neu", which OpenProject does not have \(its statuses: New, In progress, Closed, Rejected\)/);
	assert.equal(db("SELECT count(*) FROM sync_state WHERE running_run_id IS NOT NULL"), '0');
});

test('health is 200 with every check passing, the consistency sample included', async () => {
	const health = await call('GET', 'sync/health');
	assert.equal(health.status, 200, health.text);
	const consistency = health.json.checks.find((c) => c.name === 'consistency');
	assert.equal(consistency.sampled, 5);
	assert.equal(consistency.agree, 5);
	// A pair changed in the mirror behind the sync's back is found by the sample.
	db("UPDATE work_packages SET checksum = repeat('0', 64), data = jsonb_set(data, '{subject}', '\"tampered\"') ");
	const tampered = await call('GET', 'sync/health');
	assert.equal(tampered.status, 503, tampered.text);
	const c = tampered.json.checks.find((x) => x.name === 'consistency');
	assert.equal(c.ok, false);
	assert.ok(c.agree < c.sampled, JSON.stringify(c));
	// The next full sync puts the mirror right.
	await runKind({ kind: 'full_sync' });
	assert.equal((await call('GET', 'sync/health')).status, 200);
});

test('OpenProject failing every request: two failed runs turn health to 503 and alert; it recovers', async () => {
	const before = alerts.length;
	const mailsBefore = smtp.mails.length;
	op.setFailureRates({ '*': { 500: 1 } });
	for (let k = 0; k < 2; k++) {
		const res = await call('POST', 'sync/run', { kind: 'incremental' });
		assert.equal(res.status, 202);
		const run = await ended(res.json.run_id);
		assert.equal(run.status, 'failed');
		assert.equal(db(`SELECT status FROM sync_metrics WHERE run_id = '${run.run_id}'`), 'failed');
	}
	const health = await call('GET', 'sync/health');
	assert.equal(health.status, 503);
	const failing = Object.fromEntries(health.json.checks.filter((x) => !x.ok).map((x) => [x.name, x.value]));
	assert.equal(failing.failed_runs_in_a_row, 2);
	assert.equal(failing.consistency, 'OpenProject could not be read');
	// The error workflow sent an alert for each failed run.
	await waitFor(() => alerts.length >= before + 2);
	const sent = alerts.slice(before).flatMap((a) => a.alerts);
	assert.deepEqual(sent.map((a) => a.kind), ['run_failed', 'run_failed']);
	assert.match(sent[0].message, /Batch Sync Manager: execution \d+ failed at Run Failed/);
	// A chat tool's incoming webhook (Slack's) takes the payload as it is: it has a text.
	assert.match(alerts[before].text, /^batch-sync: Batch Sync Manager: execution \d+ failed at Run Failed/);
	// And each went out by e-mail, to both addresses, from the one set.
	await waitFor(() => smtp.mails.length >= mailsBefore + 2);
	const mails = smtp.mails.slice(mailsBefore);
	assert.equal(mails.length, 2);
	for (const m of mails) {
		assert.equal(m.from, '<batch-sync@example.com>');
		assert.deepEqual(m.to.sort(), ['<oncall@example.com>', '<ops@example.com>']);
		assert.match(m.data, /^Subject: batch-sync: run_failed$/m);
		assert.match(mailText(m), /run_failed\nBatch Sync Manager: execution \d+ failed at Run Failed/);
	}
	op.setFailureRates({});
	const { run } = await runKind({ kind: 'incremental' });
	assert.equal(run.status, 'success');
	const again = await call('GET', 'sync/health');
	assert.equal(again.status, 200, again.text);
});

test('dead letters raise an alert at the end of the run; a healthy run raises none', async () => {
	const before = alerts.length;
	const mailsBefore = smtp.mails.length;
	await runKind({ kind: 'incremental' });
	assert.deepEqual(alerts.slice(before), [], 'a healthy run sends no alert');
	assert.equal(smtp.mails.length, mailsBefore, 'nor an e-mail');
	// OpenProject refuses two writes (422): straight to the dead letter.
	db("UPDATE tasks SET title = 'Refused ' || id WHERE id IN (50, 51)");
	op.fail({ method: 'PATCH', id: 50, status: 422 });
	op.fail({ method: 'PATCH', id: 51, status: 422 });
	const { run } = await runKind({ kind: 'incremental' });
	assert.equal(run.status, 'partial');
	await waitFor(() => alerts.length > before);
	const kinds = alerts.slice(before).flatMap((a) => a.alerts.map((x) => x.kind)).sort();
	assert.deepEqual(kinds, ['dead_letters', 'run_partial']);
	const dead = alerts.slice(before).flatMap((a) => a.alerts).find((a) => a.kind === 'dead_letters');
	assert.equal(dead.detail.count, 2);
	// The same alerts in one e-mail.
	await waitFor(() => smtp.mails.length > mailsBefore);
	const mail = smtp.mails.at(-1);
	assert.match(mail.data, /^Subject: batch-sync: (dead_letters, run_partial|run_partial, dead_letters)$/m);
	assert.match(mailText(mail), /dead_letters\n2 dead letters \(limit 0\)/);
	assert.equal(Number(db('SELECT count(*) FROM sync_alerts')), alerts.flatMap((a) => a.alerts).length, 'every alert is kept');
	const health = await call('GET', 'sync/health');
	assert.equal(health.status, 503);
	assert.equal(health.json.checks.find((x) => x.name === 'dead_letters').value, 2);
	assert.equal((await call('GET', 'sync/metrics')).json.dead_letters, 2);
});

test('the hourly report view sums the runs', () => {
	const report = json('SELECT jsonb_agg(to_jsonb(h)) FROM sync_hourly_report h');
	const totals = json("SELECT jsonb_build_object('runs', count(*), 'items', sum(total_items)) FROM sync_metrics");
	assert.equal(report.reduce((a, h) => a + h.runs, 0), totals.runs);
	assert.equal(report.reduce((a, h) => a + Number(h.items), 0), Number(totals.items));
});

async function waitFor(cond, timeoutMs = 30_000) {
	const t0 = Date.now();
	while (!cond()) {
		if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting');
		await new Promise((r) => setTimeout(r, 200));
	}
}

const ENDPOINTS = [
	['POST', 'sync/run', { kind: 'incremental' }],
	['GET', 'sync/metrics'],
	['GET', 'sync/health'],
	['GET', 'sync/dashboard'],
	['GET', 'sync/conflicts'],
	['POST', 'sync/conflicts/resolve', { id: 1, by: 'x', fields: {} }],
];
const calls = () => Number(db('SELECT coalesce(sum(calls), 0) FROM sync_endpoint_calls'));
const runs = () => Number(db('SELECT count(*) FROM sync_runs'));

test('every endpoint asks for the operator credential: 401 with a sign-in challenge without it, 403 with a wrong one; nothing runs', async () => {
	const [c0, r0] = [calls(), runs()];
	const wrong = { authorization: `Basic ${Buffer.from(`${OPERATOR.user}:not-the-password`).toString('base64')}` };
	for (const [method, p, body] of ENDPOINTS) {
		const none = await call(method, p, body, { authorization: '' });
		assert.equal(none.status, 401, `${method} ${p} without credentials`);
		assert.match(none.headers.get('www-authenticate') ?? '', /^Basic /, `${method} ${p}: a browser is asked to sign in`);
		assert.equal((await call(method, p, body, wrong)).status, 403, `${method} ${p} with a wrong password`);
	}
	// Refused before any node ran: no call counted, no run started.
	assert.equal(calls(), c0);
	assert.equal(runs(), r0);
	// The page webhook of the coordinator is not one of these (the manager calls it).
	assert.equal((await call('GET', 'sync/metrics')).status, 200);
});

test('a page elsewhere cannot act through a signed-in browser: a form or text body starts no run and makes no choice', async () => {
	const [r0, a0] = [runs(), db("SELECT count(*) FROM sync_audit WHERE action = 'conflict.choice'")];
	const post = (p, body, type) => fetch(`${main.url}/webhook/${p}`, { method: 'POST', headers: { ...operatorAuth, 'content-type': type }, body });
	const form = await post('sync/run', 'kind=full_sync&by=mallory', 'application/x-www-form-urlencoded');
	assert.equal(form.status, 400);
	assert.match((await form.json()).error, /send the request as JSON \(Content-Type: application\/json\)/);
	// A form shaped like the dashboard's, without the token of a page the dashboard served.
	const forged = await post('sync/conflicts/resolve', `payload=${encodeURIComponent(JSON.stringify({ id: 1, by: 'mallory', fields: { '/title': { take: 'value', value: 'x' } } }))}&by=mallory&token=guess`, 'application/x-www-form-urlencoded');
	assert.equal(forged.status, 200, 'the browser is sent back to the dashboard');
	assert.match(decodeURIComponent(await forged.text()), /error=the page was too old or not this dashboard's/);
	assert.equal(forged.headers.get('x-frame-options'), 'DENY');
	// JSON sent as text/plain (what a form with enctype="text/plain" can make).
	const text = await post('sync/conflicts/resolve', JSON.stringify({ id: 1, by: 'mallory', fields: {} }), 'text/plain');
	assert.equal(text.status, 415);
	assert.equal(runs(), r0);
	assert.equal(db("SELECT count(*) FROM sync_audit WHERE action = 'conflict.choice'"), a0);
});

test('past ENDPOINT_RATE_PER_MINUTE calls of an endpoint in a minute: 429 with Retry-After; other endpoints go on', async () => {
	// The settings in force are the latest run's: a run of the manager with a rate of 3.
	const low = withSettings(read('batch-sync-manager.json'), { ...JSON.parse(db("SELECT settings FROM sync_runs ORDER BY started_at DESC LIMIT 1")), ENDPOINT_RATE_PER_MINUTE: 3 });
	low.id = 'batchSyncManagerLowRate';
	low.name = 'Batch Sync Manager (low endpoint rate)';
	n8n.importWorkflow([low]);
	assert.equal((await n8n.execute(low.id)).status, 'success');
	assert.equal(json("SELECT settings->'ENDPOINT_RATE_PER_MINUTE' FROM sync_runs ORDER BY started_at DESC LIMIT 1"), 3);
	// The count is per calendar minute: start early in one, so that the calls below share it.
	while (new Date().getSeconds() > 45) await new Promise((r) => setTimeout(r, 500));
	const before = (endpoint) => Number(db(`SELECT coalesce(max(calls), 0) FROM sync_endpoint_calls WHERE endpoint = '${endpoint}' AND window_start = date_trunc('minute', clock_timestamp())`));
	for (const [method, p, body, endpoint] of [['GET', 'sync/metrics', undefined, 'metrics'], ['POST', 'sync/run', { kind: 'weekly' }, 'run']]) {
		const already = before(endpoint);
		const statuses = [];
		let refused;
		for (let i = 0; i < 5; i++) {
			const res = await call(method, p, body);
			statuses.push(res.status);
			if (res.status === 429) refused = res;
		}
		const admitted = Math.max(0, 3 - already);
		const ok = method === 'GET' ? 200 : 400; // a run of kind "weekly" is a bad request, refused after the rate check
		assert.deepEqual(statuses, [...Array(admitted).fill(ok), ...Array(5 - admitted).fill(429)], `${method} ${p} (${already} calls before)`);
		const wait = Number(refused.headers.get('retry-after'));
		assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
		assert.equal(refused.json.retry_after, wait);
		assert.match(refused.json.error, /at most 3 a minute \(ENDPOINT_RATE_PER_MINUTE\)/);
	}
	// Each endpoint has its own count: the conflicts list answers while metrics and run refuse.
	const conflictCalls = before('conflicts');
	assert.equal((await call('GET', 'sync/conflicts')).status, conflictCalls < 3 ? 200 : 429);
});
