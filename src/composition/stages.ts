/**
 * The service is built in stages, each returning what it made and how to
 * close it; the stages' closers, run in reverse, are the service's end — on a
 * start that fails part way as on a shutdown.
 */

/** What a stage of the service made, and how to undo it. */
export interface Stage<Made> {
  readonly made: Made;
  close(): Promise<void> | void;
}

export class Stages {
  private readonly closers: Array<() => Promise<void> | void> = [];

  /**
   * Builds a stage on those before it. If it cannot be built, what the stages before it made is closed, in reverse,
   * and its error goes on: a stage that fails closes whatever of its own it made before failing.
   */
  async build<Made>(stage: () => Stage<Made> | Promise<Stage<Made>>): Promise<Made> {
    let built: Stage<Made>;
    try {
      built = await stage();
    } catch (error) {
      await this.close();
      throw error;
    }
    this.closers.push(() => built.close());
    return built.made;
  }

  /** Runs `step` with the stages built; if it fails, closes them, in reverse, and its error goes on. */
  async orClose<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Closes every stage built, the last first, each once the one after it has closed. */
  async close(): Promise<void> {
    for (let closer = this.closers.pop(); closer; closer = this.closers.pop()) await closer();
  }
}
