// The module's memory across calls, in a process of its own (node --test runs each file in one):
// a WASM memory never shrinks, so what a call leaves behind is what the n8n process keeps. The
// same request again must reuse what the first call grew, not grow the memory by as much again
// (it did: a second 100k-pair Compare took the module from 410 to 819 MB). Runs against the
// built dist/ (npm run build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { callCore } = require('../dist/nodes/BatchSync/core.js');
const { moduleMemory } = require('../dist/nodes/BatchSync/generated/batch_sync.js');

const wp = (i, edited) => ({
	_type: 'WorkPackage',
	id: i,
	lockVersion: 3,
	subject: `Task ${i}${edited ? ' (edited)' : ''}`,
	description: { format: 'markdown', raw: `Work package ${i}: `.padEnd(400, 'text '), html: '<p>…</p>' },
	_links: { status: { href: '/api/v3/statuses/1', title: 'New' }, assignee: { href: `/api/v3/users/${i % 50}`, title: `User ${i % 50}` } },
});

test('the same classify request four times: the memory the first call grew is reused, not grown again', () => {
	const n = 20000;
	const local = Array.from({ length: n }, (_, i) => wp(i, i % 10 === 0));
	const remote = Array.from({ length: n }, (_, i) => wp(i, false));
	const sizes = [];
	for (let call = 0; call < 4; call++) {
		const response = callCore({ op: 'classify', config: { seed_base: false, lean_unchanged: true }, local, remote });
		assert.equal(response.ok, true);
		// Without a base the edited local record and its equal-version remote are a conflict.
		assert.equal(response.summary.unchanged, n - n / 10);
		sizes.push(moduleMemory().buffer.byteLength);
	}
	const request = JSON.stringify({ local, remote }).length;
	assert.ok(sizes[0] > request, `the first call grew the memory to hold the request (${sizes[0]} bytes for ${request})`);
	// A little more on the second call is allowed (where the allocator places things), as much
	// again is not; from then on not a byte.
	assert.ok(sizes[1] - sizes[0] <= sizes[0] / 10, `second call grew the memory from ${sizes[0]} to ${sizes[1]} bytes`);
	assert.deepEqual(sizes.slice(2), [sizes[1], sizes[1]], `memory after each call: ${sizes.join(', ')}`);
});
