// OpenProject API v3 STAND-IN — for tests and the demo only. It is NOT OpenProject.
//
// OpenProject cannot run on this machine, so this small HTTP server follows the documented API
// v3 for work packages (see tests/reference/openproject/API-FACTS.md) closely enough for the
// sync workflow to be exercised end to end:
//   - HAL JSON: `_type`, `_links` with `href`/`title`, errors as
//     `{"_type":"Error","errorIdentifier":"urn:openproject-org:api:v3:errors:<Id>","message"}`;
//   - API-key basic auth (user `apikey`), 401 otherwise;
//   - GET /api/v3/work_packages with `select` (only the listed properties) and `filters` (JSON array; `updatedAt` `<>d` with inclusive,
//     optionally open bounds, `status` `o`/`c`/`*`/`=`, `id` `=`), the default filter "open
//     only" when `filters` is absent, `sortBy`, `pageSize` (default 20, clamped to 1000, -1 =
//     1000) and `offset` as a page number from 1;
//   - GET/PATCH/DELETE /api/v3/work_packages/:id, POST /api/v3/work_packages and
//     /api/v3/projects/:id/work_packages (201 with the full work package);
//   - PATCH requires the current `lockVersion`: missing or stale gives 409
//     `UpdateConflict`; read-only properties give 422 `PropertyIsReadOnly`; an empty subject
//     422 `PropertyConstraintViolation`; a write without JSON content type 406/415; a success
//     returns the reloaded work package with the new lockVersion; `updatedAt` has whole seconds.
//   - GET /api/v3/statuses, /api/v3/types and /api/v3/projects/:id/available_assignees (the
//     users a work package of the project may be assigned; `_links.assignee` is `{href: null}`
//     when unset, and a PATCH naming a user who is not one of them gives 422);
//   - string custom fields `customField1` … (`--custom-fields=1,2`): top-level properties,
//     writable in POST/PATCH, filterable as `customFieldN` with the string operators OpenProject
//     documents (`=` exact and case-sensitive, `!`, `~` / `!~` case-insensitive substring, `*`,
//     `!*`); an unknown custom field gives 422 on write and 400 in a filter.
// Injectable behaviour for reliability tests, the way OpenProject (or a proxy before it) fails
// under load: latency; failure *rates* per method from a seeded generator, and scripted
// failures; each failure one of 409 UpdateConflict, 429 Throttled (without Retry-After, as
// OpenProject's own limiter; `429-retry-after` with the header, as a proxy may send), 500,
// 503, `timeout` (no answer, nothing written) and `timeout-after-commit` (the write is done,
// the answer never comes). An admin API under /__standin/ (not part of OpenProject) seeds,
// inspects and edits data as an OpenProject user would, and sets failures.
//
//   node tests/openproject/standin.mjs [--port=8090] [--api-key=KEY] [--seed-file=wps.json]
//        [--latency-ms=100] [--custom-fields=1] [--failure-rates='{"PATCH":{"409":0.1}}'] [--seed=1]
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const URN = 'urn:openproject-org:api:v3:errors:';
export const STATUSES = [
	{ id: 1, name: 'New', isClosed: false },
	{ id: 7, name: 'In progress', isClosed: false },
	{ id: 12, name: 'Closed', isClosed: true },
	{ id: 14, name: 'Rejected', isClosed: true },
];
// The users who may be assigned work packages of a project (GET /api/v3/projects/{id}/available_assignees).
export const USERS = [
	{ id: 4, name: 'Ana Lima' },
	{ id: 5, name: 'Ben Ortiz' },
	{ id: 9, name: 'Chen Wu' },
];
export const TYPES = [
	{ id: 1, name: 'Task' },
	{ id: 2, name: 'Milestone' },
	{ id: 6, name: 'Bug' },
];
const WRITABLE = new Set(['subject', 'description', 'startDate', 'dueDate', 'estimatedTime', 'percentageDone', 'lockVersion', '_links', '_type']);
const WRITABLE_LINKS = new Set(['status', 'priority', 'assignee', 'responsible', 'type', 'project', 'parent', 'version']);

const seconds = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

function mulberry32(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

// A failure rate table: { METHOD: { failure: rate } }, METHOD one of GET, POST, PATCH, DELETE or
// '*' (every method); a failure is a status (409, 429, 500, 503) or '429-retry-after',
// 'timeout', 'timeout-after-commit'. The rates of a method add up (at most 1).
export const FAILURES = ['409', '429', '429-retry-after', '500', '502', '503', 'timeout', 'timeout-after-commit'];

export function createStandin({
	apiKey = 'standin-api-key',
	latencyMs = 0,
	failureRates = {},
	customFields = [1],
	retryAfterSeconds = 1,
	seed = 1,
	now = () => Date.now(),
} = {}) {
	const wps = new Map();
	let nextId = 1;
	const random = mulberry32(seed);
	let rates = checkRates(failureRates);
	const cfNames = new Set(customFields.map((n) => `customField${n}`));
	const stats = { requests: 0, byStatus: {}, byFailure: {}, patches: 0, posts: 0, inFlight: 0, maxInFlight: 0 };
	// Scripted failures: { method, id?, status, times } consumed in order.
	const scripted = [];

	const statusLink = (id) => {
		const s = STATUSES.find((x) => x.id === Number(id));
		return s ? { href: `/api/v3/statuses/${s.id}`, title: s.name } : null;
	};
	const render = (wp) => ({
		_type: 'WorkPackage',
		id: wp.id,
		lockVersion: wp.lockVersion,
		subject: wp.subject,
		description: { format: 'markdown', raw: wp.description ?? '', html: wp.description ? `<p>${escapeHtml(wp.description)}</p>` : '' },
		startDate: wp.startDate ?? null,
		dueDate: wp.dueDate ?? null,
		createdAt: wp.createdAt,
		updatedAt: wp.updatedAt,
		...Object.fromEntries([...cfNames].map((k) => [k, wp.custom?.[k] ?? null])),
		_links: {
			self: { href: `/api/v3/work_packages/${wp.id}`, title: wp.subject },
			update: { href: `/api/v3/work_packages/${wp.id}`, method: 'patch' },
			project: { href: `/api/v3/projects/${wp.projectId}`, title: 'FLRTS' },
			type: { href: '/api/v3/types/1', title: 'Task' },
			status: statusLink(wp.statusId),
			priority: { href: '/api/v3/priorities/8', title: 'Normal' },
			assignee: wp.assigneeId ? { href: `/api/v3/users/${wp.assigneeId}`, title: USERS.find((u) => u.id === wp.assigneeId)?.name ?? `User ${wp.assigneeId}` } : { href: null },
		},
	});

	/** Creates a work package directly (admin seeding, or as an OpenProject user would). */
	function insert(fields, at = now()) {
		const id = fields.id ?? nextId;
		nextId = Math.max(nextId, id + 1);
		const wp = {
			id,
			lockVersion: fields.lockVersion ?? 0,
			subject: fields.subject,
			description: fields.description ?? '',
			startDate: fields.startDate ?? null,
			dueDate: fields.dueDate ?? null,
			statusId: fields.statusId ?? 1,
			projectId: fields.projectId ?? 3,
			assigneeId: fields.assigneeId ?? null,
			custom: Object.fromEntries(Object.entries(fields).filter(([k]) => cfNames.has(k))),
			createdAt: fields.createdAt ?? seconds(at),
			updatedAt: fields.updatedAt ?? seconds(at),
		};
		wps.set(id, wp);
		return wp;
	}

	/** Applies writable HAL properties; returns an error response or null. */
	function apply(wp, body) {
		for (const key of Object.keys(body)) {
			if (!WRITABLE.has(key) && !cfNames.has(key)) return error(422, 'PropertyIsReadOnly', `The property ${key} is read only.`, key);
		}
		for (const key of Object.keys(body).filter((k) => cfNames.has(k))) {
			if (body[key] !== null && typeof body[key] !== 'string') return error(422, 'PropertyConstraintViolation', `${key} is not a string.`, key);
			wp.custom = { ...wp.custom, [key]: body[key] };
		}
		for (const key of Object.keys(body._links ?? {})) {
			if (!WRITABLE_LINKS.has(key)) return error(422, 'PropertyIsReadOnly', `The link ${key} is read only.`, key);
		}
		if ('subject' in body) {
			if (typeof body.subject !== 'string' || body.subject.trim() === '') {
				return error(422, 'PropertyConstraintViolation', "Subject can't be blank.", 'subject');
			}
			wp.subject = body.subject;
		}
		if ('description' in body) wp.description = body.description?.raw ?? '';
		for (const k of ['startDate', 'dueDate']) {
			if (k in body) {
				if (body[k] !== null && !/^\d{4}-\d{2}-\d{2}$/.test(body[k])) return error(422, 'PropertyConstraintViolation', `${k} is not a valid date.`, k);
				wp[k] = body[k];
			}
		}
		const links = body._links ?? {};
		if ('status' in links) {
			const m = /\/api\/v3\/statuses\/(\d+)$/.exec(links.status?.href ?? '');
			if (!m || !statusLink(m[1])) return error(422, 'PropertyConstraintViolation', 'Status is not set to one of the allowed values.', 'status');
			wp.statusId = Number(m[1]);
		}
		if ('assignee' in links) {
			const href = links.assignee?.href ?? null;
			const m = href === null ? null : /\/api\/v3\/users\/(\d+)$/.exec(href);
			if (href !== null && (!m || !USERS.some((u) => u.id === Number(m[1])))) return error(422, 'PropertyConstraintViolation', 'Assignee is invalid.', 'assignee');
			wp.assigneeId = m ? Number(m[1]) : null;
		}
		return null;
	}

	function list(url, projectId) {
		let filters;
		const raw = url.searchParams.get('filters');
		if (raw === null) filters = [{ status: { operator: 'o', values: [] } }];
		else {
			try {
				filters = JSON.parse(raw);
				if (!Array.isArray(filters)) throw new Error('not an array');
			} catch {
				return error(400, 'InvalidQuery', 'Filters is not a valid JSON array.');
			}
		}
		// An `id =` filter is an index lookup (as in OpenProject's database), not a scan of every
		// work package: a run reading its pages by id must not make the stand-in the bottleneck.
		const byId = filters.find((f) => f && typeof f === 'object' && f.id?.operator === '=');
		let rows = (byId ? (byId.id.values ?? []).map((v) => wps.get(Number(v))).filter(Boolean) : [...wps.values()])
			.filter((w) => projectId === undefined || w.projectId === projectId);
		for (const f of filters) {
			const [[name, { operator, values = [] }]] = Object.entries(f);
			if (name === 'updatedAt') {
				if (operator !== '<>d') return error(400, 'InvalidQuery', `Operator ${operator} is not supported by this stand-in for updatedAt.`);
				const [from, to] = values;
				if (from) rows = rows.filter((w) => Date.parse(w.updatedAt) >= Date.parse(from));
				if (to) rows = rows.filter((w) => Date.parse(w.updatedAt) <= Date.parse(to));
			} else if (name === 'status') {
				const closed = (w) => STATUSES.find((s) => s.id === w.statusId)?.isClosed;
				if (operator === 'o') rows = rows.filter((w) => !closed(w));
				else if (operator === 'c') rows = rows.filter(closed);
				else if (operator === '=') rows = rows.filter((w) => values.map(Number).includes(w.statusId));
				else if (operator !== '*') return error(400, 'InvalidQuery', `Status operator ${operator} is invalid.`);
			} else if (name === 'id') {
				if (operator !== '=') return error(400, 'InvalidQuery', `Id operator ${operator} is invalid.`);
				rows = rows.filter((w) => values.map(String).includes(String(w.id)));
			} else if (cfNames.has(name)) {
				// OpenProject's string strategy: `=` is SQL IN (exact, case-sensitive), `~` a
				// case-insensitive LIKE '%v%'.
				const value = (w) => w.custom?.[name] ?? null;
				const has = (w) => value(w) !== null && value(w) !== '';
				const contains = (w) => has(w) && values.some((v) => value(w).toLowerCase().includes(String(v).toLowerCase()));
				if (operator === '=') rows = rows.filter((w) => values.map(String).includes(value(w)));
				else if (operator === '!') rows = rows.filter((w) => !values.map(String).includes(value(w)));
				else if (operator === '~') rows = rows.filter(contains);
				else if (operator === '!~') rows = rows.filter((w) => !contains(w));
				else if (operator === '*') rows = rows.filter(has);
				else if (operator === '!*') rows = rows.filter((w) => !has(w));
				else return error(400, 'InvalidQuery', `Operator ${operator} is invalid for ${name}.`);
			} else return error(400, 'InvalidQuery', `Filter ${name} does not exist.`);
		}
		let sortBy = [['id', 'asc']];
		if (url.searchParams.get('sortBy')) {
			try {
				sortBy = JSON.parse(url.searchParams.get('sortBy')).map((s) => (typeof s === 'string' ? s.split(':') : s));
			} catch {
				return error(400, 'InvalidQuery', 'sortBy is not valid JSON.');
			}
		}
		rows.sort((a, b) => {
			for (const [key, dir] of sortBy) {
				const x = key === 'updatedAt' ? Date.parse(a.updatedAt) : a[key];
				const y = key === 'updatedAt' ? Date.parse(b.updatedAt) : b[key];
				if (x !== y) return (x < y ? -1 : 1) * (dir === 'desc' ? -1 : 1);
			}
			return 0;
		});
		let pageSize = Number(url.searchParams.get('pageSize') ?? 20);
		if (!Number.isInteger(pageSize) || pageSize === -1 || pageSize > 1000) pageSize = 1000;
		if (pageSize < 1) pageSize = 20;
		const offset = Math.max(1, Number(url.searchParams.get('offset') ?? 1) || 1);
		const page = rows.slice((offset - 1) * pageSize, offset * pageSize);
		const self = `/api/v3/work_packages?offset=${offset}&pageSize=${pageSize}`;
		const links = { self: { href: self } };
		if (offset * pageSize < rows.length) links.nextByOffset = { href: `/api/v3/work_packages?offset=${offset + 1}&pageSize=${pageSize}` };
		const collection = { _type: 'WorkPackageCollection', total: rows.length, count: page.length, pageSize, offset, _embedded: { elements: page.map(render) }, _links: links };
		// OpenProject's `select` (signaling): only the listed properties, e.g.
		// `total,elements/id,elements/updatedAt`; `*` and `elements/*` select everything.
		const select = url.searchParams.get('select');
		if (select === null) return [200, collection];
		const wanted = select.split(',').map((x) => x.trim()).filter(Boolean);
		if (wanted.includes('*')) return [200, collection];
		const out = {};
		for (const key of wanted.filter((w) => !w.startsWith('elements/'))) if (key in collection) out[key] = collection[key];
		const props = wanted.filter((w) => w.startsWith('elements/')).map((w) => w.slice('elements/'.length));
		if (props.length) {
			const pick = (wp) => (props.includes('*') ? wp : Object.fromEntries(props.filter((k) => k in wp).map((k) => [k, wp[k]])));
			out._embedded = { elements: collection._embedded.elements.map(pick) };
		}
		return [200, out];
	}

	function scriptedFailure(method, id) {
		const k = scripted.findIndex((s) => s.method === method && (s.id === undefined || String(s.id) === String(id)));
		if (k < 0) return null;
		const s = scripted[k];
		if (--s.times <= 0) scripted.splice(k, 1);
		return s.status;
	}

	function injected(method, id) {
		let failure = scriptedFailure(method, id);
		if (failure === null) {
			const table = { ...rates['*'], ...rates[method] };
			let x = random();
			for (const [name, rate] of Object.entries(table)) {
				if (x < rate) {
					failure = name;
					break;
				}
				x -= rate;
			}
		}
		if (failure === null) return null;
		failure = String(failure);
		stats.byFailure[failure] = (stats.byFailure[failure] ?? 0) + 1;
		stats.byFailure[`${method} ${failure}`] = (stats.byFailure[`${method} ${failure}`] ?? 0) + 1;
		if (failure === 'timeout' || failure === 'timeout-after-commit') return failure;
		if (failure === '409') return error(409, 'UpdateConflict', 'Your changes could not be saved, because the resource was changed by someone else in the meantime.');
		if (failure === '429') return error(429, 'Throttled', 'You have reached the request limit for this resource.');
		if (failure === '429-retry-after') return withHeaders(error(429, 'Throttled', 'You have reached the request limit for this resource.'), { 'retry-after': String(retryAfterSeconds) });
		if (failure === '503') return error(503, 'ServiceUnavailable', 'The service is temporarily unavailable.');
		return error(Number(failure), 'InternalServerError', 'An internal error has occurred.');
	}

	const readFailure = () => {
		const fail = injected('GET');
		return fail === 'timeout-after-commit' ? 'timeout' : fail;
	};

	// A failure of a write request: answered now, or (timeout-after-commit) after the write is
	// done, with no answer.
	function writeFailure(method, id) {
		const fail = injected(method, id);
		if (fail === 'timeout-after-commit') return { commitThenHang: true };
		return fail ? { answer: fail } : null;
	}

	async function handle(req, body) {
		const url = new URL(req.url, 'http://standin');
		const p = url.pathname;
		if (p.startsWith('/__standin/')) return admin(req.method, p, url, body);
		const auth = req.headers.authorization ?? '';
		const expected = 'Basic ' + Buffer.from(`apikey:${apiKey}`).toString('base64');
		if (auth !== expected) return error(401, 'Unauthenticated', 'You did not provide the correct credentials.');
		if (p === '/api/v3/users/me' && req.method === 'GET') return [200, { _type: 'User', id: 1, name: 'API user', login: 'apikey' }];
		// The instance's statuses and types (OpenProject: HAL collections, not paginated).
		const reference = { statuses: STATUSES.map((x) => ({ _type: 'Status', id: x.id, name: x.name, isClosed: x.isClosed, _links: { self: { href: `/api/v3/statuses/${x.id}`, title: x.name } } })),
			types: TYPES.map((x) => ({ _type: 'Type', id: x.id, name: x.name, _links: { self: { href: `/api/v3/types/${x.id}`, title: x.name } } })) };
		const assignees = /^\/api\/v3\/projects\/([^/]+)\/available_assignees$/.exec(p);
		if (assignees && req.method === 'GET') {
			stats.reference = (stats.reference ?? 0) + 1;
			const elements = USERS.map((u) => ({ _type: 'User', id: u.id, name: u.name, _links: { self: { href: `/api/v3/users/${u.id}`, title: u.name } } }));
			return readFailure() ?? [200, { _type: 'Collection', total: elements.length, count: elements.length, _embedded: { elements } }];
		}
		const refMatch = /^\/api\/v3\/(statuses|types)$/.exec(p);
		if (refMatch && req.method === 'GET') {
			stats.reference = (stats.reference ?? 0) + 1;
			const elements = reference[refMatch[1]];
			return readFailure() ?? [200, { _type: 'Collection', total: elements.length, count: elements.length, _embedded: { elements } }];
		}
		const writes = req.method === 'PATCH' || req.method === 'POST';
		if (writes) {
			const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
			if (!type) return error(406, 'MissingContentType', 'Missing content-type header.');
			if (type !== 'application/json' && type !== 'application/hal+json') return error(415, 'UnsupportedMediaType', `Unsupported media type ${type}.`);
		}
		let json = {};
		if (writes) {
			try {
				json = JSON.parse(body || '{}');
			} catch {
				return error(400, 'InvalidRequestBody', 'The request body was not valid JSON.');
			}
		}
		if (p === '/api/v3/work_packages' && req.method === 'GET') return readFailure() ?? list(url);
		const projectList = /^\/api\/v3\/projects\/(\d+)\/work_packages$/.exec(p);
		if (projectList && req.method === 'GET') return readFailure() ?? list(url, Number(projectList[1]));
		const create = /^\/api\/v3\/(?:projects\/(\d+)\/)?work_packages$/.exec(p);
		if (create && req.method === 'POST') {
			const fail = writeFailure('POST');
			if (fail?.answer) return fail.answer;
			stats.posts++;
			const projectHref = json._links?.project?.href;
			const projectId = create[1] ?? (/\/api\/v3\/projects\/(\d+)$/.exec(projectHref ?? '')?.[1]);
			if (!projectId) return error(422, 'PropertyConstraintViolation', "Project can't be blank.", 'project');
			const { lockVersion, ...rest } = json;
			if (lockVersion !== undefined && lockVersion !== 0) return error(422, 'PropertyIsReadOnly', 'The property lockVersion is read only.', 'lockVersion');
			const wp = insert({ subject: 'x', projectId: Number(projectId) });
			wps.delete(wp.id);
			const failed = apply(wp, { subject: '', ...rest });
			if (failed) {
				nextId = wp.id;
				return failed;
			}
			wps.set(wp.id, wp);
			return fail?.commitThenHang ? 'timeout' : [201, render(wp)];
		}
		const one = /^\/api\/v3\/work_packages\/(\d+)$/.exec(p);
		if (one) {
			const id = Number(one[1]);
			const wp = wps.get(id);
			if (!wp) return error(404, 'NotFound', 'The requested resource could not be found.');
			if (req.method === 'GET') return injected('GET', id) ?? [200, render(wp)];
			if (req.method === 'DELETE') {
				const fail = writeFailure('DELETE', id);
				if (fail?.answer) return fail.answer;
				wps.delete(id);
				return fail?.commitThenHang ? 'timeout' : [204, null];
			}
			if (req.method === 'PATCH') {
				stats.patches++;
				const fail = writeFailure('PATCH', id);
				if (fail?.answer) return fail.answer;
				if (json.lockVersion === undefined || json.lockVersion === null || json.lockVersion !== wp.lockVersion) {
					return error(409, 'UpdateConflict', 'Your changes could not be saved, because the resource was changed by someone else in the meantime.');
				}
				const draft = { ...wp };
				const failed = apply(draft, json);
				if (failed) return failed;
				draft.lockVersion = wp.lockVersion + 1;
				draft.updatedAt = seconds(now());
				wps.set(id, draft);
				return fail?.commitThenHang ? 'timeout' : [200, render(draft)];
			}
		}
		return error(404, 'NotFound', 'The requested resource could not be found.');
	}

	// The stand-in's own admin API: seeding, inspection, edits "by an OpenProject user", failures.
	function admin(method, p, url, body) {
		const json = body ? JSON.parse(body) : {};
		if (p === '/__standin/work_packages' && method === 'GET') return [200, [...wps.values()].map(render)];
		if (p === '/__standin/work_packages' && method === 'POST') {
			const list = Array.isArray(json) ? json : [json];
			return [201, list.map((f) => render(insert(f)))];
		}
		const edit = /^\/__standin\/work_packages\/(\d+)$/.exec(p);
		if (edit && method === 'PATCH') {
			const wp = wps.get(Number(edit[1]));
			if (!wp) return [404, { message: 'no such work package' }];
			Object.assign(wp, json, { lockVersion: wp.lockVersion + 1, updatedAt: seconds(now()) });
			return [200, render(wp)];
		}
		if (edit && method === 'DELETE') {
			wps.delete(Number(edit[1]));
			return [204, null];
		}
		if (p === '/__standin/failures' && method === 'POST') {
			for (const s of Array.isArray(json) ? json : [json]) scripted.push({ times: 1, ...s });
			return [200, { scripted: scripted.length }];
		}
		if (p === '/__standin/failure-rates' && method === 'PUT') {
			try {
				rates = checkRates(json);
			} catch (e) {
				return [400, { message: e.message }];
			}
			return [200, rates];
		}
		if (p === '/__standin/stats' && method === 'GET') return [200, { ...stats, workPackages: wps.size, scripted: scripted.length }];
		return [404, { message: 'unknown admin path' }];
	}

	const server = createServer((req, res) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (c) => (body += c));
		req.on('end', async () => {
			stats.requests++;
			const api = !req.url.startsWith('/__standin/');
			if (api) stats.maxInFlight = Math.max(stats.maxInFlight, ++stats.inFlight);
			if (latencyMs && api) await new Promise((r) => setTimeout(r, latencyMs));
			let result;
			try {
				result = await handle(req, body);
			} catch (e) {
				result = error(500, 'InternalServerError', String(e?.message ?? e));
			}
			if (api) stats.inFlight--;
			if (result === 'timeout') return; // never answer: the client's timeout fires
			const [status, payload, headers = {}] = result;
			stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
			if (payload === null) {
				res.writeHead(status, headers);
				return res.end();
			}
			const text = JSON.stringify(payload);
			res.writeHead(status, { 'content-type': 'application/hal+json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
			res.end(text);
		});
	});

	return {
		server,
		insert,
		workPackages: () => [...wps.values()].map(render),
		stats,
		fail: (spec) => scripted.push({ times: 1, ...spec }),
		setFailureRates: (table) => {
			rates = checkRates(table);
		},
		/** The time every API request waits before it is handled, from now on. */
		setLatency: (ms) => {
			latencyMs = ms;
		},
		listen(port = 0, host = '127.0.0.1') {
			return new Promise((resolve) => server.listen(port, host, () => resolve(server.address().port)));
		},
		close: () => new Promise((resolve) => {
			server.closeAllConnections?.();
			server.close(() => resolve());
		}),
	};
}

function error(status, id, message, attribute) {
	const body = { _type: 'Error', errorIdentifier: URN + id, message };
	if (attribute) body._embedded = { details: { attribute } };
	return [status, body];
}

function withHeaders([status, body], headers) {
	return [status, body, headers];
}

function checkRates(table) {
	const out = {};
	for (const [method, entries] of Object.entries(table ?? {})) {
		if (!['*', 'GET', 'POST', 'PATCH', 'DELETE'].includes(method)) throw new Error(`failure rates: unknown method ${method}`);
		let sum = 0;
		for (const [name, rate] of Object.entries(entries)) {
			if (!FAILURES.includes(String(name))) throw new Error(`failure rates: unknown failure ${name} (one of ${FAILURES.join(', ')})`);
			if (typeof rate !== 'number' || rate < 0) throw new Error(`failure rates: ${method} ${name} must be a number >= 0`);
			sum += rate;
		}
		if (sum > 1) throw new Error(`failure rates: ${method} adds up to ${sum} > 1`);
		out[method] = { ...entries };
	}
	return out;
}

function escapeHtml(s) {
	return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
	const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=') ?? fallback;
	const standin = createStandin({
		apiKey: arg('api-key', 'standin-api-key'),
		latencyMs: Number(arg('latency-ms', 0)),
		customFields: arg('custom-fields', '1').split(',').filter(Boolean).map(Number),
		failureRates: JSON.parse(arg('failure-rates', '{}')),
		seed: Number(arg('seed', 1)),
	});
	const seedFile = arg('seed-file');
	if (seedFile) for (const f of JSON.parse(readFileSync(seedFile, 'utf8'))) standin.insert(f);
	const port = await standin.listen(Number(arg('port', 8090)));
	console.log(`OpenProject API v3 stand-in (not OpenProject) listening on http://127.0.0.1:${port}`);
}
