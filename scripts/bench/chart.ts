/**
 * BENCHMARK TOOL: line charts of benchmark results. {@link renderLineChartSvg} draws a self-contained SVG (pure, no
 * browser); {@link renderLineChartPng} screenshots it with Debian's Chromium through playwright-core, the same browser
 * the GraphiQL end-to-end test drives.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
}

/** Where Debian's chromium package puts the browser (`apt-get install chromium`). */
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const WIDTH = 960;
const HEIGHT = 540;
const MARGIN = { top: 56, right: 260, bottom: 64, left: 88 };
/** Tableau 10: distinguishable, and readable by most colour-blind readers. */
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const TICKS = 6;

/** Escapes text for an SVG text node or attribute value. */
function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * A "nice" step (1, 2 or 5 times a power of ten) that cuts `span` into about `count` intervals: the nearest one on a
 * log scale (d3's rule), so 130 over 6 ticks gets steps of 20, not 50.
 */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction >= Math.sqrt(50) ? 10 : fraction >= Math.sqrt(10) ? 5 : fraction >= Math.sqrt(2) ? 2 : 1) * power;
}

/**
 * A linear axis over [min, max] widened to multiples of a nice step, and its ticks. An empty span (one value, or no
 * data) is widened around the value, so every axis has a scale.
 */
function niceAxis(min: number, max: number): { lo: number; hi: number; ticks: number[]; decimals: number } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) [min, max] = [0, 1];
  if (min === max) [min, max] = min === 0 ? [0, 1] : min > 0 ? [0, min * 2] : [min * 2, 0];
  const step = niceStep(max - min, TICKS);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const ticks: number[] = [];
  // Counted in whole steps so that floating-point error cannot add or drop the last tick.
  for (let i = 0; i <= Math.round((hi - lo) / step); i++) ticks.push(lo + i * step);
  return { lo, hi, ticks, decimals };
}

function formatTick(value: number, decimals: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/**
 * The chart as a standalone SVG document: title, linear x and y axes with gridlines and tick labels (y starts at 0
 * unless values are negative), axis labels, one `<path class="series">` per series through its points in x order, a
 * circle per point, and a legend with each series' name and colour. Pure: same spec, same string.
 */
export function renderLineChartSvg(spec: LineChartSpec): string {
  const all = spec.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xAxis = niceAxis(Math.min(...xs), Math.max(...xs));
  const yAxis = niceAxis(Math.min(0, ...ys), Math.max(0, ...ys));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  const r = (n: number) => n.toFixed(2);
  const bottom = MARGIN.top + plotH;
  const right = MARGIN.left + plotW;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text class="title" x="${WIDTH / 2}" y="32" text-anchor="middle" font-size="20" font-weight="bold" fill="#222">${escapeXml(spec.title)}</text>`,
  ];
  for (const tick of xAxis.ticks) {
    const x = r(sx(tick));
    out.push(
      `<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${bottom}" stroke="#e6e6e6"/>`,
      `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 6}" stroke="#444"/>`,
      `<text class="tick x" x="${x}" y="${bottom + 22}" text-anchor="middle" font-size="13" fill="#444">${formatTick(tick, xAxis.decimals)}</text>`,
    );
  }
  for (const tick of yAxis.ticks) {
    const y = r(sy(tick));
    out.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${right}" y2="${y}" stroke="#e6e6e6"/>`,
      `<line x1="${MARGIN.left - 6}" y1="${y}" x2="${MARGIN.left}" y2="${y}" stroke="#444"/>`,
      `<text class="tick y" x="${MARGIN.left - 10}" y="${y}" dy="0.35em" text-anchor="end" font-size="13" fill="#444">${formatTick(tick, yAxis.decimals)}</text>`,
    );
  }
  out.push(
    `<line class="axis x" x1="${MARGIN.left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#444" stroke-width="1.5"/>`,
    `<line class="axis y" x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${bottom}" stroke="#444" stroke-width="1.5"/>`,
    `<text class="axis-label x" x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 16}" text-anchor="middle" font-size="15" fill="#222">${escapeXml(spec.xLabel)}</text>`,
    `<text class="axis-label y" transform="translate(22 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="15" fill="#222">${escapeXml(spec.yLabel)}</text>`,
  );

  spec.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length]!;
    const points = series.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    const d = points.map((p, j) => `${j === 0 ? 'M' : 'L'}${r(sx(p.x))},${r(sy(p.y))}`).join(' ');
    out.push(`<path class="series" data-series="${escapeXml(series.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="2.5" stroke-linejoin="round"/>`);
    for (const p of points) out.push(`<circle cx="${r(sx(p.x))}" cy="${r(sy(p.y))}" r="4" fill="${color}" stroke="#ffffff" stroke-width="1.5"/>`);
    const ly = MARGIN.top + 10 + i * 24;
    const lx = right + 20;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${color}" stroke-width="2.5"/>`,
      `<circle cx="${lx + 14}" cy="${ly}" r="4" fill="${color}" stroke="#ffffff" stroke-width="1.5"/>`,
      `<text class="legend" x="${lx + 36}" y="${ly}" dy="0.35em" font-size="13" fill="#222">${escapeXml(series.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Renders the chart ({@link renderLineChartSvg}) in headless Chromium (`/usr/bin/chromium`, driven by playwright-core)
 * and writes a PNG screenshot of it to `outFile` (its directory is created), at twice the SVG's pixel size.
 * @throws Error when Chromium is not installed, saying how to install it
 */
export async function renderLineChartPng(spec: LineChartSpec, outFile: string): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`rendering a chart needs Debian's Chromium at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium`);
  await mkdir(path.dirname(path.resolve(outFile)), { recursive: true });
  const html = `<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;background:#fff}svg{display:block}</style></head><body>${renderLineChartSvg(spec)}</body></html>`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT }, deviceScaleFactor: 2 });
    await page.setContent(html);
    await page.locator('svg').screenshot({ path: outFile, type: 'png' });
  } finally {
    await browser.close();
  }
}
