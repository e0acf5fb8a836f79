// The only door to the Rust core: one JSON request in, one JSON response out (contract v1, see
// the repository README). The WASM is embedded in ./generated (written by
// scripts/embed-wasm.mjs) and compiled once per process by Node's module cache. Nothing here
// computes a checksum, a diff or a merge: this file only moves JSON across the boundary.
import { RequestWriter, moduleMemory } from './generated/batch_sync';

// Globals in Node (and browsers); declared here because the package compiles without DOM or
// Node type libraries.
declare const TextEncoder: new () => {
	encodeInto(text: string, into: Uint8Array): { read: number; written: number };
};
const encoder = new TextEncoder();

export type JsonObject = { [key: string]: unknown };

export interface CoreError {
	code: string;
	message: string;
	path: string;
}

export type CoreResponse = JsonObject & { ok: boolean; error?: CoreError };

/** Records per JSON.stringify call when an array member is written. */
const CHUNK = 256;

/** Members written first: the core reads the configuration before the records, and reads a
 * classify request straight from its text only when it comes first (see src/lazy.rs); with the
 * base before the sides it knows which pairs are compared with a base as it reads them. */
const FIRST = ['op', 'contract', 'config', 'base'];

/**
 * Sends the request and returns the response. The request is the text `JSON.stringify` writes
 * (which escapes lone surrogates, so that the core rejects them with a path instead of seeing
 * them silently replaced), but never held whole: each member, and each run of CHUNK records of
 * an array member, is stringified on its own and encoded straight into the module's memory.
 * At 100k pairs the whole text would be ~220 MB as a string and again as bytes.
 */
export function callCore(request: JsonObject): CoreResponse {
	const keys = [...FIRST.filter((k) => k in request), ...Object.keys(request).filter((k) => !FIRST.includes(k))];
	const writer = new RequestWriter(sizeHint(request));
	let sent = false;
	try {
		put(writer, '{');
		let first = true;
		for (const key of keys) {
			const value = request[key];
			const head = `${first ? '' : ','}${JSON.stringify(key)}:`;
			if (Array.isArray(value)) {
				put(writer, head);
				if (value.length === 0) put(writer, '[]');
				for (let i = 0; i < value.length; i += CHUNK) {
					// Each run "[a,b]" is encoded as it is (a string made by concatenation would be
					// copied first): its "[" becomes the comma after the run before, and its "]" is
					// dropped but for the last run's, which closes the array.
					put(writer, JSON.stringify(value.slice(i, i + CHUNK)), i > 0, i + CHUNK < value.length);
				}
			} else {
				const text = JSON.stringify(value) as string | undefined;
				if (text === undefined) continue; // as JSON.stringify leaves out such a member
				put(writer, head + text);
			}
			first = false;
		}
		put(writer, '}');
		sent = true;
		return JSON.parse(writer.call()) as CoreResponse;
	} finally {
		if (!sent) writer.free();
	}
}

/** Encodes `text` as UTF-8 straight into the module's memory, at the end of the request;
 * for a run of records, its first byte ("[") becomes a comma and its last ("]") is left out
 * as asked. */
function put(writer: RequestWriter, text: string, comma = false, open = false): void {
	const room = text.length * 3; // a UTF-16 code unit takes at most 3 UTF-8 bytes
	const at = writer.reserve(room);
	if (at === 0 && room > 0) throw new Error('Batch Sync: the module could not grow its memory for the request');
	// Read the buffer after reserve: growing the memory replaces it.
	const into = new Uint8Array((moduleMemory() as { buffer: ArrayBuffer }).buffer, at, room);
	const { read, written } = encoder.encodeInto(text, into);
	if (comma) into[0] = 0x2c;
	if (read !== text.length || !writer.commit(open ? written - 1 : written)) {
		throw new Error('Batch Sync: the request could not be written into the module');
	}
}

/** About the request's size in bytes, from a sample of each array's records. */
function sizeHint(request: JsonObject): number {
	let total = 1024;
	for (const value of Object.values(request)) {
		if (!Array.isArray(value)) {
			total += (JSON.stringify(value) ?? '').length;
			continue;
		}
		const n = value.length;
		if (n === 0) continue;
		const step = Math.max(1, Math.floor(n / 16));
		let sampled = 0;
		let chars = 0;
		for (let i = 0; i < n; i += step) {
			chars += (JSON.stringify(value[i]) ?? 'null').length + 1;
			sampled++;
		}
		total += Math.ceil((chars / sampled) * n * 1.15);
	}
	return total;
}

/**
 * Runs one small classify when the node is loaded (n8n loads community nodes when it starts,
 * in the main process and in every queue-mode worker). WebAssembly functions are compiled when
 * first called, and run unoptimised until V8 tiers them up: without this, the first Compare of
 * a process paid for that (a 10k-pair Compare in a fresh process: ~340 ms against ~160 ms
 * warm). 128 pairs, some differing, take the paths a Compare takes: ~20 ms at load, and the
 * first 10k-pair Compare then takes ~250 ms (BENCHMARKS.md, issue 12). A failure here changes
 * nothing: the real call reports its own.
 */
function warmUp(): void {
	const record = (i: number, edit: string) => ({
		_type: 'WorkPackage',
		id: i,
		lockVersion: 1,
		subject: `Task ${i}${edit}`,
		description: { format: 'markdown', raw: `Work package ${i}: a description of some length`, html: '<p>…</p>' },
		percentageDone: i,
		_links: { status: { href: '/api/v3/statuses/1', title: 'New' }, self: { href: `/api/v3/work_packages/${i}` } },
	});
	const local = [];
	const remote = [];
	for (let i = 0; i < 128; i++) {
		local.push(record(i, i % 8 === 0 ? ' (edited)' : ''));
		remote.push(record(i, i % 8 === 4 ? ' (edited remotely)' : ''));
	}
	try {
		callCore({ op: 'classify', config: { seed_base: false, lean_unchanged: true }, local, remote });
	} catch {
		// Nothing to do: see above.
	}
}

warmUp();
