import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { EmulatorStarter } from "./emulator.ts";
import { javaUnavailable, SDK_ROOT, startJavaEmulator } from "./java-emulator.ts";

/** The Pub/Sub emulator shipped with the gcloud SDK (package google-cloud-cli-pubsub-emulator). */
const LIB = join(SDK_ROOT, "platform", "pubsub-emulator", "lib");

function findJar(): string | undefined {
  if (!existsSync(LIB)) return undefined;
  const jar = readdirSync(LIB)
    .filter((f) => /^cloud-pubsub-emulator-.*-all\.jar$/.test(f))
    .sort()
    .at(-1);
  return jar === undefined ? undefined : join(LIB, jar);
}

export const pubsubEmulator: EmulatorStarter = {
  name: "pubsub",
  unavailable: () =>
    findJar() === undefined
      ? `no Pub/Sub emulator jar in ${LIB} (install google-cloud-cli-pubsub-emulator)`
      : javaUnavailable(),
  start: () => {
    const jar = findJar();
    if (jar === undefined) throw new Error(`no Pub/Sub emulator jar in ${LIB}`);
    return startJavaEmulator("pubsub", (port) => ["-jar", jar, "--host=127.0.0.1", `--port=${port}`]);
  },
};
