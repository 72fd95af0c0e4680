//! One module per subcommand. Client commands share [`Endpoint`].

pub mod buckets;
pub mod deploy;
pub mod doctor;
pub mod event;
pub mod events;
pub mod invoke;
pub mod logs;
pub mod ls;
pub mod migrate;
pub mod package;
pub mod ps;
pub mod rm;
pub mod serve;
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
