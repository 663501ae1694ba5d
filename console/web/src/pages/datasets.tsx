import { useState } from "preact/hooks";
import { DatasetList } from "../../../api/schemas.ts";
import { short, when } from "../format.ts";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

const label = (d: DatasetList["datasets"][number]): string => `${d.name ?? short(d.id)} (${when(d.createdAt)})`;

export function DatasetsPage() {
  const loaded = useApi("/api/datasets", DatasetList);
  return (
    <>
      <Title>Datasets</Title>
      <Show
        loaded={loaded}
        render={({ datasets }) =>
          datasets.length === 0 ? (
            <p>
              No dataset is versioned yet: run <code>sightline data version DIR</code>.
            </p>
          ) : (
            <>
              <Scroll label="Dataset versions">
                <table>
                  <caption>Every dataset version, newest first</caption>
                  <thead>
                    <tr>
                      <th scope="col">Dataset</th>
                      <th scope="col">Name</th>
                      <th scope="col">Classes</th>
                      <th scope="col">Files</th>
                      <th scope="col">Splits</th>
                      <th scope="col">Validation</th>
                      <th scope="col">Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {datasets.map((d) => (
                      <tr key={d.id}>
                        <th scope="row">
                          <a href={href.dataset(d.id)} class="id">
                            {short(d.id)}
                          </a>
                        </th>
                        <td>{d.name ?? "—"}</td>
                        <td>{d.classes.length}</td>
                        <td>{d.files}</td>
                        <td>
                          {Object.entries(d.splits)
                            .map(([s, n]) => `${s} ${n}`)
                            .join(", ")}
                        </td>
                        <td class={d.validation === "failed" ? "fail" : d.validation === "passed" ? "pass" : ""}>
                          {d.validation}
                        </td>
                        <td>{when(d.createdAt)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </Scroll>
              {datasets.length >= 2 ? <DiffPicker datasets={datasets} /> : null}
            </>
          )
        }
      />
    </>
  );
}

function DiffPicker({ datasets }: { datasets: DatasetList["datasets"] }) {
  // Older to newer by default: what changed since the version before the latest.
  const [a, setA] = useState(datasets[1]!.id);
  const [b, setB] = useState(datasets[0]!.id);
  return (
    <section aria-labelledby="diff">
      <h2 id="diff">Compare two versions</h2>
      <form
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = href.datasetDiff(a, b);
        }}
      >
        <div class="row">
          {(
            [
              ["diff-a", "From", a, setA],
              ["diff-b", "To", b, setB],
            ] as const
          ).map(([id, text, value, set]) => (
            <span key={id}>
              <label for={id}>{text}</label>
              <select id={id} value={value} onChange={(e) => set(e.currentTarget.value)}>
                {datasets.map((d) => (
                  <option key={d.id} value={d.id}>
                    {label(d)}
                  </option>
                ))}
              </select>
            </span>
          ))}
          <button type="submit" disabled={a === b}>
            Show the diff
          </button>
        </div>
      </form>
    </section>
  );
}
