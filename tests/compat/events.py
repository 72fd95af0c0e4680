"""EventBridge against a freshly started `lamina serve --schedule-minute-ms 1000
--async-retry-delay-ms 100`: boto3's `events` client, unmodified, makes buses, rules and
targets on Lamina functions and puts events; the functions' logs (boto3's `logs` client)
show exactly what each target received.

Usage: events.py ENDPOINT

Exits non-zero with a message at the first difference from AWS's behaviour.
"""

import json
import sys
import time

import boto3

from common import RECORDER, ROLE, check, error_code, events_of, package, wait_for


FAILING = """
def handler(event, context):
    print("FAILING ran")
    raise RuntimeError("this target always fails")
"""

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:"


def entry(source, detail_type, detail, **extra):
    e = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
    e.update(extra)
    return e


def main(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="x", aws_secret_access_key="x")
    lam = boto3.client("lambda", **kw)
    ev = boto3.client("events", **kw)
    logs = boto3.client("logs", **kw)
    for name, code in [("all", RECORDER), ("big", RECORDER), ("app", RECORDER), ("ticks", RECORDER),
                       ("dlq", RECORDER), ("failing", FAILING)]:
        lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                            Role=ROLE, Code={"ZipFile": package({"app.py": code})})

    # Permissions for EventBridge and the Scheduler are accepted and stored, as AWS takes them.
    lam.add_permission(FunctionName="all", StatementId="from-rules", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com",
                       SourceArn="arn:aws:events:us-east-1:000000000000:rule/orders")
    lam.add_permission(FunctionName="all", StatementId="from-scheduler", Action="lambda:InvokeFunction",
                       Principal="scheduler.amazonaws.com")
    policy = json.loads(lam.get_policy(FunctionName="all")["Policy"])
    check(sorted(st["Principal"]["Service"] for st in policy["Statement"])
          == ["events.amazonaws.com", "scheduler.amazonaws.com"], "permissions stored: %s" % policy)

    # Rules with patterns, and their targets.
    arn = ev.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"], "detail-type": ["Order"]}),
                      Tags=[{"Key": "team", "Value": "shop"}])["RuleArn"]
    check(arn == "arn:aws:events:us-east-1:000000000000:rule/orders", "rule ARN " + arn)
    ev.put_targets(Rule="orders", Targets=[{"Id": "all", "Arn": FUNCTION + "all"}])
    ev.put_rule(Name="big-orders", EventPattern=json.dumps(
        {"source": ["shop"], "detail": {"total": [{"numeric": [">=", 100]}], "country": [{"anything-but": "XX"}]}}))
    ev.put_targets(Rule="big-orders", Targets=[{
        "Id": "big", "Arn": FUNCTION + "big",
        "InputTransformer": {"InputPathsMap": {"id": "$.detail.id", "total": "$.detail.total"},
                             "InputTemplate": '{"order": <id>, "text": "order <id> of <total>", "rule": "<aws.events.rule-name>"}'}}])
    described = ev.describe_rule(Name="orders")
    check(described["State"] == "ENABLED" and described["EventBusName"] == "default"
          and json.loads(described["EventPattern"]) == {"source": ["shop"], "detail-type": ["Order"]},
          "DescribeRule")
    check([r["Name"] for r in ev.list_rules()["Rules"]] == ["big-orders", "orders"], "ListRules")
    check([t["Id"] for t in ev.list_targets_by_rule(Rule="big-orders")["Targets"]] == ["big"], "ListTargetsByRule")
    check(ev.list_rule_names_by_target(TargetArn=FUNCTION + "all")["RuleNames"] == ["orders"],
          "ListRuleNamesByTarget")
    check(ev.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "shop"}], "rule tags")

    # PutEvents delivers exactly the matching events to each rule's targets.
    put = ev.put_events(Entries=[
        entry("shop", "Order", {"id": 1, "total": 150, "country": "PT"}),
        entry("shop", "Order", {"id": 2, "total": 20, "country": "PT"}),
        entry("shop", "Refund", {"id": 3, "total": 500, "country": "PT"}),
        entry("shop", "Order", {"id": 4, "total": 900, "country": "XX"}),
        entry("other", "Order", {"id": 5, "total": 150, "country": "PT"}),
        {"DetailType": "Order", "Detail": "{}"},
        entry("shop", "Order", {}, Detail="[not json"),
    ])
    check(put["FailedEntryCount"] == 2, "two entries fail: %s" % put["Entries"])
    check([e.get("ErrorCode") for e in put["Entries"][5:]] == ["InvalidArgument", "MalformedDetail"],
          "per-entry error codes")
    check(all("EventId" in e for e in put["Entries"][:5]), "accepted entries have an EventId")
    got_all = wait_for("the orders rule delivers", lambda: (lambda e: e if len(e) >= 3 else None)(events_of(logs, "all")))
    got_big = wait_for("the big-orders rule delivers",
                       lambda: (lambda e: e if len(e) >= 2 else None)(events_of(logs, "big")))
    time.sleep(1.5)
    got_all, got_big = events_of(logs, "all"), events_of(logs, "big")
    check(sorted(e["detail"]["id"] for e in got_all) == [1, 2, 4], "orders got events 1, 2, 4: %s" % got_all)
    first = [e for e in got_all if e["detail"]["id"] == 1][0]
    check(first["source"] == "shop" and first["detail-type"] == "Order" and first["version"] == "0"
          and first["account"] == "000000000000" and first["region"] == "us-east-1"
          and first["id"] == put["Entries"][0]["EventId"] and first["resources"] == [],
          "the envelope: %s" % first)
    # big-orders names no detail-type: the refund of 500 matches too; the order from XX not.
    check(sorted(got_big, key=lambda e: e["order"]) == [
        {"order": 1, "text": "order 1 of 150", "rule": "big-orders"},
        {"order": 3, "text": "order 3 of 500", "rule": "big-orders"}],
          "the InputTransformer's output: %s" % got_big)

    # A bus of one's own.
    bus_arn = ev.create_event_bus(Name="app")["EventBusArn"]
    check(bus_arn == "arn:aws:events:us-east-1:000000000000:event-bus/app", "bus ARN")
    check(error_code(lambda: ev.create_event_bus(Name="app"))[0] == "ResourceAlreadyExistsException",
          "a second bus of one name")
    check([b["Name"] for b in ev.list_event_buses()["EventBuses"]] == ["app", "default"], "ListEventBuses")
    ev.put_rule(Name="on-app", EventBusName="app", EventPattern=json.dumps({"source": [{"prefix": "app."}]}))
    ev.put_targets(Rule="on-app", EventBusName="app", Targets=[{"Id": "t", "Arn": FUNCTION + "app",
                                                               "InputPath": "$.detail"}])
    ev.put_events(Entries=[entry("app.web", "Click", {"n": 1}, EventBusName="app"),
                           entry("app.web", "Click", {"n": 2})])
    wait_for("the custom bus's rule delivers", lambda: events_of(logs, "app"))
    time.sleep(1)
    check(events_of(logs, "app") == [{"n": 1}], "only the custom bus's event, by InputPath")
    check(error_code(lambda: ev.delete_event_bus(Name="app"))[0] == "ValidationException",
          "a bus with rules is not deleted")

    # A rule's schedule delivers the Scheduled Event, and stops when disabled.
    tick_arn = ev.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")["RuleArn"]
    ev.put_targets(Rule="tick", Targets=[{"Id": "t", "Arn": FUNCTION + "ticks"}])
    ticks = wait_for("the scheduled rule fires", lambda: events_of(logs, "ticks"))
    t = ticks[0]
    check(t["source"] == "aws.events" and t["detail-type"] == "Scheduled Event" and t["detail"] == {}
          and t["resources"] == [tick_arn], "the Scheduled Event: %s" % t)
    ev.disable_rule(Name="tick")
    check(ev.describe_rule(Name="tick")["State"] == "DISABLED", "DisableRule")
    time.sleep(1.5)
    count = len(events_of(logs, "ticks"))
    time.sleep(2.5)
    check(len(events_of(logs, "ticks")) == count, "a disabled rule no longer fires")

    # Delivery failures: an undeliverable target goes to its dead-letter queue (an SQS
    # queue); a target that fails is retried as its function's configuration says, then its
    # invocation record goes to its OnFailure destination (a function, or an SQS queue).
    sqs = boto3.client("sqs", **kw)
    rule_dlq = sqs.create_queue(QueueName="rule-dlq")["QueueUrl"]
    failures = sqs.create_queue(QueueName="fn-failures")["QueueUrl"]
    queue_arn = "arn:aws:sqs:us-east-1:000000000000:"
    ev.put_rule(Name="lost", EventPattern=json.dumps({"source": ["lost"]}))
    ev.put_targets(Rule="lost", Targets=[{"Id": "t", "Arn": FUNCTION + "missing",
                                          "DeadLetterConfig": {"Arn": queue_arn + "rule-dlq"}}])
    lam.put_function_event_invoke_config(
        FunctionName="failing", MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn + "fn-failures"}})
    ev.put_rule(Name="fails", EventPattern=json.dumps({"source": ["fails"]}))
    ev.put_targets(Rule="fails", Targets=[{"Id": "t", "Arn": FUNCTION + "failing"}])
    ev.put_rule(Name="lost-too", EventPattern=json.dumps({"source": ["lost-too"]}))
    ev.put_targets(Rule="lost-too", Targets=[{"Id": "t", "Arn": FUNCTION + "missing",
                                              "DeadLetterConfig": {"Arn": FUNCTION + "dlq"}}])
    ev.put_events(Entries=[entry("lost", "X", {"n": "lost"}), entry("fails", "X", {"n": "fails"}),
                           entry("lost-too", "X", {"n": "lost-too"})])
    lost = sqs.receive_message(QueueUrl=rule_dlq, WaitTimeSeconds=10)["Messages"]
    body = json.loads(lost[0]["Body"])
    check(body["source"] == "lost" and body["detail"] == {"n": "lost"},
          "the undeliverable event, as it was, in the SQS dead-letter queue: %s" % body)
    got = sqs.receive_message(QueueUrl=failures, WaitTimeSeconds=15)["Messages"]
    record = json.loads(got[0]["Body"])
    check(record["requestContext"]["condition"] == "RetriesExhausted"
          and record["requestContext"]["approximateInvokeCount"] == 2
          and record["requestPayload"]["detail"] == {"n": "fails"},
          "the failing target ran twice, then its record went to the SQS destination: %s" % record)
    dead = wait_for("a function as dead-letter queue gets the event", lambda: events_of(logs, "dlq"))
    check(dead[0]["detail"] == {"n": "lost-too"}, "the undeliverable event, in the function: %s" % dead)

    # TestEventPattern agrees with AWS's documented example.
    sample = json.dumps({"id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change Notification",
                         "source": "aws.ec2", "account": "123456789012", "time": "2015-11-11T21:29:54Z",
                         "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
                         "detail": {"instance-id": "i-abcd1111", "state": "pending"}})
    check(ev.test_event_pattern(EventPattern=json.dumps({"source": ["aws.ec2"], "detail": {"state": ["pending"]}}),
                                Event=sample)["Result"] is True, "TestEventPattern: a match")
    check(ev.test_event_pattern(EventPattern=json.dumps({"detail": {"state": [{"anything-but": "pending"}]}}),
                                Event=sample)["Result"] is False, "TestEventPattern: no match")

    # What AWS refuses.
    check(error_code(lambda: ev.put_rule(Name="bad", EventPattern='{"source": "x"}'))
          == ("InvalidEventPatternException", 400), "an invalid pattern")
    check(error_code(lambda: ev.put_rule(Name="bad"))[0] == "ValidationException", "neither pattern nor schedule")
    check(error_code(lambda: ev.describe_rule(Name="nope")) == ("ResourceNotFoundException", 400), "a missing rule")
    check(error_code(lambda: ev.delete_rule(Name="orders"))[0] == "ValidationException",
          "a rule with targets is not deleted")
    failed = ev.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}])
    check(failed["FailedEntryCount"] == 1 and failed["FailedEntries"][0]["TargetId"] == "q",
          "a non-Lambda target is a failed entry")
    check(error_code(lambda: ev.put_targets(Rule="orders", Targets=[
        {"Id": "t%d" % i, "Arn": FUNCTION + "all"} for i in range(5)]))[0] == "LimitExceededException",
          "at most five targets")
    check(error_code(lambda: ev.put_events(Entries=[entry("s", "d", {})] * 11))[0] == "ValidationException",
          "at most ten entries")
    check(error_code(lambda: ev.delete_event_bus(Name="default"))[0] == "ValidationException",
          "the default bus stays")
    ev.remove_targets(Rule="orders", Ids=["all"])
    ev.delete_rule(Name="orders")
    check(error_code(lambda: ev.describe_rule(Name="orders"))[0] == "ResourceNotFoundException", "a deleted rule")
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
