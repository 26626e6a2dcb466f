/**
 * Writes docs/openapi.yaml from the code (`npm run openapi`). A test fails
 * when the file and the code disagree.
 */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { openApiDocument } from './openapi.js';

const target = new URL('../../../docs/openapi.yaml', import.meta.url);
writeFileSync(target, `# Generated from the code by \`npm run openapi\`: edit src/http/api-schemas.ts or src/http/openapi.ts, not this file.\n${stringify(openApiDocument())}`);
console.log(`wrote ${target.pathname}`);
