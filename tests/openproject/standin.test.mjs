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
