/** Display helpers shared by the pages. */
export const num = (x: number | undefined, digits = 4): string => (x === undefined ? "—" : x.toFixed(digits));
export const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;
export const short = (id: string, n = 12): string => (id.length > n + 1 ? `${id.slice(0, n)}…` : id);
export const when = (iso: string): string => iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
