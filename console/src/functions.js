// The functions list: every function with its health at a glance (from the server's
// counters since start) and its environments by state.
import { html } from "htm/preact";

import { lambda, lamina } from "./api.js";
import { ago, health, num } from "./format.js";
import { usePolled } from "./poll.js";

export function FunctionsPage({ onError }) {
  const [rows, failure] = usePolled(
    async () => {
      const [functions, status] = await Promise.all([lambda.list(), lamina.status()]);
      const byName = Object.fromEntries((status.functions || []).map((f) => [f.name, f]));
      return functions.map((f) => ({ config: f, status: byName[f.FunctionName] }));
    },
    5000,
    [],
    onError,
  );
  if (failure && !rows) return html`<p class="error">${failure}</p>`;
  if (!rows) return html`<p class="muted">Loading…</p>`;
  const environments = (s) =>
    (s?.versions || []).reduce((n, v) => n + v.initialising + v.idle + v.busy + v.frozen, 0);
  return html`
    <section class="card">
      <h1>Functions <span class="muted">${rows.length}</span></h1>
      ${rows.length === 0
        ? html`<p class="muted">No functions yet: <code>aws lambda create-function</code>, <code>lamina deploy</code>.</p>`
        : html`
          <table class="list" data-testid="functions">
            <thead><tr>
              <th>Function</th><th>Health</th><th>Runtime</th><th>Memory</th>
              <th class="n">Invocations</th><th class="n">Errors</th><th class="n">Throttles</th>
              <th class="n">Running</th><th class="n">Environments</th><th>Modified</th>
            </tr></thead>
            <tbody>
              ${rows.map(({ config, status }) => {
                const h = health(status);
                return html`
                  <tr data-function=${config.FunctionName}>
                    <td><a href=${`#/functions/${encodeURIComponent(config.FunctionName)}`}>${config.FunctionName}</a></td>
                    <td><span class=${`badge ${h.kind}`}>${h.label}</span></td>
                    <td>${config.Runtime || config.PackageType}</td>
                    <td>${config.MemorySize} MB</td>
                    <td class="n">${num(status?.invocations)}</td>
                    <td class="n">${num(status?.errors)}</td>
                    <td class="n">${num(status?.throttles)}</td>
                    <td class="n">${num(status?.concurrentExecutions)}</td>
                    <td class="n">${num(environments(status))}</td>
                    <td>${ago(config.LastModified)}</td>
                  </tr>`;
              })}
            </tbody>
          </table>`}
    </section>`;
}
