// The committed workflow JSON files are what workflows/src/build.mjs writes, and they hold what
// an import needs: the manager's triggers, the page's webhook, our node types, credentials
// referenced by id, SQL with bind parameters only, no joins or summaries computed in expressions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { root } from './harness.mjs';
import { CREDENTIALS, operationsWorkflow, pageWorkflow, SETTINGS, workflow } from '../../workflows/src/build.mjs';

const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
const manager = read('batch-sync-manager.json');
const page = read('batch-sync-page.json');
const operations = read('batch-sync-operations.json');

test('workflows/batch-sync-*.json are up to date (node workflows/src/build.mjs)', () => {
	assert.deepEqual(manager, workflow());
	assert.deepEqual(page, pageWorkflow());
	assert.deepEqual(operations, operationsWorkflow());
});

test('every expression parses: no "}}" inside one (n8n would end it there)', () => {
	for (const wf of [manager, page, operations]) {
		const walk = (v, where) => {
			if (typeof v === 'string' && v.startsWith('={{')) {
				assert.equal(v.indexOf('}}'), v.length - 2, `${wf.name} ${where}: "}}" before the end of the expression`);
			} else if (v && typeof v === 'object') {
				for (const [k, x] of Object.entries(v)) walk(x, `${where}.${k}`);
			}
		};
		for (const n of wf.nodes) walk(n.parameters, n.name);
	}
});

test("`n8n execute` runs the manager from Run Now (n8n starts a CLI run at the first trigger node)", () => {
	const triggers = manager.nodes.filter((n) => /Trigger$|\.webhook$/.test(n.type));
	assert.equal(triggers[0].name, 'Run Now');
	assert.equal(triggers[0].type, 'n8n-nodes-base.manualTrigger');
});

test('the operations workflow serves the endpoints and is the error workflow of the other two', () => {
	const hooks = Object.fromEntries(operations.nodes.filter((n) => n.type === 'n8n-nodes-base.webhook').map((n) => [n.parameters.path, n.parameters.httpMethod]));
	assert.deepEqual(hooks, { 'sync/metrics': 'GET', 'sync/health': 'GET', 'sync/dashboard': 'GET', 'sync/conflicts': 'GET', 'sync/conflicts/resolve': 'POST' });
	// The dashboard is self-contained: nothing loaded from elsewhere (it must work offline).
	const html = operations.nodes.find((n) => n.name === 'Dashboard Page').parameters.assignments.assignments[0].value;
	assert.match(html, /^<!doctype html>/);
	// Its figures go in where the page has its placeholder, with no "<" that could end the element.
	assert.equal(html.split('"__BATCH_SYNC_DATA__"').length, 2);
	assert.match(operations.nodes.find((n) => n.name === 'Answer Dashboard').parameters.responseBody, /replace\('"__BATCH_SYNC_DATA__"', \(\) => .*replaceAll\('<', '\\\\u003c'\)/);
	assert.ok(!/(src|href)=["']?(https?:)?\/\//i.test(html) && !/@import|url\(/i.test(html), 'no external resource');
	assert.ok(operations.nodes.some((n) => n.type === 'n8n-nodes-base.errorTrigger'));
	for (const wf of [manager, page]) assert.equal(wf.settings.errorWorkflow, operations.id, wf.name);
	const run = manager.nodes.find((n) => n.name === 'Run Webhook');
	assert.deepEqual([run.parameters.httpMethod, run.parameters.path, run.parameters.responseMode], ['POST', 'sync/run', 'responseNode']);
	// The e-mail nodes come disabled and without a credential: n8n publishes the workflows
	// as they are; a user who wants e-mail picks a credential and enables them.
	for (const [wf, name] of [[manager, 'E-mail Alert'], [operations, 'E-mail Failure Alert']]) {
		const mail = wf.nodes.find((n) => n.name === name);
		assert.equal(mail.type, 'n8n-nodes-base.emailSend');
		assert.equal(mail.disabled, true);
		assert.equal(mail.credentials, undefined);
	}
	// Every inbound endpoint asks for the operator's Basic Auth (n8n checks it before anything
	// runs), and each goes through the rate check first.
	for (const wf of [manager, operations]) {
		for (const hook of wf.nodes.filter((n) => n.type === 'n8n-nodes-base.webhook')) {
			assert.equal(hook.parameters.authentication, 'basicAuth', `${wf.name}: ${hook.name}`);
			assert.deepEqual(hook.credentials, { httpBasicAuth: CREDENTIALS.operator }, `${wf.name}: ${hook.name}`);
			const next = wf.connections[hook.name].main[0].map((c) => c.node);
			assert.deepEqual(next, [hook.name === 'Run Webhook' ? 'Admit Run Call' : 'Admit Request'], `${wf.name}: ${hook.name}`);
		}
	}
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

test("every setting batch_sync_settings knows is in the README's settings table, and the README and the Settings node name no other", () => {
	const sql = readFileSync(path.join(root, 'workflows/sql/sync.sql'), 'utf8');
	const block = sql.slice(sql.indexOf('defaults jsonb := jsonb_build_object('), sql.indexOf('out jsonb;'));
	const known = new Set([...block.matchAll(/'([A-Z][A-Z0-9_]+)', /g)].map((m) => m[1]));
	const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
	const documented = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
	assert.ok(known.size > 30, `read the defaults: ${[...known]}`);
	assert.deepEqual([...known].filter((k) => !documented.has(k)), [], 'documented in the README');
	assert.deepEqual([...documented].filter((k) => !known.has(k)), [], 'the README documents no unknown setting');
	assert.deepEqual(Object.keys(SETTINGS).filter((k) => !known.has(k)), [], 'the Settings node holds no unknown setting');
});

test('only parameterised SQL, credentials by id, nothing of an OpenProject instance outside the settings', () => {
	for (const wf of [manager, page, operations]) {
		for (const n of wf.nodes.filter((n) => n.type === 'n8n-nodes-base.postgres')) {
			const q = n.parameters.query;
			assert.ok(!q.includes('{{'), `${n.name}: no expression inside the SQL text`);
			assert.match(q, /^SELECT \* FROM batch_sync_\w+\(/, `${n.name}: calls a function of workflows/sql/sync.sql`);
			assert.ok(n.credentials?.postgres?.id, `${n.name}: credential by id`);
		}
		for (const n of wf.nodes.filter((n) => n.type === 'n8n-nodes-batch-sync.openProjectSync' && n.parameters.operation !== 'getReference')) {
			assert.match(n.parameters.projectId, /settings\.OPENPROJECT_PROJECT_ID/, `${n.name}: the project from the settings`);
		}
		// The links of statuses and types come from OpenProject (cached), not from the workflow.
		assert.ok(!/\/api\/v3\/(statuses|types|projects)\/\d/.test(JSON.stringify(wf.nodes)), `${wf.name}: no link of a particular instance`);
		const expressions = [];
		const collect = (v) => (typeof v === 'string' ? v.startsWith('=') && expressions.push(v) : v && typeof v === 'object' && Object.values(v).forEach(collect));
		wf.nodes.forEach((n) => collect(n.parameters));
		assert.ok(!/\.find\(|\.filter\(/.test(expressions.join('\n')), `${wf.name}: no joins in expressions`);
		assert.equal(wf.settings.executionOrder, 'v1');
	}
});
