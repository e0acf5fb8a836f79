// Builds dist/: compiles the TypeScript, then copies what tsc does not (the icons, the codex
// files and the embedded WASM module in nodes/BatchSync/generated/, written by embed-wasm.mjs).
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const generated = path.join(here, 'nodes/BatchSync/generated/batch_sync_bytes.js');
if (!existsSync(generated)) {
  throw new Error('nodes/BatchSync/generated/ is missing: run node scripts/embed-wasm.mjs (after bash scripts/build-pkg.sh at the repository root)');
}
rmSync(path.join(here, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [path.join(here, 'node_modules/typescript/bin/tsc'), '-p', here], { stdio: 'inherit' });

function copyAssets(dir) {
  for (const name of readdirSync(path.join(here, dir))) {
    const rel = path.join(dir, name);
    if (statSync(path.join(here, rel)).isDirectory()) copyAssets(rel);
    else if (/\.(svg|png|json)$/.test(name) || (rel.includes('generated') && name.endsWith('.js'))) {
      cpSync(path.join(here, rel), path.join(here, 'dist', rel));
    }
  }
}
copyAssets('nodes');
copyAssets('credentials');
console.log('build: dist/ written');
