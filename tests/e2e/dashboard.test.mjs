// The status dashboard in a real headless browser (Debian's Chromium driven by playwright-core;
// no browser download), served by the Batch Sync Operations workflow in real n8n, with real
// PostgreSQL and the OpenProject stand-in: the page loads, the throughput chart draws one point a
// run, the open conflicts show each field's base, FLRTS and OpenProject value; a person resolves
// two conflicts by clicking (take OpenProject; type a value), the next run applies the choices to
// both sides, the conflicts close, and the audit names who chose what. The page is behind the
// operator's Basic Auth: the browser signs in as a person would (the credentials in the URL
// fill the browser's sign-in cache, as the sign-in dialog does).
// BATCH_SYNC_SCREENSHOTS=1 writes docs/dashboard.png (the README's picture).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { OPERATOR, root, startSyncStack } from './harness.mjs';
import { withSettings } from '../../workflows/src/build.mjs';

let pg;
let n8n;
let main;
let op;
let opUrl;
let browser;
const db = (sql) => pg.psql(sql, 'flrts').trim();
const read = (f) => JSON.parse(readFileSync(path.join(root, 'workflows', f), 'utf8'));
const edit = (id, fields) => fetch(`${opUrl}/__standin/work_packages/${id}`, { method: 'PATCH', body: JSON.stringify(fields) });
const HOSTILE = 'OpenProject </script><script>document.body.dataset.pwned = 1</script><!-- \u2028 $\' $& title 8';
const subject = (id) => op.workPackages().find((w) => w.id === id).subject;

before(async () => {
	({ pg, op, opUrl, n8n } = await startSyncStack({ apiKey: 'dash-key' }));
	n8n.importWorkflow([
		withSettings(read('batch-sync-manager.json'), { RETRY_BASE_SECONDS: 1, PAGE_WEBHOOK_URL: `http://127.0.0.1:${n8n.env.N8N_PORT}/webhook/batch-sync/page` }),
		read('batch-sync-page.json'),
		read('batch-sync-operations.json'),
	]);
	n8n.publish('batchSyncPage');
	n8n.publish('batchSyncOperations');
	main = await n8n.startMain();
	browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

after(async () => {
	await browser?.close();
	n8n?.stop();
	await op?.close();
	pg?.stop();
});

async function run() {
	const result = await n8n.execute('batchSyncManager');
	assert.equal(result.status, 'success');
}

async function openDashboard() {
	const page = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	const url = new URL(`${main.url}/webhook/sync/dashboard`);
	// Not signed in: refused with a sign-in challenge (headless Chromium shows no dialog).
	const refused = await fetch(url.href);
	assert.equal(refused.status, 401);
	assert.match(refused.headers.get('www-authenticate'), /^Basic /);
	url.username = OPERATOR.user;
	url.password = OPERATOR.password;
	const res = await page.goto(url.href);
	assert.equal(res.status(), 200);
	await page.waitForSelector('body[data-loaded="1"]', { timeout: 30_000 });
	return { page, errors };
}

test('the dashboard shows the runs, the chart, health and the open conflicts; a person resolves them by clicking; the next run applies it', async () => {
	for (let i = 1; i <= 30; i++) op.insert({ id: i, subject: `Task ${i}`, description: `Text ${i}`, statusId: 1 });
	db("INSERT INTO tasks (external_id, title, description, status) SELECT i::text, 'Task ' || i, 'Text ' || i, 'New' FROM generate_series(1, 30) i");
	await run();
	// Two conflicts: the title of 7 and of 8 edited differently on both sides.
	db("UPDATE tasks SET title = 'FLRTS title 7' WHERE id = 7");
	db("UPDATE tasks SET title = 'FLRTS title 8' WHERE id = 8");
	await edit(7, { subject: 'OpenProject title 7' });
	// Hostile text in a record is shown as text: it cannot end the page's data element.
	await edit(8, { subject: HOSTILE });
	db("UPDATE tasks SET description = 'edited locally' WHERE id = 12");
	await run();
	assert.equal(db("SELECT string_agg(external_id, ',' ORDER BY external_id) FROM sync_conflicts WHERE status = 'open'"), '7,8');
	const runs = Number(db("SELECT count(*) FROM sync_metrics WHERE status <> 'blocked'"));

	const { page, errors } = await openDashboard();
	// The chart: one point a run, the line through them.
	assert.equal(await page.locator('#throughput circle').count(), runs);
	const points = (await page.locator('#throughput polyline').getAttribute('points')).trim().split(/\s+/);
	assert.equal(points.length, runs);
	const ys = points.map((p) => Number(p.split(',')[1]));
	assert.ok(ys.every((y) => y >= 10 && y <= 160), `points inside the plot: ${ys}`);
	// The runs table and the tiles agree with the tables.
	assert.equal(await page.locator('#runs tbody tr').count(), runs);
	assert.equal(await page.locator('#tile-conflicts .v').textContent(), '2');
	// The schedule's interval and the batch size in use, with why, as the last run chose them.
	const last = JSON.parse(db("SELECT jsonb_build_object('i', interval_minutes, 'ir', interval_reason, 'b', batch_size_next, 'br', batch_size_reason) FROM sync_metrics WHERE interval_minutes IS NOT NULL ORDER BY started_at DESC LIMIT 1"));
	assert.equal(await page.locator('#tile-interval .v').textContent(), `${last.i} min`);
	assert.equal(await page.locator('#tile-interval .k').textContent(), `interval: ${last.ir}`);
	assert.equal(await page.locator('#tile-batch .v').textContent(), String(last.b));
	assert.equal(await page.locator('#tile-batch .k').textContent(), `batch size: ${last.br}`);
	// Memory: the last run's peak (the hook measured its processes) against the bound, the next page size and why.
	const mem = JSON.parse(db("SELECT batch_sync_figures(1)->'memory'"));
	assert.ok(mem.peak_rss_mib > 60, `measured: ${JSON.stringify(mem)}`);
	assert.equal(await page.locator('#tile-memory .v').textContent(), `${mem.peak_rss_mib} / 500 MiB`);
	assert.equal(await page.locator('#tile-memory .k').textContent(), `pages of ${mem.page_size}: ${mem.reason}`);
	assert.equal(await page.locator('#tile-memory.over').count(), mem.peak_rss_mib > 500 ? 1 : 0);
	assert.equal(await page.locator('#health tbody tr').count(), 8);
	assert.match(await page.locator('#health-badge').textContent(), /^(healthy|unhealthy)$/);
	// Each conflict with its field's base, FLRTS and OpenProject values.
	const c7 = page.locator('.conflict[data-key="7"] tr[data-path="/title"] td');
	assert.deepEqual((await c7.allTextContents()).slice(0, 4), ['/title', 'Task 7', 'FLRTS title 7', 'OpenProject title 7']);
	const c8 = page.locator('.conflict[data-key="8"] tr[data-path="/title"] td');
	assert.deepEqual((await c8.allTextContents()).slice(0, 4), ['/title', 'Task 8', 'FLRTS title 8', HOSTILE]);
	assert.equal(await page.locator('body').getAttribute('data-pwned'), null);
	if (process.env.BATCH_SYNC_SCREENSHOTS) {
		mkdirSync(path.join(root, 'docs'), { recursive: true });
		await page.screenshot({ path: path.join(root, 'docs/dashboard.png'), fullPage: true });
	} else {
		await page.screenshot({ path: path.join(tmpdir(), 'batch-sync-dashboard.png'), fullPage: true });
	}

	// Resolve by clicking: 7 takes OpenProject's title; 8 a typed value.
	const conflict7 = page.locator('.conflict[data-key="7"]');
	await conflict7.locator('tr[data-path="/title"] input[data-take="openproject"]').check();
	await conflict7.locator('input[data-by]').fill('Ana');
	await conflict7.locator('button[data-resolve]').click();
	// The choice is posted as a form; the answer is the dashboard again, with the outcome.
	await page.locator('#notice', { hasText: 'Choice for conflict' }).waitFor();
	await page.waitForSelector('body[data-loaded="1"]');
	await page.locator('.conflict[data-key="7"] [data-status]', { hasText: 'chosen by Ana' }).waitFor();
	const conflict8 = page.locator('.conflict[data-key="8"]');
	await conflict8.locator('tr[data-path="/title"] input[data-take="value"]').check();
	await conflict8.locator('tr[data-path="/title"] input[data-typed]').fill('Agreed title 8');
	await conflict8.locator('input[data-by]').fill('Ben');
	await conflict8.locator('button[data-resolve]').click();
	await page.locator('#notice', { hasText: '(by Ben)' }).waitFor();
	await page.waitForSelector('body[data-loaded="1"]');
	await page.locator('.conflict[data-key="8"] [data-status]', { hasText: 'chosen by Ben' }).waitFor();
	// The name typed last is kept for the next choice.
	assert.equal(await page.locator('.conflict[data-key="7"] input[data-by]').inputValue(), 'Ben');
	// A bad choice is refused with its reason, on the page.
	await page.locator('.conflict[data-key="8"] input[data-by]').fill('');
	await page.locator('.conflict[data-key="8"] button[data-resolve]').click();
	await page.locator('#notice.bad', { hasText: 'Not saved: "by"' }).waitFor();
	assert.deepEqual(errors, [], 'no script error on the page');
	assert.equal(db("SELECT string_agg(actor || ':' || external_id, ',' ORDER BY id) FROM sync_audit WHERE action = 'conflict.choice'"), 'Ana:7,Ben:8');
	// Each choice names the n8n execution that took it.
	assert.equal(db("SELECT count(*) FROM sync_audit WHERE action = 'conflict.choice' AND workflow_id = 'batchSyncOperations' AND execution_id ~ '^[0-9]+$'"), '2');

	// Nothing changes before the run; the run applies the choices to both sides.
	assert.equal(subject(7), 'OpenProject title 7');
	assert.equal(db("SELECT title FROM tasks WHERE id = 7"), 'FLRTS title 7');
	await run();
	assert.equal(db("SELECT title FROM tasks WHERE id = 7"), 'OpenProject title 7');
	assert.equal(subject(7), 'OpenProject title 7');
	assert.equal(db("SELECT title FROM tasks WHERE id = 8"), 'Agreed title 8');
	assert.equal(subject(8), 'Agreed title 8');
	assert.equal(db("SELECT count(*) FROM sync_conflicts WHERE status = 'open'"), '0');
	assert.equal(db("SELECT string_agg(actor || ':' || external_id, ',' ORDER BY id) FROM sync_audit WHERE action = 'conflict.applied'"), 'Ana:7,Ben:8');
	assert.equal(db("SELECT count(*) FROM sync_audit WHERE action = 'conflict.resolved'"), '2');
	// The mirror agrees with both sides again: the next run changes nothing.
	const writes = op.stats.patches + op.stats.posts;
	await run();
	assert.equal(op.stats.patches + op.stats.posts, writes);
	await page.reload();
	await page.waitForSelector('body[data-loaded="1"]');
	await page.locator('#no-conflicts').waitFor();
	assert.equal(await page.locator('#throughput circle').count(), runs + 2);
});

test("the workflows read as a story in n8n's editor: stages framed by sticky notes, no node on another", async () => {
	const owner = { email: 'owner@example.com', firstName: 'Ana', lastName: 'Owner', password: 'Batch-sync-1234' };
	const setup = await fetch(`${main.url}/rest/owner/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(owner) });
	assert.equal(setup.status, 200, await setup.text());
	const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
	const page = await context.newPage();
	await page.goto(`${main.url}/signin`);
	await page.locator('input[type=email]').fill(owner.email);
	await page.locator('input[type=password]').fill(owner.password);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.waitForURL((u) => !u.pathname.startsWith('/signin'), { timeout: 30_000 });
	for (const [id, file] of [['batchSyncManager', 'batch-sync-manager.json'], ['batchSyncPage', 'batch-sync-page.json']]) {
		const wf = read(file);
		const nodes = wf.nodes.filter((n) => n.type !== 'n8n-nodes-base.stickyNote');
		const stickies = wf.nodes.filter((n) => n.type === 'n8n-nodes-base.stickyNote');
		await page.goto(`${main.url}/workflow/${id}`);
		await page.locator('[data-test-id="canvas-node"]').first().waitFor({ timeout: 60_000 });
		await page.locator('[data-test-id="zoom-to-fit"]').click();
		await page.waitForTimeout(800);
		const boxes = await page.locator('[data-test-id="canvas-node"]').evaluateAll((els) =>
			els.map((e) => ({ name: e.getAttribute('data-node-name'), sticky: e.getAttribute('data-node-type') === 'n8n-nodes-base.stickyNote', box: e.getBoundingClientRect().toJSON() })),
		);
		const real = boxes.filter((b) => !b.sticky && nodes.some((n) => n.name === b.name));
		assert.equal(real.length, nodes.length, `${wf.name}: every node on the canvas`);
		for (const a of real) {
			for (const b of real) {
				if (a === b) continue;
				const overlap = a.box.left < b.box.right && b.box.left < a.box.right && a.box.top < b.box.bottom && b.box.top < a.box.bottom;
				assert.ok(!overlap, `${wf.name}: ${a.name} and ${b.name} overlap on the canvas`);
			}
		}
		// The sticky notes are drawn, each with its stage's title.
		const canvasText = await page.locator('body').innerText();
		for (const s of stickies) assert.ok(canvasText.includes(s.name), `${wf.name}: sticky note "${s.name}" shown`);
		const shot = process.env.BATCH_SYNC_SCREENSHOTS ? path.join(root, `docs/${id}-canvas.png`) : path.join(tmpdir(), `batch-sync-${id}-canvas.png`);
		await page.screenshot({ path: shot });
	}
	await context.close();
});
