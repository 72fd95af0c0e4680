"""What the compatibility suites share: packages made in memory, checks that stop at the
first difference, and the error a boto3 call ends with."""

import io
import sys
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
