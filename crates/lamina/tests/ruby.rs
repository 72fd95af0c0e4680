//! The `rubyX.Y` runtimes against a real server and the host's Ruby (Debian's 3.1, which
//! scripts/test.sh installs): Lamina's Ruby bootstrap with the handler forms Lambda takes
//! (`file.method`, `file.Module::Class.method`) and keyword arguments `event:` and
//! `context:`, the context's fields, init once per environment, a layer's `ruby/lib`, errors
//! in Lambda's Ruby shapes (`Function<...>` and `Init<...>`), a timeout, and a Lambda
//! identifier served by a stand-in that names itself; and a runtime started ahead of time.

mod common;

use common::{ROLE, Server, b64, zip};
use serde_json::json;

const APP: &str = r#"require 'json'
require 'greeting'

$inits = ($inits || 0) + 1

def handler(event:, context:)
  puts "got #{event.to_json}"
  {
    event: event,
    inits: $inits,
    request_id: context.aws_request_id,
    function_name: context.function_name,
    function_version: context.function_version,
    arn: context.invoked_function_arn,
    memory: context.memory_limit_in_mb,
    remaining: context.get_remaining_time_in_millis,
    log_group: context.log_group_name,
    execution_env: ENV['AWS_EXECUTION_ENV'],
    ruby: RUBY_VERSION,
    greeting: Greeting.hello,
    trace: ENV['_X_AMZN_TRACE_ID'],
  }
end

def fail(event:, context:)
  raise ArgumentError, "no such order: #{event['id']}"
end

def slow(event:, context:)
  sleep 5
end

module Orders
  class Handler
    def self.process(event:, context:)
      "processed #{event['id']}"
    end
  end
end
"#;

#[tokio::test(flavor = "multi_thread")]
async fn ruby_handlers_run_as_lambdas_ruby_runtime_runs_them() {
    let s = Server::start();
    let (st, _, layer) = s
        .post_json(
            "/2018-10-31/layers/greeting/versions",
            &json!({"Content": {"ZipFile": b64(&zip(&[(
                "ruby/lib/greeting.rb",
                "module Greeting\n  def self.hello\n    'hello from a layer'\n  end\nend\n",
                0o644,
            )]))}}),
        )
        .await;
    assert_eq!(st, 201, "{layer}");
    let layers = json!([layer["LayerVersionArn"]]);
    let create = |name: &'static str, handler: &'static str, timeout: u32| {
        let files = [("app.rb", APP, 0o644), ("bad.rb", "def handler(\n", 0o644)];
        let body = json!({
            "FunctionName": name, "Runtime": "ruby3.3", "Handler": handler, "Role": ROLE,
            "Code": {"ZipFile": b64(&zip(&files))}, "Layers": layers, "Timeout": timeout,
            "MemorySize": 192,
        });
        let s = &s;
        async move { s.create_with(body).await }
    };
    create("facts", "app.handler", 10).await;
    create("fails", "app.fail", 10).await;
    create("class", "app.Orders::Handler.process", 10).await;
    create("slow", "app.slow", 1).await;
    create("absent", "missing.handler", 10).await;
    create("syntax", "bad.handler", 10).await;
    create("nomethod", "app.nothing", 10).await;

    let out = s.invoke("facts", json!({"id": 7, "tags": ["a"]})).await;
    assert_eq!(out.function_error, None, "{:?} {}", out.body, out.log);
    let b = &out.body;
    assert_eq!(b["event"], json!({"id": 7, "tags": ["a"]}));
    assert_eq!(b["inits"], 1);
    assert_eq!(b["function_name"], "facts");
    assert_eq!(b["function_version"], "$LATEST");
    assert!(
        b["arn"].as_str().unwrap().ends_with(":function:facts"),
        "{b}"
    );
    assert_eq!(b["memory"], "192");
    let remaining = b["remaining"].as_i64().unwrap();
    assert!(remaining > 5_000 && remaining <= 10_000, "{b}");
    assert_eq!(b["log_group"], "/aws/lambda/facts");
    assert_eq!(b["request_id"].as_str().unwrap().len(), 36, "{b}");
    assert_eq!(b["greeting"], "hello from a layer");
    assert!(b["trace"].as_str().unwrap().starts_with("Root=1-"), "{b}");
    // The host's Ruby serves ruby3.3 only as a stand-in when it is another version, and
    // then says which.
    let ruby = b["ruby"].as_str().unwrap().to_string();
    let (major, minor) = {
        let mut parts = ruby.split('.');
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    };
    assert_eq!(
        b["execution_env"],
        format!("AWS_Lambda_ruby{major}.{minor}"),
        "{b}"
    );
    assert!(
        out.log.contains(r#"got {"id":7,"tags":["a"]}"#),
        "{}",
        out.log
    );
    let again = s.invoke("facts", json!({})).await;
    assert_eq!(again.body["inits"], 1, "the handler's file is loaded once");

    let out = s.invoke("class", json!({"id": 9})).await;
    assert_eq!(out.body, json!("processed 9"), "{}", out.log);

    let out = s.invoke("fails", json!({"id": 3})).await;
    out.assert_error("raised", "Function<ArgumentError>", "no such order: 3");
    let trace = out.body["stackTrace"].as_array().unwrap();
    assert!(
        trace[0].as_str().unwrap().starts_with("/var/task/app.rb:"),
        "the handler's own frame first: {trace:?}"
    );
    assert!(
        trace
            .iter()
            .all(|f| !f.as_str().unwrap().contains("/var/runtime")),
        "no frame of the runtime: {trace:?}"
    );
    assert!(out.log.contains("Function<ArgumentError>"), "{}", out.log);

    let out = s.invoke("slow", json!({})).await;
    out.assert_error(
        "timeout",
        "Sandbox.Timedout",
        "Task timed out after 1.00 seconds",
    );

    let out = s.invoke("absent", json!({})).await;
    out.assert_error("no file", "Init<LoadError>", "missing");
    let out = s.invoke("syntax", json!({})).await;
    out.assert_error("bad file", "Init<SyntaxError>", "bad.rb");
    let out = s.invoke("nomethod", json!({})).await;
    out.assert_error("no method", "Function<NoMethodError>", "nothing");
}

const PROBE: &str = r#"
def handler(event:, context:)
  {
    name: ENV['AWS_LAMBDA_FUNCTION_NAME'],
    mine: ENV['MINE'],
    await: ENV['LAMINA_AWAIT_FUNCTION'],
    child_saw: `echo "$MINE"`.strip,
    function_name: context.function_name,
    cwd: Dir.pwd,
    data: File.read('data.txt'),
    stdin: File.readlink('/proc/self/fd/0'),
  }
end
"#;

/// A Ruby runtime started ahead of time (`--runtime-pool 1`) is claimed by a cold start and
/// becomes its function: its environment (a child's too), working directory and input.
#[tokio::test(flavor = "multi_thread")]
async fn a_prestarted_ruby_runtime_becomes_its_function() {
    let s = Server::start_with(&["--runtime-pool", "1"], None);
    let files = zip(&[
        ("app.rb", PROBE, 0o644),
        ("data.txt", "from the package", 0o644),
    ]);
    let (name, out) = s
        .claim_prestarted("probe", |name| {
            json!({
                "FunctionName": name, "Runtime": "ruby3.3", "Handler": "app.handler", "Role": ROLE,
                "Code": {"ZipFile": b64(&files)},
                "Environment": {"Variables": {"MINE": format!("value-of-{name}")}},
            })
        })
        .await;
    let mine = format!("value-of-{name}");
    assert_eq!(out["name"], name.as_str(), "{out}");
    assert_eq!(out["function_name"], name.as_str());
    assert_eq!(out["mine"], mine.as_str());
    assert_eq!(
        out["await"],
        serde_json::Value::Null,
        "the waiting signal is gone"
    );
    assert_eq!(out["child_saw"], mine.as_str());
    assert_eq!(out["cwd"], "/var/task");
    assert_eq!(out["data"], "from the package");
    assert_eq!(out["stdin"], "/dev/null");
}
