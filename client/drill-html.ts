import type { DrillReport } from '../shared/drill';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const secs = (ms?: number): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

/**
 * A drill report as one self-contained HTML page (no script, no external asset): the verdict, RPO
 * and RTO, a timeline chart of the steps as inline SVG, each check with its output, and what
 * teardown found. Pure: the same report gives the same page.
 */
export function drillReportHtml(r: DrillReport): string {
  const t0 = Date.parse(r.startedAt);
  const total = Math.max(1, Date.parse(r.finishedAt) - t0);
  const width = 900;
  const rowH = 28;
  const labelW = 110;
  /** Room right of the longest bar for its duration label. */
  const durW = 60;
  const scale = (width - labelW - durW) / total;
  const bars = r.steps
    .map((s, i) => {
      const x = labelW + (Date.parse(s.startedAt) - t0) * scale;
      const w = Math.max(2, s.durationMs * scale);
      const y = 10 + i * rowH;
      return (
        `<text x="0" y="${y + 17}" class="label">${esc(s.name)}</text>` +
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 8}" class="${s.ok ? 'ok' : 'fail'}"><title>${esc(`${s.name}: ${secs(s.durationMs)}${s.detail ? ` - ${s.detail}` : ''}`)}</title></rect>` +
        `<text x="${(x + w + 6).toFixed(1)}" y="${y + 17}" class="dur">${secs(s.durationMs)}</text>`
      );
    })
    .join('\n');
  const height = 20 + r.steps.length * rowH + 20;
  const axis = `<line x1="${labelW}" y1="${height - 18}" x2="${width - durW}" y2="${height - 18}" class="axis"/><text x="${labelW}" y="${height - 4}" class="dur">0 s</text><text x="${width - durW}" y="${height - 4}" class="dur" text-anchor="end">${secs(total)}</text>`;
  const rows = (cells: string[][]) => cells.map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join('')}</tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drill ${esc(r.drillId)}: ${r.outcome}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330}
h1{font-size:20px;margin:0 0 4px} .verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.passed{background:#1f883d} .failed{background:#cf222e} .cancelled{background:#9a6700}
.figures{display:flex;gap:32px;margin:16px 0} .figures div{font-size:13px;color:#57606a} .figures b{display:block;font-size:22px;color:#1d2330}
svg .label{font-size:12px;fill:#1d2330} svg .dur{font-size:11px;fill:#57606a} svg .ok{fill:#2da44e} svg .fail{fill:#cf222e} svg .axis{stroke:#d0d7de}
table{border-collapse:collapse;margin:8px 0 20px} td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top} pre{margin:0;white-space:pre-wrap}
</style></head><body>
<h1>Drill ${esc(r.drillId)} <span class="verdict ${r.outcome}">${r.outcome.toUpperCase()}</span></h1>
<div>plan <b>${esc(r.planName)}</b> · point ${esc(r.pointId ?? '-')} from ${esc(r.store)} (captured ${esc(r.pointCapturedAt ?? '-')}) · on ${esc(r.cluster)}</div>
${r.failure ? `<p><b>Failure:</b> ${esc(r.failure)}</p>` : ''}
<div class="figures"><div>RTO<b>${secs(r.rtoMs)}</b></div><div>RPO (age of the point)<b>${secs(r.rpoMs)}</b></div><div>duration<b>${secs(total)}</b></div><div>checks<b>${r.checks.filter((c) => c.ok).length}/${r.checks.length}</b></div></div>
<h2>Timeline</h2>
<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="timeline of the drill's steps">
${bars}
${axis}
</svg>
<h2>Steps</h2>
<table><tr><th>step</th><th>result</th><th>start</th><th>duration</th><th>detail</th></tr>
${rows(r.steps.map((s) => [esc(s.name), s.ok ? 'ok' : '<b>failed</b>', esc(s.startedAt), secs(s.durationMs), esc(s.detail ?? '')]))}
</table>
<h2>Checks</h2>
<table><tr><th>check</th><th>kind</th><th>where</th><th>result</th><th>duration</th><th>output</th></tr>
${rows(r.checks.map((c) => [esc(c.name), c.kind ?? 'exec', esc(c.pod), c.ok ? 'ok' : '<b>failed</b>', secs(c.durationMs), `<pre>${esc(c.output)}</pre>`]))}
</table>
<h2>Namespaces and teardown</h2>
<p>${Object.entries(r.namespaces).map(([a, b]) => `${esc(a)} → ${esc(b)}`).join(', ') || '-'}; left behind: ${r.leftovers.length ? `<b>${esc(r.leftovers.join(', '))}</b>` : 'nothing'}</p>
</body></html>
`;
}
