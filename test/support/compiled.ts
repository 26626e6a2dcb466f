/** URL of the compiled form of a test fixture (worker threads run compiled code only). */
export function compiledFixture(path: string): URL {
  return new URL(`../../dist/test/fixtures/${path}.js`, import.meta.url);
}
