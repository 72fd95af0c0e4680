// Small formatting helpers shared by the pages.
export const num = (n) => (n === undefined || n === null ? "-" : Number(n).toLocaleString("en-US"));

export function ms(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return "-";
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(n < 10 ? 2 : 0)} ms`;
}

export function ago(iso) {
  if (!iso) return "-";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

// A function's health from its counters since start: ok, errors, or throttled.
export function health(f) {
  if (!f || !f.invocations) return f && f.throttles ? { label: "throttled", kind: "warn" } : { label: "idle", kind: "idle" };
  const rate = f.errors / f.invocations;
  if (rate >= 0.05) return { label: `${(rate * 100).toFixed(0)}% errors`, kind: "bad" };
  if (f.errors > 0) return { label: `${(rate * 100).toFixed(1)}% errors`, kind: "warn" };
  if (f.throttles > 0) return { label: "throttled", kind: "warn" };
  return { label: "healthy", kind: "ok" };
}
