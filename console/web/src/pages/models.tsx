import { ModelList } from "../../../api/schemas.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { num, when } from "../format.ts";
import { href } from "../route.ts";
import { useApi } from "../use-api.ts";

export function ModelsPage() {
  const loaded = useApi("/api/models", ModelList);
  return (
    <>
      <Title>Models</Title>
      <Show
        loaded={loaded}
        render={({ models }) =>
          models.length === 0 ? (
            <p>
              No model is registered yet: train one with <code>sightline train</code> or run <code>npm run demo</code>.
            </p>
          ) : (
            <Scroll label="Models">
              <table>
                <caption>Registered models, with the latest version's held-out metrics</caption>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Versions</th>
                    <th scope="col">Aliases</th>
                    <th scope="col">Accuracy (latest)</th>
                    <th scope="col">Macro F1 (latest)</th>
                    <th scope="col">Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {models.map((m) => {
                    const latest = m.versions.at(-1);
                    return (
                      <tr key={m.name}>
                        <th scope="row">
                          <a href={href.model(m.name)}>{m.name}</a>
                        </th>
                        <td>{m.versions.length}</td>
                        <td>
                          {Object.entries(m.aliases).map(([a, v]) => (
                            <span class="tag" key={a}>
                              {a}→{v}
                            </span>
                          ))}
                        </td>
                        <td>{num(latest?.metrics.accuracy)}</td>
                        <td>{num(latest?.metrics.macro_f1)}</td>
                        <td>{when(m.updatedAt)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </Scroll>
          )
        }
      />
    </>
  );
}
