// Where a Compare's time goes in plain Node: the n8n node package's `callCore` (its only door to
// the core) on the two-way Compare workload, with each part timed — the module's call, the
// UTF-8 encoding of the request into the module's memory, `JSON.parse` of the answer, and the
// rest (mostly `JSON.stringify` of the records) — against the plain-JS baseline a user would
// write (SHA-256 of JSON.stringify per record and a Map join), in the same process, in turn.
// Workload: benches/n8n/workload.mjs. Needs the built node package (bash scripts/test.sh, or
// build-pkg + embed-wasm + npm run build in n8n-node/).
//
//   node benches/js/compare-parts.mjs [N] [--rounds=4]
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { records } from '../n8n/workload.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 100000);
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 4);
const require = createRequire(import.meta.url);
const dist = path.join(root, 'n8n-node/dist/nodes/BatchSync');
const generated = require(path.join(dist, 'generated/batch_sync.js'));
const { callCore } = require(path.join(dist, 'core.js'));

const local = records(n, 'local');
const remote = records(n, 'remote');
const config = { local_id_field: '/id', remote_id_field: '/id', mode: 'incremental', seed_base: false, lean_unchanged: true, time_zone: 'UTC' };
const now = () => Number(process.hrtime.bigint()) / 1e6;

// Timers around the parts (this script's process only).
const parts = { module: 0, parse: 0, encode: 0 };
const timed = (owner, name, part) => {
  const original = owner[name];
  owner[name] = function (...a) {
    const t = now();
    try {
      return original.apply(this, a);
    } finally {
      parts[part] += now() - t;
    }
  };
};
timed(generated.RequestWriter.prototype, 'call', 'module');
timed(JSON, 'parse', 'parse');
timed(TextEncoder.prototype, 'encodeInto', 'encode');

function plain() {
  const hash = (o) => createHash('sha256').update(JSON.stringify(o)).digest('hex');
  const byId = new Map();
  for (const r of remote) byId.set(r.id, hash(r));
  const out = [];
  for (const l of local) {
    const rh = byId.get(l.id);
    out.push({ id: l.id, status: rh === undefined ? 'local_only' : rh === hash(l) ? 'same' : 'different' });
    byId.delete(l.id);
  }
  return out.length;
}

console.log(`${n} pairs, two-way; round 1 is the first call of this process`);
for (let r = 1; r <= rounds; r++) {
  for (const k of Object.keys(parts)) parts[k] = 0;
  let t = now();
  const decisions = callCore({ op: 'classify', config, local, remote }).decisions.length;
  const ours = now() - t;
  t = now();
  plain();
  const baseline = now() - t;
  const rest = ours - parts.module - parts.parse - parts.encode;
  console.log(`round ${r}: Compare ${ours.toFixed(0)} ms (module ${parts.module.toFixed(0)}, encodeInto ${parts.encode.toFixed(0)}, JSON.parse ${parts.parse.toFixed(0)}, rest ${rest.toFixed(0)}; ${decisions} decisions) | plain JS ${baseline.toFixed(0)} ms | ratio ${(ours / baseline).toFixed(2)}`);
}
