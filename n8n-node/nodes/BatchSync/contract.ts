// Generated from the Rust definition (src/decision.rs, SCHEMA) by
//   BATCH_SYNC_WRITE_SCHEMA=1 cargo test --test schema
// Do not edit: tests/schema.rs fails when this file and the Rust schema disagree.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface SideState {
	index?: number;
	checksum?: string;
	version?: number;
	deleted?: boolean;
	action: 'none' | 'create' | 'update' | 'delete';
	patch?: JsonObject;
	record?: JsonObject;
}

export interface BaseRef {
	index: number;
	checksum?: string;
	version?: number;
}

export interface Target {
	action: 'none' | 'upsert' | 'delete';
	checksum?: string;
	record?: JsonObject;
}

export interface ConflictInfo {
	type: 'concurrent_modification' | 'modify_delete' | 'local_behind' | 'remote_behind';
	strategy: 'server_wins' | 'client_wins' | 'newest_wins' | 'manual' | 'merge';
	status: 'resolved' | 'unresolved';
}

export interface FieldConflict {
	path: string;
	base?: JsonValue;
	local?: JsonValue;
	remote?: JsonValue;
	reason: 'both_modified' | 'both_added' | 'local_deleted' | 'remote_deleted' | 'type_changed' | 'no_base';
	resolution: 'local' | 'remote' | 'unresolved';
	strategy: 'server_wins' | 'client_wins' | 'newest_wins' | 'manual' | 'merge';
}

export interface CoreError {
	code: string;
	message: string;
	path: string;
}

export interface PairDecision {
	id: string;
	decision: 'unchanged' | 'create_remote' | 'create_local' | 'update_remote' | 'update_local' | 'converged' | 'delete_remote' | 'delete_local' | 'conflict';
	conflict?: ConflictInfo;
	conflicts?: FieldConflict[];
	differences?: string[];
	local: SideState;
	remote: SideState;
	base?: BaseRef;
	target: Target;
}

export interface InvalidDecision {
	id?: string;
	decision: 'invalid';
	side: 'local' | 'remote' | 'base';
	index: number;
	error: CoreError;
}

export interface Summary {
	unchanged: number;
	create_remote: number;
	create_local: number;
	update_remote: number;
	update_local: number;
	converged: number;
	delete_remote: number;
	delete_local: number;
	conflict: number;
	invalid: number;
	conflicts_resolved: number;
	conflicts_unresolved: number;
	total: number;
}

export interface RemoteOp {
	op: 'create' | 'patch' | 'delete';
	body: JsonObject | null;
	lock_version: number | null;
}

export interface OpenConflict {
	type: 'concurrent_modification' | 'modify_delete' | 'local_behind' | 'remote_behind';
	strategy: 'server_wins' | 'client_wins' | 'newest_wins' | 'manual' | 'merge';
	conflicts: FieldConflict[];
	local_checksum: string | null;
	remote_checksum: string | null;
}

export interface PlanRow {
	external_id: string;
	operation: 'insert' | 'update' | 'delete' | 'none';
	data: JsonObject | null;
	checksum: string | null;
	decision: 'unchanged' | 'create_remote' | 'create_local' | 'update_remote' | 'update_local' | 'converged' | 'delete_remote' | 'delete_local' | 'conflict';
	decision_index: number;
	local_action: 'none' | 'create' | 'update' | 'delete';
	local_record: JsonObject | null;
	remote: RemoteOp | null;
	remote_version: number | null;
	conflict: OpenConflict | null;
	idempotency_key: string;
	retry_delays_ms: number[];
}

export type Decision = PairDecision | InvalidDecision;
