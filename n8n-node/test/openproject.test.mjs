// The OpenProject Work Packages node's execute() against the OpenProject stand-in, with the
// IExecuteFunctions context mocked (getCredentials and httpRequestWithAuthentication do what
// n8n's do: the credential's basic auth, JSON bodies, full responses without throwing on 4xx).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { createStandin } from '../../tests/openproject/standin.mjs';

const require = createRequire(import.meta.url);
const { OpenProjectSync } = require('../dist/nodes/OpenProjectSync/OpenProjectSync.node.js');
const { NodeOperationError } = require('n8n-workflow');

const node = new OpenProjectSync();
let standin;
let baseUrl;
const requests = [];

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
				const res = await fetch(url, {
					method: options.method,
					headers: { authorization: 'Basic ' + Buffer.from('apikey:unit-key').toString('base64'), ...(options.headers ?? {}) },
					body: options.body === undefined ? undefined : JSON.stringify(options.body),
				});
				const text = await res.text();
				return { statusCode: res.status, body: text ? JSON.parse(text) : '' };
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
	// A throttled or failing listing fails the node (the workflow retries it; the run's cursors stay).
	standin.fail({ method: 'GET', status: 429 });
	await assert.rejects(run(context({ params: { operation: 'getChanged', since: '' } })), (e) => e instanceof NodeOperationError && /HTTP 429 urn:openproject-org:api:v3:errors:Throttled/.test(e.message));
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
	const [out] = await run(context({ params: { operation: 'write', opsField: 'ops' }, items, continueOnFail: true }));
	assert.equal(out.length, 2);
	assert.deepEqual(out[0].json.results.map((r) => [r.result.ok, r.result.status]), [[false, 409], [false, 0]]);
	assert.deepEqual(out[1].json.results, []);
	const [single] = await run(context({ params: { operation: 'write' }, items: [{ json: { op: 'nope' } }], continueOnFail: true }));
	assert.equal(single[0].json.error.code, 'invalid_request');
});
