// The packed node inside the real, pinned n8n: installed as "Install community node" leaves it,
// loaded by n8n itself, run through n8n's CLI (import:workflow, execute) with n8n's own database
// on a throwaway PostgreSQL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { nodeOutputs, packNode, setupN8n, startPostgres } from './harness.mjs';

let pg;
let n8n;

before(async () => {
	const tarball = packNode();
	pg = await startPostgres();
	n8n = await setupN8n({ pg, tarball });
});

after(() => {
	n8n?.stop();
	pg?.stop();
});

const code = (name, records, position) => ({
	id: name,
	name,
	type: 'n8n-nodes-base.code',
	typeVersion: 2,
	position,
	parameters: { jsCode: `return ${JSON.stringify(records)}.map((json) => ({ json }));` },
});
const batchSync = (name, parameters, position) => ({
	id: name,
	name,
	type: 'n8n-nodes-batch-sync.batchSync',
	typeVersion: 1,
	position,
	parameters,
});

const wp = (id, subject, status, lockVersion) => ({
	_type: 'WorkPackage',
	id,
	subject,
	lockVersion,
	_links: { status: { href: `/api/v3/statuses/${status === 'New' ? 1 : 7}`, title: status } },
});

test('n8n loads the package and runs Compare, Plan Staging Rows and Compute Checksum', async () => {
	const local = [
		{ id: 1, title: 'Same', status: 'New' },
		{ id: 2, title: 'Edited locally', status: 'New' },
		{ id: 3, title: 'Local only', status: 'New' },
		{ id: 5, title: 'Dup', status: 'New' },
		{ id: 5, title: 'Dup again', status: 'New' },
	];
	const remote = [wp(1, 'Same', 'New', 1), wp(2, 'Original', 'New', 4), wp(4, 'Remote only', 'Closed', 1)];
	const base = [
		{ external_id: 1, data: { title: 'Same', status: 'New' }, lock_version: 1 },
		{ external_id: 2, data: { title: 'Original', status: 'New' }, lock_version: 4 },
	];
	const workflow = {
		id: 'bsNodeSmoke0001',
		name: 'Batch Sync node smoke test',
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{ id: 'trigger', name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 200], parameters: {} },
			code('Local', local, [250, 0]),
			code('Remote', remote, [250, 200]),
			code('Base', base, [250, 400]),
			{
				...batchSync('Compare', {
					operation: 'compare',
					mapping: {
						values: [
							{ local: 'title', remote: 'subject', transform: 'none' },
							{ local: 'status', remote: '_links.status', transform: 'link_title' },
						],
					},
					base: { idField: 'external_id', snapshotField: 'data', versionField: 'lock_version' },
				}, [500, 200]),
				onError: 'continueRegularOutput',
			},
			batchSync('Plan', { operation: 'plan', batchSize: 2 }, [750, 100]),
			batchSync('Checksum', { operation: 'checksum', checksumField: 'hash' }, [500, 0]),
		],
		connections: {
			Start: { main: [[{ node: 'Local', type: 'main', index: 0 }, { node: 'Remote', type: 'main', index: 0 }, { node: 'Base', type: 'main', index: 0 }]] },
			Local: { main: [[{ node: 'Compare', type: 'main', index: 0 }, { node: 'Checksum', type: 'main', index: 0 }]] },
			Remote: { main: [[{ node: 'Compare', type: 'main', index: 1 }]] },
			Base: { main: [[{ node: 'Compare', type: 'main', index: 2 }]] },
			Compare: { main: [[{ node: 'Plan', type: 'main', index: 0 }]] },
		},
	};
	n8n.importWorkflow([workflow]);
	const result = await n8n.execute(workflow.id);
	assert.equal(result.status ?? result.finished, result.status ? 'success' : true);

	const [changes, conflicts, unchanged, invalid, summary] = nodeOutputs(result, 'Compare');
	assert.deepEqual(summary.map((s) => [s.summary.total, s.summary.invalid, s.summary.create_remote]), [[6, 2, 1]]);
	assert.deepEqual(changes.map((d) => [d.id, d.decision]).sort(), [['2', 'update_remote'], ['3', 'create_remote'], ['4', 'create_local']]);
	assert.deepEqual(changes.find((d) => d.id === '2').remote.patch, { subject: 'Edited locally', lockVersion: 4 });
	assert.deepEqual(conflicts, []);
	assert.deepEqual(unchanged.map((d) => d.id), ['1']);
	assert.deepEqual(invalid.map((d) => [d.id, d.side, d.index, d.error.code]), [['5', 'local', 3, 'duplicate_id'], ['5', 'local', 4, 'duplicate_id']]);

	const [batches, untouched] = nodeOutputs(result, 'Plan');
	assert.deepEqual(batches.map((b) => b.rows.length), [2, 1]);
	assert.deepEqual(batches.flatMap((b) => b.rows.map((r) => [r.external_id, r.operation])).sort(), [['2', 'update'], ['3', 'insert'], ['4', 'insert']]);
	assert.deepEqual(batches.flatMap((b) => b.rows.filter((r) => r.remote).map((r) => [r.external_id, r.remote.op])).sort(), [['2', 'patch'], ['3', 'create']]);
	assert.deepEqual(untouched, []);

	const [checksums] = nodeOutputs(result, 'Checksum');
	assert.equal(checksums.length, local.length);
	assert.ok(checksums.every((c) => /^[0-9a-f]{64}$/.test(c.hash)));
	// Checksums of the Local items agree with Compare's local checksums (same core, same view).
	assert.equal(checksums[1].hash, changes.find((d) => d.id === '2').local.checksum);

	// pairedItem survives n8n's own bookkeeping: Compare's items point back into its inputs.
	const run = result.data.resultData.runData.Compare[0];
	const paired = run.data.main.flat().flatMap((i) => i.pairedItem);
	assert.equal(paired.length, local.length + remote.length + base.length);
});
