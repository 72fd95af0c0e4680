"""The S3 service against a freshly started `lamina serve`: boto3's `s3` client, unmodified,
path style and virtual-host style (`bucket.s3.localhost`, reached through the server as
an HTTP proxy, since this machine's resolver knows no `*.localhost`).

Usage: s3.py ENDPOINT [KEY SECRET]   (with KEY and SECRET, the server checks signatures)

Exits non-zero with a message at the first difference from S3's behaviour.
"""

import datetime
import sys
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.config import Config

from common import check, error_code


def main(endpoint, key=None, secret=None):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id=key or "x", aws_secret_access_key=secret or "x")
    s3 = boto3.client("s3", **kw)

    # Buckets.
    made = s3.create_bucket(Bucket="photos")
    check(made["Location"] == "/photos", "CreateBucket: %s" % made.get("Location"))
    check(error_code(lambda: s3.create_bucket(Bucket="photos")) == ("BucketAlreadyOwnedByYou", 409),
          "a bucket made twice")
    check(error_code(lambda: s3.create_bucket(Bucket="Bad_Name")) == ("InvalidBucketName", 400),
          "a name S3 refuses")
    check([b["Name"] for b in s3.list_buckets()["Buckets"]] == ["photos"], "ListBuckets")
    check(s3.head_bucket(Bucket="photos")["ResponseMetadata"]["HTTPStatusCode"] == 200, "HeadBucket")
    check(error_code(lambda: s3.head_bucket(Bucket="missing"))[1] == 404, "HeadBucket of a missing bucket")
    check(s3.get_bucket_location(Bucket="photos").get("LocationConstraint") is None,
          "GetBucketLocation in us-east-1")

    # Objects: what was put comes back, with its type, metadata and S3's ETag (the MD5).
    put = s3.put_object(Bucket="photos", Key="a b+c.txt", Body=b"hello world",
                        ContentType="text/plain", Metadata={"owner": "ana"})
    check(put["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"', "PutObject's ETag is the MD5: %s" % put["ETag"])
    got = s3.get_object(Bucket="photos", Key="a b+c.txt")
    check(got["Body"].read() == b"hello world" and got["ContentType"] == "text/plain"
          and got["Metadata"] == {"owner": "ana"} and got["ETag"] == put["ETag"]
          and got["ContentLength"] == 11, "GetObject: %s" % {k: got[k] for k in ["ContentType", "Metadata"]})
    part = s3.get_object(Bucket="photos", Key="a b+c.txt", Range="bytes=6-")
    check(part["Body"].read() == b"world" and part["ContentRange"] == "bytes 6-10/11"
          and part["ResponseMetadata"]["HTTPStatusCode"] == 206, "a range")
    check(error_code(lambda: s3.get_object(Bucket="photos", Key="a b+c.txt", Range="bytes=20-"))[0]
          == "InvalidRange", "a range past the end")
    head = s3.head_object(Bucket="photos", Key="a b+c.txt")
    check(head["ContentLength"] == 11 and head["ETag"] == put["ETag"], "HeadObject")
    # Conditional reads: If-Match and If-Unmodified-Since fail with 412; If-None-Match and
    # If-Modified-Since answer 304.
    tag = head["ETag"]
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    get = lambda **c: s3.get_object(Bucket="photos", Key="a b+c.txt", **c)
    check(get(IfMatch=tag)["Body"].read() == b"hello world", "If-Match with the ETag")
    check(error_code(lambda: get(IfMatch='"0"')) == ("PreconditionFailed", 412), "If-Match with another ETag")
    check(error_code(lambda: get(IfUnmodifiedSince=past)) == ("PreconditionFailed", 412), "If-Unmodified-Since")
    check(error_code(lambda: get(IfNoneMatch=tag))[1] == 304, "If-None-Match with the ETag")
    check(error_code(lambda: s3.head_object(Bucket="photos", Key="a b+c.txt", IfModifiedSince=future))[1] == 304,
          "If-Modified-Since (HeadObject)")
    check(get(IfModifiedSince=past, IfNoneMatch='"0"')["Body"].read() == b"hello world",
          "conditions that hold")
    check(error_code(lambda: s3.get_object(Bucket="photos", Key="nope")) == ("NoSuchKey", 404), "a missing key")
    check(error_code(lambda: s3.get_object(Bucket="missing", Key="k")) == ("NoSuchBucket", 404),
          "a missing bucket")
    s3.put_object(Bucket="photos", Key="a b+c.txt", Body=b"replaced")
    check(s3.get_object(Bucket="photos", Key="a b+c.txt")["Body"].read() == b"replaced", "an object replaced")
    big = bytes(range(256)) * 4096  # 1 MiB
    s3.put_object(Bucket="photos", Key="big.bin", Body=big)
    check(s3.get_object(Bucket="photos", Key="big.bin")["Body"].read() == big, "a 1 MiB object")

    # Listings: prefixes, delimiters, pages.
    for k in ["p/1", "p/2", "p/q/3", "z"]:
        s3.put_object(Bucket="photos", Key=k, Body=b"x")
    listed = s3.list_objects_v2(Bucket="photos", Prefix="p/", Delimiter="/")
    check([o["Key"] for o in listed["Contents"]] == ["p/1", "p/2"]
          and listed["CommonPrefixes"] == [{"Prefix": "p/q/"}] and listed["KeyCount"] == 3,
          "a prefix and a delimiter")
    keys, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket="photos", MaxKeys=2, **({"ContinuationToken": token} if token else {}))
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    check(keys == ["a b+c.txt", "big.bin", "p/1", "p/2", "p/q/3", "z"], "pages of two: %s" % keys)
    check(error_code(lambda: s3.delete_bucket(Bucket="photos")) == ("BucketNotEmpty", 409), "a bucket not empty")

    # Virtual-host style.
    vh = boto3.client("s3", config=Config(s3={"addressing_style": "virtual"},
                                          proxies={"http": endpoint}),
                      **{**kw, "endpoint_url": "http://s3.localhost:%s" % endpoint.rsplit(":", 1)[1]})
    check(vh.get_object(Bucket="photos", Key="z")["Body"].read() == b"x", "virtual-host style")

    # An unsigned request: served without --credentials (as any signature is), refused with.
    port = endpoint.rsplit(":", 1)[1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": endpoint}))
    try:
        status = opener.open("http://photos.s3.localhost:%s/z" % port).status
    except urllib.error.HTTPError as e:
        status = e.code
    check(status == (403 if key else 200), "an unsigned request: %d" % status)

    # Presigned URLs: taken as they are signed.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "photos", "Key": "z"}, ExpiresIn=60)
    check(urllib.request.urlopen(url).read() == b"x", "a presigned URL (signature version 2, boto3's default)")
    v4 = boto3.client("s3", config=Config(signature_version="s3v4"), **kw)
    url4 = v4.generate_presigned_url("get_object", Params={"Bucket": "photos", "Key": "z"}, ExpiresIn=60)
    check("X-Amz-Signature=" in url4 and urllib.request.urlopen(url4).read() == b"x",
          "a presigned URL (signature version 4)")
    if key:
        for signed in [url, url4]:
            at = signed.index("Signature=") + len("Signature=")
            forged = signed[:at] + ("b" if signed[at] == "a" else "a") + signed[at + 1:]
            try:
                urllib.request.urlopen(forged)
                check(False, "a forged presigned URL is refused")
            except urllib.error.HTTPError as e:
                check(e.code == 403, "a forged presigned URL is refused: %d" % e.code)
        wrong = boto3.client("s3", **{**kw, "aws_secret_access_key": "wrong"})
        check(error_code(lambda: wrong.list_buckets()) == ("SignatureDoesNotMatch", 403),
              "a wrong secret is refused")
        unknown = boto3.client("s3", **{**kw, "aws_access_key_id": "AKIDUNKNOWN"})
        check(error_code(lambda: unknown.list_buckets()) == ("InvalidAccessKeyId", 403),
              "an unknown key is refused")

    # Copies: the source's type and metadata, or the request's with REPLACE.
    s3.put_object(Bucket="photos", Key="orig.txt", Body=b"original", ContentType="text/plain",
                  Metadata={"owner": "ana"})
    copied = s3.copy_object(Bucket="photos", Key="copy.txt", CopySource={"Bucket": "photos", "Key": "orig.txt"})
    c = s3.get_object(Bucket="photos", Key="copy.txt")
    check(c["Body"].read() == b"original" and c["ContentType"] == "text/plain" and c["Metadata"] == {"owner": "ana"}
          and copied["CopyObjectResult"]["ETag"] == c["ETag"], "CopyObject keeps type and metadata")
    s3.copy_object(Bucket="photos", Key="copy.txt", CopySource="photos/orig.txt", MetadataDirective="REPLACE",
                   ContentType="application/json", Metadata={"owner": "bo"})
    c = s3.head_object(Bucket="photos", Key="copy.txt")
    check(c["ContentType"] == "application/json" and c["Metadata"] == {"owner": "bo"}, "CopyObject with REPLACE")
    check(error_code(lambda: s3.copy_object(Bucket="photos", Key="x", CopySource="photos/none"))[0] == "NoSuchKey",
          "copying what is not there")

    # Deletes; then the bucket can go.
    gone = s3.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": k} for k in keys[:3]]
                                                      + [{"Key": "never-was"}]})
    check(sorted(d["Key"] for d in gone["Deleted"]) == sorted(keys[:3] + ["never-was"]) and not gone.get("Errors"),
          "DeleteObjects: %s" % gone.get("Deleted"))
    for k in keys[3:] + ["orig.txt", "copy.txt"]:
        s3.delete_object(Bucket="photos", Key=k)
    s3.delete_object(Bucket="photos", Key="never-was")
    check(s3.list_objects_v2(Bucket="photos")["KeyCount"] == 0, "every object deleted")
    s3.delete_bucket(Bucket="photos")
    check(s3.list_buckets()["Buckets"] == [], "the bucket deleted")
    # The other services still answer on the same endpoint.
    lam = boto3.client("lambda", **kw)
    check(lam.list_functions()["Functions"] == [], "Lambda beside S3")
    print("all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:])
