// Writes workflows/batch-sync-manager.json, the importable Batch Sync Manager workflow, from
// this readable source (a test checks that the committed JSON is what this script writes).
//   node workflows/src/build.mjs
//
// Flow (n8n's v1 execution order runs a branch to its end before the next, top to bottom):
//   Every 15 Minutes / Run Now -> Settings (the one place a user edits) -> Start Run (settings
//     checked, run id, full or incremental, cursors, retries, the heartbeat lock)
//     -> Lock Held? true -> Run Blocked (an error execution naming the holder)
//                   false -> Unfinished Creates -> Find Lost Creates (by marker custom field)
//                            -> Record Found Creates (the lost answers, recorded: no second create)
//     -> Get Changed Items (tasks changed since the cursor + retries; one row, a JSON array)
//     -> Get Changed Work Packages (OpenProject updatedAt filter with overlap, all statuses, all
//          pages; error output -> Fail Run -> Run Failed)
//     -> Get Base (the mirror rows of those keys)
//     -> Compare (Batch Sync: Local, Remote, Base)
//          Changes   -> Plan Staging Rows -> Loop Over Items (one plan batch at a time; each row
//                         holds its decision's local write, base write and OpenProject request)
//                         -> Stage Batch -> Process Batch (one transaction: local writes, mirror, audit)
//                         -> Write to OpenProject (PATCH with lockVersion / POST / DELETE, concurrent)
//                         -> Record OpenProject Results (mirror, links, retries) -> Loop Over Items
//                       (each of the four: error output -> Record Batch Failure -> Loop Over Items)
//          Conflicts -> Record Conflicts (sync_conflicts; a conflict whose other fields sync comes
//                       through Changes and is recorded when its row is written)
//          Unchanged -> Refresh Versions (the mirror's lock_version, bumped by unmapped edits)
//          Invalid   -> Record Invalid (sync_audit)
//          Summary   -> (read by Finish Run: the core's counts by decision kind)
//     -> Finish Run (bottom branch of Lock Held? false: metrics row, cursors, lock released,
//        after all of the above)
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const CREDENTIALS = {
	postgres: { id: 'batchSyncFlrtsPg', name: 'FLRTS PostgreSQL' },
	openProjectApi: { id: 'batchSyncOpenProj', name: 'OpenProject API' },
};

// The core's configuration for this sync (see the repository README's configuration table).
// Status hrefs: the statuses of the OpenProject instance (these are the stand-in's).
export const SYNC_CONFIG = {
	local_version_field: null,
	local_updated_at_field: '/updated_at',
	local_deleted_field: '/deleted_at',
	mapping: [
		{ local: '/title', remote: '/subject', type: 'string' },
		{ local: '/description', remote: '/description', transform: { type: 'formattable', format: 'markdown' } },
		{
			local: '/status',
			remote: '/_links/status',
			transform: {
				type: 'link_title',
				hrefs: { New: '/api/v3/statuses/1', 'In progress': '/api/v3/statuses/7', Closed: '/api/v3/statuses/12', Rejected: '/api/v3/statuses/14' },
			},
		},
		{ local: '/due_date', remote: '/dueDate', transform: 'date' },
	],
};

// The one place a user edits: the Settings node at the start (checked by batch_sync_settings
// in sync.sql, which names a bad key). Every other node reads them from Start Run.
export const SETTINGS = {
	BATCH_SIZE: 50,
	MAX_RETRIES: 3,
	RETRY_BASE_SECONDS: 60,
	LOCK_TIMEOUT_MINUTES: 5,
	WRITE_CONCURRENCY: 8,
	REQUESTS_PER_SECOND: 0,
	REQUEST_TIMEOUT_SECONDS: 60,
	OPENPROJECT_PROJECT_ID: '3',
	MARKER_FIELD: 'customField1',
};

const start = "$('Start Run').first().json";
const settings = `${start}.settings`;
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
const audit = "workflow: $workflow.id, execution: $execution.id";
const io = {
	concurrency: `={{ ${settings}.WRITE_CONCURRENCY }}`,
	perSecond: `={{ ${settings}.REQUESTS_PER_SECOND }}`,
	timeoutSeconds: `={{ ${settings}.REQUEST_TIMEOUT_SECONDS }}`,
};
const onErrorOutput = { onError: 'continueErrorOutput' };

export function workflow() {
	const nodes = [
		node('Every 15 Minutes', 'n8n-nodes-base.scheduleTrigger', 1.2, [0, 0], { rule: { interval: [{ field: 'minutes', minutesInterval: 15 }] } }),
		node('Run Now', 'n8n-nodes-base.manualTrigger', 1, [0, 200], {}),
		node('Settings', 'n8n-nodes-base.set', 3.4, [220, 100], { mode: 'raw', jsonOutput: JSON.stringify(SETTINGS, null, 2), options: {} }),
		sql(
			'Start Run',
			[440, 100],
			"SELECT * FROM batch_sync_start(false, $1::jsonb->'settings', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ settings: $json, ${audit} }`,
		),
		node(
			'Lock Held?',
			'n8n-nodes-base.if',
			2.2,
			[660, 100],
			{
				conditions: {
					options: { caseSensitive: true, leftValue: '', typeValidation: 'strict', version: 2 },
					conditions: [{ id: 'blocked', leftValue: '={{ $json.blocked }}', rightValue: '', operator: { type: 'boolean', operation: 'true', singleValue: true } }],
					combinator: 'and',
				},
				options: {},
			},
		),
		node('Run Blocked', 'n8n-nodes-base.stopAndError', 1, [880, -100], { errorMessage: '={{ "Sync blocked: " + $json.reason }}' }),
		sql('Unfinished Creates', [880, 0], 'SELECT * FROM batch_sync_unfinished_creates()'),
		node(
			'Find Lost Creates',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[1100, 0],
			{
				operation: 'findByMarker',
				keys: `={{ JSON.stringify(${settings}.MARKER_FIELD ? $json.keys : []) }}`,
				markerField: `={{ ${settings}.MARKER_FIELD }}`,
				projectId: `={{ ${settings}.OPENPROJECT_PROJECT_ID }}`,
				io,
			},
			{ credentials: { openProjectApi: CREDENTIALS.openProjectApi }, executeOnce: true, ...onErrorOutput },
		),
		sql(
			'Record Found Creates',
			[1320, 0],
			"SELECT * FROM batch_sync_recover_creates($1::jsonb->>'run', $1::jsonb->'found', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, found: $json.found, ${audit} }`,
		),
		sql(
			'Get Changed Items',
			[1540, 0],
			"SELECT * FROM batch_sync_changed_tasks(($1::jsonb->>'full')::boolean, ($1::jsonb->>'since')::timestamptz, $1::jsonb->'retry')",
			`{ full: ${start}.full_sync, since: ${start}.local_since, retry: ${start}.retry_keys }`,
		),
		node(
			'Get Changed Work Packages',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[1760, 0],
			{
				operation: 'getChanged',
				since: `={{ ${start}.full_sync ? '' : ${start}.remote_since }}`,
				overlapSeconds: 300,
				ids: `={{ JSON.stringify(${start}.retry_remote_ids) }}`,
				pageSize: 1000,
				output: 'aggregate',
				projectId: `={{ ${settings}.OPENPROJECT_PROJECT_ID }}`,
				io,
			},
			// 429/503 are asked again by the node itself; a listing that still fails (or a
			// timeout) is tried again twice by n8n, then takes the error output: Fail Run records
			// it and releases the lock, the cursors stay put.
			{ credentials: { openProjectApi: CREDENTIALS.openProjectApi }, executeOnce: true, retryOnFail: true, maxTries: 3, waitBetweenTries: 5000, ...onErrorOutput },
		),
		sql(
			'Get Base',
			[1980, 0],
			"SELECT * FROM batch_sync_base(($1::jsonb->>'full')::boolean, $1::jsonb->'keys')",
			`{ full: ${start}.full_sync, keys: [...$('Get Changed Items').first().json.records.map((r) => String(r.sync_id)), ...$('Get Changed Work Packages').first().json.records.map((r) => String(r.id))] }`,
		),
		node(
			'Compare',
			'n8n-nodes-batch-sync.batchSync',
			1,
			[2200, 100],
			{
				operation: 'compare',
				recordsField: 'records',
				localIdField: 'sync_id',
				remoteIdField: 'id',
				mode: `={{ ${start}.full_sync ? 'full' : 'incremental' }}`,
				deleteMissing: true,
				seedBase: true,
				strategy: 'merge',
				timeZone: 'UTC',
				options: { config: JSON.stringify(SYNC_CONFIG, null, 2) },
			},
			{ onError: 'continueRegularOutput' },
		),
		node('Plan Staging Rows', 'n8n-nodes-batch-sync.batchSync', 1, [2420, 0], {
			operation: 'plan',
			batchSize: `={{ ${settings}.BATCH_SIZE }}`,
			retry: { base_ms: `={{ ${settings}.RETRY_BASE_SECONDS * 1000 }}`, cap_ms: 3600000, max_retries: `={{ ${settings}.MAX_RETRIES }}`, seed: 0 },
		}),
		node('Loop Over Items', 'n8n-nodes-base.splitInBatches', 3, [2640, 0], { batchSize: 1, options: {} }),
		sql(
			'Stage Batch',
			[2860, 100],
			"SELECT * FROM batch_sync_stage($1::jsonb->>'run', $1::jsonb->'rows')",
			`{ run: ${start}.run_id, rows: $json.rows }`,
			onErrorOutput,
		),
		sql(
			'Process Batch',
			[3080, 100],
			"SELECT * FROM batch_sync_process($1::jsonb->>'run', $1::jsonb->'keys', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, keys: $('Loop Over Items').first().json.rows.map((r) => r.idempotency_key), ${audit} }`,
			onErrorOutput,
		),
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
				io,
			},
			{ credentials: { openProjectApi: CREDENTIALS.openProjectApi }, ...onErrorOutput },
		),
		sql(
			'Record OpenProject Results',
			[3520, 100],
			"SELECT * FROM batch_sync_record_remote($1::jsonb->>'run', $1::jsonb->'results', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, results: $json.results, ${audit} }`,
			onErrorOutput,
		),
		sql(
			'Record Batch Failure',
			[3300, 320],
			"SELECT * FROM batch_sync_fail_batch($1::jsonb->>'run', $1::jsonb->'keys', $1::jsonb->'error', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, keys: $('Loop Over Items').first().json.rows.map((r) => r.idempotency_key), error: { message: String($json.error?.message ?? $json.message ?? $json.error ?? 'unknown error') }, ${audit} }`,
		),
		sql(
			'Fail Run',
			[1980, -200],
			"SELECT * FROM batch_sync_fail_run($1::jsonb->>'run', $1::jsonb->>'stage', $1::jsonb->'error', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, stage: 'Reading OpenProject', error: { message: String($json.error?.message ?? $json.message ?? $json.error ?? 'unknown error') }, ${audit} }`,
		),
		node('Run Failed', 'n8n-nodes-base.stopAndError', 1, [2200, -200], { errorMessage: '={{ "Sync run failed: " + $json.reason }}' }),
		sql(
			'Record Conflicts',
			[2420, 260],
			"SELECT * FROM batch_sync_record_exceptions($1::jsonb->>'run', $1::jsonb->'conflicts', '[]'::jsonb, $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, conflicts: $input.all().map((i) => i.json), ${audit} }`,
		),
		sql(
			'Refresh Versions',
			[2420, 420],
			"SELECT * FROM batch_sync_refresh_versions($1::jsonb->'decisions')",
			`{ decisions: $input.all().map((i) => ({ id: i.json.id, remote: i.json.remote, base: i.json.base })) }`,
		),
		sql(
			'Record Invalid',
			[2420, 580],
			"SELECT * FROM batch_sync_record_exceptions($1::jsonb->>'run', '[]'::jsonb, $1::jsonb->'invalid', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, invalid: $input.all().map((i) => i.json), ${audit} }`,
		),
		sql(
			'Finish Run',
			[880, 800],
			"SELECT * FROM batch_sync_finish($1::jsonb->>'run', ($1::jsonb->>'full')::boolean, ($1::jsonb->>'started')::timestamptz, $1::jsonb->>'remote_max', $1::jsonb->'summary', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, full: ${start}.full_sync, started: ${start}.started_at, remote_max: $('Get Changed Work Packages').first().json.maxUpdatedAt || '', summary: $('Compare').first(4).json.summary, ${audit} }`,
		),
	];
	const connections = {
		'Every 15 Minutes': { main: [[to('Settings')]] },
		'Run Now': { main: [[to('Settings')]] },
		Settings: { main: [[to('Start Run')]] },
		'Start Run': { main: [[to('Lock Held?')]] },
		// If: output 0 is "true" (another run holds the lock), output 1 "false".
		'Lock Held?': { main: [[to('Run Blocked')], [to('Unfinished Creates'), to('Finish Run')]] },
		'Unfinished Creates': { main: [[to('Find Lost Creates')]] },
		'Find Lost Creates': { main: [[to('Record Found Creates')], [to('Fail Run')]] },
		'Record Found Creates': { main: [[to('Get Changed Items')]] },
		'Fail Run': { main: [[to('Run Failed')]] },
		'Get Changed Items': { main: [[to('Get Changed Work Packages'), to('Compare', 0)]] },
		'Get Changed Work Packages': { main: [[to('Get Base'), to('Compare', 1)], [to('Fail Run')]] },
		'Get Base': { main: [[to('Compare', 2)]] },
		Compare: { main: [[to('Plan Staging Rows')], [to('Record Conflicts')], [to('Refresh Versions')], [to('Record Invalid')]] },
		'Plan Staging Rows': { main: [[to('Loop Over Items')], []] },
		// splitInBatches v3: output 0 is "done", output 1 is "loop".
		'Loop Over Items': { main: [[], [to('Stage Batch')]] },
		// A batch that fails as a whole is recorded (its rows wait for a retry) and the loop goes on.
		'Stage Batch': { main: [[to('Process Batch')], [to('Record Batch Failure')]] },
		'Process Batch': { main: [[to('Write to OpenProject')], [to('Record Batch Failure')]] },
		'Write to OpenProject': { main: [[to('Record OpenProject Results')], [to('Record Batch Failure')]] },
		'Record OpenProject Results': { main: [[to('Loop Over Items')], [to('Record Batch Failure')]] },
		'Record Batch Failure': { main: [[to('Loop Over Items')]] },
	};
	return {
		id: 'batchSyncManager',
		name: 'Batch Sync Manager',
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
	console.log('workflows/batch-sync-manager.json written');
}
