import { compiledModule } from '../../src/paths.js';

/** URL of the compiled form of a test fixture (worker threads run compiled code only). */
export function compiledFixture(path: string): URL {
  return compiledModule(`test/fixtures/${path}`);
}
