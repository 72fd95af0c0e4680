// Lamina's bootstrap for the managed nodejsN.x runtimes.
//
// It does what Lambda's Node.js runtime does, with Node's standard library only: load the
// handler named by _HANDLER once per environment (CommonJS or ES module, async or callback
// style), then loop on the Runtime API, calling the handler with the event and a context
// object. console output is written in Lambda's format (time, request id, level, message).
// Error types follow Lambda's own: Runtime.ImportModuleError, Runtime.HandlerNotFound,
// Runtime.UserCodeSyntaxError, Runtime.MalformedHandlerName, and the error's name otherwise.
// Response streaming is Lambda's too: `awslambda.streamifyResponse(handler)` makes a handler
// `(event, responseStream, context)` whose writes reach the caller as they happen, and
// `awslambda.HttpResponseStream.from(stream, {statusCode, headers, cookies})` starts a
// function URL's answer.
//
// This file is embedded in the lamina binary and written to the runtime directory at start.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { pathToFileURL } = require('node:url');

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const [HOST, PORT] = [API.slice(0, API.lastIndexOf(':')), Number(API.slice(API.lastIndexOf(':') + 1))];
const PREFIX = '/2018-06-01/runtime';
// One socket, kept alive, reused for every call: /next is a long poll without a timeout.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let currentRequestId = '';

function request(method, urlPath, body, headers, to) {
  const { port, via } = to || { port: PORT, via: agent };
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port, method, path: PREFIX + urlPath, agent: via, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

// Lambda's global for streaming handlers, there before the function's code loads.
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';
globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = 'response';
    return handler;
  },
  HttpResponseStream: {
    // The answer's status, headers and cookies as JSON, then 8 NUL bytes, then the body.
    from(stream, prelude) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.write(JSON.stringify(prelude || {}));
      stream.write(Buffer.alloc(8));
      return stream;
    },
  },
};

class FaultError extends Error {
  constructor(errorType, message, stack) {
    super(message);
    this.errorType = errorType;
    this.faultStack = stack || [];
  }
}

function errorDocument(err) {
  if (err instanceof FaultError) {
    return { errorType: err.errorType, errorMessage: err.message, trace: err.faultStack };
  }
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      errorMessage: err.message,
      trace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
    };
  }
  let message;
  try {
    message = typeof err === 'string' ? err : JSON.stringify(err);
  } catch (_) {
    message = String(err);
  }
  return { errorType: typeof err === 'string' ? 'string' : typeof err, errorMessage: message, trace: [] };
}

function postError(urlPath, doc) {
  const body = JSON.stringify(doc);
  return request('POST', urlPath, body, {
    'Content-Type': 'application/vnd.aws.lambda.error+json',
    'Lambda-Runtime-Function-Error-Type': doc.errorType,
    'Content-Length': Buffer.byteLength(body),
  });
}

// Levels of AWS_LAMBDA_LOG_LEVEL (a function's ApplicationLogLevel), least severe first.
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const jsonLogs = () => (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';

// Lambda's console formats: text (time, request id, level, message; newlines inside one
// message become \r so a message stays one log event), or, with LogFormat JSON, one record
// per line (timestamp, level, requestId, message, and an error's type, message and stack),
// levels below AWS_LAMBDA_LOG_LEVEL left out.
function patchConsole() {
  const json = jsonLogs();
  const floor = Math.max(0, LEVELS.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL || 'INFO').toUpperCase()));
  const write = (level) => {
    if (json && LEVELS.indexOf(level) < floor) return () => {};
    return (...args) => {
      if (!json) {
        const message = util.format(...args).replace(/\n/g, '\r');
        process.stdout.write(`${new Date().toISOString()}\t${currentRequestId || 'undefined'}\t${level}\t${message}\n`);
        return;
      }
      const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId || undefined };
      const error = args.find((a) => a instanceof Error);
      record.message = util.format(...args);
      if (error) {
        record.errorType = error.name;
        record.errorMessage = error.message;
        record.stackTrace = String(error.stack || '').split('\n');
      }
      process.stdout.write(JSON.stringify(record) + '\n');
    };
  };
  console.log = write('INFO');
  console.info = write('INFO');
  console.warn = write('WARN');
  console.error = write('ERROR');
  console.debug = write('DEBUG');
  console.trace = write('TRACE');
  console.fatal = write('FATAL');
}

function logError(doc, prefix) {
  if (jsonLogs()) {
    const record = {
      timestamp: new Date().toISOString(), level: 'ERROR', requestId: currentRequestId || undefined,
      message: `${prefix}${doc.errorType}: ${doc.errorMessage}`,
      errorType: doc.errorType, errorMessage: doc.errorMessage, stackTrace: doc.trace,
    };
    process.stdout.write(JSON.stringify(record) + '\n');
    return;
  }
  const line = JSON.stringify({ errorType: doc.errorType, errorMessage: doc.errorMessage, stack: doc.trace });
  process.stdout.write(
    `${new Date().toISOString()}\t${currentRequestId || 'undefined'}\tERROR\t${prefix}${line}\n`,
  );
}

function resolveModuleFile(root, modulePath) {
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const candidate = path.resolve(root, modulePath + ext);
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

async function loadHandler(root, handlerString) {
  const match = /^([^.]*[/])?([^./]+)\.(.+)$/.exec(handlerString || '');
  if (!match) {
    throw new FaultError('Runtime.MalformedHandlerName', `Bad handler ${handlerString}`);
  }
  const modulePath = (match[1] || '') + match[2];
  const handlerPath = match[3];
  const file = resolveModuleFile(root, modulePath);
  if (!file) {
    throw new FaultError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${modulePath}'\nRequire stack:\n- ${__filename}`,
    );
  }
  let mod;
  try {
    if (file.endsWith('.mjs')) {
      mod = await import(pathToFileURL(file).href);
    } else {
      try {
        mod = require(file);
      } catch (e) {
        if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
          mod = await import(pathToFileURL(file).href);
        } else {
          throw e;
        }
      }
    }
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new FaultError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`, String(e.stack).split('\n'));
    }
    if (e && e.code === 'MODULE_NOT_FOUND') {
      throw new FaultError('Runtime.ImportModuleError', `Error: ${e.message}`, String(e.stack).split('\n'));
    }
    throw e;
  }
  let handler = mod;
  for (const part of handlerPath.split('.')) {
    handler = handler == null ? undefined : handler[part];
    if (handler === undefined && mod && mod.default && part === handlerPath.split('.')[0]) {
      handler = mod.default[part];
    }
  }
  if (typeof handler !== 'function') {
    throw new FaultError('Runtime.HandlerNotFound', `${modulePath}.${handlerPath} is undefined or not exported`);
  }
  return handler;
}

function makeContext(headers, onDone) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  const env = process.env;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: headers['lambda-runtime-cognito-identity']
      ? JSON.parse(headers['lambda-runtime-cognito-identity'])
      : undefined,
    clientContext: headers['lambda-runtime-client-context']
      ? JSON.parse(headers['lambda-runtime-client-context'])
      : undefined,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    succeed: (result) => onDone(null, result),
    fail: (err) => onDone(err == null ? new Error('handled') : err),
    done: (err, result) => onDone(err, result),
  };
  return context;
}

async function invokeOnce(handler, headers, body) {
  const requestId = headers['lambda-runtime-aws-request-id'];
  currentRequestId = requestId;
  if (headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  else delete process.env._X_AMZN_TRACE_ID;

  let event;
  try {
    event = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch (e) {
    return { error: new FaultError('Runtime.UnmarshalError', `Unable to unmarshal input: ${e.message}`) };
  }
  return new Promise((resolve) => {
    let settled = false;
    const done = (err, result) => {
      if (settled) return;
      settled = true;
      resolve(err != null ? { error: err } : { result });
    };
    const context = makeContext(headers, done);
    try {
      const ret = handler(event, context, done);
      if (ret && typeof ret.then === 'function') {
        ret.then((r) => done(null, r), (e) => done(e == null ? new Error('rejected') : e));
      } else if (handler.length < 3) {
        done(null, ret);
      }
    } catch (e) {
      done(e);
    }
  });
}

// A streaming handler's invocation: its response stream is the body of a chunked POST to
// /response (streaming mode), each write sent as it happens; an error after the stream began
// goes in the trailers, as Lambda's runtime sends it.
function invokeStreaming(handler, headers, body, requestId) {
  let event;
  try {
    event = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch (e) {
    return Promise.resolve({ error: new FaultError('Runtime.UnmarshalError', `Unable to unmarshal input: ${e.message}`) });
  }
  return new Promise((resolve) => {
    const req = http.request({
      host: HOST,
      port: PORT,
      method: 'POST',
      path: `${PREFIX}/invocation/${requestId}/response`,
      agent,
      headers: {
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        'Transfer-Encoding': 'chunked',
        Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
        'Content-Type': 'application/octet-stream',
      },
    });
    req.setNoDelay(true);
    req.setContentType = (type) => req.setHeader('Content-Type', type);
    let answered = false;
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        answered = true;
        resolve({ streamed: true });
      });
    });
    req.on('error', () => {
      if (!answered) resolve({ streamed: true });
    });
    const fail = (err) => {
      const doc = errorDocument(err);
      logError(doc, 'Invoke Error \t');
      if (!req.writableEnded) {
        req.addTrailers({
          'Lambda-Runtime-Function-Error-Type': doc.errorType,
          'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(doc)).toString('base64'),
        });
        req.end();
      }
    };
    const context = makeContext(headers, () => {});
    try {
      const ret = handler(event, req, context);
      Promise.resolve(ret).then(
        () => {
          if (!req.writableEnded) req.end();
        },
        (e) => fail(e == null ? new Error('rejected') : e),
      );
    } catch (e) {
      fail(e);
    }
  });
}

// Waits, Node started and the bootstrap loaded, until this runtime is given its function: the
// platform attaches the code at /var/task and writes the function's whole environment to
// standard input as one JSON object, then closes it.
function awaitFunction() {
  const env = JSON.parse(fs.readFileSync(0, 'utf8'));
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, env);
  // The working directory was the empty /var/task under the code's mount.
  process.chdir(env.LAMBDA_TASK_ROOT || '/var/task');
  // The module paths are read again from the function's NODE_PATH, its layers' included.
  const Module = require('node:module');
  if (typeof Module._initPaths === 'function') Module._initPaths();
}

// The first HTTP exchange of a Node process costs milliseconds (the client, the parser and
// the socket code are compiled on first use), and so does the first ES module import (the
// module loader starts then). A runtime started ahead of time pays both while it waits,
// against a throwaway server of its own and a module of no file, so that its function does
// not.
async function warmUp() {
  try {
    await import('data:text/javascript,export const warm = 1;');
  } catch (e) {
    // Only a warm-up.
  }
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('{}'));
  });
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, HOST, resolve);
    });
    const to = { port: server.address().port, via: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
    await request('GET', '/invocation/next', undefined, undefined, to);
    await request('POST', '/invocation/warm-up/response', '{}', { 'Content-Type': 'application/json' }, to);
    to.via.destroy();
  } catch (e) {
    // Only a warm-up: the runtime works without it.
  }
  server.close();
}

// `warmedUp`: a runtime forked from Lamina's zygote (zygote.cjs), which warmed up before it
// forked.
async function main({ warmedUp = false } = {}) {
  if (process.env.LAMINA_AWAIT_FUNCTION === 'stdin') {
    if (!warmedUp) await warmUp();
    awaitFunction();
  }
  patchConsole();
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(root, process.env._HANDLER);
  } catch (e) {
    const doc = errorDocument(e);
    logError(doc, 'Uncaught Exception \t');
    await postError('/init/error', { errorType: doc.errorType, errorMessage: doc.errorMessage, trace: doc.trace });
    process.exit(1);
  }

  for (;;) {
    const next = await request('GET', '/invocation/next');
    if (next.status !== 200) process.exit(0);
    const requestId = next.headers['lambda-runtime-aws-request-id'];
    if (handler[STREAMING] === 'response') {
      currentRequestId = requestId;
      const outcome = await invokeStreaming(handler, next.headers, next.body, requestId);
      if (outcome.error !== undefined) {
        const doc = errorDocument(outcome.error);
        logError(doc, 'Invoke Error \t');
        await postError(`/invocation/${requestId}/error`, doc);
      }
      continue;
    }
    const outcome = await invokeOnce(handler, next.headers, next.body);
    if (outcome.error !== undefined) {
      const doc = errorDocument(outcome.error);
      logError(doc, 'Invoke Error \t');
      await postError(`/invocation/${requestId}/error`, {
        errorType: doc.errorType,
        errorMessage: doc.errorMessage,
        trace: doc.trace,
      });
      continue;
    }
    let payload;
    try {
      payload = JSON.stringify(outcome.result === undefined ? null : outcome.result);
    } catch (e) {
      const doc = { errorType: 'Runtime.MarshalError', errorMessage: `Unable to stringify response body: ${e.message}`, trace: [] };
      logError(doc, 'Invoke Error \t');
      await postError(`/invocation/${requestId}/error`, doc);
      continue;
    }
    await request('POST', `/invocation/${requestId}/response`, payload, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(payload),
    });
  }
}

function start(options) {
  process.on('unhandledRejection', (reason) => {
    const doc = errorDocument(reason);
    logError(doc, 'Unhandled Promise Rejection \t');
    process.exit(128);
  });
  main(options).catch((e) => {
    process.stderr.write(`lamina node bootstrap failed: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

// Run by Node, it starts; loaded by the zygote, it waits to be started in each forked child.
if (require.main === module) start();
else module.exports = { start, warmUp };
