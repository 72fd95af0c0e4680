// The least a Node.js runtime can do: the Runtime API loop with Node's own HTTP client, one
// kept-alive socket, and the echo handler inlined (the event parsed and serialised again).
// The relay runs copies of it as the baseline Lamina's Node.js runtime is judged against.
'use strict';
const http = require('node:http');

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const host = api.slice(0, api.lastIndexOf(':'));
const port = Number(api.slice(api.lastIndexOf(':') + 1));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = '/2018-06-01/runtime/invocation/';

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: base + path, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

(async () => {
  for (;;) {
    const next = await call('GET', 'next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const event = JSON.parse(next.body.toString('utf8'));
    await call('POST', `${id}/response`, JSON.stringify(event));
  }
})().catch(() => process.exit(1));
