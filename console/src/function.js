// One function: its configuration, a test invocation with its response and log tail, its
// graphs, its live logs, its versions and aliases, and what triggers it.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "htm/preact";

import { lambda, lamina, logs } from "./api.js";
import { Graphs } from "./charts.js";
import { ms } from "./format.js";

function Configuration({ fn }) {
  const c = fn.Configuration;
  const rows = [
    ["ARN", c.FunctionArn],
    ["Runtime", c.Runtime || c.PackageType],
    ["Handler", c.Handler],
    ["Memory", `${c.MemorySize} MB`],
    ["Timeout", `${c.Timeout} s`],
    ["Ephemeral storage", `${c.EphemeralStorage?.Size ?? 512} MB`],
    ["State", `${c.State}${c.LastUpdateStatus ? ` (last update ${c.LastUpdateStatus})` : ""}`],
    ["Code", `${c.CodeSize} bytes, sha256 ${c.CodeSha256}`],
    ["Layers", (c.Layers || []).map((l) => l.Arn).join(", ") || "-"],
    ["Log group", c.LoggingConfig?.LogGroup || `/aws/lambda/${c.FunctionName}`],
    ["Log format", c.LoggingConfig?.LogFormat || "Text"],
    ["Tracing", c.TracingConfig?.Mode || "PassThrough"],
    ["Reserved concurrency", fn.Concurrency?.ReservedConcurrentExecutions ?? "-"],
  ];
  const vars = Object.entries(c.Environment?.Variables || {});
  return html`
    <section class="card" data-testid="configuration">
      <h2>Configuration</h2>
      <dl class="pairs">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
      ${vars.length > 0 && html`<h3>Environment variables</h3>
        <dl class="pairs">${vars.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`}
    </section>`;
}

function TestInvoke({ name, onError }) {
  const [event, setEvent] = useState('{\n  "key": "value"\n}');
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  const run = async () => {
    setProblem(null);
    try {
      JSON.parse(event);
    } catch (e) {
      setProblem(`The event is not JSON: ${e.message}`);
      return;
    }
    setBusy(true);
    try {
      setResult(await lambda.invoke(name, event));
    } catch (e) {
      onError(e);
      setProblem(`${e.type || "Error"}: ${e.message}`);
    } finally {
      setBusy(false);
    }
  };
  let pretty = result?.body;
  try {
    pretty = JSON.stringify(JSON.parse(result.body), null, 2);
  } catch {
    /* not JSON: shown as is */
  }
  return html`
    <section class="card" data-testid="test-invoke">
      <h2>Test</h2>
      <textarea data-testid="event" rows="6" spellcheck="false" value=${event} onInput=${(e) => setEvent(e.target.value)}></textarea>
      <p><button data-testid="invoke" disabled=${busy} onClick=${run}>${busy ? "Invoking…" : "Invoke"}</button></p>
      ${problem && html`<p class="error" data-testid="invoke-problem">${problem}</p>`}
      ${result && html`
        <p data-testid="invoke-status">
          <span class=${`badge ${result.functionError ? "bad" : "ok"}`}>${result.functionError ? `Failed (${result.functionError})` : "Succeeded"}</span>
          <span class="muted"> version ${result.version}, ${ms(result.ms)} round trip</span>
        </p>
        <h3>Response</h3>
        <pre data-testid="invoke-response">${pretty}</pre>
        <h3>Log tail</h3>
        <pre data-testid="invoke-log">${result.log}</pre>`}
    </section>`;
}

function LiveLogs({ group, onError }) {
  const [lines, setLines] = useState([]);
  const [paused, setPaused] = useState(false);
  const box = useRef(null);
  useEffect(() => {
    if (paused) return undefined;
    let live = true;
    let since = Date.now() - 15 * 60 * 1000;
    const seen = new Set();
    const poll = async () => {
      try {
        let token;
        const fresh = [];
        do {
          const page = await logs.filter(group, since, token);
          for (const e of page.events || []) {
            if (seen.has(e.eventId)) continue;
            seen.add(e.eventId);
            fresh.push(e);
          }
          token = page.nextToken;
        } while (token && live);
        if (fresh.length && live) {
          since = Math.max(since, ...fresh.map((e) => e.timestamp));
          setLines((old) => [...old, ...fresh].slice(-500));
        }
      } catch (e) {
        if (e.status !== 400) onError(e);
      }
    };
    poll();
    const timer = setInterval(poll, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [group, paused]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);
  return html`
    <section class="card" data-testid="live-logs">
      <h2>Live logs <span class="muted">${group}</span>
        <button class="link" onClick=${() => setPaused(!paused)}>${paused ? "resume" : "pause"}</button></h2>
      <pre class="logs" ref=${box}>${lines.length === 0
        ? "Waiting for log events…"
        : lines.map((e) => `${new Date(e.timestamp).toISOString().slice(11, 23)}  ${e.message}\n`).join("")}</pre>
    </section>`;
}

function Versions({ versions, aliases }) {
  return html`
    <section class="card" data-testid="versions">
      <h2>Versions and aliases</h2>
      <table class="list">
        <thead><tr><th>Version</th><th>Description</th><th>Modified</th></tr></thead>
        <tbody>${versions.map((v) => html`<tr><td>${v.Version}</td><td>${v.Description || ""}</td><td>${v.LastModified}</td></tr>`)}</tbody>
      </table>
      ${aliases.length > 0 && html`<table class="list">
        <thead><tr><th>Alias</th><th>Version</th><th>Weights</th></tr></thead>
        <tbody>${aliases.map((a) => html`<tr><td>${a.Name}</td><td>${a.FunctionVersion}</td>
          <td>${Object.entries(a.RoutingConfig?.AdditionalVersionWeights || {}).map(([v, w]) => `${v}: ${w}`).join(", ") || "-"}</td></tr>`)}</tbody>
      </table>`}
    </section>`;
}

function Triggers({ name, mappings, url, triggers }) {
  const mine = (target) => (target || "").includes(`:function:${name}`);
  const schedules = (triggers?.schedules || []).filter((s) => mine(s.target));
  const rules = (triggers?.rules || []).filter((r) => (r.targets || []).some(mine));
  const empty = !url && mappings.length + schedules.length + rules.length === 0;
  return html`
    <section class="card" data-testid="triggers">
      <h2>Triggers</h2>
      ${empty && html`<p class="muted">Nothing triggers this function but its callers.</p>`}
      ${url && html`<p>Function URL (${url.AuthType}): <a href=${url.FunctionUrl}>${url.FunctionUrl}</a></p>`}
      ${mappings.length > 0 && html`<table class="list"><thead><tr><th>Event source</th><th>State</th><th>Batch size</th></tr></thead>
        <tbody>${mappings.map((m) => html`<tr><td>${m.EventSourceArn || (m.SelfManagedEventSource ? "Kafka" : "")}</td><td>${m.State}</td><td>${m.BatchSize}</td></tr>`)}</tbody></table>`}
      ${schedules.length > 0 && html`<table class="list"><thead><tr><th>Schedule</th><th>Expression</th><th>Next</th></tr></thead>
        <tbody>${schedules.map((s) => html`<tr><td>${s.group}/${s.name}</td><td>${s.expression}</td><td>${s.nextFire || "-"}</td></tr>`)}</tbody></table>`}
      ${rules.length > 0 && html`<table class="list"><thead><tr><th>Rule</th><th>Bus</th><th>Pattern or schedule</th></tr></thead>
        <tbody>${rules.map((r) => html`<tr><td>${r.name}</td><td>${r.bus}</td><td><code>${r.pattern || r.schedule}</code></td></tr>`)}</tbody></table>`}
    </section>`;
}

export function FunctionPage({ name, onError }) {
  const [data, setData] = useState(null);
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const [fn, versions, aliases, mappings, url, triggers] = await Promise.all([
          lambda.get(name),
          lambda.versions(name),
          lambda.aliases(name),
          lambda.mappings(name),
          lambda.url(name),
          lamina.triggers().catch(() => null),
        ]);
        if (live) {
          setData({
            fn,
            versions: versions.Versions || [],
            aliases: aliases.Aliases || [],
            mappings: mappings.EventSourceMappings || [],
            url,
            triggers,
          });
        }
      } catch (e) {
        onError(e);
        if (live) setFailure(`${e.type || "Error"}: ${e.message}`);
      }
    })();
    return () => {
      live = false;
    };
  }, [name]);
  if (failure) return html`<p class="error" data-testid="function-error">${failure}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  const group = data.fn.Configuration.LoggingConfig?.LogGroup || `/aws/lambda/${name}`;
  return html`
    <h1 data-testid="function-name"><a href="#/">Functions</a> / ${name}</h1>
    <div class="columns">
      <div>
        <${TestInvoke} name=${name} onError=${onError} />
        <${Graphs} name=${name} onError=${onError} />
      </div>
      <div>
        <${Configuration} fn=${data.fn} />
        <${Triggers} name=${name} mappings=${data.mappings} url=${data.url} triggers=${data.triggers} />
        <${Versions} versions=${data.versions} aliases=${data.aliases} />
      </div>
    </div>
    <${LiveLogs} group=${group} onError=${onError} />`;
}
