/** A labelled tree printed with box-drawing branches, as `sightline lineage` shows graphs. */
export type Tree = { label: string; children?: Tree[] };

export function renderTree(root: Tree): string[] {
  const lines = [root.label];
  const walk = (children: Tree[], prefix: string): void => {
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      lines.push(`${prefix}${last ? "└─ " : "├─ "}${child.label}`);
      if (child.children?.length) walk(child.children, `${prefix}${last ? "   " : "│  "}`);
    });
  };
  walk(root.children ?? [], "");
  return lines;
}
