"""SQS's query protocol against a freshly started `lamina serve`, driven by boto3 1.26
(botocore 1.29), the last SDK generation that speaks it to SQS, unmodified: the calls of
sqs.py that older SDKs make, answered in XML.

Usage: sqs_query.py ENDPOINT

Exits non-zero with a message at the first difference from AWS's behaviour.
"""

import hashlib
import sys

import boto3
import botocore

from common import check, error_code


def main(endpoint):
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    check(sqs.meta.service_model.protocol == "query", "this SDK speaks the query protocol")
    host = endpoint.split("://")[1]
    url = sqs.create_queue(QueueName="legacy", Attributes={"VisibilityTimeout": "5"},
                           tags={"team": "a"})["QueueUrl"]
    check(url == "http://%s/000000000000/legacy" % host, "queue URL " + url)
    check(sqs.get_queue_url(QueueName="legacy")["QueueUrl"] == url, "GetQueueUrl")
    check(url in sqs.list_queues(QueueNamePrefix="leg")["QueueUrls"], "ListQueues")
    try:
        sqs.get_queue_url(QueueName="nope")
        check(False, "a missing queue is refused")
    except sqs.exceptions.QueueDoesNotExist as e:
        check(e.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue",
              "QueueDoesNotExist, with its code: %s" % e.response["Error"])
    attributes = {"n": {"DataType": "Number", "StringValue": "7"},
                  "raw": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello <xml> & friends", MessageAttributes=attributes)
    check(sent["MD5OfMessageBody"] == hashlib.md5("hello <xml> & friends".encode()).hexdigest(), "MD5OfMessageBody")
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": ""}])
    check([s["Id"] for s in batch["Successful"]] == ["a"] and batch["Failed"][0]["Id"] == "b",
          "SendMessageBatch: %s" % batch)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                              MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    first = [m for m in got if m["MessageId"] == sent["MessageId"]][0]
    check(first["Body"] == "hello <xml> & friends", "the body, escaped and back")
    check(first["MessageAttributes"]["raw"]["BinaryValue"] == b"\x01\x02"
          and first["MessageAttributes"]["n"]["StringValue"] == "7", "message attributes")
    check(first["Attributes"]["ApproximateReceiveCount"] == "1", "system attributes")
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    check(len(deleted["Successful"]) == len(got), "DeleteMessageBatch")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    check(attrs["VisibilityTimeout"] == "5" and attrs["ApproximateNumberOfMessages"] in ("0", "1"),
          "GetQueueAttributes: %s" % attrs)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"})
    check(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"]
          == {"DelaySeconds": "1"}, "SetQueueAttributes")
    check(sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}, "ListQueueTags")
    check(error_code(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="junk"))[0] == "ReceiptHandleIsInvalid",
          "a bad receipt handle")
    fifo = sqs.create_queue(QueueName="legacy.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    out = sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="d")
    check(int(out["SequenceNumber"]) > 0, "a FIFO send")
    sqs.delete_queue(QueueUrl=url)
    check(error_code(lambda: sqs.get_queue_url(QueueName="legacy"))[0] == "AWS.SimpleQueueService.NonExistentQueue",
          "DeleteQueue")
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
