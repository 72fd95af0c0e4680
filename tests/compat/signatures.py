"""Authentication against `lamina serve --credentials FILE`: boto3, unmodified, with the
right keys, a wrong secret, an unknown key and no signature at all; CloudWatch Logs and
Lamina's own routes behind the same check; function URLs' AWS_IAM against the same keys.

Usage: signatures.py ENDPOINT KEY SECRET OTHER_KEY OTHER_SECRET

Exits non-zero with a message at the first difference from what AWS answers.
"""

import http.client
import io
import json
import sys
import urllib.parse
import urllib.request
import zipfile

import boto3
import botocore
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from common import ROLE, check, error_code


def main(endpoint, key, secret, other_key, other_secret):
    port = urllib.parse.urlsplit(endpoint).port
    conf = Config(retries={"max_attempts": 1})

    def client(service, k, s, **extra):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=k, aws_secret_access_key=s, config=conf, **extra)

    c = client("lambda", key, secret)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    print('signed in')\n"
                              "    return {'statusCode': 200, 'body': e['requestContext']['accountId']}\n")
    c.create_function(FunctionName="guarded", Runtime="python3.11", Handler="app.handler",
                      Role=ROLE, Code={"ZipFile": buf.getvalue()})
    check(c.invoke(FunctionName="guarded", Payload=b'{"requestContext": {"accountId": "x"}}')
          ["StatusCode"] == 200, "boto3 with a configured key deploys and invokes")
    check(len(client("lambda", other_key, other_secret).list_functions()["Functions"]) == 1,
          "every key of the file is accepted")
    check(error_code(lambda: client("lambda", key, "wrong").list_functions())
          == ("InvalidSignatureException", 403), "a wrong secret is InvalidSignatureException, 403")
    check(error_code(lambda: client("lambda", "AKIDUNKNOWN", secret).list_functions())
          == ("UnrecognizedClientException", 403), "an unknown key is UnrecognizedClientException, 403")
    unsigned = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    check(error_code(lambda: unsigned.list_functions())
          == ("MissingAuthenticationTokenException", 403),
          "no signature is MissingAuthenticationTokenException, 403")
    check(error_code(lambda: client("lambda", key, "wrong").invoke(FunctionName="guarded"))[1] == 403,
          "Invoke is behind the same check")

    logs = client("logs", key, secret)
    events = logs.filter_log_events(logGroupName="/aws/lambda/guarded")["events"]
    check(any("signed in" in e["message"] for e in events), "CloudWatch Logs answers a signed request")
    check(error_code(lambda: client("logs", key, "wrong").filter_log_events(
        logGroupName="/aws/lambda/guarded"))[1] == 403, "and refuses a wrongly signed one")

    presigned = c.generate_presigned_url("get_function_configuration",
                                         Params={"FunctionName": "guarded"}, ExpiresIn=60)
    with urllib.request.urlopen(presigned) as r:
        check(r.status == 200 and json.load(r)["FunctionName"] == "guarded",
              "a presigned URL is accepted")
    code = c.get_function(FunctionName="guarded")["Code"]["Location"]
    with urllib.request.urlopen(code) as r:
        check(r.status == 200 and r.read()[:2] == b"PK",
              "GetFunction's Code.Location downloads without signing, as a presigned S3 URL does")

    def plain(path, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, r.headers, body

    status, headers, _ = plain("/_lamina/status")
    check(status == 403 and headers["x-amzn-errortype"] == "MissingAuthenticationTokenException",
          "Lamina's status needs a signature")
    status, _, body = plain("/_lamina/health")
    check(status == 200 and json.loads(body) == {"status": "ok"},
          "an unsigned health probe gets only {\"status\": \"ok\"}")

    # Function URLs: NONE stays public; AWS_IAM needs one of the keys.
    public = c.create_function_url_config(FunctionName="guarded", AuthType="NONE")["FunctionUrl"]
    c.create_alias(FunctionName="guarded", Name="iam", FunctionVersion="$LATEST")
    iam = c.create_function_url_config(FunctionName="guarded", Qualifier="iam",
                                       AuthType="AWS_IAM")["FunctionUrl"]

    def call(url, k=None, s=None):
        host = urllib.parse.urlsplit(url).netloc
        headers = {"Host": host}
        if k:
            req = AWSRequest(method="GET", url=f"http://{host}/who", headers={})
            SigV4Auth(Credentials(k, s), "lambda", "us-east-1").add_auth(req)
            headers = dict(req.prepare().headers.items())
            headers["Host"] = host
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/who", headers=headers)
        r = conn.getresponse()
        return r.status, r.read()

    check(call(public)[0] == 200, "a NONE URL answers anyone")
    check(call(iam) == (403, b'{"Message":"Forbidden"}'), "an AWS_IAM URL refuses an unsigned request")
    check(call(iam, key, secret) == (200, b"000000000000"),
          "an AWS_IAM URL runs a request signed by a configured key")
    check(call(iam, key, "wrong")[0] == 403, "and refuses a wrong secret")
    check(call(iam, "AKIDUNKNOWN", secret)[0] == 403, "and an unknown key")
    print("all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:6])
