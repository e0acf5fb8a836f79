// tests/e2e/node-in-n8n.test.mjs on n8n 1.x (the latest 1.x that installs here, 1.123.81, with
// the isolated-vm override of scripts/install-n8n.sh): the packed node loads and Compare routes
// every output there as on the pinned 2.8.4.
process.env.BATCH_SYNC_N8N_VERSION = '1.123.81';
await import('./node-in-n8n.test.mjs');
