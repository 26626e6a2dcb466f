/**
 * The Go service this project is the Node counterpart of, for `npm run
 * load:go`: where it comes from and how to point elsewhere. It is not in
 * this repository: a shared folder beside the clone holds a script that
 * builds it (offline, with Debian's Go) and runs it on 127.0.0.1:8080.
 */
import { pathOf, PROJECT_ROOT } from '../../src/paths.js';

export const GO_SERVICE_URL = 'http://127.0.0.1:8080';
/** Relative to the clone: the `shared` folder sits beside it. */
export const DEFAULT_GO_SERVICE_CMD = '../shared/peers/go-order-pipeline/run.sh';

export interface GoService {
  readonly url: string;
  /** The command that starts it (through sh -c, from the clone's folder). */
  readonly command: string;
  /** Where the command came from, for the first progress line. */
  readonly from: string;
  /** Said if its program is not there. */
  readonly whenMissing: string;
}

export function goService(env: NodeJS.ProcessEnv = process.env): GoService {
  const set = env['GO_SERVICE_CMD'];
  const command = set && set.trim() !== '' ? set : DEFAULT_GO_SERVICE_CMD;
  const clone = pathOf(PROJECT_ROOT).replace(/\/$/, '');
  return {
    url: GO_SERVICE_URL,
    command,
    from: command === set ? 'GO_SERVICE_CMD' : `the default, beside the clone (GO_SERVICE_CMD unset)`,
    whenMissing: [
      `npm run load:go compares this service with the Go service it follows, which is not in this repository: it starts`,
      `it with ${DEFAULT_GO_SERVICE_CMD} (relative to ${clone}), a script that builds it with Go and runs it on ${GO_SERVICE_URL}.`,
      'Put that folder beside the clone, or set GO_SERVICE_CMD to a command that starts it on port 8080:',
      '  GO_SERVICE_CMD=path/to/go-order-pipeline/run.sh npm run load:go',
      `or start it yourself and run: npm run load -- --against ${GO_SERVICE_URL} overhead`,
    ].join('\n'),
  };
}
