// The console's only way to the server: the same AWS APIs any client uses (Lambda,
// CloudWatch Logs, CloudWatch metrics) and Lamina's status routes, on the console's own
// origin. With keys entered (a server started with --credentials), every request is signed
// with SigV4 by aws4fetch, as the AWS SDKs sign; the keys stay in this tab's sessionStorage.
import { AwsClient } from "aws4fetch";

const KEYS = "lamina-console-keys";

export function savedKeys() {
  try {
    return JSON.parse(sessionStorage.getItem(KEYS) || "null");
  } catch {
    return null;
  }
}

export function saveKeys(keys) {
  if (keys) sessionStorage.setItem(KEYS, JSON.stringify(keys));
  else sessionStorage.removeItem(KEYS);
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message || type);
    this.status = status;
    this.type = type;
  }
  // The server wants signed requests (or these keys are wrong).
  get needsKeys() {
    return this.status === 403 && /Signature|Token|Access|Credential|Forbidden/i.test(`${this.type} ${this.message}`);
  }
}

async function send(service, path, init = {}) {
  const url = new URL(path, window.location.origin).toString();
  const keys = savedKeys();
  if (keys && keys.accessKeyId) {
    const client = new AwsClient({
      accessKeyId: keys.accessKeyId,
      secretAccessKey: keys.secretAccessKey,
      region: keys.region || "us-east-1",
      service,
    });
    return client.fetch(url, init);
  }
  return fetch(url, init);
}

async function json(service, path, init) {
  const resp = await send(service, path, init);
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const type =
      resp.headers.get("x-amzn-errortype") || body?.__type || body?.Type || String(resp.status);
    throw new ApiError(resp.status, type.split(":")[0], body?.message || body?.Message || text);
  }
  return body;
}

const fn = (name) => `/2015-03-31/functions/${encodeURIComponent(name)}`;

function decodeBase64(b64) {
  if (!b64) return "";
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export const lambda = {
  async list() {
    const out = [];
    let marker = "";
    do {
      const page = await json("lambda", `/2015-03-31/functions?MaxItems=50${marker ? `&Marker=${encodeURIComponent(marker)}` : ""}`);
      out.push(...(page.Functions || []));
      marker = page.NextMarker || "";
    } while (marker);
    return out;
  },
  get: (name) => json("lambda", fn(name)),
  versions: (name) => json("lambda", `${fn(name)}/versions`),
  aliases: (name) => json("lambda", `${fn(name)}/aliases`),
  mappings: (name) => json("lambda", `/2015-03-31/event-source-mappings?FunctionName=${encodeURIComponent(name)}`),
  async url(name) {
    try {
      return await json("lambda", `/2021-10-31/functions/${encodeURIComponent(name)}/url`);
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  },
  async invoke(name, payload) {
    const started = performance.now();
    const resp = await send("lambda", `${fn(name)}/invocations`, {
      method: "POST",
      body: payload,
      headers: { "X-Amz-Log-Type": "Tail" },
    });
    const body = await resp.text();
    if (resp.status >= 300) {
      let parsed = null;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = null;
      }
      throw new ApiError(resp.status, resp.headers.get("x-amzn-errortype") || String(resp.status), parsed?.message || parsed?.Message || body);
    }
    return {
      status: resp.status,
      functionError: resp.headers.get("x-amz-function-error"),
      version: resp.headers.get("x-amz-executed-version"),
      log: decodeBase64(resp.headers.get("x-amz-log-result")),
      body,
      ms: performance.now() - started,
    };
  },
};

export const lamina = {
  status: () => json("lambda", "/_lamina/status"),
  triggers: () => json("lambda", "/_lamina/triggers"),
};

export const logs = {
  filter: (group, startTime, nextToken) =>
    json("logs", "/", {
      method: "POST",
      headers: {
        "X-Amz-Target": "Logs_20140328.FilterLogEvents",
        "Content-Type": "application/x-amz-json-1.1",
      },
      body: JSON.stringify({ logGroupName: group, startTime, ...(nextToken ? { nextToken } : {}) }),
    }),
};

export const metrics = {
  data: (queries, start, end) =>
    json("monitoring", "/", {
      method: "POST",
      headers: {
        "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData",
        "Content-Type": "application/x-amz-json-1.0",
      },
      body: JSON.stringify({
        MetricDataQueries: queries,
        StartTime: start,
        EndTime: end,
        ScanBy: "TimestampAscending",
      }),
    }),
};
