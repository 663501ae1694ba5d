import type { z } from "zod";
import type { GateRule as GateRuleSchema } from "../../api/schemas.ts";
import { num } from "./format.ts";
import { Scroll } from "./ui.tsx";

/** One rule a gate applied, as both the model's decisions and a version's provenance carry it. */
type GateRule = z.infer<typeof GateRuleSchema>;

/** The rules one gate decision applied: value, threshold and result of each, in a scrollable table. */
export function GateRulesTable({
  rules,
  label,
  caption,
}: {
  rules: readonly GateRule[];
  label: string;
  caption: string;
}) {
  return (
    <Scroll label={label}>
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Rule</th>
            <th scope="col">Value</th>
            <th scope="col">Threshold</th>
            <th scope="col">Result</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {rules.map((r) => (
            <tr key={r.rule + String(r.threshold)}>
              <th scope="row">{r.rule}</th>
              <td>{typeof r.value === "number" ? num(r.value) : (r.value ?? "—")}</td>
              <td class="nowrap">{r.threshold}</td>
              <td class={r.passed ? "pass" : "fail"}>{r.passed ? "passed" : "failed"}</td>
              <td>{r.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Scroll>
  );
}

/** "N of M rules passed". */
export const rulesPassed = (rules: readonly GateRule[]): string =>
  `${rules.filter((r) => r.passed).length} of ${rules.length} rules passed`;
