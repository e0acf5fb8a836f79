// batch-sync memory watch: an n8n external hook file. Load it in every n8n process that runs the
// sync (main, and each worker in queue mode):
//
//   EXTERNAL_HOOK_FILES=/path/to/workflows/hooks/memory.js
//   BATCH_SYNC_DATABASE_URL=postgres://user:password@host:5432/flrts   (the sync's database)
//
// It samples the process's resident set (RSS) every BATCH_SYNC_MEMORY_SAMPLE_MS (default 100)
// and, when an execution of Batch Sync Page or Batch Sync Manager ends in this process, writes
// the peak RSS of the process while it ran to the sync's tables (batch_sync_record_memory: the
// page's peak_rss_mib, or the run's coordinator_rss_mib). A long synchronous step holds the
// event loop and no sample is taken meanwhile: a new all-time peak of the process (getrusage's
// maxRSS) reached while the execution ran counts as its peak.
// batch_sync_page_size then splits a page that went over MEMORY_LIMIT_MB in two the next time.
//
// Operator configuration, not a community node: it may use `process`, timers and n8n's own `pg`.
// It never throws (a hook that throws fails the execution); without BATCH_SYNC_DATABASE_URL it
// measures nothing. One SQL statement with bind parameters; nothing else is written.
'use strict';

const os = require('os');
const { createRequire } = require('module');

const SAMPLE_MS = Math.max(10, Number(process.env.BATCH_SYNC_MEMORY_SAMPLE_MS) || 100);
const KEEP_MS = 6 * 3600 * 1000; // samples older than the longest execution worth measuring
const url = process.env.BATCH_SYNC_DATABASE_URL || '';
const where = `${os.hostname()}:${process.pid}`;

// Samples: [time ms, rss bytes, maxRSS bytes] in a ring (a page takes minutes; a sample is 24 bytes).
const SIZE = Math.ceil(KEEP_MS / SAMPLE_MS) + 1;
const times = new Float64Array(SIZE);
const rss = new Float64Array(SIZE);
const maxRss = new Float64Array(SIZE);
let next = 0;
let count = 0;

function sample() {
	times[next] = Date.now();
	rss[next] = process.memoryUsage.rss();
	maxRss[next] = process.resourceUsage().maxRSS * 1024;
	next = (next + 1) % SIZE;
	count = Math.min(count + 1, SIZE);
}

/** The process's peak RSS (bytes) between `from` and `to` (ms), from the samples. */
function peakBetween(from, to) {
	let peak = 0;
	let maxBefore = 0; // the all-time peak as it stood when the execution started
	let maxAfter = 0;
	for (let k = 0; k < count; k++) {
		const i = (next - 1 - k + SIZE) % SIZE;
		const t = times[i];
		if (t < from) {
			maxBefore = Math.max(maxBefore, maxRss[i]);
			break;
		}
		if (t <= to) {
			peak = Math.max(peak, rss[i]);
			maxAfter = Math.max(maxAfter, maxRss[i]);
		}
	}
	// A new all-time peak was reached while the execution ran (maybe inside one long
	// synchronous call, between samples): that was the process's peak in that time.
	if (maxAfter > maxBefore && maxBefore > 0) peak = Math.max(peak, maxAfter);
	return peak;
}

let pg = null;
function loadPg() {
	if (pg) return pg;
	// n8n's own driver (n8n depends on pg), found from n8n's entry point; else a pg next to this file.
	const from = [require.main && require.main.filename, __filename].filter(Boolean);
	for (const f of from) {
		try {
			pg = createRequire(f)('pg');
			return pg;
		} catch {}
	}
	return null;
}

function firstJson(runData, node) {
	const r = runData && runData[node] && runData[node][0];
	const item = r && r.data && r.data.main && r.data.main[0] && r.data.main[0][0];
	return item ? item.json : undefined;
}

async function record(runId, pageNo, executionId, peakMiB) {
	const driver = loadPg();
	if (!driver) {
		console.warn('batch-sync memory hook: the pg driver was not found; memory is not recorded');
		return;
	}
	// Bounded: n8n waits for this hook before it ends the execution.
	const client = new driver.Client({
		connectionString: url,
		application_name: 'batch-sync memory hook',
		connectionTimeoutMillis: 5000,
		query_timeout: 5000,
	});
	try {
		await client.connect();
		await client.query('SELECT batch_sync_record_memory($1, $2, $3, $4, $5)', [runId, pageNo, executionId, peakMiB, where]);
	} finally {
		await client.end().catch(() => {});
	}
}

if (url) {
	sample();
	setInterval(sample, SAMPLE_MS).unref();
}

module.exports = {
	workflow: {
		postExecute: [
			async function (run, workflowData, executionId) {
				try {
					// n8n's main in queue mode hears of every job a worker ran (its run carries the
					// job id): only the process that ran the execution measures it.
					if (!url || !run || run.jobId !== undefined || executionId === undefined) return;
					sample();
					const runData = run.data && run.data.resultData && run.data.resultData.runData;
					const page = firstJson(runData, 'Claim Page');
					const start = firstJson(runData, 'Start Run');
					let runId;
					let pageNo = null;
					if (page && page.claimed === true) {
						runId = page.run_id;
						pageNo = page.page_no;
					} else if (start && typeof start.run_id === 'string' && runData['Plan Pages']) {
						runId = start.run_id;
					} else {
						return;
					}
					const from = new Date(run.startedAt).getTime();
					const to = run.stoppedAt ? new Date(run.stoppedAt).getTime() : Date.now();
					const peak = peakBetween(from, Math.max(to, Date.now()));
					if (!(peak > 0)) return;
					await record(runId, pageNo, String(executionId), Math.round((peak / 1048576) * 10) / 10);
				} catch (error) {
					console.warn(`batch-sync memory hook: ${error && error.message ? error.message : error}`);
				}
			},
		],
	},
};
