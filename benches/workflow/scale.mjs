// Benchmark (a script, not a test): paged runs of the bundled workflows in the real, pinned n8n,
// in the default mode (one n8n process runs the pages) and in n8n's queue mode (Redis, main and
// N workers), against the OpenProject stand-in.
//
//   node benches/workflow/scale.mjs full   [N=100000] [--workers=0,3] [--page-size=1000] [--parallel=P] [--heap=MiB]
//        a full sync of N linked, equal pairs (every pair read, compared, staged, mirrored)
//   node benches/workflow/scale.mjs writes [N=10000]  [--workers=1,3] [--latency=100] [--write-concurrency=8]
//        (and the options of `full`)
//        N pairs edited locally after a first sync: N PATCHes to a stand-in answering after
//        --latency ms; only the second run is measured
//
// PARALLEL_WORKERS is --parallel, else the number of workers in queue mode (3, the default,
// without queue); PAGE_SIZE is --page-size.
//
// Adaptation (issue 13): --adaptive=off,on runs each configuration twice, on a fresh stack:
// with ADAPTIVE_BATCH_SIZE and ADAPTIVE_PAGE_SIZE off (BATCH_SIZE and PAGE_SIZE fixed at their
// defaults) and on; --rounds=R measures R runs of the same work in a row (full: the mirror and
// staging emptied and a full sync asked for before each; writes: every task edited again), so
// that the adaptive runs can use what the runs before them measured. Each round's batch and page
// size are reported with the time.
// Last, the floor: the same N rows straight into PostgreSQL with psql (COPY into staging, the
// same upsert into the mirror, rows marked processed).
// Reported per configuration: wall time of the measured run (`n8n execute` of the manager),
// items/s and items/min; the run's own time (sync_runs.started_at → finished_at, without the
// start of the `n8n execute` process, as a schedule trigger in a running n8n sees it) and its
// items/min; the CPU seconds each process used during the run (coordinator, main, each worker,
// PostgreSQL, Redis, this process with the stand-in); pages, and the peak RSS (VmHWM) of every n8n process: the coordinator
// (the `n8n execute` process), main and each worker (with their task runners, each process
// counted on its own).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { memoryHookEnv, packNode, root, setupN8n, startPostgres, startRedis } from '../../tests/e2e/harness.mjs';
import { createStandin } from '../../tests/openproject/standin.mjs';
import { CREDENTIALS, withSettings } from '../../workflows/src/build.mjs';

const args = process.argv.slice(2);
const kind = args[0] === 'writes' ? 'writes' : 'full';
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? (kind === 'full' ? 100000 : 10000));
const arg = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const workerCounts = arg('workers', kind === 'full' ? '0,3' : '1,3').split(',').map(Number);
const latencyMs = Number(arg('latency', kind === 'writes' ? 100 : 0));
const pageSize = Number(arg('page-size', 1000));
const parallelArg = arg('parallel', null);
// e.g. --heap=300: NODE_OPTIONS=--max-old-space-size=300 for every n8n process (V8 then collects
// before it grows the heap past it, instead of growing it first).
const heapMiB = arg('heap', null);
const writeConcurrency = Number(arg('write-concurrency', 8));
const adaptiveModes = arg('adaptive', 'default').split(',');
const rounds = Number(arg('rounds', 1));
// --pg-stats: PostgreSQL's pg_stat_statements (statements inside functions too) over the measured
// run; its 15 statements of the most execution time are printed after the run's figures.
const pgStats = args.includes('--pg-stats');
const tarball = packNode();
const results = [];

/** Every process now (Linux /proc): pid, command name, process group and CPU ticks (utime + stime). */
function processes() {
	const out = [];
	for (const entry of readdirSafe('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			out.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) });
		} catch {
			// gone meanwhile
		}
	}
	return out;
}
/** Peak RSS (MiB) of every process in the process group of `pid` (from `list`, else /proc now). */
function groupPeaks(pgid, list = processes()) {
	const out = [];
	for (const { pid, pgrp } of list) {
		if (pgrp !== pgid) continue;
		try {
			const status = readFileSync(`/proc/${pid}/status`, 'utf8');
			const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
			const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ');
			out.push({ pid, peakMiB: Math.round(hwm), cmd: cmd.slice(-60) });
		} catch {
			// gone meanwhile
		}
	}
	return out;
}
/**
 * CPU time by process: `sample(list)` (a `processes()` list) while the run goes,
 * `seconds(classify)` at its end gives the CPU seconds each class of process used since the
 * first sample (a process that ended between two samples loses at most the last interval).
 * `classify({ pid, pgrp, comm })` names the class, or null.
 */
function cpuMeter() {
	const tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
	const seen = new Map(); // pid -> { first, last, pgrp, comm }
	let firstSample = true;
	const sample = (list = processes()) => {
		for (const { pid, comm, pgrp, ticks } of list) {
			const had = seen.get(pid);
			if (had && had.comm === comm) had.last = ticks;
			else seen.set(pid, { first: firstSample ? ticks : 0, last: ticks, pgrp, comm });
		}
		firstSample = false;
	};
	const seconds = (classify) => {
		const out = {};
		for (const [pid, p] of seen) {
			const name = classify({ pid, pgrp: p.pgrp, comm: p.comm });
			if (!name) continue;
			out[name] = (out[name] ?? 0) + (p.last - p.first) / tick;
		}
		for (const k of Object.keys(out)) out[k] = +out[k].toFixed(1);
		return out;
	};
	return { sample, seconds };
}
function readdirSafe(dir) {
	try {
		return readdirSync(dir);
	} catch {
		return [];
	}
}
for (const workers of workerCounts) for (const adaptive of adaptiveModes) {
	const pg = await startPostgres({
		settings: { max_connections: 300, shared_buffers: '256MB', ...(pgStats ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {}) },
	});
	const op = createStandin({ apiKey: 'bench', latencyMs });
	const opUrl = `http://127.0.0.1:${await op.listen(0)}`;
	const redis = workers > 0 ? await startRedis() : null;
	const n8n = await setupN8n({ pg, tarball, redis, env: { ...memoryHookEnv(pg), ...(heapMiB ? { NODE_OPTIONS: `--max-old-space-size=${heapMiB}` } : {}), ...(process.env.BENCH_ENV ? JSON.parse(process.env.BENCH_ENV) : {}) } });
	try {
		pg.createDatabase('flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/schema.sql'), 'flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/sync.sql'), 'flrts');
		pg.psql(`INSERT INTO tasks (external_id, title, description, status, due_date)
		         SELECT i::text, 'Task ' || i, 'Description of task ' || i || ': check the pump and write the report for the site visit.',
		                CASE WHEN i % 3 = 0 THEN 'In progress' ELSE 'New' END, CASE WHEN i % 4 = 0 THEN date '2026-12-01' END
		         FROM generate_series(1, ${N}) i`, 'flrts');
		for (let i = 1; i <= N; i++) {
			op.insert({ id: i, subject: `Task ${i}`, description: `Description of task ${i}: check the pump and write the report for the site visit.`, statusId: i % 3 === 0 ? 7 : 1, dueDate: i % 4 === 0 ? '2026-12-01' : null });
		}
		n8n.importCredentials([
			{ ...CREDENTIALS.postgres, type: 'postgres', data: { host: pg.host, port: pg.port, database: 'flrts', user: pg.user, password: '', ssl: 'disable' } },
			{ ...CREDENTIALS.openProjectApi, type: 'openProjectApi', data: { baseUrl: opUrl, apiKey: 'bench' } },
			{ ...CREDENTIALS.operator, type: 'httpBasicAuth', data: { user: 'operator', password: 'bench-operator' } },
		]);
		const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
		const parallel = parallelArg !== null ? Number(parallelArg) : workers > 0 ? workers : 3;
		n8n.importWorkflow([
			withSettings(read('batch-sync-manager.json'), {
				PARALLEL_WORKERS: parallel, PAGE_SIZE: pageSize, WRITE_CONCURRENCY: writeConcurrency, PAGE_WEBHOOK_URL: `http://127.0.0.1:${n8n.env.N8N_PORT}/webhook/batch-sync/page`,
				...(adaptive === 'default' ? {} : { ADAPTIVE_BATCH_SIZE: adaptive === 'on', ADAPTIVE_PAGE_SIZE: adaptive === 'on' }),
			}),
			read('batch-sync-page.json'),
			read('batch-sync-operations.json'),
		]);
		n8n.publish('batchSyncPage');
		const main = await n8n.startMain();
		const started = [];
		for (let k = 0; k < workers; k++) started.push(await n8n.startWorker({ concurrency: 5 }));
		const measure = async () => {
			const cpu = cpuMeter();
			cpu.sample();
			const execution = n8n.spawnExecute('batchSyncManager');
			let coordinatorPeak = 0;
			const timer = setInterval(() => {
				const list = processes();
				for (const p of groupPeaks(execution.child.pid, list)) coordinatorPeak = Math.max(coordinatorPeak, p.peakMiB);
				cpu.sample(list);
			}, 200);
			const t0 = performance.now();
			let error = null;
			await execution.done.catch((e) => (error = e.message.slice(0, 500)));
			clearInterval(timer);
			cpu.sample();
			const workerGroups = started.map((w) => w.pid);
			// Where the machine's cores went during the run, by process (n8n's task runners count
			// with the n8n process that started them: same process group).
			const cpuS = cpu.seconds(({ pid, pgrp, comm }) =>
				pid === process.pid ? 'bench + stand-in'
				: comm === 'postgres' ? 'postgres'
				: comm.startsWith('redis') ? 'redis'
				: pgrp === execution.child.pid ? 'coordinator'
				: pgrp === main.pid ? 'main'
				: workerGroups.includes(pgrp) ? `worker ${workerGroups.indexOf(pgrp) + 1}`
				: null);
			return { wallS: (performance.now() - t0) / 1000, coordinatorPeak, error, cpuS };
		};
		if (kind === 'writes') {
			const first = await measure();
			if (first.error) throw new Error(`first run: ${first.error}`);
		}
		for (let round = 1; round <= rounds; round++) {
			if (kind === 'writes') {
				pg.psql("UPDATE tasks SET title = title || ' (edited)'", 'flrts');
			} else if (round > 1) {
				// The same work again: an empty mirror and staging, a full sync asked for (the runs'
				// figures, which adaptation reads, stay).
				pg.psql("TRUNCATE work_packages, sync_staging_work_packages; UPDATE sync_state SET full_requested = true", 'flrts');
			}
			const patches0 = op.stats.patches;
			if (pgStats) pg.psql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()', 'flrts');
			const { wallS, coordinatorPeak, error, cpuS } = await measure();
			const m = JSON.parse(pg.psql("SELECT coalesce(to_jsonb(m), 'null') FROM sync_metrics m ORDER BY id DESC LIMIT 1", 'flrts') || 'null');
			const pages = Number(pg.psql(`SELECT count(*) FROM sync_run_pages WHERE run_id = '${m?.run_id}'`, 'flrts'));
			const mainPeaks = groupPeaks(main.pid);
			const workerPeaks = started.map((w) => groupPeaks(w.pid));
			const all = [coordinatorPeak, ...mainPeaks.map((p) => p.peakMiB), ...workerPeaks.flat().map((p) => p.peakMiB)];
			const run = JSON.parse(pg.psql(`SELECT coalesce(to_jsonb(r), 'null') FROM sync_runs r WHERE run_id = '${m?.run_id}'`, 'flrts') || 'null');
			const runS = run?.finished_at ? (Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000 : null;
			const row = {
				kind,
				N,
				adaptive,
				round,
				batchSize: run?.batch_size,
				runPageSize: run?.page_size,
				batchSizeNext: m?.batch_size_next,
				runPeakRssMiB: m?.peak_rss_mib,
				mode: workers > 0 ? `queue, ${workers} worker(s)` : 'default (one n8n process)',
				parallel,
				pageSize,
				heapMiB: heapMiB ? Number(heapMiB) : null,
				writeConcurrency,
				latencyMs,
				status: error ? 'error' : m?.status,
				error,
				wallS: +wallS.toFixed(1),
				itemsPerS: Math.round(N / wallS),
				itemsPerMin: Math.round((N / wallS) * 60),
				// The run itself (sync_runs: started → finished), without the start of the
				// `n8n execute` process: what a schedule trigger in a running n8n takes.
				runS: runS === null ? null : +runS.toFixed(1),
				runItemsPerMin: runS === null ? null : Math.round((N / runS) * 60),
				patches: op.stats.patches - patches0,
				cpuS: { ...cpuS, total: +Object.values(cpuS).reduce((a, b) => a + b, 0).toFixed(1) },
				pages,
				processed: m?.processed_items,
				peakRssMiB: { coordinator: coordinatorPeak, main: Math.max(0, ...mainPeaks.map((p) => p.peakMiB)), workers: workerPeaks.map((ps) => Math.max(0, ...ps.map((p) => p.peakMiB))), max: Math.max(...all) },
			};
			results.push(row);
			console.error(JSON.stringify(row));
			if (pgStats) {
				console.error(pg.psql(`SELECT round(total_exec_time) || ' ms, ' || calls || ' calls, ' || rows || ' rows: ' || regexp_replace(left(query, 160), '\\s+', ' ', 'g')
				                       FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15`, 'flrts'));
			}
		}
	} finally {
		n8n.stop();
		redis?.stop();
		await op.close();
		pg.stop();
	}
}
// The floor: the same N rows straight into PostgreSQL: COPY into staging, then the same upsert
// into the mirror, in psql.
{
	const pg = await startPostgres();
	try {
		pg.createDatabase('flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/schema.sql'), 'flrts');
		pg.psqlFile(path.join(root, 'workflows/sql/sync.sql'), 'flrts');
		const csv = path.join(tmpdir(), `batch-sync-floor-${process.pid}.csv`);
		const lines = [];
		for (let i = 1; i <= N; i++) {
			const data = JSON.stringify({ title: `Task ${i}`, status: i % 3 === 0 ? 'In progress' : 'New', due_date: i % 4 === 0 ? '2026-12-01' : null, description: `Description of task ${i}: check the pump and write the report for the site visit.` });
			lines.push(`floor\t${i}\tinsert\tunchanged\t${data.replace(/\\/g, '\\\\')}\t${'0'.repeat(63)}${i % 10}\tk${i}`);
		}
		writeFileSync(csv, lines.join('\n') + '\n');
		const t0 = performance.now();
		execFileSync('psql', ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'flrts', '-v', 'ON_ERROR_STOP=1', '-q', '-c',
			`\\copy sync_staging_work_packages (run_id, external_id, operation, decision, data, checksum, idempotency_key) FROM '${csv}'`], { stdio: 'pipe' });
		pg.psql(`INSERT INTO work_packages (external_id, data, checksum, lock_version, synced_at)
		         SELECT external_id, data, checksum, 0, now() FROM sync_staging_work_packages
		         ON CONFLICT (external_id) DO UPDATE SET data = EXCLUDED.data, checksum = EXCLUDED.checksum, synced_at = now()
		         WHERE work_packages.checksum IS DISTINCT FROM EXCLUDED.checksum`, 'flrts');
		pg.psql(`UPDATE sync_staging_work_packages SET status = 'processed', processed_at = now()`, 'flrts');
		const floorS = (performance.now() - t0) / 1000;
		rmSync(csv, { force: true });
		results.push({ N, floor: 'psql COPY + upsert + mark processed', wallS: +floorS.toFixed(2) });
		console.error(JSON.stringify(results.at(-1)));
	} finally {
		pg.stop();
	}
}
console.log(JSON.stringify(results, null, 1));
