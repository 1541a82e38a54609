/**
 * One colour per series name, the same in every chart of every report.
 * Known methods get fixed colours (in the order topk, auxloss, lossfree, quantile, bip, bip-T1, ...);
 * any other name gets a colour from a second palette chosen by a hash of the name, so it is stable too.
 */

/** Fixed colours of the known methods. The unbalanced baseline is grey; BIP and its variants are greens/teals. */
export const METHOD_COLORS: Readonly<Record<string, string>> = {
  topk: '#7f7f7f',
  auxloss: '#d62728',
  lossfree: '#1f77b4',
  quantile: '#9467bd',
  bip: '#2ca02c',
  'bip-T1': '#8c564b',
  'bip-T2': '#e377c2',
  'bip-T4': '#17becf',
  'bip-T8': '#bcbd22',
  'bip-notrunc': '#ff7f0e',
  'bip-T8-notrunc': '#ff7f0e',
  online: '#e6ab02',
  optimal: '#111111',
};

/** The order methods are listed in tables and legends when present. */
const METHOD_ORDER: readonly string[] = Object.keys(METHOD_COLORS);

const FALLBACK = ['#ff7f0e', '#006d77', '#b5179e', '#6a994e', '#e76f51', '#3a86ff', '#8338ec', '#a0522d', '#fb8500', '#2a9d8f'];

/** FNV-1a hash of a string (32 bit), used only to pick a stable fallback colour. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The colour of a series: from `overrides` if given there, else the fixed method colour, else a stable hashed one. */
export function seriesColor(name: string, overrides?: Readonly<Record<string, string>>): string {
  return overrides?.[name] ?? METHOD_COLORS[name] ?? FALLBACK[hash(name) % FALLBACK.length];
}

/** Sort names in METHOD_ORDER first (in that order), then the others alphabetically. */
export function sortMethods(names: Iterable<string>): string[] {
  const rank = (n: string): number => {
    const i = METHOD_ORDER.indexOf(n);
    return i < 0 ? METHOD_ORDER.length : i;
  };
  return [...new Set(names)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
