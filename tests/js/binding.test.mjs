// The wasm-bindgen module (pkg/) under Node: every golden vector gives the same bytes as the
// native CLI, errors become JS Errors with code and path, and hostile input never throws.
// Build first: bash scripts/build-pkg.sh && cargo build --release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const pkgMain = path.join(root, 'pkg/batch_sync.js');
const native = path.join(root, 'target/release/batch-sync');
for (const [p, how] of [[pkgMain, 'bash scripts/build-pkg.sh'], [native, 'cargo build --release']]) {
  if (!existsSync(p)) throw new Error(`${p} is missing: build it with \`${how}\``);
}
const core = require(pkgMain);

function vectors() {
  const dir = path.join(root, 'tests/vectors');
  const out = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    for (const v of JSON.parse(readFileSync(path.join(dir, f), 'utf8'))) {
      out.push({ file: f, name: v.name, text: v.request_text ?? JSON.stringify(v.request), response: v.response, raw: v.request_text !== undefined });
    }
  }
  assert.ok(out.length >= 20, `vectors found: ${out.length}`);
  return out;
}

function nativeCall(text) {
  try {
    return execFileSync(native, ['call'], { input: text }).toString('utf8');
  } catch (e) {
    if (e.status === 1) return e.stdout.toString('utf8'); // input rejected: the JSON error is on stdout
    throw e;
  }
}

test('every golden vector: byte-identical to the native CLI, equal to the expected response', () => {
  for (const v of vectors()) {
    const got = core.callJson(v.text);
    assert.equal(got, nativeCall(v.text), `${v.file} / ${v.name}: Node and native differ`);
    assert.deepEqual(JSON.parse(got), v.response, `${v.file} / ${v.name}`);
    // The n8n node's path: the same request as UTF-8 bytes.
    assert.equal(core.callBytes(new TextEncoder().encode(v.text)), got, `${v.file} / ${v.name}: callBytes differs`);
  }
});

test('callBytes rejects invalid UTF-8 with a code instead of throwing', () => {
  const out = JSON.parse(core.callBytes(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])));
  assert.equal(out.ok, false);
  assert.equal(out.error.code, 'invalid_utf8');
});

test('a rejected request is a response with its code and path, never a throw', () => {
  const out = JSON.parse(core.callJson(JSON.stringify({ op: 'canonicalize', value: { a: ['x', '\ud800'] } })));
  assert.equal(out.ok, false);
  assert.equal(out.error.code, 'lone_surrogate');
  assert.equal(out.error.path, '/value/a/1');
  assert.equal(JSON.parse(core.callJson('{"op":"nope"}')).error.path, '/op');
});

test('the module exports only the call paths the node uses', () => {
  // (wasm-bindgen's own __wbindgen_* start-up hooks aside.)
  const exported = Object.keys(core).filter((k) => typeof core[k] === 'function' && !k.startsWith('__wbindgen'));
  assert.deepEqual(exported.sort(), ['RequestWriter', 'callBytes', 'callJson', 'contractVersion', 'moduleMemory']);
});

test('hostile input never throws from callJson', () => {
  const cases = [
    '['.repeat(100000),
    '{"op":"canonicalize","value":1e999}',
    '{"op":"canonicalize","value":"' + 'x'.repeat(10 << 20) + '"}',
    '{"op":"classify","local":[{"id":1',
    '',
  ];
  for (const c of cases) {
    const out = JSON.parse(core.callJson(c));
    assert.equal(typeof out.ok, 'boolean');
  }
  assert.equal(JSON.parse(core.callJson(cases[0])).error.code, 'depth_exceeded');
});
