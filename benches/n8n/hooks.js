// n8n external hook file (EXTERNAL_HOOK_FILES) for the benchmarks: after a workflow run it
// writes each node's executionTime (from the run data), the items per output and the n8n
// process's peak RSS to $BATCH_SYNC_BENCH_OUT, then shrinks the run data to those counts so that
// `n8n execute` does not print hundreds of megabytes. Benchmark tooling only; never shipped.
'use strict';
const { writeFileSync } = require('fs');

module.exports = {
	workflow: {
		postExecute: [
			async function (run) {
				const runData = run?.data?.resultData?.runData ?? {};
				const nodes = {};
				for (const [name, runs] of Object.entries(runData)) {
					const r = runs[0];
					nodes[name] = {
						executionTime: r.executionTime,
						startTime: r.startTime,
						outputs: (r.data?.main ?? []).map((items) => (items ?? []).length),
						error: r.error ? String(r.error.message) : undefined,
					};
					for (const x of runs) if (x.data) x.data = { main: [] };
				}
				const out = process.env.BATCH_SYNC_BENCH_OUT;
				if (out) {
					writeFileSync(out, JSON.stringify({
						status: run.status,
						error: run.data?.resultData?.error?.message,
						wallMs: run.stoppedAt && run.startedAt ? new Date(run.stoppedAt) - new Date(run.startedAt) : undefined,
						maxRssMiB: process.resourceUsage().maxRSS / 1024,
						nodes,
					}));
				}
			},
		],
	},
};
