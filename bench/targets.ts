// How a bench prints a ratio against its target: the verdict must never contradict the digits shown.

/**
 * The ratio with two decimals, or as many more as it takes for a miss not to round up to the target (0.897
 * against 0.9 shows 0.897, not 0.90); "n/a" when it could not be measured.
 */
export function formatRatio(ratio: number, target: number): string {
  if (!Number.isFinite(ratio)) return "n/a";
  let digits = 2;
  while (ratio < target && Number(ratio.toFixed(digits)) >= target && digits < 6) digits++;
  return ratio.toFixed(digits);
}

/** Met only for a measured ratio at or above the target. */
export function meets(ratio: number, target: number): boolean {
  return Number.isFinite(ratio) && ratio >= target;
}

/** One `ratio` line of a bench's output: `ratio        0.86× the raw pipeline's img/s   target ≥ 0.9×   MISSED`. */
export function ratioLine(ratio: number, target: number, what: string): string {
  return `ratio        ${formatRatio(ratio, target)}× ${what}   target ≥ ${target}×   ${meets(ratio, target) ? "met" : "MISSED"}`;
}

/**
 * What the raw pipeline's own ratio to the peer says about a target against the peer: a server running that
 * pipeline cannot go faster than the pipeline alone, so raw ÷ peer caps Sightline ÷ peer.
 */
export function ceilingLine(rawOverPeer: number, target: number): string {
  const reach = !Number.isFinite(rawOverPeer)
    ? "unknown"
    : meets(rawOverPeer, target)
      ? `the ${target}× target is within reach`
      : `no server running it can reach ${target}× here`;
  return `  ceiling    the raw pipeline alone is ${formatRatio(rawOverPeer, target)}× the peer's rate: ${reach}`;
}
