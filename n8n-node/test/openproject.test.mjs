// The OpenProject Work Packages node's execute() against the OpenProject stand-in, with the
// IExecuteFunctions context mocked (getCredentials and httpRequestWithAuthentication do what
// n8n's do: the credential's basic auth, JSON bodies, full responses without throwing on 4xx).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { createStandin } from '../../tests/openproject/standin.mjs';

const require = createRequire(import.meta.url);
const { OpenProjectSync, retryDelayMs } = require('../dist/nodes/OpenProjectSync/OpenProjectSync.node.js');
const { NodeOperationError } = require('n8n-workflow');

const node = new OpenProjectSync();
let standin;
let baseUrl;
const requests = [];
const started = [];

before(async () => {
	let clock = Date.parse('2026-11-20T10:00:00Z');
	standin = createStandin({ apiKey: 'unit-key', now: () => (clock += 1000) });
	for (let i = 1; i <= 2500; i++) standin.insert({ subject: `WP ${i}`, statusId: i % 10 === 0 ? 12 : 1 });
	baseUrl = `http://127.0.0.1:${await standin.listen(0)}/`;
});
after(() => standin.close());

function context({ params, items = [{ json: {} }], continueOnFail = false }) {
	const defaults = Object.fromEntries(node.description.properties.map((p) => [p.name, p.default]));
	const all = { ...defaults, ...params };
	return {
		getInputData: () => items,
		getNodeParameter: (name, _i, fallback) => (all[name] === undefined ? fallback : all[name]),
		getNode: () => ({ name: 'OpenProject', type: 'n8n-nodes-batch-sync.openProjectSync', typeVersion: 1, parameters: all }),
		continueOnFail: () => continueOnFail,
		getCredentials: async (name) => {
			assert.equal(name, 'openProjectApi');
			return { baseUrl, apiKey: 'unit-key' };
		},
		helpers: {
			async httpRequestWithAuthentication(credentialType, options) {
				assert.equal(credentialType, 'openProjectApi');
				assert.equal(options.returnFullResponse, true);
				assert.equal(options.ignoreHttpStatusErrors, true);
				const url = new URL(options.url);
				for (const [k, v] of Object.entries(options.qs ?? {})) url.searchParams.set(k, String(v));
				requests.push(`${options.method} ${url.pathname}${url.search}`);
				started.push(Date.now());
				const res = await fetch(url, {
					method: options.method,
					headers: { authorization: 'Basic ' + Buffer.from('apikey:unit-key').toString('base64'), ...(options.headers ?? {}) },
					body: options.body === undefined ? undefined : JSON.stringify(options.body),
					signal: options.timeout ? AbortSignal.timeout(options.timeout) : undefined,
				});
				const text = await res.text();
				return { statusCode: res.status, body: text ? JSON.parse(text) : '', headers: Object.fromEntries(res.headers) };
			},
		},
	};
}
const run = (ctx) => node.execute.call(ctx);

test('Get Changed: every page, closed work packages too, the overlap before Updated Since, and IDs asked for', async () => {
	const all = standin.workPackages();
	const since = all[2000].updatedAt; // WP 2001
	requests.length = 0;
	const [out] = await run(context({ params: { operation: 'getChanged', since, overlapSeconds: 10, ids: '[5, 7, "9"]', pageSize: 200, output: 'aggregate' } }));
	assert.equal(out.length, 1);
	const ids = out[0].json.records.map((w) => w.id);
	// 10 s of overlap at 1 s per work package: 1991..2500, then 5, 7, 9 by id.
	assert.deepEqual(ids.slice(0, 3), [1991, 1992, 1993]);
	assert.equal(ids.length, 510 + 3);
	assert.deepEqual(ids.slice(-3), [5, 7, 9]);
	assert.ok(ids.includes(2000), 'closed work packages are listed');
	assert.equal(out[0].json.maxUpdatedAt, all[2499].updatedAt);
	const filtersOf = (r) => new URL(`http://x${r.split(' ')[1]}`).searchParams.get('filters');
	assert.equal(requests.filter((r) => filtersOf(r).includes('"updatedAt":')).length, 3, 'three pages of 200');
	assert.equal(requests.filter((r) => filtersOf(r).includes('"id":')).length, 1, 'one request for the IDs');
	const filters = JSON.parse(new URL(`http://x${requests[0].split(' ')[1]}`).searchParams.get('filters'));
	assert.deepEqual(filters[1], { status: { operator: '*', values: [] } });
	assert.equal(filters[0].updatedAt.operator, '<>d');
	const [split] = await run(context({ params: { operation: 'getChanged', since: all[2498].updatedAt, overlapSeconds: 0, output: 'split' } }));
	assert.deepEqual(split.map((i) => i.json.id), [2499, 2500]);
	const [empty] = await run(context({ params: { operation: 'getChanged', since: '2030-01-01T00:00:00Z', output: 'aggregate' } }));
	assert.deepEqual(empty[0].json, { records: [], count: 0, maxUpdatedAt: null });
	await assert.rejects(run(context({ params: { operation: 'getChanged', since: 'yesterday' } })), NodeOperationError);
	// A throttled listing is asked again; one that stays throttled (or fails) fails the node (the
	// run records the failure; its cursors stay).
	standin.fail({ method: 'GET', status: 429 });
	const [again] = await run(context({ params: { operation: 'getChanged', since: all[2498].updatedAt, overlapSeconds: 0, output: 'aggregate' } }));
	assert.equal(again[0].json.count, 2);
	standin.fail({ method: 'GET', status: 429, times: 2 });
	await assert.rejects(
		run(context({ params: { operation: 'getChanged', since: '', io: { maxTries: 2 } } })),
		(e) => e instanceof NodeOperationError && /HTTP 429 urn:openproject-org:api:v3:errors:Throttled/.test(e.message),
	);
	standin.fail({ method: 'GET', status: 500 });
	await assert.rejects(run(context({ params: { operation: 'getChanged', since: '' } })), (e) => e instanceof NodeOperationError && /HTTP 500/.test(e.message));
});

test('Write: PATCH with lockVersion, 409 UpdateConflict as data, POST into the project, DELETE', async () => {
	const wp = standin.workPackages().find((w) => w.id === 11);
	const items = [
		{ json: { op: 'patch', id: 11, body: { subject: 'Patched', lockVersion: wp.lockVersion } } },
		{ json: { op: 'patch', id: 12, body: { subject: 'Stale', lockVersion: 99 } } },
		{ json: { op: 'create', id: 'task-7', body: { id: 'task-7', subject: 'Created', description: { format: 'markdown', raw: 'x' } } } },
		{ json: { op: 'delete', id: 13 } },
	];
	const [out] = await run(context({ params: { operation: 'write', projectId: '3' }, items }));
	assert.deepEqual(out.map((o) => [o.json.result.ok, o.json.result.status, o.json.result.conflict]), [[true, 200, false], [false, 409, true], [true, 201, false], [true, 204, false]]);
	assert.equal(out[0].json.result.lockVersion, wp.lockVersion + 1);
	assert.equal(out[1].json.result.errorIdentifier, 'urn:openproject-org:api:v3:errors:UpdateConflict');
	const created = standin.workPackages().find((w) => w.id === out[2].json.result.id);
	assert.equal(created.subject, 'Created');
	assert.equal(created._links.project.href, '/api/v3/projects/3');
	assert.equal(standin.workPackages().find((w) => w.id === 13), undefined);
	assert.deepEqual(out.map((o) => o.pairedItem), [0, 1, 2, 3].map((item) => ({ item })));
	assert.deepEqual(items[0].json.body, { subject: 'Patched', lockVersion: wp.lockVersion }, 'inputs are not mutated');
});

test('Write: requests in a field, bad requests per continueOnFail', async () => {
	const wp = standin.workPackages().find((w) => w.id === 21);
	const items = [{ json: { ops: [{ op: 'patch', id: 21, body: { subject: 'Via field', lockVersion: wp.lockVersion } }, { op: 'bogus' }] } }, { json: { ops: [] } }];
	await assert.rejects(run(context({ params: { operation: 'write', opsField: 'ops' }, items })), (e) => e instanceof NodeOperationError && e.context.itemIndex === 0);
	assert.equal(standin.workPackages().find((w) => w.id === 21).lockVersion, wp.lockVersion, 'a bad request fails the node before anything is sent');
	const [out] = await run(context({ params: { operation: 'write', opsField: 'ops' }, items, continueOnFail: true }));
	assert.equal(out.length, 2);
	assert.deepEqual(out[0].json.results.map((r) => [r.result.ok, r.result.status]), [[true, 200], [false, 0]]);
	assert.deepEqual(out[1].json.results, []);
	const [single] = await run(context({ params: { operation: 'write' }, items: [{ json: { op: 'nope' } }], continueOnFail: true }));
	assert.equal(single[0].json.error.code, 'invalid_request');
});

test('Get Changed reads the pages concurrently and misses none', async () => {
	const slow = createStandin({ apiKey: 'unit-key', latencyMs: 30 });
	for (let i = 1; i <= 450; i++) slow.insert({ id: i, subject: `S ${i}` });
	const saved = baseUrl;
	baseUrl = `http://127.0.0.1:${await slow.listen(0)}/`;
	try {
		const [out] = await run(context({ params: { operation: 'getChanged', since: '', pageSize: 100, output: 'aggregate', io: { concurrency: 3 } } }));
		assert.deepEqual(out[0].json.records.map((w) => w.id), Array.from({ length: 450 }, (_, k) => k + 1));
		assert.equal(slow.stats.maxInFlight, 3, 'pages 2..5 read three at a time');
	} finally {
		baseUrl = saved;
		await slow.close();
	}
});

test('Write: requests go out concurrently, at most Max Requests in Flight, answers in order', async () => {
	const slow = createStandin({ apiKey: 'unit-key', latencyMs: 40 });
	for (let i = 1; i <= 40; i++) slow.insert({ id: i, subject: `S ${i}` });
	const saved = baseUrl;
	baseUrl = `http://127.0.0.1:${await slow.listen(0)}/`;
	try {
		const ops = slow.workPackages().map((w) => ({ op: 'patch', id: w.id, body: { subject: `P ${w.id}`, lockVersion: w.lockVersion } }));
		const [out] = await run(context({ params: { operation: 'write', opsField: 'ops', io: { concurrency: 6 } }, items: [{ json: { ops: ops.slice(0, 25) } }, { json: { ops: ops.slice(25) } }] }));
		assert.equal(slow.stats.maxInFlight, 6, 'six in flight at most, and the pool is used');
		assert.deepEqual(out.map((o) => o.json.results.map((r) => r.id)), [ops.slice(0, 25).map((o) => o.id), ops.slice(25).map((o) => o.id)]);
		assert.ok(out.every((o) => o.json.results.every((r) => r.result.ok && r.result.lockVersion === 1)));
		assert.deepEqual(slow.workPackages().map((w) => w.subject), ops.map((o) => `P ${o.id}`));
	} finally {
		baseUrl = saved;
		await slow.close();
	}
});

test('Write: Max Requests per Second spaces the requests', async () => {
	const ops = [31, 32, 33, 34, 35].map((id) => ({ op: 'delete', id }));
	started.length = 0;
	await run(context({ params: { operation: 'write', opsField: 'ops', io: { perSecond: 10, concurrency: 5 } }, items: [{ json: { ops } }] }));
	assert.equal(started.length, 5);
	for (let k = 1; k < 5; k++) assert.ok(started[k] - started[k - 1] >= 90, `gap ${started[k] - started[k - 1]} ms`);
});

test('Write: 429 and 503 are sent again (Retry-After honoured); what stays throttled is a failed result', async () => {
	const wp = standin.workPackages().find((w) => w.id === 41);
	standin.fail({ method: 'PATCH', id: 41, status: '429-retry-after' });
	standin.fail({ method: 'PATCH', id: 41, status: 503 });
	started.length = 0;
	const [out] = await run(context({ params: { operation: 'write' }, items: [{ json: { op: 'patch', id: 41, body: { subject: 'After throttling', lockVersion: wp.lockVersion } } }] }));
	assert.equal(out[0].json.result.ok, true);
	assert.equal(started.length, 3);
	// The result says it took three sends, and the time with the waits.
	assert.equal(out[0].json.result.tries, 3);
	assert.ok(out[0].json.result.ms >= 950, `ms ${out[0].json.result.ms}`);
	assert.ok(started[1] - started[0] >= 950, `Retry-After: 1 waited ${started[1] - started[0]} ms`);
	standin.fail({ method: 'PATCH', id: 42, status: 429, times: 3 });
	const w42 = standin.workPackages().find((w) => w.id === 42);
	const [stuck] = await run(context({ params: { operation: 'write', io: { maxTries: 3 } }, items: [{ json: { op: 'patch', id: 42, body: { subject: 'x', lockVersion: w42.lockVersion } } }] }));
	assert.deepEqual([stuck[0].json.result.ok, stuck[0].json.result.status, stuck[0].json.result.tries], [false, 429, 3]);
	assert.equal(standin.workPackages().find((w) => w.id === 42).subject, 'WP 42', 'nothing written');
});

test('retry delays: Retry-After (seconds or a date), RateLimit-Reset (epoch second), else full jitter capped at 30 s', () => {
	const now = Date.parse('2026-12-03T10:00:00Z');
	assert.equal(retryDelayMs({ headers: { 'retry-after': '3' } }, 1, () => 0.5, now), 3000);
	assert.equal(retryDelayMs({ headers: { 'retry-after': 'Thu, 03 Dec 2026 10:00:05 GMT' } }, 1, () => 0.5, now), 5000);
	assert.equal(retryDelayMs({ headers: { 'ratelimit-reset': String(now / 1000 + 2) } }, 1, () => 0.5, now), 2000);
	assert.equal(retryDelayMs({ headers: {} }, 1, () => 0.999, now), 999);
	assert.equal(retryDelayMs({ headers: {} }, 4, () => 0.5, now), 4000);
	assert.equal(retryDelayMs({ headers: {} }, 20, () => 0.999, now), 29970);
	assert.equal(retryDelayMs({}, 3, () => 0, now), 0);
});

test('Write marks creates with the local key; Find by Marker finds them (and any duplicate) again', async () => {
	const items = [
		{ json: { op: 'create', id: 'task-901', body: { id: 'task-901', subject: 'Marked' } } },
		{ json: { op: 'create', id: 'task-902', body: { id: 'task-902', subject: 'Marked too' } } },
	];
	const [out] = await run(context({ params: { operation: 'write', projectId: '3', markerField: 'customField1' }, items }));
	const ids = out.map((o) => o.json.result.id);
	assert.deepEqual(ids.map((id) => standin.workPackages().find((w) => w.id === id).customField1), ['task-901', 'task-902']);
	// A second work package with the same marker (as an older version could leave behind).
	const dup = standin.insert({ subject: 'Duplicate', customField1: 'task-902' });
	const [found] = await run(context({ params: { operation: 'findByMarker', projectId: '3', markerField: 'customField1', keys: '["task-901", "task-902", "task-903", "TASK-901"]' } }));
	assert.deepEqual(found[0].json.asked, 4);
	assert.deepEqual(
		found[0].json.found.map((f) => [f.key, f.id, f.duplicates]),
		[['task-901', ids[0], []], ['task-902', ids[1], [dup.id]]],
	);
	assert.equal(found[0].json.found[0].lockVersion, 0);
	await assert.rejects(run(context({ params: { operation: 'findByMarker', keys: '["x"]' } })), /needs the Marker Custom Field/);
	const [none] = await run(context({ params: { operation: 'findByMarker', keys: '[]' } }));
	assert.deepEqual(none[0].json, { found: [], count: 0, asked: 0 }, 'nothing to look up: no request, no marker needed');
	await assert.rejects(run(context({ params: { operation: 'write', markerField: 'cf1' }, items })), /customField1/);
	// On Error "continue": a failed operation is one item with the error (n8n routes it to the error output).
	const [failed] = await run(context({ params: { operation: 'findByMarker', keys: '["x"]' }, continueOnFail: true }));
	assert.match(failed[0].json.error.message, /needs the Marker Custom Field/);
});
