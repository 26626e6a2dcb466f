/**
 * How a step thread loads its entry, workers/step-worker.ts: the file Piscina is given and the export it calls.
 *
 * Piscina loads `filename` with require(), which on Node 26 loads an ES module synchronously (require(esm)). For a
 * module with a default export and no `__esModule`, Node then builds a facade module that adds `__esModule`, and it
 * CHECKs that the facade instantiates: a thread terminated in that moment (a hung thread killed, a pool closed as a
 * thread starts) fails the CHECK, and SIGABRT takes the whole process down (`Assertion failed:
 * facade->InstantiateModule(...)`, ModuleWrap::CreateRequiredModuleFacade). A module with no default export is handed
 * back as its namespace, with no facade: the entry exports its handler by name. The decision, and the command that
 * measures it again: docs/decisions/steps-as-piscina-tasks.md.
 */

export interface WorkerEntry {
  /** Piscina's `filename`. */
  readonly filename: string;
  /** Piscina's `name`: the export of `filename` that runs a thread's tasks (workers/step-worker.ts). */
  readonly name: string;
}

/** The entry of a step thread, from the compiled worker module. */
export function stepWorkerEntry(workerFile: URL): WorkerEntry {
  return { filename: workerFile.href, name: 'runThreadTask' };
}
