// The demo behind `bash scripts/demo.sh`: a PostgreSQL cluster on 127.0.0.1 with the FLRTS
// schema and the sample tasks, the OpenProject stand-in with the sample work packages, n8n
// (pinned) with the node installed and the workflow and credentials imported; one sync through
// n8n's CLI with a printed summary; then n8n's editor left running.
//   node scripts/demo.mjs start | stop
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

import { freePort, packNode, root, setupN8n, startPostgres, stopPostgresAt } from '../tests/e2e/harness.mjs';
import { CREDENTIALS } from '../workflows/src/build.mjs';

const cache = process.env.BATCH_SYNC_CACHE ?? path.join(homedir(), '.cache/batch-sync');
const stateFile = path.join(cache, 'demo.json');

function stop() {
	if (!existsSync(stateFile)) return console.log('demo: nothing running');
	const s = JSON.parse(readFileSync(stateFile, 'utf8'));
	for (const pid of [s.n8nPid, s.standinPid]) {
		try {
			process.kill(-pid, 'SIGTERM');
		} catch {
			try {
				process.kill(pid, 'SIGTERM');
			} catch {
				// already gone
			}
		}
	}
	try {
		stopPostgresAt(s.pgDir);
	} catch (e) {
		console.error(`demo: stopping PostgreSQL: ${e.message}`);
	}
	rmSync(s.userFolder, { recursive: true, force: true });
	rmSync(stateFile, { force: true });
	console.log('demo: stopped n8n, the OpenProject stand-in and PostgreSQL');
}

async function start() {
	if (existsSync(stateFile)) stop();
	mkdirSync(cache, { recursive: true });
	const t0 = performance.now();
	const tarball = packNode();
	const pg = await startPostgres({ keep: true });
	pg.createDatabase('flrts');
	pg.psqlFile(path.join(root, 'workflows/sql/schema.sql'), 'flrts');
	pg.psqlFile(path.join(root, 'workflows/sql/sync.sql'), 'flrts');
	const tasks = JSON.parse(readFileSync(path.join(root, 'workflows/sample/tasks.json'), 'utf8'));
	pg.psqlVars(
		`INSERT INTO tasks (external_id, title, description, status, due_date, updated_at)
		 SELECT external_id, title, description, status, due_date, coalesce(updated_at, now())
		 FROM jsonb_to_recordset(:'rows'::jsonb) AS r(external_id text, title text, description text, status text, due_date date, updated_at timestamptz);`,
		'flrts',
		{ rows: JSON.stringify(tasks) },
	);

	const opPort = await freePort();
	const log = openSync(path.join(cache, 'demo-openproject.log'), 'w');
	const standin = spawn(process.execPath, [path.join(root, 'tests/openproject/standin.mjs'), `--port=${opPort}`, '--api-key=demo-api-key', `--seed-file=${path.join(root, 'workflows/sample/work_packages.json')}`], { detached: true, stdio: ['ignore', log, log] });
	standin.unref();
	const opUrl = `http://127.0.0.1:${opPort}`;
	for (let i = 0; i < 50; i++) {
		try {
			await fetch(`${opUrl}/__standin/stats`);
			break;
		} catch {
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	const editorPort = (await portFree(5678)) ? 5678 : await freePort();
	const n8n = await setupN8n({ pg, tarball, env: { N8N_PORT: String(editorPort) } });
	n8n.importCredentials([
		{ ...CREDENTIALS.postgres, type: 'postgres', data: { host: pg.host, port: pg.port, database: 'flrts', user: pg.user, password: '', ssl: 'disable' } },
		{ ...CREDENTIALS.openProjectApi, type: 'openProjectApi', data: { baseUrl: opUrl, apiKey: 'demo-api-key' } },
	]);
	n8n.importWorkflow([JSON.parse(readFileSync(path.join(root, 'workflows/batch-sync-manager.json'), 'utf8'))]);
	const setupS = (performance.now() - t0) / 1000;

	const t1 = performance.now();
	await n8n.execute('batchSyncManager');
	const wall = (performance.now() - t1) / 1000;
	const m = JSON.parse(pg.psql("SELECT to_jsonb(m) FROM sync_metrics m ORDER BY id DESC LIMIT 1", 'flrts'));
	const conflicts = pg.psql("SELECT count(*) FROM sync_conflicts WHERE status = 'open'", 'flrts').trim();
	const invalid = pg.psql("SELECT count(DISTINCT external_id) FROM sync_audit WHERE action = 'invalid'", 'flrts').trim();
	const stats = await (await fetch(`${opUrl}/__standin/stats`)).json();

	const server = spawn(n8n.bin, ['start'], { env: n8n.env, detached: true, stdio: ['ignore', openSync(path.join(cache, 'demo-n8n.log'), 'w'), openSync(path.join(cache, 'demo-n8n.log'), 'a')] });
	server.unref();
	writeFileSync(stateFile, JSON.stringify({ pgDir: pg.dir, standinPid: standin.pid, n8nPid: server.pid, userFolder: n8n.userFolder }));
	let up = false;
	for (let i = 0; i < 240 && !up; i++) {
		try {
			up = (await fetch(`http://127.0.0.1:${editorPort}/healthz`)).ok;
		} catch {
			await new Promise((r) => setTimeout(r, 500));
		}
	}

	const per = Object.entries(m.per_decision).filter(([k, v]) => v && !['total', 'conflicts_resolved'].includes(k));
	console.log(`
Batch Sync demo: one ${m.mode} sync of the sample data (FLRTS tasks in PostgreSQL <-> the OpenProject stand-in)
  items compared: ${m.total_items}   ${per.map(([k, v]) => `${k} ${v}`).join(', ')}
  written: ${m.processed_items} staged rows processed, ${stats.patches} PATCH and ${stats.posts} POST to OpenProject; failed ${m.failed_items}
  conflicts left for a person: ${conflicts} (table sync_conflicts); invalid records: ${invalid} (table sync_audit)
  sync time: ${(m.duration_ms / 1000).toFixed(2)} s in the workflow (${wall.toFixed(1)} s with n8n's start-up); setup ${setupS.toFixed(0)} s

n8n's editor ${up ? 'is running' : 'is starting'} with the "Batch Sync Manager" workflow imported:
  open  http://127.0.0.1:${editorPort}   (the first visit asks you to create the owner account)
  FLRTS database: psql -h 127.0.0.1 -p ${pg.port} -U postgres flrts
  OpenProject stand-in: ${opUrl}/api/v3/work_packages (user apikey, password demo-api-key)
  stop everything: bash scripts/demo.sh stop
`);
}

function portFree(port) {
	return new Promise((resolve) => {
		fetch(`http://127.0.0.1:${port}/`).then(() => resolve(false), () => resolve(true));
	});
}

const cmd = process.argv[2] ?? 'start';
if (cmd === 'stop') stop();
else if (cmd === 'start') await start();
else {
	console.error('usage: node scripts/demo.mjs start|stop');
	process.exit(2);
}
