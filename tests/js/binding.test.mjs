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

// Strings are scanned a block at a time (16 bytes with SIMD in the module, 8 natively): a quote,
// backslash escape, control-character escape, character above ASCII or byte that is not UTF-8
// at every offset of strings around those block sizes must read as it does natively, and each
// string's canonical form is what JSON.stringify writes for it (RFC 8785 §3.2.2.2).
test('strings read the same at every offset of a block, in the module and natively', () => {
  const specials = ['\\"', '\\\\', '\\u0001', '\\n', 'é', '😀', '\\u00e9', '\\ud83d\\ude00'];
  const strings = [];
  for (let len = 0; len <= 40; len++) {
    for (let at = 0; at <= len; at++) {
      for (const s of specials) strings.push(`${'a'.repeat(at)}${s}${'b'.repeat(len - at)}`);
    }
  }
  const canon = `{"op":"canonicalize","value":[${strings.map((s) => `"${s}"`).join(',')}]}`;
  const records = strings.map((s, i) => `{"id":${i},"s":"${s}","t":{"k":"${s}"}}`).join(',');
  const classify = `{"op":"classify","config":{"lean_unchanged":true,"seed_base":false},"local":[${records}],"remote":[${records}]}`;
  for (const text of [canon, classify]) {
    const got = core.callBytes(new TextEncoder().encode(text));
    assert.equal(got, nativeCall(text));
    assert.equal(JSON.parse(got).ok, true, got.slice(0, 200));
  }
  const values = JSON.parse(core.callBytes(new TextEncoder().encode(canon))).canonical;
  assert.equal(values, JSON.stringify(JSON.parse(canon).value));
  // A byte that is not UTF-8 inside a long string, at every offset: the same error, same place.
  for (let at = 0; at <= 40; at++) {
    const head = new TextEncoder().encode(`{"op":"classify","local":[{"id":1,"s":"${'x'.repeat(at)}`);
    const tail = new TextEncoder().encode(`${'y'.repeat(40 - at)}"}],"remote":[]}`);
    const bytes = Uint8Array.from([...head, 0xff, ...tail]);
    const got = core.callBytes(bytes);
    assert.equal(JSON.parse(got).ok, false, got);
    assert.equal(got, nativeCallBytes(bytes), `offset ${at}`);
  }
});

function nativeCallBytes(bytes) {
  try {
    return execFileSync(native, ['call'], { input: Buffer.from(bytes) }).toString('utf8');
  } catch (e) {
    if (e.status === 1) return e.stdout.toString('utf8');
    throw e;
  }
}
