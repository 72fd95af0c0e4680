"""Lamina keeping objects in another S3-compatible store (`serve --s3-endpoint`), as a
cluster does: two nodes on one PostgreSQL and one store, driven by boto3's `s3` and
`lambda` clients, unmodified. What one node writes the other reads; a bucket notification
configured through one node fires for writes through the other; multipart uploads and code
from buckets go through the store.

Usage: s3_store.py ENDPOINT_A ENDPOINT_B

Exits non-zero with a message at the first difference from S3's behaviour.
"""

import io
import json
import sys
import urllib.parse

import boto3
from boto3.s3.transfer import TransferConfig

from common import RECORDER, ROLE, check, error_code, events_of, package, wait_for

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:"
MIB = 1024 * 1024


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="x", aws_secret_access_key="x")
    return boto3.client("s3", **kw), boto3.client("lambda", **kw), boto3.client("logs", **kw)


def main(a, b):
    s3a, lama, logsa = clients(a)
    s3b, lamb, logsb = clients(b)

    s3a.create_bucket(Bucket="shared")
    check("shared" in [x["Name"] for x in s3b.list_buckets()["Buckets"]], "a bucket made through A is listed by B")
    put = s3a.put_object(Bucket="shared", Key="notes/a b+c.txt", Body=b"hello store", ContentType="text/plain")
    got = s3b.get_object(Bucket="shared", Key="notes/a b+c.txt")
    check(got["Body"].read() == b"hello store" and got["ETag"] == put["ETag"] and got["ContentType"] == "text/plain",
          "what A wrote, B reads")
    listed = [o["Key"] for o in s3b.list_objects_v2(Bucket="shared", Prefix="notes/")["Contents"]]
    check(listed == ["notes/a b+c.txt"], "B lists it: %s" % listed)
    check(error_code(lambda: s3b.get_object(Bucket="shared", Key="nope"))[0] == "NoSuchKey", "a missing key")

    # Notifications: configured through A, kept by Lamina, fired by writes through B.
    lama.create_function(FunctionName="seen", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                         Code={"ZipFile": package({"app.py": RECORDER})})
    s3a.put_bucket_notification_configuration(Bucket="shared", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"Id": "photos", "LambdaFunctionArn": FUNCTION + "seen",
                                          "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                                          "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}}]})
    conf = s3b.get_bucket_notification_configuration(Bucket="shared")["LambdaFunctionConfigurations"]
    check(conf[0]["Id"] == "photos", "B reads the configuration A put")
    check(error_code(lambda: s3a.put_bucket_notification_configuration(
        Bucket="no-such-bucket", NotificationConfiguration={}))[0] == "NoSuchBucket", "a missing bucket")
    s3b.put_object(Bucket="shared", Key="in/red flower.jpg", Body=b"jpeg")
    s3b.put_object(Bucket="shared", Key="elsewhere.jpg", Body=b"jpeg")
    s3b.delete_object(Bucket="shared", Key="in/red flower.jpg")
    recs = wait_for("both events reach the function", lambda: (lambda rs: rs if len(rs) >= 2 else None)(
        [r for e in events_of(logsa, "seen") for r in e["Records"]]))
    names = sorted((r["eventName"], r["s3"]["object"]["key"]) for r in recs)
    check(names == [("ObjectCreated:Put", "in/red+flower.jpg"), ("ObjectRemoved:Delete", "in/red+flower.jpg")],
          "the events, keys encoded as S3 does: %s" % names)
    created = [r for r in recs if r["eventName"] == "ObjectCreated:Put"][0]
    check(created["s3"]["configurationId"] == "photos" and created["s3"]["object"]["size"] == 4
          and created["eventSource"] == "aws:s3", "the record: %s" % created)

    # Multipart through B, read through A.
    data = bytes(range(256)) * (11 * MIB // 256)
    s3b.upload_fileobj(io.BytesIO(data), "shared", "big.bin",
                       Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    out = io.BytesIO()
    s3a.download_fileobj("shared", "big.bin", out)
    head = s3a.head_object(Bucket="shared", Key="big.bin")
    check(out.getvalue() == data and head["ETag"].endswith('-3"'), "a multipart upload: %s" % head["ETag"])

    # Code from the store's bucket.
    zipped = package({"app.py": "def handler(event, context):\n    return 'from the store'\n"})
    s3a.put_object(Bucket="shared", Key="code/app.zip", Body=zipped)
    lamb.create_function(FunctionName="stored", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                         Code={"S3Bucket": "shared", "S3Key": "code/app.zip"})
    out = json.loads(lama.invoke(FunctionName="stored")["Payload"].read())
    check(out == "from the store", "a function from the store's bucket: %s" % out)
    try:
        lamb.create_function(FunctionName="never", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                             Code={"S3Bucket": "shared", "S3Key": "code/missing.zip"})
        check(False, "a missing package")
    except lamb.exceptions.InvalidParameterValueException as e:
        check("S3 Error Code: NoSuchKey" in str(e), "a missing package: %s" % e)
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
