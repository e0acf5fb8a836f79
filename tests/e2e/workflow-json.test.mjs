// The committed workflow JSON files are what workflows/src/build.mjs writes, and they hold what
// an import needs: the manager's triggers, the page's webhook, our node types, credentials
// referenced by id, SQL with bind parameters only, no joins or summaries computed in expressions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { root } from './harness.mjs';
import { pageWorkflow, SETTINGS, workflow } from '../../workflows/src/build.mjs';

const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
const manager = read('batch-sync-manager.json');
const page = read('batch-sync-page.json');

test('workflows/batch-sync-manager.json and batch-sync-page.json are up to date (node workflows/src/build.mjs)', () => {
	assert.deepEqual(manager, workflow());
	assert.deepEqual(page, pageWorkflow());
});

test('the manager has both triggers and the settings; the page a webhook that answers on receipt', () => {
	const types = manager.nodes.map((n) => n.type);
	assert.ok(types.includes('n8n-nodes-base.scheduleTrigger') && types.includes('n8n-nodes-base.manualTrigger'));
	assert.deepEqual(JSON.parse(manager.nodes.find((n) => n.name === 'Settings').parameters.jsonOutput), SETTINGS);
	const hook = page.nodes.find((n) => n.type === 'n8n-nodes-base.webhook');
	assert.equal(hook.parameters.responseMode, 'onReceived');
	assert.equal(hook.parameters.path, 'batch-sync/page');
	assert.ok(SETTINGS.PAGE_WEBHOOK_URL.endsWith(`/webhook/${hook.parameters.path}`));
	assert.ok(page.nodes.some((n) => n.type === 'n8n-nodes-batch-sync.batchSync'));
	assert.ok(page.nodes.some((n) => n.type === 'n8n-nodes-batch-sync.openProjectSync'));
});

test('only parameterised SQL, credentials by id, nothing of an OpenProject instance outside the settings', () => {
	for (const wf of [manager, page]) {
		for (const n of wf.nodes.filter((n) => n.type === 'n8n-nodes-base.postgres')) {
			const q = n.parameters.query;
			assert.ok(!q.includes('{{'), `${n.name}: no expression inside the SQL text`);
			assert.match(q, /^SELECT \* FROM batch_sync_\w+\(/, `${n.name}: calls a function of workflows/sql/sync.sql`);
			assert.ok(n.credentials?.postgres?.id, `${n.name}: credential by id`);
		}
		for (const n of wf.nodes.filter((n) => n.type === 'n8n-nodes-batch-sync.openProjectSync')) {
			assert.match(n.parameters.projectId, /settings\.OPENPROJECT_PROJECT_ID/, `${n.name}: the project from the settings`);
		}
		const text = JSON.stringify(wf.nodes.map((n) => n.parameters));
		assert.ok(!/\.find\(|\.filter\(/.test(text), `${wf.name}: no joins in expressions`);
		assert.equal(wf.settings.executionOrder, 'v1');
	}
});
