// The node's parameters. Every parameter here is translated into the core's configuration by
// ./config.ts; none of them is interpreted in TypeScript.
import type { INodeProperties } from 'n8n-workflow';

const strategyOptions = [
	{
		name: 'Local Wins (Client)',
		value: 'client_wins',
		description: 'On a conflict take the local (database) value',
	},
	{
		name: 'Manual (Leave for a Person)',
		value: 'manual',
		description: 'Every conflicting record goes to the Conflicts output; nothing is written for it',
	},
	{
		name: 'Merge Fields (Three-Way)',
		value: 'merge',
		description:
			'Merge field by field against the base: edits to different fields combine; the same field edited on both sides stays a conflict for a person',
	},
	{
		name: 'Newest Wins',
		value: 'newest_wins',
		description:
			'Take the side with the later updated-at instant (ties go to the higher version, then to remote)',
	},
	{
		name: 'Remote Wins (Server)',
		value: 'server_wins',
		description: 'On a conflict take the remote (OpenProject) value',
	},
];

const show = (operation: string[]) => ({ displayOptions: { show: { operation } } });

const fieldSelection: INodeProperties[] = [
	{
		displayName: 'Fields to Compare',
		name: 'fieldSelection',
		type: 'options',
		default: 'all',
		options: [
			{
				name: 'All Fields',
				value: 'all',
				description:
					'Every field except the ID, version, updated-at and deleted fields, so a re-save without a content change keeps its checksum',
			},
			{ name: 'Only These Fields', value: 'include' },
			{ name: 'All Fields Except', value: 'exclude' },
		],
		...show(['checksum', 'compare']),
	},
	{
		displayName: 'Fields',
		name: 'fields',
		type: 'string',
		default: '',
		placeholder: 'e.g. subject, status.title',
		description: 'Comma-separated field names; dot notation reaches nested fields',
		displayOptions: {
			show: { operation: ['checksum', 'compare'], fieldSelection: ['include', 'exclude'] },
		},
	},
];

const strategyParameters: INodeProperties[] = [
	{
		displayName: 'Conflict Strategy',
		name: 'strategy',
		type: 'options',
		default: 'merge',
		options: strategyOptions,
		description: 'What to do when both sides changed the same record since the base',
		...show(['compare', 'merge']),
	},
	{
		displayName: 'Field Strategies',
		name: 'fieldStrategies',
		type: 'fixedCollection',
		placeholder: 'Add Field Strategy',
		default: {},
		typeOptions: { multipleValues: true },
		description:
			'A different strategy for conflicts at one field (and everything below it); the longest matching field wins',
		options: [
			{
				displayName: 'Field',
				name: 'values',
				values: [
					{
						displayName: 'Field',
						name: 'field',
						type: 'string',
						default: '',
						placeholder: 'e.g. status',
						description: 'Field name; dot notation reaches nested fields',
					},
					{
						displayName: 'Strategy',
						name: 'strategy',
						type: 'options',
						default: 'server_wins',
						options: strategyOptions,
					},
				],
			},
		],
		...show(['compare', 'merge']),
	},
];

export const properties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		default: 'compare',
		options: [
			{
				name: 'Compare',
				value: 'compare',
				action: 'Compare local and remote records',
				description:
					'Detect changes and conflicts between Local, Remote and an optional Base, and route each record by decision',
			},
			{
				name: 'Compute Checksum',
				value: 'checksum',
				action: 'Compute a checksum for each item',
				description: 'Add a canonical (RFC 8785) SHA-256 checksum of each item',
			},
			{
				name: 'Merge',
				value: 'merge',
				action: 'Merge base local and remote versions',
				description: 'Three-way merge of items that carry base, local and remote versions',
			},
			{
				name: 'Plan Staging Rows',
				value: 'plan',
				action: 'Plan staging rows from decisions',
				description:
					"Turn Compare's decisions into staging-table rows and OpenProject requests, in batches",
			},
		],
	},

	// ----- Compute Checksum -----
	{
		displayName: 'Checksum Field',
		name: 'checksumField',
		type: 'string',
		default: 'checksum',
		description: 'Name of the field to add to each item',
		...show(['checksum']),
	},

	// ----- Compare -----
	{
		displayName:
			'Connect the local records (e.g. database rows) to Local, the remote records (e.g. OpenProject work packages) to Remote, and optionally the last synced state to Base. Each record leaves through exactly one output.',
		name: 'compareNotice',
		type: 'notice',
		default: '',
		...show(['compare']),
	},
	{
		displayName: 'Records in Field',
		name: 'recordsField',
		type: 'string',
		default: '',
		placeholder: 'e.g. records',
		description:
			'Leave empty when each item is one record. Set it when each item holds a list of records in this field (e.g. one SQL row with a JSON array): an input with no records then still reaches the node.',
		...show(['compare']),
	},
	{
		displayName: 'Local ID Field',
		name: 'localIdField',
		type: 'string',
		default: 'id',
		hint: 'The field that identifies a record on the Local input; dot notation reaches nested fields',
		description:
			'A local record without this field, or two records with the same value, go to Invalid (with Continue On Fail) or stop the node',
		...show(['compare']),
	},
	{
		displayName: 'Remote ID Field',
		name: 'remoteIdField',
		type: 'string',
		default: 'id',
		hint: 'The field that identifies a record on the Remote input; 42 and "42" match',
		...show(['compare']),
	},
	{
		displayName: 'Mode',
		name: 'mode',
		type: 'options',
		default: 'incremental',
		options: [
			{
				name: 'Incremental',
				value: 'incremental',
				description: 'The inputs hold what changed; a record missing from one side did not change there',
			},
			{
				name: 'Full',
				value: 'full',
				description: 'The inputs hold everything; optionally a synced record missing from one side was deleted there',
			},
			{
				name: 'Reconciliation',
				value: 'reconciliation',
				description: 'Report decisions and differing fields; plan no writes',
			},
		],
		...show(['compare']),
	},
	{
		displayName: 'Missing Means Deleted',
		name: 'deleteMissing',
		type: 'boolean',
		default: false,
		description:
			'Whether a record that has a base but is missing from one side counts as deleted on that side',
		displayOptions: { show: { operation: ['compare'], mode: ['full'] } },
	},
	{
		displayName: 'Send New Pairs to Changes',
		name: 'seedBase',
		type: 'boolean',
		default: false,
		description:
			'Whether an unchanged pair that has no base yet goes to Changes instead of Unchanged, with its target record (the base to store for the next three-way comparison). Off: such a pair goes to Unchanged without a target record, which is faster and leaner.',
		...show(['compare']),
	},
	{
		displayName: 'Checksums of Unchanged Pairs',
		name: 'unchangedChecksums',
		type: 'boolean',
		default: false,
		description:
			"Whether an unchanged pair's item names its records' checksums (and its base's). Off: it names the pair's ID, its records' indexes and versions and its base's index and version, and a pair whose two records are the same JSON text is not hashed at all, which is faster and leaner. (Version 1 of this node always names them.)",
		displayOptions: { show: { operation: ['compare'], '@version': [2] } },
	},
	...strategyParameters,
	{
		displayName: 'Field Mapping',
		name: 'mapping',
		type: 'fixedCollection',
		placeholder: 'Add Mapped Field',
		default: {},
		typeOptions: { multipleValues: true },
		description:
			'How local fields correspond to remote fields. Without a mapping, records are compared as they are.',
		options: [
			{
				displayName: 'Field',
				name: 'values',
				values: [
					{
						displayName: 'Link Prefix',
						name: 'prefix',
						type: 'string',
						default: '',
						placeholder: 'e.g. /api/v3/users/',
						description: 'For Link → ID: the href before the ID',
					},
					{
						displayName: 'Links (JSON)',
						name: 'hrefs',
						type: 'string',
						default: '',
						placeholder: 'e.g. {"New": "/api/v3/statuses/1"}',
						description:
							'For Link → Title: the href of each title, to write a title the records of the batch do not already link (e.g. the statuses of your OpenProject, or an expression reading them)',
					},
					{
						displayName: 'Local Field',
						name: 'local',
						type: 'string',
						default: '',
						placeholder: 'e.g. title',
					},
					{
						displayName: 'Remote Field',
						name: 'remote',
						type: 'string',
						default: '',
						placeholder: 'e.g. subject',
					},
					{
						displayName: 'Text Format',
						name: 'format',
						type: 'string',
						default: 'markdown',
						description: 'For Formattable Text: the format written with the raw text (OpenProject: markdown); empty: none',
					},
					{
						displayName: 'Transform',
						name: 'transform',
						type: 'options',
						default: 'none',
						options: [
							{ name: 'Date (YYYY-MM-DD)', value: 'date' },
							{
								name: 'Formattable Text → Raw Text',
								value: 'formattable',
								description: 'OpenProject {format, raw, html} ↔ its raw text',
							},
							{
								name: 'Link → ID',
								value: 'link_id',
								description: 'OpenProject HAL link ↔ the trailing ID of its href',
							},
							{
								name: 'Link → Title',
								value: 'link_title',
								description: 'OpenProject HAL link {href, title} ↔ its title',
							},
							{ name: 'None', value: 'none' },
							{ name: 'Timestamp (RFC 3339 UTC)', value: 'timestamp' },
						],
					},
					{
						displayName: 'Value Type',
						name: 'valueType',
						type: 'options',
						default: 'any',
						description:
							'The type the value must have on both sides (empty is always allowed); a record whose value has another type goes to Invalid with its reason. Dates, timestamps, links and formattable text are strings already.',
						options: [
							{ name: 'Any', value: 'any' },
							{ name: 'Boolean', value: 'boolean' },
							{ name: 'Integer', value: 'integer' },
							{ name: 'Number', value: 'number' },
							{ name: 'String', value: 'string' },
						],
					},
				],
			},
		],
		...show(['compare']),
	},
	{
		displayName: 'Time Zone',
		name: 'timeZone',
		type: 'string',
		default: 'UTC',
		placeholder: 'e.g. Europe/Berlin',
		description:
			'How to read timestamps without an offset: UTC, an offset such as +02:00, or an IANA time zone name',
		...show(['compare']),
	},
	{
		displayName: 'Base Input',
		name: 'base',
		type: 'collection',
		placeholder: 'Add Field',
		default: {},
		description: 'Where the fields of a Base item are (e.g. rows of a mirror table)',
		options: [
			{
				displayName: 'Base Checksum Field',
				name: 'checksumField',
				type: 'string',
				default: 'checksum',
			},
			{
				displayName: 'Base ID Field',
				name: 'idField',
				type: 'string',
				default: 'id',
			},
			{
				displayName: 'Base Snapshot Field',
				name: 'snapshotField',
				type: 'string',
				default: 'snapshot',
				description: 'The record as last synced (a previous Compare target record)',
			},
			{
				displayName: 'Base Version Field',
				name: 'versionField',
				type: 'string',
				default: 'version',
				description: 'The remote lockVersion when the record was last synced',
			},
		],
		...show(['compare']),
	},

	// ----- Merge -----
	{
		displayName: 'Base Field',
		name: 'baseField',
		type: 'string',
		default: 'base',
		description: 'Field of each item holding the common ancestor; dot notation reaches nested fields',
		...show(['merge']),
	},
	{
		displayName: 'Local Field',
		name: 'localField',
		type: 'string',
		default: 'local',
		...show(['merge']),
	},
	{
		displayName: 'Remote Field',
		name: 'remoteField',
		type: 'string',
		default: 'remote',
		...show(['merge']),
	},
	{
		displayName: 'Output Field',
		name: 'outputField',
		type: 'string',
		default: 'merge',
		description: 'Field to put the result in: merged, status, conflicts, patches and checksum',
		...show(['merge']),
	},

	// ----- Plan Staging Rows -----
	{
		displayName: 'Batch Size',
		name: 'batchSize',
		type: 'number',
		default: 50,
		typeOptions: { minValue: 1 },
		description: 'Staging rows per output item',
		...show(['plan']),
	},
	{
		displayName: 'Retry',
		name: 'retry',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		description: 'The retry schedule planned for each row (full jitter, then dead letter)',
		options: [
			{ displayName: 'Base Delay (Ms)', name: 'base_ms', type: 'number', default: 1000 },
			{ displayName: 'Max Delay (Ms)', name: 'cap_ms', type: 'number', default: 300000 },
			{ displayName: 'Max Retries', name: 'max_retries', type: 'number', default: 3 },
			{
				displayName: 'Seed',
				name: 'seed',
				type: 'number',
				default: 0,
				description: 'Makes the jitter reproducible',
			},
		],
		...show(['plan']),
	},

	...fieldSelection,
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Advanced Configuration (JSON)',
				name: 'config',
				type: 'json',
				default: '{}',
				description:
					'Any other key of the core configuration (see the README), e.g. {"arrays": {"/children": "key"}}. Keys set here override the fields above.',
			},
			{
				displayName: 'Deleted Field',
				name: 'deletedField',
				type: 'string',
				default: '',
				placeholder: 'e.g. deleted_at',
				description: 'Tombstone field: a record where it is present and not null or false counts as deleted',
			},
			{
				displayName: 'ID Field',
				name: 'idField',
				type: 'string',
				default: 'id',
				description: 'For Compute Checksum and Merge: the field that identifies an item',
			},
			{
				displayName: 'Updated-At Field',
				name: 'updatedAtField',
				type: 'string',
				default: 'updatedAt',
				description: 'RFC 3339 timestamp used by Newest Wins and when versions are equal',
			},
			{
				displayName: 'Version Field',
				name: 'versionField',
				type: 'string',
				default: 'lockVersion',
				description: 'Optimistic-lock version (OpenProject lockVersion); empty to disable',
			},
		],
	},
];
