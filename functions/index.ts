// Cloud Functions (gen2) entrypoints, one per function, triggered by Eventarc from the Pub/Sub topics of their event
// types (Terraform, issue 7). Deploy with `--entry-point=detectDrift` etc. and the environment of functions/context.ts.
import { cloudEvent, type CloudEvent } from "@google-cloud/functions-framework";
import { z } from "zod";
import { errorKind } from "../core/errors.ts";
import { decodeEvent, InvalidEventError } from "../core/events/envelope.ts";
import { FUNCTION_SUBSCRIPTIONS, type FunctionName } from "../core/events/subscriptions.ts";
import { openFunctionContext, type ContextOptions, type FunctionContext } from "./context.ts";
import { FUNCTION_NAMES, functionHandlers, type FunctionHandler } from "./handlers.ts";

/** The body Eventarc (and a Pub/Sub push subscription) hands a function: our CloudEvent is the message data. */
const PubSubPayload = z.object({
  message: z.object({
    data: z.string().optional(),
    messageId: z.string().optional(),
    attributes: z.record(z.string(), z.string()).nullish(),
  }),
  subscription: z.string().optional(),
});

let context: Promise<{ ctx: FunctionContext; handlers: Record<FunctionName, FunctionHandler> }> | undefined;

/** Opens the context on first use (tests call it first to pass options); later calls reuse it. */
export function initFunctions(
  options: ContextOptions = {},
): Promise<{ ctx: FunctionContext; handlers: Record<FunctionName, FunctionHandler> }> {
  context ??= openFunctionContext(options).then((ctx) => ({ ctx, handlers: functionHandlers(ctx) }));
  context.catch(() => (context = undefined));
  return context;
}

export async function closeFunctions(): Promise<void> {
  const open = context;
  context = undefined;
  await (await open)?.ctx.close();
}

/**
 * One delivery: decode the Pub/Sub message into our event and run the handler. A message that is not a valid
 * event (or not one this function takes) is dead-lettered with the reason and acknowledged; a handler that fails
 * throws, so Pub/Sub delivers again (and its dead-letter policy ends a poison message).
 */
export async function deliver(name: FunctionName, raw: unknown): Promise<void> {
  const { ctx, handlers } = await initFunctions();
  const subscription = FUNCTION_SUBSCRIPTIONS[name].subscription;
  const payload = PubSubPayload.safeParse(raw);
  if (!payload.success) {
    await ctx.rt.bus.deadLetter(
      subscription,
      JSON.stringify(raw ?? null),
      `not a Pub/Sub message: ${z.prettifyError(payload.error)}`,
    );
    return;
  }
  const body = Buffer.from(payload.data.message.data ?? "", "base64").toString("utf8");
  let event;
  try {
    event = decodeEvent(body);
    const types: readonly string[] = FUNCTION_SUBSCRIPTIONS[name].types;
    if (!types.includes(event.type))
      throw new InvalidEventError(`${name} takes ${types.join(", ")}, not ${event.type}`);
  } catch (err) {
    // Only the message itself is judged here: invalid is final (dead-letter and acknowledge), anything else is thrown
    // so Pub/Sub delivers again.
    if (errorKind(err) !== "invalid") throw err;
    await ctx.rt.bus.deadLetter(subscription, body, (err as Error).message);
    return;
  }
  await handlers[name](event);
}

for (const name of FUNCTION_NAMES) cloudEvent(name, (event: CloudEvent<unknown>) => deliver(name, event.data));
