// The OpenProject stand-in answers as OpenProject's API v3 documents (tests/reference/openproject):
// the error bodies of the reference samples, lockVersion rules, paging and filters, auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { createStandin } from './standin.mjs';
import { root } from '../e2e/harness.mjs';

const reference = process.env.BATCH_SYNC_REFERENCE ?? path.join(root, 'tests/reference');
const sample = (name) => JSON.parse(readFileSync(path.join(reference, 'openproject', name), 'utf8'));

let standin;
let base;
const auth = { authorization: 'Basic ' + Buffer.from('apikey:k3y').toString('base64') };
const api = async (method, url, body, headers = {}) => {
	const res = await fetch(base + url, {
		method,
		headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	return { status: res.status, body: text ? JSON.parse(text) : null, type: res.headers.get('content-type') };
};

before(async () => {
	let clock = Date.parse('2026-11-20T10:00:00.700Z');
	standin = createStandin({ apiKey: 'k3y', now: () => (clock += 1000) });
	for (let i = 1; i <= 45; i++) standin.insert({ subject: `WP ${i}`, statusId: i % 9 === 0 ? 12 : 1 });
	base = `http://127.0.0.1:${await standin.listen(0)}`;
});
after(() => standin.close());

test('API-key basic auth', async () => {
	const res = await fetch(`${base}/api/v3/users/me`);
	assert.equal(res.status, 401);
	assert.equal((await res.json()).errorIdentifier, 'urn:openproject-org:api:v3:errors:Unauthenticated');
	assert.equal((await api('GET', '/api/v3/users/me')).status, 200);
});

test('a work package is HAL JSON shaped like the documented example', async () => {
	const { status, body, type } = await api('GET', '/api/v3/work_packages/1');
	assert.equal(status, 200);
	assert.match(type, /application\/hal\+json/);
	const doc = sample('work_package.openapi-example.json');
	for (const key of ['_type', 'id', 'subject', 'description', 'startDate', 'dueDate', 'createdAt', 'updatedAt', '_links']) {
		assert.ok(key in doc || key === 'updatedAt', `reference lacks ${key}`);
		assert.ok(key in body, `stand-in lacks ${key}`);
	}
	assert.deepEqual(Object.keys(body.description).sort(), Object.keys(doc.description).sort());
	assert.equal(typeof body.lockVersion, 'number');
	assert.match(body.updatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'whole seconds');
	assert.deepEqual(body._links.status, { href: '/api/v3/statuses/1', title: 'New' });
});

test('paging: offset is a page number, pageSize defaults to 20 and is clamped to 1000', async () => {
	const all = JSON.stringify([{ status: { operator: '*', values: [] } }]);
	const p1 = await api('GET', `/api/v3/work_packages?filters=${encodeURIComponent(all)}`);
	assert.equal(p1.body._type, 'WorkPackageCollection');
	assert.deepEqual([p1.body.total, p1.body.count, p1.body.pageSize, p1.body.offset], [45, 20, 20, 1]);
	const p3 = await api('GET', `/api/v3/work_packages?filters=${encodeURIComponent(all)}&offset=3`);
	assert.deepEqual(p3.body._embedded.elements.map((w) => w.id), [41, 42, 43, 44, 45]);
	assert.equal(p3.body._links.nextByOffset, undefined);
	assert.ok(p1.body._links.nextByOffset);
	const big = await api('GET', `/api/v3/work_packages?filters=${encodeURIComponent(all)}&pageSize=5000`);
	assert.equal(big.body.pageSize, 1000);
});

test('without filters only open work packages are listed; updatedAt <>d bounds are inclusive', async () => {
	const open = await api('GET', '/api/v3/work_packages?pageSize=100');
	assert.equal(open.body.total, 40);
	const since = sample('filter_updated_since.json');
	assert.ok(Array.isArray(since));
	const wp10 = (await api('GET', '/api/v3/work_packages/10')).body;
	const filters = JSON.stringify([{ updatedAt: { operator: '<>d', values: [wp10.updatedAt, ''] } }, { status: { operator: '*', values: [] } }]);
	const changed = await api('GET', `/api/v3/work_packages?pageSize=100&filters=${encodeURIComponent(filters)}&sortBy=${encodeURIComponent('[["updatedAt","asc"]]')}`);
	assert.equal(changed.body._embedded.elements[0].id, 10);
	assert.equal(changed.body.total, 36);
	assert.equal((await api('GET', `/api/v3/work_packages?filters=${encodeURIComponent('[{"nope":{"operator":"=","values":[]}}]')}`)).status, 400);
});

test('PATCH needs the current lockVersion: missing or stale is 409 UpdateConflict', async () => {
	const wp = (await api('GET', '/api/v3/work_packages/2')).body;
	const conflict = sample('error_409_update_conflict.json');
	for (const body of [{ subject: 'x' }, { subject: 'x', lockVersion: wp.lockVersion + 1 }]) {
		const r = await api('PATCH', '/api/v3/work_packages/2', body);
		assert.equal(r.status, 409);
		assert.equal(r.body._type, 'Error');
		assert.equal(r.body.errorIdentifier, conflict.errorIdentifier);
	}
	const ok = await api('PATCH', '/api/v3/work_packages/2', { subject: 'Renamed', lockVersion: wp.lockVersion, _links: { status: { href: '/api/v3/statuses/7' } } });
	assert.equal(ok.status, 200);
	assert.equal(ok.body.lockVersion, wp.lockVersion + 1);
	assert.equal(ok.body.subject, 'Renamed');
	assert.deepEqual(ok.body._links.status, { href: '/api/v3/statuses/7', title: 'In progress' });
	assert.ok(Date.parse(ok.body.updatedAt) > Date.parse(wp.updatedAt));
	// The old lockVersion is now stale.
	assert.equal((await api('PATCH', '/api/v3/work_packages/2', { subject: 'Again', lockVersion: wp.lockVersion })).status, 409);
});

test("the project's available assignees; an assignee is set by its user's link, unset with {href: null}, and must be one of them", async () => {
	const list = await api('GET', '/api/v3/projects/3/available_assignees');
	assert.equal(list.status, 200);
	assert.deepEqual(list.body._embedded.elements.map((u) => [u._type, u.name, u._links.self.href]), [
		['User', 'Ana Lima', '/api/v3/users/4'],
		['User', 'Ben Ortiz', '/api/v3/users/5'],
		['User', 'Chen Wu', '/api/v3/users/9'],
	]);
	const wp = (await api('GET', '/api/v3/work_packages/2')).body;
	assert.deepEqual(wp._links.assignee, { href: null });
	const set = await api('PATCH', '/api/v3/work_packages/2', { lockVersion: wp.lockVersion, _links: { assignee: { href: '/api/v3/users/5' } } });
	assert.equal(set.status, 200);
	assert.deepEqual(set.body._links.assignee, { href: '/api/v3/users/5', title: 'Ben Ortiz' });
	const stranger = await api('PATCH', '/api/v3/work_packages/2', { lockVersion: set.body.lockVersion, _links: { assignee: { href: '/api/v3/users/77' } } });
	assert.equal(stranger.status, 422);
	const unset = await api('PATCH', '/api/v3/work_packages/2', { lockVersion: set.body.lockVersion, _links: { assignee: { href: null, title: null } } });
	assert.equal(unset.status, 200);
	assert.deepEqual(unset.body._links.assignee, { href: null });
});

test('read-only properties and constraint violations are 422; content type is required', async () => {
	const wp = (await api('GET', '/api/v3/work_packages/3')).body;
	const ro = await api('PATCH', '/api/v3/work_packages/3', { lockVersion: wp.lockVersion, createdAt: '2020-01-01T00:00:00Z' });
	assert.equal(ro.status, 422);
	assert.equal(ro.body.errorIdentifier, 'urn:openproject-org:api:v3:errors:PropertyIsReadOnly');
	const blank = await api('PATCH', '/api/v3/work_packages/3', { lockVersion: wp.lockVersion, subject: ' ' });
	assert.equal(blank.status, 422);
	assert.equal(blank.body.errorIdentifier, sample('error_422_constraint.json').errorIdentifier);
	assert.equal(blank.body._embedded.details.attribute, 'subject');
	const noType = await fetch(`${base}/api/v3/work_packages/3`, { method: 'PATCH', headers: auth, body: '{}' });
	assert.ok([406, 415].includes(noType.status));
	assert.equal((await api('GET', '/api/v3/work_packages/3')).body.lockVersion, wp.lockVersion, 'a rejected PATCH changes nothing');
});

test('POST creates (201, lockVersion 0); DELETE is 204 and the work package is gone', async () => {
	const created = await api('POST', '/api/v3/work_packages', { subject: 'New one', description: { raw: 'text' }, _links: { project: { href: '/api/v3/projects/3' } } });
	assert.equal(created.status, 201);
	assert.equal(created.body.lockVersion, 0);
	assert.equal(created.body.description.raw, 'text');
	assert.equal((await api('POST', '/api/v3/work_packages', { subject: 'No project' })).status, 422);
	assert.equal((await api('DELETE', `/api/v3/work_packages/${created.body.id}`)).status, 204);
	assert.equal((await api('GET', `/api/v3/work_packages/${created.body.id}`)).status, 404);
});

test('scripted failures: the next PATCH of a work package answers 409, 429 or 500', async () => {
	for (const status of [409, 429, 500]) {
		standin.fail({ method: 'PATCH', id: 4, status });
		const wp = (await api('GET', '/api/v3/work_packages/4')).body;
		const r = await api('PATCH', '/api/v3/work_packages/4', { subject: `try ${status}`, lockVersion: wp.lockVersion });
		assert.equal(r.status, status);
		assert.equal(r.body._type, 'Error');
		const again = await api('PATCH', '/api/v3/work_packages/4', { subject: `try ${status}`, lockVersion: wp.lockVersion });
		assert.equal(again.status, 200, 'a scripted failure is used once');
	}
});

test('custom fields: written by POST and PATCH, listed by the customFieldN filter with OpenProject\'s string operators', async () => {
	const project = { _links: { project: { href: '/api/v3/projects/3' } } };
	const a = await api('POST', '/api/v3/work_packages', { subject: 'Marked A', customField1: 'task-17', ...project });
	const b = await api('POST', '/api/v3/work_packages', { subject: 'Marked B', customField1: 'TASK-170', ...project });
	assert.equal(a.status, 201);
	assert.equal(a.body.customField1, 'task-17');
	assert.equal((await api('GET', '/api/v3/work_packages/1')).body.customField1, null, 'unset is null');
	const find = async (operator, values) => {
		const filters = JSON.stringify([{ customField1: { operator, values } }, { status: { operator: '*', values: [] } }]);
		const r = await api('GET', `/api/v3/work_packages?pageSize=1000&filters=${encodeURIComponent(filters)}`);
		assert.equal(r.status, 200, JSON.stringify(r.body));
		return r.body._embedded.elements.map((w) => w.id);
	};
	assert.deepEqual(await find('=', ['task-17']), [a.body.id], '= is exact and case-sensitive');
	assert.deepEqual(await find('=', ['task-17', 'TASK-170']), [a.body.id, b.body.id]);
	assert.deepEqual(await find('~', ['task-17']), [a.body.id, b.body.id], '~ is a case-insensitive substring');
	assert.deepEqual(await find('*', []), [a.body.id, b.body.id]);
	assert.ok(!(await find('!', ['task-17'])).includes(a.body.id));
	assert.ok((await find('!*', [])).includes(1));
	const patched = await api('PATCH', `/api/v3/work_packages/${b.body.id}`, { lockVersion: b.body.lockVersion, customField1: null });
	assert.equal(patched.body.customField1, null);
	assert.equal((await api('POST', '/api/v3/work_packages', { subject: 'x', customField9: 'y', ...project })).status, 422, 'an unknown custom field is read only');
	const unknown = JSON.stringify([{ customField9: { operator: '=', values: ['y'] } }]);
	assert.equal((await api('GET', `/api/v3/work_packages?filters=${encodeURIComponent(unknown)}`)).status, 400);
	for (const id of [a.body.id, b.body.id]) await api('DELETE', `/api/v3/work_packages/${id}`);
});

test('failure rates per method follow the seeded generator; a rate table that cannot be is refused', async () => {
	const s = createStandin({ apiKey: 'k', seed: 7, failureRates: { PATCH: { 409: 0.2, 503: 0.1 }, GET: { 500: 0.05 } } });
	const url = `http://127.0.0.1:${await s.listen(0)}`;
	const headers = { authorization: 'Basic ' + Buffer.from('apikey:k').toString('base64'), 'content-type': 'application/json' };
	try {
		s.insert({ id: 1, subject: 'one' });
		const counts = {};
		for (let i = 0; i < 1000; i++) {
			const wp = s.workPackages()[0];
			const r = await fetch(`${url}/api/v3/work_packages/1`, { method: 'PATCH', headers, body: JSON.stringify({ subject: `n${i}`, lockVersion: wp.lockVersion }) });
			await r.arrayBuffer();
			counts[r.status] = (counts[r.status] ?? 0) + 1;
		}
		// 1,000 draws: 20% ± 4, 10% ± 3 (more than 3 standard deviations).
		assert.ok(Math.abs(counts[409] - 200) < 40, JSON.stringify(counts));
		assert.ok(Math.abs(counts[503] - 100) < 30, JSON.stringify(counts));
		assert.equal(counts[200] + counts[409] + counts[503], 1000);
		assert.equal(s.stats.byFailure['409'], counts[409]);
	} finally {
		await s.close();
	}
	assert.throws(() => createStandin({ failureRates: { PATCH: { 409: 0.7, 500: 0.5 } } }), /adds up to/);
	assert.throws(() => createStandin({ failureRates: { PUT: { 409: 0.1 } } }), /unknown method/);
	assert.throws(() => createStandin({ failureRates: { GET: { 418: 0.1 } } }), /unknown failure/);
});

test('timeout after commit: the write is done and no answer comes; 429 with and without Retry-After', async () => {
	const wp = (await api('GET', '/api/v3/work_packages/5')).body;
	standin.fail({ method: 'PATCH', id: 5, status: 'timeout-after-commit' });
	const lost = await fetch(`${base}/api/v3/work_packages/5`, {
		method: 'PATCH',
		headers: { ...auth, 'content-type': 'application/json' },
		body: JSON.stringify({ subject: 'Committed, answer lost', lockVersion: wp.lockVersion }),
		signal: AbortSignal.timeout(300),
	}).then(() => 'answered', (e) => e.name);
	assert.equal(lost, 'TimeoutError');
	const after = (await api('GET', '/api/v3/work_packages/5')).body;
	assert.equal(after.subject, 'Committed, answer lost');
	assert.equal(after.lockVersion, wp.lockVersion + 1);

	standin.fail({ method: 'POST', status: 'timeout' });
	const before = standin.workPackages().length;
	const none = await fetch(`${base}/api/v3/work_packages`, {
		method: 'POST',
		headers: { ...auth, 'content-type': 'application/json' },
		body: JSON.stringify({ subject: 'Never written', _links: { project: { href: '/api/v3/projects/3' } } }),
		signal: AbortSignal.timeout(300),
	}).then(() => 'answered', (e) => e.name);
	assert.equal(none, 'TimeoutError');
	assert.equal(standin.workPackages().length, before, 'a timeout before the write writes nothing');

	standin.fail({ method: 'GET', status: '429-retry-after' });
	standin.fail({ method: 'GET', status: 429 });
	const all = encodeURIComponent(JSON.stringify([{ status: { operator: '*', values: [] } }]));
	const first = await fetch(`${base}/api/v3/work_packages?filters=${all}`, { headers: auth });
	assert.equal(first.status, 429);
	assert.equal(first.headers.get('retry-after'), '1');
	const second = await fetch(`${base}/api/v3/work_packages?filters=${all}`, { headers: auth });
	assert.equal(second.status, 429);
	assert.equal(second.headers.get('retry-after'), null, "OpenProject's own limiter sends no Retry-After");
	assert.equal((await second.json()).errorIdentifier, 'urn:openproject-org:api:v3:errors:Throttled');
});

test('select: a listing with only the properties asked for', async () => {
	const all = encodeURIComponent(JSON.stringify([{ status: { operator: '*', values: [] } }]));
	const r = await api('GET', `/api/v3/work_packages?filters=${all}&pageSize=5&select=${encodeURIComponent('total,pageSize,elements/id,elements/updatedAt')}`);
	assert.equal(r.status, 200);
	assert.deepEqual(Object.keys(r.body).sort(), ['_embedded', 'pageSize', 'total']);
	assert.deepEqual(Object.keys(r.body._embedded.elements[0]).sort(), ['id', 'updatedAt']);
	assert.equal(r.body._embedded.elements.length, 5);
	const full = await api('GET', `/api/v3/work_packages?filters=${all}&pageSize=5&select=*`);
	assert.ok(full.body._embedded.elements[0].subject);
});
