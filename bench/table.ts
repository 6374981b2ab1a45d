/**
 * The benchmark suite's result table. Every row compares our figure with a baseline measured in
 * the same run on the same data; `ratio` is always ours / baseline, and `better` says which
 * direction is good for that unit ('lower' for seconds and bytes, 'higher' for MB/s).
 */

export type Better = 'lower' | 'higher';

/** CPU-seconds (user + system) and peak RSS of one side of a comparison, when measured. */
export interface Cost {
  cpuS?: number;
  rssMiB?: number;
}

export interface BenchRow {
  /** Stable id, e.g. "B2.time"; used as the JSON key. */
  id: string;
  name: string;
  ours: number;
  baseline: number;
  /** What the baseline is, e.g. "restic 0.14.0". */
  baselineName: string;
  unit: string;
  better: Better;
  /** ours / baseline (NaN when the baseline is 0). */
  ratio: number;
  note?: string;
  oursCost?: Cost;
  baselineCost?: Cost;
}

export type RowInput = Omit<BenchRow, 'ratio'> & { ratio?: number };

export class BenchTable {
  readonly rows: BenchRow[] = [];
  /** Plain-language lines printed after the table (e.g. the issue's requested figures). */
  readonly summary: string[] = [];

  add(r: RowInput): BenchRow {
    const row: BenchRow = { ...r, ratio: r.ratio ?? (r.baseline === 0 ? NaN : r.ours / r.baseline) };
    this.rows.push(row);
    const mark = row.better === 'lower' ? '↓' : '↑';
    console.log(
      `  ${row.id.padEnd(14)} ${row.name}: ours ${fmt(row.ours, row.unit)}, ${row.baselineName} ${fmt(row.baseline, row.unit)} ${row.unit}` +
        ` → ratio ${fmtRatio(row.ratio)} (${mark} better)${row.note ? `  [${row.note}]` : ''}`,
    );
    return row;
  }

  say(line: string): void {
    this.summary.push(line);
  }

  markdown(): string {
    const head = ['#', 'measure', 'ours', 'baseline', 'unit', 'ratio', 'CPU-s ours / base', 'peak RSS MiB ours / base', 'note'];
    const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i >= 2 && i <= 5 ? '---:' : '---')).join('|')}|`];
    for (const r of this.rows) {
      const cost = (k: keyof Cost, digits: number) =>
        r.oursCost?.[k] === undefined && r.baselineCost?.[k] === undefined
          ? ''
          : `${r.oursCost?.[k]?.toFixed(digits) ?? '–'} / ${r.baselineCost?.[k]?.toFixed(digits) ?? '–'}`;
      lines.push(
        `| ${[
          r.id,
          r.name,
          fmt(r.ours, r.unit),
          `${fmt(r.baseline, r.unit)} (${r.baselineName})`,
          r.unit,
          `${fmtRatio(r.ratio)} ${r.better === 'lower' ? '↓' : '↑'}`,
          cost('cpuS', 1),
          cost('rssMiB', 0),
          r.note ?? '',
        ]
          .map((c) => c.replace(/\|/g, '\\|'))
          .join(' | ')} |`,
      );
    }
    return lines.join('\n');
  }
}

export function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return String(v);
  if (unit === 'bytes') return Math.round(v).toLocaleString('en-US');
  if (unit === 's') return v < 10 ? v.toFixed(2) : v.toFixed(1);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return 'n/a';
  return r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

export const MiB = 1024 * 1024;
export const mbPerS = (bytes: number, s: number) => bytes / s / 1e6;
