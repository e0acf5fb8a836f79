// Hostile text through the whole workflow, end to end in real n8n + PostgreSQL + the OpenProject
// stand-in: a corpus of strings (SQL, JSON, n8n expressions, HTML/script, Markdown, control
// characters, NUL, lone surrogates, 1 MB and 1.1 MB texts, Unicode normalisation pairs,
// right-to-left and zero-width marks, astral characters) in every synced text field, edited in
// FLRTS for one pair and in OpenProject for another. Every value arrives on the other side
// byte for byte, or its record is rejected as invalid with its reason (and nothing is written
// for it); nothing else in either database changes, and the next run writes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { root, startSyncStack } from './harness.mjs';
import { withSettings } from '../../workflows/src/build.mjs';

// Each entry: a title and a description. `remoteOnly`: a text PostgreSQL cannot hold (it is
// only ever made in OpenProject). `rejected`: the error code its record is refused with.
const CORPUS = [
	{ name: 'sql quote', title: "Robert'); DROP TABLE tasks; --", description: "x' OR '1'='1" },
	{ name: 'sql dollar', title: '$1 $$ $body$ ::jsonb', description: "E'\\x00'; SELECT pg_sleep(5); $tag$ unterminated" },
	{ name: 'sql comment', title: '/* x */ -- ; COMMIT; DELETE FROM work_packages', description: '\\. \\copy tasks to /tmp/x' },
	{ name: 'json', title: '{"subject":"x","_links":{"status":{"href":"/api/v3/statuses/12"}}}', description: '[1, 2, {"$ref": "#"}]' },
	{ name: 'json escapes', title: '\\" \\\\ \\u0000 \\ud800 \\n', description: '"quoted" \\"escaped\\" \\\\' },
	{ name: 'n8n expression', title: "={{ $env.HOME }} {{ $json.title }}", description: "${process.exit(1)} {{ $('Settings').first().json }} }}" },
	{ name: 'html', title: '<script>alert(1)</script><img src=x onerror=alert(2)>', description: '<iframe src="javascript:alert(3)"></iframe>' },
	{ name: 'html close', title: '</script><!-- ]]> &amp; &lt;', description: '<![CDATA[ x ]]> <?xml version="1.0"?>' },
	{ name: 'markdown', title: '# not a heading', description: '# Heading\n\n* [link](javascript:alert(1))\n\n```\ncode\n```\n<b>bold</b>\n' },
	{ name: 'control characters', title: 'a\u0001b\u0007c\bd\fe\u000bf\u001fg\u007fh', description: 'bell\u0007 escape\u001b[31m red \u001b[0m' },
	{ name: 'newlines and tabs', title: 'line1\r\nline2\rline3\n\tindented  ', description: '\r\n\r\n  \t ' },
	{ name: 'right to left', title: '\u200fמשימה\u202e evil \u202c\u2066x\u2069', description: 'مهمة \u061c \u200e ltr' },
	{ name: 'NFC', title: 'Caf\u00e9 \u00c5', description: '\u00e9\u00e9' },
	{ name: 'NFD', title: 'Cafe\u0301 A\u030a', description: 'e\u0301e\u0301' },
	{ name: 'compatibility', title: '\u212b \ufb01 \u2460 \uff21', description: '\u1e9b\u0323' },
	{ name: 'zero width', title: 'a\u200bb\u200dc\ufeffd\u2060e', description: '\ufeff' },
	{ name: 'astral', title: '😀 👩‍👩‍👧 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{10FFFF}', description: '🏳️‍🌈'.repeat(100) },
	{ name: 'line separators', title: 'a\u2028b\u2029c\u0085d', description: '\u2028' },
	{ name: '1 MB text', title: 'one megabyte', description: 'x'.repeat(1_000_000) },
	{ name: '1.1 MB text', title: 'too large', description: 'y'.repeat(1_100_000), rejected: 'too_large' },
	{ name: 'NUL', title: 'a\u0000b', description: 'c', remoteOnly: true, rejected: 'unsupported_character' },
	{ name: 'lone high surrogate', title: 'a\ud800b', description: 'c', remoteOnly: true, rejected: 'lone_surrogate' },
	{ name: 'lone low surrogate', title: 'd', description: '\udc00 tail', remoteOnly: true, rejected: 'lone_surrogate' },
];
// Each entry gets a pair edited in FLRTS (unless remoteOnly) and one edited in OpenProject;
// CONTROLS pairs are edited nowhere.
const pairs = [];
for (const c of CORPUS) {
	if (!c.remoteOnly) pairs.push({ c, side: 'local', id: pairs.length + 1 });
	pairs.push({ c, side: 'remote', id: pairs.length + 1 });
}
const CONTROLS = 10;
const TOTAL = pairs.length + CONTROLS;

let pg;
let n8n;
let op;
let opUrl;
const db = (sql) => pg.psql(sql, 'flrts').trim();
const json = (sql) => JSON.parse(db(sql) || 'null');
const sha = (s) => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');
const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
/** A text as an SQL expression of its exact UTF-8 bytes (no quoting of the text itself). */
const literal = (s) => `convert_from(decode('${Buffer.from(s, 'utf8').toString('base64')}', 'base64'), 'UTF8')`;

before(async () => {
	({ pg, op, opUrl, n8n } = await startSyncStack({ apiKey: 'hostile-key' }));
	n8n.importWorkflow([
		withSettings(read('batch-sync-manager.json'), { RETRY_BASE_SECONDS: 1, PAGE_SIZE: 20, PAGE_WEBHOOK_URL: `http://127.0.0.1:${n8n.env.N8N_PORT}/webhook/batch-sync/page` }),
		read('batch-sync-page.json'),
		read('batch-sync-operations.json'),
	]);
	n8n.publish('batchSyncPage');
	await n8n.startMain();
});

after(async () => {
	n8n?.stop();
	await op?.close();
	pg?.stop();
});

async function run() {
	const result = await n8n.execute('batchSyncManager');
	assert.equal(result.status, 'success', JSON.stringify(result.data?.resultData?.error ?? {}).slice(0, 2000));
	return json('SELECT to_jsonb(r) FROM sync_runs r ORDER BY started_at DESC LIMIT 1');
}

/** Each task's title and description as SHA-256 of their UTF-8 bytes, and when it changed. */
const tasks = () =>
	Object.fromEntries(
		json("SELECT jsonb_agg(jsonb_build_array(id, encode(sha256(convert_to(title, 'UTF8')), 'hex'), encode(sha256(convert_to(description, 'UTF8')), 'hex'), status, due_date, updated_at)) FROM tasks").map(
			([id, title, description, status, due, at]) => [id, { title, description, status, due, at }],
		),
	);
const workPackages = () => Object.fromEntries(op.workPackages().map((w) => [w.id, w]));
const invalid = (key) => json(`SELECT jsonb_agg(detail ORDER BY id) FROM sync_audit WHERE action = 'invalid' AND external_id = '${key}'`) ?? [];

test('a corpus of hostile texts in every synced text field, on both sides: each arrives exactly or is rejected with its reason; nothing else changes', async () => {
	for (let i = 1; i <= TOTAL; i++) op.insert({ id: i, subject: `Task ${i}`, description: `Text ${i}`, statusId: 1 });
	db(`INSERT INTO tasks (external_id, title, description, status) SELECT i::text, 'Task ' || i, 'Text ' || i, 'New' FROM generate_series(1, ${TOTAL}) i`);
	const first = await run();
	assert.equal(first.status, 'success');
	assert.equal(db('SELECT count(*) FROM work_packages'), String(TOTAL));
	const tables = db("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'");
	const tasksBefore = tasks();
	const wpsBefore = workPackages();

	// The edits: FLRTS through SQL (the texts as bytes), OpenProject as a user would.
	const sqlFile = path.join(tmpdir(), `batch-sync-hostile-${process.pid}.sql`);
	writeFileSync(sqlFile, pairs.filter((p) => p.side === 'local').map((p) => `UPDATE tasks SET title = ${literal(p.c.title)}, description = ${literal(p.c.description)} WHERE id = ${p.id};`).join('\n'));
	pg.psqlFile(sqlFile, 'flrts');
	for (const p of pairs.filter((x) => x.side === 'remote')) {
		const res = await fetch(`${opUrl}/__standin/work_packages/${p.id}`, { method: 'PATCH', body: JSON.stringify({ subject: p.c.title, description: p.c.description }) });
		assert.equal(res.status, 200);
	}
	// The texts are in place as written (lone surrogates included: JSON carries them escaped).
	for (const p of pairs.filter((x) => x.side === 'remote')) assert.equal(workPackages()[p.id].subject, p.c.title, p.c.name);
	for (const p of pairs.filter((x) => x.side === 'local')) assert.equal(tasks()[p.id].title, sha(p.c.title), p.c.name);

	const second = await run();
	assert.equal(second.status, 'success', 'the run itself succeeds: rejected records are not failures of the run');
	const t = tasks();
	const w = workPackages();
	for (const p of pairs) {
		const label = `${p.c.name} (edited in ${p.side === 'local' ? 'FLRTS' : 'OpenProject'}, pair ${p.id})`;
		if (p.c.rejected) {
			const errors = invalid(p.id);
			assert.ok(errors.length > 0, `${label}: rejected as invalid`);
			const own = errors.find((e) => e.side === p.side);
			assert.equal(own?.error?.code, p.c.rejected, `${label}: ${JSON.stringify(errors).slice(0, 400)}`);
			assert.ok(own.error.message.length > 0 && own.error.path.startsWith(`/${p.side}/`), `${label}: with its reason and path`);
			// Nothing was written for it: the other side is as it was.
			if (p.side === 'local') assert.deepEqual([w[p.id].subject, w[p.id].description.raw, w[p.id].lockVersion], [`Task ${p.id}`, `Text ${p.id}`, wpsBefore[p.id].lockVersion], label);
			else assert.deepEqual(t[p.id], tasksBefore[p.id], label);
			continue;
		}
		assert.deepEqual(invalid(p.id), [], `${label}: not rejected`);
		if (p.side === 'local') {
			assert.equal(w[p.id].subject, p.c.title, `${label}: the subject in OpenProject`);
			assert.equal(w[p.id].description.raw, p.c.description, `${label}: the description in OpenProject`);
			assert.equal(t[p.id].title, sha(p.c.title), `${label}: the task keeps it`);
		} else {
			assert.equal(t[p.id].title, sha(p.c.title), `${label}: the task's title`);
			assert.equal(t[p.id].description, sha(p.c.description), `${label}: the task's description`);
			assert.equal(w[p.id].subject, p.c.title, `${label}: OpenProject keeps it`);
		}
	}
	// Nothing else changed: the pairs edited nowhere, the statuses and dates, the tables, the
	// number of records on each side.
	for (let i = pairs.length + 1; i <= TOTAL; i++) {
		assert.deepEqual(t[i], tasksBefore[i], `control pair ${i} in FLRTS`);
		assert.deepEqual(w[i], wpsBefore[i], `control pair ${i} in OpenProject`);
	}
	for (let i = 1; i <= TOTAL; i++) {
		assert.deepEqual([t[i].status, t[i].due], ['New', null], `pair ${i}: status and due date`);
		assert.deepEqual([w[i]._links.status.title, w[i].dueDate ?? null], ['New', null], `pair ${i}: status and due date in OpenProject`);
	}
	assert.equal(db("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"), tables);
	assert.equal(Object.keys(t).length, TOTAL);
	assert.equal(Object.keys(w).length, TOTAL);
	assert.equal(db("SELECT count(*) FROM sync_staging_work_packages WHERE status IN ('pending', 'retry', 'dead')"), '0', 'nothing waits or died');
	// The mirror holds each synced text exactly as both sides do.
	for (const p of pairs.filter((x) => !x.c.rejected)) {
		assert.equal(db(`SELECT encode(sha256(convert_to(data->>'title', 'UTF8')), 'hex') FROM work_packages WHERE external_id = '${p.id}'`), sha(p.c.title), `${p.c.name}: the mirror`);
	}

	// The next run finds nothing to write: no text changed its bytes on the way.
	const writes = op.stats.patches + op.stats.posts;
	const third = await run();
	assert.equal(third.status, 'success');
	assert.equal(op.stats.patches + op.stats.posts, writes, 'no write to OpenProject');
	assert.deepEqual(tasks(), t, 'no task rewritten');
});
