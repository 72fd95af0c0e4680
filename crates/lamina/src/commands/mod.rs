//! One module per subcommand. Client commands share [`Endpoint`].

pub mod app;
pub mod buckets;
pub mod build;
pub mod deploy;
pub mod doctor;
pub mod event;
pub mod events;
pub mod invoke;
pub mod logs;
pub mod ls;
pub mod migrate;
pub mod output;
pub mod package;
pub mod ps;
pub mod rm;
pub mod runtimes;
pub mod serve;
pub mod style;
pub mod triggers;

/// Where the client commands find the server.
#[derive(Debug, clap::Args)]
pub struct Endpoint {
    /// The Lamina server to talk to.
    #[arg(long, env = "LAMINA_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
}

impl Endpoint {
    /// A client of that server, signing its requests with the key the AWS SDKs would use
    /// (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else the profile `AWS_PROFILE` of the
    /// shared credentials and config files), when there is one.
    pub fn client(&self) -> lamina_client::Client {
        let client = lamina_client::Client::new(&self.endpoint);
        let var = |k: &str| std::env::var(k).ok();
        match lamina_sigv4::credentials::from_environment(var) {
            Ok(Some(creds)) => {
                let region = var("AWS_REGION")
                    .or_else(|| var("AWS_DEFAULT_REGION"))
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "us-east-1".into());
                client.signed(creds, &region)
            }
            Ok(None) => client,
            Err(e) => {
                eprintln!("lamina: warning: AWS credentials not used ({e}); sending unsigned");
                client
            }
        }
    }
}

/// `e`, and when it says the function `name` does not exist, the closest names the server
/// has (a mistyped name is the usual cause).
pub async fn suggesting(
    client: &lamina_client::Client,
    name: &str,
    e: lamina_client::ClientError,
) -> anyhow::Error {
    if !e.is_not_found() {
        return e.into();
    }
    let mut close: Vec<(usize, String)> = client
        .list_functions()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|f| f.function_name)
        .map(|n| (strsim::damerau_levenshtein(&n, name), n))
        .filter(|(d, n)| *d <= (name.len() / 3).max(2) || n.starts_with(name))
        .collect();
    close.sort();
    if close.is_empty() {
        return e.into();
    }
    let names: Vec<String> = close.into_iter().take(3).map(|(_, n)| n).collect();
    anyhow::Error::new(e).context(format!(
        "no function {name:?}; did you mean {}?",
        names.join(" or ")
    ))
}

/// The exit codes of the client commands, as `lamina --help` lists them.
pub mod exit {
    /// The function ran and failed (`lamina invoke`).
    pub const FUNCTION_ERROR: u8 = 3;
    /// The function (or other resource) does not exist.
    pub const NOT_FOUND: u8 = 4;
    /// The server throttled the request (429).
    pub const THROTTLED: u8 = 5;
    /// Nothing answers at the endpoint.
    pub const UNREACHABLE: u8 = 6;

    /// What `lamina --help` says of them (usage errors are clap's 2).
    pub const HELP: &str = "Exit codes: 0 success; 1 any other error; 2 usage; 3 the function \
ran and failed; 4 not found; 5 throttled; 6 the server cannot be reached.";

    /// The exit code of a command that failed with `e`.
    pub fn of(e: &anyhow::Error) -> u8 {
        match e.downcast_ref::<lamina_client::ClientError>() {
            Some(c) if c.is_not_found() => NOT_FOUND,
            Some(lamina_client::ClientError::Api { status: 429, .. }) => THROTTLED,
            Some(lamina_client::ClientError::Unreachable { .. }) => UNREACHABLE,
            _ => 1,
        }
    }
}
