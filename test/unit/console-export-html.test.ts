import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { snapshotKey, StaticSnapshot } from "../../console/api/snapshot.ts";
import { jsonForScriptElement, staticPage } from "../../console/server/export-html.ts";

const HOSTILE = "</script><script>alert(1)</script><!-- <SCRIPT> & \u2028\u2029 ]]>";

const snapshot = (tag: string): StaticSnapshot => ({
  exportedAt: "2026-12-03T12:00:00.000Z",
  source: "/tmp/home",
  highlights: [],
  answers: { "/api/runs/r": { status: 200, body: { tags: { note: tag } } } },
});

const hashOf = (text: string): string => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

describe("the static export's page", () => {
  it("puts data in a JSON block no string can end or bend, and reads it back unchanged", () => {
    const json = jsonForScriptElement({ note: HOSTILE });
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual({ note: HOSTILE });
  });

  it("runs only its own bundle and stylesheet (by hash), and keeps their `</script` and `</style` inside them", () => {
    const js = 'const s = "</script><!--"; document.title = s;';
    const css = 'a::after { content: "</style>"; }';
    const html = staticPage({ title: `<t> & "q"`, js, css, snapshot: snapshot(HOSTILE) });
    expect(html.match(/<script\b/g)).toHaveLength(2);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    expect(html.match(/<\/style>/g)).toHaveLength(1);
    expect(html).toContain("<title>&lt;t&gt; &amp; &quot;q&quot;</title>");
    const inlined = /<script type="module">([\s\S]*)<\/script>\n<\/head>/.exec(html)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    // The escaped bundle still means the same: `\x3C` is `<` in a string.
    expect(inlined).toBe('const s = "\\x3C/script>\\x3C!--"; document.title = s;');
    expect(new Function(inlined.replace("document.title = s;", "return s;"))()).toBe("</script><!--");
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!;
    expect(csp).toContain(`script-src ${hashOf(inlined)}`);
    expect(csp).toContain(`style-src ${hashOf(style)}`);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).not.toMatch(/connect-src|unsafe/);
    const data = /<script type="application\/json" id="sightline-snapshot">([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(StaticSnapshot.parse(JSON.parse(data))).toEqual(snapshot(HOSTILE));
  });

  it("keys an answer by its path and sorted query, however the query was spelled", () => {
    expect(snapshotKey("/api/runs?sort=model&limit=25")).toBe(snapshotKey("/api/runs?limit=25&sort=model"));
    expect(snapshotKey("/api/lineage/search?q=fmnist:2")).toBe("/api/lineage/search?q=fmnist%3A2");
    expect(snapshotKey("/api/models")).toBe("/api/models");
  });
});
