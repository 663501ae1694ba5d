import type { TestProject } from "vitest/node";
import type { EmulatorStarter, RunningEmulator } from "../support/emulators/emulator.ts";
import { firestoreEmulator } from "../support/emulators/firestore.ts";
import { gcsEmulator } from "../support/emulators/gcs.ts";
import { pubsubEmulator } from "../support/emulators/pubsub.ts";

export interface EmulatorHosts {
  pubsub?: string;
  firestore?: string;
  gcs?: string;
  /** name → why it is not running (only outside CI; in CI a missing emulator fails the run). */
  skipped: Record<string, string>;
}

declare module "vitest" {
  export interface ProvidedContext {
    emulators: EmulatorHosts;
  }
}

const STARTERS: EmulatorStarter[] = [pubsubEmulator, firestoreEmulator, gcsEmulator];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const inCi = process.env.CI === "true";
  const hosts: EmulatorHosts = { skipped: {} };
  const running: RunningEmulator[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(running.map((r) => r.stop()));
  };
  const results = await Promise.allSettled(
    STARTERS.map(async (starter) => {
      const reason = starter.unavailable();
      if (reason !== undefined) {
        if (inCi) throw new Error(`${starter.name} emulator cannot run in CI: ${reason}`);
        hosts.skipped[starter.name] = reason;
        console.warn(`[integration] skipping ${starter.name} tests: ${reason}`);
        return;
      }
      const emulator = await starter.start();
      running.push(emulator);
      hosts[starter.name] = emulator.host;
    }),
  );
  const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
  if (failed.length > 0) {
    await stopAll();
    throw new Error(`emulators failed to start: ${failed.map((e) => e.message).join("; ")}`);
  }
  project.provide("emulators", hosts);
  return stopAll;
}
