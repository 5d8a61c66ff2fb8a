// The table (text and Markdown), the targets of issue 7, and the SVG chart.

/** @param {number} value @param {number} [digits] */
const fixed = (value, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
/** @param {number} value */
const thousands = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en') : '–');

/**
 * @typedef {object} Row
 * @property {string} id
 * @property {string} label
 * @property {string} status     'ok', or why the row has no numbers
 * @property {number} rps
 * @property {number} p50
 * @property {number} p99
 * @property {number} cpuPerReqUs
 * @property {number} ratio      rps / bare Fastify's rps in the same round (median over rounds)
 * @property {number} cpuRatio   bare Fastify's CPU per request / this row's: the ratio a saturated core would give
 * @property {number} foreignPct share of the machine used by other processes during the row's runs
 * @property {number} bad        non-2xx, errors and timeouts over all rounds
 */

/** @param {Row[]} rows */
export function rowsMarkdown(rows) {
  const lines = [
    '| row | req/s | p50 ms | p99 ms | server CPU µs/req | × bare Fastify | × bare Fastify by CPU | other load |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    if (row.status !== 'ok') {
      lines.push(`| ${row.label} | ${row.status} | | | | | | |`);
      continue;
    }
    const flag = row.bad > 0 ? ` (${row.bad} failed)` : '';
    lines.push(
      `| ${row.label} | ${thousands(row.rps)}${flag} | ${fixed(row.p50, 2)} | ${fixed(row.p99, 2)} | ${fixed(row.cpuPerReqUs, 1)} | ${fixed(row.ratio, 2)} | ${fixed(row.cpuRatio, 2)} | ${Number.isFinite(row.foreignPct) ? `${fixed(row.foreignPct)}%` : '–'} |`,
    );
  }
  return lines.join('\n');
}

/** @param {import('./startup.mjs').Startup[] | null} startup */
export function startupMarkdown(startup) {
  if (startup === null || startup.length === 0) return '';
  return [
    '| compiled example app (median of runs) | spawn → first answered request | latency of that first request | of the second | runs |',
    '|---|---:|---:|---:|---:|',
    ...startup.map(
      (s) =>
        `| ${s.entry} | ${fixed(s.firstAnswerMs)} ms | ${fixed(s.firstRequestMs, 2)} ms | ${fixed(s.secondRequestMs, 2)} ms | ${s.runs} |`,
    ),
  ].join('\n');
}

/** Per-session figures only where the sessions dwarf the process's own memory. @param {any} g @param {number} v */
const perSession = (g, v) => (g.sessions >= 100_000 ? thousands(v) : '–');

/** @param {any[]} growth */
export function growthMarkdown(growth) {
  if (growth.length === 0) return '';
  const lines = [
    '| store | sessions | req/s | p99 ms | × same store at 1k | RSS MiB | RSS bytes/session | heap bytes/session | disk bytes/session | fill s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const g of growth) {
    if (g.status !== 'ok') {
      lines.push(`| ${g.store} | ${thousands(g.sessions)} | ${g.status} | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${g.store} | ${thousands(g.sessions)} | ${thousands(g.rps)} | ${fixed(g.p99, 2)} | ${fixed(g.ratio, 2)} | ${fixed(g.rssBytes / 2 ** 20)} | ${perSession(g, g.bytesPerSession)} | ${perSession(g, g.heapBytesPerSession)} | ${g.diskBytesPerSession === null ? '–' : perSession(g, g.diskBytesPerSession)} | ${fixed(g.fillSeconds, 1)} |`,
    );
  }
  return lines.join('\n');
}

/** @param {{ target: string, measured: string, holds: boolean | null }[]} targets */
export function targetsMarkdown(targets) {
  const mark = (/** @type {boolean | null} */ h) => (h === null ? 'not measured' : h ? 'holds' : '**fails**');
  return [
    '| target (issue 7) | measured | verdict |',
    '|---|---|---|',
    ...targets.map((t) => `| ${t.target} | ${t.measured} | ${mark(t.holds)} |`),
  ].join('\n');
}

/**
 * Judges the targets of issue 7 against one run.
 *
 * @param {object} run
 * @param {Row[]} run.rows
 * @param {any[]} run.growth
 * @param {{ firstAnswerMs: number, entry: string }[] | null} run.startup
 * @param {number} run.verifyUs   one jose jwtVerify (RS256) on this machine, µs
 */
export function judge({ rows, growth, startup, verifyUs }) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  /** @type {{ target: string, measured: string, holds: boolean | null }[]} */
  const targets = [];
  const ratioTarget = (/** @type {string} */ id, /** @type {number} */ min, /** @type {string} */ what) => {
    const row = byId.get(id);
    const ok = row?.status === 'ok';
    targets.push({
      target: `${what} ≥ ${min}× bare Fastify`,
      measured: ok ? `${fixed(row.ratio, 2)}×` : (row?.status ?? 'not run'),
      holds: ok ? row.ratio >= min : null,
    });
  };
  ratioTarget('kinde-memory', 0.9, 'protected `/`, memory store');
  ratioTarget('kinde-sqlite', 0.9, 'protected `/`, SQLite store');
  ratioTarget('kinde-redis', 0.8, 'protected `/`, Redis store with local cache');
  ratioTarget('bearer-repeat', 0.8, 'bearer, repeated token');
  ratioTarget('kinde-memory-otel', 0.9, 'protected `/`, memory store, OpenTelemetry on');
  ratioTarget('bearer-repeat-otel', 0.8, 'bearer, repeated token, OpenTelemetry on');
  const first = byId.get('bearer-first');
  const repeat = byId.get('bearer-repeat');
  if (first?.status === 'ok' && repeat?.status === 'ok') {
    const extra = first.cpuPerReqUs - repeat.cpuPerReqUs;
    targets.push({
      target: 'bearer, first-seen token: no slower than one signature check',
      measured: `+${fixed(extra, 1)} µs CPU/req over a repeated token; one jose jwtVerify = ${fixed(verifyUs, 1)} µs`,
      holds: extra <= verifyUs * 1.1,
    });
  } else {
    targets.push({
      target: 'bearer, first-seen token: no slower than one signature check',
      measured: first?.status ?? 'not run',
      holds: null,
    });
  }
  const start = startup?.[0];
  targets.push({
    target: 'start-up of the compiled example to its first answered request < 300 ms',
    measured: start ? `${fixed(start.firstAnswerMs)} ms (median, ${start.entry})` : 'not run',
    holds: start ? start.firstAnswerMs < 300 : null,
  });
  for (const store of ['memory', 'sqlite']) {
    const big = growth.find((g) => g.store === store && g.sessions === 1_000_000);
    targets.push({
      target: `${store} store: throughput at 1M sessions within 10% of 1k`,
      measured: big?.status === 'ok' ? `${fixed(big.ratio, 2)}×` : (big?.status ?? 'not run'),
      holds: big?.status === 'ok' ? big.ratio >= 0.9 : null,
    });
  }
  return targets;
}

/** @param {string} text */
const xml = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar chart of requests/s, one bar per row, labelled with the ratio to bare Fastify.
 *
 * @param {Row[]} rows
 * @param {string} caption
 */
export function chartSvg(rows, caption) {
  const measured = rows.filter((r) => r.status === 'ok');
  const max = Math.max(1, ...measured.map((r) => r.rps));
  const labelWidth = 330;
  const barWidth = 420;
  const rowHeight = 26;
  const top = 44;
  const height = top + rows.length * rowHeight + 30;
  const width = labelWidth + barWidth + 190;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="24" font-size="15" font-weight="600">Requests per second (higher is better), 50 connections, server on one core</text>`,
  ];
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end">${xml(row.label.replaceAll('`', ''))}</text>`,
    );
    if (row.status !== 'ok') {
      parts.push(`<text x="${labelWidth + 4}" y="${y + 16}" fill="#888">${xml(row.status)}</text>`);
      return;
    }
    const w = Math.max(1, (row.rps / max) * barWidth);
    const colour =
      row.id.startsWith('kinde') || row.id.startsWith('bearer') || row.id === 'items' ? '#2f6fdf' : '#9aa4b2';
    parts.push(
      `<rect x="${labelWidth}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${colour}"/>`,
    );
    parts.push(
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 16}">${thousands(row.rps)}  (${fixed(row.ratio, 2)}×)</text>`,
    );
  });
  parts.push(`<text x="12" y="${height - 10}" fill="#555" font-size="11">${xml(caption)}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
