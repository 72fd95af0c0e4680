//! LoggingConfig against a real server: LogFormat JSON makes the Python and Node.js
//! runtimes write Lambda's JSON records and the platform write `platform.start` and
//! `platform.report`; ApplicationLogLevel and SystemLogLevel drop what is below them (a
//! line without a level counts as INFO); a custom LogGroup receives it all; back to Text,
//! Lambda's text lines return. `aws logs tail --follow` (AWS CLI v2, Debian's package)
//! follows a function's log group as it grows.

mod common;

use std::time::Duration;

use common::{Server, b64, eventually, zip};
use serde_json::{Value, json};

const PYTHON: &str = r#"
import logging
logger = logging.getLogger("orders")

def handler(event, context):
    logger.debug("py-debug")
    logger.info("py-info %s", event["n"])
    logger.warning("py-warn")
    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("py-error")
    print("py-print")
    return context.aws_request_id
"#;

const NODE: &str = r#"
exports.handler = async (event, context) => {
  console.debug('node-debug');
  console.log('node-info', event.n);
  console.warn('node-warn');
  console.error(new TypeError('node-error'));
  return context.awsRequestId;
};
"#;

/// The records of `group` (JSON ones parsed), once `done` holds for them.
async fn records(s: &Server, group: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    eventually(Duration::from_secs(10), async || {
        seen = s
            .log_lines(group, "")
            .await
            .into_iter()
            .map(|m| serde_json::from_str(&m).unwrap_or(Value::String(m)))
            .collect();
        done(&seen)
    })
    .await;
    seen
}

fn messages(records: &[Value], request: &str) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match r {
            Value::String(text) => Some(text.clone()),
            r if r["requestId"] == request => Some(format!(
                "{} {}",
                r["level"].as_str()?,
                r["message"].as_str()?
            )),
            _ => None,
        })
        .collect()
}

fn platform<'a>(records: &'a [Value], kind: &str, request: &str) -> Option<&'a Value> {
    records
        .iter()
        .find(|r| r["type"] == kind && r["record"]["requestId"] == request)
}

async fn configure(s: &Server, name: &str, logging: Value) {
    let (status, _, resp) = s
        .put_json(
            &format!("/2015-03-31/functions/{name}/configuration"),
            &json!({"LoggingConfig": logging}),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_follow_the_logging_config() {
    let s = Server::start();
    let created = s
        .create_with(json!({"FunctionName": "py-json", "Runtime": "python3.11",
            "Handler": "app.handler", "Role": common::ROLE,
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": "/custom/orders"},
            "Code": {"ZipFile": b64(&zip(&[("app.py", PYTHON, 0o644)]))}}))
        .await;
    assert_eq!(
        created["LoggingConfig"],
        json!({"LogFormat": "JSON", "ApplicationLogLevel": "INFO",
               "SystemLogLevel": "INFO", "LogGroup": "/custom/orders"})
    );
    let first = s.invoke("py-json", json!({"n": 1})).await.body;
    let id = first.as_str().unwrap().to_string();
    let group = "/custom/orders";
    let seen = records(&s, group, |r| platform(r, "platform.report", &id).is_some()).await;
    let start = platform(&seen, "platform.start", &id).expect("platform.start");
    assert_eq!(start["record"]["version"], "$LATEST");
    let report = platform(&seen, "platform.report", &id).unwrap();
    assert_eq!(report["record"]["status"], "success");
    assert!(report["record"]["metrics"]["durationMs"].as_f64().unwrap() > 0.0);
    assert!(
        report["record"]["metrics"]["initDurationMs"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let said = messages(&seen, &id);
    assert!(said.contains(&"INFO py-info 1".to_string()), "{seen:?}");
    assert!(said.contains(&"WARN py-warn".to_string()), "{seen:?}");
    assert!(
        said.contains(&"py-print".to_string()),
        "a print stays text: {seen:?}"
    );
    assert!(!said.iter().any(|m| m.contains("py-debug")), "{seen:?}");
    let error = seen.iter().find(|r| r["message"] == "py-error").unwrap();
    assert_eq!(
        (&error["level"], &error["errorType"], &error["logger"]),
        (&json!("ERROR"), &json!("KeyError"), &json!("orders"))
    );
    assert!(error["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(
        !seen
            .iter()
            .any(|r| r.as_str().is_some_and(|t| t.starts_with("START RequestId"))),
        "no text lines from the platform in JSON: {seen:?}"
    );

    // WARN: INFO records and lines without a level are dropped by the platform too.
    configure(&s, "py-json", json!({"ApplicationLogLevel": "WARN"})).await;
    let id = s.invoke("py-json", json!({"n": 2})).await.body;
    let id = id.as_str().unwrap().to_string();
    let seen = records(&s, group, |r| platform(r, "platform.report", &id).is_some()).await;
    let said = messages(&seen, &id);
    assert!(said.contains(&"WARN py-warn".to_string()), "{said:?}");
    assert!(said.contains(&"ERROR py-error".to_string()), "{said:?}");
    assert!(!said.iter().any(|m| m.contains("py-info 2")), "{said:?}");
    let prints = seen.iter().filter(|r| *r == &json!("py-print")).count();
    assert_eq!(prints, 1, "only the first invocation's print: {seen:?}");

    // SystemLogLevel WARN: no platform records; back to Text: Lambda's lines again.
    configure(&s, "py-json", json!({"SystemLogLevel": "WARN"})).await;
    let id = s.invoke("py-json", json!({"n": 3})).await.body;
    let id = id.as_str().unwrap().to_string();
    let seen = records(&s, group, |r| {
        messages(r, &id).contains(&"WARN py-warn".to_string())
    })
    .await;
    assert!(!seen.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = records(&s, group, |_| true).await;
    assert!(platform(&seen, "platform.start", &id).is_none(), "{seen:?}");
    assert!(
        platform(&seen, "platform.report", &id).is_none(),
        "{seen:?}"
    );
    configure(&s, "py-json", json!({"LogFormat": "Text"})).await;
    let (_, _, got) = s.get("/2015-03-31/functions/py-json").await;
    assert_eq!(
        got["Configuration"]["LoggingConfig"],
        json!({"LogFormat": "Text", "LogGroup": "/custom/orders"})
    );
    let id = s.invoke("py-json", json!({"n": 4})).await.body;
    let id = id.as_str().unwrap().to_string();
    let seen = records(&s, group, |r| {
        r.iter().any(|m| {
            m.as_str()
                .is_some_and(|t| t.starts_with(&format!("REPORT RequestId: {id}")))
        })
    })
    .await;
    assert!(
        seen.iter().any(|m| m
            .as_str()
            .is_some_and(|t| t.starts_with("[WARNING]") && t.ends_with("\tpy-warn"))),
        "{seen:?}"
    );
    // A traceback ends its line: the next output is a line of its own.
    assert!(seen.contains(&json!("KeyError: 'missing'")), "{seen:?}");
    assert!(seen.contains(&json!("py-print")), "{seen:?}");

    // Levels need JSON, as Lambda says.
    let (status, _, refused) = s
        .put_json(
            "/2015-03-31/functions/py-json/configuration",
            &json!({"LoggingConfig": {"ApplicationLogLevel": "DEBUG"}}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_runtime_writes_json_records_at_its_level() {
    let s = Server::start();
    s.create_with(json!({"FunctionName": "node-json", "Runtime": "nodejs20.x",
        "Handler": "index.handler", "Role": common::ROLE,
        "LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"},
        "Code": {"ZipFile": b64(&zip(&[("index.js", NODE, 0o644)]))}}))
        .await;
    let id = s.invoke("node-json", json!({"n": 7})).await.body;
    let id = id.as_str().unwrap().to_string();
    let group = "/aws/lambda/node-json";
    let seen = records(&s, group, |r| platform(r, "platform.report", &id).is_some()).await;
    let said = messages(&seen, &id);
    for want in ["DEBUG node-debug", "INFO node-info 7", "WARN node-warn"] {
        assert!(said.contains(&want.to_string()), "{want}: {seen:?}");
    }
    let error = seen
        .iter()
        .find(|r| r["level"] == "ERROR" && r["requestId"] == id.as_str())
        .unwrap();
    assert_eq!(error["errorType"], "TypeError");
    assert_eq!(error["errorMessage"], "node-error");
    assert!(
        error["stackTrace"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
}

/// One CloudWatch Logs call.
async fn logs_call(s: &Server, op: &str, body: Value) -> (u16, Value) {
    common::aws_json(s, &format!("Logs_20140328.{op}"), "1.1", body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn log_groups_are_described_and_kept_for_their_retention() {
    let s = Server::start();
    s.python(
        "keep",
        "def handler(event, context):\n    print('kept')\n    return 1\n",
    )
    .await;
    s.invoke("keep", json!({})).await;
    let group = "/aws/lambda/keep";
    let described = async || {
        let (status, page) = logs_call(
            &s,
            "DescribeLogGroups",
            json!({"logGroupNamePrefix": "/aws/lambda/k"}),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        page["logGroups"].as_array().unwrap().clone()
    };
    let mut groups = Vec::new();
    eventually(Duration::from_secs(10), async || {
        groups = described().await;
        !groups.is_empty()
    })
    .await;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["logGroupName"], group);
    assert_eq!(
        groups[0]["arn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/keep:*"
    );
    assert!(groups[0]["storedBytes"].as_u64().unwrap() > 0);
    assert!(groups[0].get("retentionInDays").is_none());
    let (_, none) = logs_call(
        &s,
        "DescribeLogGroups",
        json!({"logGroupNamePattern": "NOPE"}),
    )
    .await;
    assert_eq!(none["logGroups"], json!([]));

    let put = |days: u32| json!({"logGroupName": group, "retentionInDays": days});
    assert_eq!(logs_call(&s, "PutRetentionPolicy", put(7)).await.0, 200);
    assert_eq!(described().await[0]["retentionInDays"], 7);
    let (status, refused) = logs_call(&s, "PutRetentionPolicy", put(8)).await;
    assert_eq!(
        (status, &refused["__type"]),
        (400, &json!("InvalidParameterException"))
    );
    let missing = json!({"logGroupName": "/aws/lambda/none", "retentionInDays": 1});
    let (status, refused) = logs_call(&s, "PutRetentionPolicy", missing).await;
    assert_eq!(
        (status, &refused["__type"]),
        (400, &json!("ResourceNotFoundException"))
    );
    let (status, _) = logs_call(&s, "DeleteRetentionPolicy", json!({"logGroupName": group})).await;
    assert_eq!(status, 200);
    assert!(described().await[0].get("retentionInDays").is_none());

    // Streams last written three days ago go once a one-day policy is set.
    let dir = s.data_dir.join("logs").join("%2Faws%2Flambda%2Fkeep");
    for file in std::fs::read_dir(&dir).unwrap().flatten() {
        let touched = std::process::Command::new("touch")
            .args(["-d", "3 days ago"])
            .arg(file.path())
            .status()
            .unwrap();
        assert!(touched.success());
    }
    assert_eq!(logs_call(&s, "PutRetentionPolicy", put(1)).await.0, 200);
    assert_eq!(s.log_lines(group, "kept").await, Vec::<String>::new());
    // A new invocation's events are kept.
    s.invoke("keep", json!({})).await;
    assert!(
        eventually(Duration::from_secs(10), async || !s
            .log_lines(group, "kept")
            .await
            .is_empty())
        .await
    );
}

/// AWS CLI version 2 (`aws logs tail` exists only there): Debian's package, which the test
/// script installs.
fn aws_cli_v2() -> std::path::PathBuf {
    std::env::var_os("LAMINA_TEST_AWS2")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/bin/aws".into())
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_logs_tail_follows_new_events() {
    use std::io::BufRead;
    let s = Server::start();
    s.python(
        "tailed",
        "def handler(event, context):\n    print('said', event['word'])\n    return 1\n",
    )
    .await;
    // The group exists once the function has run, as in Lambda.
    s.invoke("tailed", json!({"word": "first"})).await;
    let mut child = std::process::Command::new(aws_cli_v2())
        .args(["--endpoint-url", &s.endpoint, "--region", "us-east-1"])
        .args([
            "logs",
            "tail",
            "/aws/lambda/tailed",
            "--follow",
            "--format",
            "short",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_PAGER", "")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("AWS CLI v2 at /usr/bin/aws (scripts/test.sh installs Debian's awscli)");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let wait_for = |word: &str, seen: &mut Vec<String>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.push(line);
            }
            if seen.iter().any(|l| l.contains(word)) {
                return true;
            }
        }
        false
    };
    let old = wait_for("said first", &mut seen);
    // Written after the tail started: it must follow.
    s.invoke("tailed", json!({"word": "later"})).await;
    let new = wait_for("said later", &mut seen);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        old && new,
        "lines: {seen:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        seen.iter().any(|l| l.contains("REPORT RequestId:")),
        "{seen:?}"
    );
}
