// Writes the demo's sample data (deterministic): tasks.json for the FLRTS database and
// work_packages.json for the OpenProject stand-in. node workflows/sample/make.mjs
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const statuses = [[1, 'New'], [7, 'In progress'], [12, 'Closed']];
const tasks = [];
const wps = [];
const due = (i) => (i % 5 === 0 ? `2026-12-${String(1 + (i % 28)).padStart(2, '0')}` : null);
for (let i = 1; i <= 200; i++) {
	const [sid, status] = statuses[i % 3];
	const title = `Inspect site ${i}`;
	const description = `Field task ${i}: inspect the equipment and file the report.`;
	if (i <= 170) wps.push({ id: i, subject: title, description, statusId: sid, dueDate: due(i) });
	if (i <= 150) tasks.push({ external_id: String(i), title, description, status, due_date: due(i) });
	// 151-170: linked, but OpenProject has a newer status (update the task).
	else if (i <= 170) tasks.push({ external_id: String(i), title, description, status: 'New', due_date: due(i), updated_at: '2026-11-01T08:00:00Z' });
	// 171-185: tasks not yet in OpenProject (create there).
	else if (i <= 185) tasks.push({ external_id: null, title: `New FLRTS task ${i}`, description, status: 'New', due_date: due(i) });
}
// 171-185 in OpenProject only (create tasks); 186-187 unreadable (a dueDate that is no date).
for (let i = 171; i <= 187; i++) wps.push({ id: 1000 + i, subject: `Planned in OpenProject ${i}`, description: 'From the planning board.', statusId: 1, dueDate: i > 185 ? 'next week' : null });
writeFileSync(path.join(here, 'tasks.json'), JSON.stringify(tasks, null, 1) + '\n');
writeFileSync(path.join(here, 'work_packages.json'), JSON.stringify(wps, null, 1) + '\n');
console.log(`sample: ${tasks.length} tasks, ${wps.length} work packages`);
