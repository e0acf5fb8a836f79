// The committed workflow JSON is what workflows/src/build.mjs writes, and it holds what an
// import needs: both triggers, our node types, credentials referenced by id, SQL with bind
// parameters only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { root } from './harness.mjs';
import { workflow } from '../../workflows/src/build.mjs';

const committed = JSON.parse(readFileSync(path.join(root, 'workflows/batch-sync-manager.json'), 'utf8'));

test('workflows/batch-sync-manager.json is up to date (node workflows/src/build.mjs)', () => {
	assert.deepEqual(committed, workflow());
});

test('the workflow has both triggers, our nodes, and only parameterised SQL', () => {
	const types = committed.nodes.map((n) => n.type);
	assert.ok(types.includes('n8n-nodes-base.scheduleTrigger') && types.includes('n8n-nodes-base.manualTrigger'));
	assert.ok(types.includes('n8n-nodes-batch-sync.batchSync') && types.includes('n8n-nodes-batch-sync.openProjectSync'));
	for (const n of committed.nodes.filter((n) => n.type === 'n8n-nodes-base.postgres')) {
		const q = n.parameters.query;
		assert.ok(!q.includes('{{'), `${n.name}: no expression inside the SQL text`);
		assert.match(q, /^SELECT \* FROM batch_sync_\w+\(/, `${n.name}: calls a function of workflows/sql/sync.sql`);
		assert.ok(n.credentials?.postgres?.id, `${n.name}: credential by id`);
	}
	assert.equal(committed.settings.executionOrder, 'v1');
});
