import type { Subscription } from "../core/events/event-bus.ts";
import { FUNCTION_SUBSCRIPTIONS } from "../core/events/subscriptions.ts";
import type { FunctionContext } from "./context.ts";
import { FUNCTION_NAMES, functionHandlers } from "./handlers.ts";

export interface EmbeddedFunctions {
  /** Stops consuming; resolves when handlers in flight have finished. */
  stop(): Promise<void>;
}

/**
 * The embedded default's functions: the same handlers as on Google Cloud, each consuming its subscription of the
 * local queue (retries with backoff, dead letters with the reason: the bus does that part).
 */
export async function startEmbeddedFunctions(
  ctx: FunctionContext,
  only: readonly string[] = FUNCTION_NAMES,
): Promise<EmbeddedFunctions> {
  const handlers = functionHandlers(ctx);
  const subs: Subscription[] = [];
  for (const name of FUNCTION_NAMES.filter((n) => only.includes(n))) {
    const { subscription, types } = FUNCTION_SUBSCRIPTIONS[name];
    // The bus's default retries (DEFAULT_RETRY) outlast an hour's outage before dead-lettering.
    subs.push(await ctx.rt.bus.subscribe(subscription, types, handlers[name]));
  }
  return { stop: async () => void (await Promise.all(subs.map((s) => s.close()))) };
}
