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
import type { CoreError, CoreResponse, JsonObject } from './core';
import { callCore } from './core';
import { properties } from './description';

// Outputs per operation. Compare routes every record to exactly one of them:
//   Changes    every decision but unchanged (creates, updates, deletes, converged, resolved
//              conflicts), and with "Send New Pairs to Changes" the unchanged pairs that have no
//              base yet (their target record is the base to store)
//   Conflicts  conflicts the strategy leaves for a person (conflict.status "unresolved")
//   Unchanged  nothing to do
//   Invalid    rejected records, with their structured error (needs Continue On Fail)
const COMPARE_OUTPUTS = ['Changes', 'Conflicts', 'Unchanged', 'Invalid'];
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
		version: 1,
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
	for (const d of response.decisions as JsonObject[]) {
		const pairedItem: IPairedItemData[] = [];
		for (const side of ['local', 'remote', 'base']) {
			const index = (d[side] as { index?: number } | undefined)?.index;
			if (index !== undefined) pairedItem.push({ item: sides[SIDE_INPUT[side]][index].item, input: SIDE_INPUT[side] });
		}
		if (field.trim() !== '') dedupePairs(pairedItem);
		if (d.decision === 'invalid') {
			const input = SIDE_INPUT[d.side as string] ?? 0;
			const index = sides[input][d.index as number]?.item ?? (d.index as number);
			if (pairedItem.length === 0) pairedItem.push({ item: index, input });
			if (!ctx.continueOnFail()) {
				itemError(ctx, d.error as CoreError, index, pairedItem, INPUT_NAMES[input]);
			}
			out[3].push({ json: d as IDataObject, pairedItem });
			continue;
		}
		const conflict = d.conflict as { status?: string } | undefined;
		const seeds = (d.target as { action?: string } | undefined)?.action === 'upsert';
		const output =
			conflict?.status === 'unresolved'
				? 1
				: d.decision !== 'unchanged' || (seeds && seedBase)
					? 0
					: 2;
		out[output].push({ json: d as IDataObject, pairedItem });
	}
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

interface PlanRow extends JsonObject {
	decision_index: number;
}

function plan(ctx: IExecuteFunctions, config: JsonObject): INodeExecutionData[][] {
	const items = ctx.getInputData();
	const response = callCore({ op: 'plan', decisions: items.map((i) => i.json), config });
	ensureOk(ctx, response);
	const batches = response.batches as PlanRow[][];
	const remote = response.remote as PlanRow[];
	const errors = response.errors as ItemResult[];

	const failed: INodeExecutionData[] = errors.map((e) =>
		itemError(ctx, e.error as CoreError, e.index, { item: e.index }),
	);
	// Each remote request travels with the batch that holds its decision's staging row.
	const batchOf = new Map<number, number>();
	batches.forEach((rows, k) => rows.forEach((row) => batchOf.set(row.decision_index, k)));
	const remoteByBatch: PlanRow[][] = batches.map(() => []);
	const orphans: PlanRow[] = [];
	for (const op of remote) {
		const k = batchOf.get(op.decision_index);
		if (k === undefined) orphans.push(op);
		else remoteByBatch[k].push(op);
	}
	const toItem = (k: number, rows: PlanRow[], ops: PlanRow[]): INodeExecutionData => {
		const indexes = [...new Set([...rows, ...ops].map((r) => r.decision_index))];
		return {
			json: { batch: k, rows, remote: ops } as unknown as IDataObject,
			pairedItem: indexes.map((item) => ({ item })),
		};
	};
	const out = batches.map((rows, k) => toItem(k, rows, remoteByBatch[k]));
	if (orphans.length > 0) out.push(toItem(batches.length, [], orphans));
	const untouched = (response.untouched as number[]).map((i) => ({
		json: items[i].json,
		pairedItem: { item: i },
	}));
	return [[...out, ...failed], untouched];
}
