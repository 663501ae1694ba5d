import { DatasetDiff } from "../../../api/schemas.ts";
import { short } from "../format.ts";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

export function DatasetDiffPage({ a, b }: { a: string; b: string }) {
  const loaded = useApi(a && b ? `/api/datasets/diff?${new URLSearchParams({ a, b }).toString()}` : null, DatasetDiff);
  return (
    <>
      <Title>{`Dataset ${short(a, 8)} → ${short(b, 8)}`}</Title>
      <p>
        <a href={href.datasets()}>All datasets</a> · <a href={href.dataset(a)}>{`from ${short(a)}`}</a> ·{" "}
        <a href={href.dataset(b)}>{`to ${short(b)}`}</a>
      </p>
      {a && b ? (
        <Show
          loaded={loaded}
          render={(d) => (
            <Scroll label="Dataset diff">
              <table class="diff">
                <caption>{`Files added, removed and changed per class: ${d.totals.added} added, ${d.totals.removed} removed, ${d.totals.changed} changed`}</caption>
                <thead>
                  <tr>
                    <th scope="col">Class</th>
                    <th scope="col">Added</th>
                    <th scope="col">Removed</th>
                    <th scope="col">Changed</th>
                    <th scope="col">Examples</th>
                  </tr>
                </thead>
                <tbody>
                  {d.classes.map((c) => (
                    <tr key={c.class}>
                      <th scope="row">{c.class}</th>
                      <td>{c.added}</td>
                      <td>{c.removed}</td>
                      <td>{c.changed}</td>
                      <td class="id">
                        {(["added", "removed", "changed"] as const)
                          .flatMap((k) =>
                            c.examples[k].map((p) => `${k === "added" ? "+" : k === "removed" ? "−" : "~"} ${p}`),
                          )
                          .join("  ")}
                      </td>
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <th scope="row">All classes</th>
                    <td>{d.totals.added}</td>
                    <td>{d.totals.removed}</td>
                    <td>{d.totals.changed}</td>
                    <td />
                  </tr>
                </tfoot>
              </table>
            </Scroll>
          )}
        />
      ) : (
        <p>Choose two dataset versions on the datasets page.</p>
      )}
    </>
  );
}
