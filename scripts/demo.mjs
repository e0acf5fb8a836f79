// The demo behind `bash scripts/demo.sh`: a PostgreSQL cluster on 127.0.0.1 with the FLRTS
// schema and the sample tasks, the OpenProject stand-in with the sample work packages, n8n
// (pinned) with the node installed, the workflows and credentials imported and published, n8n
// started (its editor, the page webhook and the endpoints); one full sync asked for through
// POST /webhook/sync/run, with a printed summary; n8n left running. With --workers N (or BATCH_SYNC_WORKERS=N): n8n's queue mode, Redis (Debian's
// redis-server) and N workers that run the pages.
//   node scripts/demo.mjs start [--workers N] | stop
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { freePort, memoryHookEnv, packNode, root, setupN8n, startPostgres, startRedis, stopPostgresAt } from '../tests/e2e/harness.mjs';
import { CREDENTIALS, withSettings } from '../workflows/src/build.mjs';

const cache = process.env.BATCH_SYNC_CACHE ?? path.join(homedir(), '.cache/batch-sync');
const stateFile = path.join(cache, 'demo.json');

function stop() {
	if (!existsSync(stateFile)) return console.log('demo: nothing running');
	const s = JSON.parse(readFileSync(stateFile, 'utf8'));
	for (const pid of [s.n8nPid, ...(s.workerPids ?? []), s.standinPid, s.redisPid].filter(Boolean)) {
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
	for (const folder of [s.userFolder, ...(s.workerFolders ?? [])]) rmSync(folder, { recursive: true, force: true });
	rmSync(stateFile, { force: true });
	console.log(`demo: stopped n8n${s.workerPids?.length ? ` (main and ${s.workerPids.length} workers), Redis` : ''}, the OpenProject stand-in and PostgreSQL`);
}

async function start(workers) {
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

	const operator = { user: 'operator', password: randomBytes(12).toString('base64url') };
	const auth = { authorization: `Basic ${Buffer.from(`${operator.user}:${operator.password}`).toString('base64')}` };
	const editorPort = (await portFree(5678)) ? 5678 : await freePort();
	const redis = workers > 0 ? await startRedis({ keep: true }) : null;
	// The heap bound the README recommends (n8n processes stay under 500 MB).
	const n8n = await setupN8n({ pg, tarball, redis, keep: true, env: { N8N_PORT: String(editorPort), NODE_OPTIONS: '--max-old-space-size=300', ...memoryHookEnv(pg) } });
	n8n.importCredentials([
		{ ...CREDENTIALS.postgres, type: 'postgres', data: { host: pg.host, port: pg.port, database: 'flrts', user: pg.user, password: '', ssl: 'disable' } },
		{ ...CREDENTIALS.openProjectApi, type: 'openProjectApi', data: { baseUrl: opUrl, apiKey: 'demo-api-key' } },
		// The endpoints' Basic Auth: a password made for this demo (printed below).
		{ ...CREDENTIALS.operator, type: 'httpBasicAuth', data: operator },
	]);
	const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
	n8n.importWorkflow([
		withSettings(read('batch-sync-manager.json'), { PAGE_WEBHOOK_URL: `http://127.0.0.1:${editorPort}/webhook/batch-sync/page` }),
		read('batch-sync-page.json'),
		read('batch-sync-operations.json'),
	]);
	// Published: the page webhook and the endpoints answer, and the manager's schedule starts a
	// run every SYNC_INTERVAL_MINUTES (15).
	n8n.publish('batchSyncPage');
	n8n.publish('batchSyncOperations');
	n8n.publish('batchSyncManager');
	const main = await n8n.startMain();
	const started = [];
	for (let k = 0; k < workers; k++) started.push(await n8n.startWorker());
	writeFileSync(stateFile, JSON.stringify({ pgDir: pg.dir, standinPid: standin.pid, n8nPid: main.pid, workerPids: started.map((w) => w.pid), workerFolders: started.map((w) => w.folder), redisPid: redis?.pid, userFolder: n8n.userFolder }));
	const setupS = (performance.now() - t0) / 1000;

	// The first sync, asked for through the run webhook (the schedule's first tick may have
	// started it already: then that run is the one to wait for).
	const t1 = performance.now();
	const hook = (p) => `http://127.0.0.1:${editorPort}/webhook/${p}`;
	const asked = await fetch(hook('sync/run'), { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ kind: 'full_sync', by: 'demo' }) });
	if (![202, 409].includes(asked.status)) throw new Error(`demo: POST /webhook/sync/run answered ${asked.status}: ${await asked.text()}`);
	for (;;) {
		const f = await (await fetch(hook('sync/metrics?runs=1'), { headers: auth })).json();
		if (f.running === null && f.runs.some((r) => r.status !== 'blocked')) break;
		if (performance.now() - t1 > 600_000) throw new Error('demo: the first run did not finish in 10 minutes');
		// Once a second and a bit: the endpoints admit 60 calls a minute (ENDPOINT_RATE_PER_MINUTE).
		await new Promise((r) => setTimeout(r, 1100));
	}
	const wall = (performance.now() - t1) / 1000;
	// The first run of this (new) database is the sample's first sync: the schedule's first tick
	// may have run it before the request above, which then ran a second sync with nothing to do.
	const m = JSON.parse(pg.psql("SELECT to_jsonb(m) FROM sync_metrics m WHERE status <> 'blocked' ORDER BY id LIMIT 1", 'flrts'));
	const health = await (await fetch(hook('sync/health'), { headers: auth })).json();
	const pages = pg.psql(`SELECT count(*) FROM sync_run_pages WHERE run_id = '${m.run_id}'`, 'flrts').trim();
	const conflicts = pg.psql("SELECT count(*) FROM sync_conflicts WHERE status = 'open'", 'flrts').trim();
	const invalid = pg.psql("SELECT count(DISTINCT external_id) FROM sync_audit WHERE action = 'invalid'", 'flrts').trim();
	const stats = await (await fetch(`${opUrl}/__standin/stats`)).json();
	const up = true;
	const mode = workers > 0 ? `queue mode: Redis on 127.0.0.1:${redis.port}, main and ${workers} workers` : 'one process (no queue)';

	const per = Object.entries(m.per_decision).filter(([k, v]) => v && !['total', 'conflicts_resolved'].includes(k));
	console.log(`
Batch Sync demo: one ${m.kind} run of the sample data (FLRTS tasks in PostgreSQL <-> the OpenProject stand-in)
  items compared: ${m.total_items}   ${per.map(([k, v]) => `${k} ${v}`).join(', ')}
  written: ${m.processed_items} staged rows processed, ${stats.patches} PATCH and ${stats.posts} POST to OpenProject; failed ${m.failed_items}
  conflicts left for a person: ${conflicts} (table sync_conflicts); invalid records: ${invalid} (table sync_audit)
  sync time: ${(m.duration_ms / 1000).toFixed(2)} s in ${pages} page(s) (${wall.toFixed(1)} s from the request); setup ${setupS.toFixed(0)} s
  health: ${health.status} (${health.checks.filter((c) => !c.ok).map((c) => c.name).join(', ') || 'every check passes'})
  n8n: ${mode}

n8n's editor ${up ? 'is running' : 'is starting'} with the Batch Sync Manager, Page and Operations workflows published:
  open  http://127.0.0.1:${editorPort}   (the first visit asks you to create the owner account)
  endpoints: Basic Auth, user ${operator.user}, password ${operator.password} (n8n credential "${CREDENTIALS.operator.name}")
  run:     curl -u '${operator.user}:${operator.password}' -X POST ${hook('sync/run')} -H 'content-type: application/json' -d '{"kind":"reconciliation"}'
  metrics: curl -u '${operator.user}:${operator.password}' ${hook('sync/metrics')}   (Prometheus: ?format=prometheus)
  health:  curl -u '${operator.user}:${operator.password}' ${hook('sync/health')}
  dashboard: open ${hook('sync/dashboard')}   (sign in as ${operator.user}; health, throughput, runs, conflicts to resolve)
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
else if (cmd === 'start') {
	const k = process.argv.indexOf('--workers');
	const workers = Number(k > 0 ? process.argv[k + 1] : (process.env.BATCH_SYNC_WORKERS ?? 0));
	if (!Number.isInteger(workers) || workers < 0) {
		console.error('usage: node scripts/demo.mjs start [--workers N]');
		process.exit(2);
	}
	await start(workers);
}
else {
	console.error('usage: node scripts/demo.mjs start [--workers N] | stop');
	process.exit(2);
}
