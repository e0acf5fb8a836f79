// Sums CPU profiles (benches/profile/preload.cjs): the busy time, then the functions with the most
// time inclusive of what they call (a regular expression on "name file:line" narrows the list),
// then those with the most time of their own.
//   node benches/profile/summary.mjs FILE... [--filter=REGEX] [--top=N]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('--'));
const filter = new RegExp(args.find((a) => a.startsWith('--filter='))?.slice(9) ?? '.');
const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 40);
const inclusive = new Map();
const own = new Map();
let busy = 0;
for (const file of files) {
	const profile = JSON.parse(readFileSync(file, 'utf8'));
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map();
	for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
	const time = new Map();
	profile.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
	const name = (id) => {
		const f = byId.get(id).callFrame;
		return `${f.functionName || '(anonymous)'} ${f.url.replace(/.*node_modules\//, '')}:${f.lineNumber}`;
	};
	for (const [id, us] of time) {
		if (byId.get(id).callFrame.functionName === '(idle)') continue;
		busy += us;
		own.set(name(id), (own.get(name(id)) ?? 0) + us);
		const seen = new Set();
		for (let c = id; c !== undefined; c = parent.get(c)) {
			const key = name(c);
			if (seen.has(key)) continue;
			seen.add(key);
			inclusive.set(key, (inclusive.get(key) ?? 0) + us);
		}
	}
}
const show = (title, map) => {
	console.log(`\n${title}`);
	for (const [key, us] of [...map].filter(([k]) => filter.test(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
		console.log(`${(us / 1e6).toFixed(2).padStart(8)} s ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${key}`);
	}
};
console.log(`busy: ${(busy / 1e6).toFixed(2)} s in ${files.length} profile(s)`);
show('inclusive', inclusive);
show('own', own);
