import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IPairedItemData,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { buildConfig, readPath } from './config';
import type { Decision, PlanRow, Summary } from './contract';
import type { CoreError, CoreResponse, JsonObject } from './core';
import { callCore } from './core';
import { properties } from './description';

// Outputs per operation. Compare routes every record to exactly one of the first four:
//   Changes    every decision that writes something: creates, updates, deletes, converged,
//              resolved conflicts, conflicts left for a person whose other fields still sync
//              (they carry their open conflict), and with "Send New Pairs to Changes" the
//              unchanged pairs that have no base yet (their target record is the base to store)
//   Conflicts  conflicts left for a person with nothing else to write
//   Unchanged  nothing to do
//   Invalid    rejected records, with their structured error (needs Continue On Fail)
//   Summary    one item: the core's counts by decision kind (what the run's metrics record)
const COMPARE_OUTPUTS = ['Changes', 'Conflicts', 'Unchanged', 'Invalid', 'Summary'];
const PLAN_OUTPUTS = ['Batches', 'Untouched'];
const INPUT_NAMES = ['Local', 'Remote', 'Base'];
const SIDE_INPUT: Record<string, number> = { local: 0, remote: 1, base: 2 };

const connections = (names: string[]) =>
	JSON.stringify(names.map((displayName) => ({ type: 'main', displayName })));

interface ItemResult {
	index: number;
	error?: CoreError;
	[key: string]: unknown;
}

export class BatchSync implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Batch Sync',
		name: 'batchSync',
		icon: { light: 'file:batchSync.svg', dark: 'file:batchSync.dark.svg' },
		group: ['transform'],
		// 2: Compare's unchanged pairs name no checksum unless "Checksums of Unchanged Pairs" is on.
		version: [1, 2],
		defaultVersion: 2,
		subtitle: '={{ $parameter["operation"] }}',
		description:
			'Change detection, conflict detection and three-way merge for batch synchronisation (e.g. PostgreSQL ↔ OpenProject)',
		defaults: { name: 'Batch Sync' },
		usableAsTool: true,
		inputs: `={{ $parameter["operation"] === "compare" ? ${connections(INPUT_NAMES)} : ["main"] }}`,
		outputs: `={{ $parameter["operation"] === "compare" ? ${connections(COMPARE_OUTPUTS)} : $parameter["operation"] === "plan" ? ${connections(PLAN_OUTPUTS)} : ["main"] }}`,
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0) as string;
		const config = buildConfig(this, operation);
		switch (operation) {
			case 'checksum':
				return [computeChecksum(this, config)];
			case 'compare':
				return compare(this, config);
			case 'merge':
				return [merge(this, config)];
			case 'plan':
				return plan(this, config);
			default:
				throw new NodeOperationError(this.getNode(), `Unknown operation "${operation}"`);
		}
	}
}

/** A request the core rejected as a whole (e.g. a bad configuration) stops the node. */
function ensureOk(ctx: IExecuteFunctions, response: CoreResponse): void {
	if (response.ok) return;
	const e = response.error as CoreError;
	throw new NodeOperationError(ctx.getNode(), e.message, {
		description: `Error code ${e.code}${e.path ? ` at ${e.path}` : ''}`,
	});
}

/** `/records/3/subject` -> `/subject`: the JSON path inside the item. */
function pathInItem(path: string): string {
	return path.split('/').slice(3).join('/').replace(/^(?=.)/, '/');
}

/** With Continue On Fail the item carries its error; otherwise the node stops on it. */
function itemError(
	ctx: IExecuteFunctions,
	error: CoreError,
	itemIndex: number,
	pairedItem: IPairedItemData | IPairedItemData[],
	inputName?: string,
): INodeExecutionData {
	if (ctx.continueOnFail()) {
		return { json: { error: { ...error } }, pairedItem };
	}
	const where = pathInItem(error.path);
	throw new NodeOperationError(ctx.getNode(), error.message, {
		itemIndex,
		description: `${inputName ? `${inputName} input, ` : ''}item ${itemIndex}${
			where ? `, at ${where}` : ''
		} (error code ${error.code})`,
	});
}

function inputItems(ctx: IExecuteFunctions, input: number): INodeExecutionData[] {
	try {
		return ctx.getInputData(input);
	} catch (error) {
		// An optional input that is not connected or got no data ("Input index was not set").
		if (input === SIDE_INPUT.base) return [];
		throw new NodeOperationError(ctx.getNode(), error as Error);
	}
}

function computeChecksum(ctx: IExecuteFunctions, config: JsonObject): INodeExecutionData[] {
	const items = ctx.getInputData();
	const field = ctx.getNodeParameter('checksumField', 0, 'checksum') as string;
	const response = callCore({ op: 'checksum', records: items.map((i) => i.json), config });
	ensureOk(ctx, response);
	return (response.items as ItemResult[]).map((r) => {
		if (r.error) return itemError(ctx, r.error, r.index, { item: r.index });
		return {
			json: { ...items[r.index].json, [field]: r.checksum as string },
			pairedItem: { item: r.index },
		};
	});
}

/** The records of one input, each with the index of the item it came from: one record per item,
 * or, with Records in Field, the arrays that field holds (e.g. one SQL row with a JSON array). */
function records(ctx: IExecuteFunctions, input: number, field: string): { json: unknown; item: number }[] {
	const items = inputItems(ctx, input);
	if (field === '') return items.map((i, item) => ({ json: i.json, item }));
	return items.flatMap((i, item) => {
		const list = readPath(i.json, field);
		if (!Array.isArray(list)) {
			throw new NodeOperationError(ctx.getNode(), `${INPUT_NAMES[input]} item ${item} has no array in field "${field}"`, {
				itemIndex: item,
				description: 'Records in Field is set: every item of every input must hold a list of records there',
			});
		}
		return list.map((json) => ({ json, item }));
	});
}

function compare(ctx: IExecuteFunctions, config: JsonObject): INodeExecutionData[][] {
	const field = ctx.getNodeParameter('recordsField', 0, '') as string;
	const sides = [0, 1, 2].map((input) => records(ctx, input, field.trim()));
	const [local, remote, baseItems] = sides;
	const b = ctx.getNodeParameter('base', 0, {}) as IDataObject;
	const baseFields = {
		id: (b.idField as string) ?? 'id',
		snapshot: (b.snapshotField as string) ?? 'snapshot',
		checksum: (b.checksumField as string) ?? 'checksum',
		version: (b.versionField as string) ?? 'version',
	};
	const base = baseItems.map((item) => {
		const entry: JsonObject = {};
		for (const [key, path] of Object.entries(baseFields)) {
			const value = path === '' ? undefined : readPath(item.json, path);
			if (value !== undefined && value !== null) entry[key] = value;
		}
		return entry;
	});
	const request: JsonObject = {
		op: 'classify',
		local: local.map((i) => i.json),
		remote: remote.map((i) => i.json),
		config,
	};
	if (base.length > 0) request.base = base;
	const seedBase = ctx.getNodeParameter('seedBase', 0, false) as boolean;
	const response = callCore(request);
	ensureOk(ctx, response);

	const out: INodeExecutionData[][] = COMPARE_OUTPUTS.map(() => []);
	for (const d of response.decisions as Decision[]) {
		const pairedItem: IPairedItemData[] = [];
		if (d.decision === 'invalid') {
			const input = SIDE_INPUT[d.side] ?? 0;
			const index = sides[input][d.index]?.item ?? d.index;
			pairedItem.push({ item: index, input });
			if (!ctx.continueOnFail()) {
				itemError(ctx, d.error, index, pairedItem, INPUT_NAMES[input]);
			}
			out[3].push({ json: d as unknown as IDataObject, pairedItem });
			continue;
		}
		for (const side of ['local', 'remote', 'base'] as const) {
			const index = d[side]?.index;
			if (index !== undefined) pairedItem.push({ item: sides[SIDE_INPUT[side]][index].item, input: SIDE_INPUT[side] });
		}
		if (field.trim() !== '') dedupePairs(pairedItem);
		const writes =
			d.local.action !== 'none' || d.remote.action !== 'none' || d.target.action !== 'none';
		const output =
			d.conflict?.status === 'unresolved'
				? writes
					? 0
					: 1
				: d.decision !== 'unchanged' || (d.target.action === 'upsert' && seedBase)
					? 0
					: 2;
		out[output].push({ json: d as unknown as IDataObject, pairedItem });
	}
	const summary = response.summary as Summary;
	out[4].push({ json: { summary } as unknown as IDataObject, pairedItem: [] });
	return out;
}

function dedupePairs(pairs: IPairedItemData[]): void {
	const seen = new Set<string>();
	for (let k = pairs.length - 1; k >= 0; k--) {
		const key = `${pairs[k].input}:${pairs[k].item}`;
		if (seen.has(key)) pairs.splice(k, 1);
		else seen.add(key);
	}
}

function merge(ctx: IExecuteFunctions, config: JsonObject): INodeExecutionData[] {
	const items = ctx.getInputData();
	const fields = ['base', 'local', 'remote'].map(
		(side) => ctx.getNodeParameter(`${side}Field`, 0, side) as string,
	);
	const outputField = ctx.getNodeParameter('outputField', 0, 'merge') as string;
	const request = {
		op: 'merge',
		items: items.map((item) => {
			const triple: JsonObject = {};
			['base', 'local', 'remote'].forEach((side, k) => {
				const value = readPath(item.json, fields[k]);
				if (value !== undefined) triple[side] = value;
			});
			return triple;
		}),
		config,
	};
	const response = callCore(request);
	ensureOk(ctx, response);
	return (response.items as ItemResult[]).map((r) => {
		if (r.error) return itemError(ctx, r.error, r.index, { item: r.index });
		const { index, ...result } = r;
		return {
			json: { ...items[index].json, [outputField]: result as IDataObject },
			pairedItem: { item: index },
		};
	});
}

function plan(ctx: IExecuteFunctions, config: JsonObject): INodeExecutionData[][] {
	const items = ctx.getInputData();
	const response = callCore({ op: 'plan', decisions: items.map((i) => i.json), config });
	ensureOk(ctx, response);
	const failed: INodeExecutionData[] = (response.errors as ItemResult[]).map((e) =>
		itemError(ctx, e.error as CoreError, e.index, { item: e.index }),
	);
	// One item per batch of rows; each row holds everything its decision writes.
	const out = (response.batches as PlanRow[][]).map((rows, k) => ({
		json: { batch: k, rows } as unknown as IDataObject,
		pairedItem: rows.map((r) => ({ item: r.decision_index })),
	}));
	const untouched = (response.untouched as number[]).map((i) => ({
		json: items[i].json,
		pairedItem: { item: i },
	}));
	return [[...out, ...failed], untouched];
}
