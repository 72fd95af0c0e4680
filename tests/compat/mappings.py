"""Event source mappings from SQS against a freshly started `lamina serve`: boto3's `lambda`
and `sqs` clients, unmodified; and the API shapes of self-managed Kafka mappings (their
consumption is tested against a real broker in crates/lamina/tests/kafka.rs). A Python function logs each batch it receives; the logs
(boto3's `logs` client) show what arrived, how often, and in which batches.

Usage: mappings.py ENDPOINT

Exits non-zero with a message at the first difference from Lambda's behaviour.
"""

import datetime
import json
import socket
import sys
import time

import boto3

from common import ROLE, check, error_code, package, wait_for

CONSUMER = """
import json

def handler(event, context):
    records = event["Records"]
    print("BATCH " + json.dumps([[r["messageId"], r["body"], r["attributes"]["ApproximateReceiveCount"],
                                  r["eventSource"], r["eventSourceARN"]] for r in records]))
    failed = [{"itemIdentifier": r["messageId"]} for r in records if r["body"].startswith("bad")]
    if any(r["body"] == "crash" for r in records):
        raise RuntimeError("the whole batch fails")
    return {"batchItemFailures": failed}
"""

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:"


def batches(logs, function):
    """Every batch `function` logged: lists of [id, body, receive count, source, source ARN]."""
    out, token = [], None
    while True:
        kw = {"logGroupName": "/aws/lambda/" + function}
        if token:
            kw["nextToken"] = token
        try:
            page = logs.filter_log_events(**kw)
        except logs.exceptions.ResourceNotFoundException:
            return []
        out += [json.loads(e["message"][6:]) for e in page["events"] if e["message"].startswith("BATCH ")]
        token = page.get("nextToken")
        if not token or not page["events"]:
            return out


def bodies(logs, function):
    return [m[1] for b in batches(logs, function) for m in b]


def counts(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def main(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="x", aws_secret_access_key="x")
    lam = boto3.client("lambda", **kw)
    sqs = boto3.client("sqs", **kw)
    logs = boto3.client("logs", **kw)
    for name in ["bulk", "partial", "filtered", "paused"]:
        lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                            Role=ROLE, Code={"ZipFile": package({"app.py": CONSUMER})})
    urls = {q: sqs.create_queue(QueueName=q, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
            for q in ["bulk", "partial-dlq", "filtered", "paused"]}
    urls["partial"] = sqs.create_queue(QueueName="partial", Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": QUEUE_ARN + "partial-dlq", "maxReceiveCount": 2})})["QueueUrl"]

    # The API, and what Lambda refuses.
    made = lam.create_event_source_mapping(EventSourceArn=QUEUE_ARN + "bulk", FunctionName="bulk",
                                           BatchSize=10, ScalingConfig={"MaximumConcurrency": 2})
    check(made["ResponseMetadata"]["HTTPStatusCode"] == 202 and made["State"] == "Creating"
          and made["EventSourceArn"] == QUEUE_ARN + "bulk" and len(made["UUID"]) == 36
          and made["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:bulk",
          "CreateEventSourceMapping: 202, Creating: %s" % made)
    uuid = made["UUID"]
    wait_for("the mapping becomes Enabled",
             lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled")
    check(error_code(lambda: lam.create_event_source_mapping(EventSourceArn=QUEUE_ARN + "bulk", FunctionName="bulk"))
          == ("ResourceConflictException", 409), "a second mapping of one queue to one function")
    check(error_code(lambda: lam.create_event_source_mapping(EventSourceArn=QUEUE_ARN + "bulk", FunctionName="nope"))
          == ("ResourceNotFoundException", 404), "a missing function")
    for bad in [dict(BatchSize=11), dict(MaximumBatchingWindowInSeconds=301),
                dict(FunctionResponseTypes=["All"]),
                dict(FilterCriteria={"Filters": [{"Pattern": '{"body": "x"}'}]})]:
        check(error_code(lambda: lam.create_event_source_mapping(
            EventSourceArn=QUEUE_ARN + "filtered", FunctionName="filtered", **bad))
              == ("InvalidParameterValueException", 400), "refused: %s" % bad)
    check(error_code(lambda: lam.create_event_source_mapping(
        EventSourceArn="arn:aws:kinesis:us-east-1:000000000000:stream/s", FunctionName="bulk",
        StartingPosition="LATEST"))[0] == "InvalidParameterValueException", "a source Lamina does not consume")
    check(error_code(lambda: lam.create_event_source_mapping(
        EventSourceArn=QUEUE_ARN + "none", FunctionName="bulk"))[0] == "InvalidParameterValueException",
          "a missing queue")
    check(error_code(lambda: lam.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000"))
          == ("ResourceNotFoundException", 404), "a missing mapping")

    # 1,000 messages, in batches of up to 10: every one once (no function fails).
    sent = set()
    for i in range(100):
        out = sqs.send_message_batch(QueueUrl=urls["bulk"], Entries=[
            {"Id": str(j), "MessageBody": "m-%d-%d" % (i, j)} for j in range(10)])
        sent.update(s["MessageId"] for s in out["Successful"])
    check(len(sent) == 1000, "1,000 messages sent")
    wait_for("1,000 messages reach the function",
             lambda: len([m for b in batches(logs, "bulk") for m in b]) >= 1000, timeout=90)
    time.sleep(1.5)
    got = batches(logs, "bulk")
    ids = [m[0] for b in got for m in b]
    check(len(ids) == 1000 and set(ids) == sent, "none lost, none twice: %d delivered, %d distinct"
          % (len(ids), len(set(ids))))
    check(max(len(b) for b in got) <= 10, "batches of at most 10")
    first = got[0][0]
    check(first[3] == "aws:sqs" and first[4] == QUEUE_ARN + "bulk", "Lambda's SQS record: %s" % first)
    check(counts(sqs, urls["bulk"]) == (0, 0), "a successful batch is deleted from the queue")
    described = lam.get_event_source_mapping(UUID=uuid)
    check(described["LastProcessingResult"] == "OK", "LastProcessingResult: %s" % described)
    listed = lam.list_event_source_mappings(FunctionName="bulk")["EventSourceMappings"]
    check([m["UUID"] for m in listed] == [uuid], "ListEventSourceMappings by function")
    check([m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=QUEUE_ARN + "bulk")
           ["EventSourceMappings"]] == [uuid], "ListEventSourceMappings by source")

    # Partial batch failures: only the reported items come back, and reach the dead-letter
    # queue after the queue's maxReceiveCount.
    lam.create_event_source_mapping(EventSourceArn=QUEUE_ARN + "partial", FunctionName="partial",
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
    sqs.send_message_batch(QueueUrl=urls["partial"], Entries=[
        {"Id": "g1", "MessageBody": "good-1"}, {"Id": "b1", "MessageBody": "bad-1"},
        {"Id": "g2", "MessageBody": "good-2"}])
    dead = wait_for("the failed item reaches the dead-letter queue", lambda: sqs.receive_message(
        QueueUrl=urls["partial-dlq"], WaitTimeSeconds=1).get("Messages"), timeout=30)
    check(dead[0]["Body"] == "bad-1", "only the failed item is dead-lettered")
    seen = bodies(logs, "partial")
    check(seen.count("good-1") == 1 and seen.count("good-2") == 1 and seen.count("bad-1") == 2,
          "good items once, the failed one as often as maxReceiveCount: %s" % seen)

    # Filters: only matching messages reach the function; the others are deleted.
    lam.create_event_source_mapping(EventSourceArn=QUEUE_ARN + "filtered", FunctionName="filtered",
                                    FilterCriteria={"Filters": [{"Pattern": '{"body": {"kind": ["keep"]}}'}]})
    for body in ['{"kind": "keep", "n": 1}', '{"kind": "drop"}', "not json", '{"kind": "keep", "n": 2}']:
        sqs.send_message(QueueUrl=urls["filtered"], MessageBody=body)
    wait_for("the matching messages arrive", lambda: len(bodies(logs, "filtered")) >= 2)
    wait_for("the filtered-out messages are deleted", lambda: counts(sqs, urls["filtered"]) == (0, 0))
    check(sorted(json.loads(b)["n"] for b in bodies(logs, "filtered")) == [1, 2],
          "only what the filter keeps: %s" % bodies(logs, "filtered"))

    # Disabling stops consumption; enabling resumes it; deleting removes the mapping.
    paused = lam.create_event_source_mapping(EventSourceArn=QUEUE_ARN + "paused", FunctionName="paused",
                                             Enabled=False)
    wait_for("a mapping made disabled is Disabled",
             lambda: lam.get_event_source_mapping(UUID=paused["UUID"])["State"] == "Disabled")
    sqs.send_message(QueueUrl=urls["paused"], MessageBody="waiting")
    time.sleep(2)
    check(bodies(logs, "paused") == [] and counts(sqs, urls["paused"]) == (1, 0), "nothing consumed while disabled")
    updated = lam.update_event_source_mapping(UUID=paused["UUID"], Enabled=True, BatchSize=5)
    check(updated["ResponseMetadata"]["HTTPStatusCode"] == 202 and updated["State"] == "Enabling"
          and updated["BatchSize"] == 5, "UpdateEventSourceMapping: 202, Enabling")
    wait_for("enabled again, it consumes", lambda: bodies(logs, "paused") == ["waiting"])
    deleted = lam.delete_event_source_mapping(UUID=paused["UUID"])
    check(deleted["ResponseMetadata"]["HTTPStatusCode"] == 202 and deleted["State"] == "Deleting",
          "DeleteEventSourceMapping: 202, Deleting")
    wait_for("the deleted mapping is gone", lambda: error_code(
        lambda: lam.get_event_source_mapping(UUID=paused["UUID"]))[0] == "ResourceNotFoundException")
    sqs.send_message(QueueUrl=urls["paused"], MessageBody="after")
    time.sleep(2)
    check(bodies(logs, "paused") == ["waiting"], "a deleted mapping consumes nothing")
    kafka_shapes(lam)
    rabbitmq_shapes(lam)
    print("all checks passed")


def rabbitmq_shapes(lam):
    """RabbitMQ mappings through boto3, on a broker the server knows (serve --mq-broker) but
    that does not answer."""
    broker = "arn:aws:mq:us-east-1:000000000000:broker:orders:b-1"
    secret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mq"
    access = [{"Type": "BASIC_AUTH", "URI": secret}, {"Type": "VIRTUAL_HOST", "URI": "/shop"}]
    made = lam.create_event_source_mapping(FunctionName="partial", EventSourceArn=broker,
                                           Queues=["orders"], SourceAccessConfigurations=access)
    check(made["ResponseMetadata"]["HTTPStatusCode"] == 202 and made["EventSourceArn"] == broker
          and made["Queues"] == ["orders"] and made["SourceAccessConfigurations"] == access
          and made["BatchSize"] == 100, "a RabbitMQ mapping as boto3 reads it: %s" % made)
    uuid = made["UUID"]
    wait_for("an unreachable broker shows in LastProcessingResult", lambda: lam.get_event_source_mapping(
        UUID=uuid)["LastProcessingResult"].startswith("PROBLEM"), timeout=30)
    for bad in [dict(Queues=["orders"]), dict(SourceAccessConfigurations=access),
                dict(Queues=["a", "b"], SourceAccessConfigurations=access)]:
        check(error_code(lambda: lam.create_event_source_mapping(
            FunctionName="filtered", EventSourceArn=broker, **bad))
              == ("InvalidParameterValueException", 400), "refused: %s" % bad)
    check(error_code(lambda: lam.create_event_source_mapping(
        FunctionName="filtered", EventSourceArn="arn:aws:mq:us-east-1:000000000000:broker:other:b-2",
        Queues=["orders"], SourceAccessConfigurations=access))
          == ("InvalidParameterValueException", 400), "a broker the server does not know")
    check(error_code(lambda: lam.update_event_source_mapping(
        UUID=uuid, SourceAccessConfigurations=[{"Type": "VIRTUAL_HOST", "URI": "/"}]))
          == ("InvalidParameterValueException", 400), "VIRTUAL_HOST cannot be updated")
    lam.delete_event_source_mapping(UUID=uuid)


def kafka_shapes(lam):
    """Self-managed Kafka mappings through boto3: what it sends, what comes back."""
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        nowhere = "127.0.0.1:%d" % s.getsockname()[1]
    source = {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [nowhere]}}
    since = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    made = lam.create_event_source_mapping(
        FunctionName="bulk", Topics=["orders"], SelfManagedEventSource=source,
        StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=since,
        SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": "billing"}, MaximumRetryAttempts=3)
    check(made["ResponseMetadata"]["HTTPStatusCode"] == 202 and "EventSourceArn" not in made
          and made["Topics"] == ["orders"] and made["SelfManagedEventSource"] == source
          and made["StartingPositionTimestamp"] == since and made["BatchSize"] == 100
          and made["SelfManagedKafkaEventSourceConfig"]["ConsumerGroupId"] == "billing"
          and made["MaximumRetryAttempts"] == 3, "a Kafka mapping as boto3 reads it: %s" % made)
    uuid = made["UUID"]
    problem = wait_for("an unreachable cluster shows in LastProcessingResult", lambda: (
        lambda r: r if r.startswith("PROBLEM") else None)(
            lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"]), timeout=30)
    check("Connection error" in problem, "the problem says what: %s" % problem)
    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=500, MaximumBatchingWindowInSeconds=2)
    check(updated["BatchSize"] == 500 and updated["Topics"] == ["orders"], "an update keeps the topic")
    for bad in [dict(StartingPosition="LATEST", Topics=["a", "b"]), dict(Topics=["orders"]),
                dict(StartingPosition="LATEST", Topics=["orders"],
                     SourceAccessConfigurations=[{"Type": "SASL_SCRAM_512_AUTH",
                                                  "URI": "arn:aws:secretsmanager:us-east-1:000000000000:secret:k"}])]:
        check(error_code(lambda: lam.create_event_source_mapping(
            FunctionName="partial", SelfManagedEventSource=source, **bad))
              == ("InvalidParameterValueException", 400), "refused: %s" % bad)
    check(error_code(lambda: lam.create_event_source_mapping(
        FunctionName="bulk", Topics=["orders"], SelfManagedEventSource=source, StartingPosition="LATEST"))
          == ("ResourceConflictException", 409), "one mapping per function and topic")
    listed = lam.list_event_source_mappings(FunctionName="bulk")["EventSourceMappings"]
    check(uuid in [m["UUID"] for m in listed], "listed with the function's others")
    lam.delete_event_source_mapping(UUID=uuid)


if __name__ == "__main__":
    main(sys.argv[1])
