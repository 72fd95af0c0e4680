"""What the compatibility suites share: packages made in memory, checks that stop at the
first difference, and the error a boto3 call ends with."""

import io
import json
import sys
import time
import zipfile

import botocore

ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def package(files):
    """A deployment package of {name: text}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def check(cond, what):
    """Says what was checked; exits non-zero at the first check that fails."""
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def error_code(call):
    """The error type and HTTP status `call` ended with, or (None, None)."""
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, None


RECORDER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    return "ok"
"""


def events_of(logs, function):
    """Every event a RECORDER function logged so far, oldest first."""
    try:
        found = logs.filter_log_events(logGroupName="/aws/lambda/" + function)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"][len("EVENT "):]) for e in found if e["message"].startswith("EVENT ")]


def wait_for(what, predicate, timeout=20.0):
    """Polls `predicate` until it returns something true, which it returns; fails the check
    `what` if it never does."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    check(False, what + " (timed out)")
