import { ComparePage } from "./pages/compare.tsx";
import { DatasetDiffPage } from "./pages/dataset-diff.tsx";
import { DatasetPage } from "./pages/dataset.tsx";
import { DatasetsPage } from "./pages/datasets.tsx";
import { DriftPage } from "./pages/drift.tsx";
import { DriftReportPage } from "./pages/drift-report.tsx";
import { JobPage, JobsPage } from "./pages/jobs.tsx";
import { LineagePage } from "./pages/lineage.tsx";
import { ModelPage } from "./pages/model.tsx";
import { ModelsPage } from "./pages/models.tsx";
import { WhyPage } from "./pages/why.tsx";
import { PredictPage } from "./pages/predict.tsx";
import { RunPage } from "./pages/run.tsx";
import { RunsPage } from "./pages/runs.tsx";
import { href, useRoute, type Route } from "./route.ts";
import { SnapshotNote } from "./snapshot-note.tsx";

const NAV = [
  { label: "Models", to: href.models(), pages: ["models", "model", "why"] },
  { label: "Lineage", to: "#/lineage", pages: ["lineage"] },
  { label: "Runs", to: href.runs(), pages: ["runs", "run", "compare"] },
  { label: "Datasets", to: href.datasets(), pages: ["datasets", "dataset", "datasetDiff"] },
  { label: "Drift", to: href.drift(), pages: ["drift", "driftReport"] },
  { label: "Jobs", to: href.jobs(), pages: ["jobs", "job"] },
  { label: "Predict", to: href.predict(), pages: ["predict"] },
] as const;

export function App() {
  const route = useRoute();
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Sightline</span>
        <nav aria-label="Console">
          <ul>
            {NAV.map((n) => (
              <li key={n.label}>
                <a href={n.to} aria-current={(n.pages as readonly string[]).includes(route.page) ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <SnapshotNote />
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "models":
      return <ModelsPage />;
    case "model":
      return <ModelPage name={route.name} />;
    case "why":
      return <WhyPage name={route.name} version={route.version} />;
    case "lineage":
      return <LineagePage q={route.q} />;
    case "drift":
      return <DriftPage name={route.name} version={route.version} />;
    case "driftReport":
      return <DriftReportPage name={route.name} version={route.version} seq={route.seq} />;
    case "runs":
      return <RunsPage filter={route.filter} sort={route.sort} limit={route.limit} />;
    case "run":
      return <RunPage id={route.id} />;
    case "compare":
      return <ComparePage ids={route.ids} />;
    case "datasets":
      return <DatasetsPage />;
    case "dataset":
      return <DatasetPage id={route.id} />;
    case "datasetDiff":
      return <DatasetDiffPage a={route.a} b={route.b} />;
    case "jobs":
      return <JobsPage />;
    case "job":
      return <JobPage name={route.name} />;
    case "predict":
      return <PredictPage />;
  }
}
