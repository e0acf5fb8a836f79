// Writes the importable workflows from this readable source (a test checks that the committed
// JSON is what this script writes):
//   workflows/batch-sync-manager.json     Batch Sync Manager, the coordinator of a run
//   workflows/batch-sync-page.json        Batch Sync Page, one page of a run (a webhook)
//   workflows/batch-sync-operations.json  Batch Sync Operations: metrics, health, dashboard,
//                                         conflict choices, and the alerts of failed executions
//   node workflows/src/build.mjs
//
// A run is split into even pages of at most PAGE_SIZE keys (both sides of a key in the same page). The
// coordinator plans them and sends each to the page workflow's webhook, PARALLEL_WORKERS at a
// time; in n8n's queue mode each call is a job on a worker. The run's state is in PostgreSQL
// (sync_runs, sync_run_pages), so no execution holds more than a page, a page whose worker died
// is sent again, and nothing depends on a webhook's reply. Each workflow's canvas layout is in one
// place (`layout`), with a sticky note per stage.
//
// Batch Sync Manager (n8n's v1 execution order runs a branch to its end before the next):
//   Run Now / Every Minute / Run Webhook (POST sync/run) -> Settings (the one place a user edits)
//     -> Start Run (settings and request checked, run id, kind, the heartbeat lock; error output
//          -> Answer Bad Request (400) -> Run Refused)
//     -> Run Due? (a tick of the schedule before SYNC_INTERVAL_MINUTES ends here)
//     -> Lock Held? true -> Answer Run In Progress (409) -> Run Blocked
//                   false -> Answer Run Started (202) -> Reference Data Fresh? (else Read
//                            Reference Data -> Cache Reference Data: OpenProject's statuses, types)
//     -> Unfinished Creates -> Find Lost Creates (by marker custom field) -> Record Found Creates
//     -> List Changed Work Packages (ids and updatedAt only, since the cursor with overlap;
//          error output -> Fail Run -> Run Failed)
//     -> Plan Pages (the run's keys in pages; applies a person's conflict choices)
//     -> Next Pages (pages to send; the run's progress)
//     -> All Pages Done? true  -> Finish Run (metrics, cursors when every page is done, lock)
//                                 -> Check Alerts -> Alerts to Send? -> Send Alert
//                                                 -> E-mail Alerts? -> E-mail Alert
//                        false -> Pages to Send -> Send Page (POST to the page webhook)
//                                 Poll Again -> Next Pages (which waits, up to 2 s, for a free slot)
//
// Batch Sync Page:
//   Page Webhook (answers on receipt) -> Claim Page (a page sent twice is taken once)
//     -> Page Claimed? true -> Page Unfinished Creates -> Find Page Lost Creates
//                           -> Record Page Found Creates (a page sent again after its worker died
//                              finds the creates whose answers died with it)
//     -> Get Page Items (the page's tasks) -> Get Page Work Packages (by id)
//          (error output -> Fail Page -> Page Failed: the coordinator sends it again)
//     -> Get Base (the mirror rows of the page's keys)
//     -> Compare (Batch Sync: Local, Remote, Base; every key of the page read on both sides)
//          Changes   -> Gather Changes (one item: the If below asks once a page, not per decision)
//                    -> Reconciliation Run? true -> Record Differences (the report; nothing else)
//                       false -> Split Changes -> Plan Staging Rows -> Loop Over Items (one plan batch at a time)
//                         -> Stage Batch -> Process Batch (one transaction: local writes, mirror, audit)
//                         -> OpenProject Requests? (none: straight back to Loop Over Items)
//                         -> Write to OpenProject (PATCH with lockVersion / POST / DELETE, concurrent)
//                         -> Record OpenProject Results (mirror, links, retries) -> Loop Over Items
//                       (each of the four: error output -> Record Batch Failure -> Loop Over Items)
//          Conflicts -> Record Conflicts (sync_conflicts; a reconciliation's report)
//          Unchanged -> Refresh Versions (the mirror's lock_version; closes moot conflicts)
//          Invalid   -> Record Invalid (sync_audit; a reconciliation's report)
//          Summary   -> (read by Complete Page: the core's counts by decision kind)
//     -> Complete Page (bottom branch of Page Claimed? true: after all of the above)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// The status page served by Batch Sync Operations (workflows/src/dashboard.html).
const DASHBOARD_HTML = readFileSync(path.join(here, 'dashboard.html'), 'utf8');

export const CREDENTIALS = {
	postgres: { id: 'batchSyncFlrtsPg', name: 'FLRTS PostgreSQL' },
	openProjectApi: { id: 'batchSyncOpenProj', name: 'OpenProject API' },
	// n8n's Basic Auth credential (type httpBasicAuth) of the inbound endpoints: the run webhook
	// and the operations endpoints (a browser signs in to the dashboard with it).
	operator: { id: 'batchSyncOperator', name: 'Batch Sync Operator' },
};

// The core's configuration for this sync (see the repository README's configuration table).
// The status links are not written here: they come from OpenProject's own list of statuses
// (read by the manager, cached, named by the STATUS_MAPPING setting); syncConfig(hrefs) puts
// them in. SYNC_CONFIG (no links) is enough to compare.
export const syncConfig = (statusHrefs, assigneeHrefs = statusHrefs === null ? null : {}) => ({
	local_version_field: null,
	local_updated_at_field: '/updated_at',
	local_deleted_field: '/deleted_at',
	mapping: [
		{ local: '/title', remote: '/subject', type: 'string' },
		{ local: '/description', remote: '/description', transform: { type: 'formattable', format: 'markdown' } },
		{
			local: '/status',
			remote: '/_links/status',
			transform: { type: 'link_title', hrefs: statusHrefs },
		},
		{ local: '/due_date', remote: '/dueDate', transform: 'date' },
		// The assignee: the name of one of the project's assignees (read and cached like the
		// statuses); unassigned is null ({"href": null} in OpenProject).
		{ local: '/assignee', remote: '/_links/assignee', transform: { type: 'link_title', hrefs: assigneeHrefs } },
	],
	// FLRTS is PostgreSQL: a text holding U+0000 cannot be stored there (nor staged as jsonb);
	// such a record is invalid, with its reason, instead of failing its batch.
	limits: { reject_nul: true },
});
export const SYNC_CONFIG = syncConfig({});
// The settings entry (from batch_sync_mapping_links) with the links of each link field.
const LINK_HREFS = { '/status': 'STATUS_HREFS', '/assignee': 'ASSIGNEE_HREFS' };
/** Compare's own Field Mapping (what a builder sees in the node), made from syncConfig: the
 * status links from the settings at hand (`settings`: an expression for them). */
const compareMapping = (settings) => ({
	values: syncConfig(null).mapping.map((m) => {
		const t = typeof m.transform === 'string' ? { type: m.transform } : (m.transform ?? { type: 'none' });
		return {
			local: m.local.slice(1).replace(/\//g, '.'),
			remote: m.remote.slice(1).replace(/\//g, '.'),
			transform: t.type,
			...(t.type === 'formattable' ? { format: t.format ?? '' } : {}),
			...(t.type === 'link_title' ? { hrefs: `={{ JSON.stringify(${settings}.${LINK_HREFS[m.local]} ?? {}) }}` } : {}),
			valueType: m.type ?? 'any',
		};
	}),
});
/** The rest of Compare's configuration (Advanced Configuration): the local record's version,
 * updated-at and tombstone fields, and CONFLICT_STRATEGY from the settings at hand. */
const compareConfig = (settings, { strategy = true } = {}) => {
	const { mapping: _mapping, ...rest } = syncConfig(null);
	const text = JSON.stringify({ ...rest, ...(strategy ? { strategy: '__STRATEGY__' } : {}) }, null, 2);
	return strategy ? `={{ JSON.stringify(${text.replace('"__STRATEGY__"', `${settings}.CONFLICT_STRATEGY`)}) }}` : text;
};

// The one place a user edits: the Settings node at the start (checked by batch_sync_settings
// in sync.sql, which names a bad key). Every other node reads them from Start Run.
export const SETTINGS = {
	SYNC_INTERVAL_MINUTES: 15,
	ADAPTIVE_INTERVAL: true,
	SYNC_INTERVAL_MIN_MINUTES: 1,
	SYNC_INTERVAL_MAX_MINUTES: 60,
	BATCH_SIZE: 50,
	ADAPTIVE_BATCH_SIZE: true,
	BATCH_SIZE_MIN: 10,
	BATCH_SIZE_MAX: 1000,
	MAX_RETRIES: 3,
	RETRY_BASE_SECONDS: 60,
	CONFLICT_STRATEGY: 'merge',
	LOCK_TIMEOUT_MINUTES: 5,
	WRITE_CONCURRENCY: 8,
	REQUESTS_PER_SECOND: 0,
	REQUEST_TIMEOUT_SECONDS: 60,
	PAGE_SIZE: 1000,
	ADAPTIVE_PAGE_SIZE: true,
	PAGE_SIZE_MIN: 100,
	MEMORY_LIMIT_MB: 500,
	PARALLEL_WORKERS: 3,
	PAGE_TIMEOUT_SECONDS: 120,
	PAGE_WEBHOOK_URL: 'http://127.0.0.1:5678/webhook/batch-sync/page',
	OPENPROJECT_PROJECT_ID: '3',
	MARKER_FIELD: 'customField1',
	MAX_BACKLOG: 1000,
	MAX_DEAD_LETTERS: 0,
	MAX_ERROR_RATE: 0.5,
	MAX_FAILED_RUNS_IN_A_ROW: 2,
	MAX_CONFLICT_AGE_HOURS: 24,
	CONSISTENCY_SAMPLE: 5,
	ALERT_WEBHOOK_URL: '',
	ALERT_EMAIL_TO: '',
	ALERT_EMAIL_FROM: 'batch-sync@localhost',
	STAGING_TABLE_PREFIX: 'sync_staging_',
	STATUS_MAPPING: { New: 'New', 'In progress': 'In progress', Closed: 'Closed', Rejected: 'Rejected' },
	OPENPROJECT_TYPE: 'Task',
	CACHE_MAX_AGE_MINUTES: 60,
};

/** The workflow that runs the endpoints and receives failed executions (its Error Trigger). */
export const OPERATIONS_ID = 'batchSyncOperations';
const workflowSettings = { executionOrder: 'v1', saveDataSuccessExecution: 'none', saveManualExecutions: false, errorWorkflow: OPERATIONS_ID };

const node = (name, type, typeVersion, position, parameters, extra = {}) => ({
	id: name.toLowerCase().replace(/\W+/g, '-'),
	name,
	type,
	typeVersion,
	position,
	parameters,
	...extra,
});
const sql = (name, position, query, params, extra = {}) =>
	node(
		name,
		'n8n-nodes-base.postgres',
		2.6,
		position,
		{ operation: 'executeQuery', query, options: params ? { queryReplacement: `={{ JSON.stringify(${params}) }}` } : {} },
		{ credentials: { postgres: CREDENTIALS.postgres }, executeOnce: true, ...extra },
	);
const to = (name, index = 0) => ({ node: name, type: 'main', index });
/** A sticky note on the canvas: what a stage does and which settings matter. Drawn behind the
 * nodes it frames (position: its top-left corner; nodes sit 100 px wide with their label below). */
const sticky = (title, [x, y], [width, height], text, color = 7) =>
	node(title, 'n8n-nodes-base.stickyNote', 1, [x, y], { content: `## ${title}\n${text}`, height, width, color });
/** Places the nodes by name (the canvas layout, in one place per workflow). */
const place = (nodes, at) =>
	nodes.map((n) => {
		if (n.type === 'n8n-nodes-base.stickyNote') return n;
		if (!at[n.name]) throw new Error(`layout: no position for ${n.name}`);
		const placed = { ...n, position: at[n.name] };
		return NOTES[n.name] ? noted(placed, NOTES[n.name]) : placed;
	});
// What each SQL step does, shown under it on the canvas (the SQL itself is a call of a function
// of workflows/sql/sync.sql, documented there).
const NOTES = {
	'Start Run': 'settings, kind, lock',
	'Admit Run Call': 'calls a minute',
	'Unfinished Creates': 'creates with no answer',
	'Record Found Creates': 'link what the marker found',
	'Cache Reference Data': 'store, check the mapping',
	'Plan Pages': 'keys of the run in pages',
	'Next Pages': 'pages to send, progress',
	'Fail Run': 'failed: metrics, lock freed',
	'Finish Run': 'metrics, cursors, lock',
	'Check Alerts': 'thresholds crossed',
	'Claim Page': 'take the page once',
	'Page Unfinished Creates': 'creates with no answer',
	'Record Page Found Creates': 'link what the marker found',
	'Get Page Items': "the page's tasks",
	'Get Base': 'mirror rows (the base)',
	'Fail Page': 'back to the queue',
	'Record Differences': 'reconciliation report',
	'Stage Batch': 'rows into staging',
	'Process Batch': 'local writes, mirror, audit',
	'Record OpenProject Results': 'mirror, links, retries',
	'Record Batch Failure': 'rows wait for a retry',
	'Record Conflicts': 'open conflicts',
	'Refresh Versions': "mirror's lockVersion",
	'Record Invalid': 'rejected, with reason',
	'Complete Page': "the page's counts",
};
/** A short note shown under the node on the canvas. */
const noted = (n, notes) => ({ ...n, notes, notesInFlow: true });
const audit = 'workflow: $workflow.id, execution: $execution.id';
const onErrorOutput = { onError: 'continueErrorOutput' };
const ifTrue = (name, position, expression) =>
	node(name, 'n8n-nodes-base.if', 2.2, position, {
		conditions: {
			options: { caseSensitive: true, leftValue: '', typeValidation: 'strict', version: 2 },
			conditions: [{ id: name.toLowerCase().replace(/\W+/g, '-'), leftValue: `={{ ${expression} }}`, rightValue: '', operator: { type: 'boolean', operation: 'true', singleValue: true } }],
			combinator: 'and',
		},
		options: {},
	});
/** A Respond to Webhook node: JSON (or text with a content type) and a status code. */
const respond = (name, position, body, { code = 200, contentType = null, text = false, headers = {} } = {}) => {
	const entries = [...(contentType ? [['Content-Type', contentType]] : []), ...Object.entries(headers)].map(([n, value]) => ({ name: n, value }));
	return node(name, 'n8n-nodes-base.respondToWebhook', 1.1, position, {
		respondWith: text ? 'text' : 'json',
		responseBody: body,
		options: { responseCode: code, ...(entries.length ? { responseHeaders: { entries } } : {}) },
	});
};
// A page of ours is not shown inside another site's frame (clickjacking).
const noFraming = { 'X-Frame-Options': 'DENY', 'Content-Security-Policy': "frame-ancestors 'none'" };
/** An inbound endpoint: n8n checks the caller's Basic Auth (the operator credential) before
 * anything runs; 401 with a sign-in challenge without it, 403 with wrong credentials. */
const webhook = (name, position, method, path, webhookId) =>
	node(
		name,
		'n8n-nodes-base.webhook',
		2,
		position,
		{ httpMethod: method, path, authentication: 'basicAuth', responseMode: 'responseNode', options: {} },
		{ webhookId, credentials: { httpBasicAuth: CREDENTIALS.operator } },
	);
/** The rate check of an inbound endpoint: ENDPOINT_RATE_PER_MINUTE calls of it a minute, counted
 * in PostgreSQL (batch_sync_admit). `endpoint`: an expression for the endpoint's name. */
const admit = (name, position, endpoint) =>
	sql(name, position, "SELECT * FROM batch_sync_admit($1::jsonb->>'endpoint')", `{ endpoint: ${endpoint} }`);
/** 429 with Retry-After (the seconds to the next minute). */
const tooMany = (name, position) =>
	node(name, 'n8n-nodes-base.respondToWebhook', 1.1, position, {
		respondWith: 'json',
		responseBody: '={{ JSON.stringify({ error: "too many calls of this endpoint: at most " + $json.rate + " a minute (ENDPOINT_RATE_PER_MINUTE)", retry_after: $json.retry_after }) }}',
		options: { responseCode: 429, responseHeaders: { entries: [{ name: 'Retry-After', value: '={{ String($json.retry_after) }}' }] } },
	});
const errorMessage = "String($json.error?.message ?? $json.message ?? $json.error ?? 'unknown error')";
const opCredentials = { credentials: { openProjectApi: CREDENTIALS.openProjectApi } };
// OpenProject I/O options from the settings. A page's share of REQUESTS_PER_SECOND is the
// limit over PARALLEL_WORKERS: the pages in flight together stay within it.
const ioOf = (settings, { shared = false } = {}) => ({
	concurrency: `={{ ${settings}.WRITE_CONCURRENCY }}`,
	perSecond: shared
		? `={{ ${settings}.REQUESTS_PER_SECOND / ${settings}.PARALLEL_WORKERS }}`
		: `={{ ${settings}.REQUESTS_PER_SECOND }}`,
	timeoutSeconds: `={{ ${settings}.REQUEST_TIMEOUT_SECONDS }}`,
});

/** The creates whose answer was lost (a timeout, a process that died): their keys, the work
 * packages found by the marker, recorded as the creates' answers. The manager runs these before
 * it lists anything, a page before it reads its keys. */
const recoveryNodes = ({ names: [unfinished, find, record], at: [x, y], unfinished: query, run, settings, io }) => [
	sql(unfinished, [x, y], ...query),
	node(
		find,
		'n8n-nodes-batch-sync.openProjectSync',
		1,
		[x + 220, y],
		{
			operation: 'findByMarker',
			keys: `={{ JSON.stringify(${settings}.MARKER_FIELD ? $json.keys : []) }}`,
			markerField: `={{ ${settings}.MARKER_FIELD }}`,
			projectId: `={{ ${settings}.OPENPROJECT_PROJECT_ID }}`,
			io,
		},
		{ ...opCredentials, executeOnce: true, ...onErrorOutput },
	),
	sql(
		record,
		[x + 440, y],
		"SELECT * FROM batch_sync_recover_creates($1::jsonb->>'run', $1::jsonb->'found', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
		`{ run: ${run}, found: $json.found, ${audit} }`,
	),
];

// What Start Run is asked for: from the run webhook its body ({kind, since, by}; the caller may
// name itself in an X-Requested-By header instead), from the schedule a check whether a run is
// due, from Run Now (or `n8n execute`) the kind stored by batch_sync_request_run, else incremental.
const runRequest = `($('Run Webhook').isExecuted
	? { kind: $('Run Webhook').first().json.body?.kind ?? null, since: $('Run Webhook').first().json.body?.since ?? null,
	    by: String($('Run Webhook').first().json.body?.by ?? $('Run Webhook').first().json.headers?.['x-requested-by'] ?? 'webhook'),
	    json: String($('Run Webhook').first().json.headers?.['content-type'] ?? '').toLowerCase().startsWith('application/json') }
	: { scheduled: $('Every Minute').isExecuted })`;

/** POSTs {text, source, alerts} to ALERT_WEBHOOK_URL (a chat or incident tool's incoming
 * webhook, e.g. Slack's; or n8n's own Slack or e-mail nodes put here instead). */
const sendAlert = (name, position) =>
	node(
		name,
		'n8n-nodes-base.httpRequest',
		4.2,
		position,
		{
			method: 'POST',
			url: '={{ $json.url }}',
			sendBody: true,
			specifyBody: 'json',
			// `text` makes it a message for Slack's (or Mattermost's) incoming webhooks as they are.
			jsonBody: "={{ JSON.stringify({ text: 'batch-sync: ' + $json.alerts.map((a) => a.message).join('\\n'), source: 'batch-sync', alerts: $json.alerts }) }}",
			options: { timeout: 10000 },
		},
		// An alert channel that is down does not fail the run; the alert stays in sync_alerts.
		{ onError: 'continueRegularOutput', retryOnFail: true, maxTries: 3, waitBetweenTries: 2000 },
	);

/** E-mails the alerts to ALERT_EMAIL_TO with n8n's Send Email node. It has no credential here
 * and comes disabled: a user who wants e-mail picks their SMTP credential in it and enables it
 * (it runs only when ALERT_EMAIL_TO is set). */
const emailAlert = (name, position) =>
	node(
		name,
		'n8n-nodes-base.emailSend',
		2.1,
		position,
		{
			fromEmail: '={{ $json.email_from }}',
			toEmail: '={{ $json.email_to }}',
			subject: "={{ 'batch-sync: ' + $json.alerts.map((a) => a.kind).join(', ') }}",
			emailFormat: 'text',
			text: "={{ $json.alerts.map((a) => a.at + '  ' + a.kind + '\\n' + a.message + '\\n' + JSON.stringify(a.detail ?? {})).join('\\n\\n') }}",
			options: { appendAttribution: false },
		},
		// A mail server that is down does not fail the run; the alert stays in sync_alerts.
		// Disabled until a user picks an SMTP credential in it and enables it: n8n does not
		// publish a workflow with an enabled node that lacks its credential.
		{ onError: 'continueRegularOutput', retryOnFail: true, maxTries: 3, waitBetweenTries: 2000, disabled: true },
	);

/** Batch Sync Manager: starts a run, plans its pages, sends them, finishes it. */
export function workflow() {
	const start = "$('Start Run').first().json";
	const settings = `${start}.settings`;
	const nodes = [
		// Run Now comes first: `n8n execute` starts a workflow at its first trigger node.
		node('Run Now', 'n8n-nodes-base.manualTrigger', 1, [0, 200], {}),
		// The schedule fires every minute; Start Run begins a run only when SYNC_INTERVAL_MINUTES
		// have passed since the last one (or one was asked for): the interval is a setting.
		node('Every Minute', 'n8n-nodes-base.scheduleTrigger', 1.2, [0, 0], { rule: { interval: [{ field: 'minutes', minutesInterval: 1 }] } }),
		// POST /webhook/sync/run {"kind": "full_sync" | "incremental" | "delta_sync" | "reconciliation",
		// "since": ISO time (delta_sync), "by": who asks}: 202 with the run, 409 while a run holds
		// the lock, 400 for a bad request or bad settings.
		webhook('Run Webhook', [0, 400], 'POST', 'sync/run', '3d5c2a8e-7b1f-4c9a-8e2d-5f6a7b8c9d01'),
		admit('Admit Run Call', [0, 400], "'run'"),
		ifTrue('Run Call Admitted?', [0, 400], '$json.admitted'),
		tooMany('Answer Too Many Run Calls', [0, 400]),
		node('Settings', 'n8n-nodes-base.set', 3.4, [220, 200], { mode: 'raw', jsonOutput: JSON.stringify(SETTINGS, null, 2), options: {} }),
		sql(
			'Start Run',
			[440, 200],
			"SELECT * FROM batch_sync_start(false, $1::jsonb->'settings', $1::jsonb->>'workflow', $1::jsonb->>'execution', $1::jsonb->'request')",
			`{ settings: $json, request: ${runRequest}, ${audit} }`,
			onErrorOutput,
		),
		respond('Answer Bad Request', [660, 400], `={{ JSON.stringify({ error: ${errorMessage} }) }}`, { code: 400 }),
		node('Run Refused', 'n8n-nodes-base.stopAndError', 1, [880, 400], { errorMessage: `={{ "Sync run refused: " + ${errorMessage} }}` }),
		ifTrue('Run Due?', [660, 200], '$json.due'),
		ifTrue('Lock Held?', [880, 200], '$json.blocked'),
		respond('Answer Run In Progress', [1100, 0], '={{ JSON.stringify({ error: "a run is in progress", reason: $json.reason }) }}', { code: 409 }),
		node('Run Blocked', 'n8n-nodes-base.stopAndError', 1, [1320, 0], { errorMessage: '={{ "Sync blocked: " + $json.reason }}' }),
		respond(
			'Answer Run Started',
			[1100, 200],
			'={{ JSON.stringify({ run_id: $json.run_id, kind: $json.kind, full_sync: $json.full_sync, started_at: $json.started_at, requested_by: $json.requested_by }) }}',
			{ code: 202 },
		),
		// OpenProject's statuses and types, read when the cache is older than CACHE_MAX_AGE_MINUTES.
		ifTrue('Reference Data Fresh?', [1320, 200], `${start}.cache_fresh`),
		node(
			'Read Reference Data',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[1540, 400],
			{ operation: 'getReference', collections: ['statuses', 'types', 'assignees'], projectId: `={{ ${settings}.OPENPROJECT_PROJECT_ID }}`, io: ioOf(settings) },
			{ ...opCredentials, executeOnce: true, retryOnFail: true, maxTries: 3, waitBetweenTries: 5000, ...onErrorOutput },
		),
		sql(
			'Cache Reference Data',
			[1760, 400],
			"SELECT * FROM batch_sync_store_reference($1::jsonb->>'run', $1::jsonb->'data')",
			`{ run: ${start}.run_id, data: $json }`,
			onErrorOutput,
		),
		...recoveryNodes({
			names: ['Unfinished Creates', 'Find Lost Creates', 'Record Found Creates'],
			at: [1540, 200],
			unfinished: ['SELECT * FROM batch_sync_unfinished_creates()'],
			run: `${start}.run_id`,
			settings,
			io: ioOf(settings),
		}),
		node(
			'List Changed Work Packages',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[2200, 200],
			{
				operation: 'getChanged',
				source: 'changed',
				fields: 'idAndUpdatedAt',
				since: `={{ ${start}.full_sync ? '' : ${start}.remote_since }}`,
				overlapSeconds: 300,
				ids: '[]',
				pageSize: 1000,
				output: 'aggregate',
				projectId: `={{ ${settings}.OPENPROJECT_PROJECT_ID }}`,
				io: ioOf(settings),
			},
			// 429/503 are asked again by the node itself; a listing that still fails (or a
			// timeout) is tried again twice by n8n, then takes the error output: Fail Run records
			// it and releases the lock, the cursors stay put.
			{ ...opCredentials, executeOnce: true, retryOnFail: true, maxTries: 3, waitBetweenTries: 5000, ...onErrorOutput },
		),
		sql(
			'Fail Run',
			[2420, 0],
			"SELECT * FROM batch_sync_fail_run($1::jsonb->>'run', $1::jsonb->>'stage', $1::jsonb->'error', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, stage: $('Plan Pages').isExecuted ? 'Planning the pages' : 'Reading OpenProject', error: { message: ${errorMessage} }, ${audit} }`,
		),
		node('Run Failed', 'n8n-nodes-base.stopAndError', 1, [2640, 0], { errorMessage: '={{ "Sync run failed: " + $json.reason }}' }),
		sql(
			'Plan Pages',
			[2420, 200],
			"SELECT * FROM batch_sync_plan_pages($1::jsonb->>'run', $1::jsonb->'remote')",
			`{ run: ${start}.run_id, remote: { ids: $json.records.map((r) => String(r.id)), maxUpdatedAt: $json.maxUpdatedAt || '' } }`,
			onErrorOutput,
		),
		sql('Next Pages', [2640, 200], "SELECT * FROM batch_sync_next_pages($1::jsonb->>'run')", `{ run: ${start}.run_id }`),
		ifTrue('All Pages Done?', [2860, 200], '$json.finished'),
		sql(
			'Finish Run',
			[3080, 100],
			"SELECT * FROM batch_sync_finish($1::jsonb->>'run', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, ${audit} }`,
		),
		node('Pages to Send', 'n8n-nodes-base.splitOut', 1, [3080, 300], { fieldToSplitOut: 'dispatch', options: {} }),
		node(
			'Send Page',
			'n8n-nodes-base.httpRequest',
			4.2,
			[3300, 300],
			{
				method: 'POST',
				url: `={{ ${settings}.PAGE_WEBHOOK_URL }}`,
				sendBody: true,
				specifyBody: 'json',
				jsonBody: '={{ JSON.stringify({ run_id: $json.run_id, page_no: $json.page_no }) }}',
				options: { timeout: 10000 },
			},
			// A page whose call fails is not lost: Next Pages sends it again after PAGE_TIMEOUT_SECONDS.
			{ onError: 'continueRegularOutput' },
		),
		// Next Pages waits in PostgreSQL (up to 2 s) until a slot comes free: called again at once,
		// after the pages were sent (this branch is below Pages to Send on the canvas: n8n's v1
		// order runs it second).
		node('Poll Again', 'n8n-nodes-base.noOp', 1, [3080, 500], {}),
		// The threshold checks (dead letters, error rate, no success, old conflicts, a partial
		// run): new alerts are kept in sync_alerts and sent to ALERT_WEBHOOK_URL when it is set.
		sql('Check Alerts', [3300, 100], "SELECT * FROM batch_sync_check_alerts($1::jsonb->>'run')", `{ run: ${start}.run_id }`),
		ifTrue('Alerts to Send?', [3520, 100], '$json.send'),
		sendAlert('Send Alert', [3740, 0]),
		ifTrue('E-mail Alerts?', [3740, 0], '$json.email'),
		emailAlert('E-mail Alert', [3740, 0]),
		sticky('1. Start', [-500, -40], [1480, 900], [
			'**Run Now** (also `n8n execute`), **Every Minute** (a run when `SYNC_INTERVAL_MINUTES` have passed) or **Run Webhook** (`POST /webhook/sync/run {"kind": …}` with the operator\'s Basic Auth, answered 202 / 400 / 409, 429 past `ENDPOINT_RATE_PER_MINUTE`).',
			'**Settings**: the one place to edit (the README lists each). **Start Run** checks them and the request, and takes the lock.',
		].join('\n\n')),
		sticky('2. One run at a time', [1040, -400], [230, 840], 'A live run holds the lock (heartbeat younger than `LOCK_TIMEOUT_MINUTES`): 409, an error execution, a `blocked` metrics row. Else 202 to a webhook caller.', 5),
		sticky('3. Reference data, lost creates', [1280, 120], [1280, 560], [
			"OpenProject's statuses and types, kept `CACHE_MAX_AGE_MINUTES` (the links of `STATUS_MAPPING`, `OPENPROJECT_TYPE`).",
			'Creates whose answer was lost are found by `MARKER_FIELD` before anything is listed: nothing is created twice.',
		].join('\n\n'), 4),
		sticky('4. List and plan', [2600, -40], [440, 500], 'Work packages changed since the cursor (ids only); every key the run looks at, in even pages of at most `PAGE_SIZE` (a multiple of `PARALLEL_WORKERS` of them when the keys allow). OpenProject unreadable: **Fail Run**.', 6),
		sticky('5. Pages to the workers', [3060, 100], [900, 760], '`PARALLEL_WORKERS` pages in flight, each POSTed to `PAGE_WEBHOOK_URL` (the Batch Sync Page; in queue mode a worker runs it). A page silent for `PAGE_TIMEOUT_SECONDS` is sent again. A page goes out as soon as a slot is free (Next Pages waits for one in PostgreSQL, up to 2 s).', 3),
		sticky('6. Finish and alerts', [3480, -420], [820, 480], 'Every page done or failed: metrics, cursors, lock released. Thresholds (`MAX_*`) checked; new alerts to `ALERT_WEBHOOK_URL`, and e-mailed to `ALERT_EMAIL_TO` (pick your SMTP credential in **E-mail Alert** and enable it).', 2),
	];
	const layout = {
		'Every Minute': [0, 100], 'Run Now': [0, 300], 'Run Webhook': [-440, 500], 'Admit Run Call': [-220, 500],
		'Run Call Admitted?': [0, 500], 'Answer Too Many Run Calls': [220, 680], Settings: [220, 300], 'Start Run': [440, 300],
		'Run Due?': [660, 300], 'Answer Bad Request': [660, 500], 'Lock Held?': [880, 300], 'Run Refused': [880, 500],
		'Answer Run In Progress': [1100, 100], 'Run Blocked': [1100, -140], 'Answer Run Started': [1100, 300],
		'Reference Data Fresh?': [1320, 300], 'Read Reference Data': [1540, 500], 'Cache Reference Data': [1760, 500],
		'Unfinished Creates': [1980, 300], 'Find Lost Creates': [2200, 300], 'Record Found Creates': [2420, 300],
		'List Changed Work Packages': [2640, 300], 'Fail Run': [2640, 100], 'Run Failed': [2860, 100], 'Plan Pages': [2860, 300],
		'Next Pages': [3080, 300], 'All Pages Done?': [3300, 300], 'Pages to Send': [3520, 500], 'Send Page': [3740, 500], 'Poll Again': [3520, 700],
		'Finish Run': [3520, -100], 'Check Alerts': [3740, -100], 'Alerts to Send?': [3960, -100], 'Send Alert': [4180, -100],
		'E-mail Alerts?': [3960, -280], 'E-mail Alert': [4180, -280],
	};
	const connections = {
		'Every Minute': { main: [[to('Settings')]] },
		'Run Now': { main: [[to('Settings')]] },
		'Run Webhook': { main: [[to('Admit Run Call')]] },
		'Admit Run Call': { main: [[to('Run Call Admitted?')]] },
		'Run Call Admitted?': { main: [[to('Settings')], [to('Answer Too Many Run Calls')]] },
		Settings: { main: [[to('Start Run')]] },
		'Start Run': { main: [[to('Run Due?')], [to('Answer Bad Request')]] },
		'Answer Bad Request': { main: [[to('Run Refused')]] },
		// If: output 0 is "true", output 1 "false". A scheduled start that is not due ends here.
		'Run Due?': { main: [[to('Lock Held?')], []] },
		'Lock Held?': { main: [[to('Answer Run In Progress')], [to('Answer Run Started')]] },
		'Answer Run In Progress': { main: [[to('Run Blocked')]] },
		// Before anything is listed: a create whose answer was lost is found by its marker and
		// linked, so its work package is not taken for a new one (and made a second task).
		'Answer Run Started': { main: [[to('Reference Data Fresh?')]] },
		'Reference Data Fresh?': { main: [[to('Unfinished Creates')], [to('Read Reference Data')]] },
		'Read Reference Data': { main: [[to('Cache Reference Data')], [to('Fail Run')]] },
		'Cache Reference Data': { main: [[to('Unfinished Creates')], [to('Fail Run')]] },
		'Unfinished Creates': { main: [[to('Find Lost Creates')]] },
		'Find Lost Creates': { main: [[to('Record Found Creates')], [to('Fail Run')]] },
		'Record Found Creates': { main: [[to('List Changed Work Packages')]] },
		'List Changed Work Packages': { main: [[to('Plan Pages')], [to('Fail Run')]] },
		'Fail Run': { main: [[to('Run Failed')]] },
		'Plan Pages': { main: [[to('Next Pages')], [to('Fail Run')]] },
		'Next Pages': { main: [[to('All Pages Done?')]] },
		'All Pages Done?': { main: [[to('Finish Run')], [to('Pages to Send'), to('Poll Again')]] },
		'Finish Run': { main: [[to('Check Alerts')]] },
		'Check Alerts': { main: [[to('Alerts to Send?'), to('E-mail Alerts?')]] },
		'Alerts to Send?': { main: [[to('Send Alert')], []] },
		'E-mail Alerts?': { main: [[to('E-mail Alert')], []] },
		'Pages to Send': { main: [[to('Send Page')]] },
		'Poll Again': { main: [[to('Next Pages')]] },
	};
	return {
		id: 'batchSyncManager',
		name: 'Batch Sync Manager',
		active: false,
		settings: workflowSettings,
		nodes: place(nodes, layout),
		connections,
		pinData: {},
		meta: { templateCredsSetupCompleted: false },
	};
}

/** Batch Sync Page: one page of a run, started by the coordinator through its webhook. */
export function pageWorkflow() {
	const claim = "$('Claim Page').first().json";
	const settings = `${claim}.settings`;
	const io = ioOf(settings, { shared: true });
	const nodes = [
		node(
			'Page Webhook',
			'n8n-nodes-base.webhook',
			2,
			[0, 100],
			// Answers on receipt: the coordinator follows the page in sync_run_pages, not in a reply.
			{ httpMethod: 'POST', path: 'batch-sync/page', responseMode: 'onReceived', options: {} },
			{ webhookId: 'c0b6d7e4-2f4a-4d7b-9a51-7f3e2b1c9d20' },
		),
		sql(
			'Claim Page',
			[220, 100],
			"SELECT * FROM batch_sync_claim_page($1::jsonb->>'run', ($1::jsonb->>'page')::integer, $1::jsonb->>'execution')",
			'{ run: String($json.body?.run_id ?? \'\'), page: Number($json.body?.page_no ?? -1), execution: $execution.id }',
		),
		ifTrue('Page Claimed?', [440, 100], '$json.claimed'),
		...recoveryNodes({
			names: ['Page Unfinished Creates', 'Find Page Lost Creates', 'Record Page Found Creates'],
			at: [660, 0],
			unfinished: ["SELECT * FROM batch_sync_unfinished_creates($1::jsonb->'keys')", `{ keys: ${claim}.keys }`],
			run: `${claim}.run_id`,
			settings,
			io,
		}),
		sql('Get Page Items', [1320, 0], "SELECT * FROM batch_sync_page_tasks($1::jsonb->'keys')", `{ keys: ${claim}.keys }`),
		node(
			'Get Page Work Packages',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[1540, 0],
			{
				operation: 'getChanged',
				source: 'ids',
				ids: `={{ JSON.stringify(${claim}.remote_ids) }}`,
				pageSize: 1000,
				output: 'aggregate',
				projectId: `={{ ${settings}.OPENPROJECT_PROJECT_ID }}`,
				io,
			},
			{ ...opCredentials, executeOnce: true, retryOnFail: true, maxTries: 3, waitBetweenTries: 5000, ...onErrorOutput },
		),
		sql(
			'Fail Page',
			[1760, -200],
			"SELECT * FROM batch_sync_fail_page($1::jsonb->>'run', ($1::jsonb->>'page')::integer, $1::jsonb->'error', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, page: ${claim}.page_no, error: { message: ${errorMessage} }, execution: $execution.id }`,
		),
		node('Page Failed', 'n8n-nodes-base.stopAndError', 1, [1980, -200], { errorMessage: '={{ $json.reason }}' }),
		sql(
			'Get Base',
			[1760, 0],
			"SELECT * FROM batch_sync_page_base($1::jsonb->>'run', ($1::jsonb->>'page')::integer, $1::jsonb->'keys', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, page: ${claim}.page_no, keys: ${claim}.keys, execution: $execution.id }`,
		),
		node(
			'Compare',
			'n8n-nodes-batch-sync.batchSync',
			2,
			[1980, 100],
			{
				operation: 'compare',
				recordsField: 'records',
				localIdField: 'sync_id',
				remoteIdField: 'id',
				// Every key of the page is read on both sides: a record missing from a side is gone.
				// A reconciliation run compares the same way and writes nothing.
				mode: `={{ ${settings}.KIND === 'reconciliation' ? 'reconciliation' : 'full' }}`,
				deleteMissing: true,
				seedBase: true,
				strategy: 'merge',
				timeZone: 'UTC',
				// The mapping (its status links are OpenProject's, cached), and CONFLICT_STRATEGY
				// from the settings (one strategy, or a default with per-field rules).
				mapping: compareMapping(settings),
				options: { config: compareConfig(settings) },
			},
			{ onError: 'continueRegularOutput' },
		),
		// The run's kind is asked once a page, not once a decision: Changes in one item (an If
		// evaluates its condition for every item it gets; on 1,000 decisions a page that was a
		// tenth of the page's CPU), then back to one item a decision for the plan.
		node('Gather Changes', 'n8n-nodes-base.aggregate', 1, [2200, 0], { aggregate: 'aggregateAllItemData', destinationFieldName: 'decisions', options: {} }),
		ifTrue('Reconciliation Run?', [2200, 0], `${settings}.KIND === 'reconciliation'`),
		sql(
			'Record Differences',
			[2420, -200],
			"SELECT * FROM batch_sync_record_differences($1::jsonb->>'run', $1::jsonb->'decisions')",
			`{ run: ${claim}.run_id, decisions: $json.decisions }`,
		),
		node('Split Changes', 'n8n-nodes-base.splitOut', 1, [2420, 0], { fieldToSplitOut: 'decisions', include: 'noOtherFields', options: {} }),
		node('Plan Staging Rows', 'n8n-nodes-batch-sync.batchSync', 2, [2420, 0], {
			operation: 'plan',
			batchSize: `={{ ${settings}.BATCH_SIZE }}`,
			// The settings are in seconds; the node plans in milliseconds.
			retry: { base_ms: `={{ ${settings}.RETRY_BASE_SECONDS * 1000 }}`, cap_ms: '={{ 60 * 60 * 1000 }}', max_retries: `={{ ${settings}.MAX_RETRIES }}` },
		}),
		node('Loop Over Items', 'n8n-nodes-base.splitInBatches', 3, [2640, 0], { batchSize: 1, options: {} }),
		sql('Stage Batch', [2860, 100], "SELECT * FROM batch_sync_stage($1::jsonb->>'run', $1::jsonb->'rows', $1::jsonb->>'execution')", `{ run: ${claim}.run_id, rows: $json.rows, execution: $execution.id }`, onErrorOutput),
		sql(
			'Process Batch',
			[3080, 100],
			"SELECT * FROM batch_sync_process($1::jsonb->>'run', $1::jsonb->'keys', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, keys: $('Loop Over Items').first().json.rows.map((r) => r.idempotency_key), ${audit} }`,
			onErrorOutput,
		),
		// A batch with no OpenProject request (e.g. a first full sync seeding the mirror) goes
		// straight on: Process Batch has ended it (its sync_batches row).
		ifTrue('OpenProject Requests?', [3300, 100], '$json.ops.length > 0'),
		node(
			'Write to OpenProject',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[3300, 100],
			{
				operation: 'write',
				opsField: 'ops',
				projectId: `={{ ${settings}.OPENPROJECT_PROJECT_ID }}`,
				markerField: `={{ ${settings}.MARKER_FIELD }}`,
				typeHref: `={{ ${settings}.TYPE_HREF }}`,
				io,
			},
			{ ...opCredentials, ...onErrorOutput },
		),
		sql(
			'Record OpenProject Results',
			[3520, 100],
			"SELECT * FROM batch_sync_record_remote($1::jsonb->>'run', $1::jsonb->'results', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, results: $json.results, ${audit} }`,
			onErrorOutput,
		),
		sql(
			'Record Batch Failure',
			[3300, 320],
			"SELECT * FROM batch_sync_fail_batch($1::jsonb->>'run', $1::jsonb->'keys', $1::jsonb->'error', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, keys: $('Loop Over Items').first().json.rows.map((r) => r.idempotency_key), error: { message: ${errorMessage} }, ${audit} }`,
		),
		sql(
			'Record Conflicts',
			[2200, 260],
			"SELECT * FROM batch_sync_record_exceptions($1::jsonb->>'run', $1::jsonb->'conflicts', '[]'::jsonb, $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, conflicts: $input.all().map((i) => i.json), ${audit} }`,
		),
		sql(
			'Refresh Versions',
			[2200, 420],
			"SELECT * FROM batch_sync_refresh_versions($1::jsonb->>'run', $1::jsonb->'decisions')",
			`{ run: ${claim}.run_id, decisions: $input.all().map((i) => ({ id: i.json.id, remote: i.json.remote, base: i.json.base })) }`,
		),
		sql(
			'Record Invalid',
			[2200, 580],
			"SELECT * FROM batch_sync_record_exceptions($1::jsonb->>'run', '[]'::jsonb, $1::jsonb->'invalid', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, invalid: $input.all().map((i) => i.json), ${audit} }`,
		),
		sql(
			'Complete Page',
			[660, 800],
			"SELECT * FROM batch_sync_complete_page($1::jsonb->>'run', ($1::jsonb->>'page')::integer, $1::jsonb->'summary', $1::jsonb->>'execution')",
			`{ run: ${claim}.run_id, page: ${claim}.page_no, summary: $('Compare').first(4).json.summary, execution: $execution.id }`,
		),
	];
	const connections = {
		'Page Webhook': { main: [[to('Claim Page')]] },
		'Claim Page': { main: [[to('Page Claimed?')]] },
		'Page Claimed?': { main: [[to('Page Unfinished Creates'), to('Complete Page')], []] },
		// A page sent again (its worker died after a POST) first finds its lost creates.
		'Page Unfinished Creates': { main: [[to('Find Page Lost Creates')]] },
		'Find Page Lost Creates': { main: [[to('Record Page Found Creates')], [to('Fail Page')]] },
		'Record Page Found Creates': { main: [[to('Get Page Items')]] },
		'Get Page Items': { main: [[to('Get Page Work Packages'), to('Compare', 0)]] },
		'Get Page Work Packages': { main: [[to('Get Base'), to('Compare', 1)], [to('Fail Page')]] },
		'Fail Page': { main: [[to('Page Failed')]] },
		'Get Base': { main: [[to('Compare', 2)]] },
		Compare: { main: [[to('Gather Changes')], [to('Record Conflicts')], [to('Refresh Versions')], [to('Record Invalid')]] },
		'Gather Changes': { main: [[to('Reconciliation Run?')]] },
		// A reconciliation run reports what a sync would change (its conflicts and invalid
		// records too, by the same SQL functions) and writes nothing.
		'Reconciliation Run?': { main: [[to('Record Differences')], [to('Split Changes')]] },
		'Split Changes': { main: [[to('Plan Staging Rows')]] },
		'Plan Staging Rows': { main: [[to('Loop Over Items')], []] },
		// splitInBatches v3: output 0 is "done", output 1 is "loop".
		'Loop Over Items': { main: [[], [to('Stage Batch')]] },
		// A batch that fails as a whole is recorded (its rows wait for a retry) and the loop goes on.
		'Stage Batch': { main: [[to('Process Batch')], [to('Record Batch Failure')]] },
		'Process Batch': { main: [[to('OpenProject Requests?')], [to('Record Batch Failure')]] },
		'OpenProject Requests?': { main: [[to('Write to OpenProject')], [to('Loop Over Items')]] },
		'Write to OpenProject': { main: [[to('Record OpenProject Results')], [to('Record Batch Failure')]] },
		'Record OpenProject Results': { main: [[to('Loop Over Items')], [to('Record Batch Failure')]] },
		'Record Batch Failure': { main: [[to('Loop Over Items')]] },
	};
	const layout = {
		'Page Webhook': [0, 300], 'Claim Page': [220, 300], 'Page Claimed?': [440, 300],
		'Page Unfinished Creates': [660, 300], 'Find Page Lost Creates': [880, 300], 'Record Page Found Creates': [1100, 300],
		'Get Page Items': [1320, 300], 'Get Page Work Packages': [1540, 300], 'Get Base': [1760, 300], Compare: [1980, 400],
		'Fail Page': [1540, 100], 'Page Failed': [1760, 100],
		'Gather Changes': [2200, 300], 'Reconciliation Run?': [2420, 300], 'Record Differences': [2640, 100], 'Split Changes': [2640, 300],
		'Plan Staging Rows': [2860, 300], 'Loop Over Items': [3080, 300], 'Stage Batch': [3300, 300], 'Process Batch': [3520, 300],
		'OpenProject Requests?': [3740, 300], 'Write to OpenProject': [3960, 300], 'Record OpenProject Results': [4180, 300], 'Record Batch Failure': [3960, 500],
		'Record Conflicts': [2200, 760], 'Refresh Versions': [2200, 960], 'Record Invalid': [2200, 1160],
		'Complete Page': [660, 760],
	};
	nodes.push(
		sticky('1. Take the page', [-60, 140], [620, 420], 'Sent by the manager (`PAGE_WEBHOOK_URL`); answered at once. A page sent twice is taken once; its heartbeat (each batch) keeps it.'),
		sticky('2. Lost creates', [600, 140], [620, 420], "A page sent again after its worker died first finds the creates whose answers died with it (`MARKER_FIELD`).", 4),
		sticky('3. Read both sides, compare', [1260, -60], [880, 640], [
			"The page's tasks and work packages (by id), the mirror as base; **Compare** (the core) decides per key. Status links from OpenProject (cached); `CONFLICT_STRATEGY` from the settings.",
			'OpenProject unreadable: **Fail Page**, sent again by the manager.',
		].join('\n\n'), 6),
		sticky('4. Write, one batch at a time', [2160, -60], [2160, 680], [
			'A reconciliation only reports. Else `BATCH_SIZE` rows a batch: staged, the local side in one transaction, OpenProject (`WRITE_CONCURRENCY`, `REQUESTS_PER_SECOND`, lockVersion), the answers recorded; a failed row waits `RETRY_BASE_SECONDS`·2ⁿ (jitter), `MAX_RETRIES` times.',
			"A failed batch: **Record Batch Failure**, and the loop goes on. The loop's *done* output and Plan's *Untouched* (decisions with nothing to write) end here on purpose.",
		].join('\n\n'), 3),
		sticky('5. Conflicts, unchanged, invalid', [2160, 660], [620, 660], 'Open conflicts for a person (the dashboard), the mirror\'s lockVersion kept current, rejected records with their reason.', 5),
		sticky('6. Last: Complete Page', [600, 600], [620, 400], "Runs after everything above (n8n's v1 order runs the top branch to its end first): the page's counts for the run's metrics.", 2),
	);
	return {
		id: 'batchSyncPage',
		name: 'Batch Sync Page',
		active: false,
		settings: workflowSettings,
		nodes: place(nodes, layout),
		connections,
		pinData: {},
		meta: { templateCredsSetupCompleted: false },
	};
}

/** Batch Sync Operations: the endpoints a person or a monitor calls, and the alerts for failed
 * executions (the error workflow of the manager and the page). */
export function operationsWorkflow() {
	const sample = "$('Health Sample').first().json";
	const metricsQuery = "$('Metrics Webhook').first().json.query";
	// Which endpoint was called (each webhook starts its own execution).
	const endpoints = [
		['Metrics Webhook', 'metrics'],
		['Health Webhook', 'health'],
		['Dashboard Webhook', 'dashboard'],
		['Conflicts Webhook', 'conflicts'],
		['Resolve Webhook', 'resolve'],
	];
	const endpoint = endpoints.reduceRight((rest, [n, e]) => `($('${n}').isExecuted ? '${e}' : ${rest})`, "'unknown'");
	// The Route Request output of each endpoint (the dashboard goes through the health checks).
	const routes = { metrics: 0, health: 1, dashboard: 1, conflicts: 2, resolve: 3 };
	const route = `(!$json.admitted ? 4 : ${JSON.stringify(routes).replace(/"/g, "'")}[${endpoint}] ?? 4)`;
	// A form posted by the dashboard carries its choice as a JSON text in `payload`; an API
	// caller posts the JSON itself.
	const fromForm = "(typeof $('Resolve Webhook').first().json.body?.payload === 'string')";
	const nodes = [
		// GET /webhook/sync/metrics[?format=prometheus][&runs=N]
		webhook('Metrics Webhook', [0, 300], 'GET', 'sync/metrics', '8a4f6c2e-1d3b-4e5f-9a7b-2c4d6e8f0a11'),
		admit('Admit Request', [220, 700], endpoint),
		node(
			'Route Request',
			'n8n-nodes-base.switch',
			3.2,
			[440, 700],
			{ mode: 'expression', numberOutputs: 5, output: `={{ ${route} }}` },
		),
		tooMany('Answer Too Many Requests', [660, 900]),
		sql(
			'Read Metrics',
			[660, 0],
			"SELECT * FROM batch_sync_metrics($1::jsonb->>'format', ($1::jsonb->>'runs')::integer)",
			`{ format: String(${metricsQuery}?.format ?? 'json'), runs: Number.isInteger(Number(${metricsQuery}?.runs)) ? Number(${metricsQuery}.runs) : 20 }`,
			onErrorOutput,
		),
		respond('Answer Metrics', [880, 0], '={{ $json.body }}', { text: true, contentType: '={{ $json.content_type }}' }),
		respond('Answer Metrics Error', [880, 160], `={{ JSON.stringify({ error: ${errorMessage} }) }}`, { code: 400 }),
		// GET /webhook/sync/health: 200 when every check passes, else 503.
		webhook('Health Webhook', [0, 500], 'GET', 'sync/health', '8a4f6c2e-1d3b-4e5f-9a7b-2c4d6e8f0a12'),
		sql('Health Sample', [660, 400], 'SELECT * FROM batch_sync_health_sample()'),
		sql('Sample Tasks', [880, 400], "SELECT * FROM batch_sync_page_tasks($1::jsonb->'keys')", `{ keys: ${sample}.keys }`),
		node(
			'Sample Work Packages',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[1100, 400],
			{
				operation: 'getChanged',
				source: 'ids',
				ids: `={{ JSON.stringify(${sample}.remote_ids) }}`,
				pageSize: 100,
				output: 'aggregate',
				projectId: `={{ ${sample}.settings.OPENPROJECT_PROJECT_ID }}`,
				io: { timeoutSeconds: `={{ ${sample}.settings.REQUEST_TIMEOUT_SECONDS }}` },
			},
			{ ...opCredentials, executeOnce: true, ...onErrorOutput },
		),
		sql('Sample Base', [1320, 400], "SELECT * FROM batch_sync_base(false, $1::jsonb->'keys')", `{ keys: ${sample}.keys }`),
		node(
			'Compare Sample',
			'n8n-nodes-batch-sync.batchSync',
			2,
			[1540, 500],
			{
				operation: 'compare',
				recordsField: 'records',
				localIdField: 'sync_id',
				remoteIdField: 'id',
				// Both sides against the mirror: a pair that agrees with it is Unchanged.
				mode: 'incremental',
				timeZone: 'UTC',
				mapping: compareMapping(`${sample}.settings`),
				options: { config: compareConfig(`${sample}.settings`, { strategy: false }) },
			},
			{ onError: 'continueRegularOutput' },
		),
		sql(
			'Check Health',
			[1760, 400],
			"SELECT * FROM batch_sync_health($1::jsonb)",
			// The keys that did not come out Unchanged (Changes, Conflicts, Invalid), and when
			// OpenProject last changed each work package read.
			`{ sampled: ${sample}.keys.length, since: ${sample}.since, summary: $json.summary,
				differ: [0, 1, 3].flatMap((k) => $('Compare Sample').all(k).map((i) => String(i.json.id ?? '?'))),
				remote: $('Sample Work Packages').first().json.records.map((r) => ({ id: String(r.id), updatedAt: r.updatedAt })) }`,
		),
		sql(
			'Check Health Without OpenProject',
			[1760, 600],
			"SELECT * FROM batch_sync_health($1::jsonb)",
			`{ error: ${errorMessage} }`,
		),
		ifTrue('For the Dashboard?', [1980, 500], "$('Dashboard Webhook').isExecuted"),
		respond('Answer Health', [2200, 600], '={{ JSON.stringify($json.body) }}', { code: '={{ $json.status_code }}' }),
		// GET /webhook/sync/dashboard: the status page, one HTML answer with its figures in it
		// (the health checks above, the runs, the open conflicts). A browser signs in with the
		// operator's Basic Auth; the page posts a person's choices for conflicts as a form.
		webhook('Dashboard Webhook', [0, 700], 'GET', 'sync/dashboard', '8a4f6c2e-1d3b-4e5f-9a7b-2c4d6e8f0a13'),
		sql(
			'Read Dashboard',
			[2200, 400],
			'SELECT * FROM batch_sync_dashboard()',
		),
		node('Dashboard Page', 'n8n-nodes-base.set', 3.4, [2420, 400], {
			mode: 'manual',
			assignments: { assignments: [{ id: 'dashboard-html', name: 'html', value: DASHBOARD_HTML, type: 'string' }] },
			options: {},
		}),
		// The figures go into the page as JSON inside a <script type="application/json">, every
		// "<" written as \u003c so that no text of a record can close the element.
		respond(
			'Answer Dashboard',
			[2640, 400],
			String.raw`={{ $json.html.replace('"__BATCH_SYNC_DATA__"', () => JSON.stringify({ metrics: $('Read Dashboard').first().json.metrics, conflicts: $('Read Dashboard').first().json.conflicts, health: $('For the Dashboard?').first().json.body, token: $('Read Dashboard').first().json.token }).replaceAll('<', '\\u003c')) }}`,
			{ text: true, contentType: 'text/html; charset=utf-8', headers: noFraming },
		),
		// GET /webhook/sync/conflicts: the open conflicts, each field's base, FLRTS and OpenProject value.
		webhook('Conflicts Webhook', [0, 900], 'GET', 'sync/conflicts', '8a4f6c2e-1d3b-4e5f-9a7b-2c4d6e8f0a14'),
		sql('Read Conflicts', [660, 1000], 'SELECT * FROM batch_sync_open_conflicts()'),
		respond('Answer Conflicts', [880, 1000], '={{ JSON.stringify({ conflicts: $json.conflicts }) }}'),
		// POST /webhook/sync/conflicts/resolve {id, by, fields: {"/path": {take, value}}}: kept
		// (and audited, with this execution) for the next run, which applies it to both sides.
		// From the dashboard's form (payload=<that JSON>): back to the dashboard with the outcome.
		webhook('Resolve Webhook', [0, 1100], 'POST', 'sync/conflicts/resolve', '8a4f6c2e-1d3b-4e5f-9a7b-2c4d6e8f0a15'),
		sql(
			'Resolve Conflict',
			[660, 1200],
			"SELECT * FROM batch_sync_resolve_conflict(CASE WHEN jsonb_typeof($1::jsonb->'form') = 'string' THEN ($1::jsonb->>'form')::jsonb ELSE $1::jsonb->'body' END, $1::jsonb->>'workflow', $1::jsonb->>'execution', $1::jsonb->>'via', $1::jsonb->>'token')",
			// via: the dashboard's form (with the page's token), an API caller's JSON, or neither
			// (refused: a form or text body from elsewhere is not taken).
			`{ form: $('Resolve Webhook').first().json.body?.payload ?? null, body: $('Resolve Webhook').first().json.body ?? null,
				via: ${fromForm} ? 'form' : String($('Resolve Webhook').first().json.headers?.['content-type'] ?? '').toLowerCase().startsWith('application/json') ? 'json' : 'other',
				token: String($('Resolve Webhook').first().json.body?.token ?? ''), ${audit} }`,
			onErrorOutput,
		),
		ifTrue('Posted From the Dashboard?', [880, 1200], fromForm),
		// A small page that sends the browser back to the dashboard with the outcome, relative to
		// /webhook/sync/conflicts/resolve whatever n8n's base path or host is (a redirect's
		// Location would have to be absolute here).
		respond(
			'Back to the Dashboard',
			[1100, 1100],
			`={{ '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=' + ('../dashboard?' + ($json.status_code === 200 ? 'saved=' + encodeURIComponent(String($json.body.id)) : 'error=' + encodeURIComponent(String($json.body?.error ?? ${errorMessage}))) + '&by=' + encodeURIComponent(String($('Resolve Webhook').first().json.body?.by ?? ''))) + '"><title>Batch Sync</title><p>Back to the dashboard…</p><script>location.replace(document.querySelector("meta[http-equiv]").content.split("url=")[1])</script>' }}`,
			{ text: true, contentType: 'text/html; charset=utf-8', headers: noFraming },
		),
		respond(
			'Answer Resolve',
			[1100, 1300],
			`={{ JSON.stringify($json.status_code ? $json.body : { error: ${errorMessage} }) }}`,
			{ code: '={{ $json.status_code ?? 400 }}' },
		),
		// A failed execution of the manager or the page (this workflow is their error workflow).
		node('Execution Failed', 'n8n-nodes-base.errorTrigger', 1, [0, 1500], {}),
		sql('Record Failure Alert', [220, 1500], 'SELECT * FROM batch_sync_alert_failure($1::jsonb)', '$json'),
		ifTrue('Failure Alert to Send?', [440, 1500], '$json.send'),
		sendAlert('Send Failure Alert', [660, 1500]),
		ifTrue('E-mail Failure Alert?', [440, 1700], '$json.email'),
		emailAlert('E-mail Failure Alert', [660, 1700]),
	];
	const connections = {
		...Object.fromEntries(endpoints.map(([n]) => [n, { main: [[to('Admit Request')]] }])),
		'Admit Request': { main: [[to('Route Request')]] },
		// Route Request: 0 metrics, 1 health (and the dashboard), 2 conflicts, 3 resolve, 4 refused.
		'Route Request': {
			main: [[to('Read Metrics')], [to('Health Sample')], [to('Read Conflicts')], [to('Resolve Conflict')], [to('Answer Too Many Requests')]],
		},
		'Read Metrics': { main: [[to('Answer Metrics')], [to('Answer Metrics Error')]] },
		'Health Sample': { main: [[to('Sample Tasks')]] },
		'Sample Tasks': { main: [[to('Sample Work Packages'), to('Compare Sample', 0)]] },
		'Sample Work Packages': { main: [[to('Sample Base'), to('Compare Sample', 1)], [to('Check Health Without OpenProject')]] },
		'Sample Base': { main: [[to('Compare Sample', 2)]] },
		// Compare's fifth output is its Summary: the counts by decision.
		'Compare Sample': { main: [[], [], [], [], [to('Check Health')]] },
		'Check Health': { main: [[to('For the Dashboard?')]] },
		'Check Health Without OpenProject': { main: [[to('For the Dashboard?')]] },
		'For the Dashboard?': { main: [[to('Read Dashboard')], [to('Answer Health')]] },
		'Read Dashboard': { main: [[to('Dashboard Page')]] },
		'Dashboard Page': { main: [[to('Answer Dashboard')]] },
		'Read Conflicts': { main: [[to('Answer Conflicts')]] },
		'Resolve Conflict': { main: [[to('Posted From the Dashboard?')], [to('Posted From the Dashboard?')]] },
		'Posted From the Dashboard?': { main: [[to('Back to the Dashboard')], [to('Answer Resolve')]] },
		'Execution Failed': { main: [[to('Record Failure Alert')]] },
		'Record Failure Alert': { main: [[to('Failure Alert to Send?'), to('E-mail Failure Alert?')]] },
		'E-mail Failure Alert?': { main: [[to('E-mail Failure Alert')], []] },
		'Failure Alert to Send?': { main: [[to('Send Failure Alert')], []] },
	};
	return {
		id: OPERATIONS_ID,
		name: 'Batch Sync Operations',
		active: false,
		settings: { executionOrder: 'v1', saveDataSuccessExecution: 'none', saveManualExecutions: false },
		nodes,
		connections,
		pinData: {},
		meta: { templateCredsSetupCompleted: false },
	};
}

/** The workflow with some settings changed, as a user edits the Settings node (tests, demo). */
export function withSettings(wf, overrides) {
	const copy = structuredClone(wf);
	const node = copy.nodes.find((n) => n.name === 'Settings');
	node.parameters.jsonOutput = JSON.stringify({ ...JSON.parse(node.parameters.jsonOutput), ...overrides }, null, 2);
	return copy;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	writeFileSync(path.join(here, '../batch-sync-manager.json'), JSON.stringify(workflow(), null, 2) + '\n');
	writeFileSync(path.join(here, '../batch-sync-page.json'), JSON.stringify(pageWorkflow(), null, 2) + '\n');
	writeFileSync(path.join(here, '../batch-sync-operations.json'), JSON.stringify(operationsWorkflow(), null, 2) + '\n');
	console.log('workflows/batch-sync-manager.json, batch-sync-page.json and batch-sync-operations.json written');
}
