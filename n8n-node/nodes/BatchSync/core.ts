// The only door to the Rust core: one JSON request in, one JSON response out (contract v1, see
// the repository README). The WASM is embedded in ./generated (written by
// scripts/embed-wasm.mjs) and compiled once per process by Node's module cache. Nothing here
// computes a checksum, a diff or a merge: this file only moves JSON across the boundary.
import { callBytes } from './generated/batch_sync';

// A global in Node (and browsers); declared here because the package compiles without DOM or
// Node type libraries.
declare const TextEncoder: new () => { encode(text: string): Uint8Array };
const encoder = new TextEncoder();

export type JsonObject = { [key: string]: unknown };

export interface CoreError {
	code: string;
	message: string;
	path: string;
}

export type CoreResponse = JsonObject & { ok: boolean; error?: CoreError };

/** The request is serialised with JSON.stringify (it escapes lone surrogates, which the core
 * then rejects with a path instead of silently replacing them) and crosses into the module as
 * UTF-8 bytes, one copy (see BENCHMARKS.md for what a string costs there). */
export function callCore(request: JsonObject): CoreResponse {
	return JSON.parse(callBytes(encoder.encode(JSON.stringify(request)))) as CoreResponse;
}
