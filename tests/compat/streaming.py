"""Response streaming against a freshly started `lamina serve`: boto3's
invoke_with_response_stream (AWS's event-stream framing, read by botocore's EventStream),
and function URLs with InvokeMode RESPONSE_STREAM read as plain HTTP, with Node.js functions
written with awslambda.streamifyResponse and awslambda.HttpResponseStream as on Lambda.

Usage: streaming.py ENDPOINT

Exits non-zero with a message at the first difference from Lambda's behaviour.
"""

import base64
import http.client
import json
import sys
import time
import urllib.parse

import boto3
import botocore

from common import ROLE, check, package


# The pause between the first and the second chunk: the first must reach the caller during it.
PAUSE_MS = 2000

STREAMER = """
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const input = event.rawPath !== undefined && event.body ? JSON.parse(event.body) : event;
  if (input.big) {
    responseStream.setContentType('application/octet-stream');
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < input.big / chunk.length; i++) {
      if (!responseStream.write(chunk)) await new Promise(r => responseStream.once('drain', r));
    }
    responseStream.end();
    return;
  }
  if (event.rawPath !== undefined) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201, headers: {'x-streamed': 'yes', 'content-type': 'text/plain'}, cookies: ['c=1', 'd=2'],
    });
  } else {
    responseStream.setContentType('text/plain');
  }
  responseStream.write('first;');
  await new Promise(r => setTimeout(r, %d));
  responseStream.write('second;');
  if (event.fail) throw new TypeError('broke mid-stream');
  responseStream.end('third');
});
""" % PAUSE_MS

PLAIN = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("plain failure")
    return {"whole": True}
"""


def read_stream(c, name, payload, **kw):
    """The events of invoke_with_response_stream, each with when it arrived."""
    start = time.monotonic()
    r = c.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    events = [(time.monotonic() - start, e) for e in r["EventStream"]]
    return r, events


def main(endpoint):
    port = urllib.parse.urlsplit(endpoint).port
    c = boto3.client(
        "lambda", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60),
    )
    c.create_function(FunctionName="streamer", Runtime="nodejs20.x", Handler="index.handler",
                      Role=ROLE, Code={"ZipFile": package({"index.mjs": STREAMER})},
                      Timeout=30, MemorySize=512)
    c.create_function(FunctionName="plain", Runtime="python3.11", Handler="app.handler",
                      Role=ROLE, Code={"ZipFile": package({"app.py": PLAIN})})

    # --- InvokeWithResponseStream ---
    r, events = read_stream(c, "streamer", {}, LogType="Tail")
    chunks = [(t, e["PayloadChunk"]["Payload"]) for t, e in events if "PayloadChunk" in e]
    complete = [e["InvokeComplete"] for _, e in events if "InvokeComplete" in e]
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST"
          and r["ResponseStreamContentType"] == "text/plain",
          "InvokeWithResponseStream answers 200 with the function's content type and version")
    check(b"".join(p for _, p in chunks) == b"first;second;third",
          "boto3's EventStream reads the PayloadChunks in order")
    check(len(complete) == 1 and "ErrorCode" not in complete[0] and events[-1][1] == {"InvokeComplete": complete[0]},
          "one InvokeComplete ends the stream")
    log = base64.b64decode(complete[0]["LogResult"]).decode()
    request_id = r["ResponseMetadata"]["RequestId"]
    check(f"REPORT RequestId: {request_id}" in log,
          "InvokeComplete carries the log tail when asked, of the request id the head named")
    first_at, done_at = chunks[0][0], events[-1][0]
    check(chunks[0][1] == b"first;" and done_at - first_at > PAUSE_MS / 2000,
          f"the first chunk arrives before the handler ends ({first_at:.3f}s, end {done_at:.3f}s)")

    _, events = read_stream(c, "streamer", {"fail": True})
    complete = events[-1][1].get("InvokeComplete", {})
    check(b"".join(e["PayloadChunk"]["Payload"] for _, e in events if "PayloadChunk" in e) == b"first;second;"
          and complete.get("ErrorCode") == "TypeError" and complete.get("ErrorDetails") == "broke mid-stream",
          "an error after the stream began arrives in InvokeComplete, after the chunks written")

    big = 8 * 1024 * 1024
    _, events = read_stream(c, "streamer", {"big": big})
    got = sum(len(e["PayloadChunk"]["Payload"]) for _, e in events if "PayloadChunk" in e)
    check(got == big and "ErrorCode" not in events[-1][1]["InvokeComplete"],
          f"a streamed answer may exceed the 6 MB of a buffered one ({got} bytes)")

    _, events = read_stream(c, "plain", {})
    check([e for _, e in events][0] == {"PayloadChunk": {"Payload": b'{"whole": true}'}}
          and "ErrorCode" not in events[-1][1]["InvokeComplete"],
          "a function that answers whole is one PayloadChunk")
    _, events = read_stream(c, "plain", {"fail": True})
    check(len(events) == 1 and events[0][1]["InvokeComplete"]["ErrorCode"] == "ValueError"
          and events[0][1]["InvokeComplete"]["ErrorDetails"] == "plain failure",
          "a function that fails whole is an InvokeComplete with its error")
    dry = c.invoke_with_response_stream(FunctionName="streamer", InvocationType="DryRun")
    check(dry["ResponseMetadata"]["HTTPStatusCode"] == 204, "DryRun answers 204")
    try:
        c.invoke_with_response_stream(FunctionName="streamer", InvocationType="Event")
        check(False, "Event is not an invocation type of InvokeWithResponseStream")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "ValidationException",
              "Event is not an invocation type of InvokeWithResponseStream")
    try:
        c.invoke_with_response_stream(FunctionName="missing")
        check(False, "a missing function is a 404")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "ResourceNotFoundException", "a missing function is a 404")

    # Plain Invoke of a streaming function gathers its answer, within the buffered limit.
    r = c.invoke(FunctionName="streamer", Payload=b"{}")
    check(r["Payload"].read() == b"first;second;third" and "FunctionError" not in r,
          "plain Invoke of a streaming function gets the whole answer")
    r = c.invoke(FunctionName="streamer", Payload=json.dumps({"big": big}).encode())
    doc = json.loads(r["Payload"].read())
    check(r.get("FunctionError") == "Unhandled" and doc["errorType"] == "Function.ResponseSizeTooLarge",
          "and past 6 MB it is Function.ResponseSizeTooLarge, as for any buffered answer")

    # --- Function URLs with RESPONSE_STREAM ---
    url = c.create_function_url_config(FunctionName="streamer", AuthType="NONE",
                                       InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    host = urllib.parse.urlsplit(url).netloc
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.monotonic()
    conn.request("GET", "/live", headers={"Host": host})
    resp = conn.getresponse()
    check(resp.status == 201 and resp.headers["x-streamed"] == "yes"
          and resp.headers.get_all("set-cookie") == ["c=1", "d=2"]
          and resp.headers["transfer-encoding"] == "chunked",
          "a streaming URL answers with its prelude's status, headers and cookies, chunked")
    first = resp.read1()
    first_at = time.monotonic() - start
    rest = resp.read()
    done_at = time.monotonic() - start
    check(first.startswith(b"first;") and first + rest == b"first;second;third",
          "the body follows the prelude")
    check(done_at - first_at > PAUSE_MS / 2000,
          f"the URL's first bytes arrive before the handler ends ({first_at:.3f}s, end {done_at:.3f}s)")
    conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/big", body=json.dumps({"big": big}),
                 headers={"Host": host, "Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    check(resp.status == 200 and resp.headers["content-type"] == "application/octet-stream"
          and len(body) == big, f"a streaming URL without a prelude streams past 6 MB ({len(body)} bytes)")
    conn.close()

    plain_url = c.create_function_url_config(FunctionName="plain", AuthType="NONE",
                                             InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/", headers={"Host": urllib.parse.urlsplit(plain_url).netloc})
    resp = conn.getresponse()
    check(resp.status == 200 and json.loads(resp.read()) == {"whole": True},
          "a RESPONSE_STREAM URL of a function that answers whole answers as a buffered one")
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
