// Benchmark (issue 6): one full drift report on 5,000 reference vs 5,000 current rows — compareFeatures on 16
// scalar features, chi-squared on the predicted classes, and MMD (Gaussian kernel, median-heuristic width, 100
// permutations) on 64-d embeddings — against the target of ≤ 2 s on 2 cores. Baseline measured in the same run: the
// exact O(N²) MMD test on a 1,000 vs 1,000 subset (what subsampling to the exact test's size would cost); it is
// also scaled by (N / 2,000)² to what the exact test on all rows would take (10⁸ kernel values, 800 MB, so not run).
// The data are seeded, with some features, the class mix and the embeddings shifted, so every verdict is printed too.
//
//   node bench/drift.ts [--rows 5000] [--reps 3] [--features 1024] [--permutations 100]
import { compareClassCounts } from "../core/drift/stats/chi2.ts";
import { compareFeatures } from "../core/drift/compare.ts";
import { mmdTest, type MmdOptions } from "../core/drift/stats/mmd.ts";
import { seededRandom } from "../core/util/random.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROWS = option("rows", 5000);
const REPS = option("reps", 3);
const FEATURES = option("features", 0); // 0: mmdTest's default
const PERMUTATIONS = option("permutations", 100);
const BASELINE_ROWS = 1000;
const DIM = 64;
const TARGET_S = 2;

const random = seededRandom(6);
const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

/** 12 continuous features (4 of them shifted by 0.3σ in the current data) and 4 discrete ones with 5 levels. */
function featureTable(rows: number, current: boolean): Record<string, number[]> {
  const table: Record<string, number[]> = {};
  for (let f = 0; f < 12; f++)
    table[`f${f}`] = Array.from(
      { length: rows },
      () => gaussian() * (1 + f / 4) + (current && f < 4 ? 0.3 * (1 + f / 4) : 0),
    );
  for (let f = 0; f < 4; f++) table[`level${f}`] = Array.from({ length: rows }, () => Math.floor(random() * 5));
  return table;
}

function classCounts(rows: number, skew: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < rows; i++) {
    const label = `class${random() < skew ? 0 : Math.floor(random() * 10)}`;
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

/** Standard normal 64-d embeddings; the current ones shifted by 0.3σ along one axis. */
const embeddings = (rows: number, shift: number): number[][] =>
  Array.from({ length: rows }, () => Array.from({ length: DIM }, (_, k) => gaussian() + (k === 0 ? shift : 0)));

const reference = {
  features: featureTable(ROWS, false),
  classes: classCounts(ROWS, 0),
  embeddings: embeddings(ROWS, 0),
};
const current = {
  features: featureTable(ROWS, true),
  classes: classCounts(ROWS, 0.05),
  embeddings: embeddings(ROWS, 0.3),
};
const mmdOptions: MmdOptions = { permutations: PERMUTATIONS, seed: 1, ...(FEATURES ? { features: FEATURES } : {}) };

function report(): {
  features: ReturnType<typeof compareFeatures>;
  classes: ReturnType<typeof compareClassCounts>;
  mmd: ReturnType<typeof mmdTest>;
} {
  return {
    features: compareFeatures(reference.features, current.features),
    classes: compareClassCounts(reference.classes, current.classes),
    mmd: mmdTest(reference.embeddings, current.embeddings, mmdOptions),
  };
}

const seconds = <T>(fn: () => T): [number, T] => {
  const t = performance.now();
  const result = fn();
  return [(performance.now() - t) / 1000, result];
};

console.log(
  `drift report: ${ROWS} vs ${ROWS} rows; 16 features, 10 classes, ${DIM}-d embeddings; MMD with ${PERMUTATIONS} permutations`,
);
const times: number[] = [];
let last: ReturnType<typeof report> | undefined;
for (let r = 0; r < REPS; r++) {
  const [s, result] = seconds(report);
  times.push(s);
  last = result;
  const [featureS] = seconds(() => compareFeatures(reference.features, current.features));
  console.log(`report ${r + 1}     ${s.toFixed(2)} s (features ${(featureS * 1000).toFixed(0)} ms)`);
}
const { features, classes, mmd } = last!;
console.log(
  `verdicts     features drifted ${features.dataset.driftedFeatures}/16 (expected the 4 shifted ones); classes p = ${classes.pValue.toExponential(2)}; ` +
    `MMD² ${mmd.statistic.toExponential(2)}, p = ${mmd.pValue.toFixed(3)} (${mmd.method}${mmd.features ? `, ${mmd.features} features` : ""}, σ = ${mmd.bandwidth.toFixed(2)} from ${mmd.bandwidthPairs} pairs)`,
);

const subset = (rows: number[][]): number[][] => rows.slice(0, BASELINE_ROWS);
const [baseline, exact] = seconds(() =>
  mmdTest(subset(reference.embeddings), subset(current.embeddings), {
    permutations: PERMUTATIONS,
    seed: 1,
    method: "exact",
  }),
);
console.log(
  `baseline     ${baseline.toFixed(2)} s: exact MMD test on ${BASELINE_ROWS} vs ${BASELINE_ROWS} (p = ${exact.pValue.toFixed(3)}); on all rows it would take ~${(baseline * ((2 * ROWS) / (2 * BASELINE_ROWS)) ** 2).toFixed(0)} s`,
);

const sorted = [...times].sort((a, b) => a - b);
const median = sorted[sorted.length >> 1]!;
console.log(
  `ratio        report (median of ${REPS}) ${median.toFixed(2)} s = ${(median / baseline).toFixed(2)}× the 1,000-row exact MMD baseline`,
);
console.log(`target       ≤ ${TARGET_S} s: ${median <= TARGET_S ? "met" : "missed"} (best ${sorted[0]!.toFixed(2)} s)`);
