import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../core/config/config.ts";

const cwd = mkdtempSync(join(tmpdir(), "sightline-config-"));

describe("configuration", () => {
  it("defaults to the embedded adapters under ./.sightline", () => {
    const c = loadConfig({}, cwd);
    expect(c.home).toBe(join(cwd, ".sightline"));
    expect(c.blobs).toEqual({ kind: "file", dir: join(cwd, ".sightline", "blobs") });
    expect(c.meta).toEqual({ kind: "sqlite", path: join(cwd, ".sightline", "meta.db") });
    expect(c.bus).toEqual({ kind: "local", path: join(cwd, ".sightline", "meta.db") });
    expect(c.jobs).toEqual({ kind: "local" });
  });

  it("follows SIGHTLINE_HOME", () => {
    const c = loadConfig({ SIGHTLINE_HOME: "/srv/sl" }, cwd);
    expect(c.blobs).toEqual({ kind: "file", dir: "/srv/sl/blobs" });
    expect(c.meta).toEqual({ kind: "sqlite", path: "/srv/sl/meta.db" });
  });

  it("chooses the Google Cloud adapters by URI", () => {
    const c = loadConfig(
      {
        SIGHTLINE_BLOBS: "gs://my-bucket/sightline/prod",
        SIGHTLINE_META: "firestore://my-project/(default)",
        SIGHTLINE_BUS: "pubsub://my-project",
        SIGHTLINE_JOBS: "k8s://sightline",
      },
      cwd,
    );
    expect(c.blobs).toEqual({ kind: "gcs", bucket: "my-bucket", prefix: "sightline/prod" });
    expect(c.meta).toEqual({ kind: "firestore", project: "my-project", database: "(default)" });
    expect(c.bus).toEqual({ kind: "pubsub", project: "my-project" });
    expect(c.jobs).toEqual({ kind: "k8s", namespace: "sightline" });
  });

  it.each([
    [
      "SIGHTLINE_BLOBS",
      "s3://bucket",
      /SIGHTLINE_BLOBS: unsupported value "s3:\/\/bucket" \(expected file:\/\/PATH or gs:\/\/BUCKET/,
    ],
    ["SIGHTLINE_BLOBS", "gs://UPPER", /SIGHTLINE_BLOBS: "UPPER" is not a valid bucket name/],
    ["SIGHTLINE_META", "postgres://db", /SIGHTLINE_META: unsupported value/],
    ["SIGHTLINE_META", "firestore://", /SIGHTLINE_META: unsupported value/],
    ["SIGHTLINE_BUS", "meta.db", /SIGHTLINE_BUS: "meta.db" is not a URI/],
    ["SIGHTLINE_BUS", "pubsub://Bad_Project", /SIGHTLINE_BUS: unsupported value/],
    ["SIGHTLINE_JOBS", "k8s://Not A Namespace", /SIGHTLINE_JOBS: unsupported value/],
  ])("refuses %s=%s naming the variable", (name, value, message) => {
    expect(() => loadConfig({ [name]: value }, cwd)).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value }, cwd)).toThrow(message);
  });

  it("reads a YAML file, with the environment taking precedence", () => {
    const file = join(cwd, "custom.yaml");
    writeFileSync(file, "meta: firestore://team-project\nbus: pubsub://team-project\n");
    const c = loadConfig({ SIGHTLINE_CONFIG: file, SIGHTLINE_BUS: "local:///tmp/q.db" }, cwd);
    expect(c.meta).toEqual({ kind: "firestore", project: "team-project", database: "(default)" });
    expect(c.bus).toEqual({ kind: "local", path: "/tmp/q.db" });
    expect(c.file).toBe(file);
  });

  it("names the file and key for a bad YAML value or an unknown key", () => {
    const bad = join(cwd, "bad.yaml");
    writeFileSync(bad, "blobs: ftp://x\n");
    expect(() => loadConfig({ SIGHTLINE_CONFIG: bad }, cwd)).toThrow(
      /blobs in .*bad\.yaml: unsupported value "ftp:\/\/x"/,
    );
    const unknown = join(cwd, "unknown.yaml");
    writeFileSync(unknown, "blob: file:///x\n");
    expect(() => loadConfig({ SIGHTLINE_CONFIG: unknown }, cwd)).toThrow(
      /SIGHTLINE_CONFIG: .*unknown\.yaml is invalid/,
    );
    expect(() => loadConfig({ SIGHTLINE_CONFIG: join(cwd, "missing.yaml") }, cwd)).toThrow(/cannot read/);
  });
});
