import js from "@eslint/js";
import tseslint from "typescript-eslint";

// The dependency direction (see ARCHITECTURE.md): apps depend on core, never the other way, and serving and the
// trainer share only what lives in core. A relative import that climbs out to one of these top-level folders breaks it.
const upTo = (dirs) => `^(\\.\\./)+(${dirs.join("|")})(/|$)`;

const core = {
  files: ["core/**"],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            regex: upTo(["cli", "serving", "trainer", "functions", "evaluation", "bench", "console"]),
            message:
              "core/ is the domain every app builds on: it may not import an app (cli, serving, trainer, functions, evaluation, bench).",
          },
          {
            regex: "^(express|@tensorflow/.*|onnxruntime-node)(/|$)",
            message:
              "core/ stays free of Express, tfjs and onnxruntime so every app (and the Functions zip) can load it; put that code in serving/ or trainer/.",
          },
        ],
      },
    ],
  },
};

// One private-member style: TypeScript's `private` (most of the code used it already), not `#name`.
const privateMembers = {
  selector: ":matches(PropertyDefinition, MethodDefinition, AccessorProperty) > PrivateIdentifier.key",
  message: "Declare private members with TypeScript's `private`, not `#name`: one style across the code.",
};

// A stored document is read through its collection (core/meta/collection.ts), which parses it with the record's
// schema; `doc.data as T` would trust whatever bytes are there. `x?.data` is a ChainExpression around the member.
const assertion = ":matches(TSAsExpression, TSTypeAssertion)";
const dataMember = "MemberExpression.expression[property.name='data']";
const dataMessage =
  "Do not assert the type of `.data`: read stored records through their collection (defineCollection), which checks them; parse anything else with its zod schema.";
const dataAssertions = [
  { selector: `${assertion} > ${dataMember}`, message: dataMessage },
  { selector: `${assertion} > ChainExpression.expression > ${dataMember}`, message: dataMessage },
];

const app = (dir, forbidden, why) => ({
  files: [`${dir}/**`],
  rules: {
    "no-restricted-imports": ["error", { patterns: [{ regex: upTo(forbidden), message: why }] }],
  },
});

// The console's browser code runs in a page: no Node built-ins, no server packages, no core/ (its read models are
// Node-bound); what it shares with the server is console/api/ (zod schemas of the responses).
const NODE_BUILTINS =
  "^(node:.*|fs|path|os|http|https|net|crypto|child_process|stream|zlib|url|util|worker_threads)(/|$)";
const consoleWeb = {
  files: ["console/web/**"],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            regex: upTo(["core", "cli", "serving", "trainer", "functions", "evaluation", "bench"]),
            message:
              "console/web/ runs in the browser: it may import console/api/ (the response schemas), not core/ or another app.",
          },
          {
            regex: "^(\\.\\./)+server(/|$)",
            message: "console/web/ runs in the browser: it talks to console/server/ over HTTP, never by import.",
          },
          { regex: NODE_BUILTINS, message: "console/web/ runs in the browser: Node built-ins are not there." },
          {
            regex: "^(express|zod/.*node.*|sharp|onnxruntime-node|@google-cloud/.*|@kubernetes/.*)(/|$)",
            message: "console/web/ runs in the browser: server packages do not belong in it.",
          },
        ],
      },
    ],
  },
};

// The API schemas are imported by the server and the browser: zod and nothing else.
const consoleApi = {
  files: ["console/api/**"],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            regex: "^(?!zod$)",
            message: "console/api/ holds the response schemas both the server and the browser import: zod only.",
          },
        ],
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ["node_modules/", ".sightline/", "coverage/", "data/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-syntax": ["error", privateMembers],
    },
  },
  // The same rule's options replace, not extend, the ones above: both selectors are listed again.
  {
    files: ["{core,cli,serving,functions,trainer,evaluation}/**/*.ts"],
    rules: { "no-restricted-syntax": ["error", privateMembers, ...dataAssertions] },
  },
  // A function longer than a screenful usually does several jobs; warn so it gets split along its phases.
  {
    files: ["**/*.ts"],
    ignores: ["test/**", "bench/**"],
    rules: { "max-lines-per-function": ["warn", { max: 100, skipBlankLines: true, skipComments: true, IIFEs: true }] },
  },
  core,
  app(
    "serving",
    ["trainer", "cli", "functions", "bench"],
    "serving/ may import only core/: what it shares with the trainer (preprocessing, labels, evaluation) belongs in core/.",
  ),
  app(
    "trainer",
    ["serving", "cli", "functions", "bench"],
    "trainer/ may import only core/: what it shares with serving (preprocessing, labels, evaluation) belongs in core/.",
  ),
  app(
    "functions",
    ["serving", "trainer", "cli", "bench"],
    "functions/ is thin (parse the event, call core/ and the gate's evaluator in evaluation/): it may not import serving/, trainer/, cli/ or bench/ (the Functions zip ships none of them).",
  ),
  app(
    "console",
    ["cli", "serving", "trainer", "functions", "evaluation", "bench"],
    "console/ may import only core/: it shows core's read models (the ones the CLI prints), never another app's code.",
  ),
  consoleWeb,
  consoleApi,
  app(
    "evaluation",
    ["serving", "trainer", "functions", "cli", "bench"],
    "evaluation/ is the ONNX-bound evaluator shared by the trainer and the functions: it may import only core/.",
  ),
);
