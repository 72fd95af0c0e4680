#!/usr/bin/env bash
# Lamina's test command: installs what the tests need, checks formatting, lints and docs, then
# runs every test: unit, in-process (crates/testkit) and end to end against the real server.
#
# What it installs, and only when missing:
#   - curl (Debian package), used by the shell bootstraps of test functions;
#   - iproute2 (Debian package), with which the egress test builds a host in its own
#     network namespace;
#   - openssl (Debian package), which makes the throw-away certificates of TLS tests;
#   - a JDK (Debian's openjdk-17-jdk-headless), with which the build compiles Lamina's Java
#     runtime and the Java tests compile their functions;
#   - ruby (Debian package, Ruby 3.1), for the Ruby runtime's tests;
#   - postgresql (Debian package): the cluster-mode tests start throw-away servers of their
#     own on loopback (crates/testpg), never the package's service;
#   - rabbitmq-server (Debian package): tests start throw-away brokers of their own on
#     loopback (crates/testbrokers), never the package's service;
#   - tansu, a Kafka-compatible broker (Debian packages no Kafka), built from crates.io once
#     and kept in a cache outside the clone ($LAMINA_TEST_CACHE, by default
#     ~/.cache/lamina-tests), so later runs and fresh clones reuse it;
#   - s3s-fs, an S3-compatible store, built from crates.io once into the same cache;
#   - a Python virtual environment in target/test-venv with boto3 (the compatibility suite)
#     and awslambdaric (AWS's runtime interface client, run unchanged as a bootstrap), and
#     prometheus-client, whose OpenMetrics parser reads /metrics, and opentelemetry-proto,
#     whose protobuf classes decode what the OTLP exporter sends, and selenium, which drives
#     Debian's Chromium (installed with its chromedriver) through the web console;
#   - another in target/test-venv-query with boto3 1.26, whose SQS client speaks the query
#     protocol older SDKs use;
#   - another in target/test-venv-cli with the AWS CLI (`aws s3 cp`, `aws s3 sync`);
#     Debian's awscli package is version 2, for `aws logs tail --follow`;
#   - interpreters the host lacks, through `lamina runtimes install` into the cache
#     ($LAMINA_TEST_CACHE/interpreters): Node.js 22 (npm) and Java 21 (PyPI), once.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

missing=""
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v javac >/dev/null 2>&1 || missing="$missing openjdk-17-jdk-headless"
command -v ruby >/dev/null 2>&1 || missing="$missing ruby"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing="$missing rabbitmq-server"
[ -x /usr/bin/aws ] && /usr/bin/aws --version 2>&1 | grep -q '^aws-cli/2' || missing="$missing awscli"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if [ -n "$missing" ]; then
  say "installing$missing"
  if [ "$(id -u)" = 0 ]; then
    # The package's own cluster is not wanted: tests start servers of their own.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/lamina-tests.conf
    export DEBIAN_FRONTEND=noninteractive
    # Nor are the packages' services (RabbitMQ's broker): while installing, a policy that
    # forbids starting services, removed afterwards if it was ours.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      policy=/usr/sbin/policy-rc.d
      trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq && apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold $missing
    if [ -n "$policy" ]; then rm -f "$policy"; trap - EXIT; fi
  else
    echo "missing:$missing, and this is not root: install them, then run again" >&2
    exit 1
  fi
fi

VENV=target/test-venv
if ! "$VENV/bin/python" -c 'import boto3, awslambdaric, prometheus_client, opentelemetry.proto, selenium' >/dev/null 2>&1; then
  say "preparing $VENV (boto3, awslambdaric, prometheus-client, opentelemetry-proto, selenium)"
  mkdir -p target
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check boto3 awslambdaric prometheus-client opentelemetry-proto selenium
fi
export LAMINA_TEST_PYTHON="$PWD/$VENV/bin/python"

# The AWS CLI (version 1, from PyPI), in its own environment: it pins its own botocore.
CLI_VENV=target/test-venv-cli
if ! "$CLI_VENV/bin/aws" --version >/dev/null 2>&1; then
  say "preparing $CLI_VENV (the AWS CLI)"
  python3 -m venv "$CLI_VENV"
  "$CLI_VENV/bin/pip" install --quiet --disable-pip-version-check awscli
fi
export LAMINA_TEST_AWS="$PWD/$CLI_VENV/bin/aws"

# boto3 1.26 (botocore 1.29), the last generation that speaks SQS's query protocol.
QUERY_VENV=target/test-venv-query
if ! "$QUERY_VENV/bin/python" -c 'import boto3' >/dev/null 2>&1; then
  say "preparing $QUERY_VENV (boto3 1.26, SQS's query protocol)"
  python3 -m venv "$QUERY_VENV"
  "$QUERY_VENV/bin/pip" install --quiet --disable-pip-version-check "boto3==1.26.27"
fi
export LAMINA_TEST_QUERY_PYTHON="$PWD/$QUERY_VENV/bin/python"

# tansu, built once per version into the cache (a debug build without debug info: about 3
# minutes on 2 cores against 8 for a release build, and a test broker needs no speed).
TANSU_VERSION=0.6.0
CACHE="${LAMINA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lamina-tests}"
TANSU="$CACHE/tansu-$TANSU_VERSION/bin/tansu"
if [ ! -x "$TANSU" ]; then
  say "building tansu $TANSU_VERSION (a Kafka-compatible broker) into $CACHE, once"
  mkdir -p "$CACHE"
  CARGO_PROFILE_DEV_DEBUG=0 cargo install tansu --version "$TANSU_VERSION" --locked --debug \
    --features dynostore --root "$CACHE/tansu-$TANSU_VERSION"
fi
export LAMINA_TEST_TANSU="$TANSU"

# s3s-fs, the s3s project's file-system S3 server, the store of the tests where Lamina keeps
# objects in another S3-compatible store; built once per version into the same cache.
S3S_FS_VERSION=0.14.1
S3S_FS="$CACHE/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs"
if [ ! -x "$S3S_FS" ]; then
  say "building s3s-fs $S3S_FS_VERSION (an S3-compatible store) into $CACHE, once"
  mkdir -p "$CACHE"
  CARGO_PROFILE_DEV_DEBUG=0 cargo install s3s-fs --version "$S3S_FS_VERSION" --locked --debug \
    --features binary --root "$CACHE/s3s-fs-$S3S_FS_VERSION"
fi
export LAMINA_TEST_S3S_FS="$S3S_FS"

# A one-off build (CI's fresh clone) gains nothing from incremental state, which would double
# the disk the build takes.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

say "cargo fmt --check"
cargo fmt --all --check

# On a fresh clone this step compiles the whole workspace first (several minutes); cargo's
# progress lines show that it is working.
say "cargo clippy (compiles the workspace first)"
cargo clippy --workspace --all-targets -- -D warnings

# Module docs link to what they describe: a link that no longer resolves fails here.
say "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet

# The tests' build first: its lamina binary installs the interpreters the runtime tests
# need and the host lacks, into the cache, once (a failed download fails those tests, not
# this script).
say "cargo test --no-run (builds the tests)"
cargo test --workspace --no-run --quiet
INTERPRETERS="$CACHE/interpreters"
for runtime in nodejs22.x java21; do
  target/debug/lamina runtimes install "$runtime" --interpreters-dir "$INTERPRETERS" \
    || echo "could not install $runtime: the tests that need it will fail" >&2
done
export LAMINA_TEST_INTERPRETERS="$INTERPRETERS"

# --no-fail-fast: a failing test program does not keep the others from running, so the
# totals below count every test.
say "cargo test"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# A test program that dies before its summary (a crash, a signal) prints no "test result"
# line, but cargo still reports it as failed: each such program counts as one failure.
awk '
  /^test result:/ { p += $4; f += $6; if ($3 == "FAILED.") summarised++ }
  /^error: test failed, to rerun pass/ { failed_programs++ }
  END {
    crashed = failed_programs - summarised
    if (crashed > 0) f += crashed
    printf "tests: %d passed, %d failed\n", p, f
  }' target/test-output.log
exit "$status"
