/**
 * The verdict on each claim of the paper (Sun 2025) for a BIP method of a compare folder, from the logs:
 *
 *   compare-verdicts DIR [methods=bip,bip-T8-notrunc]
 *
 * Two values over seeds are "separated" when their mean ± sd intervals do not overlap:
 * a.mean + a.sd < b.mean − b.sd means a is lower beyond the seed spread. With fewer than two seeds on
 * either side nothing is separated (the spread is unknown).
 *
 * 1. Balance on every layer from the first step: against every baseline (auxloss*, lossfree*), on every
 *    layer, both the AvgMaxVio and the SupMaxVio of steps 1..EARLY_STEPS. Holds when the method is lower
 *    beyond the spread in every comparison; does not hold when a baseline is lower beyond the spread in one.
 * 2. Lowest perplexity: against every method outside the BIP family (names not starting with "bip").
 *    Holds when lower than each beyond the spread; does not hold when one is lower beyond the spread.
 * 3. At least 13% less training time than Loss-Controlled (auxloss, α = 0.1): the mean training step time
 *    (stepMs, without evaluation; the same steps for every run) against 0.87 × auxloss's, both as mean ± sd. The EP step time from the loads
 *    (what the paper's saving comes from on an expert-parallel cluster) is given beside it. "Not measured
 *    alike" when the step time without routing (the same arithmetic for both) differs by more than
 *    SAME_WORK_TOLERANCE: then something besides the balancer differed between the runs.
 * Otherwise: cannot be separated from the seed spread.
 */
import { InputError } from '../routing/errors.ts';
import { fmtPercent } from '../report/format.ts';
import type { Spread } from '../compare/stats.ts';
import { compareEvidence, EARLY_STEPS, type MethodEvidence } from './evidence.ts';

export type Verdict = 'holds' | 'does not hold' | 'cannot be separated from the seed spread' | 'not measured alike';

/**
 * On one process per core every method does the same arithmetic per token but for its balancer, so the
 * step time without the routing time should agree between two methods run alike. When it differs by more
 * than this share, something else differed (most often the machine's load while the runs ran), and the
 * step times are not taken as the methods' cost.
 */
const SAME_WORK_TOLERANCE = 0.05;

/** 'lower' / 'higher' when a's mean ± sd lies wholly below / above b's, else 'overlap'. */
export function separate(a: Spread, b: Spread): 'lower' | 'higher' | 'overlap' {
  const n = (s: Spread) => s.values.filter(Number.isFinite).length;
  if (n(a) < 2 || n(b) < 2) return 'overlap';
  if (a.mean + a.sd < b.mean - b.sd) return 'lower';
  if (a.mean - a.sd > b.mean + b.sd) return 'higher';
  return 'overlap';
}

function verdictOf(outcomes: ('lower' | 'higher' | 'overlap')[]): Verdict {
  if (outcomes.length > 0 && outcomes.every((o) => o === 'lower')) return 'holds';
  if (outcomes.some((o) => o === 'higher')) return 'does not hold';
  return 'cannot be separated from the seed spread';
}

const ms = (s: Spread, digits = 3): string => (s.values.filter(Number.isFinite).length > 1 ? `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}` : s.mean.toFixed(digits));
const scale = (s: Spread, f: number): Spread => ({ mean: s.mean * f, sd: s.sd * f, values: s.values.map((v) => v * f) });
const isBaseline = (name: string): boolean => name.startsWith('auxloss') || name.startsWith('lossfree');

/** "(provisional: 7 of 9 runs finished)" when some run behind the verdict has not finished. */
function provisional(methods: MethodEvidence[]): string {
  const runs = methods.flatMap((m) => m.runs);
  const done = runs.filter((r) => r.stats.finished).length;
  return done === runs.length ? '' : ` (provisional: ${done} of ${runs.length} runs finished)`;
}

function balanceLine(x: MethodEvidence, all: MethodEvidence[]): string {
  const bases = all.filter((m) => isBaseline(m.method) && m.runs.length > 0);
  const outcomes: ('lower' | 'higher' | 'overlap')[] = [];
  for (const b of bases) {
    x.layerAvg.forEach((s, i) => outcomes.push(separate(s, b.layerAvg[i])));
    x.layerEarlySup.forEach((s, i) => outcomes.push(separate(s, b.layerEarlySup[i])));
  }
  const lower = outcomes.filter((o) => o === 'lower').length;
  const higher = outcomes.filter((o) => o === 'higher').length;
  const bestAvg = [...bases].sort((a, b) => a.worstLayerAvg.mean - b.worstLayerAvg.mean)[0];
  const bestEarly = [...bases].sort((a, b) => a.worstEarlySup.mean - b.worstEarlySup.mean)[0];
  const against = bestAvg
    ? `; best baseline: ${bestAvg.method} ${ms(bestAvg.worstLayerAvg)} (worst-layer AvgMaxVio), ${bestEarly.method} ${ms(bestEarly.worstEarlySup)} (worst-layer SupMaxVio, steps 1–${EARLY_STEPS})`
    : '';
  return (
    `**Balance on every layer from the first step** (${x.method}): **${verdictOf(outcomes)}**${provisional([x, ...bases])}. ` +
    `Worst-layer AvgMaxVio ${ms(x.worstLayerAvg)}, worst-layer SupMaxVio in steps 1–${EARLY_STEPS} ${ms(x.worstEarlySup)}, MaxVio at step 1 ${ms(x.firstMaxVio)}${against}. ` +
    `Per layer against ${bases.map((b) => b.method).join(', ') || 'no baseline'}: lower beyond the spread in ${lower} of ${outcomes.length} comparisons, higher in ${higher}.`
  );
}

function perplexityLine(x: MethodEvidence, all: MethodEvidence[]): string {
  const others = all.filter((m) => !m.method.startsWith('bip') && m.runs.length > 0);
  const outcomes = others.map((o) => separate(x.perplexity, o.perplexity));
  const best = [...others].sort((a, b) => a.perplexity.mean - b.perplexity.mean)[0];
  const beaten = others.filter((o, i) => outcomes[i] === 'lower').map((o) => o.method);
  const ahead = others.filter((o, i) => outcomes[i] === 'higher').map((o) => o.method);
  return (
    `**Lowest perplexity** (${x.method}): **${verdictOf(outcomes)}**${provisional([x, ...others])}. ` +
    `${ms(x.perplexity, 2)} against the lowest other, ${best ? `${best.method} ${ms(best.perplexity, 2)}` : 'none'}; ` +
    `lower beyond the spread than ${beaten.join(', ') || 'none'}` +
    (ahead.length > 0 ? `; higher beyond the spread than ${ahead.join(', ')}` : '') +
    `.`
  );
}

function timeLine(x: MethodEvidence, all: MethodEvidence[]): string {
  const aux = all.find((m) => m.method === 'auxloss' && m.runs.length > 0);
  if (!aux) return `**At least 13% less training time than Loss-Controlled** (${x.method}): no auxloss runs to compare with.`;
  const target = scale(aux.stepMs, 0.87);
  const out = separate(x.stepMs, target);
  const rest = (m: MethodEvidence): number => m.stepMs.mean * (1 - m.routingShare.mean);
  const alike = Math.abs(rest(x) / rest(aux) - 1) <= SAME_WORK_TOLERANCE;
  const verdict: Verdict = !alike ? 'not measured alike' : out === 'lower' ? 'holds' : out === 'higher' ? 'does not hold' : 'cannot be separated from the seed spread';
  return (
    `**At least 13% less training time than Loss-Controlled** (${x.method}): **${verdict}**${provisional([x, aux])}. ` +
    `Training step time ${ms(x.stepMs, 0)} ms against auxloss ${ms(aux.stepMs, 0)} ms (${fmtPercent(x.stepMs.mean / aux.stepMs.mean - 1, 1, true)}; 13% less would be ${ms(target, 0)} ms). ` +
    (alike
      ? ''
      : `Without the routing time, the same arithmetic in both, a step took ${rest(x).toFixed(0)} ms against ${rest(aux).toFixed(0)} ms (${fmtPercent(rest(x) / rest(aux) - 1, 1, true)}): something besides the balancer differed between the runs (the machine's load at the time, or the rest of the step), so these step times do not measure the method's cost. `) +
    `The balancer's own time: ${ms(scale(x.routingShare, 100), 2)}% of a step against ${ms(scale(aux.routingShare, 100), 2)}% (routing share). ` +
    `Expert-parallel step time from the loads: ${ms(x.epStepTime)} against ${ms(aux.epStepTime)} (${fmtPercent(x.epStepTime.mean / aux.epStepTime.mean - 1, 1, true)} for the MoE layers with one expert per device).`
  );
}

/** The verdict lines (Markdown list items) of each method asked for. */
export function verdictLines(dir: string, methods: string[]): string {
  const all = compareEvidence(dir);
  const lines: string[] = [];
  for (const name of methods) {
    const x = all.find((m) => m.method === name);
    if (!x) throw new InputError(`${dir}: no method '${name}' (has ${all.map((m) => m.method).join(', ')})`);
    if (x.runs.length === 0) {
      lines.push(`- ${name}: no runs yet.`);
      continue;
    }
    lines.push(`- ${balanceLine(x, all)}`, `- ${perplexityLine(x, all)}`, `- ${timeLine(x, all)}`);
  }
  return lines.join('\n');
}
