//! Lambda's environment contract: the variables a runtime starts with, and the trace header
//! each invocation carries. Pure functions of a version and where the launcher puts things.

use std::fmt::Write as _;

use lamina_model::runtime::RuntimeId;

use crate::launcher::Layout;
use crate::runtimes::RuntimeCommand;
use crate::version::FunctionVersion;

/// Set in the environment of a runtime started ahead of time: its function's environment
/// arrives on standard input (a JSON object) once it is claimed. The bootstraps wait for it.
pub const AWAIT_FUNCTION_VAR: &str = "LAMINA_AWAIT_FUNCTION";

/// The invocation's X-Ray trace header: the caller's trace (its `Root` and `Sampled`) when
/// its `X-Amzn-Trace-Id` names one, else a new trace; a new `Parent`, the invocation's own
/// segment, either way. A caller that made no sampling decision is sampled when the function's
/// tracing is `active` (every such invocation: Lamina has no X-Ray sampling quota to keep).
pub(crate) fn trace_id(caller: Option<&str>, active: bool) -> String {
    let field = |name: &str| {
        caller?
            .split(';')
            .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
    };
    // Root=1-<8 hex: epoch seconds>-<24 hex>
    let valid_root = |r: &&str| {
        let parts: Vec<&str> = r.split('-').collect();
        parts.len() == 3
            && parts[0] == "1"
            && parts[1].len() == 8
            && parts[2].len() == 24
            && parts[1..]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    // One string, written once: this runs for every invocation.
    let mut out = String::with_capacity(96);
    out.push_str("Root=");
    match field("Root").filter(valid_root) {
        Some(root) => out.push_str(root),
        None => {
            let now = chrono::Utc::now().timestamp() as u32;
            let mut hex = uuid::Uuid::encode_buffer();
            let a = uuid::Uuid::new_v4().simple().encode_lower(&mut hex);
            let _ = write!(out, "1-{now:08x}-{}", &a[..24]);
        }
    }
    let sampled = match field("Sampled") {
        Some("1") => "1",
        Some("0") => "0",
        _ if active => "1",
        _ => "0",
    };
    let mut hex = uuid::Uuid::encode_buffer();
    let b = uuid::Uuid::new_v4().simple().encode_lower(&mut hex);
    for part in [
        ";Parent=",
        &b[..16],
        ";Sampled=",
        sampled,
        ";Lineage=1:",
        &b[16..24],
        ":0",
    ] {
        out.push_str(part);
    }
    out
}

/// The environment Lambda gives a runtime, built from scratch: nothing of the platform's own
/// environment is passed on.
pub(crate) fn environment_variables(
    version: &FunctionVersion,
    stream: &str,
    command: &RuntimeCommand,
    seen: &Layout,
    egress_allowed: bool,
    provisioned: bool,
) -> Vec<(String, String)> {
    let task_root = seen.task_root.display().to_string();
    let runtime_dir = seen.runtime_dir.display().to_string();
    let opt = seen.opt.display().to_string();
    let mut path = String::new();
    if let Some(bin) = &command.bin_dir {
        path.push_str(&bin.display().to_string());
        path.push(':');
    }
    path.push_str(&format!("/usr/local/bin:/usr/bin/:/bin:{opt}/bin"));
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), version.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            version.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_VERSION".into(),
            version.version.clone(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            version.log_group.clone(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream.to_string()),
        (
            "AWS_LAMBDA_INITIALIZATION_TYPE".into(),
            if provisioned {
                "provisioned-concurrency"
            } else {
                "on-demand"
            }
            .into(),
        ),
        ("AWS_REGION".into(), version.region.clone()),
        ("AWS_DEFAULT_REGION".into(), version.region.clone()),
        ("LAMBDA_TASK_ROOT".into(), task_root.clone()),
        ("LAMBDA_RUNTIME_DIR".into(), runtime_dir.clone()),
        ("_HANDLER".into(), version.handler.clone()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("PATH".into(), path),
        (
            "LD_LIBRARY_PATH".into(),
            format!(
                "/lib64:/usr/lib64:{runtime_dir}:{runtime_dir}/lib:{task_root}:\
                 {task_root}/lib:{opt}/lib"
            ),
        ),
        ("AWS_XRAY_CONTEXT_MISSING".into(), "LOG_ERROR".into()),
    ];
    env.extend(version.logging.environment());
    // A stand-in interpreter is named as what it is.
    let actual = command.actual.unwrap_or(version.runtime);
    if let Some(exec_env) = actual.execution_env() {
        env.push(("AWS_EXECUTION_ENV".into(), exec_env));
    }
    match version.runtime {
        RuntimeId::Python { minor } => {
            // As Lambda: layers' packages under /opt/python come before the runtime's.
            env.push((
                "PYTHONPATH".into(),
                format!(
                    "{runtime_dir}/python:{opt}/python/lib/python3.{minor}/site-packages:{opt}/python"
                ),
            ));
        }
        RuntimeId::Node { major } => {
            env.push((
                "NODE_PATH".into(),
                format!(
                    "{opt}/nodejs/node{major}/node_modules:{opt}/nodejs/node_modules:\
                     {runtime_dir}/node:{task_root}"
                ),
            ));
        }
        RuntimeId::Ruby { .. } => {
            // As Lambda's Ruby runtimes: the package's vendored gems, then the layers'.
            let abi = match actual {
                RuntimeId::Ruby { major, minor } => format!("{major}.{minor}.0"),
                _ => String::new(),
            };
            env.push((
                "GEM_PATH".into(),
                format!("{task_root}/vendor/bundle/ruby/{abi}:{opt}/ruby/gems/{abi}"),
            ));
            env.push((
                "RUBYLIB".into(),
                format!("{task_root}:{runtime_dir}/ruby:{opt}/ruby/lib"),
            ));
        }
        RuntimeId::Java { .. } | RuntimeId::Provided(_) => {}
    }
    // The only way out of a sandbox is its proxy: say where it is, as clients expect.
    if let Some(proxy) = seen
        .egress_proxy
        .as_ref()
        .filter(|_| version.egress && egress_allowed)
    {
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            env.push((key.into(), proxy.clone()));
        }
        for key in ["NO_PROXY", "no_proxy"] {
            env.push((key.into(), "localhost,127.0.0.1".into()));
        }
    }
    // The user's variables come last: they may override the unreserved defaults (PATH, TZ,
    // ...); reserved names were refused when the configuration was saved.
    for (k, v) in &version.environment {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    fn version(runtime: RuntimeId, vars: &[(&str, &str)]) -> FunctionVersion {
        let mut v = FunctionVersion::runtime_template(runtime);
        v.name = "orders".into();
        v.version = "7".into();
        v.memory_mb = 256;
        v.log_group = "/aws/lambda/orders".into();
        v.region = "eu-west-1".into();
        v.handler = "app.handler".into();
        v.environment = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>();
        v
    }

    fn layout(proxy: Option<&str>) -> Layout {
        Layout {
            task_root: PathBuf::from("/var/task"),
            runtime_dir: PathBuf::from("/var/runtime"),
            opt: PathBuf::from("/opt"),
            egress_proxy: proxy.map(String::from),
        }
    }

    fn command(bin: Option<&str>) -> RuntimeCommand {
        RuntimeCommand {
            program: PathBuf::from("/var/runtime/bootstrap"),
            args: vec![],
            bin_dir: bin.map(PathBuf::from),
            actual: None,
            runtime_dir: None,
        }
    }

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        let found: Vec<_> = env.iter().filter(|(k, _)| k == key).collect();
        assert!(found.len() <= 1, "{key} is set {} times", found.len());
        found.first().map(|(_, v)| v.as_str())
    }

    #[test]
    fn lambdas_reserved_variables() {
        let v = version(RuntimeId::Python { minor: 12 }, &[]);
        let env = environment_variables(
            &v,
            "2026/12/04/[7]abc",
            &command(None),
            &layout(None),
            true,
            false,
        );
        let expected = [
            ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orders"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/04/[7]abc"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
            ("_HANDLER", "app.handler"),
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12"),
            ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"),
            (
                "PYTHONPATH",
                "/var/runtime/python:/opt/python/lib/python3.12/site-packages:/opt/python",
            ),
        ];
        for (key, value) in expected {
            assert_eq!(get(&env, key), Some(value), "{key}");
        }
        assert!(
            get(&env, "LD_LIBRARY_PATH")
                .unwrap()
                .contains("/var/task/lib:/opt/lib")
        );
        // Nothing of the platform's own environment, and no proxy without one.
        assert_eq!(get(&env, "HOME"), None);
        assert_eq!(get(&env, "HTTPS_PROXY"), None);
        assert_eq!(get(&env, "NODE_PATH"), None);
    }

    #[test]
    fn per_runtime_and_per_start_variables() {
        let node = version(RuntimeId::Node { major: 22 }, &[]);
        let env = environment_variables(
            &node,
            "s",
            &command(Some("/opt/node/bin")),
            &layout(None),
            true,
            true,
        );
        assert_eq!(
            get(&env, "AWS_LAMBDA_INITIALIZATION_TYPE"),
            Some("provisioned-concurrency")
        );
        assert_eq!(
            get(&env, "AWS_EXECUTION_ENV"),
            Some("AWS_Lambda_nodejs22.x")
        );
        assert!(
            get(&env, "NODE_PATH")
                .unwrap()
                .starts_with("/opt/nodejs/node22/node_modules:")
        );
        // The interpreter's own directory comes first on PATH.
        assert!(
            get(&env, "PATH")
                .unwrap()
                .starts_with("/opt/node/bin:/usr/local/bin")
        );
        assert_eq!(get(&env, "PYTHONPATH"), None);
    }

    #[test]
    fn proxy_only_when_the_function_and_the_server_allow_egress() {
        let proxy = "http://169.254.100.1:9100";
        let mut v = version(RuntimeId::Python { minor: 12 }, &[]);
        let cases = [
            (true, true, true),
            (true, false, false),
            (false, true, false),
        ];
        for (function, server, expect) in cases {
            v.egress = function;
            let env =
                environment_variables(&v, "s", &command(None), &layout(Some(proxy)), server, false);
            for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                assert_eq!(get(&env, key), expect.then_some(proxy), "{key}");
            }
            assert_eq!(
                get(&env, "NO_PROXY"),
                expect.then_some("localhost,127.0.0.1")
            );
        }
    }

    #[test]
    fn the_users_variables_come_last_and_override_unreserved_defaults() {
        let v = version(
            RuntimeId::Python { minor: 12 },
            &[("TZ", "Europe/Lisbon"), ("STAGE", "prod")],
        );
        let env = environment_variables(&v, "s", &command(None), &layout(None), true, false);
        assert_eq!(get(&env, "TZ"), Some("Europe/Lisbon"));
        assert_eq!(env.last().map(|(k, _)| k.as_str()), Some("TZ"));
        assert_eq!(get(&env, "STAGE"), Some("prod"));
    }

    #[test]
    fn trace_header_has_xrays_shape() {
        let id = trace_id(None, false);
        let parts: Vec<&str> = id.split(';').collect();
        assert_eq!(parts.len(), 4, "{id}");
        let root = parts[0].strip_prefix("Root=1-").unwrap();
        let (time, rest) = root.split_once('-').unwrap();
        assert_eq!((time.len(), rest.len()), (8, 24));
        assert_eq!(parts[1].strip_prefix("Parent=").map(str::len), Some(16));
        assert_eq!(parts[2], "Sampled=0");
        assert_ne!(trace_id(None, false), id);
        let caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let joined = trace_id(Some(caller), false);
        assert!(
            joined.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=")
                && joined.contains(";Sampled=1;")
                && !joined.contains("53995c3f42cd8ad8"),
            "{joined}"
        );
        // Active tracing samples what the caller left undecided, never against its decision.
        assert!(trace_id(None, true).contains(";Sampled=1;"));
        let declined = caller.replace("Sampled=1", "Sampled=0");
        assert!(trace_id(Some(&declined), true).contains(";Sampled=0;"));
        let undecided = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
        assert!(trace_id(Some(undecided), true).contains(";Sampled=1;"));
        assert!(trace_id(Some(undecided), false).contains(";Sampled=0;"));
        for bad in ["Root=2-1-2", "Root=1-xyz-bd862e3fe1be46a994272793", ""] {
            let fresh = trace_id(Some(bad), false);
            assert!(
                fresh.starts_with("Root=1-") && !fresh.contains("xyz") && fresh.len() > 60,
                "{bad}: {fresh}"
            );
        }
    }
}
