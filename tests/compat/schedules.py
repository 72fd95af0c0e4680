"""EventBridge Scheduler against a freshly started `lamina serve --schedule-minute-ms 1000`
(a rate's minute lasts one second): boto3's `scheduler` client, unmodified, creates
schedules on Lamina functions, and the functions' logs (read with boto3's `logs` client)
show what each fire delivered.

Usage: schedules.py ENDPOINT

Exits non-zero with a message at the first difference from AWS's behaviour.
"""

import datetime
import json
import sys
import time

import boto3

from common import RECORDER, ROLE, check, error_code, events_of, package, wait_for


SCHEDULER_ROLE = "arn:aws:iam::000000000000:role/scheduler"
ACCOUNT_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def target(function, **extra):
    t = {"Arn": ACCOUNT_ARN + function, "RoleArn": SCHEDULER_ROLE}
    t.update(extra)
    return t


def main(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="x", aws_secret_access_key="x")
    lam = boto3.client("lambda", **kw)
    sch = boto3.client("scheduler", **kw)
    logs = boto3.client("logs", **kw)
    for name in ["recorder", "dlq"]:
        lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                            Role=ROLE, Code={"ZipFile": package({"app.py": RECORDER})})

    # Groups and tags.
    arn = sch.create_schedule_group(Name="team", Tags=[{"Key": "owner", "Value": "a"}])["ScheduleGroupArn"]
    check(arn == "arn:aws:scheduler:us-east-1:000000000000:schedule-group/team", "group ARN " + arn)
    check(sch.get_schedule_group(Name="team")["State"] == "ACTIVE", "a new group is ACTIVE")
    check(sch.get_schedule_group(Name="default")["Name"] == "default", "the default group exists")
    check([g["Name"] for g in sch.list_schedule_groups()["ScheduleGroups"]] == ["default", "team"],
          "groups listed by name")
    sch.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    sch.untag_resource(ResourceArn=arn, TagKeys=["owner"])
    check(sch.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}],
          "tags added and removed")
    check(error_code(lambda: sch.create_schedule_group(Name="team")) == ("ConflictException", 409),
          "a second group of one name is a conflict")
    check(error_code(lambda: sch.delete_schedule_group(Name="default"))[0] == "ValidationException",
          "the default group cannot be deleted")
    check(error_code(lambda: sch.get_schedule_group(Name="nope")) == ("ResourceNotFoundException", 404),
          "a missing group is not found")

    # What AWS refuses.
    base = dict(ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow={"Mode": "OFF"},
                Target=target("recorder"))
    bad = [
        dict(base, ScheduleExpression="rate(5 minute)"),
        dict(base, ScheduleExpression="cron(0 18 * * * *)"),
        dict(base, ScheduleExpressionTimezone="Mars/Olympus"),
        dict(base, FlexibleTimeWindow={"Mode": "FLEXIBLE"}),
        dict(base, Target={"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": SCHEDULER_ROLE}),
        dict(base, Target=target("recorder", Input="not json")),
        dict(base, Target=target("recorder", RetryPolicy={"MaximumRetryAttempts": 186})),
        dict(base, State="PAUSED"),
    ]
    for i, args in enumerate(bad):
        check(error_code(lambda: sch.create_schedule(Name="bad", **args)) == ("ValidationException", 400),
              "invalid schedule %d refused with ValidationException" % i)
    check(error_code(lambda: sch.create_schedule(Name="x", GroupName="nope", **base))
          == ("ResourceNotFoundException", 404), "a schedule in a missing group is refused")

    # A one-time schedule fires once, with its Input and context, and is deleted after.
    at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)).replace(microsecond=0)
    expr = "at(%s)" % at.strftime("%Y-%m-%dT%H:%M:%S")
    once = sch.create_schedule(
        Name="once", ScheduleExpression=expr, FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target=target("recorder", Input=json.dumps({"kind": "once", "due": "<aws.scheduler.scheduled-time>",
                                                    "arn": "<aws.scheduler.schedule-arn>"})))
    check(once["ScheduleArn"] == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/once",
          "schedule ARN")
    got = sch.get_schedule(Name="once")
    check(got["ScheduleExpression"] == expr and got["State"] == "ENABLED"
          and got["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
          "GetSchedule gives the schedule with AWS's defaults")
    check(error_code(lambda: sch.create_schedule(Name="once", **base)) == ("ConflictException", 409),
          "a second schedule of one name is a conflict")
    fired = wait_for("the one-time schedule fires",
                     lambda: [e for e in events_of(logs, "recorder") if e.get("kind") == "once"])
    check(fired[0] == {"kind": "once", "due": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "arn": once["ScheduleArn"]},
          "the function received the Input with its context: %s" % fired[0])
    wait_for("the completed schedule is deleted",
             lambda: error_code(lambda: sch.get_schedule(Name="once"))[0] == "ResourceNotFoundException")
    time.sleep(1.5)
    check(len([e for e in events_of(logs, "recorder") if e.get("kind") == "once"]) == 1,
          "a one-time schedule fires once")

    # A rate fires every (shortened) minute, and stops when disabled.
    sch.create_schedule(Name="tick", GroupName="team", ScheduleExpression="rate(1 minute)",
                        FlexibleTimeWindow={"Mode": "OFF"}, Target=target("recorder", Input='{"kind": "tick"}'))
    ticks = lambda: len([e for e in events_of(logs, "recorder") if e.get("kind") == "tick"])
    wait_for("the rate schedule fires twice", lambda: ticks() >= 2)
    listed = sch.list_schedules(GroupName="team")["Schedules"]
    check([s["Name"] for s in listed] == ["tick"] and listed[0]["Target"]["Arn"] == ACCOUNT_ARN + "recorder",
          "ListSchedules by group")
    # UpdateSchedule replaces the whole schedule.
    sch.update_schedule(Name="tick", GroupName="team", ScheduleExpression="rate(1 minute)", State="DISABLED",
                        FlexibleTimeWindow={"Mode": "OFF"}, Target=target("recorder", Input='{"kind": "tick"}'))
    got = sch.get_schedule(Name="tick", GroupName="team")
    check(got["State"] == "DISABLED" and "Description" not in got, "UpdateSchedule replaced the schedule")
    time.sleep(1.5)
    stopped_at = ticks()
    time.sleep(2.5)
    check(ticks() == stopped_at, "a disabled schedule no longer fires (%d fires)" % stopped_at)
    check([s["Name"] for s in sch.list_schedules(State="DISABLED")["Schedules"]] == ["tick"],
          "ListSchedules by state")

    # A target that cannot be delivered to goes to its dead-letter queue.
    sch.create_schedule(Name="lost", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow={"Mode": "OFF"},
                        Target=target("no-such-function", Input='{"kind": "lost"}',
                                      DeadLetterConfig={"Arn": ACCOUNT_ARN + "dlq"}))
    wait_for("an undeliverable event reaches the dead-letter queue",
             lambda: [e for e in events_of(logs, "dlq") if e.get("kind") == "lost"])
    sch.delete_schedule(Name="lost")
    check(error_code(lambda: sch.delete_schedule(Name="lost")) == ("ResourceNotFoundException", 404),
          "a deleted schedule is gone")

    # Pagination, as the SDK's paginator walks it.
    for i in range(5):
        sch.create_schedule(Name="page-%d" % i, ScheduleExpression="cron(0 3 ? * MON *)",
                            ScheduleExpressionTimezone="Europe/Lisbon", State="DISABLED",
                            FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                            Target=target("recorder"))
    names = [s["Name"] for page in sch.get_paginator("list_schedules").paginate(
        NamePrefix="page-", PaginationConfig={"PageSize": 2}) for s in page["Schedules"]]
    check(names == ["page-%d" % i for i in range(5)], "paginated ListSchedules: %s" % names)

    # Deleting a group deletes its schedules.
    sch.delete_schedule_group(Name="team")
    check(error_code(lambda: sch.get_schedule(Name="tick", GroupName="team"))[0] == "ResourceNotFoundException",
          "a deleted group's schedules are gone")
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
