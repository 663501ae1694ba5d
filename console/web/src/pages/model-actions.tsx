import { useRef, useState } from "preact/hooks";
import type { ModelDetail } from "../../../api/schemas.ts";
import type { Session, WriteResult } from "../../../api/write-schemas.ts";
import { postWrite } from "../session.ts";

type Action = { label: string; confirm: string; path: string; body: (reason: string) => unknown };

/** What a signed-in person can do to this model: approve or reject what waits, promote a version, roll back. */
function actionsFor(m: ModelDetail): Action[] {
  const production = m.aliases.find((a) => a.alias === "production")?.version ?? null;
  const model = encodeURIComponent(m.name);
  const actions: Action[] = [];
  // Only the newest decision of a version can still be approved; one already in production cannot.
  const seen = new Set<number>();
  for (const d of m.decisions) {
    if (seen.has(d.version)) continue;
    seen.add(d.version);
    if (d.outcome !== "pending_approval" || d.version === production) continue;
    const id = encodeURIComponent(d.id);
    actions.push(
      {
        label: `Approve ${m.name}:${d.version}`,
        confirm: `Approve the pending promotion of ${m.name}:${d.version} to production`,
        path: `/api/decisions/${id}/approve`,
        body: (reason) => ({ reason }),
      },
      {
        label: `Reject ${m.name}:${d.version}`,
        confirm: `Reject the pending promotion of ${m.name}:${d.version}`,
        path: `/api/decisions/${id}/reject`,
        body: (reason) => ({ reason }),
      },
    );
  }
  for (const v of [...m.versions].reverse())
    if (v.version !== production)
      actions.push({
        label: `Promote ${m.name}:${v.version}`,
        confirm: `Gate ${m.name}:${v.version} against the promotion policy and promote it if it passes`,
        path: `/api/models/${model}/promote`,
        body: (reason) => ({ version: v.version, reason }),
      });
  // A rollback goes back to `previous`: without it there is nowhere to go.
  if (production !== null && m.aliases.some((a) => a.alias === "previous"))
    actions.push({
      label: "Roll back production",
      confirm: `Point ${m.name}@production back at the previous version`,
      path: `/api/models/${model}/rollback`,
      body: (reason) => ({ reason }),
    });
  return actions;
}

/** The write form: shown only when signed in; every action asks for a reason and a confirmation. */
export function ModelActions({
  m,
  session,
  onDone,
}: {
  m: ModelDetail;
  session: Session | null;
  onDone: (result: WriteResult) => void;
}) {
  const [reason, setReason] = useState("");
  const [chosen, setChosen] = useState<Action | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  if (!session || session.mode === "off") return null;
  if (!session.actor || !session.csrf)
    return (
      <section aria-labelledby="actions">
        <h2 id="actions">Change production</h2>
        <p>
          {session.mode === "local"
            ? "To promote, roll back or approve, sign in: open the link `sightline ui` printed in its terminal."
            : "To promote, roll back or approve, sign in through Identity-Aware Proxy."}
        </p>
      </section>
    );
  const csrf = session.csrf;
  const actions = actionsFor(m);
  const choose = (a: Action): void => {
    if (reason.trim() === "") {
      setProblem("Give a reason: it is kept in the audit trail.");
      reasonRef.current?.focus();
      return;
    }
    setProblem(null);
    setChosen(a);
  };
  const run = (a: Action): void => {
    setBusy(true);
    postWrite(a.path, a.body(reason.trim()), csrf).then(
      (result) => {
        setBusy(false);
        setChosen(null);
        setReason("");
        onDone(result);
      },
      (err: unknown) => {
        setBusy(false);
        setChosen(null);
        setProblem(err instanceof Error ? err.message : String(err));
      },
    );
  };
  return (
    <section aria-labelledby="actions">
      <h2 id="actions">Change production</h2>
      <p>{`Signed in as ${session.actor}.`}</p>
      <form class="actions" onSubmit={(e) => e.preventDefault()}>
        <label for="reason">Reason (kept in the audit trail)</label>
        <textarea
          id="reason"
          ref={reasonRef}
          rows={2}
          value={reason}
          required
          aria-describedby={problem ? "action-problem" : undefined}
          onInput={(e) => setReason(e.currentTarget.value)}
        />
        {problem ? (
          <p id="action-problem" role="alert" class="error">
            {problem}
          </p>
        ) : null}
        {chosen ? (
          <div role="group" aria-labelledby="confirm-text" class="confirm">
            <p id="confirm-text">{`${chosen.confirm}, as ${session.actor}, because “${reason.trim()}”?`}</p>
            <div class="row">
              <button type="button" disabled={busy} onClick={() => run(chosen)}>
                Confirm
              </button>
              <button type="button" class="secondary" disabled={busy} onClick={() => setChosen(null)}>
                Cancel
              </button>
            </div>
          </div>
        ) : (
          <div class="row">
            {actions.map((a) => (
              <button type="button" key={a.label} onClick={() => choose(a)}>
                {a.label}
              </button>
            ))}
          </div>
        )}
      </form>
    </section>
  );
}
