import { createHash } from "node:crypto";
import { SNAPSHOT_ELEMENT_ID, type StaticSnapshot } from "../api/snapshot.ts";

/**
 * JSON that can sit inside a `<script type="application/json">` element: `<`, `>` and `&` as \u escapes (no `</script>`
 * or `<!--` can end or bend the element), U+2028 and U+2029 too (line terminators to older JavaScript parsers).
 * JSON.parse reads it back unchanged.
 */
export function jsonForScriptElement(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

// Our own bundle, inlined: a `</script` or `<!--` in one of its strings would end or bend the element. `\x3C` is `<`
// inside a JavaScript string, template or regular expression (the only places either can occur in valid code).
const inlineScript = (js: string): string => js.replace(/<(?=\/script|!--)/gi, "\\x3C");
// In CSS `\3c ` is `<` inside a string (the only place `</style` can occur in valid CSS).
const inlineStyle = (css: string): string => css.replace(/<(?=\/style)/gi, "\\3c ");

const sha256 = (text: string): string => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

const escapeText = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/**
 * The console as one HTML file: the built bundle and stylesheet inlined, the snapshot as a JSON data block. The CSP
 * runs only the bundle and the stylesheet (by hash): nothing from the data is ever executed, and the page makes no
 * request (connect-src 'none'), so it works from file:// with no server.
 */
export function staticPage(parts: { title: string; js: string; css: string; snapshot: StaticSnapshot }): string {
  const js = inlineScript(parts.js);
  const css = inlineStyle(parts.css);
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(js)}`,
    `style-src ${sha256(css)}`,
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeText(parts.title)}</title>
<link rel="icon" href="data:,">
<style>${css}</style>
<script type="application/json" id="${SNAPSHOT_ELEMENT_ID}">${jsonForScriptElement(parts.snapshot)}</script>
<script type="module">${js}</script>
</head>
<body>
<div id="app"></div>
</body>
</html>
`;
}
