/**
 * What ties together everything done for one request — on the main thread
 * and in every worker thread its steps run on — so that its log lines can be
 * found together.
 */
export interface Trace {
  readonly requestId: string;
}
