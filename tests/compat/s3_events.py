"""S3 bucket notifications and multipart uploads against a freshly started `lamina serve`:
boto3's `s3` client, unmodified, configures notifications to Lamina functions and SQS
queues (and functions and layers take their packages from buckets), and the functions' logs (boto3's `logs` client) and the queues (boto3's `sqs`
client) show exactly what S3 would have delivered. Multipart uploads are checked by boto3's
own calls and by its transfer manager.

Usage: s3_events.py ENDPOINT

Exits non-zero with a message at the first difference from S3's behaviour.
"""

import hashlib
import json
import sys
import urllib.parse

import boto3
from boto3.s3.transfer import TransferConfig

from common import RECORDER, ROLE, check, error_code, events_of, package, wait_for

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:"
MIB = 1024 * 1024


def records(logs, function):
    return [r for e in events_of(logs, function) for r in e.get("Records", [])]


def notifications(endpoint, s3, lam, logs, sqs):
    s3.create_bucket(Bucket="uploads")
    for name in ["images", "removals", "all-created"]:
        lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                            Role=ROLE, Code={"ZipFile": package({"app.py": RECORDER})})
    lam.add_permission(FunctionName="images", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::uploads")
    lam.publish_version(FunctionName="images")
    lam.create_alias(FunctionName="images", Name="live", FunctionVersion="1")
    queue_url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]

    # S3's checks: unknown destinations, overlapping rules, bad filters, unknown events.
    def put(config, **kw):
        return s3.put_bucket_notification_configuration(
            Bucket="uploads", NotificationConfiguration=config, **kw)

    def lam_rule(arn, events, prefix=None, suffix=None, id=None):
        rule = {"LambdaFunctionArn": arn, "Events": events}
        rules = []
        if prefix is not None:
            rules.append({"Name": "prefix", "Value": prefix})
        if suffix is not None:
            rules.append({"Name": "suffix", "Value": suffix})
        if rules:
            rule["Filter"] = {"Key": {"FilterRules": rules}}
        if id:
            rule["Id"] = id
        return rule

    check(error_code(lambda: put({"LambdaFunctionConfigurations": [
        lam_rule(FUNCTION + "nobody", ["s3:ObjectCreated:*"])]})) == ("InvalidArgument", 400),
        "a missing function is refused")
    check(put({"LambdaFunctionConfigurations": [lam_rule(FUNCTION + "nobody", ["s3:ObjectCreated:*"])]},
              SkipDestinationValidation=True)["ResponseMetadata"]["HTTPStatusCode"] == 200,
          "SkipDestinationValidation skips the check")
    check(error_code(lambda: put({"LambdaFunctionConfigurations": [
        lam_rule(FUNCTION + "images", ["s3:ObjectCreated:*"], prefix="in/"),
        lam_rule(FUNCTION + "all-created", ["s3:ObjectCreated:Put"], prefix="in/raw/")]}))
        == ("InvalidArgument", 400), "overlapping rules are refused")
    check(error_code(lambda: put({"LambdaFunctionConfigurations": [
        lam_rule(FUNCTION + "images", ["s3:ObjectCreated:Paste"])]}))[1] == 400, "an unknown event")
    check(error_code(lambda: put({"QueueConfigurations": [
        {"QueueArn": queue_arn + "-missing", "Events": ["s3:ObjectCreated:*"]}]}))[0] == "InvalidArgument",
        "a missing queue is refused")

    put({
        "LambdaFunctionConfigurations": [
            lam_rule(FUNCTION + "images:live", ["s3:ObjectCreated:*"], prefix="in+box/", suffix=".jpg",
                     id="jpegs"),
            lam_rule(FUNCTION + "removals", ["s3:ObjectRemoved:*"], id="gone"),
            lam_rule(FUNCTION + "all-created", ["s3:ObjectCreated:*"], prefix="docs/"),
        ],
        "QueueConfigurations": [
            {"Id": "queued", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:Copy"],
             "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "copies/"}]}}},
        ],
    })
    got = s3.get_bucket_notification_configuration(Bucket="uploads")
    lams = {c["Id"]: c for c in got.get("LambdaFunctionConfigurations", [])}
    check(set(lams) >= {"jpegs", "gone"} and len(lams) == 3, "the configuration reads back: %s" % list(lams))
    check(lams["jpegs"]["LambdaFunctionArn"] == FUNCTION + "images:live"
          and sorted((r["Name"], r["Value"]) for r in lams["jpegs"]["Filter"]["Key"]["FilterRules"])
          == [("Prefix", "in+box/"), ("Suffix", ".jpg")], "filters read back: %s" % lams["jpegs"])
    made_id = [i for i in lams if i not in ("jpegs", "gone")][0]
    check(len(made_id) > 8, "a rule without an Id gets one: %s" % made_id)
    check(got["QueueConfigurations"][0]["QueueArn"] == queue_arn, "queue configuration reads back")

    # The queue got S3's test event when the configuration was put.
    msgs = wait_for("the test event reaches the queue", lambda: sqs.receive_message(
        QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages"))
    test = json.loads(msgs[0]["Body"])
    check(test["Event"] == "s3:TestEvent" and test["Service"] == "Amazon S3" and test["Bucket"] == "uploads",
          "s3:TestEvent: %s" % test)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msgs[0]["ReceiptHandle"])

    # Creations: the filter sees the encoded key; the record is S3's.
    put_resp = s3.put_object(Bucket="uploads", Key="in box/a b+c.jpg", Body=b"jpeg bytes")
    s3.put_object(Bucket="uploads", Key="in box/skip.png", Body=b"png")
    s3.put_object(Bucket="uploads", Key="other/x.jpg", Body=b"x")
    recs = wait_for("the jpeg's event reaches images:live", lambda: records(logs, "images"))
    check(len(recs) == 1, "one record, for the one matching key: %s" % recs)
    r = recs[0]
    check(r["eventVersion"] == "2.1" and r["eventSource"] == "aws:s3" and r["awsRegion"] == "us-east-1"
          and r["eventName"] == "ObjectCreated:Put", "the record's header: %s" % r)
    o = r["s3"]["object"]
    check(o["key"] == "in+box/a+b%2Bc.jpg" and urllib.parse.unquote_plus(o["key"]) == "in box/a b+c.jpg",
          "the key is URL-encoded as S3 does: %s" % o["key"])
    check(o["size"] == 10 and o["eTag"] == put_resp["ETag"].strip('"') and len(o["sequencer"]) >= 16,
          "size, eTag, sequencer: %s" % o)
    check(r["s3"]["configurationId"] == "jpegs" and r["s3"]["bucket"]["name"] == "uploads"
          and r["s3"]["bucket"]["arn"] == "arn:aws:s3:::uploads" and r["s3"]["s3SchemaVersion"] == "1.0",
          "the bucket and configuration: %s" % r["s3"])
    check(r["requestParameters"]["sourceIPAddress"] == "127.0.0.1" and "principalId" in r["userIdentity"]
          and "x-amz-request-id" in r["responseElements"], "who asked: %s" % r)
    check(r["eventTime"].endswith("Z") and len(r["eventTime"]) == 24, "eventTime: %s" % r["eventTime"])

    # A copy goes to the queue (its own rule), removals to their function.
    s3.copy_object(Bucket="uploads", Key="copies/x.jpg", CopySource={"Bucket": "uploads", "Key": "other/x.jpg"})
    msgs = wait_for("the copy's event reaches the queue", lambda: sqs.receive_message(
        QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages"))
    copied = json.loads(msgs[0]["Body"])["Records"][0]
    check(copied["eventName"] == "ObjectCreated:Copy" and copied["s3"]["object"]["key"] == "copies/x.jpg"
          and copied["s3"]["configurationId"] == "queued", "the copy's record: %s" % copied)
    s3.delete_object(Bucket="uploads", Key="other/x.jpg")
    s3.delete_objects(Bucket="uploads", Delete={"Objects": [{"Key": "in box/skip.png"}]})
    gone = wait_for("both removals reach their function", lambda: (lambda rs: rs if len(rs) >= 2 else None)(
        records(logs, "removals")))
    check(sorted(g["s3"]["object"]["key"] for g in gone) == ["in+box/skip.png", "other/x.jpg"]
          and all(g["eventName"] == "ObjectRemoved:Delete" and "size" not in g["s3"]["object"] for g in gone),
          "removal records: %s" % gone)
    first, second = sorted(gone, key=lambda g: g["s3"]["object"]["sequencer"])
    check(first["s3"]["object"]["sequencer"] < second["s3"]["object"]["sequencer"], "sequencers order events")

    # Events of the one write each rule matches, none doubled: 3 creations under docs/.
    for i in range(3):
        s3.put_object(Bucket="uploads", Key="docs/%d.txt" % i, Body=b"d")
    docs = wait_for("docs/ creations reach all-created", lambda: (lambda rs: rs if len(rs) >= 3 else None)(
        records(logs, "all-created")))
    check(sorted(d["s3"]["object"]["key"] for d in docs) == ["docs/0.txt", "docs/1.txt", "docs/2.txt"],
          "one event per write: %s" % [d["s3"]["object"]["key"] for d in docs])

    # An empty configuration turns notifications off.
    put({})
    check(s3.get_bucket_notification_configuration(Bucket="uploads").get("LambdaFunctionConfigurations") is None,
          "an empty configuration removes the rules")
    return queue_url


def multipart(s3, lam, logs):
    s3.create_bucket(Bucket="big")
    lam.create_function(FunctionName="completed", Runtime="python3.11", Handler="app.handler",
                        Role=ROLE, Code={"ZipFile": package({"app.py": RECORDER})})
    s3.put_bucket_notification_configuration(Bucket="big", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": FUNCTION + "completed",
                                          "Events": ["s3:ObjectCreated:CompleteMultipartUpload"]}]})
    up = s3.create_multipart_upload(Bucket="big", Key="movie.bin", ContentType="video/mp4",
                                    Metadata={"camera": "front"})
    uid = up["UploadId"]
    p1 = b"a" * (5 * MIB)
    p2 = b"tail"
    e1 = s3.upload_part(Bucket="big", Key="movie.bin", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket="big", Key="movie.bin", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    check(e1 == '"%s"' % hashlib.md5(p1).hexdigest(), "a part's ETag is its MD5")
    parts = s3.list_parts(Bucket="big", Key="movie.bin", UploadId=uid)["Parts"]
    check([(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MIB), (2, 4)], "ListParts: %s" % parts)
    listed = s3.list_multipart_uploads(Bucket="big").get("Uploads", [])
    check([u["UploadId"] for u in listed] == [uid], "ListMultipartUploads")
    check(error_code(lambda: s3.complete_multipart_upload(
        Bucket="big", Key="movie.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]}))
        == ("InvalidPartOrder", 400), "parts out of order")
    check(error_code(lambda: s3.complete_multipart_upload(
        Bucket="big", Key="movie.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}]}))[0] == "InvalidPart", "a wrong ETag")
    done = s3.complete_multipart_upload(Bucket="big", Key="movie.bin", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                                   {"PartNumber": 2, "ETag": e2}]})
    expected = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p2).digest()).hexdigest() + "-2"
    check(done["ETag"] == '"%s"' % expected, "the multipart ETag is S3's: %s" % done["ETag"])
    got = s3.get_object(Bucket="big", Key="movie.bin")
    body = got["Body"].read()
    check(body == p1 + p2 and got["ContentType"] == "video/mp4" and got["Metadata"] == {"camera": "front"},
          "the object is its parts, with the upload's type and metadata")
    check(error_code(lambda: s3.abort_multipart_upload(Bucket="big", Key="movie.bin", UploadId=uid))
          == ("NoSuchUpload", 404), "a completed upload is gone")
    recs = wait_for("the completion's event", lambda: records(logs, "completed"))
    check(recs[0]["eventName"] == "ObjectCreated:CompleteMultipartUpload"
          and recs[0]["s3"]["object"]["eTag"] == expected and recs[0]["s3"]["object"]["size"] == len(body),
          "the completion's record: %s" % recs[0])

    aborted = s3.create_multipart_upload(Bucket="big", Key="never")["UploadId"]
    s3.upload_part(Bucket="big", Key="never", UploadId=aborted, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="big", Key="never", UploadId=aborted)
    check(error_code(lambda: s3.head_object(Bucket="big", Key="never"))[1] == 404, "an aborted upload is no object")

    # boto3's transfer manager: parts of 5 MiB sent four at a time, with the checksums the
    # SDK adds; a wrong checksum is refused as S3 refuses it.
    data = bytes(range(256)) * (17 * MIB // 256)
    import io
    s3.upload_fileobj(io.BytesIO(data), "big", "managed.bin",
                      Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB,
                                            max_concurrency=4))
    head = s3.head_object(Bucket="big", Key="managed.bin")
    check(head["ContentLength"] == len(data) and head["ETag"].endswith('-4"'), "transfer manager: %s" % head["ETag"])
    out = io.BytesIO()
    s3.download_fileobj("big", "managed.bin", out)
    check(out.getvalue() == data, "the managed upload reads back whole")
    put = s3.put_object(Bucket="big", Key="summed", Body=b"sum me", ChecksumAlgorithm="SHA256")
    check(put.get("ChecksumSHA256") == "T7wMnVIxg9ov1vfMUVrv/t2ZshVGWAfoq3jQd9k8dds=",
          "a SHA-256 checksum is verified and answered: %s" % put.get("ChecksumSHA256"))
    check(error_code(lambda: s3.put_object(Bucket="big", Key="bad", Body=b"sum me",
                                           ChecksumCRC32="AAAAAA=="))[0] == "BadDigest",
          "a wrong checksum is refused")
    check(error_code(lambda: s3.head_object(Bucket="big", Key="bad"))[1] == 404, "and nothing is stored")


def code_from_buckets(s3, lam):
    s3.create_bucket(Bucket="deploys")
    v1 = package({"app.py": "def handler(event, context):\n    return {'version': 1}\n"})
    v2 = package({"app.py": "def handler(event, context):\n    return {'version': 2}\n"})
    layer = package({"python/shared.py": "NAME = 'from a layer in a bucket'\n"})
    s3.put_object(Bucket="deploys", Key="app/v1.zip", Body=v1)
    s3.put_object(Bucket="deploys", Key="app/v2.zip", Body=v2)
    s3.put_object(Bucket="deploys", Key="layers/shared.zip", Body=layer)

    def create(name, code):
        return lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                                   Role=ROLE, Code=code)

    made = create("from-s3", {"S3Bucket": "deploys", "S3Key": "app/v1.zip"})
    check(made["CodeSize"] == len(v1), "CreateFunction from S3: %s" % made["CodeSize"])
    out = json.loads(lam.invoke(FunctionName="from-s3")["Payload"].read())
    check(out == {"version": 1}, "the package from the bucket runs: %s" % out)
    location = lam.get_function(FunctionName="from-s3")["Code"]["Location"]
    import urllib.request
    check(urllib.request.urlopen(location).read() == v1, "Code.Location downloads the package")
    lam.update_function_code(FunctionName="from-s3", S3Bucket="deploys", S3Key="app/v2.zip",
                             S3ObjectVersion="null")
    lam.get_waiter("function_updated_v2").wait(FunctionName="from-s3")
    out = json.loads(lam.invoke(FunctionName="from-s3")["Payload"].read())
    check(out == {"version": 2}, "UpdateFunctionCode from S3: %s" % out)

    # Lambda's errors, with S3's code and message inside.
    def refused(code):
        try:
            create("never", code)
        except lam.exceptions.InvalidParameterValueException as e:
            return e.response["Error"]["Message"]
        return None
    missing_key = refused({"S3Bucket": "deploys", "S3Key": "nope.zip"})
    check(missing_key == "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: "
          "The specified key does not exist.", "a missing key: %s" % missing_key)
    check("S3 Error Code: NoSuchBucket" in (refused({"S3Bucket": "no-such-bucket", "S3Key": "a.zip"}) or ""),
          "a missing bucket")
    check("S3 Error Code: NoSuchVersion" in (refused({"S3Bucket": "deploys", "S3Key": "app/v1.zip",
                                                      "S3ObjectVersion": "3HL4kqtJlcpXroDTDmJ"}) or ""),
          "a version that is not there")
    check(refused({"S3Bucket": "deploys"}) is not None, "a bucket without a key")
    check(error_code(lambda: create("never", {"S3Bucket": "deploys", "S3Key": "app/v1.zip",
                                              "ZipFile": v1}))[0] == "InvalidParameterValueException",
          "both a zip and an object")

    published = lam.publish_layer_version(LayerName="shared", Content={"S3Bucket": "deploys",
                                                                       "S3Key": "layers/shared.zip"},
                                          CompatibleRuntimes=["python3.11"])
    check(published["Content"]["CodeSize"] == len(layer), "PublishLayerVersion from S3")
    lam.update_function_configuration(FunctionName="from-s3", Layers=[published["LayerVersionArn"]])
    lam.get_waiter("function_updated_v2").wait(FunctionName="from-s3")
    lam.update_function_code(FunctionName="from-s3", ZipFile=package(
        {"app.py": "import shared\ndef handler(event, context):\n    return shared.NAME\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName="from-s3")
    out = json.loads(lam.invoke(FunctionName="from-s3")["Payload"].read())
    check(out == "from a layer in a bucket", "a layer from a bucket: %s" % out)


def main(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="x", aws_secret_access_key="x")
    s3 = boto3.client("s3", **kw)
    lam = boto3.client("lambda", **kw)
    logs = boto3.client("logs", **kw)
    sqs = boto3.client("sqs", **kw)
    notifications(endpoint, s3, lam, logs, sqs)
    multipart(s3, lam, logs)
    code_from_buckets(s3, lam)
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
