// The node's execute() with realistic items, through n8n's real n8n-workflow types, with the
// IExecuteFunctions context mocked the way n8n's own node tests do (getInputData,
// getNodeParameter, getNode, continueOnFail). Runs against the built dist/ (npm run build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { BatchSync } = require('../dist/nodes/BatchSync/BatchSync.node.js');
const { NodeOperationError, Workflow, NodeHelpers } = require('n8n-workflow');

const node = new BatchSync();

/** Parameters as n8n stores them; getNodeParameter falls back to the description's defaults
 * the way n8n does, so a test sets only what a user would set. */
function context({ inputs, params = {}, continueOnFail = false, version = 1 }) {
	const defaults = Object.fromEntries(node.description.properties.map((p) => [p.name, p.default]));
	const all = { ...defaults, ...params };
	const frozen = inputs.map((items) => items && deepFreeze(items));
	return {
		getInputData(index = 0) {
			if (index >= frozen.length || frozen[index] === null) throw new Error('Input index was not set');
			return frozen[index];
		},
		getNodeParameter(name, _itemIndex, fallback) {
			const value = name.split('.').reduce((v, k) => (v == null ? undefined : v[k]), all);
			return value === undefined ? fallback : value;
		},
		getNode: () => ({ id: '1', name: 'Batch Sync', type: 'n8n-nodes-batch-sync.batchSync', typeVersion: version, position: [0, 0], parameters: all }),
		continueOnFail: () => continueOnFail,
	};
}

/** Inputs are never mutated: every test freezes them, so a write would throw. */
function deepFreeze(v) {
	if (v && typeof v === 'object') {
		Object.values(v).forEach(deepFreeze);
		Object.freeze(v);
	}
	return v;
}

const items = (records) => records.map((json) => ({ json }));
const run = (ctx) => node.execute.call(ctx);

// An independent oracle for checksums of plain records (ASCII keys, integers, strings): RFC 8785
// reduces to sorted keys and JSON.stringify there.
function canon(v) {
	if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
	if (v && typeof v === 'object') {
		return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
	}
	return JSON.stringify(v);
}
const sha256 = (v) => createHash('sha256').update(canon(v)).digest('hex');

// ---------- realistic records: FLRTS tasks (local) and OpenProject work packages (remote) ----------
const task = (id, title, status, extra = {}) => ({ id, title, status, notes: `Notes for ${title}`, ...extra });
const wp = (id, subject, status, lockVersion, extra = {}) => ({
	_type: 'WorkPackage',
	id,
	lockVersion,
	subject,
	description: { format: 'markdown', raw: `Notes for ${subject}`, html: `<p>Notes for ${subject}</p>` },
	updatedAt: '2026-11-20T10:00:00Z',
	_links: {
		self: { href: `/api/v3/work_packages/${id}`, title: subject },
		status: { href: status === 'New' ? '/api/v3/statuses/1' : '/api/v3/statuses/7', title: status },
	},
	...extra,
});
const mapping = {
	values: [
		{ local: 'title', remote: 'subject', transform: 'none' },
		{ local: 'status', remote: '_links.status', transform: 'link_title' },
		{ local: 'notes', remote: 'description', transform: 'formattable' },
	],
};
// The mirror table row of the last sync: the common shape (local field names).
const mirror = (id, title, status, lockVersion) => ({
	external_id: id,
	data: { title, status, notes: `Notes for ${title}` },
	lock_version: lockVersion,
});
const compareParams = {
	operation: 'compare',
	mapping,
	base: { idField: 'external_id', snapshotField: 'data', versionField: 'lock_version', checksumField: '' },
};

test('Compute Checksum adds the canonical SHA-256 of each item, without touching the inputs', async () => {
	const records = [
		{ id: 1, subject: 'Develop API', lockVersion: 3, tags: ['a', 'b'] },
		{ lockVersion: 9, tags: ['a', 'b'], subject: 'Develop API', id: 2 },
		{ id: 3, subject: 'Other', nested: { z: 1, a: 'x' } },
	];
	const [out] = await run(context({ inputs: [items(records)], params: { operation: 'checksum', checksumField: 'hash' } }));
	assert.equal(out.length, 3);
	// id and lockVersion are left out of the view by default: equal content, equal checksum.
	assert.equal(out[0].json.hash, sha256({ subject: 'Develop API', tags: ['a', 'b'] }));
	assert.equal(out[1].json.hash, out[0].json.hash);
	assert.equal(out[2].json.hash, sha256({ subject: 'Other', nested: { z: 1, a: 'x' } }));
	assert.deepEqual(out.map((o) => o.pairedItem), [{ item: 0 }, { item: 1 }, { item: 2 }]);
	assert.deepEqual({ ...out[2].json, hash: undefined }, { ...records[2], hash: undefined });
});

test('Compute Checksum: include / exclude with dot paths', async () => {
	const rec = { id: 1, subject: 'S', status: { title: 'New', href: '/x' }, extra: 5 };
	const [inc] = await run(context({ inputs: [items([rec])], params: { operation: 'checksum', fieldSelection: 'include', fields: 'subject, status.title' } }));
	assert.equal(inc[0].json.checksum, sha256({ subject: 'S', status: { title: 'New' } }));
	const [exc] = await run(context({ inputs: [items([rec])], params: { operation: 'checksum', fieldSelection: 'exclude', fields: 'extra,status.href' } }));
	assert.equal(exc[0].json.checksum, sha256({ subject: 'S', status: { title: 'New' } }));
});

test('Compute Checksum: a bad item stops the node with its index and JSON path, or goes out with its error', async () => {
	const records = [{ id: 1, s: 'ok' }, { id: 2, s: 'bad \ud800 surrogate' }, { id: 3, s: 'ok too' }];
	await assert.rejects(run(context({ inputs: [items(records)], params: { operation: 'checksum' } })), (e) => {
		assert.ok(e instanceof NodeOperationError);
		assert.equal(e.context.itemIndex, 1);
		assert.match(e.description, /item 1, at \/s \(error code lone_surrogate\)/);
		return true;
	});
	const [out] = await run(context({ inputs: [items(records)], params: { operation: 'checksum' }, continueOnFail: true }));
	assert.equal(out.length, 3);
	assert.equal(out[1].json.error.code, 'lone_surrogate');
	assert.equal(out[1].json.error.path, '/records/1/s');
	assert.deepEqual(out[1].pairedItem, { item: 1 });
	assert.equal(out[2].json.checksum, sha256({ s: 'ok too' }));
});

/** A sync batch with every decision the workflow meets. */
function scenario() {
	const local = [
		task(1, 'Same', 'New'), // unchanged (base equal)
		task(2, 'Edited locally', 'New', { notes: 'Notes for Original' }), // update_remote
		task(3, 'Old title', 'New'), // update_local (remote changed)
		task(4, 'New task', 'New'), // create_remote
		task(5, 'Both: local title', 'New'), // concurrent, different fields: merged
		task(6, 'Local version', 'New'), // concurrent, same field: unresolved
		task(7, 'Dup A', 'New'), // duplicate id: invalid
		task(7, 'Dup B', 'New'),
		task(9, 'Converged', 'Closed'), // converged
	];
	const remote = [
		wp(1, 'Same', 'New', 4),
		wp(2, 'Original', 'New', 2),
		wp(3, 'Old title', 'Closed', 6),
		wp(5, 'Original five', 'Closed', 8),
		wp(6, 'Remote version', 'New', 3),
		wp(8, 'Created in OpenProject', 'New', 1), // create_local
		wp(7, 'Remote seven', 'New', 1),
		wp(9, 'Converged', 'Closed', 2),
	];
	const base = [
		mirror(1, 'Same', 'New', 4),
		mirror(2, 'Original', 'New', 2),
		mirror(3, 'Old title', 'New', 5),
		mirror(5, 'Original five', 'New', 7),
		mirror(6, 'Original six', 'New', 2),
		mirror(9, 'Converging', 'New', 1),
	];
	return { local, remote, base };
}

test('Compare routes each record to exactly one output, with decisions, checksums, merges and patches', async () => {
	const { local, remote, base } = scenario();
	const outs = await run(context({ inputs: [items(local), items(remote), items(base)], params: compareParams, continueOnFail: true }));
	assert.equal(outs.length, 5);
	const [changes, conflicts, unchanged, invalid, summaryOut] = outs;
	// The Summary output: the core's counts, which agree with what went through each output.
	assert.equal(summaryOut.length, 1);
	const summary = summaryOut[0].json.summary;
	assert.equal(summary.total, changes.length + conflicts.length + unchanged.length + invalid.length);
	assert.equal(summary.invalid, invalid.length);
	assert.equal(summary.unchanged, unchanged.length);
	assert.equal(summary.conflicts_unresolved, conflicts.length);
	const byId = (list) => Object.fromEntries(list.map((o) => [o.json.id, o.json]));
	const c = byId(changes);
	assert.deepEqual(Object.keys(c).sort(), ['2', '3', '4', '5', '8', '9']);
	assert.equal(c['2'].decision, 'update_remote');
	assert.deepEqual(c['2'].remote.patch, { subject: 'Edited locally', lockVersion: 2 });
	assert.equal(c['3'].decision, 'update_local');
	assert.deepEqual(c['3'].local.patch, { status: 'Closed' });
	assert.equal(c['4'].decision, 'create_remote');
	assert.equal(c['4'].remote.action, 'create');
	assert.equal(c['8'].decision, 'create_local');
	assert.deepEqual(c['8'].local.record, { id: 8, title: 'Created in OpenProject', status: 'New', notes: 'Notes for Created in OpenProject' });
	assert.equal(c['9'].decision, 'converged');
	// Different fields edited on both sides: merged, both patches ready.
	assert.equal(c['5'].decision, 'conflict');
	assert.equal(c['5'].conflict.status, 'resolved');
	assert.deepEqual(c['5'].target.record, { title: 'Both: local title', status: 'Closed', notes: 'Notes for Both: local title' });
	assert.deepEqual(c['5'].remote.patch.lockVersion, 8);
	assert.equal(c['5'].remote.patch.subject, 'Both: local title');
	assert.deepEqual(c['5'].local.patch, { status: 'Closed' });
	// Checksums through the mapping: equal content has equal checksums on both sides.
	const u = byId(unchanged);
	assert.deepEqual(Object.keys(u), ['1']);
	assert.equal(u['1'].local.checksum, u['1'].remote.checksum);
	assert.equal(u['1'].local.checksum, sha256(base[0].data));
	// The same field edited on both sides stays for a person.
	const k = byId(conflicts);
	assert.deepEqual(Object.keys(k), ['6']);
	assert.equal(k['6'].conflict.type, 'concurrent_modification');
	assert.deepEqual(k['6'].conflicts.map((x) => [x.path, x.base, x.local, x.remote]), [
		['/notes', 'Notes for Original six', 'Notes for Local version', 'Notes for Remote version'],
		['/title', 'Original six', 'Local version', 'Remote version'],
	]);
	// Duplicate local ids: every record of id 7 (the remote partner too) is invalid, with its error.
	assert.ok(invalid.length >= 2);
	assert.ok(invalid.every((o) => o.json.decision === 'invalid' && o.json.error.code && o.json.error.path));
	assert.ok(invalid.some((o) => o.json.error.code === 'duplicate_id'));

	// Every input item leaves through exactly one output (pairedItem back to it).
	const seen = new Map();
	for (const o of outs.slice(0, 4).flat()) {
		for (const p of o.pairedItem) {
			const key = `${p.input}:${p.item}`;
			seen.set(key, (seen.get(key) ?? 0) + 1);
		}
	}
	const expected = [...local.map((_, i) => `0:${i}`), ...remote.map((_, i) => `1:${i}`), ...base.map((_, i) => `2:${i}`)];
	assert.deepEqual([...seen.keys()].sort(), expected.sort());
	assert.ok([...seen.values()].every((n) => n === 1), 'an item left through two outputs');
});

test('Compare without continueOnFail stops at an invalid record, naming the input, item and path', async () => {
	const { local, remote, base } = scenario();
	await assert.rejects(run(context({ inputs: [items(local), items(remote), items(base)], params: compareParams })), (e) => {
		assert.ok(e instanceof NodeOperationError);
		assert.equal(e.context.itemIndex, 6);
		assert.match(e.description, /^Local input, item 6 \(error code duplicate_id\)/);
		return true;
	});
});

test('Compare with the Base input unconnected: no base, new pairs to Unchanged or (seeding) to Changes', async () => {
	const local = [task(1, 'A', 'New'), task(2, 'B', 'New')];
	const remote = [wp(1, 'A', 'New', 1), wp(2, 'B2', 'New', 1)];
	const ctx = (seedBase) => context({ inputs: [items(local), items(remote)], params: { ...compareParams, seedBase } });
	const [changes, conflicts, unchanged] = await run(ctx(false));
	assert.deepEqual(unchanged.map((o) => o.json.id), ['1']);
	// Not seeding: no target record is built for it (the lean unchanged decision).
	assert.deepEqual(unchanged[0].json.target, { action: 'none' });
	assert.equal(changes.length, 0);
	// No base and nothing to tell the sides apart (no local version or timestamp): a conflict the
	// merge strategy cannot resolve without a base.
	assert.deepEqual(conflicts.map((o) => [o.json.id, o.json.conflict.type]), [['2', 'concurrent_modification']]);
	const [changes2, conflicts2, unchanged2] = await run(ctx(true));
	assert.deepEqual(changes2.map((o) => [o.json.id, o.json.decision]), [['1', 'unchanged']]);
	assert.equal(changes2[0].json.target.action, 'upsert');
	assert.equal(changes2[0].json.target.record.title, 'A');
	assert.deepEqual(conflicts2.map((o) => o.json.id), ['2']);
	assert.equal(unchanged2.length, 0);
});

test('Compare, node version 2: unchanged pairs name no checksum unless asked; version 1 keeps them', async () => {
	const local = [task(1, 'A', 'New'), task(2, 'B', 'New'), task(3, 'C', 'New')];
	const remote = [wp(1, 'A', 'New', 1), wp(2, 'B2', 'New', 1), wp(3, 'C', 'New', 1)];
	const base = [mirror(3, 'C', 'New', 1)];
	const inputs = [items(local), items(remote), items(base)];
	const sums = (o) => [o.json.local.checksum, o.json.remote.checksum, o.json.base?.checksum];
	const [changes, , unchanged] = await run(context({ inputs, params: compareParams, version: 2 }));
	assert.deepEqual(unchanged.map((o) => o.json.id), ['1', '3']);
	for (const o of unchanged) assert.deepEqual(sums(o), [undefined, undefined, undefined], `pair ${o.json.id}`);
	// What identifies the pair and refreshes its base stays: indexes, versions, the base's index.
	assert.equal(unchanged[1].json.remote.version, 1);
	assert.deepEqual(unchanged[1].json.base, { index: 0, version: 1 });
	assert.equal(unchanged[0].json.local.index, 0);
	// A pair that writes something names its checksums as before.
	assert.deepEqual(changes.map((o) => o.json.id), []);
	const [, conflicts] = await run(context({ inputs, params: compareParams, version: 2 }));
	assert.match(conflicts[0].json.local.checksum, /^[0-9a-f]{64}$/);
	const [, , asked] = await run(context({ inputs, params: { ...compareParams, unchangedChecksums: true }, version: 2 }));
	const [, , v1] = await run(context({ inputs, params: compareParams, version: 1 }));
	for (const o of [...asked, ...v1]) {
		assert.match(o.json.local.checksum, /^[0-9a-f]{64}$/);
		assert.equal(o.json.local.checksum, o.json.remote.checksum);
	}
	assert.match(v1[1].json.base.checksum, /^[0-9a-f]{64}$/);
	assert.deepEqual(v1.map((o) => o.json.id), ['1', '3']);
});

test('Compare: modes, strategies per field, time zone and advanced configuration reach the core', async () => {
	const local = [{ id: 1, s: 'L', status: 'a', updatedAt: '2026-03-29T02:30:00' }];
	const remote = [{ id: 1, s: 'R', status: 'b', updatedAt: '2026-03-29T00:10:00Z' }];
	const base = [{ id: 1, snapshot: { s: 'B', status: 'B' } }];
	const params = {
		operation: 'compare',
		strategy: 'newest_wins',
		fieldStrategies: { values: [{ field: 'status', strategy: 'server_wins' }] },
		timeZone: 'Europe/Berlin',
	};
	// 02:30 does not exist in Berlin that night (DST gap): read with the offset before the gap,
	// 02:30+01:00 = 01:30Z, later than the remote's 00:10Z: local wins /s, remote wins /status.
	const [changes] = await run(context({ inputs: [items(local), items(remote), items(base)], params }));
	assert.deepEqual(changes[0].json.target.record, { s: 'L', status: 'b' });
	const [recon] = await run(context({ inputs: [items(local), items(remote), items(base)], params: { ...params, mode: 'reconciliation' } }));
	assert.deepEqual(recon[0].json.differences, ['/s', '/status']);
	assert.equal(recon[0].json.local.action, 'none');
	await assert.rejects(run(context({ inputs: [items(local), items(remote)], params: { ...params, timeZone: 'Mars/Olympus' } })), (e) => {
		assert.ok(e instanceof NodeOperationError);
		assert.match(e.description, /invalid_config at \/config\/time_zone/);
		return true;
	});
	await assert.rejects(run(context({ inputs: [items(local), items(remote)], params: { ...params, options: { config: '{"nope": 1}' } } })), /unknown key/);
	await assert.rejects(run(context({ inputs: [items(local), items(remote)], params: { ...params, options: { config: '{oops' } } })), /not valid JSON/);
});

test('Merge: three-way merge per item, patches for both sides, bad items per continueOnFail', async () => {
	const records = [
		{ key: 'a', v: { base: { subject: 'A', status: 'New' }, local: { subject: 'B', status: 'New' }, remote: { subject: 'A', status: 'Closed', lockVersion: 4 } } },
		{ key: 'b', v: { base: { s: 1 }, local: { s: 2 }, remote: { s: 3 } } },
		{ key: 'c', v: { base: { s: 1 }, local: { s: 'bad \ud800' }, remote: { s: 1 } } },
	];
	const params = { operation: 'merge', baseField: 'v.base', localField: 'v.local', remoteField: 'v.remote', outputField: 'result' };
	await assert.rejects(run(context({ inputs: [items(records)], params })), (e) => e.context.itemIndex === 2 && /at \/local\/s \(error code lone_surrogate\)/.test(e.description));
	const [out] = await run(context({ inputs: [items(records)], params, continueOnFail: true }));
	assert.equal(out[0].json.key, 'a');
	assert.equal(out[0].json.result.status, 'clean');
	assert.deepEqual(out[0].json.result.merged, { subject: 'B', status: 'Closed' });
	assert.deepEqual(out[0].json.result.patches, { local: { status: 'Closed' }, remote: { subject: 'B', lockVersion: 4 } });
	assert.equal(out[1].json.result.status, 'unresolved');
	assert.deepEqual(out[1].json.result.conflicts.map((c) => [c.path, c.reason]), [['/s', 'both_modified']]);
	assert.equal(out[2].json.error.code, 'lone_surrogate');
	assert.deepEqual(out.map((o) => o.pairedItem), [{ item: 0 }, { item: 1 }, { item: 2 }]);
	const [clientWins] = await run(context({ inputs: [items(records.slice(1, 2))], params: { ...params, strategy: 'client_wins' } }));
	assert.deepEqual(clientWins[0].json.result.merged, { s: 2 });
});

test('Plan Staging Rows: Compare decisions become batches of staging rows, each with its OpenProject request', async () => {
	const { local, remote, base } = scenario();
	const [changes, , unchanged] = await run(context({ inputs: [items(local), items(remote), items(base)], params: compareParams, continueOnFail: true }));
	const decisions = [...changes, ...unchanged].map((o) => ({ json: o.json }));
	const [batches, untouched] = await run(context({ inputs: [decisions], params: { operation: 'plan', batchSize: 2 } }));
	const rows = batches.flatMap((b) => b.json.rows);
	assert.ok(batches.every((b) => b.json.rows.length <= 2));
	assert.equal(rows.length, changes.length);
	for (const row of rows) {
		assert.deepEqual(Object.keys(row).filter((k) => ['external_id', 'operation', 'data', 'checksum', 'idempotency_key'].includes(k)).sort(), ['checksum', 'data', 'external_id', 'idempotency_key', 'operation']);
		assert.match(row.idempotency_key, /^[0-9a-f]{64}$/);
	}
	// One row per decision that writes; its OpenProject request and lock version are in the row.
	assert.equal(new Set(rows.map((r) => r.decision_index)).size, rows.length);
	const requests = rows.filter((r) => r.remote !== null);
	assert.deepEqual(requests.map((r) => [r.external_id, r.remote.op]).sort(), [['2', 'patch'], ['4', 'create'], ['5', 'patch']]);
	const two = requests.find((r) => r.external_id === '2');
	assert.equal(two.remote.body.lockVersion, 2);
	assert.equal(two.remote.lock_version, 2);
	assert.equal(two.remote_version, 2);
	// The unchanged pair is untouched; every decision is paired exactly once.
	assert.deepEqual(untouched.map((o) => o.json.id), ['1']);
	const paired = [...batches, ...untouched].flatMap((o) => [o.pairedItem].flat().map((p) => p.item)).sort((a, b) => a - b);
	assert.deepEqual(paired, decisions.map((_, i) => i));
	// A decision that did not come from Compare is rejected with its path.
	const bad = [...decisions, { json: { id: 'x', decision: 'update_local' } }];
	await assert.rejects(run(context({ inputs: [bad], params: { operation: 'plan' } })), (e) => e.context.itemIndex === decisions.length && /local\/action/.test(e.description));
	const [withErr] = await run(context({ inputs: [bad], params: { operation: 'plan' }, continueOnFail: true }));
	assert.equal(withErr.at(-1).json.error.code, 'invalid_decision');
	assert.deepEqual(withErr.at(-1).pairedItem, { item: decisions.length });
});

test('inputs and outputs per operation, as n8n evaluates the description', () => {
	const nodeTypes = { getByName: () => node, getByNameAndVersion: () => node, getKnownTypes: () => ({}) };
	const shape = (operation) => {
		const n = { id: '1', name: 'Batch Sync', type: 'n8n-nodes-batch-sync.batchSync', typeVersion: 1, position: [0, 0], parameters: { operation } };
		const wf = new Workflow({ nodes: [n], connections: {}, active: false, nodeTypes });
		const names = (list) => list.map((c) => c.displayName ?? c);
		return [names(NodeHelpers.getNodeInputs(wf, n, node.description)), names(NodeHelpers.getNodeOutputs(wf, n, node.description))];
	};
	assert.deepEqual(shape('compare'), [['Local', 'Remote', 'Base'], ['Changes', 'Conflicts', 'Unchanged', 'Invalid', 'Summary']]);
	assert.deepEqual(shape('plan'), [['main'], ['Batches', 'Untouched']]);
	assert.deepEqual(shape('checksum'), [['main'], ['main']]);
	assert.deepEqual(shape('merge'), [['main'], ['main']]);
});
