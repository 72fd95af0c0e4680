// Lamina's console: a hash-routed single page (functions, one function, the platform) made
// with Preact and htm, reading the server through src/api.js alone.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html } from "htm/preact";

import { ApiError, saveKeys, savedKeys } from "./api.js";
import { FunctionsPage } from "./functions.js";
import { FunctionPage } from "./function.js";
import { PlatformPage } from "./platform.js";
import "uplot/dist/uPlot.min.css";
import "./style.css";

function route() {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "functions" && parts[1]) return { page: "function", name: parts[1] };
  if (parts[0] === "platform") return { page: "platform" };
  return { page: "functions" };
}

function KeysForm({ error, onSaved }) {
  const keys = savedKeys() || {};
  const [form, setForm] = useState({
    accessKeyId: keys.accessKeyId || "",
    secretAccessKey: "",
    region: keys.region || "us-east-1",
  });
  const field = (name, label, type = "text") => html`
    <label>${label}
      <input name=${name} type=${type} value=${form[name]}
        onInput=${(e) => setForm({ ...form, [name]: e.target.value })} />
    </label>`;
  return html`
    <section class="card keys">
      <h2>Sign in</h2>
      <p>This server wants requests signed by one of its access keys (<code>serve --credentials</code>).
        The keys stay in this tab.</p>
      ${error && html`<p class="error">${error}</p>`}
      <form onSubmit=${(e) => {
        e.preventDefault();
        saveKeys(form);
        onSaved();
      }}>
        ${field("accessKeyId", "Access key id")}
        ${field("secretAccessKey", "Secret access key", "password")}
        ${field("region", "Region")}
        <button type="submit">Sign in</button>
      </form>
    </section>`;
}

function App() {
  const [where, setWhere] = useState(route());
  const [denied, setDenied] = useState(null);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const onHash = () => setWhere(route());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  // Any page's request refused for want of a signature asks for keys.
  const onError = (e) => {
    if (e instanceof ApiError && e.needsKeys) setDenied(e.message || e.type);
  };
  const page =
    where.page === "function"
      ? html`<${FunctionPage} key=${`${where.name}-${generation}`} name=${where.name} onError=${onError} />`
      : where.page === "platform"
        ? html`<${PlatformPage} key=${generation} onError=${onError} />`
        : html`<${FunctionsPage} key=${generation} onError=${onError} />`;
  return html`
    <header>
      <a class="brand" href="#/">Lamina</a>
      <nav>
        <a href="#/" class=${where.page !== "platform" ? "active" : ""}>Functions</a>
        <a href="#/platform" class=${where.page === "platform" ? "active" : ""}>Platform</a>
      </nav>
      ${savedKeys() && html`<button class="link" onClick=${() => { saveKeys(null); setGeneration(generation + 1); }}>Sign out</button>`}
    </header>
    <main>
      ${denied
        ? html`<${KeysForm} error=${denied} onSaved=${() => { setDenied(null); setGeneration(generation + 1); }} />`
        : page}
    </main>`;
}

render(html`<${App} />`, document.getElementById("app"));
