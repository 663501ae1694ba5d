import { existsSync } from "node:fs";
import { join } from "node:path";
import type { EmulatorStarter } from "./emulator.ts";
import { javaUnavailable, SDK_ROOT, startJavaEmulator } from "./java-emulator.ts";

/**
 * The Cloud Firestore emulator shipped with the gcloud SDK (package google-cloud-cli-firestore-emulator), run with
 * the same command line as the SDK's `cloud_firestore_emulator` wrapper.
 */
const JAR = join(SDK_ROOT, "platform", "cloud-firestore-emulator", "cloud-firestore-emulator.jar");
const MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore";

export const firestoreEmulator: EmulatorStarter = {
  name: "firestore",
  unavailable: () =>
    existsSync(JAR)
      ? javaUnavailable()
      : `Firestore emulator jar not found at ${JAR} (install google-cloud-cli-firestore-emulator)`,
  start: () =>
    startJavaEmulator("firestore", (port) => [
      "-Duser.language=en",
      "-cp",
      JAR,
      MAIN_CLASS,
      "start",
      "--host=127.0.0.1",
      `--port=${port}`,
    ]),
};
