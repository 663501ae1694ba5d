import { modelProvenance } from "../../core/registry/provenance.ts";
import { ModelProvenance } from "../api/schemas.ts";
import type { ReadDeps } from "./read-model.ts";

/** "Why this version?": core's modelProvenance (the one `sightline models show NAME:VERSION` prints). */
export async function provenancePage(deps: ReadDeps, name: string): Promise<ModelProvenance> {
  return ModelProvenance.parse(await modelProvenance(deps.meta, name));
}
