// The platform: concurrency, environments by state (all and per function version), the
// asynchronous event queue, SQS queues and event source mappings.
import { html } from "htm/preact";

import { lamina } from "./api.js";
import { ms, num } from "./format.js";
import { usePolled } from "./poll.js";

const STATES = ["initialising", "idle", "busy", "frozen"];

export function PlatformPage({ onError }) {
  const [data, failure] = usePolled(
    async () => {
      const [status, triggers] = await Promise.all([lamina.status(), lamina.triggers()]);
      return { status, triggers };
    },
    3000,
    [],
    onError,
  );
  if (failure && !data) return html`<p class="error">${failure}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  const { status, triggers } = data;
  const versions = (status.functions || []).flatMap((f) => (f.versions || []).map((v) => ({ name: f.name, ...v })));
  const total = Object.fromEntries(STATES.map((s) => [s, versions.reduce((n, v) => n + v[s], 0)]));
  const q = status.eventQueue || {};
  return html`
    <section class="card">
      <h1>Platform</h1>
      <div class="tiles" data-testid="platform-tiles">
        <div class="tile"><b>${num(status.concurrentExecutions)} <small>/ ${num(status.concurrencyLimit)}</small></b><span>concurrent executions</span></div>
        <div class="tile"><b>${num(status.unreservedConcurrency)}</b><span>unreserved concurrency</span></div>
        <div class="tile"><b>${num(status.environments)}</b><span>environments</span></div>
        ${STATES.map((s) => html`<div class="tile" data-state=${s}><b>${num(total[s])}</b><span>${s}</span></div>`)}
        <div class="tile"><b>${num(status.thaws)}</b><span>thaws (mean ${ms(status.thawMeanUs / 1000)})</span></div>
        <div class="tile"><b>${num(status.reaped)}</b><span>reaped idle</span></div>
      </div>
    </section>
    <section class="card">
      <h2>Environments by function version</h2>
      ${versions.length === 0
        ? html`<p class="muted">No environment is running.</p>`
        : html`<table class="list" data-testid="environments">
            <thead><tr><th>Function</th><th>Version</th>${STATES.map((s) => html`<th class="n">${s}</th>`)}<th class="n">provisioned</th><th class="n">waiting</th><th class="n">started</th></tr></thead>
            <tbody>${versions.map((v) => html`<tr>
              <td><a href=${`#/functions/${encodeURIComponent(v.name)}`}>${v.name}</a></td><td>${v.version}</td>
              ${STATES.map((s) => html`<td class="n">${num(v[s])}</td>`)}
              <td class="n">${num(v.provisioned)}</td><td class="n">${num(v.waiting)}</td><td class="n">${num(v.created)}</td>
            </tr>`)}</tbody></table>`}
    </section>
    <section class="card">
      <h2>Asynchronous events</h2>
      <div class="tiles" data-testid="event-queue">
        <div class="tile"><b>${num(q.ready)}</b><span>ready</span></div>
        <div class="tile"><b>${num(q.delayed)}</b><span>waiting to retry</span></div>
        <div class="tile"><b>${num(q.running)}</b><span>running</span></div>
        <div class="tile"><b>${num(q.failed)}</b><span>failed for good</span></div>
        <div class="tile"><b>${num(q.accepted)}</b><span>accepted since start</span></div>
        <div class="tile"><b>${num(q.refused)}</b><span>refused (queue full)</span></div>
      </div>
    </section>
    <section class="card">
      <h2>Queues and mappings</h2>
      ${(triggers.queues || []).length + (triggers.mappings || []).length === 0
        ? html`<p class="muted">No SQS queue and no event source mapping.</p>`
        : html`
          <table class="list">
            <thead><tr><th>Queue</th><th class="n">visible</th><th class="n">in flight</th><th class="n">delayed</th><th>oldest</th></tr></thead>
            <tbody>${(triggers.queues || []).map((x) => html`<tr><td>${x.name}</td><td class="n">${num(x.visible)}</td><td class="n">${num(x.inFlight)}</td><td class="n">${num(x.delayed)}</td><td>${x.oldestAgeS == null ? "-" : `${x.oldestAgeS} s`}</td></tr>`)}</tbody>
          </table>
          <table class="list">
            <thead><tr><th>Mapping</th><th>Source</th><th>Function</th><th>State</th><th class="n">backlog</th><th>Last result</th></tr></thead>
            <tbody>${(triggers.mappings || []).map((m) => html`<tr><td>${m.uuid.slice(0, 8)}</td><td>${m.source}</td><td>${m.function}</td><td>${m.state}</td><td class="n">${num(m.backlog)}</td><td>${m.lastResult}</td></tr>`)}</tbody>
          </table>`}
    </section>`;
}
