/**
 * What cancels a step: the part of an AbortSignal that the steps' runners
 * use. Any AbortSignal is one; so is an order's record on the main thread
 * (src/pipeline/order-in-flight.ts), which aborts as a signal does without
 * being an EventTarget — an AbortController per order would be a signal, its
 * listener map and a `Listener` object for each registration, for every order
 * in flight (docs/decisions/an-order-in-flight.md).
 */

/** Called once when the signal aborts, with the signal as `this`. */
export type AbortListener = (this: CancelSignal) => void;

export interface CancelSignal {
  readonly aborted: boolean;
  /** Why it aborted; undefined until then. */
  readonly reason: unknown;
  /** `listener` is called once, when it aborts (never if it has already). */
  addEventListener(type: 'abort', listener: AbortListener, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: AbortListener): void;
}
