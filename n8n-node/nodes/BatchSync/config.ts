// Translates the node's parameters into the core's configuration object (JSON contract v1).
// Field names are given in n8n's dot notation; the core takes JSON Pointers.
import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { JsonObject } from './core';

/** `status.title` -> `/status/title`; a value that already starts with `/` is a JSON Pointer. */
export function toPointer(path: string): string {
	const p = path.trim();
	if (p.startsWith('/')) return p;
	return p
		.split('.')
		.map((s) => '/' + s.replace(/~/g, '~0').replace(/\//g, '~1'))
		.join('');
}

/** Reads a dot-notation path (or a JSON Pointer) from an item without copying it. */
export function readPath(value: unknown, path: string): unknown {
	let cur = value;
	for (const raw of toPointer(path).split('/').slice(1)) {
		const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
		if (cur === null || typeof cur !== 'object') return undefined;
		cur = (cur as IDataObject)[key];
	}
	return cur;
}

function fieldList(text: string): string[] {
	return text
		.split(',')
		.map((s) => s.trim())
		.filter((s) => s !== '')
		.map(toPointer);
}

function optionalPointer(name: string): string | null {
	return name.trim() === '' ? null : toPointer(name);
}

/** The configuration shared by every operation, read once (from the first item's context). */
export function buildConfig(ctx: IExecuteFunctions, operation: string): JsonObject {
	const config: JsonObject = {};
	const options = ctx.getNodeParameter('options', 0, {}) as IDataObject;

	if (operation === 'checksum' || operation === 'compare') {
		const selection = ctx.getNodeParameter('fieldSelection', 0, 'all') as string;
		if (selection !== 'all') {
			config[selection] = fieldList(ctx.getNodeParameter('fields', 0, '') as string);
		}
	}
	if (options.idField !== undefined) config.id_field = toPointer(options.idField as string);
	if (options.versionField !== undefined) {
		config.version_field = optionalPointer(options.versionField as string);
	}
	if (options.updatedAtField !== undefined) {
		config.updated_at_field = optionalPointer(options.updatedAtField as string);
	}
	if (options.deletedField) config.deleted_field = toPointer(options.deletedField as string);

	if (operation === 'compare') {
		config.local_id_field = toPointer(ctx.getNodeParameter('localIdField', 0, 'id') as string);
		config.remote_id_field = toPointer(ctx.getNodeParameter('remoteIdField', 0, 'id') as string);
		const mode = ctx.getNodeParameter('mode', 0, 'incremental') as string;
		config.mode = mode;
		if (mode === 'full') config.delete_missing = ctx.getNodeParameter('deleteMissing', 0, false);
		// Only when new pairs' bases are stored does the core build their target records.
		config.seed_base = ctx.getNodeParameter('seedBase', 0, false) as boolean;
		// Version 2: unchanged pairs name no checksum unless asked (version 1 always named them).
		if (ctx.getNode().typeVersion >= 2) {
			config.lean_unchanged = !(ctx.getNodeParameter('unchangedChecksums', 0, false) as boolean);
		}
		config.time_zone = ctx.getNodeParameter('timeZone', 0, 'UTC');
		const mapping = (ctx.getNodeParameter('mapping.values', 0, []) as IDataObject[]).map((m) => {
			const entry: JsonObject = {
				local: toPointer(m.local as string),
				remote: toPointer(m.remote as string),
			};
			const transform = (m.transform as string) ?? 'none';
			if (transform === 'link_id') entry.transform = { type: 'link_id', prefix: m.prefix ?? '' };
			else if (transform === 'link_title' && String(m.hrefs ?? '').trim() !== '') {
				let hrefs: unknown = m.hrefs;
				if (typeof hrefs === 'string') {
					try {
						hrefs = JSON.parse(hrefs);
					} catch (error) {
						throw new NodeOperationError(ctx.getNode(), `Field Mapping ${m.local as string}: Links (JSON) is not valid JSON: ${(error as Error).message}`);
					}
				}
				entry.transform = { type: 'link_title', hrefs } as JsonObject;
			} else if (transform === 'formattable') {
				const format = String(m.format ?? 'markdown').trim();
				entry.transform = format === '' ? 'formattable' : { type: 'formattable', format };
			} else if (transform !== 'none') entry.transform = transform;
			const valueType = (m.valueType as string) ?? 'any';
			if (valueType !== 'any') entry.type = valueType;
			return entry;
		});
		if (mapping.length > 0) config.mapping = mapping;
	}
	if (operation === 'compare' || operation === 'merge') {
		const fields = ctx.getNodeParameter('fieldStrategies.values', 0, []) as IDataObject[];
		const byField: JsonObject = {};
		for (const f of fields) byField[toPointer(f.field as string)] = f.strategy;
		const strategy = ctx.getNodeParameter('strategy', 0, 'merge');
		config.strategy = fields.length > 0 ? { default: strategy, fields: byField } : strategy;
	}
	if (operation === 'plan') {
		config.batch_size = ctx.getNodeParameter('batchSize', 0, 50);
		const retry = ctx.getNodeParameter('retry', 0, {}) as IDataObject;
		if (Object.keys(retry).length > 0) config.retry = retry;
	}

	const extra = options.config;
	if (extra !== undefined && extra !== '' && extra !== '{}') {
		let parsed: unknown = extra;
		if (typeof extra === 'string') {
			try {
				parsed = JSON.parse(extra);
			} catch (error) {
				throw new NodeOperationError(
					ctx.getNode(),
					`Advanced Configuration (JSON) is not valid JSON: ${(error as Error).message}`,
				);
			}
		}
		if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
			throw new NodeOperationError(ctx.getNode(), 'Advanced Configuration (JSON) must be an object');
		}
		Object.assign(config, parsed);
	}
	return config;
}
