// OpenProject I/O for batch sync: reading changed work packages and writing planned changes,
// through the OpenProject API credential (base URL + API key). Transport only: which records
// changed and what to write is decided by the Batch Sync node's core, never here.
import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestOptions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError, sleep } from 'n8n-workflow';

const CONFLICT = 'urn:openproject-org:api:v3:errors:UpdateConflict';
// Answers that mean "not now, nothing was done": OpenProject's limiter (429, no Retry-After but
// RateLimit-Reset), a proxy in front of it (429 with Retry-After, 502, 503, 504).
const THROTTLED = new Set([429, 502, 503, 504]);

interface Page {
	total: number;
	count: number;
	pageSize?: number;
	_embedded?: { elements?: IDataObject[] };
}

interface FullResponse {
	statusCode: number;
	body: unknown;
	headers?: Record<string, string | string[] | undefined>;
}

/** How the node talks to OpenProject: requests in flight, requests per second, tries. */
interface Io {
	concurrency: number;
	perSecond: number;
	maxTries: number;
	random: () => number;
}

export class OpenProjectSync implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'OpenProject Work Packages (Batch Sync)',
		name: 'openProjectSync',
		icon: 'file:openProject.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["operation"] }}',
		description: 'Read changed OpenProject work packages and write planned changes with lockVersion',
		defaults: { name: 'OpenProject Work Packages' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'openProjectApi', required: true }],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				default: 'getChanged',
				options: [
					{
						name: 'Get Changed',
						value: 'getChanged',
						action: 'Get changed work packages',
						description:
							'Work packages updated since a point in time (open and closed), all pages, plus any listed by ID',
					},
					{
						name: 'Find by Marker',
						value: 'findByMarker',
						action: 'Find work packages by marker',
						description:
							'Work packages whose marker custom field holds one of the given keys: the creates whose answer was lost',
					},
					{
						name: 'Get Reference Data',
						value: 'getReference',
						action: 'Get reference data',
						description:
							"The instance's statuses and work package types, the project's assignees (ID, name, href): what a mapping of names to links needs, read once and cached by the workflow",
					},
					{
						name: 'Write',
						value: 'write',
						action: 'Write planned changes',
						description:
							'PATCH, POST or DELETE per item (fields op, ID and body); the result, including 409 UpdateConflict, is added to the item',
					},
				],
			},
			{
				displayName: 'Collections',
				name: 'collections',
				type: 'multiOptions',
				default: ['statuses', 'types'],
				options: [
					{ name: 'Statuses', value: 'statuses' },
					{ name: 'Types', value: 'types' },
					{ name: 'Assignees of the Project', value: 'assignees' },
				],
				description:
					'Which collections to read (GET /api/v3/statuses, /api/v3/types, and /api/v3/projects/{Project ID}/available_assignees: the users a work package of the project may be assigned)',
				displayOptions: { show: { operation: ['getReference'] } },
			},
			{
				displayName: 'Read',
				name: 'source',
				type: 'options',
				default: 'changed',
				options: [
					{
						name: 'Changed Since, Plus the IDs Asked For',
						value: 'changed',
						description: 'Work packages updated since Updated Since (every one when empty), and those in Also Get IDs',
					},
					{ name: 'Only the IDs Asked For', value: 'ids', description: 'Exactly the work packages in Also Get IDs (e.g. one page of a run)' },
				],
				displayOptions: { show: { operation: ['getChanged'] } },
			},
			{
				displayName: 'Fields',
				name: 'fields',
				type: 'options',
				default: 'all',
				options: [
					{ name: 'Whole Work Packages', value: 'all' },
					{
						name: 'ID and Updated At Only',
						value: 'idAndUpdatedAt',
						description: "Asks OpenProject for less (its select parameter): enough to know what changed",
					},
				],
				displayOptions: { show: { operation: ['getChanged'] } },
			},
			{
				displayName: 'Updated Since',
				name: 'since',
				type: 'string',
				default: '',
				placeholder: 'e.g. 2026-11-26T10:00:00Z',
				description: 'RFC 3339 timestamp; empty reads every work package',
				displayOptions: { show: { operation: ['getChanged'] } },
			},
			{
				displayName: 'Overlap (Seconds)',
				name: 'overlapSeconds',
				type: 'number',
				default: 300,
				description:
					'Read this much before Updated Since: OpenProject renders updatedAt in whole seconds and clocks differ',
				displayOptions: { show: { operation: ['getChanged'] } },
			},
			{
				displayName: 'Also Get IDs',
				name: 'ids',
				type: 'json',
				default: '[]',
				description: 'A JSON array of work package IDs to read whatever their updatedAt (e.g. rows waiting for a retry)',
				displayOptions: { show: { operation: ['getChanged'] } },
			},
			{
				displayName: 'Page Size',
				name: 'pageSize',
				type: 'number',
				default: 1000,
				typeOptions: { minValue: 1 },
				description: 'OpenProject clamps it to its apiv3_max_page_size (1000 by default)',
				displayOptions: { show: { operation: ['getChanged'] } },
			},
			{
				displayName: 'Output',
				name: 'output',
				type: 'options',
				default: 'split',
				options: [
					{ name: 'One Item per Work Package', value: 'split' },
					{
						name: 'One Item With All Work Packages',
						value: 'aggregate',
						description: 'Fields records (the list), count and maxUpdatedAt; an empty result is still one item',
					},
				],
				displayOptions: { show: { operation: ['getChanged'] } },
			},
			{
				displayName: 'Keys',
				name: 'keys',
				type: 'json',
				default: '[]',
				description: 'A JSON array of marker values (the local keys, e.g. "task-17") to look up',
				displayOptions: { show: { operation: ['findByMarker'] } },
			},
			{
				displayName: 'Requests in Field',
				name: 'opsField',
				type: 'string',
				default: '',
				placeholder: 'e.g. ops',
				description:
					'Leave empty when each item is one request. Set it when each item holds a list of requests in this field: each item then goes out once, with the answers in results (an empty list is fine).',
				displayOptions: { show: { operation: ['write'] } },
			},
			{
				displayName: 'Project ID',
				name: 'projectId',
				type: 'string',
				default: '',
				description:
					'The project to sync: Get Changed reads only its work packages, Write creates in it (when a create body has no project link). Empty: every project the API user sees.',
			},
			{
				displayName: 'Marker Custom Field',
				name: 'markerField',
				type: 'string',
				default: '',
				placeholder: 'e.g. customField1',
				description:
					'A string custom field (API name customFieldN, "Used as a filter") that Write fills with the local key of each work package it creates, so that a create whose answer was lost is found again instead of created twice. Empty: no marker.',
				displayOptions: { show: { operation: ['write', 'findByMarker'] } },
			},
			{
				displayName: 'Type for Creates',
				name: 'typeHref',
				type: 'string',
				default: '',
				placeholder: 'e.g. /api/v3/types/1',
				description:
					"The type link (href) of each work package Write creates, unless its body has one; empty: OpenProject's default type of the project",
				displayOptions: { show: { operation: ['write'] } },
			},
			{
				displayName: 'Options',
				name: 'io',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				options: [
					{
						displayName: 'Max Requests in Flight',
						name: 'concurrency',
						type: 'number',
						default: 8,
						typeOptions: { minValue: 1, maxValue: 64 },
						description: 'Requests this node has open at once (writes of a batch, pages of a listing)',
					},
					{
						displayName: 'Max Requests per Second',
						name: 'perSecond',
						type: 'number',
						default: 0,
						typeOptions: { minValue: 0 },
						description: 'Requests this node starts per second; 0 means no limit',
					},
					{
						displayName: 'Max Tries When Throttled',
						name: 'maxTries',
						type: 'number',
						default: 5,
						typeOptions: { minValue: 1, maxValue: 20 },
						description:
							'A request answered 429, 502, 503 or 504 (nothing was done) is sent again after Retry-After or RateLimit-Reset, or else a full-jitter backoff from 1 s (at most 30 s)',
					},
					{
						displayName: 'Timeout (Seconds)',
						name: 'timeoutSeconds',
						type: 'number',
						default: 60,
						typeOptions: { minValue: 1 },
						description:
							'A request with no answer by then fails; a write is not sent again here (it may have been done): the next run finds out',
					},
				],
			},
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0) as string;
		const credentials = await this.getCredentials('openProjectApi');
		const baseUrl = String(credentials.baseUrl ?? '').replace(/\/+$/, '');
		const opts = this.getNodeParameter('io', 0, {}) as IDataObject;
		const io: Io = {
			concurrency: Math.max(1, Math.floor(Number(opts.concurrency ?? 8)) || 1),
			perSecond: Math.max(0, Number(opts.perSecond ?? 0) || 0),
			maxTries: Math.max(1, Math.floor(Number(opts.maxTries ?? 5)) || 1),
			random: Math.random,
		};
		const timeout = Math.max(1, Number(opts.timeoutSeconds ?? 60) || 60) * 1000;
		const limiter = rateLimiter(io.perSecond);
		const send = async (options: IHttpRequestOptions): Promise<FullResponse> => {
			await limiter();
			return (await this.helpers.httpRequestWithAuthentication.call(this, 'openProjectApi', {
				...options,
				url: baseUrl + options.url,
				// A request that gets no answer fails (and, for a write, stays for a retry)
				// instead of holding the run.
				timeout,
				json: true,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
			})) as FullResponse;
		};
		// Each answer says how many times it was sent (throttled answers sent again) and how long it
		// took with the waits: what the adaptive batch size reads from a write's results.
		const request: Request = async (options) => {
			const t0 = Date.now();
			for (let attempt = 1; ; attempt++) {
				const res = await send(options);
				if (!THROTTLED.has(res.statusCode) || attempt >= io.maxTries) return Object.assign(res, { tries: attempt, ms: Date.now() - t0 });
				await sleep(retryDelayMs(res, attempt, io.random));
			}
		};

		try {
			if (operation === 'getChanged') return [await getChanged(this, request, io)];
			if (operation === 'findByMarker') return [await findByMarker(this, request, io)];
			if (operation === 'write') return [await write(this, request, io)];
			if (operation === 'getReference') return [await getReference(this, request)];
		} catch (error) {
			// On Error "continue" (regular or error output): the failure as one item, so that a
			// workflow can record it and go on (with the error output, it takes that branch).
			const failure =
				error instanceof NodeOperationError ? error : new NodeOperationError(this.getNode(), error as Error);
			if (this.continueOnFail()) {
				return [[{ json: { error: { message: failure.message, description: failure.description ?? null } }, pairedItem: { item: 0 } }]];
			}
			throw failure;
		}
		throw new NodeOperationError(this.getNode(), `Unknown operation "${operation}"`);
	}
}

type Request = (options: IHttpRequestOptions) => Promise<FullResponse & { tries?: number; ms?: number }>;

/** The wait before sending a throttled request again: the server's word (Retry-After in
 * seconds or as a date, else OpenProject's RateLimit-Reset epoch second), or else full jitter
 * over an exponential backoff from 1 s, capped at 30 s. */
export function retryDelayMs(res: FullResponse, attempt: number, random: () => number, now = Date.now()): number {
	const header = (name: string) => {
		const v = res.headers?.[name];
		return Array.isArray(v) ? v[0] : v;
	};
	const retryAfter = header('retry-after');
	if (retryAfter !== undefined) {
		const seconds = Number(retryAfter);
		if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 300) * 1000;
		const at = Date.parse(retryAfter);
		if (!Number.isNaN(at)) return Math.min(Math.max(at - now, 0), 300_000);
	}
	const reset = Number(header('ratelimit-reset'));
	if (Number.isFinite(reset) && reset > 0) {
		// An epoch second (OpenProject), or seconds from now (the IETF draft) when small.
		const ms = reset > 1e9 ? reset * 1000 - now : reset * 1000;
		return Math.min(Math.max(ms, 0), 300_000);
	}
	return Math.floor(random() * Math.min(30_000, 1000 * 2 ** (attempt - 1)));
}

/** Starts at most `perSecond` requests per second (evenly spaced); 0 means no limit. */
function rateLimiter(perSecond: number): () => Promise<void> {
	if (perSecond <= 0) return async () => {};
	const gap = 1000 / perSecond;
	let next = 0;
	return async () => {
		const now = Date.now();
		const at = Math.max(now, next);
		next = at + gap;
		if (at > now) await sleep(at - now);
	};
}

/** Runs `task` over `inputs` with at most `limit` running at once; results keep the order. */
async function pool<T, R>(inputs: T[], limit: number, task: (input: T, index: number) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(inputs.length);
	let next = 0;
	const workers = Array.from({ length: Math.min(limit, inputs.length) }, async () => {
		while (next < inputs.length) {
			const k = next++;
			results[k] = await task(inputs[k], k);
		}
	});
	await Promise.all(workers);
	return results;
}

function apiError(ctx: IExecuteFunctions, what: string, res: FullResponse): NodeOperationError {
	const body = (res.body ?? {}) as IDataObject;
	return new NodeOperationError(ctx.getNode(), `${what}: HTTP ${res.statusCode} ${String(body.errorIdentifier ?? '')}`, {
		description: String(body.message ?? ''),
	});
}

async function listAll(
	ctx: IExecuteFunctions,
	request: Request,
	filters: unknown[],
	pageSize: number,
	projectId: string,
	io: Io,
	select?: string,
) {
	const url = projectId === '' ? '/api/v3/work_packages' : `/api/v3/projects/${encodeURIComponent(projectId)}/work_packages`;
	const page = async (offset: number) => {
		const res = await request({
			method: 'GET',
			url,
			qs: {
				filters: JSON.stringify(filters),
				// By id: a work package edited while the pages are read keeps its place, where an
				// updatedAt order would move it to the end and shift the next page past an item.
				sortBy: JSON.stringify([['id', 'asc']]),
				pageSize,
				offset,
				...(select ? { select } : {}),
			},
		});
		if (res.statusCode !== 200) throw apiError(ctx, 'Listing work packages failed', res);
		return res.body as Page;
	};
	const first = await page(1);
	const out: IDataObject[] = [...(first._embedded?.elements ?? [])];
	// OpenProject may serve fewer per page than asked (apiv3_max_page_size): count pages with the
	// size it answered, never the size asked for. The other pages are read concurrently.
	const served = Math.max(1, first.pageSize ?? (out.length || pageSize));
	const pages = Math.ceil(first.total / served);
	const rest = await pool(
		Array.from({ length: Math.max(0, pages - 1) }, (_, k) => k + 2),
		io.concurrency,
		async (offset) => (await page(offset))._embedded?.elements ?? [],
	);
	for (const elements of rest) out.push(...elements);
	// Work packages created while the pages were read (higher ids) may fill a further page.
	for (let offset = pages + 1; offset > 1 && rest.at(-1)?.length === served; offset++) {
		const more = (await page(offset))._embedded?.elements ?? [];
		out.push(...more);
		if (more.length < served) break;
	}
	return out;
}

async function getChanged(ctx: IExecuteFunctions, request: Request, io: Io): Promise<INodeExecutionData[]> {
	const since = (ctx.getNodeParameter('since', 0, '') as string).trim();
	const overlap = ctx.getNodeParameter('overlapSeconds', 0, 300) as number;
	const pageSize = ctx.getNodeParameter('pageSize', 0, 1000) as number;
	const output = ctx.getNodeParameter('output', 0, 'split') as string;
	let ids = ctx.getNodeParameter('ids', 0, '[]') as unknown;
	if (typeof ids === 'string') {
		try {
			ids = JSON.parse(ids || '[]');
		} catch {
			ids = undefined; // rejected below, with the non-array values
		}
	}
	if (!Array.isArray(ids)) throw new NodeOperationError(ctx.getNode(), 'Also Get IDs must be a JSON array of IDs');
	// Without an explicit status filter OpenProject lists open work packages only.
	const anyStatus = { status: { operator: '*', values: [] } };
	const filters: unknown[] = [anyStatus];
	if (since !== '') {
		const from = Date.parse(since);
		if (Number.isNaN(from)) throw new NodeOperationError(ctx.getNode(), `Updated Since is not a timestamp: ${since}`);
		const start = new Date(from - overlap * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
		filters.unshift({ updatedAt: { operator: '<>d', values: [start, ''] } });
	}
	const source = ctx.getNodeParameter('source', 0, 'changed') as string;
	const select =
		(ctx.getNodeParameter('fields', 0, 'all') as string) === 'idAndUpdatedAt'
			? 'total,count,pageSize,offset,elements/id,elements/updatedAt'
			: undefined;
	const byId = new Map<string, IDataObject>();
	const projectId = (ctx.getNodeParameter('projectId', 0, '') as string).trim();
	if (source !== 'ids') {
		for (const wp of await listAll(ctx, request, filters, pageSize, projectId, io, select)) byId.set(String(wp.id), wp);
	}
	const wanted = [...new Set(ids.map(String))].filter((id) => !byId.has(id));
	const found = await pool(chunks(wanted, 100), io.concurrency, (chunk) =>
		listAll(ctx, request, [{ id: { operator: '=', values: chunk } }, anyStatus], pageSize, projectId, { ...io, concurrency: 1 }, select),
	);
	for (const wp of found.flat()) byId.set(String(wp.id), wp);
	const records = [...byId.values()];
	if (output === 'aggregate') {
		const maxUpdatedAt = records.reduce<string | null>(
			(m, wp) => (m === null || Date.parse(String(wp.updatedAt)) > Date.parse(m) ? String(wp.updatedAt) : m),
			null,
		);
		return [{ json: { records, count: records.length, maxUpdatedAt }, pairedItem: { item: 0 } }];
	}
	return records.map((json) => ({ json, pairedItem: { item: 0 } }));
}

/** Statuses and types of the instance, the assignees of the project: one item
 * {statuses: [{id, name, href}], types: [...], assignees: [...]}. */
async function getReference(ctx: IExecuteFunctions, request: Request): Promise<INodeExecutionData[]> {
	const wanted = ctx.getNodeParameter('collections', 0, ['statuses', 'types']) as string[];
	const out: IDataObject = {};
	for (const name of wanted) {
		let path: string;
		let kind = name;
		if (name === 'statuses' || name === 'types') path = `/api/v3/${name}`;
		else if (name === 'assignees') {
			const projectId = (ctx.getNodeParameter('projectId', 0, '') as string).trim();
			if (projectId === '') throw new NodeOperationError(ctx.getNode(), 'Reading the assignees needs the Project ID');
			path = `/api/v3/projects/${encodeURIComponent(projectId)}/available_assignees`;
			kind = 'users';
		} else throw new NodeOperationError(ctx.getNode(), `Unknown collection ${name}`);
		// A collection may come in pages (the assignees of a large project): read them all.
		const elements: IDataObject[] = [];
		for (let offset = 1; ; offset++) {
			const res = await request({ method: 'GET', url: path, qs: { pageSize: 1000, offset } });
			if (res.statusCode !== 200) throw apiError(ctx, `Reading ${name} failed`, res);
			const page = res.body as Page & { total?: number };
			const got = page._embedded?.elements ?? [];
			elements.push(...got);
			if (got.length === 0 || page.total === undefined || elements.length >= page.total) break;
		}
		out[name] = elements.map((e) => ({
			id: e.id,
			name: e.name,
			href: ((e._links as IDataObject | undefined)?.self as IDataObject | undefined)?.href ?? `/api/v3/${kind}/${String(e.id)}`,
		}));
	}
	return [{ json: out, pairedItem: { item: 0 } }];
}

function chunks<T>(list: T[], size: number): T[][] {
	const out: T[][] = [];
	for (let k = 0; k < list.length; k += size) out.push(list.slice(k, k + size));
	return out;
}

function markerField(ctx: IExecuteFunctions): string {
	const field = (ctx.getNodeParameter('markerField', 0, '') as string).trim();
	if (field !== '' && !/^customField\d+$/.test(field)) {
		throw new NodeOperationError(ctx.getNode(), `Marker Custom Field must be an API name like customField1 (got "${field}")`);
	}
	return field;
}

/** The work packages whose marker holds one of the keys: one item with `found`, a list of
 * {key, id, lockVersion, updatedAt, duplicates} (duplicates: further work packages with the
 * same marker, oldest first kept). */
async function findByMarker(ctx: IExecuteFunctions, request: Request, io: Io): Promise<INodeExecutionData[]> {
	const field = markerField(ctx);
	let keys = ctx.getNodeParameter('keys', 0, '[]') as unknown;
	if (typeof keys === 'string') {
		try {
			keys = JSON.parse(keys || '[]');
		} catch {
			keys = undefined;
		}
	}
	if (!Array.isArray(keys)) throw new NodeOperationError(ctx.getNode(), 'Keys must be a JSON array');
	if (keys.length === 0) return [{ json: { found: [], count: 0, asked: 0 }, pairedItem: { item: 0 } }];
	if (field === '') throw new NodeOperationError(ctx.getNode(), 'Find by Marker needs the Marker Custom Field');
	const projectId = (ctx.getNodeParameter('projectId', 0, '') as string).trim();
	const wanted = [...new Set(keys.map(String))];
	const anyStatus = { status: { operator: '*', values: [] } };
	// `=` is an exact, case-sensitive match in OpenProject; checked again here all the same.
	const lists = await pool(chunks(wanted, 100), io.concurrency, (chunk) =>
		listAll(ctx, request, [{ [field]: { operator: '=', values: chunk } }, anyStatus], 1000, projectId, { ...io, concurrency: 1 }),
	);
	const byKey = new Map<string, IDataObject[]>();
	for (const wp of lists.flat()) {
		const key = wp[field];
		if (typeof key !== 'string' || !wanted.includes(key)) continue;
		byKey.set(key, [...(byKey.get(key) ?? []), wp]);
	}
	const found = [...byKey.entries()].map(([key, list]) => {
		const [first, ...others] = [...list].sort((a, b) => Number(a.id) - Number(b.id));
		return {
			key,
			id: first.id,
			lockVersion: first.lockVersion ?? null,
			updatedAt: first.updatedAt ?? null,
			duplicates: others.map((w) => w.id),
		} as IDataObject;
	});
	return [{ json: { found, count: found.length, asked: wanted.length }, pairedItem: { item: 0 } }];
}

async function write(ctx: IExecuteFunctions, request: Request, io: Io): Promise<INodeExecutionData[]> {
	const items = ctx.getInputData();
	const projectId = ctx.getNodeParameter('projectId', 0, '') as string;
	const opsField = (ctx.getNodeParameter('opsField', 0, '') as string).trim();
	const marker = markerField(ctx);
	// Every request of every item, sent through one pool; answers go back in order.
	const jobs: Array<{ item: number; spec: IDataObject }> = [];
	for (let i = 0; i < items.length; i++) {
		if (opsField === '') {
			jobs.push({ item: i, spec: items[i].json });
			continue;
		}
		const list = items[i].json[opsField];
		if (!Array.isArray(list)) {
			throw new NodeOperationError(ctx.getNode(), `item ${i} has no list of requests in field "${opsField}"`, { itemIndex: i });
		}
		for (const op of list as IDataObject[]) jobs.push({ item: i, spec: op });
	}
	// A bad request fails the node before anything is sent (unless Continue On Fail).
	for (const job of jobs) {
		if (!['create', 'patch', 'delete'].includes(String(job.spec.op)) && !ctx.continueOnFail()) {
			throw new NodeOperationError(ctx.getNode(), `request has no op create, patch or delete (got ${String(job.spec.op)})`, {
				itemIndex: job.item,
				description: 'at /op',
			});
		}
	}
	const typeHref = (ctx.getNodeParameter('typeHref', 0, '') as string).trim();
	const results = await pool(jobs, io.concurrency, (job) => writeOne(ctx, request, job.spec, projectId, marker, typeHref));
	if (opsField === '') {
		return items.map((item, i) => ({
			json: results[i].error ? { error: results[i].error } : { ...item.json, result: results[i] },
			pairedItem: { item: i },
		}));
	}
	const perItem = items.map(() => [] as IDataObject[]);
	jobs.forEach((job, k) => {
		const result = results[k];
		perItem[job.item].push({
			...job.spec,
			result: result.error ? { ok: false, status: 0, errorIdentifier: 'invalid_request', message: (result.error as IDataObject).message } : result,
		});
	});
	return items.map((item, i) => ({ json: { ...item.json, results: perItem[i] }, pairedItem: { item: i } }));
}

async function writeOne(
	ctx: IExecuteFunctions,
	request: Request,
	spec: IDataObject,
	projectId: string,
	marker: string,
	typeHref = '',
): Promise<IDataObject> {
	const { op, id, body } = spec as { op?: string; id?: string | number; body?: IDataObject };
	let options: IHttpRequestOptions;
	if (op === 'patch') options = { method: 'PATCH', url: `/api/v3/work_packages/${id}`, body };
	else if (op === 'delete') options = { method: 'DELETE', url: `/api/v3/work_packages/${id}` };
	else if (op === 'create') {
		// OpenProject assigns a new work package's id: a planned record's id is the local key.
		// With a marker field, the local key goes into it: the lost answer of this POST can be
		// found again (Find by Marker) instead of the work package being created twice.
		const { id: localKey, lockVersion: _none, ...fields } = (body ?? {}) as IDataObject;
		const given = (fields._links ?? {}) as IDataObject;
		const links = given.type || typeHref === '' ? given : { ...given, type: { href: typeHref } };
		const withLinks = Object.keys(links).length > 0 ? { ...fields, _links: links } : fields;
		const withProject =
			links.project || projectId === ''
				? withLinks
				: { ...fields, _links: { ...links, project: { href: `/api/v3/projects/${projectId}` } } };
		const key = localKey ?? id;
		const marked = marker !== '' && key !== undefined && key !== null ? { ...withProject, [marker]: String(key) } : withProject;
		options = { method: 'POST', url: '/api/v3/work_packages', body: marked };
	} else {
		return { error: { code: 'invalid_request', message: `request has no op create, patch or delete (got ${String(op)})`, path: '/op' } };
	}
	if (options.body !== undefined) options.headers = { 'content-type': 'application/json' };
	try {
		const res = await request(options);
		const resBody = (res.body ?? {}) as IDataObject;
		// A DELETE answered 404 has reached its goal: the work package is gone.
		const ok = (res.statusCode >= 200 && res.statusCode < 300) || (op === 'delete' && res.statusCode === 404);
		return {
			ok,
			status: res.statusCode,
			conflict: resBody.errorIdentifier === CONFLICT,
			errorIdentifier: ok ? null : (resBody.errorIdentifier ?? null),
			message: ok ? null : (resBody.message ?? null),
			id: ok && resBody.id !== undefined ? resBody.id : (id ?? null),
			lockVersion: ok ? (resBody.lockVersion ?? null) : null,
			updatedAt: ok ? (resBody.updatedAt ?? null) : null,
			tries: res.tries ?? 1,
			ms: res.ms ?? null,
		};
	} catch (error) {
		// No HTTP answer (connection refused, timeout): the row stays for a retry.
		return { ok: false, status: 0, conflict: false, errorIdentifier: 'network', message: (error as Error).message, id: id ?? null };
	}
}
