//! The `lamina` binary: the server (`lamina serve`) and the client commands that drive it
//! through the same API the AWS tools use. Parses the command line, sets up logging, and
//! dispatches to one module per subcommand under `commands/`.

mod commands;
mod otlp;

use clap::{Parser, Subcommand};

/// Lamina: AWS Lambda's API and runtime protocols, on your own machines.
#[derive(Debug, Parser)]
#[command(name = "lamina", version, about, after_help = commands::exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: the Lambda API, invocations and execution environments.
    Serve(Box<commands::serve::Args>),
    /// Create or update a function from a directory or a .zip, or an application from a
    /// SAM template (template.yaml in the current directory, or --template).
    Deploy(commands::deploy::Args),
    /// Build a template's functions and layers (dependencies installed) into .lamina/build.
    Build(commands::app::cmds::BuildArgs),
    /// Delete an application deployed from a template, with everything it made.
    Delete(commands::app::cmds::DeleteArgs),
    /// Invoke a function and print its response.
    Invoke(commands::invoke::Args),
    /// List functions.
    Ls(commands::ls::Args),
    /// Show environments per function and state, concurrency, throttles and metrics.
    Ps(commands::ps::Args),
    /// List EventBridge Scheduler schedules, with when each fires next and how it last did.
    Schedules(commands::triggers::Args),
    /// List EventBridge rules, with their triggers, targets, next fire and last result.
    Rules(commands::triggers::Args),
    /// List SQS queues with their messages by state and the age of the oldest.
    Queues(commands::triggers::Args),
    /// List event source mappings with their state, last result and lag.
    Mappings(commands::triggers::Args),
    /// List S3 buckets with their objects, size and notification rules; route another
    /// store's notifications to functions.
    Buckets(commands::buckets::Args),
    /// Print sample events of the triggers (s3, sqs, apigateway, schedule, eventbridge), to
    /// pipe into `lamina invoke NAME --payload -`.
    Event(commands::event::Args),
    /// Inspect and replay asynchronous events that failed for good.
    Events(commands::events::Args),
    /// Delete a function.
    Rm(commands::rm::Args),
    /// Print a function's logs.
    Logs(commands::logs::Args),
    /// Move an embedded data directory into a cluster's PostgreSQL database.
    Migrate(commands::migrate::Args),
    /// List the runtimes this host can run; install interpreters (Node.js, Java) from
    /// package registries.
    Runtimes(commands::runtimes::Args),
    /// Report what isolation this host can give environments, and why.
    Doctor(commands::doctor::Args),
    /// Internal: the init of one sandbox, started by `serve` (reads its spec on stdin).
    #[command(name = "sandbox-init", hide = true)]
    SandboxInit,
    /// Internal: forks sandbox inits for `serve` (reads requests on stdin).
    #[command(name = "sandbox-spawner", hide = true)]
    SandboxSpawner,
}

fn main() -> std::process::ExitCode {
    // Before clap: building the whole command line computes `serve`'s defaults, which read
    // the host's memory and cores (`/proc/meminfo` walks every block device, loop devices
    // included), and every sandbox of a burst would pay for it. Must stay single-threaded: it
    // forks and changes namespaces. No async runtime here.
    match std::env::args_os().nth(1) {
        Some(a) if a == lamina_sandbox::INIT_SUBCOMMAND => lamina_sandbox::init::main(),
        Some(a) if a == lamina_sandbox::spawner::SPAWNER_SUBCOMMAND => {
            lamina_sandbox::spawner::serve()
        }
        _ => {}
    }
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let mut home = None;
    if let Command::Serve(args) = &cli.command {
        // Before any thread starts: the runtime's threads start at `build`.
        commands::serve::prepare_allocator();
        builder.worker_threads(args.server.worker_threads());
        // A burst of cold starts runs its launches on as many blocking threads; idle ones
        // go after this rather than tokio's 10 s, so that their stacks (about 36 KiB
        // touched each) do not outlast the burst by long.
        builder.thread_keep_alive(commands::serve::BLOCKING_THREAD_KEEP_ALIVE);
        if let Some(cores) = args.server.cores() {
            // A thread starts on its creator's cores: those the pinned worker makes (blocking
            // threads) go back to all of them.
            let all = cores.clone();
            builder.on_thread_start(move || {
                let _ = all.unpin_here();
            });
            home = Some(cores);
        }
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lamina: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(cores) = home {
        // The one worker runs this task, and pins itself to its home core.
        let pinned = runtime.block_on(runtime.spawn(async move { cores.pin_here_home() }));
        if !matches!(pinned, Ok(Ok(()))) {
            eprintln!("lamina: the worker thread could not be pinned to its core: {pinned:?}");
        }
    }
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(*args).await,
            Command::Migrate(args) => commands::migrate::run(args).await,
            Command::Deploy(args) => commands::deploy::run(args).await,
            Command::Build(args) => commands::app::cmds::build(args).await,
            Command::Delete(args) => commands::app::cmds::delete(args).await,
            Command::Invoke(args) => commands::invoke::run(args).await,
            Command::Ls(args) => commands::ls::run(args).await,
            Command::Schedules(args) => commands::triggers::schedules(args).await,
            Command::Rules(args) => commands::triggers::rules(args).await,
            Command::Queues(args) => commands::triggers::queues(args).await,
            Command::Mappings(args) => commands::triggers::mappings(args).await,
            Command::Ps(args) => commands::ps::run(args).await,
            Command::Buckets(args) => commands::buckets::run(args).await,
            Command::Events(args) => commands::events::run(args).await,
            Command::Event(args) => commands::event::run(args),
            Command::Rm(args) => commands::rm::run(args).await,
            Command::Logs(args) => commands::logs::run(args).await,
            Command::Doctor(args) => commands::doctor::run(args).await,
            Command::Runtimes(args) => commands::runtimes::run(args).await,
            Command::SandboxInit | Command::SandboxSpawner => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lamina: {e:#}");
            std::process::ExitCode::from(commands::exit::of(&e))
        }
    }
}
