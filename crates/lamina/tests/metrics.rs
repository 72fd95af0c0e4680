//! `GET /metrics` against a real server: the export read by Prometheus's own OpenMetrics
//! parser (the `prometheus_client` Python package), its counters equal to the invocations,
//! errors, throttles and asynchronous events made; and, with `--credentials`, open to the
//! scraper's bearer token and to signed requests only.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, eventually};
use serde_json::{Value, json};

/// The samples of an export as Prometheus's parser reads them: `[name, labels, value]`.
fn parse(text: &str) -> Vec<(String, serde_json::Map<String, Value>, f64)> {
    let script = "import sys, json\n\
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
print(json.dumps([[s.name, s.labels, s.value] for f in parse(sys.stdin.read()) for s in f.samples]))\n";
    let mut child = Command::new(common::test_python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test Python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the export: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, serde_json::Map<String, Value>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    samples
}

/// The value of the sample `name` whose labels include `labels`, summed over the rest.
fn value(
    samples: &[(String, serde_json::Map<String, Value>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

async fn scrape(s: &Server) -> String {
    let resp = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        resp.headers()
    );
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_counts_what_was_invoked() {
    let s = Server::start();
    s.python(
        "counted",
        "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('asked to')\n    return event\n",
    )
    .await;
    s.python("refused", "def handler(event, context):\n    return 1\n")
        .await;
    for _ in 0..4 {
        assert_eq!(
            s.invoke("counted", json!({"n": 1})).await.body,
            json!({"n": 1})
        );
    }
    for _ in 0..2 {
        s.invoke("counted", json!({"fail": true})).await;
    }
    let (status, _, _) = s
        .invoke_raw(
            "counted",
            r#"{"n": 2}"#,
            &[("X-Amz-Invocation-Type", "Event")],
        )
        .await;
    assert_eq!(status, 202);
    // A function with no concurrency at all is throttled.
    let (status, _, _) = s
        .put_json(
            "/2017-10-31/functions/refused/concurrency",
            &json!({"ReservedConcurrentExecutions": 0}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = s.invoke_raw("refused", "{}", &[]).await;
    assert_eq!(status, 429);

    let ran_all = eventually(Duration::from_secs(20), async || {
        let samples = parse(&scrape(&s).await);
        value(
            &samples,
            "lamina_invocations_total",
            &[("function", "counted")],
        ) == 7.0
    })
    .await;
    let samples = parse(&scrape(&s).await);
    assert!(ran_all, "{samples:?}");
    let counted = [("function", "counted"), ("version", "$LATEST")];
    assert_eq!(value(&samples, "lamina_invocations_total", &counted), 7.0);
    assert_eq!(value(&samples, "lamina_errors_total", &counted), 2.0);
    assert_eq!(
        value(&samples, "lamina_duration_seconds_count", &counted),
        7.0
    );
    assert_eq!(
        value(
            &samples,
            "lamina_duration_seconds_bucket",
            &[("function", "counted"), ("le", "+Inf")]
        ),
        7.0
    );
    assert!(value(&samples, "lamina_duration_seconds_sum", &counted) > 0.0);
    let cold = value(&samples, "lamina_cold_starts_total", &counted);
    assert_eq!(
        cold,
        value(&samples, "lamina_init_duration_seconds_count", &counted),
        "each cold start has its Init Duration"
    );
    assert!(cold >= 1.0);
    assert_eq!(
        value(
            &samples,
            "lamina_throttles_total",
            &[("function", "refused")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "lamina_async_events_received_total",
            &[("function", "counted")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "lamina_async_event_age_seconds_count",
            &[("function", "counted")]
        ),
        1.0
    );
    assert!(value(&samples, "lamina_billed_gb_seconds_total", &counted) > 0.0);
    let live = value(&samples, "lamina_environments", &[("function", "counted")]);
    assert!(live >= 1.0, "environments by state: {samples:?}");
    assert_eq!(
        value(
            &samples,
            "lamina_concurrent_executions",
            &[("function", "counted")]
        ),
        0.0
    );
    assert!(value(&samples, "lamina_concurrency_limit", &[]) > 0.0);

    // A deleted function's series go with it.
    let (status, _, _) = s.delete("/2015-03-31/functions/refused").await;
    assert_eq!(status, 204);
    let samples = parse(&scrape(&s).await);
    assert_eq!(
        samples
            .iter()
            .filter(|(_, l, _)| l.get("function").and_then(Value::as_str) == Some("refused"))
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_credentials_the_scraper_needs_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[default]\naws_access_key_id = AKIDMETRICS\naws_secret_access_key = secret\n",
    )
    .unwrap();
    let s = Server::start_with(
        &[
            "--credentials",
            creds.to_str().unwrap(),
            "--metrics-token",
            "scrape-me",
        ],
        None,
    );
    let get = |auth: Option<&'static str>| {
        let mut req = s.http.get(s.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 403);
    assert_eq!(get(Some("Bearer wrong")).await.unwrap().status(), 403);
    let ok = get(Some("Bearer scrape-me")).await.unwrap();
    assert_eq!(ok.status(), 200);
    parse(&ok.text().await.unwrap());
    // The token opens /metrics only.
    let other = s
        .http
        .get(s.url("/2015-03-31/functions"))
        .header("authorization", "Bearer scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
}

/// Runs tests/compat/cloudwatch.py `phase` with `python` against `s`, whose boto3 must
/// speak `protocol` to CloudWatch.
fn cloudwatch_suite(python: &std::path::Path, s: &Server, phase: &str, protocol: &str) {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/cloudwatch.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&s.endpoint)
        .arg(phase)
        .output()
        .expect("run the CloudWatch suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("all checks passed")
            && stdout.contains(&format!("protocol: {protocol}\n")),
        "cloudwatch.py {phase} failed\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.output_text()
    );
}

/// CloudWatch's metric API answers for what ran: boto3 (CBOR), boto3 1.26 (the query
/// protocol) and the AWS CLI read the same figures; after a restart on the same data
/// directory, the figures are still there.
#[test]
fn cloudwatch_answers_for_what_ran_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_with(&[], Some(dir.path()));
    cloudwatch_suite(&common::test_python(), &s, "invoke", "smithy-rpc-v2-cbor");
    cloudwatch_suite(&common::test_query_python(), &s, "check", "query");

    let aws = std::env::var_os("LAMINA_TEST_AWS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/test-venv-cli/bin/aws")
        });
    let now = chrono::Utc::now();
    let out = Command::new(aws)
        .args([
            "--endpoint-url",
            &s.endpoint,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args([
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            "AWS/Lambda",
        ])
        .args([
            "--metric-name",
            "Errors",
            "--dimensions",
            "Name=FunctionName,Value=cw-metrics",
        ])
        .args(["--statistics", "Sum", "Average", "--period", "3600"])
        .args([
            "--start-time",
            &(now - chrono::Duration::minutes(30)).to_rfc3339(),
        ])
        .args([
            "--end-time",
            &(now + chrono::Duration::minutes(30)).to_rfc3339(),
        ])
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .expect("the AWS CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let points = answer["Datapoints"].as_array().unwrap();
    let sum: f64 = points.iter().map(|p| p["Sum"].as_f64().unwrap()).sum();
    assert_eq!(sum, 1.0, "{answer}");
    assert_eq!(answer["Label"], "Errors");

    // The JSON 1.0 protocol, which some SDKs send, runs the same operations.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let target = "GraniteServiceVersion20100801.ListMetrics";
    let body = json!({"Namespace": "AWS/Lambda", "MetricName": "Errors"});
    let (status, listed) = rt.block_on(common::aws_json(&s, target, "1.0", body));
    assert_eq!(status, 200, "{listed}");
    assert!(
        listed["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Dimensions"] == json!([{"Name": "FunctionName", "Value": "cw-metrics"}])),
        "{listed}"
    );
    let target = "GraniteServiceVersion20100801.GetMetricStatistics";
    let (status, refused) = rt.block_on(common::aws_json(&s, target, "1.0", json!({})));
    assert_eq!(status, 400);
    assert_eq!(
        refused["__type"], "com.amazonaws.cloudwatch#MissingRequiredParameterException",
        "{refused}"
    );

    s.stop();
    let s = Server::start_with(&[], Some(dir.path()));
    cloudwatch_suite(&common::test_python(), &s, "reread", "smithy-rpc-v2-cbor");
}

/// `--metrics off` keeps the per-function totals `lamina ps` shows, and counts nothing per
/// version or per minute.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_off_keeps_the_totals_alone() {
    let s = Server::start_with(&["--metrics", "off"], None);
    s.python("plain", "def handler(event, context):\n    return 1\n")
        .await;
    for _ in 0..3 {
        s.invoke("plain", json!({})).await;
    }
    let (_, _, status) = s.get("/_lamina/status").await;
    let plain = status["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "plain")
        .unwrap();
    assert_eq!(plain["invocations"], 3, "{plain}");
    let samples = parse(&scrape(&s).await);
    assert_eq!(
        value(
            &samples,
            "lamina_invocations_total",
            &[("function", "plain")]
        ),
        0.0,
        "no per-version series"
    );
    let target = "GraniteServiceVersion20100801.ListMetrics";
    let (_, listed) = common::aws_json(&s, target, "1.0", json!({})).await;
    assert_eq!(listed["Metrics"], json!([]), "no minute counted");
}
