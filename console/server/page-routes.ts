import type { Request, Router } from "express";
import { datasetDiff, datasetList, datasetPage, thumbnail, thumbnailList } from "./datasets-read.ts";
import { jobList, jobPage } from "./jobs-read.ts";
import type { ReadDeps } from "./read-model.ts";
import { runComparison, runPage, runsPage } from "./runs-read.ts";

const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The runs, datasets and jobs pages' reads, mounted on the API router. */
export function pageRoutes(api: Router, options: ReadDeps): void {
  const route = (path: string, answer: (req: Request) => Promise<unknown>): void => {
    api.get(path, (req, res, next) => void answer(req).then((body) => res.json(body), next));
  };
  route("/runs", (req) =>
    runsPage(options, {
      model: text(req.query.model),
      filter: text(req.query.filter),
      sort: text(req.query.sort),
      limit: text(req.query.limit),
      cursor: text(req.query.cursor),
    }),
  );
  route("/runs/compare", (req) =>
    runComparison(
      options,
      (text(req.query.ids) ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  );
  route("/runs/:id", (req) => runPage(options, String(req.params.id)));
  route("/datasets", () => datasetList(options));
  route("/datasets/diff", (req) => datasetDiff(options, text(req.query.a) ?? "", text(req.query.b) ?? ""));
  route("/datasets/:id", (req) => datasetPage(options, String(req.params.id)));
  route("/datasets/:id/thumbnails/:label", (req) =>
    thumbnailList(options, String(req.params.id), String(req.params.label)),
  );
  // The one answer that is not JSON: an image, re-encoded by the server (thumbnail).
  api.get("/datasets/:id/thumbnails/:label/:n", (req, res, next) => {
    const n = /^\d+$/.test(String(req.params.n)) ? Number(req.params.n) : -1;
    void thumbnail(options, String(req.params.id), String(req.params.label), n).then(
      (png) => res.type("image/png").send(png),
      next,
    );
  });
  route("/jobs", () => jobList(options));
  route("/jobs/:name", (req) => jobPage(options, String(req.params.name)));
}
