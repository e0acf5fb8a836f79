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
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

const CONFLICT = 'urn:openproject-org:api:v3:errors:UpdateConflict';

interface Page {
	total: number;
	count: number;
	_embedded?: { elements?: IDataObject[] };
}

interface FullResponse {
	statusCode: number;
	body: unknown;
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
						name: 'Write',
						value: 'write',
						action: 'Write planned changes',
						description:
							'PATCH, POST or DELETE per item (fields op, ID and body); the result, including 409 UpdateConflict, is added to the item',
					},
				],
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
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0) as string;
		const credentials = await this.getCredentials('openProjectApi');
		const baseUrl = String(credentials.baseUrl ?? '').replace(/\/+$/, '');
		const request = async (options: IHttpRequestOptions): Promise<FullResponse> =>
			(await this.helpers.httpRequestWithAuthentication.call(this, 'openProjectApi', {
				...options,
				url: baseUrl + options.url,
				// A request that gets no answer fails (and, for a write, stays for a retry)
				// instead of holding the run.
				timeout: 60_000,
				json: true,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
			})) as FullResponse;

		if (operation === 'getChanged') return [await getChanged(this, request)];
		if (operation === 'write') return [await write(this, request)];
		throw new NodeOperationError(this.getNode(), `Unknown operation "${operation}"`);
	}
}

type Request = (options: IHttpRequestOptions) => Promise<FullResponse>;

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
) {
	const out: IDataObject[] = [];
	const url = projectId === '' ? '/api/v3/work_packages' : `/api/v3/projects/${encodeURIComponent(projectId)}/work_packages`;
	for (let offset = 1; ; offset++) {
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
			},
		});
		if (res.statusCode !== 200) throw apiError(ctx, 'Listing work packages failed', res);
		const page = res.body as Page;
		const elements = page._embedded?.elements ?? [];
		out.push(...elements);
		// OpenProject may serve fewer per page than asked (apiv3_max_page_size): stop on the
		// total, never on the page size asked for.
		if (elements.length === 0 || out.length >= page.total) return out;
	}
}

async function getChanged(ctx: IExecuteFunctions, request: Request): Promise<INodeExecutionData[]> {
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
	const byId = new Map<string, IDataObject>();
	const projectId = (ctx.getNodeParameter('projectId', 0, '') as string).trim();
	for (const wp of await listAll(ctx, request, filters, pageSize, projectId)) byId.set(String(wp.id), wp);
	const wanted = [...new Set(ids.map(String))].filter((id) => !byId.has(id));
	for (let k = 0; k < wanted.length; k += 100) {
		const chunk = wanted.slice(k, k + 100);
		const found = await listAll(ctx, request, [{ id: { operator: '=', values: chunk } }, anyStatus], pageSize, projectId);
		for (const wp of found) byId.set(String(wp.id), wp);
	}
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

async function write(ctx: IExecuteFunctions, request: Request): Promise<INodeExecutionData[]> {
	const items = ctx.getInputData();
	const projectId = ctx.getNodeParameter('projectId', 0, '') as string;
	const opsField = (ctx.getNodeParameter('opsField', 0, '') as string).trim();
	const out: INodeExecutionData[] = [];
	for (let i = 0; i < items.length; i++) {
		if (opsField === '') {
			const result = await writeOne(ctx, request, items[i].json, projectId, i);
			out.push({ json: result.error ? { error: result.error } : { ...items[i].json, result }, pairedItem: { item: i } });
			continue;
		}
		const list = items[i].json[opsField];
		if (!Array.isArray(list)) {
			throw new NodeOperationError(ctx.getNode(), `item ${i} has no list of requests in field "${opsField}"`, { itemIndex: i });
		}
		const results: IDataObject[] = [];
		for (const op of list as IDataObject[]) {
			const result = await writeOne(ctx, request, op, projectId, i);
			results.push({ ...op, result: result.error ? { ok: false, status: 0, errorIdentifier: 'invalid_request', message: (result.error as IDataObject).message } : result });
		}
		out.push({ json: { ...items[i].json, results }, pairedItem: { item: i } });
	}
	return out;
}

async function writeOne(
	ctx: IExecuteFunctions,
	request: Request,
	spec: IDataObject,
	projectId: string,
	itemIndex: number,
): Promise<IDataObject> {
	const { op, id, body } = spec as { op?: string; id?: string | number; body?: IDataObject };
	let options: IHttpRequestOptions;
	if (op === 'patch') options = { method: 'PATCH', url: `/api/v3/work_packages/${id}`, body };
	else if (op === 'delete') options = { method: 'DELETE', url: `/api/v3/work_packages/${id}` };
	else if (op === 'create') {
		// OpenProject assigns a new work package's id: a planned record's id is the local key.
		const { id: _localKey, lockVersion: _none, ...fields } = (body ?? {}) as IDataObject;
		const links = (fields._links ?? {}) as IDataObject;
		const withProject =
			links.project || projectId === ''
				? fields
				: { ...fields, _links: { ...links, project: { href: `/api/v3/projects/${projectId}` } } };
		options = { method: 'POST', url: '/api/v3/work_packages', body: withProject };
	} else {
		const error = { code: 'invalid_request', message: `request has no op create, patch or delete (got ${String(op)})`, path: '/op' };
		if (!ctx.continueOnFail()) {
			throw new NodeOperationError(ctx.getNode(), error.message, { itemIndex, description: 'at /op' });
		}
		return { error };
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
		};
	} catch (error) {
		// No HTTP answer (connection refused, timeout): the row stays for a retry.
		return { ok: false, status: 0, conflict: false, errorIdentifier: 'network', message: (error as Error).message, id: id ?? null };
	}
}
