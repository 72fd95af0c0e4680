"""Compatibility test: boto3, unmodified, against a freshly started `lamina serve`.

Usage: boto3_compat.py ENDPOINT

Creates, reads, lists, updates, invokes (sync, Tail logs, function error, timeout) and deletes
Python, Node.js and provided functions, exactly as a user of AWS Lambda would with boto3.
Exits non-zero with a message at the first difference from Lambda's behaviour.
"""

import base64
import io
import json
import sys
import time
import zipfile

import boto3
import botocore

from common import check

ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def package(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, text)
    return buf.getvalue()


PY = package({"app.py": ("import time\n"
                         "def handler(event, context):\n"
                         "    print('python says hi')\n"
                         "    return {'echo': event, 'fn': context.function_name}\n"
                         "def fail(event, context):\n"
                         "    raise ValueError('python failed')\n"
                         "def slow(event, context):\n"
                         "    time.sleep(10)\n", 0o644)})
PY2 = package({"app.py": ("def handler(event, context):\n    return {'version': 2}\n", 0o644)})
NODE = package({"index.mjs": ("export const handler = async (event, context) => {\n"
                              "  console.log('node says hi');\n"
                              "  return { echo: event, fn: context.functionName };\n};\n"
                              "export const fail = async () => { throw new RangeError('node failed'); };\n", 0o644)})
PROVIDED = package({"bootstrap": ("#!/bin/sh\n"
                                  "set -e\n"
                                  "while true; do\n"
                                  "  H=$(mktemp)\n"
                                  "  EVENT=$(curl -sS -D \"$H\" \"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next\")\n"
                                  "  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' \"$H\" | tr -d '[:space:]' | cut -d: -f2)\n"
                                  "  echo \"shell says hi\"\n"
                                  "  curl -sS -X POST \"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response\" -d \"{\\\"shell\\\":$EVENT}\" >/dev/null\n"
                                  "done\n", 0o755)})


def main(endpoint):
    c = boto3.client(
        "lambda", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60),
    )
    functions = [
        ("py-fn", "python3.11", "app.handler", PY),
        ("py-fail", "python3.11", "app.fail", PY),
        ("py-slow", "python3.11", "app.slow", PY),
        ("node-fn", "nodejs20.x", "index.handler", NODE),
        ("node-fail", "nodejs20.x", "index.fail", NODE),
        ("sh-fn", "provided.al2023", "unused", PROVIDED),
    ]
    for name, runtime, handler, code in functions:
        r = c.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                              Code={"ZipFile": code}, Timeout=2 if name == "py-slow" else 3)
        check(r["ResponseMetadata"]["HTTPStatusCode"] == 201 and r["State"] == "Active", f"create {name}")
    c.get_waiter("function_active_v2").wait(FunctionName="py-fn")
    check(True, "function_active_v2 waiter ends")

    try:
        c.create_function(FunctionName="py-fn", Runtime="python3.11", Handler="app.handler", Role=ROLE, Code={"ZipFile": PY})
        check(False, "duplicate create refused")
    except c.exceptions.ResourceConflictException:
        check(True, "duplicate create -> ResourceConflictException")
    try:
        c.create_function(FunctionName="bad-mem", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                          Code={"ZipFile": PY}, MemorySize=20000)
        check(False, "memory over 10240 refused")
    except c.exceptions.InvalidParameterValueException:
        check(True, "MemorySize 20000 -> InvalidParameterValueException")
    try:
        c.create_function(FunctionName="s3-code", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                          Code={"S3Bucket": "my-bucket", "S3Key": "code.zip"})
        check(False, "code from a missing bucket refused")
    except c.exceptions.InvalidParameterValueException as e:
        check("S3 Error Code: NoSuchBucket" in str(e),
              "Code.S3Bucket of a missing bucket -> InvalidParameterValueException with S3's error")

    got = c.get_function(FunctionName="py-fn")
    check(got["Configuration"]["Runtime"] == "python3.11" and got["Code"]["Location"].startswith("http"), "get_function")
    arn = got["Configuration"]["FunctionArn"]
    check(c.get_function_configuration(FunctionName=arn)["FunctionName"] == "py-fn", "get_function_configuration by ARN")
    names = [f["FunctionName"] for f in c.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 2}).build_full_result()["Functions"]]
    check(sorted(names) == sorted(n for n, *_ in functions), "list_functions paginated")
    settings = c.get_account_settings()
    check(settings["AccountUsage"]["FunctionCount"] == len(functions), "get_account_settings")

    for name, expect, log_line in [
        ("py-fn", {"echo": {"k": 1}, "fn": "py-fn"}, "python says hi"),
        ("node-fn", {"echo": {"k": 1}, "fn": "node-fn"}, "node says hi"),
        ("sh-fn", {"shell": {"k": 1}}, "shell says hi"),
    ]:
        r = c.invoke(FunctionName=name, Payload=json.dumps({"k": 1}), LogType="Tail")
        body = json.loads(r["Payload"].read())
        log = base64.b64decode(r["LogResult"]).decode()
        check(r["StatusCode"] == 200 and "FunctionError" not in r and body == expect, f"invoke {name}")
        check(r["ExecutedVersion"] == "$LATEST", f"{name} ExecutedVersion")
        check(log_line in log and "START RequestId:" in log and "REPORT RequestId:" in log
              and "Init Duration:" in log, f"{name} Tail log with START/REPORT and Init Duration")
        r = c.invoke(FunctionName=name, Payload=json.dumps({"k": 1}), LogType="Tail")
        check("Init Duration" not in base64.b64decode(r["LogResult"]).decode(), f"{name} second invoke is warm")

    for name, error_type, message in [("py-fail", "ValueError", "python failed"), ("node-fail", "RangeError", "node failed")]:
        r = c.invoke(FunctionName=name, Payload=b"{}")
        body = json.loads(r["Payload"].read())
        check(r["StatusCode"] == 200 and r.get("FunctionError") == "Unhandled", f"{name}: 200 + Unhandled")
        check(body["errorType"] == error_type and body["errorMessage"] == message, f"{name}: {error_type}")

    started = time.time()
    r = c.invoke(FunctionName="py-slow", Payload=b"{}")
    body = json.loads(r["Payload"].read())
    check(r.get("FunctionError") == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
          and "Task timed out after 2.00 seconds" in body["errorMessage"] and time.time() - started < 6,
          "timeout -> Sandbox.Timedout at the deadline")

    r = c.invoke(FunctionName="py-fn", InvocationType="DryRun")
    check(r["StatusCode"] == 204, "DryRun -> 204")
    try:
        c.invoke(FunctionName="nope")
        check(False, "missing function refused")
    except c.exceptions.ResourceNotFoundException:
        check(True, "invoke missing -> ResourceNotFoundException")
    try:
        c.invoke(FunctionName="py-fn", Payload=b"x" * (6 * 1024 * 1024 + 10))
        check(False, "oversized payload refused")
    except c.exceptions.RequestTooLargeException:
        check(True, "payload over 6 MB -> RequestTooLargeException")

    r = c.update_function_code(FunctionName="py-fn", ZipFile=PY2)
    check(r["LastUpdateStatus"] == "Successful", "update_function_code")
    c.get_waiter("function_updated_v2").wait(FunctionName="py-fn")
    check(json.loads(c.invoke(FunctionName="py-fn")["Payload"].read()) == {"version": 2}, "new code runs at once")
    r = c.update_function_configuration(FunctionName="py-fn", MemorySize=512, Environment={"Variables": {"MODE": "x"}})
    check(r["MemorySize"] == 512 and r["Environment"]["Variables"] == {"MODE": "x"}, "update_function_configuration")
    try:
        c.update_function_configuration(FunctionName="py-fn", RevisionId="stale")
        check(False, "stale revision refused")
    except c.exceptions.PreconditionFailedException:
        check(True, "stale RevisionId -> PreconditionFailedException")

        # Tags: on the unqualified function ARN; GetFunction shows them; the revision stays.
    revision = c.get_function_configuration(FunctionName="py-fn")["RevisionId"]
    c.tag_resource(Resource=arn, Tags={"team": "core", "stage": "dev"})
    c.tag_resource(Resource=arn, Tags={"stage": "prod"})
    check(c.list_tags(Resource=arn)["Tags"] == {"team": "core", "stage": "prod"}, "tag_resource, list_tags")
    c.untag_resource(Resource=arn, TagKeys=["team", "absent"])
    check(c.get_function(FunctionName="py-fn")["Tags"] == {"stage": "prod"}, "untag_resource; get_function shows tags")
    check(c.get_function_configuration(FunctionName="py-fn")["RevisionId"] == revision, "tags keep the RevisionId")
    try:
        c.tag_resource(Resource=arn + ":1", Tags={"a": "b"})
        check(False, "tagging a version refused")
    except c.exceptions.InvalidParameterValueException:
        check(True, "tagging a qualified ARN -> InvalidParameterValueException")
    try:
        c.list_tags(Resource=arn.replace("py-fn", "absent-fn"))
        check(False, "tags of a missing function")
    except c.exceptions.ResourceNotFoundException:
        check(True, "list_tags of a missing function -> ResourceNotFoundException")

            # Versions: publish, list, invoke a version after $LATEST changed, delete one.
    v = c.publish_version(FunctionName="py-fn", Description="v1")
    check(v["Version"] == "1" and v["FunctionArn"].endswith(":py-fn:1"), "publish_version")
    c.update_function_code(FunctionName="py-fn", ZipFile=PY)
    c.get_waiter("function_updated_v2").wait(FunctionName="py-fn")
    r = c.invoke(FunctionName="py-fn", Qualifier="1")
    check(r["ExecutedVersion"] == "1" and json.loads(r["Payload"].read()) == {"version": 2}, "invoke a version after $LATEST changed")
    listed = [x["Version"] for x in c.get_paginator("list_versions_by_function").paginate(
        FunctionName="py-fn", PaginationConfig={"PageSize": 1}).build_full_result()["Versions"]]
    check(listed == ["$LATEST", "1"], "list_versions_by_function paginated")
        # Aliases: create, invoke through, weighted routing, list, delete.
    a = c.create_alias(FunctionName="py-fn", Name="prod", FunctionVersion="1")
    check(a["AliasArn"].endswith(":py-fn:prod") and a["RevisionId"], "create_alias")
    r = c.invoke(FunctionName="py-fn", Qualifier="prod")
    check(r["ExecutedVersion"] == "1", "invoke through an alias")
    v2 = c.publish_version(FunctionName="py-fn")["Version"]
    a = c.update_alias(FunctionName="py-fn", Name="prod", RevisionId=a["RevisionId"],
                       RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}})
    check(a["RoutingConfig"]["AdditionalVersionWeights"] == {v2: 0.5}, "update_alias with weights")
    ran = {c.invoke(FunctionName="py-fn", Qualifier="prod")["ExecutedVersion"] for _ in range(40)}
    check(ran == {"1", v2}, "a weighted alias runs both versions")
    check([x["Name"] for x in c.list_aliases(FunctionName="py-fn", FunctionVersion=v2)["Aliases"]] == ["prod"], "list_aliases")

    # Asynchronous invocation: 202 at once, then it runs; its configuration per qualifier.
    r = c.invoke(FunctionName="py-fn", InvocationType="Event", Payload=b'{"async": 1}')
    check(r["StatusCode"] == 202 and r["Payload"].read() == b"", "invoke with InvocationType=Event -> 202")
    check(c.invoke_async(FunctionName="py-fn", InvokeArgs=b'{"old": 1}')["Status"] == 202, "invoke_async")
    sink = "arn:aws:lambda:us-east-1:000000000000:function:node-fn"
    e = c.put_function_event_invoke_config(FunctionName="py-fn", MaximumRetryAttempts=1,
                                           DestinationConfig={"OnFailure": {"Destination": sink}})
    check(e["MaximumRetryAttempts"] == 1 and e["DestinationConfig"]["OnFailure"]["Destination"] == sink
          and e["LastModified"].year >= 2024, "put_function_event_invoke_config")
    e = c.update_function_event_invoke_config(FunctionName="py-fn", MaximumEventAgeInSeconds=120)
    check(e["MaximumRetryAttempts"] == 1 and e["MaximumEventAgeInSeconds"] == 120, "update_function_event_invoke_config")
    check(c.get_function_event_invoke_config(FunctionName="py-fn")["MaximumEventAgeInSeconds"] == 120,
          "get_function_event_invoke_config")
    listed = c.list_function_event_invoke_configs(FunctionName="py-fn")["FunctionEventInvokeConfigs"]
    check([x["FunctionArn"].rsplit(":", 1)[1] for x in listed] == ["$LATEST"], "list_function_event_invoke_configs")
    c.delete_function_event_invoke_config(FunctionName="py-fn")
    try:
        c.get_function_event_invoke_config(FunctionName="py-fn")
        check(False, "deleted event invoke config gone")
    except c.exceptions.ResourceNotFoundException:
        check(True, "delete_function_event_invoke_config")

    # Provisioned concurrency on a version: accepted at once, READY once initialised.
    pc = c.put_provisioned_concurrency_config(FunctionName="py-fn", Qualifier=v2, ProvisionedConcurrentExecutions=1)
    check(pc["RequestedProvisionedConcurrentExecutions"] == 1 and pc["Status"] in ("IN_PROGRESS", "READY"),
          "put_provisioned_concurrency_config")
    for _ in range(200):
        pc = c.get_provisioned_concurrency_config(FunctionName="py-fn", Qualifier=v2)
        if pc["Status"] == "READY":
            break
        time.sleep(0.1)
    check(pc["Status"] == "READY" and pc["AllocatedProvisionedConcurrentExecutions"] == 1,
          "get_provisioned_concurrency_config reaches READY")
    items = c.list_provisioned_concurrency_configs(FunctionName="py-fn")["ProvisionedConcurrencyConfigs"]
    check([i["FunctionArn"].rsplit(":", 1)[1] for i in items] == [v2], "list_provisioned_concurrency_configs")
    c.delete_provisioned_concurrency_config(FunctionName="py-fn", Qualifier=v2)
    try:
        c.get_provisioned_concurrency_config(FunctionName="py-fn", Qualifier=v2)
        check(False, "deleted provisioned concurrency gone")
    except c.exceptions.ProvisionedConcurrencyConfigNotFoundException:
        check(True, "delete_provisioned_concurrency_config")
    try:
        c.delete_function(FunctionName="py-fn", Qualifier="1")
        check(False, "a version an alias uses is kept")
    except c.exceptions.ResourceConflictException:
        check(True, "delete of a version an alias uses -> ResourceConflictException")
    c.delete_alias(FunctionName="py-fn", Name="prod")
    try:
        c.get_alias(FunctionName="py-fn", Name="prod")
        check(False, "deleted alias gone")
    except c.exceptions.ResourceNotFoundException:
        check(True, "delete_alias")

    c.delete_function(FunctionName="py-fn", Qualifier="1")
    try:
        c.get_function(FunctionName="py-fn", Qualifier="1")
        check(False, "deleted version gone")
    except c.exceptions.ResourceNotFoundException:
        check(True, "delete_function with Qualifier removes the version")

    # Layers: publish, attach, import from /opt/python, read back, list, delete.
    layer_zip = package({"python/shared.py": ("VALUE = 'from a layer'\n", 0o644)})
    lv = c.publish_layer_version(LayerName="shared", Content={"ZipFile": layer_zip},
                                 CompatibleRuntimes=["python3.11"], Description="shared code")
    check(lv["Version"] == 1 and lv["LayerVersionArn"].endswith(":layer:shared:1"), "publish_layer_version")
    uses = package({"app.py": ("import shared\ndef handler(e, c):\n    return shared.VALUE\n", 0o644)})
    c.create_function(FunctionName="py-layered", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                      Code={"ZipFile": uses}, Layers=[lv["LayerVersionArn"]])
    check(json.loads(c.invoke(FunctionName="py-layered")["Payload"].read()) == "from a layer", "a layer's module is importable")
    check(c.get_layer_version_by_arn(Arn=lv["LayerVersionArn"])["Description"] == "shared code", "get_layer_version_by_arn")
    check([l["LayerName"] for l in c.list_layers(CompatibleRuntime="python3.11")["Layers"]] == ["shared"], "list_layers")
    check([v["Version"] for v in c.list_layer_versions(LayerName="shared")["LayerVersions"]] == [1], "list_layer_versions")
    c.delete_layer_version(LayerName="shared", VersionNumber=1)
    check(json.loads(c.invoke(FunctionName="py-layered")["Payload"].read()) == "from a layer", "delete_layer_version keeps users working")
    c.delete_function(FunctionName="py-layered")

    # Resource policy: stored and returned in AWS's shape.
    r = c.add_permission(FunctionName="py-fn", StatementId="s3", Action="lambda:InvokeFunction",
                         Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::uploads")
    check(json.loads(r["Statement"])["Principal"] == {"Service": "s3.amazonaws.com"}, "add_permission")
    doc = c.get_policy(FunctionName="py-fn")
    check(json.loads(doc["Policy"])["Statement"][0]["Sid"] == "s3" and doc["RevisionId"], "get_policy")
    try:
        c.add_permission(FunctionName="py-fn", StatementId="s3", Action="lambda:InvokeFunction", Principal="*")
        check(False, "duplicate statement refused")
    except c.exceptions.ResourceConflictException:
        check(True, "duplicate StatementId -> ResourceConflictException")
    c.remove_permission(FunctionName="py-fn", StatementId="s3", RevisionId=doc["RevisionId"])
    try:
        c.get_policy(FunctionName="py-fn")
        check(False, "empty policy gone")
    except c.exceptions.ResourceNotFoundException:
        check(True, "remove_permission; get_policy of no policy -> ResourceNotFoundException")

    for name, *_ in functions:
        c.delete_function(FunctionName=name)
    check(c.list_functions()["Functions"] == [], "delete_function of every function")
    try:
        c.get_function(FunctionName="py-fn")
        check(False, "deleted function gone")
    except c.exceptions.ResourceNotFoundException:
        check(True, "get deleted -> ResourceNotFoundException")
    print("boto3 compatibility: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
