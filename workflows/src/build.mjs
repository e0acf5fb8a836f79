// Writes workflows/batch-sync-manager.json, the importable Batch Sync Manager workflow, from
// this readable source (a test checks that the committed JSON is what this script writes).
//   node workflows/src/build.mjs
//
// Flow (n8n's v1 execution order runs a branch to its end before the next, top to bottom):
//   Every 15 Minutes / Run Now -> Start Run (run id, full or incremental, cursors, retries)
//     -> Get Changed Items (tasks changed since the cursor + retries; one row, a JSON array)
//     -> Get Changed Work Packages (OpenProject updatedAt filter with overlap, all statuses, all pages)
//     -> Get Base (the mirror rows of those keys)
//     -> Compare (Batch Sync: Local, Remote, Base)
//          Changes   -> Plan Staging Rows -> Loop Over Items (one plan batch at a time; each row
//                         holds its decision's local write, base write and OpenProject request)
//                         -> Stage Batch -> Process Batch (one transaction: local writes, mirror, audit)
//                         -> Write to OpenProject (PATCH with lockVersion / POST / DELETE)
//                         -> Record OpenProject Results (mirror, links, retries) -> Loop Over Items
//          Conflicts -> Record Conflicts (sync_conflicts; a conflict whose other fields sync comes
//                       through Changes and is recorded when its row is written)
//          Unchanged -> Refresh Versions (the mirror's lock_version, bumped by unmapped edits)
//          Invalid   -> Record Invalid (sync_audit)
//          Summary   -> (read by Finish Run: the core's counts by decision kind)
//     -> Finish Run (bottom branch: metrics row, cursors advanced only after all of the above)
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

const start = "$('Start Run').first().json";
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

export function workflow() {
	const nodes = [
		node('Every 15 Minutes', 'n8n-nodes-base.scheduleTrigger', 1.2, [0, 0], { rule: { interval: [{ field: 'minutes', minutesInterval: 15 }] } }),
		node('Run Now', 'n8n-nodes-base.manualTrigger', 1, [0, 200], {}),
		sql('Start Run', [220, 100], 'SELECT * FROM batch_sync_start(false)'),
		sql(
			'Get Changed Items',
			[440, 0],
			"SELECT * FROM batch_sync_changed_tasks(($1::jsonb->>'full')::boolean, ($1::jsonb->>'since')::timestamptz, $1::jsonb->'retry')",
			`{ full: ${start}.full_sync, since: ${start}.local_since, retry: ${start}.retry_keys }`,
		),
		node(
			'Get Changed Work Packages',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[660, 0],
			{
				operation: 'getChanged',
				since: `={{ ${start}.full_sync ? '' : ${start}.remote_since }}`,
				overlapSeconds: 300,
				ids: `={{ JSON.stringify(${start}.retry_remote_ids) }}`,
				pageSize: 1000,
				output: 'aggregate',
				projectId: '3',
			},
			// A 429, a 5xx or a timeout while reading fails the node: n8n tries again twice, and
			// if it still fails the run stops before Finish Run, so the cursors stay put.
			{ credentials: { openProjectApi: CREDENTIALS.openProjectApi }, executeOnce: true, retryOnFail: true, maxTries: 3, waitBetweenTries: 5000 },
		),
		sql(
			'Get Base',
			[880, 0],
			"SELECT * FROM batch_sync_base(($1::jsonb->>'full')::boolean, $1::jsonb->'keys')",
			`{ full: ${start}.full_sync, keys: [...$('Get Changed Items').first().json.records.map((r) => String(r.sync_id)), ...$('Get Changed Work Packages').first().json.records.map((r) => String(r.id))] }`,
		),
		node(
			'Compare',
			'n8n-nodes-batch-sync.batchSync',
			1,
			[1100, 100],
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
		node('Plan Staging Rows', 'n8n-nodes-batch-sync.batchSync', 1, [1320, 0], {
			operation: 'plan',
			batchSize: 50,
			retry: { base_ms: 60000, cap_ms: 3600000, max_retries: 5, seed: 0 },
		}),
		node('Loop Over Items', 'n8n-nodes-base.splitInBatches', 3, [1540, 0], { batchSize: 1, options: {} }),
		sql(
			'Stage Batch',
			[1760, 100],
			"SELECT * FROM batch_sync_stage($1::jsonb->>'run', $1::jsonb->'rows')",
			`{ run: ${start}.run_id, rows: $json.rows }`,
		),
		sql(
			'Process Batch',
			[1980, 100],
			"SELECT * FROM batch_sync_process($1::jsonb->>'run', $1::jsonb->'keys', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, keys: $('Loop Over Items').first().json.rows.map((r) => r.idempotency_key), ${audit} }`,
		),
		node(
			'Write to OpenProject',
			'n8n-nodes-batch-sync.openProjectSync',
			1,
			[2200, 100],
			{ operation: 'write', opsField: 'ops', projectId: '3' },
			{ credentials: { openProjectApi: CREDENTIALS.openProjectApi } },
		),
		sql(
			'Record OpenProject Results',
			[2420, 100],
			"SELECT * FROM batch_sync_record_remote($1::jsonb->>'run', $1::jsonb->'results', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, results: $json.results, ${audit} }`,
		),
		sql(
			'Record Conflicts',
			[1320, 200],
			"SELECT * FROM batch_sync_record_exceptions($1::jsonb->>'run', $1::jsonb->'conflicts', '[]'::jsonb, $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, conflicts: $input.all().map((i) => i.json), ${audit} }`,
		),
		sql(
			'Refresh Versions',
			[1320, 300],
			"SELECT * FROM batch_sync_refresh_versions($1::jsonb->'decisions')",
			`{ decisions: $input.all().map((i) => ({ id: i.json.id, remote: i.json.remote, base: i.json.base })) }`,
		),
		sql(
			'Record Invalid',
			[1320, 400],
			"SELECT * FROM batch_sync_record_exceptions($1::jsonb->>'run', '[]'::jsonb, $1::jsonb->'invalid', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, invalid: $input.all().map((i) => i.json), ${audit} }`,
		),
		sql(
			'Finish Run',
			[440, 600],
			"SELECT * FROM batch_sync_finish($1::jsonb->>'run', ($1::jsonb->>'full')::boolean, ($1::jsonb->>'started')::timestamptz, $1::jsonb->>'remote_max', $1::jsonb->'summary', $1::jsonb->>'workflow', $1::jsonb->>'execution')",
			`{ run: ${start}.run_id, full: ${start}.full_sync, started: ${start}.started_at, remote_max: $('Get Changed Work Packages').first().json.maxUpdatedAt || '', summary: $('Compare').first(4).json.summary, ${audit} }`,
		),
	];
	const connections = {
		'Every 15 Minutes': { main: [[to('Start Run')]] },
		'Run Now': { main: [[to('Start Run')]] },
		'Start Run': { main: [[to('Get Changed Items'), to('Finish Run')]] },
		'Get Changed Items': { main: [[to('Get Changed Work Packages'), to('Compare', 0)]] },
		'Get Changed Work Packages': { main: [[to('Get Base'), to('Compare', 1)]] },
		'Get Base': { main: [[to('Compare', 2)]] },
		Compare: { main: [[to('Plan Staging Rows')], [to('Record Conflicts')], [to('Refresh Versions')], [to('Record Invalid')]] },
		'Plan Staging Rows': { main: [[to('Loop Over Items')], []] },
		// splitInBatches v3: output 0 is "done", output 1 is "loop".
		'Loop Over Items': { main: [[], [to('Stage Batch')]] },
		'Stage Batch': { main: [[to('Process Batch')]] },
		'Process Batch': { main: [[to('Write to OpenProject')]] },
		'Write to OpenProject': { main: [[to('Record OpenProject Results')]] },
		'Record OpenProject Results': { main: [[to('Loop Over Items')]] },
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	writeFileSync(path.join(here, '../batch-sync-manager.json'), JSON.stringify(workflow(), null, 2) + '\n');
	console.log('workflows/batch-sync-manager.json written');
}
