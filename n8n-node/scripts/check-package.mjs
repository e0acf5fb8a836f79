// Packs the node the way it is published (`npm pack`), checks the tarball, then runs n8n's own
// verification on it: the ESLint configuration of @n8n/scan-community-package (its
// `analyzePackage`, with @n8n/eslint-plugin-community-nodes and eslint-plugin-n8n-nodes-base's
// node, credential and community rulesets), on the compiled tarball (`**/*.js`, package.json)
// and on the sources (`package.json`, `{nodes,credentials}/**`), exactly the two legs the
// scanner lints. What the scanner does before that, fetching the package and its npm provenance
// from the registry, cannot apply to a package that is not published.
// Prints the tarball's path on success; exits 1 with the findings otherwise.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'batch-sync-pack-'));
const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };

const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
const tarball = path.join(work, packed[0].filename);
const unpacked = path.join(work, 'package');
execFileSync('tar', ['-xzf', tarball, '-C', work]);

const files = packed[0].files.map((f) => f.path).sort();
const pkg = JSON.parse(readFileSync(path.join(unpacked, 'package.json'), 'utf8'));
for (const f of pkg.n8n.nodes.concat(pkg.n8n.credentials)) check(files.includes(f), `tarball lacks ${f}`);
for (const f of ['dist/nodes/BatchSync/generated/batch_sync.js', 'dist/nodes/BatchSync/generated/batch_sync_bytes.js', 'dist/nodes/BatchSync/batchSync.svg', 'dist/nodes/BatchSync/BatchSync.node.json']) {
  check(files.includes(f), `tarball lacks ${f}`);
}
check(files.every((f) => f === 'package.json' || f.startsWith('dist/') || /^(README|LICENSE)/i.test(f)), `tarball holds files outside dist/: ${files.join(', ')}`);
check(!files.some((f) => f.endsWith('.wasm')), 'a loose .wasm file would not load through n8n (it must be embedded)');
check(Object.keys(pkg.dependencies ?? {}).length === 0, `runtime dependencies: ${JSON.stringify(pkg.dependencies)}`);
check(pkg.keywords?.includes('n8n-community-node-package'), 'keyword n8n-community-node-package missing');
check(pkg.n8n?.n8nNodesApiVersion === 1 && pkg.n8n?.strict === true, 'n8n section lacks n8nNodesApiVersion 1 / strict');
const codex = JSON.parse(readFileSync(path.join(unpacked, 'dist/nodes/BatchSync/BatchSync.node.json'), 'utf8'));
const categories = [...codex.categories, ...Object.values(codex.subcategories ?? {}).flat()];
check(!categories.some((c) => c === 'Logic' || c === 'Flow'), `codex category Logic/Flow: ${categories}`);

// The embedded module really is the WASM: load it from the unpacked tarball and call it.
const require = createRequire(import.meta.url);
const embedded = require(path.join(unpacked, 'dist/nodes/BatchSync/generated/batch_sync.js'));
const version = JSON.parse(embedded.callJson('{"op":"version"}'));
check(version.ok === true && version.ops.includes('classify'), `embedded module answered ${JSON.stringify(version)}`);

// n8n's scanner rules.
const scanner = await import(path.join(here, 'node_modules/@n8n/scan-community-package/scanner/scanner.mjs'));
const legs = [
  ['tarball', unpacked, ['**/*.js', 'package.json']],
  ['sources', here, scanner.SOURCE_FILE_PATTERNS],
];
for (const [name, dir, patterns] of legs) {
  const result = await scanner.analyzePackage(dir, patterns);
  if (!result.passed) problems.push(`scanner (${name}): ${result.message}\n${result.details ?? ''}`);
  else console.error(`check-package: n8n scanner rules pass on the ${name} (${patterns.join(' ')})`);
}

if (problems.length) {
  console.error(`check-package: ${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.error(`check-package: ${packed[0].filename}: ${files.length} files, ${(packed[0].size / 1024).toFixed(0)} KiB packed, no runtime dependencies`);
console.log(tarball);
