// The module alone, A/B: the same classify request, as the n8n node's Compare sends it (two-way:
// lean unchanged decisions, no seeding; three-way: the base first), answered by builds of pkg/
// loaded side by side in one process, called in turn. The time is `callBytes` (the request's
// bytes copied in, the answer decoded to a string); medians of the runs after the first.
// Workload: benches/n8n/workload.mjs (Compare's benchmark inside n8n).
//
//   node --max-old-space-size=8000 benches/js/module-ab.mjs N [--three-way] [--runs=7] [PKG_DIR ...]
//
// PKG_DIR defaults to this checkout's pkg/ (bash scripts/build-pkg.sh); pass another checkout's
// pkg/ to compare builds.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { records } from '../n8n/workload.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 100000);
const threeWay = args.includes('--three-way');
const runs = Number(args.find((a) => a.startsWith('--runs='))?.split('=')[1] ?? 7);
const dirs = args.filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
if (dirs.length === 0) dirs.push(path.join(root, 'pkg'));

const config = { local_id_field: '/id', remote_id_field: '/id', mode: 'incremental', seed_base: false, lean_unchanged: true, time_zone: 'UTC' };
const request = { op: 'classify', config };
if (threeWay) request.base = records(n, 'base');
request.local = records(n, 'local');
request.remote = records(n, 'remote');
const bytes = new TextEncoder().encode(JSON.stringify(request));

const require = createRequire(import.meta.url);
const builds = dirs.map((d) => ({ dir: d, core: require(path.resolve(d, 'batch_sync.js')), ms: [], answer: null }));
for (let r = 0; r < runs; r++) {
  for (const b of builds) {
    const t = process.hrtime.bigint();
    const answer = b.core.callBytes(bytes);
    b.ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    b.answer ??= answer;
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const base = median(builds[0].ms.slice(1));
console.log(`${n} pairs, ${threeWay ? 'three' : 'two'}-way, request ${(bytes.length / 1e6).toFixed(1)} MB, ${runs} runs each`);
for (const b of builds) {
  const m = median(b.ms.slice(1));
  const same = b.answer === builds[0].answer ? 'same answer' : 'ANSWER DIFFERS from the first build';
  console.log(`  ${b.dir}: median ${m.toFixed(0)} ms (${(m / base).toFixed(2)}x the first), runs ${b.ms.map((x) => x.toFixed(0)).join(' ')}; ${same}`);
}
