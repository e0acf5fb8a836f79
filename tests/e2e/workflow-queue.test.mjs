// The whole end-to-end scenario of workflow.test.mjs in n8n's queue mode: Redis, one main and
// two workers; every page of every run is a queue job that a worker runs.
process.env.BATCH_SYNC_E2E_WORKERS = '2';
await import('./workflow.test.mjs');
