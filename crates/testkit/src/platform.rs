//! [`TestPlatform`]: a whole platform in the test's process, on in-memory function records
//! and event queue (code and logs in a temporary directory), with a [`ScriptedLauncher`],
//! serving the real HTTP API on a free loopback port. Timings are short so that retries and
//! reaping happen within a test.

use std::sync::Arc;
use std::time::Duration;

use lamina_executor::{ExecutorConfig, RuntimeCatalog};
use lamina_model::Identity;
use lamina_model::function::{CreateFunctionRequest, FunctionCode};
use lamina_platform::{AsyncConfig, Parts, Platform, PlatformConfig};
use lamina_queue::{Clock, Limits, MemoryQueue};
use lamina_store::{CodeStore, LogStore, MemoryStore, Reserve};
use tokio::sync::oneshot;

use crate::ScriptedLauncher;

/// A running in-process platform; stopped when dropped.
pub struct TestPlatform {
    /// The platform itself, for calls without HTTP.
    pub platform: Platform,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The launcher, to script handlers and count launches.
    pub launcher: ScriptedLauncher,
    /// The clock the event queue and its dispatcher read.
    pub clock: Clock,
    queue: Arc<MemoryQueue>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestPlatform {
    /// The configuration tests start from: one region and account, short retry delays,
    /// nothing started ahead, no freezing, no memory budget.
    pub fn config() -> PlatformConfig {
        PlatformConfig {
            identity: Identity {
                region: "us-east-1".into(),
                account: "000000000000".into(),
            },
            executor: ExecutorConfig {
                runtime_pool: 0,
                freeze_after: None,
                memory_budget_mb: 0,
                memory_reserve_mb: 0,
                scale_wait: Duration::from_secs(2),
                ..ExecutorConfig::default()
            },
            concurrency_limit: 50,
            detailed_metrics: true,
            url_host: "localhost:9000".into(),
            events: AsyncConfig {
                retry_delay: Duration::from_millis(50),
                backoff: Duration::from_millis(10),
                backoff_max: Duration::from_millis(100),
                max_in_flight: 50,
                max_in_flight_per_function: 8,
                age_second: Duration::from_secs(1),
                drain: Duration::from_secs(1),
            },
            scheduler: lamina_platform::SchedulerConfig {
                minute: Duration::from_millis(200),
            },
            sqs_endpoints: Vec::new(),
            mq_brokers: Vec::new(),
            s3_webhook_token: Some("test-webhook-token".into()),
        }
    }

    /// A platform with [`TestPlatform::config`].
    pub async fn start() -> TestPlatform {
        TestPlatform::start_with(TestPlatform::config()).await
    }

    /// A platform with `config`, on the system's clock.
    pub async fn start_with(config: PlatformConfig) -> TestPlatform {
        TestPlatform::start_on(config, Clock::system()).await
    }

    /// A platform with `config` whose asynchronous invocation reads `clock` (a manual clock:
    /// retry delays and event ages pass only when the test [advances](Self::advance) it).
    pub async fn start_on(config: PlatformConfig, clock: Clock) -> TestPlatform {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = |sub: &str| dir.path().join(sub);
        let launcher = ScriptedLauncher::new();
        let queue = Arc::new(MemoryQueue::with_clock(
            Limits {
                max_messages: 10_000,
                max_bytes: 64 << 20,
            },
            clock.clone(),
        ));
        let parts = Parts {
            store: Arc::new(MemoryStore::new()),
            code: CodeStore::open(&path("code")).expect("code store"),
            logs: Arc::new(LogStore::open(&path("logs"), 1 << 20).expect("log store")),
            queue: queue.clone(),
            launcher: Arc::new(launcher.clone()),
            catalog: RuntimeCatalog::detect(&path("runtimes")).expect("runtime catalog"),
            reserve: Arc::new(Reserve::new(dir.path(), 0)),
            archive: None,
            changes: None,
            members: None,
            metrics: None,
            documents: Arc::new(lamina_store::MemoryDocuments::default()),
            sqs: Arc::new(
                lamina_queue::sqs::SqliteMessages::open(&path("sqs.sqlite3")).expect("SQS store"),
            ),
            series: Arc::new(lamina_store::MemorySeries::default()),
            objects: Some(lamina_objects::Objects::open(&path("objects")).expect("object store")),
            remote_objects: None,
            spans: None,
        };
        let platform = Platform::start(config, parts).await.expect("platform");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(lamina_api::serve(
            listener,
            {
                let gate = Arc::new(lamina_api::Gate::open());
                let s3 = lamina_api::services::s3::S3Surface::new(platform.clone(), gate.clone());
                lamina_api::router(platform.clone(), gate, s3)
            },
            lamina_api::HttpLimits::default(),
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        ));
        TestPlatform {
            platform,
            endpoint,
            launcher,
            clock,
            queue,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Moves a manual clock forward and lets the dispatcher see it.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.queue.wake();
    }

    /// A client of the platform's HTTP API.
    pub fn client(&self) -> lamina_client::Client {
        lamina_client::Client::new(&self.endpoint)
    }

    /// CreateFunction's request for a `provided.al2023` function `name` whose handler is
    /// `handler` (its scripted behaviour, see [`ScriptedLauncher::on`]).
    pub fn function(name: &str, handler: &str) -> CreateFunctionRequest {
        CreateFunctionRequest {
            function_name: Some(name.into()),
            runtime: Some("provided.al2023".into()),
            handler: Some(handler.into()),
            role: Some("arn:aws:iam::000000000000:role/test".into()),
            code: Some(FunctionCode {
                zip_file: Some(crate::zip_of(&[("bootstrap", "#!/bin/sh\n")])),
                ..FunctionCode::default()
            }),
            ..CreateFunctionRequest::default()
        }
    }

    /// Stops serving and every environment.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.platform.shutdown(Duration::from_secs(2)).await;
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
