/**
 * Writes test/client/api-types.ts: the TypeScript types openapi-typescript
 * generates from the document the service serves (`npm run openapi` runs it
 * after docs/openapi.yaml). Security and the server address are all that
 * differ between what an open and a keyed service serve, and neither reaches
 * the types. test/integration/generated-client.test.ts fails when the file
 * and the served document disagree.
 */
import { writeFileSync } from 'node:fs';
import { openApiDocument } from '../src/http/openapi/openapi.js';
import { projectFile } from '../src/paths.js';
import { clientTypes } from '../test/client/generate.js';

const target = projectFile('test/client/api-types.ts');
writeFileSync(target, await clientTypes(openApiDocument({ access: 'keys' })));
console.log(`wrote ${target.pathname}`);
