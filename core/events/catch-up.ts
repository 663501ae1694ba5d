import type { AnyCloudEvent } from "./envelope.ts";
import type { EventBus, SubscribeOptions } from "./event-bus.ts";
import type { EventType } from "./schemas.ts";

/**
 * Consumes what is waiting on a subscription and returns once nothing has arrived for `idleMs`: lets a command
 * bring a consumer's state (e.g. the lineage graph) up to date before it answers, on any bus.
 */
export async function catchUp(
  bus: EventBus,
  name: string,
  types: readonly EventType[],
  handler: (event: AnyCloudEvent) => Promise<void>,
  options: SubscribeOptions & { idleMs?: number; maxMs?: number } = {},
): Promise<number> {
  const idleMs = options.idleMs ?? 300;
  const deadline = Date.now() + (options.maxMs ?? 60_000);
  let handled = 0;
  let last = Date.now();
  const sub = await bus.subscribe(
    name,
    types,
    async (event) => {
      last = Date.now();
      await handler(event);
      handled++;
      last = Date.now();
    },
    options,
  );
  try {
    while (Date.now() - last < idleMs && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  } finally {
    await sub.close();
  }
  return handled;
}
