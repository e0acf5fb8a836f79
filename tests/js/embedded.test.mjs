// The embedded module that the n8n node will ship (n8n-node/nodes/BatchSync/generated/, written by
// n8n-node/scripts/embed-wasm.mjs from pkg/): it obeys n8n's verification rules and gives the
// same bytes as pkg/ on every golden vector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
execFileSync(process.execPath, [path.join(root, 'n8n-node/scripts/embed-wasm.mjs')], { stdio: 'inherit' });
const generated = path.join(root, 'n8n-node/nodes/BatchSync/generated');

test('the generated files use no fs, path, util, __dirname, process or dynamic require', () => {
  for (const f of ['batch_sync.js', 'batch_sync_bytes.js']) {
    const code = readFileSync(path.join(generated, f), 'utf8');
    const requires = [...code.matchAll(/require\(([^)]*)\)/g)].map((m) => m[1]);
    assert.ok(requires.every((r) => /^['"`]\.\/[\w.]+['"`]$/.test(r)), `${f}: ${requires.join(', ')}`);
    for (const word of ['__dirname', '__filename', 'process.', 'globalThis', "require('fs')", 'readFileSync', 'eval(', 'new Function']) {
      assert.ok(!code.includes(word), `${f} contains ${word}`);
    }
    assert.ok((code.match(/[A-Za-z0-9+/]{1000,}/g) ?? []).length <= 1, `${f}: more than one long base64 literal`);
  }
  assert.deepEqual(
    readFileSync(path.join(generated, 'batch_sync.js'), 'utf8').match(/require\([^)]*\)/g),
    ["require('./batch_sync_bytes.js')"],
  );
});

test('the embedded module answers every golden vector with the same bytes as pkg/', () => {
  const embedded = require(path.join(generated, 'batch_sync.js'));
  const pkg = require(path.join(root, 'pkg/batch_sync.js'));
  const dir = path.join(root, 'tests/vectors');
  let n = 0;
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    for (const v of JSON.parse(readFileSync(path.join(dir, f), 'utf8'))) {
      const text = v.request_text ?? JSON.stringify(v.request);
      const got = embedded.callJson(text);
      assert.equal(got, pkg.callJson(text), `${f} / ${v.name}`);
      assert.equal(embedded.callBytes(new TextEncoder().encode(text)), got, `${f} / ${v.name}: callBytes`);
      assert.deepEqual(JSON.parse(got), v.response, `${f} / ${v.name}`);
      n++;
    }
  }
  assert.ok(n >= 40, `vectors run: ${n}`);
});
