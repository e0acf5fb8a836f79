// CPU profiles of long-running n8n processes, for finding where a benchmark's time goes (not a
// test, not shipped). n8n refuses --cpu-prof in NODE_OPTIONS, and a process killed at the end
// of a benchmark never writes one; this preload starts V8's profiler through the inspector and
// writes what it has every 5 s, one file each, so nothing is lost when the process is killed:
//
//   BENCH_PROFILE_DIR=/tmp/prof node benches/workflow/scale.mjs full 20000 --workers=3 \
//     "--heap=300 --require $PWD/benches/profile/preload.cjs"
//   node benches/profile/summary.mjs /tmp/prof/worker-*.cpuprofile [filter]
//
// Profiles `n8n start`, `n8n worker` and `n8n execute` (files named <command>-<pid>-<k>.cpuprofile);
// other n8n commands (imports) are left alone.
'use strict';

const command = process.argv[2];
const dir = process.env.BENCH_PROFILE_DIR;
if (dir && ['start', 'worker', 'execute'].includes(command)) {
	const inspector = require('inspector');
	const fs = require('fs');
	const path = require('path');
	const session = new inspector.Session();
	session.connect();
	session.post('Profiler.enable');
	session.post('Profiler.setSamplingInterval', { interval: 500 });
	session.post('Profiler.start');
	let k = 0;
	const flush = () =>
		session.post('Profiler.stop', (error, result) => {
			if (!error) fs.writeFileSync(path.join(dir, `${command}-${process.pid}-${k++}.cpuprofile`), JSON.stringify(result.profile));
			session.post('Profiler.start');
		});
	setInterval(flush, 5000).unref();
	process.on('exit', flush);
}
