/** Writes docs/settings.md from src/settings/settings.ts (`npm run openapi` runs it). */
import { writeFileSync } from 'node:fs';
import { projectFile } from '../src/paths.js';
import { settingsPage } from '../src/settings/settings-table.js';

const target = projectFile('docs/settings.md');
writeFileSync(target, settingsPage());
console.log(`wrote ${target.pathname}`);
