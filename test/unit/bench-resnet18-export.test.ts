import { describe, expect, it } from "vitest";
import { parseExportInfo } from "../../bench/resnet18-model.ts";

const summary = {
  onnx: "/c/resnet18.onnx",
  state_dict: "/c/resnet18.pt",
  input: "input",
  output: "logits",
  opset: 13,
  classes: 10,
  parameters: 11181642,
  seed: 0,
};

describe("the ResNet-18 export's summary line", () => {
  it("is read from the last line, whatever torch printed before it", () => {
    const stdout = `torch/onnx/utils.py: UserWarning: something\n${JSON.stringify(summary)}\n`;
    expect(parseExportInfo(stdout, "export")).toEqual(summary);
  });

  it("names the export and the line when there is no JSON summary", () => {
    expect(() => parseExportInfo("Traceback (most recent call last):\nImportError: torch", "export")).toThrow(
      /export: the export printed no JSON summary \(last line: "ImportError: torch"\)/,
    );
  });

  it("rejects a summary with missing or mistyped fields", () => {
    expect(() => parseExportInfo(JSON.stringify({ ...summary, classes: "ten" }), "export")).toThrow(
      /unexpected export summary[\s\S]*classes/,
    );
    const partial: Partial<typeof summary> = { ...summary };
    delete partial.input;
    expect(() => parseExportInfo(JSON.stringify(partial), "export")).toThrow(/input/);
  });
});
