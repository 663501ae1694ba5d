import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { Loaded } from "./use-api.ts";

/** A page's title; it takes focus when the page changes, so a screen reader announces where the link led. */
export function Title({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${ref.current?.textContent ?? ""} · Sightline`;
    ref.current?.focus({ preventScroll: true });
  }, [typeof children === "string" ? children : JSON.stringify(children)]);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

/** Loading and error states, said once for every page; `render` draws the data. */
export function Show<T>({ loaded, render }: { loaded: Loaded<T>; render: (data: T) => ComponentChildren }) {
  if (loaded.state === "loading") return <p role="status">Loading…</p>;
  if (loaded.state === "error")
    return (
      <p role="alert" class="error">
        {loaded.message}
      </p>
    );
  return <>{render(loaded.data)}</>;
}

/**
 * A wide table or graph that scrolls sideways on a narrow screen. It takes focus (a named region), so a keyboard
 * can scroll it too.
 */
export function Scroll({ label, children, extra }: { label: string; children: ComponentChildren; extra?: string }) {
  return (
    <div class={extra ? `scroll ${extra}` : "scroll"} tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}
