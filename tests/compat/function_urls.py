"""Function URLs against a freshly started `lamina serve`: the configuration API through
boto3, unmodified, and the URLs themselves through plain HTTP, as a browser, a webhook or
curl would call them.

Usage: function_urls.py ENDPOINT

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
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import ROLE, check, error_code, package


WEB = """
import base64, json, os, time

def handler(event, context):
    path = event["rawPath"]
    if event["requestContext"]["http"]["method"] == "OPTIONS":
        return {"statusCode": 418, "body": "the function saw the preflight"}
    if path == "/echo":
        return {"statusCode": 200, "headers": {"content-type": "application/json", "X-Fn": "web",
                                               "X-Context-Id": context.aws_request_id},
                "body": json.dumps(event)}
    if path == "/binary":
        raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "isBase64Encoded": True, "body": base64.b64encode(raw[::-1]).decode()}
    if path == "/cookies":
        return {"statusCode": 202, "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": "set"}
    if path == "/plain":
        return {"hello": "world"}
    if path == "/string":
        return "Hello, world!"
    if path == "/fail":
        raise RuntimeError("the handler failed")
    if path == "/sleep":
        time.sleep(5)
    if path == "/version":
        return {"statusCode": 200, "body": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
    if path == "/cors":
        return {"statusCode": 200, "headers": {"access-control-allow-origin": "https://from-the-function"},
                "body": "cors"}
    return {"statusCode": 404, "body": "no route " + path}
"""


class Url:
    """A function URL, called on the server's port by its host name, or by path."""

    def __init__(self, function_url, port, by_path=False):
        parts = urllib.parse.urlsplit(function_url)
        self.host = parts.netloc
        self.url_id = parts.netloc.split(".")[0]
        self.port = port
        self.by_path = by_path

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = dict(headers or {})
        if self.by_path:
            path = "/lambda-url/" + self.url_id + path
        else:
            headers["Host"] = self.host
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.headers, data


def signed_headers(method, url, body, key, secret):
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    return dict(req.prepare().headers.items())


def main(endpoint):
    port = urllib.parse.urlsplit(endpoint).port
    c = boto3.client(
        "lambda", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60),
    )
    c.create_function(FunctionName="web", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                      Code={"ZipFile": package({"app.py": WEB})}, Timeout=1)
    c.publish_version(FunctionName="web")
    c.create_alias(FunctionName="web", Name="live", FunctionVersion="1")
    c.create_alias(FunctionName="web", Name="secure", FunctionVersion="1")

    # --- The configuration API ---
    made = c.create_function_url_config(
        FunctionName="web", AuthType="NONE",
        Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
              "AllowHeaders": ["content-type", "x-key"], "ExposeHeaders": ["x-fn"],
              "MaxAge": 600, "AllowCredentials": True})
    check(made["ResponseMetadata"]["HTTPStatusCode"] == 201, "CreateFunctionUrlConfig answers 201")
    url = made["FunctionUrl"]
    url_id = urllib.parse.urlsplit(url).netloc.split(".")[0]
    check(len(url_id) == 32 and url_id.isalnum() and url_id == url_id.lower(),
          f"the URL id is 32 lower-case letters and digits ({url_id})")
    check(url == f"http://{url_id}.lambda-url.us-east-1.localhost:{port}/",
          f"the URL is served by name on the API port ({url})")
    check(made["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:web"
          and made["AuthType"] == "NONE" and made["InvokeMode"] == "BUFFERED"
          and made["Cors"]["MaxAge"] == 600 and "LastModifiedTime" not in made
          and made["CreationTime"].endswith("Z"),
          "Create's answer has Lambda's members (no LastModifiedTime)")
    got = c.get_function_url_config(FunctionName="web")
    check(got["FunctionUrl"] == url and got["LastModifiedTime"] == made["CreationTime"],
          "GetFunctionUrlConfig answers the same URL, with LastModifiedTime")
    check(error_code(lambda: c.create_function_url_config(FunctionName="web", AuthType="NONE"))
          == ("ResourceConflictException", 409), "a second URL on $LATEST is a 409")
    check(error_code(lambda: c.create_function_url_config(FunctionName="web", AuthType="NONE",
                                                          Qualifier="1"))
          == ("ValidationException", 400), "a version number as qualifier is a 400")
    check(error_code(lambda: c.create_function_url_config(FunctionName="web", AuthType="NONE",
                                                          Qualifier="$LATEST"))[1] == 400,
          "$LATEST as qualifier is a 400")
    check(error_code(lambda: c.create_function_url_config(FunctionName="web", AuthType="OPEN"))
          == ("ValidationException", 400), "an unknown AuthType is a 400")
    check(error_code(lambda: c.create_function_url_config(
        FunctionName="web", AuthType="NONE", Qualifier="live", Cors={"MaxAge": 90000}))
          == ("ValidationException", 400), "a MaxAge over 86400 is a 400")
    check(error_code(lambda: c.create_function_url_config(FunctionName="nope", AuthType="NONE"))
          == ("ResourceNotFoundException", 404), "a URL for a missing function is a 404")
    check(error_code(lambda: c.create_function_url_config(FunctionName="web", AuthType="NONE",
                                                          Qualifier="gone"))
          == ("ResourceNotFoundException", 404), "a URL for a missing alias is a 404")
    check(error_code(lambda: c.get_function_url_config(FunctionName="web", Qualifier="live"))
          == ("ResourceNotFoundException", 404), "a missing URL config is a 404")

    live = c.create_function_url_config(FunctionName="web", Qualifier="live", AuthType="NONE")
    check(live["FunctionArn"].endswith(":function:web:live") and live["FunctionUrl"] != url,
          "an alias's URL has the alias's ARN and its own id")
    secure = c.create_function_url_config(FunctionName="web", Qualifier="secure", AuthType="AWS_IAM")
    updated = c.update_function_url_config(FunctionName="web", Qualifier="live",
                                           InvokeMode="BUFFERED", Cors={"AllowOrigins": ["*"]})
    check(updated["FunctionUrl"] == live["FunctionUrl"] and updated["AuthType"] == "NONE"
          and updated["Cors"] == {"AllowOrigins": ["*"]},
          "UpdateFunctionUrlConfig changes what it names and keeps the rest")
    pages, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = c.list_function_url_configs(FunctionName="web", MaxItems=2, **kw)
        pages.append(page["FunctionUrlConfigs"])
        marker = page.get("NextMarker")
        if not marker:
            break
    listed = sorted(u["FunctionArn"] for p in pages for u in p)
    check([len(p) for p in pages] == [2, 1] and listed == sorted(
        [made["FunctionArn"], live["FunctionArn"], secure["FunctionArn"]]),
          "ListFunctionUrlConfigs pages with Marker/MaxItems")
    check(error_code(lambda: c.list_function_url_configs(FunctionName="web", MaxItems=51))[1] == 400,
          "MaxItems over 50 is a 400")

    # --- Serving: the request as payload format 2.0 ---
    u = Url(url, port)
    status, headers, body = u.call(
        "POST", "/echo?a=1&a=2&q=hello%20world", body=b'{"n": 1}',
        headers={"Content-Type": "application/json", "Cookie": "session=s1; theme=dark",
                 "X-Multi": "one", "User-Agent": "compat-test/1.0"})
    check(status == 200 and headers["content-type"] == "application/json",
          "a URL request runs the function and answers its statusCode")
    e = json.loads(body)
    ctx = e["requestContext"]
    check(e["version"] == "2.0" and e["routeKey"] == "$default" and e["rawPath"] == "/echo"
          and e["rawQueryString"] == "a=1&a=2&q=hello%20world"
          and e["queryStringParameters"] == {"a": "1,2", "q": "hello world"},
          "rawPath, rawQueryString and comma-joined queryStringParameters")
    check(e["cookies"] == ["session=s1", "theme=dark"] and "cookie" not in e["headers"],
          "cookies are a list of their own")
    check(e["headers"]["x-multi"] == "one" and e["headers"]["user-agent"] == "compat-test/1.0"
          and all(k == k.lower() for k in e["headers"]), "headers are lower-cased")
    check(e["body"] == '{"n": 1}' and e["isBase64Encoded"] is False, "a JSON body arrives as text")
    check(ctx["http"]["method"] == "POST" and ctx["http"]["path"] == "/echo"
          and ctx["http"]["sourceIp"] == "127.0.0.1" and ctx["http"]["userAgent"] == "compat-test/1.0"
          and ctx["http"]["protocol"] == "HTTP/1.1", "requestContext.http")
    check(ctx["apiId"] == url_id and ctx["domainPrefix"] == url_id
          and ctx["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost"
          and ctx["accountId"] == "anonymous" and len(ctx["requestId"]) == 36
          and abs(ctx["timeEpoch"] - time.time() * 1000) < 60000
          and time.strftime("%d/%b/%Y", time.gmtime()) in ctx["time"],
          "requestContext's ids, domain, account and time")
    check(headers["x-amzn-requestid"] == ctx["requestId"] == headers["x-context-id"],
          "x-amzn-RequestId, requestContext.requestId and the function's request id agree")

    status, headers, body = u.call("GET", "/echo", headers={"X-Dup": "a"})
    e = json.loads(body)
    check("queryStringParameters" not in e and "body" not in e and "cookies" not in e,
          "absent query, body and cookies are left out")

    blob = bytes(range(256)) * 4
    status, headers, body = u.call("PUT", "/binary", body=blob, headers={"Content-Type": "image/png"})
    check(status == 200 and body == blob[::-1] and headers["content-type"] == "application/octet-stream",
          "a binary body goes base64 both ways and comes back byte for byte")

    status, headers, body = u.call("GET", "/cookies")
    check(status == 202 and headers.get_all("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
          and body == b"set", "each cookie of the answer is its own set-cookie header")

    status, headers, body = u.call("GET", "/plain")
    check(status == 200 and headers["content-type"] == "application/json"
          and json.loads(body) == {"hello": "world"}, "an answer without statusCode is an inferred 200")
    status, headers, body = u.call("GET", "/string")
    check(status == 200 and body == b'"Hello, world!"', "a returned string is sent as JSON, quotes included")

    status, headers, body = u.call("GET", "/fail")
    check(status == 502, f"a raising handler is a 502 ({status})")
    status, headers, body = u.call("GET", "/sleep")
    check(status == 502, f"a timed-out handler is a 502 ({status})")
    status, _, body = u.call("GET", "/echo")
    check(status == 200, "the URL serves again after the failures")

    status, _, body = Url(url, port, by_path=True).call("GET", "/echo?x=1")
    e = json.loads(body)
    check(status == 200 and e["rawPath"] == "/echo" and e["rawQueryString"] == "x=1",
          "the same URL is served under /lambda-url/<id>/, the prefix stripped")

    status, _, body = Url(live["FunctionUrl"], port).call("GET", "/version")
    check(status == 200 and body == b"1", "an alias's URL runs the alias's version")
    status, _, body = u.call("GET", "/version")
    check(body == b"$LATEST", "the function's URL runs $LATEST")

    # --- CORS ---
    status, headers, body = u.call("OPTIONS", "/echo", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    check(status == 200 and body == b"", f"a preflight is answered without the function ({status} {body!r})")
    check(headers["access-control-allow-origin"] == "https://app.example"
          and headers["access-control-allow-methods"] == "GET,POST"
          and headers["access-control-allow-headers"] == "content-type,x-key"
          and headers["access-control-max-age"] == "600"
          and headers["access-control-allow-credentials"] == "true",
          "the preflight carries the URL's Cors")
    status, headers, _ = u.call("OPTIONS", "/echo", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    check("access-control-allow-origin" not in headers, "a preflight from another origin is not allowed")
    status, headers, _ = u.call("GET", "/cors", headers={"Origin": "https://app.example"})
    check(headers.get_all("access-control-allow-origin") == ["https://app.example"]
          and headers["access-control-expose-headers"] == "x-fn",
          "an answer to an allowed origin carries the URL's CORS headers, over the function's")
    status, headers, _ = u.call("GET", "/echo", headers={"Origin": "https://evil.example"})
    check(status == 200 and "access-control-allow-origin" not in headers,
          "an answer to another origin carries none")

    # --- Throttles and unknown URLs ---
    c.put_function_concurrency(FunctionName="web", ReservedConcurrentExecutions=0)
    status, _, _ = u.call("GET", "/echo")
    check(status == 429, f"reserved concurrency 0 turns the URL off with a 429 ({status})")
    c.delete_function_concurrency(FunctionName="web")
    status, _, _ = Url(url.replace(url_id, "0" * 32), port).call("GET", "/echo")
    check(status == 403, "an unknown URL id is a 403")

    # --- AWS_IAM ---
    s = Url(secure["FunctionUrl"], port)
    status, _, body = s.call("GET", "/echo")
    check(status == 403 and json.loads(body) == {"Message": "Forbidden"},
          "an unsigned request to an AWS_IAM URL is a 403")
    target = f"http://{s.host}/echo"
    status, _, body = s.call("GET", "/echo", headers=signed_headers("GET", target, b"", "AKIDANY", "x"))
    e = json.loads(body)
    check(status == 200 and e["requestContext"]["accountId"] == "000000000000"
          and e["requestContext"]["authorizer"]["iam"]["accessKey"] == "AKIDANY",
          "a signed request to an AWS_IAM URL runs, with the account and signer in requestContext")

    # --- Lifecycle ---
    c.delete_function_url_config(FunctionName="web", Qualifier="live")
    check(error_code(lambda: c.get_function_url_config(FunctionName="web", Qualifier="live"))[1] == 404,
          "DeleteFunctionUrlConfig removes it")
    status, _, _ = Url(live["FunctionUrl"], port).call("GET", "/version")
    check(status == 403, "a deleted URL no longer answers")
    again = c.create_function_url_config(FunctionName="web", Qualifier="live", AuthType="NONE")
    check(again["FunctionUrl"] != live["FunctionUrl"], "a URL made again gets a new id")
    c.delete_alias(FunctionName="web", Name="live")
    status, _, _ = Url(again["FunctionUrl"], port).call("GET", "/version")
    check(status == 403, "deleting an alias deletes its URL")
    c.delete_function(FunctionName="web")
    status, _, _ = u.call("GET", "/echo")
    check(status == 403, "deleting the function deletes its URLs")
    c.create_function(FunctionName="web", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                      Code={"ZipFile": package({"app.py": WEB})})
    check(c.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"] == [],
          "a function made again under the same name has no URL")
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
