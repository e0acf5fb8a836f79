// The Compare benchmarks' workload, shared by benches/n8n/compare.mjs (Code nodes generate it
// inside n8n) and benches/js/module-ab.mjs (plain Node): N local/remote pairs of ~1 KiB
// OpenProject-shaped work packages, 10% changed (5% locally, 5% remotely), 1% on both sides,
// and the base (what the last sync stored) for a three-way Compare.

// The generator, as Code-node source: deterministic for (N, side).
export const generator = (n, side) => `
const N = ${n}, SIDE = ${JSON.stringify(side)};
const words = 'sync task field report review deploy config check update schema merge index batch client server'.split(' ');
const text = (i, len) => { let s = '', x = i * 2654435761 % 4294967296; while (s.length < len) { x = (x * 1103515245 + 12345) % 2147483648; s += words[x % words.length] + ' '; } return s.slice(0, len); };
const out = new Array(N);
for (let i = 0; i < N; i++) {
  const k = i % 100;
  const localEdit = (k < 5 || k === 10) && SIDE === 'local';
  const remoteEdit = (k >= 5 && k < 10 || k === 10) && SIDE === 'remote';
  const wp = {
    _type: 'WorkPackage', id: i + 1, lockVersion: 3 + (remoteEdit ? 1 : 0),
    subject: 'Task ' + (i + 1) + ': ' + text(i, 40) + (localEdit ? ' (edited locally)' : '') + (remoteEdit && k === 10 ? ' (edited remotely)' : ''),
    description: { format: 'markdown', raw: text(i + 7, 320), html: '<p>' + text(i + 7, 120) + '</p>' },
    startDate: '2026-01-05', dueDate: '2026-02-' + String(10 + i % 18).padStart(2, '0'), estimatedTime: 'PT8H', percentageDone: i % 100,
    createdAt: '2026-01-01T10:00:00Z', updatedAt: remoteEdit ? '2026-11-20T12:00:00Z' : '2026-11-01T09:00:00Z',
    _links: {
      self: { href: '/api/v3/work_packages/' + (i + 1), title: 'Task ' + (i + 1) },
      project: { href: '/api/v3/projects/3', title: 'FLRTS' },
      type: { href: '/api/v3/types/1', title: 'Task' },
      status: remoteEdit && k !== 10 ? { href: '/api/v3/statuses/7', title: 'In progress' } : { href: '/api/v3/statuses/1', title: 'New' },
      priority: { href: '/api/v3/priorities/8', title: 'Normal' },
      assignee: { href: '/api/v3/users/' + (i % 50 + 1), title: 'User ' + (i % 50 + 1) },
      author: { href: '/api/v3/users/1', title: 'Admin' },
    },
  };
  if (SIDE === 'base') {
    // The base is what the last sync stored: the record's view (a Compare target record),
    // i.e. without the id, lockVersion and updatedAt fields.
    const { id, lockVersion, updatedAt, ...snapshot } = wp;
    out[i] = { json: { id, snapshot, version: lockVersion } };
  } else out[i] = { json: wp };
}
return out;`;

/** The workload's records for one side in plain Node (the generator's items' json). */
export const records = (n, side) => new Function('$', generator(n, side))().map((item) => item.json);
