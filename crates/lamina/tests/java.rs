//! The `javaN` runtimes against a real server and the host's JDK: Lamina's own Java runtime
//! running handlers compiled here against the `com.amazonaws.services.lambda.runtime`
//! interfaces it provides (fixtures/java): a POJO handler, a method handler with maps and
//! the context's fields, a stream handler, thrown exceptions with causes, a timeout, a
//! class from a layer's `java/lib`, init errors, and both package forms Lambda takes (a
//! plain jar, and a zip of classes with `lib/*.jar`).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ROLE, Server, b64};
use serde_json::{Value, json};

/// The JDK's major version (`javac -version`), which names the runtime (`java17`).
fn jdk_major() -> u32 {
    let out = Command::new("javac")
        .arg("-version")
        .output()
        .expect("javac (a JDK) is installed by scripts/test.sh");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("javac -version said {text:?}"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/java")
}

/// Compiles `sources` (under fixtures/java) against `classpath` into `out`.
fn javac(classpath: &[&Path], sources: &[&str], out: &Path) {
    let cp = classpath
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let status = Command::new("javac")
        .args(["--release", "11", "-encoding", "UTF-8", "-cp", &cp, "-d"])
        .arg(out)
        .args(sources.iter().map(|s| fixtures().join(s)))
        .status()
        .unwrap();
    assert!(status.success(), "javac {sources:?}");
}

/// A zip of every file under `dir`, named relative to it, under `prefix`.
fn zip_dir(dir: &Path, prefix: &str, into: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>) {
    fn walk(
        dir: &Path,
        base: &Path,
        prefix: &str,
        w: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
    ) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            if path.is_dir() {
                walk(&path, base, prefix, w);
            } else {
                let name = format!("{prefix}{}", path.strip_prefix(base).unwrap().display());
                w.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                w.write_all(&std::fs::read(&path).unwrap()).unwrap();
            }
        }
    }
    walk(dir, dir, prefix, into);
}

fn new_zip() -> zip::ZipWriter<std::io::Cursor<Vec<u8>>> {
    zip::ZipWriter::new(std::io::Cursor::new(Vec::new()))
}

fn jar_of(dir: &Path) -> Vec<u8> {
    let mut w = new_zip();
    zip_dir(dir, "", &mut w);
    w.finish().unwrap().into_inner()
}

struct Packages {
    /// A Lambda-style zip: the classes at its root, the helper in `lib/helper.jar`.
    zip: Vec<u8>,
    /// A plain jar of the classes and the helper's.
    jar: Vec<u8>,
    /// A layer whose `java/lib/greeter.jar` holds `layer.Greeter`.
    layer: Vec<u8>,
}

fn packages(runtime_jar: &Path) -> Packages {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let (helper, layer, classes, all) = (dir("helper"), dir("layer"), dir("classes"), dir("all"));
    let (helper, layer) = (helper.as_path(), layer.as_path());
    javac(&[runtime_jar], &["helper/Helper.java"], helper);
    javac(&[runtime_jar], &["layer/Greeter.java"], layer);
    let sources = [
        "example/Orders.java",
        "example/Facts.java",
        "example/Upper.java",
        "example/Fails.java",
    ];
    javac(&[runtime_jar, helper, layer], &sources, &classes);
    let mut with_helper = sources.to_vec();
    with_helper.push("helper/Helper.java");
    javac(&[runtime_jar, layer], &with_helper, &all);

    let mut zip = new_zip();
    zip_dir(&classes, "", &mut zip);
    zip.start_file("lib/helper.jar", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&jar_of(helper)).unwrap();
    let mut layer_zip = new_zip();
    layer_zip
        .start_file(
            "java/lib/greeter.jar",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    layer_zip.write_all(&jar_of(layer)).unwrap();
    Packages {
        zip: zip.finish().unwrap().into_inner(),
        jar: jar_of(&all),
        layer: layer_zip.finish().unwrap().into_inner(),
    }
}

async fn create(s: &Server, name: &str, runtime: &str, handler: &str, code: &[u8], extra: Value) {
    let mut body = json!({
        "FunctionName": name, "Runtime": runtime, "Handler": handler, "Role": ROLE,
        "Code": {"ZipFile": b64(code)}, "Timeout": 10, "MemorySize": 256,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    s.create_with(body).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn java_handlers_run_as_lambdas_java_runtime_runs_them() {
    let s = Server::start();
    let runtime = format!("java{}", jdk_major());
    let runtime_jar = s.data_dir.join("runtimes/java/lamina-runtime.jar");
    assert!(
        std::fs::metadata(&runtime_jar).is_ok_and(|m| m.len() > 0),
        "the server wrote its Java runtime"
    );
    let p = packages(&runtime_jar);
    let (st, _, layer) = s
        .post_json(
            "/2018-10-31/layers/greeter/versions",
            &json!({"Content": {"ZipFile": b64(&p.layer)}, "CompatibleRuntimes": [runtime]}),
        )
        .await;
    assert_eq!(st, 201, "{layer}");
    let layer_arn = layer["LayerVersionArn"].clone();

    create(&s, "orders", &runtime, "example.Orders", &p.zip, json!({})).await;
    create(
        &s,
        "facts",
        &runtime,
        "example.Facts::handle",
        &p.zip,
        json!({"Environment": {"Variables": {"JAVA_TOOL_OPTIONS": "-Dgreeting=hi"}},
               "LoggingConfig": {"LogFormat": "Text"}}),
    )
    .await;
    create(
        &s,
        "facts-jar",
        &runtime,
        "example.Facts::handle",
        &p.jar,
        json!({}),
    )
    .await;
    create(&s, "upper", &runtime, "example.Upper", &p.jar, json!({})).await;
    create(&s, "fails", &runtime, "example.Fails", &p.jar, json!({})).await;
    create(
        &s,
        "greet",
        &runtime,
        "example.Fails::greet",
        &p.jar,
        json!({}),
    )
    .await;
    create(
        &s,
        "sleeps",
        &runtime,
        "example.Fails::sleep",
        &p.jar,
        json!({"Timeout": 1}),
    )
    .await;
    create(
        &s,
        "layered",
        &runtime,
        "example.Fails::layered",
        &p.jar,
        json!({"Layers": [layer_arn]}),
    )
    .await;
    create(&s, "missing", &runtime, "example.Absent", &p.jar, json!({})).await;
    create(
        &s,
        "nomethod",
        &runtime,
        "example.Fails::absent",
        &p.jar,
        json!({}),
    )
    .await;

    // A POJO in and out, the same environment twice (init once).
    let order =
        json!({"item": "book", "quantity": 12, "price": 2.5, "tags": ["gift"], "unknown": 1});
    let out = s.invoke("orders", order.clone()).await;
    assert_eq!(out.function_error, None, "{:?} {}", out.body, out.log);
    assert_eq!(
        out.body,
        json!({"item": "book", "total": 30.0, "bulk": true, "tags": ["gift"]})
    );
    assert!(out.log.contains("ordering book (call 1)"), "{}", out.log);
    assert!(out.report_field("Init Duration").is_some(), "{}", out.log);
    let again = s.invoke("orders", order).await;
    assert!(
        again.log.contains("ordering book (call 2)"),
        "{}",
        again.log
    );
    assert!(
        again.report_field("Init Duration").is_none(),
        "{}",
        again.log
    );

    // The context, JAVA_TOOL_OPTIONS, Lambda's JVM flags and a class from lib/helper.jar.
    let out = s.invoke("facts", json!({"k": [1, 2.5, null, true]})).await;
    assert_eq!(out.function_error, None, "{:?} {}", out.body, out.log);
    let b = &out.body;
    assert_eq!(b["event"], json!({"k": [1, 2.5, null, true]}));
    assert_eq!(b["functionName"], "facts");
    assert_eq!(b["functionVersion"], "$LATEST");
    assert!(
        b["arn"].as_str().unwrap().ends_with(":function:facts"),
        "{b}"
    );
    assert_eq!(b["memory"], 256);
    let remaining = b["remaining"].as_i64().unwrap();
    assert!(remaining > 5_000 && remaining <= 10_000, "{b}");
    assert_eq!(b["logGroup"], "/aws/lambda/facts");
    assert!(
        b["logStream"].as_str().unwrap().contains("[$LATEST]"),
        "{b}"
    );
    assert_eq!(b["executionEnv"], format!("AWS_Lambda_{runtime}"));
    assert_eq!(b["greeting"], "hi");
    assert_eq!(b["javaVersion"], jdk_major().to_string());
    let heap = b["maxHeapMb"].as_i64().unwrap();
    assert!((180..=230).contains(&heap), "85% of 256 MB, got {heap}");
    assert!(b["trace"].as_str().unwrap().starts_with("Root=1-"), "{b}");
    assert_eq!(b["helper"], "helper from lib/helper.jar");
    assert_eq!(
        b["requestId"].as_str().unwrap().len(),
        36,
        "a request id: {b}"
    );
    assert!(out.log.contains("from System.out"), "{}", out.log);
    assert!(
        out.log.contains("first line\rsecond line"),
        "one event: {:?}",
        out.log
    );
    assert!(out.log.contains("[DEBUG] a debug line"), "{}", out.log);
    assert!(out.log.contains("from LambdaRuntime"), "{}", out.log);
    assert!(
        out.log
            .contains("Picked up JAVA_TOOL_OPTIONS: -Dgreeting=hi"),
        "{}",
        out.log
    );

    // The same classes as one plain jar.
    let out = s.invoke("facts-jar", json!({"from": "jar"})).await;
    assert_eq!(out.function_error, None, "{:?} {}", out.body, out.log);
    assert_eq!(out.body["helper"], "helper from lib/helper.jar");
    assert_eq!(out.body["greeting"], Value::Null);

    // A stream handler gets the bytes as sent.
    let (st, _, body) = s
        .invoke_raw("upper", b"{\"say\": \"hello\"}".to_vec(), &[])
        .await;
    assert_eq!(st, 200);
    assert_eq!(body, b"{\"SAY\": \"HELLO\"}");

    // A thrown exception: its class, message, the handler's own frames, and its cause.
    let out = s.invoke("fails", json!({})).await;
    out.assert_error(
        "thrown",
        "java.lang.IllegalStateException",
        "the order cannot be paid",
    );
    let frames = out.body["stackTrace"].as_array().unwrap();
    assert!(
        frames[0]
            .as_str()
            .unwrap()
            .starts_with("example.Fails.handleRequest(Fails.java:"),
        "{frames:?}"
    );
    assert!(
        frames
            .iter()
            .all(|f| !f.as_str().unwrap().contains("lamina.runtime")),
        "the runtime's frames are cut: {frames:?}"
    );
    assert_eq!(
        out.body["cause"]["errorType"],
        "java.lang.IllegalArgumentException"
    );
    assert_eq!(out.body["cause"]["errorMessage"], "card declined");
    assert!(
        out.log
            .contains("java.lang.IllegalStateException: the order cannot be paid"),
        "{}",
        out.log
    );

    // A String parameter takes a JSON string, and refuses an object as Lambda does.
    let out = s.invoke("greet", json!("World")).await;
    assert_eq!(out.body, json!("Hello, World"), "{}", out.log);
    let out = s.invoke("greet", json!({"name": "World"})).await;
    out.assert_error(
        "not a string",
        "java.lang.RuntimeException",
        "An error occurred during JSON parsing",
    );
    assert_eq!(
        out.body["cause"]["errorType"],
        "java.io.UncheckedIOException"
    );

    // A class from a layer's java/lib.
    let out = s.invoke("layered", json!({})).await;
    assert_eq!(out.body, json!("greetings from a layer"), "{}", out.log);

    // Past its timeout.
    let out = s.invoke("sleeps", json!({})).await;
    out.assert_error(
        "timeout",
        "Sandbox.Timedout",
        "Task timed out after 1.00 seconds",
    );

    // Handlers that do not exist fail the init, as Lambda's Java runtime reports them.
    let out = s.invoke("missing", json!({})).await;
    out.assert_error(
        "no class",
        "java.lang.ClassNotFoundException",
        "Class not found: example.Absent",
    );
    let out = s.invoke("nomethod", json!({})).await;
    out.assert_error(
        "no method",
        "java.lang.RuntimeException",
        "No public method named absent with appropriate method signature found on class example.Fails",
    );
}

/// JVMs started ahead of time, one template per memory size (a JVM's heap is fixed at its
/// start): a cold start takes one and it becomes its function, with nothing to tell it from
/// a JVM started for it (environment, also a child's, working directory, heap, standard
/// input). A function whose variables the JVM reads at start gets a JVM of its own.
/// `example.Probe` compiled against the server's runtime jar, with a `data.txt`.
fn probe_package(s: &Server) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let classes = tmp.path().join("classes");
    javac(
        &[&s.data_dir.join("runtimes/java/lamina-runtime.jar")],
        &["example/Probe.java"],
        &classes,
    );
    let mut zip = new_zip();
    zip_dir(&classes, "", &mut zip);
    zip.start_file("data.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"from the package").unwrap();
    zip.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prestarted_jvm_becomes_its_function() {
    let s = Server::start_with(&["--runtime-pool", "1"], None);
    let runtime = format!("java{}", jdk_major());
    let code = probe_package(&s);
    let (name, out) = s
        .claim_prestarted("probe", |name| {
            json!({"FunctionName": name, "Runtime": runtime, "Handler": "example.Probe::handle",
                   "Role": ROLE, "Code": {"ZipFile": b64(&code)}, "Timeout": 10,
                   "MemorySize": 512,
                   "Environment": {"Variables": {"MINE": format!("value-of-{name}")}}})
        })
        .await;
    let mine = format!("value-of-{name}");
    assert_eq!(out["name"], name.as_str(), "{out}");
    assert_eq!(out["functionName"], name.as_str());
    assert_eq!(out["handler"], "example.Probe::handle");
    assert_eq!(out["mine"], mine.as_str());
    assert_eq!(out["await"], Value::Null, "the waiting signal is gone");
    assert_eq!(
        out["childSaw"],
        mine.as_str(),
        "a child sees the function's environment"
    );
    assert_eq!(out["memory"], 512);
    let heap = out["maxHeapMb"].as_i64().unwrap();
    assert!((380..=440).contains(&heap), "85% of 512 MB, got {heap}");
    assert_eq!(out["cwd"], "/var/task");
    assert_eq!(out["classPath"], "/var/runtime/java/lamina-runtime.jar");
    assert_eq!(
        out["data"], "from the package",
        "relative paths open in /var/task"
    );
    assert_eq!(out["stdin"], "/dev/null");
    assert_eq!(out["stdinBytes"], -1);
    // The runtime's classes come from the class-data sharing archive made for this JDK.
    assert_eq!(out["archive"], true, "{out}");

    // JAVA_TOOL_OPTIONS is read by the JVM as it starts: no JVM started ahead serves it.
    // Four first invocations at once, as a burst: beyond the sandboxes built ahead, a JVM
    // starts in a sandbox built for it, with the class-data sharing archive made for this
    // JDK; in one built ahead (which has the runtime files every runtime shares), without.
    let extra = json!({"MemorySize": 512,
                       "Environment": {"Variables": {"JAVA_TOOL_OPTIONS": "-Dx=1", "MINE": "own"}}});
    for i in 0..4 {
        let name = format!("own-jvm-{i}");
        create(
            &s,
            &name,
            &runtime,
            "example.Probe::handle",
            &code,
            extra.clone(),
        )
        .await;
    }
    let event = json!({});
    let burst = tokio::join!(
        s.first_invoke("own-jvm-0", &event),
        s.first_invoke("own-jvm-1", &event),
        s.first_invoke("own-jvm-2", &event),
        s.first_invoke("own-jvm-3", &event),
    );
    let mut built_for_it = 0;
    for (out, ahead) in [burst.0, burst.1, burst.2, burst.3] {
        assert_ne!(ahead, "runtime", "{out}");
        assert_eq!(out["mine"], "own", "{out}");
        assert_eq!(out["data"], "from the package");
        assert_eq!(out["archive"], ahead == "none", "{ahead}: {out}");
        assert_eq!(out["classPath"], "/var/runtime/java/lamina-runtime.jar");
        built_for_it += usize::from(ahead == "none");
    }
    assert!(built_for_it > 0, "a burst beyond the sandboxes built ahead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_processes_are_given_no_archive_they_could_not_use() {
    // An archive names the runtime's jar relative to /var/task, as sandboxes lay them out:
    // without a sandbox none is made (it would cost each JVM's first use its making).
    let s = Server::start_with(&["--isolation", "none"], None);
    let code = probe_package(&s);
    let runtime = format!("java{}", jdk_major());
    create(
        &s,
        "plain",
        &runtime,
        "example.Probe::handle",
        &code,
        json!({}),
    )
    .await;
    let (out, _) = s.first_invoke("plain", &json!({})).await;
    assert_eq!(out["functionName"], "plain", "{out}");
    assert_eq!(out["archive"], false, "{out}");
    assert!(!s.data_dir.join("java-archives").exists());
}
