import { DatasetDetail, Thumbnails } from "../../../api/schemas.ts";
import { short, when } from "../format.ts";
import { href } from "../route.ts";
import { PALETTE } from "../run-views.tsx";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

const SPLIT_ORDER = ["train", "validation", "test"];

export function DatasetPage({ id }: { id: string }) {
  const loaded = useApi(`/api/datasets/${encodeURIComponent(id)}`, DatasetDetail);
  return (
    <>
      <Title>{`Dataset ${short(id)}`}</Title>
      <p>
        <a href={href.datasets()}>All datasets</a> · <a href={href.lineage(id)}>Lineage of this dataset</a>
      </p>
      <Show
        loaded={loaded}
        render={(d) => (
          <>
            <p class="id">{d.dataset.id}</p>
            <p>{`${d.dataset.files} files in ${d.dataset.classes.length} classes, versioned ${when(d.dataset.createdAt)} from ${d.dataset.source}`}</p>
            <Balance d={d} />
            <Validation d={d} />
            <section aria-labelledby="samples">
              <h2 id="samples">Samples per class</h2>
              {d.dataset.classes.map((c) => (
                <Samples key={c} id={d.dataset.id} label={c} />
              ))}
            </section>
          </>
        )}
      />
    </>
  );
}

/** Files per class, one bar per split (SVG: attributes, not inline style, so the CSP holds). */
function Balance({ d }: { d: DatasetDetail }) {
  const splits = SPLIT_ORDER.filter((s) => d.balance.some((b) => (b.splits[s] ?? 0) > 0));
  const max = Math.max(1, ...d.balance.flatMap((b) => splits.map((s) => b.splits[s] ?? 0)));
  const barH = 14;
  const rowH = splits.length * barH + 12;
  const left = 110;
  const width = 520;
  const scale = (n: number) => ((width - left - 50) * n) / max;
  const height = d.balance.length * rowH + 28;
  return (
    <section aria-labelledby="balance">
      <h2 id="balance">Class balance</h2>
      <Scroll label="Class balance chart">
        <svg
          width={width}
          height={height}
          role="img"
          aria-label={`Files per class and split: ${d.balance
            .map((b) => `${b.class} ${splits.map((s) => `${s} ${b.splits[s] ?? 0}`).join(" ")}`)
            .join("; ")}`}
        >
          {d.balance.map((b, i) => (
            <g key={b.class} transform={`translate(0 ${i * rowH})`}>
              <text x={left - 8} y={rowH / 2} text-anchor="end" class="label">
                {b.class}
              </text>
              {splits.map((s, j) => (
                <g key={s}>
                  <rect x={left} y={j * barH + 4} width={scale(b.splits[s] ?? 0)} height={barH - 2} fill={PALETTE[j]} />
                  <text x={left + scale(b.splits[s] ?? 0) + 4} y={j * barH + barH} class="detail">
                    {b.splits[s] ?? 0}
                  </text>
                </g>
              ))}
            </g>
          ))}
          {splits.map((s, j) => (
            <g key={s} transform={`translate(${left + j * 110} ${height - 12})`}>
              <rect width="12" height="12" y="-10" fill={PALETTE[j]} />
              <text x="16" class="detail">
                {s}
              </text>
            </g>
          ))}
        </svg>
      </Scroll>
      <Scroll label="Class balance">
        <table>
          <caption>Files per class and split</caption>
          <thead>
            <tr>
              <th scope="col">Class</th>
              {splits.map((s) => (
                <th scope="col" key={s}>
                  {s}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {d.balance.map((b) => (
              <tr key={b.class}>
                <th scope="row">{b.class}</th>
                {splits.map((s) => (
                  <td key={s}>{b.splits[s] ?? 0}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
    </section>
  );
}

function Validation({ d }: { d: DatasetDetail }) {
  return (
    <section aria-labelledby="validation">
      <h2 id="validation">Validation</h2>
      {d.validation === null ? (
        <p>This version was not validated (versioned with validation skipped).</p>
      ) : (
        <Scroll label="Validation report">
          <table>
            <caption>{d.validation.ok ? "Every rule passed" : "Some rules failed"}</caption>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Result</th>
                <th scope="col">Detail</th>
                <th scope="col">Violations</th>
              </tr>
            </thead>
            <tbody>
              {d.validation.rules.map((r) => (
                <tr key={r.rule}>
                  <th scope="row">{r.rule}</th>
                  <td class={r.ok ? "pass" : "fail"}>{r.ok ? "passed" : "failed"}</td>
                  <td>{r.detail}</td>
                  <td>{r.violations}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </section>
  );
}

function Samples({ id, label }: { id: string; label: string }) {
  const loaded = useApi(`/api/datasets/${encodeURIComponent(id)}/thumbnails/${encodeURIComponent(label)}`, Thumbnails);
  return (
    <>
      <h3>{label}</h3>
      <Show
        loaded={loaded}
        render={(t) => (
          <>
            <ul class="thumbs">
              {t.images.map((img) => (
                <li key={img.url}>
                  <img src={img.url} alt={`${label}: ${img.path}`} width="64" height="64" loading="lazy" />
                </li>
              ))}
            </ul>
            <p class="hint">{`${t.images.length} of ${t.total} ${label} images`}</p>
          </>
        )}
      />
    </>
  );
}
