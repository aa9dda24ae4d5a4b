/**
 * The benchmark charts (scripts/bench/chart.ts): the pure SVG, and its PNG rendered by Debian's headless Chromium.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { renderLineChartPng, renderLineChartSvg, type LineChartSpec } from '../../scripts/bench/chart.js';

const SPEC: LineChartSpec = {
  title: 'Spawn latency <p95> & nodes',
  xLabel: 'hollow satellites',
  yLabel: 'latency (ms)',
  series: [
    // Out of x order on purpose: the path must still run left to right.
    { name: 'p50', points: [{ x: 200, y: 40 }, { x: 10, y: 12 }, { x: 50, y: 18 }] },
    { name: 'p95', points: [{ x: 10, y: 30 }, { x: 50, y: 45 }, { x: 200, y: 130 }] },
    { name: 'single', points: [{ x: 100, y: 7.5 }] },
  ],
};

describe('benchmark line charts', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('draws one path per series, in x order, with points, legend, title and axis labels', () => {
    const svg = renderLineChartSvg(SPEC);
    const paths = [...svg.matchAll(/<path class="series" data-series="([^"]*)" d="([^"]*)"/g)];
    expect(paths.map((m) => m[1])).toEqual(['p50', 'p95', 'single']);
    expect(svg.match(/<path/g)).toHaveLength(3);
    const xsOf = (d: string) => d.split(' ').map((step) => Number(step.slice(1).split(',')[0]));
    const p50 = xsOf(paths[0]![2]!);
    expect(p50).toEqual([...p50].sort((a, b) => a - b));
    expect(paths[2]![2]).toMatch(/^M[\d.]+,[\d.]+$/);
    // 7 data points + 3 legend markers.
    expect(svg.match(/<circle/g)).toHaveLength(10);
    expect([...svg.matchAll(/<text class="legend"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(['p50', 'p95', 'single']);
    expect(svg).toContain('>Spawn latency &lt;p95&gt; &amp; nodes</text>');
    expect(svg).toMatch(/<text class="axis-label x"[^>]*>hollow satellites</);
    expect(svg).toMatch(/<text class="axis-label y"[^>]*rotate\(-90\)[^>]*>latency \(ms\)</);
    // Linear y axis from 0 in nice steps, x axis over the data's range.
    const yTicks = [...svg.matchAll(/<text class="tick y"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(yTicks[0]).toBe('0');
    expect(yTicks.at(-1)).toBe('140');
    const xTicks = [...svg.matchAll(/<text class="tick x"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(xTicks[0]).toBe('0');
    expect(xTicks.at(-1)).toBe('200');
    expect(renderLineChartSvg(SPEC)).toBe(svg);
  });

  it('draws an empty chart without NaN', () => {
    const svg = renderLineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'none', points: [] }] });
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('Infinity');
    expect(svg.match(/<path class="series"/g)).toHaveLength(1);
  });

  it('writes a PNG rendered by headless Chromium', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bp-test-chart-'));
    dirs.push(dir);
    const file = path.join(dir, 'out', 'chart.png');
    await renderLineChartPng(SPEC, file);
    const png = await readFile(file);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR: twice the SVG's 900x540 (deviceScaleFactor 2).
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1920, 1080]);
  }, 30_000);
});
