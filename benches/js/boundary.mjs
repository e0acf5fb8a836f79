// Crossing the JS/WASM boundary: one JSON string per batch (callJson) vs the same JSON as UTF-8
// bytes (callBytes, what the n8n node uses), on the classify workload of
// benches/data.rs (OpenProject-shaped work packages, 10% changed, 1% conflicting), plus the
// plain-JS baseline a user would write in a Code node (SHA-256 of JSON.stringify and a Map join).
// (The object path, serde-wasm-bindgen value by value, was measured here at 1.9x callJson and
// removed from the module; BENCHMARKS.md keeps its figures.)
// Run: bash scripts/build-pkg.sh && node benches/js/boundary.mjs [N ...]
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const core = createRequire(import.meta.url)(path.join(root, 'pkg/batch_sync.js'));

function wp(i, version, suffix) {
  const d = 1 + (i % 28), s = 1 + (i % 7), a = 100 + (i % 50);
  return {
    _type: 'WorkPackage', id: i, lockVersion: version, subject: `Task ${i} ${suffix}`,
    description: { format: 'markdown', raw: `Work package number ${i}: implement the feature and write the tests.`, html: `<p>Work package number ${i}: implement the feature and write the tests.</p>` },
    scheduleManually: false, startDate: '2026-09-01', dueDate: `2026-09-${String(d).padStart(2, '0')}`, estimatedTime: `PT${1 + (i % 16)}H`,
    percentageDone: (i * 7) % 100, customField1: `FLRTS-${i}`, createdAt: '2026-08-29T12:40:53Z', updatedAt: `2026-11-${String(d).padStart(2, '0')}T12:44:41Z`,
    _links: {
      self: { href: `/api/v3/work_packages/${i}`, title: `Task ${i}` }, type: { href: '/api/v3/types/1', title: 'Task' },
      priority: { href: '/api/v3/priorities/8', title: 'Normal' }, project: { href: '/api/v3/projects/3', title: 'FLRTS' },
      status: { href: `/api/v3/statuses/${s}`, title: `Status ${s}` }, author: { href: '/api/v3/users/1', title: 'OpenProject Admin - admin' },
      responsible: { href: '/api/v3/users/23', title: 'Laron Leishman - Laron' }, assignee: { href: `/api/v3/users/${a}`, title: `User ${a}` },
      version: { href: '/api/v3/versions/1', title: 'Version 1' }, parent: { href: null, title: null },
    },
  };
}

function workload(n) {
  const local = [], remote = [];
  for (let i = 0; i < n; i++) {
    const k = i % 100;
    local.push(wp(i, 3, k === 0 || (k >= 1 && k <= 5) ? 'local edit' : ''));
    remote.push(wp(i, k === 0 || (k >= 6 && k <= 10) ? 4 : 3, k === 0 || (k >= 6 && k <= 10) ? 'remote edit' : ''));
  }
  return { op: 'classify', local, remote };
}

function time(fn) {
  fn(); // warm up
  const runs = [];
  for (let r = 0; r < 3; r++) {
    const t = process.hrtime.bigint();
    fn();
    runs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return runs.sort((a, b) => a - b)[1];
}

const sizes = process.argv.slice(2).map(Number);
for (const n of sizes.length ? sizes : [10000, 100000]) {
  const req = workload(n);
  const json = time(() => JSON.parse(core.callJson(JSON.stringify(req))));
  const encoder = new TextEncoder();
  const obj = time(() => JSON.parse(core.callBytes(encoder.encode(JSON.stringify(req)))));
  // Two-way without seeding (config.seed_base false, what the node sends unless Send New Pairs to
  // Changes is on): unchanged pairs carry no target record and no view of them is built.
  const lean = time(() => JSON.parse(core.callBytes(encoder.encode(JSON.stringify({ ...req, config: { seed_base: false } })))));
  const plain = time(() => {
    const hash = (o) => createHash('sha256').update(JSON.stringify(o)).digest('hex');
    const remote = new Map(req.remote.map((r) => [r.id, hash(r)]));
    let changed = 0;
    for (const l of req.local) if (remote.get(l.id) !== hash(l)) changed++;
    return changed;
  });
  console.log(`N=${n}: callJson ${json.toFixed(0)} ms | callBytes ${obj.toFixed(0)} ms (${(obj / json).toFixed(2)}x callJson) | callBytes, seed_base false ${lean.toFixed(0)} ms (${(lean / obj).toFixed(2)}x callBytes) | plain JS baseline (no canonical form) ${plain.toFixed(0)} ms (callBytes ${(obj / plain).toFixed(2)}x of it, seed_base false ${(lean / plain).toFixed(2)}x)`);
}
