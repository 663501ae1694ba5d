import { useEffect, useState } from "preact/hooks";
import { PredictionRecorded, PredictResult, PredictSetup } from "../../../api/predict-schemas.ts";
import { ApiError } from "../../../api/schemas.ts";
import { CSRF_HEADER } from "../../../api/write-schemas.ts";
import { getJson } from "../api.ts";
import { pct } from "../format.ts";
import { href } from "../route.ts";
import { useSession } from "../session.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

const ACCEPT = "image/png,image/jpeg,image/webp";
// Without a session any non-empty value is the proof a same-origin script sent it; signed in, it is the session's.
const NO_SESSION = "page";

const size = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} bytes`;

/** Upload one image; the console's server forwards it to the serving API and shows its answer. */
export function PredictPage() {
  const setup = useApi("/api/predict", PredictSetup);
  return (
    <>
      <Title>Predict</Title>
      <Show
        loaded={setup}
        render={(s) => (s.servingUrl === null ? <NotConfigured /> : <PredictForm setup={s} url={s.servingUrl} />)}
      />
    </>
  );
}

function NotConfigured() {
  return (
    <section aria-labelledby="no-serving">
      <h2 id="no-serving">No serving API configured</h2>
      <p>
        This console does not know where the inference API is. Start it with{" "}
        <code>sightline ui --serving-url http://127.0.0.1:8080</code> (where <code>sightline serve</code> listens by
        default), or set <code>SIGHTLINE_CONSOLE_SERVING_URL</code>. The images go through the console's server, so the
        serving API's key (<code>SIGHTLINE_CONSOLE_SERVING_API_KEY</code>) never reaches the browser.
      </p>
    </section>
  );
}

/** A local preview of the chosen file: an object URL, revoked when the file changes or the page goes. */
function usePreview(file: File | null): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!file) return void setUrl(null);
    const u = URL.createObjectURL(file);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [file]);
  return url;
}

async function postPredict(file: File, csrf: string): Promise<PredictResult> {
  const form = new FormData();
  form.append("file", file, file.name);
  const res = await fetch("/api/predict", {
    method: "POST",
    credentials: "same-origin",
    headers: { accept: "application/json", [CSRF_HEADER]: csrf },
    body: form,
  });
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const err = ApiError.safeParse(body);
    throw new Error(err.success ? err.data.error.message : `the console answered ${res.status}`);
  }
  return PredictResult.parse(body);
}

function PredictForm({ setup, url }: { setup: PredictSetup; url: string }) {
  const session = useSession();
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [result, setResult] = useState<PredictResult | null>(null);
  const preview = usePreview(file);
  const send = (): void => {
    if (!file) return setProblem("Choose an image first.");
    if (file.size > setup.maxBytes)
      return setProblem(
        `${file.name} is ${size(file.size)}: larger than ${size(setup.maxBytes)}, the console's limit.`,
      );
    setBusy(true);
    setProblem(null);
    setResult(null);
    postPredict(file, session?.csrf ?? NO_SESSION).then(
      (r) => {
        setBusy(false);
        setResult(r);
      },
      (err: unknown) => {
        setBusy(false);
        setProblem(err instanceof Error ? err.message : String(err));
      },
    );
  };
  return (
    <>
      <p>
        {`The image goes to the serving API at `}
        <code>{url}</code>
        {` through this console's server (at most ${size(setup.maxBytes)}); the answer is the model's, as any client gets it.`}
      </p>
      <form
        class="predict"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <label for="predict-file">Image (PNG, JPEG or WebP)</label>
        <div class="row">
          <input
            id="predict-file"
            name="file"
            type="file"
            accept={ACCEPT}
            aria-describedby={problem ? "predict-problem" : undefined}
            onChange={(e) => {
              setFile(e.currentTarget.files?.[0] ?? null);
              setResult(null);
              setProblem(null);
            }}
          />
          <button type="submit" disabled={busy || !file}>
            Predict
          </button>
        </div>
      </form>
      {preview && file ? (
        <figure class="preview">
          <img src={preview} alt={`The chosen image, ${file.name}`} />
          <figcaption>{`${file.name}, ${size(file.size)}`}</figcaption>
        </figure>
      ) : null}
      {busy ? <p role="status">Asking the serving API…</p> : null}
      {problem ? (
        <p id="predict-problem" role="alert" class="error">
          {problem}
        </p>
      ) : null}
      {result ? <Answer r={result} /> : null}
    </>
  );
}

type Recorded = "waiting" | "recorded" | "not yet";

/** Whether lineage has the prediction yet: serving logs predictions in batches, so it can take a moment. */
function useRecorded(id: string): Recorded {
  const [state, setState] = useState<Recorded>("waiting");
  useEffect(() => {
    let gone = false;
    setState("waiting");
    void (async () => {
      // Each call waits up to 5 s on the server.
      for (let i = 0; i < 3 && !gone; i++) {
        const r = await getJson(`/api/predict/lineage?${new URLSearchParams({ id }).toString()}`, PredictionRecorded);
        if (r.recorded) return void (gone || setState("recorded"));
      }
      if (!gone) setState("not yet");
    })().catch(() => gone || setState("not yet"));
    return () => void (gone = true);
  }, [id]);
  return state;
}

const RECORDED: Record<Recorded, string> = {
  waiting: "Waiting for lineage to record it (serving logs its predictions in batches)…",
  recorded: "Recorded in lineage.",
  "not yet":
    "Not in lineage yet: serving logs a sample of its predictions (SIGHTLINE_PREDICTION_LOG_RATE), in batches; try the link in a moment.",
};

function Answer({ r }: { r: PredictResult }) {
  const recorded = useRecorded(r.requestId);
  const model = `${r.model.name}:${r.model.version}`;
  return (
    <section aria-labelledby="answer">
      <h2 id="answer">{`Answer: ${r.label}`}</h2>
      <dl class="facts">
        <dt>Top class</dt>
        <dd>{r.label}</dd>
        <dt>Confidence</dt>
        <dd>{pct(r.confidence)}</dd>
        <dt>Model</dt>
        <dd>
          <a href={href.model(r.model.name)}>{model}</a>
        </dd>
        <dt>Request id</dt>
        <dd class="id">{r.requestId}</dd>
        <dt>Answered in</dt>
        <dd>{`${r.millis} ms`}</dd>
      </dl>
      <p>
        <a href={href.lineage(r.requestId)}>{`Lineage of prediction ${r.requestId}`}</a>{" "}
        <span role="status" class="hint">
          {RECORDED[recorded]}
        </span>
      </p>
      <Scroll label="Scores per class">
        <table class="scores">
          <caption>Scores per class, highest first</caption>
          <thead>
            <tr>
              <th scope="col">Class</th>
              <th scope="col">Score</th>
              <th scope="col">
                <span class="visually-hidden">Bar</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {r.scores.map((s) => (
              <tr key={s.label} class={s.label === r.label ? "top" : undefined}>
                <th scope="row">{s.label}</th>
                <td>{pct(s.score)}</td>
                <td>
                  <meter min={0} max={1} value={s.score} aria-label={`${s.label}: ${pct(s.score)}`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
    </section>
  );
}
