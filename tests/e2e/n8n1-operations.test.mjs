// tests/e2e/operations.test.mjs on n8n 1.x (the latest 1.x that installs here, 1.123.81, with the
// isolated-vm override of scripts/install-n8n.sh), as well as on the pinned 2.8.4: the node
// package, the bundled workflows and their endpoints work on both.
process.env.BATCH_SYNC_N8N_VERSION = '1.123.81';
await import('./operations.test.mjs');
