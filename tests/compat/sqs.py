"""SQS against a freshly started `lamina serve`: boto3's `sqs` client, unmodified (the JSON
protocol current SDKs speak), through queues, messages, batches, long polling, visibility,
redrive to a dead-letter queue and FIFO queues. The MD5 digests the SDKs of other languages
verify are checked here against an implementation of AWS's documented algorithm.

Usage: sqs.py ENDPOINT

Exits non-zero with a message at the first difference from AWS's behaviour.
"""

import base64
import hashlib
import struct
import sys
import threading
import time

import boto3

from common import check, error_code


def md5_of_attributes(attributes):
    """MD5OfMessageAttributes as AWS documents it."""
    buf = b""
    for name in sorted(attributes):
        value = attributes[name]
        for part in (name.encode(), value["DataType"].encode()):
            buf += struct.pack(">I", len(part)) + part
        if "BinaryValue" in value:
            data = value["BinaryValue"]
            buf += b"\x02" + struct.pack(">I", len(data)) + data
        else:
            data = value["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(data)) + data
    return hashlib.md5(buf).hexdigest()


def main(endpoint):
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    host = endpoint.split("://")[1]

    # Queues.
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "2"},
                           tags={"team": "a"})["QueueUrl"]
    check(url == "http://%s/000000000000/jobs" % host, "queue URL " + url)
    check(sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "2"})["QueueUrl"] == url,
          "creating the same queue again gives its URL")
    code = error_code(lambda: sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "9"}))
    check(code == ("QueueAlreadyExists", 400), "a different queue of the same name: %s" % (code,))
    check(sqs.get_queue_url(QueueName="jobs")["QueueUrl"] == url, "GetQueueUrl")
    try:
        sqs.get_queue_url(QueueName="nope")
        check(False, "a missing queue is refused")
    except sqs.exceptions.QueueDoesNotExist as e:
        check(e.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue",
              "a missing queue raises QueueDoesNotExist, with SQS's legacy code")
    for bad in [{"VisibilityTimeout": "43201"}, {"Colour": "blue"}, {"DelaySeconds": "-1"}]:
        check(error_code(lambda: sqs.create_queue(QueueName="bad", Attributes=bad))[0]
              in ("InvalidAttributeValue", "InvalidAttributeName"), "refused attributes %s" % bad)
    check(error_code(lambda: sqs.create_queue(QueueName="bad name"))[0] == "InvalidParameterValue",
          "a bad queue name")
    sqs.create_queue(QueueName="jobs-dlq")
    check(sorted(sqs.list_queues(QueueNamePrefix="jobs")["QueueUrls"]) == [url, url + "-dlq"], "ListQueues")
    check(sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}, "tags at creation")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    check(attrs["VisibilityTimeout"] == "2" and attrs["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:jobs"
          and attrs["ApproximateNumberOfMessages"] == "0" and attrs["MessageRetentionPeriod"] == "345600",
          "GetQueueAttributes: %s" % attrs)

    # Send and receive, with attributes and their digests.
    attributes = {"city": {"DataType": "String", "StringValue": "Évora"},
                  "n": {"DataType": "Number", "StringValue": "42"},
                  "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes=attributes)
    check(sent["MD5OfMessageBody"] == hashlib.md5(b"hello").hexdigest(), "MD5OfMessageBody")
    check(sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes), "MD5OfMessageAttributes on send")
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    m = got[0]
    check(m["Body"] == "hello" and m["MessageId"] == sent["MessageId"], "received what was sent")
    check(m["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01\x02"
          and m["MessageAttributes"]["city"]["StringValue"] == "Évora", "attributes come back")
    check(m["MD5OfMessageAttributes"] == md5_of_attributes(m["MessageAttributes"]), "MD5OfMessageAttributes on receive")
    check(m["Attributes"]["ApproximateReceiveCount"] == "1" and int(m["Attributes"]["SentTimestamp"]) > 0,
          "system attributes: %s" % m["Attributes"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    check(counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"},
          "in flight: %s" % counts)
    # The visibility timeout (2 s) passes: received again, with a new handle.
    time.sleep(2.2)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    check(again["Attributes"]["ApproximateReceiveCount"] == "2"
          and again["ReceiptHandle"] != m["ReceiptHandle"], "visible again after its timeout")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    check("Messages" not in sqs.receive_message(QueueUrl=url), "deleted")
    check(error_code(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="junk"))[0] == "ReceiptHandleIsInvalid",
          "a bad receipt handle")
    check(error_code(lambda: sqs.send_message(QueueUrl=url, MessageBody="x" * 262145))[0] == "InvalidParameterValue",
          "a message over 256 KB")
    check(error_code(lambda: sqs.send_message(QueueUrl=url, MessageBody="bad \x00 char"))[0] == "InvalidMessageContents",
          "a body with a character SQS refuses")

    # Long polling: a receive waits for a message sent meanwhile.
    def later():
        time.sleep(0.5)
        sqs.send_message(QueueUrl=url, MessageBody="late")
    threading.Thread(target=later).start()
    started = time.time()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)
    waited = time.time() - started
    check(got["Messages"][0]["Body"] == "late" and 0.4 < waited < 3, "long polling (%.2f s)" % waited)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got["Messages"][0]["ReceiptHandle"],
                                  VisibilityTimeout=0)
    late = sqs.receive_message(QueueUrl=url)["Messages"][0]
    check(late["Body"] == "late", "ChangeMessageVisibility to 0")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=late["ReceiptHandle"])
    started = time.time()
    check("Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1), "an empty long poll")
    check(time.time() - started >= 0.9, "an empty long poll waits its time")

    # Batches.
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "DelaySeconds": 1},
        {"Id": "c", "MessageBody": ""}])
    check(sorted(s["Id"] for s in batch["Successful"]) == ["a", "b"]
          and [f["Id"] for f in batch["Failed"]] == ["c"], "SendMessageBatch: %s" % batch)
    check(error_code(lambda: sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]))[0]
          == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "repeated batch ids")
    check(error_code(lambda: sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": "x"} for i in range(11)]))[0]
          == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "eleven entries")
    delayed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    check(delayed["ApproximateNumberOfMessagesDelayed"] == "1", "a delayed message is counted as such")
    time.sleep(1.1)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    check(sorted(x["Body"] for x in got) == ["one", "two"], "both batch messages, the delayed one too")
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x%d" % i, "ReceiptHandle": x["ReceiptHandle"]} for i, x in enumerate(got)] +
        [{"Id": "bad", "ReceiptHandle": "junk"}])
    check(len(deleted["Successful"]) == 2 and deleted["Failed"][0]["Id"] == "bad", "DeleteMessageBatch")

    # Redrive: a message received twice without being deleted moves to the dead-letter queue.
    dlq_arn = sqs.get_queue_attributes(QueueUrl=url + "-dlq", AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={
        "RedrivePolicy": '{"deadLetterTargetArn": "%s", "maxReceiveCount": "2"}' % dlq_arn,
        "VisibilityTimeout": "0"})
    check(sqs.list_dead_letter_source_queues(QueueUrl=url + "-dlq")["queueUrls"] == [url],
          "ListDeadLetterSourceQueues")
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        check(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "poison", "received, not deleted")
    check("Messages" not in sqs.receive_message(QueueUrl=url), "the third receive finds it gone")
    dead = sqs.receive_message(QueueUrl=url + "-dlq")["Messages"]
    check(dead[0]["Body"] == "poison", "it is in the dead-letter queue")
    check(error_code(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={
        "RedrivePolicy": '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:none", "maxReceiveCount": 1}'}))[0]
          == "InvalidParameterValue", "a redrive policy to a missing queue")

    # FIFO: order within a group, one group's messages at a time, deduplication.
    fifo = sqs.create_queue(QueueName="orders.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    first = sqs.send_message(QueueUrl=fifo, MessageBody="a1", MessageGroupId="a")
    dup = sqs.send_message(QueueUrl=fifo, MessageBody="a1", MessageGroupId="a")
    check(dup["MessageId"] == first["MessageId"], "a duplicate within five minutes is the same message")
    for body, group in [("a2", "a"), ("b1", "b"), ("a3", "a")]:
        sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId=group)
    check(int(first["SequenceNumber"]) > 0, "FIFO sequence numbers")
    got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    check([x["Body"] for x in got] == ["a1", "a2", "b1", "a3"], "FIFO order: %s" % [x["Body"] for x in got])
    check(got[0]["Attributes"]["MessageGroupId"] == "a", "the group comes back")
    check("Messages" not in sqs.receive_message(QueueUrl=fifo), "in-flight groups are not received again")
    check(error_code(lambda: sqs.send_message(QueueUrl=fifo, MessageBody="x"))[0] == "MissingParameter",
          "a FIFO message needs a group")
    check(error_code(lambda: sqs.create_queue(QueueName="plain.fifo"))[0] == "InvalidAttributeValue",
          "a .fifo name needs FifoQueue")

    # Purge and delete.
    sqs.send_message(QueueUrl=url, MessageBody="to purge")
    sqs.purge_queue(QueueUrl=url)
    check(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
          ["Attributes"]["ApproximateNumberOfMessages"] == "0", "PurgeQueue")
    sqs.delete_queue(QueueUrl=url)
    check(error_code(lambda: sqs.get_queue_url(QueueName="jobs"))[0] == "AWS.SimpleQueueService.NonExistentQueue",
          "DeleteQueue")
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
