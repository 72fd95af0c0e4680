// A function's graphs over a chosen range, from CloudWatch's GetMetricData (namespace
// AWS/Lambda, dimension FunctionName), drawn with uPlot.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "htm/preact";
import uPlot from "uplot";

import { metrics } from "./api.js";
import { usePolled } from "./poll.js";

export const RANGES = [
  { label: "1 hour", seconds: 3600, period: 60 },
  { label: "3 hours", seconds: 3 * 3600, period: 60 },
  { label: "12 hours", seconds: 12 * 3600, period: 300 },
  { label: "1 day", seconds: 86400, period: 300 },
  { label: "3 days", seconds: 3 * 86400, period: 900 },
  { label: "1 week", seconds: 7 * 86400, period: 3600 },
];

const QUERIES = [
  ["invocations", "Invocations", "Sum"],
  ["errors", "Errors", "Sum"],
  ["throttles", "Throttles", "Sum"],
  ["p50", "Duration", "p50"],
  ["p99", "Duration", "p99"],
  ["concurrency", "ConcurrentExecutions", "Maximum"],
  ["coldstarts", "InitDuration", "SampleCount"],
];

const CHARTS = [
  { id: "invocations", title: "Invocations and errors", series: [["invocations", "Invocations", "#2f6fde"], ["errors", "Errors", "#d2452b"]], zero: true },
  { id: "throttles", title: "Throttles", series: [["throttles", "Throttles", "#c98a00"]], zero: true },
  { id: "duration", title: "Duration (ms)", series: [["p50", "p50", "#2f9e6a"], ["p99", "p99", "#8a4fd8"]], zero: false },
  { id: "concurrency", title: "Concurrency and cold starts", series: [["concurrency", "Concurrent executions", "#2f6fde"], ["coldstarts", "Cold starts", "#d2452b"]], zero: true },
];

function Chart({ spec, x, values }) {
  const el = useRef(null);
  useEffect(() => {
    if (!el.current) return undefined;
    const width = Math.max(300, el.current.clientWidth || 480);
    const plot = new uPlot(
      {
        width,
        height: 180,
        series: [{}, ...spec.series.map(([, label, stroke]) => ({ label, stroke, width: 2, spanGaps: !spec.zero, points: { size: 4 } }))],
        axes: [{ space: 90 }, { size: 50 }],
        legend: { live: false },
        scales: { y: { range: (u, min, max) => [spec.zero ? 0 : Math.min(min ?? 0, 0), Math.max(max ?? 1, 1)] } },
      },
      [x, ...spec.series.map(([id]) => values[id])],
      el.current,
    );
    return () => plot.destroy();
  }, [x, values]);
  return html`<figure class="chart" data-chart=${spec.id}><figcaption>${spec.title}</figcaption><div ref=${el}></div></figure>`;
}

// The range's figures, one point per period: counts are 0 where nothing happened,
// durations a gap.
async function load(name, range) {
  const end = Math.ceil(Date.now() / 1000 / range.period) * range.period;
  const start = end - range.seconds;
  const queries = QUERIES.map(([id, metric, stat]) => ({
    Id: id,
    MetricStat: {
      Metric: { Namespace: "AWS/Lambda", MetricName: metric, Dimensions: [{ Name: "FunctionName", Value: name }] },
      Period: range.period,
      Stat: stat,
    },
  }));
  const out = await metrics.data(queries, start, end);
  const x = [];
  for (let t = start; t < end; t += range.period) x.push(t);
  const values = {};
  for (const [id, , stat] of QUERIES) {
    const result = (out.MetricDataResults || []).find((r) => r.Id === id) || { Timestamps: [], Values: [] };
    const at = new Map(result.Timestamps.map((t, i) => [Math.round(Number(t)), result.Values[i]]));
    const empty = stat === "Sum" || stat === "SampleCount" || stat === "Maximum" ? 0 : null;
    values[id] = x.map((t) => (at.has(t) ? at.get(t) : empty));
  }
  const total = (id) => values[id].reduce((a, b) => a + (b || 0), 0);
  return {
    x,
    values,
    totals: { invocations: total("invocations"), errors: total("errors"), throttles: total("throttles"), coldstarts: total("coldstarts") },
  };
}

export function Graphs({ name, onError }) {
  const [range, setRange] = useState(RANGES[0]);
  const [data, failure] = usePolled(() => load(name, range), 10000, [name, range], onError);
  return html`
    <section class="card" data-testid="graphs">
      <h2>Monitoring
        <select data-testid="range" value=${range.label} onChange=${(e) => setRange(RANGES.find((r) => r.label === e.target.value))}>
          ${RANGES.map((r) => html`<option value=${r.label}>${r.label}</option>`)}
        </select>
      </h2>
      ${failure && !data && html`<p class="error">${failure}</p>`}
      ${data && html`
        <p class="muted" data-testid="graph-totals">${`In this range: ${data.totals.invocations} invocations, ${data.totals.errors} errors, ${data.totals.throttles} throttles, ${data.totals.coldstarts} cold starts.`}</p>
        <div class="charts">${CHARTS.map((spec) => html`<${Chart} spec=${spec} x=${data.x} values=${data.values} />`)}</div>`}
    </section>`;
}
