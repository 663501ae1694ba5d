import { z } from "zod";
import { defineEnv } from "../env.ts";

// Where state lives. The values are URIs whose scheme picks the adapter; core/config/config.ts parses them (and
// the same keys, lower case, from the YAML file), so here they stay strings.
const every = ["cli", "serving", "trainer", "functions"] as const;

export const SIGHTLINE_CONFIG = defineEnv({
  name: "SIGHTLINE_CONFIG",
  schema: z.string(),
  defaultDoc: "`./sightline.yaml` when present",
  doc: "a YAML file with the same settings as the store variables, in lower case (the environment wins)",
  components: every,
});

const store = (name: string, defaultDoc: string, doc: string) =>
  defineEnv({ name, schema: z.string(), defaultDoc, doc, components: every, emptyIsUnset: true });

export const SIGHTLINE_HOME = store(
  "SIGHTLINE_HOME",
  "`./.sightline`",
  "the local state directory the embedded defaults live in",
);
export const SIGHTLINE_BLOBS = store(
  "SIGHTLINE_BLOBS",
  "`file://$SIGHTLINE_HOME/blobs`",
  "the blob store: `file://PATH` or `gs://BUCKET[/PREFIX]`",
);
export const SIGHTLINE_META = store(
  "SIGHTLINE_META",
  "`sqlite://$SIGHTLINE_HOME/meta.db`",
  "the metadata store: `sqlite://PATH` or `firestore://PROJECT[/DATABASE]`",
);
export const SIGHTLINE_BUS = store(
  "SIGHTLINE_BUS",
  "`local://$SIGHTLINE_HOME/meta.db`",
  "the event bus: `local://PATH` or `pubsub://PROJECT`",
);
export const SIGHTLINE_JOBS = store(
  "SIGHTLINE_JOBS",
  "`local://`",
  "where training jobs run: `local://` (child processes) or `k8s://NAMESPACE` (GKE Jobs)",
);

export const STORE_SETTINGS = [
  SIGHTLINE_CONFIG,
  SIGHTLINE_HOME,
  SIGHTLINE_BLOBS,
  SIGHTLINE_META,
  SIGHTLINE_BUS,
  SIGHTLINE_JOBS,
] as const;
