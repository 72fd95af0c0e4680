"""CloudWatch's metric API for Lambda's metrics, against a freshly started `lamina serve`,
driven by boto3's `cloudwatch` client unmodified: whichever protocol this boto3 speaks
(Smithy RPC v2 CBOR for current releases, the query protocol for boto3 1.26).

Usage: cloudwatch.py ENDPOINT invoke|check|reread

- invoke: makes a function with a version and an alias, invokes it (one error among
  them), then checks GetMetricStatistics, GetMetricData and ListMetrics against what it
  did, and CloudWatch's refusals;
- check: the same checks, without invoking (another SDK's look at the same figures);
- reread: checks, on a server restarted on the same data directory, that the figures
  the first run made are still there.

Exits non-zero with a message at the first difference from AWS's behaviour.
"""

import datetime
import sys

import boto3

from common import ROLE, check, error_code, package

CODE = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("asked to")
    return "ok"
"""

NAME = "cw-metrics"


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="x", aws_secret_access_key="x")
    return boto3.client("lambda", **kw), boto3.client("cloudwatch", **kw)


def window():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(minutes=30), now + datetime.timedelta(minutes=2)


def statistics(cw, metric, dims, stats=("Sum",), extended=None):
    start, end = window()
    kw = dict(Namespace="AWS/Lambda", MetricName=metric, StartTime=start, EndTime=end, Period=60,
              Dimensions=[{"Name": k, "Value": v} for k, v in dims])
    if extended:
        kw["ExtendedStatistics"] = list(extended)
    else:
        kw["Statistics"] = list(stats)
    return cw.get_metric_statistics(**kw)


def total(cw, metric, dims, stat="Sum"):
    return sum(p[stat] for p in statistics(cw, metric, dims, (stat,))["Datapoints"])


def invoke(lam):
    lam.create_function(FunctionName=NAME, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": package({"app.py": CODE})})
    version = lam.publish_version(FunctionName=NAME)["Version"]
    check(version == "1", "version 1")
    lam.create_alias(FunctionName=NAME, Name="live", FunctionVersion=version)
    for payload in [b'{}', b'{"sleep": 0.05}', b'{"fail": true}']:
        lam.invoke(FunctionName=NAME, Payload=payload)
    for _ in range(2):
        lam.invoke(FunctionName=NAME, Qualifier="live", Payload=b'{"sleep": 0.02}')


def checks(cw, version="1"):
    f = [("FunctionName", NAME)]
    check(total(cw, "Invocations", f) == 5, "Invocations' sum is what was invoked")
    check(total(cw, "Invocations", f, "SampleCount") == 5, "one sample per invocation")
    check(total(cw, "Errors", f) == 1, "Errors' sum is the one error")
    check(total(cw, "Errors", f, "SampleCount") == 5, "Errors has a 0 or a 1 per invocation")
    live = f + [("Resource", NAME + ":live")]
    check(total(cw, "Invocations", live) == 2, "Resource name:alias counts the alias's")
    check(total(cw, "Invocations", live + [("ExecutedVersion", version)]) == 2,
          "ExecutedVersion counts what the alias ran")
    check(total(cw, "Invocations", []) >= 5, "the account's figure holds the function's")
    peaks = statistics(cw, "ConcurrentExecutions", [], ("Maximum",))["Datapoints"]
    check(peaks and max(p["Maximum"] for p in peaks) >= 1,
          "the account's ConcurrentExecutions saw the invocations: %s" % peaks)
    check(total(cw, "UnreservedConcurrentExecutions", [], "Maximum") >= 1,
          "and the unreserved pool's")
    check(statistics(cw, "Invocations", [("FunctionName", "nobody")])["Datapoints"] == [],
          "a function with no invocations has no data points")

    d = statistics(cw, "Duration", f, ("Minimum", "Maximum", "Average", "SampleCount"))
    check(d["Label"] == "Duration", "the label is the metric's name")
    points = d["Datapoints"]
    check(all(p["Unit"] == "Milliseconds" for p in points), "Duration is in milliseconds")
    check(max(p["Maximum"] for p in points) >= 50, "the 50 ms sleep is the maximum")
    check(min(p["Minimum"] for p in points) < 50, "the minimum is below it")
    check(all(isinstance(p["Timestamp"], datetime.datetime) for p in points), "timestamps")
    check(all(p["Timestamp"].second == 0 for p in points), "data points start on minutes")
    pct = statistics(cw, "Duration", f, extended=("p50", "p99"))["Datapoints"]
    check(all(set(p["ExtendedStatistics"]) == {"p50", "p99"} for p in pct), "percentiles")
    check(all(p["ExtendedStatistics"]["p50"] <= p["ExtendedStatistics"]["p99"] for p in pct),
          "p50 <= p99")
    check(statistics(cw, "Duration", f, ("Sum",))["Datapoints"][0].get("Unit") == "Milliseconds",
          "units")
    start, end = window()
    counted = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Invocations",
                                       Dimensions=[{"Name": "FunctionName", "Value": NAME}],
                                       StartTime=start, EndTime=end, Period=60,
                                       Statistics=["Sum"], Unit="Milliseconds")
    check(counted["Datapoints"] == [], "a unit the metric does not have selects nothing")

    data = cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[
        {"Id": "calls", "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Invocations",
            "Dimensions": [{"Name": "FunctionName", "Value": NAME}]}, "Period": 60, "Stat": "Sum"}},
        {"Id": "slow", "Label": "p90 of Duration", "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Duration",
            "Dimensions": [{"Name": "FunctionName", "Value": NAME}]}, "Period": 300, "Stat": "p90"}},
        {"Id": "hidden", "ReturnData": False, "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}},
    ])["MetricDataResults"]
    by_id = {r["Id"]: r for r in data}
    check(set(by_id) == {"calls", "slow"}, "ReturnData false leaves a query out")
    check(sum(by_id["calls"]["Values"]) == 5 and by_id["calls"]["StatusCode"] == "Complete",
          "GetMetricData's Sum")
    stamps = by_id["calls"]["Timestamps"]
    check(stamps == sorted(stamps, reverse=True), "newest first, as ScanBy's default")
    check(by_id["slow"]["Label"] == "p90 of Duration" and by_id["slow"]["Values"][0] > 0,
          "a percentile through GetMetricData, with its label")

    listed = cw.list_metrics(Namespace="AWS/Lambda",
                             Dimensions=[{"Name": "FunctionName", "Value": NAME}])["Metrics"]
    sets = {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
            for m in listed}
    for metric in ["Invocations", "Errors", "Duration"]:
        check((metric, (("FunctionName", NAME),)) in sets, "ListMetrics names " + metric)
        check((metric, (("FunctionName", NAME), ("Resource", NAME + ":live"))) in sets,
              "ListMetrics names %s by Resource" % metric)
        check((metric, (("FunctionName", NAME), ("Resource", NAME + ":live"),
                        ("ExecutedVersion", version))) in sets,
              "ListMetrics names %s by ExecutedVersion" % metric)
    check(cw.list_metrics(Namespace="AWS/EC2")["Metrics"] == [], "other namespaces are empty")
    only = cw.list_metrics(MetricName="Errors", Dimensions=[{"Name": "Resource"}])["Metrics"]
    check(only and all(m["MetricName"] == "Errors" for m in only), "filters by name and dimension")

    refusals = [
        ("a period of 30 s", "InvalidParameterValue", lambda: cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Invocations", StartTime=start, EndTime=end,
            Period=30, Statistics=["Sum"])),
        ("neither Statistics nor ExtendedStatistics", "InvalidParameterCombination",
         lambda: cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Invocations",
                                          StartTime=start, EndTime=end, Period=60)),
        ("a start after the end", "InvalidParameterValue", lambda: cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Invocations", StartTime=end, EndTime=start,
            Period=60, Statistics=["Sum"])),
        ("more than 1,440 data points", "InvalidParameterCombination",
         lambda: cw.get_metric_statistics(
             Namespace="AWS/Lambda", MetricName="Invocations", Period=60, Statistics=["Sum"],
             StartTime=end - datetime.timedelta(days=2), EndTime=end)),
        ("metric math", "InvalidParameterValue", lambda: cw.get_metric_data(
            StartTime=start, EndTime=end,
            MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}])),
    ]
    for what, code, call in refusals:
        got = error_code(call)
        check(got == (code, 400), "%s is refused with %s (%s)" % (what, code, got))
    try:
        cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Invocations",
                                 StartTime=start, EndTime=end, Period=61, Statistics=["Sum"])
        check(False, "a period of 61 s is refused")
    except cw.exceptions.InvalidParameterValueException as e:
        check("multiple of 60" in e.response["Error"]["Message"],
              "the SDK's modelled exception, with the reason")


def reread(cw):
    f = [("FunctionName", NAME)]
    check(total(cw, "Invocations", f) == 5, "after a restart, the invocations are still counted")
    check(total(cw, "Errors", f) == 1, "and the error")
    points = statistics(cw, "Duration", f, extended=("p99",))["Datapoints"]
    check(points and all(p["ExtendedStatistics"]["p99"] > 0 for p in points),
          "and Duration's distribution")


def main(endpoint, phase):
    lam, cw = clients(endpoint)
    print("protocol:", cw.meta.service_model.protocol)
    if phase == "invoke":
        invoke(lam)
        checks(cw)
    elif phase == "check":
        checks(cw)
    else:
        reread(cw)
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
