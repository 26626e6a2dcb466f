/**
 * Writes docs/openapi.yaml from the code (`npm run openapi`). A test fails
 * when the file and the code disagree.
 */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { projectFile } from '../../paths.js';
import { openApiDocument } from './openapi.js';

const target = projectFile('docs/openapi.yaml');
writeFileSync(
  target,
  `# Generated from the code by \`npm run openapi\`: edit src/http/wire/api-schemas.ts, src/http/openapi/api-examples.ts or src/http/openapi/openapi.ts, not this file.\n${stringify(openApiDocument())}`,
);
console.log(`wrote ${target.pathname}`);
