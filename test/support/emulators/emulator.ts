/** A local stand-in for a Google Cloud service, started once per test run. */
export interface RunningEmulator {
  /** `127.0.0.1:PORT`, the value of the matching `*_EMULATOR_HOST` variable. */
  host: string;
  stop(): Promise<void>;
}

export interface EmulatorStarter {
  name: "pubsub" | "firestore" | "gcs";
  /** Why this emulator cannot run on this machine, or undefined when it can. */
  unavailable(): string | undefined;
  start(): Promise<RunningEmulator>;
}
