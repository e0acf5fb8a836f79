// The node's one door to the core (dist/nodes/BatchSync/core.js, callCore): the request written
// into the module piece by piece (members, and runs of records, each stringified and encoded in
// place) answers exactly what the whole JSON.stringify text answers through callBytes, on every
// golden vector and on a large request with the text a real batch holds. Runs against the built
// dist/ (npm run build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { callCore } = require('../dist/nodes/BatchSync/core.js');
const { callBytes } = require('../dist/nodes/BatchSync/generated/batch_sync.js');

/** The whole JSON.stringify text through callBytes, with op, contract and config first as
 * callCore writes them (error messages name byte offsets in the text). */
function whole(request) {
	const first = Object.fromEntries(['op', 'contract', 'config', 'base'].filter((k) => k in request).map((k) => [k, request[k]]));
	return JSON.parse(callBytes(new TextEncoder().encode(JSON.stringify({ ...first, ...request }))));
}

test('every golden vector given as an object: callCore answers as the whole text does', () => {
	let n = 0;
	for (const f of readdirSync(path.join(root, 'tests/vectors')).filter((f) => f.endsWith('.json'))) {
		for (const v of JSON.parse(readFileSync(path.join(root, 'tests/vectors', f), 'utf8'))) {
			if (v.request === undefined) continue; // raw-text vectors have no object form
			assert.deepEqual(callCore(v.request), whole(v.request), `${f} / ${v.name}`);
			assert.deepEqual(callCore(v.request), v.response, `${f} / ${v.name}: expected response`);
			n++;
		}
	}
	assert.ok(n >= 20, `vectors run: ${n}`);
});

/** A work package with text of every kind a batch carries. */
function record(i, edited) {
	return {
		id: i,
		lockVersion: 3,
		subject: `Task ${i}${edited ? ' (edited)' : ''}: Grüße — 😀 “quoted” \\ back\nslash`,
		description: { format: 'markdown', raw: 'x'.repeat(i % 2000), html: '<p>é</p>' },
		note: i % 97 === 0 ? 'lone \ud800 surrogate' : undefined, // stringify escapes it; the core rejects it
		gone: undefined, // left out, as JSON.stringify does
		tags: i % 13 === 0 ? [1, undefined, () => 1] : [], // undefined and functions in arrays are null
		z: 1,
		a: 2,
	};
}

test('a 6 MB classify request in pieces: the same response as the whole text, outcomes asserted', () => {
	const n = 3000;
	const local = Array.from({ length: n }, (_, i) => record(i, i % 10 === 0));
	const remote = Array.from({ length: n }, (_, i) => record(i, false));
	remote.length = n + 2; // two holes at the end: null records, rejected on their own
	const request = { op: 'classify', local, remote, config: { seed_base: false }, extra: undefined };
	assert.ok(JSON.stringify(request).length > 6e6);
	const got = callCore(request);
	assert.deepEqual(got, whole(request));
	assert.equal(got.ok, true);
	const s = got.summary;
	// Every 97th id has a lone surrogate on both sides: invalid (twice each), as are the two nulls.
	const bad = Math.ceil(n / 97);
	assert.equal(s.invalid, 2 * bad + 2);
	// Every 10th local record was edited (without a base: the later version wins, same version: a conflict).
	assert.equal(s.conflict, Math.ceil(n / 10) - local.filter((_, i) => i % 10 === 0 && i % 97 === 0).length);
	assert.equal(s.unchanged, n - bad - s.conflict);
	assert.equal(s.total, s.unchanged + s.conflict + s.invalid);
});

test('a value JSON.stringify cannot write throws as before, and the writer is freed', () => {
	const request = { op: 'checksum', records: [{ id: 1, n: 10n }] };
	assert.throws(() => callCore(request), TypeError);
	assert.throws(() => JSON.stringify(request), TypeError);
	// The module still answers (a leaked writer would not break this; a trapped module would).
	assert.equal(callCore({ op: 'version' }).ok, true);
});
