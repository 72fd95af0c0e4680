//! One module per subcommand. Client commands share [`Endpoint`].

pub mod deploy;
pub mod doctor;
pub mod events;
pub mod invoke;
pub mod logs;
pub mod ls;
pub mod ps;
pub mod rm;
pub mod serve;

/// Where the client commands find the server.
#[derive(Debug, clap::Args)]
pub struct Endpoint {
    /// The Lamina server to talk to.
    #[arg(long, env = "LAMINA_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
}

impl Endpoint {
    /// A client of that server.
    pub fn client(&self) -> lamina_client::Client {
        lamina_client::Client::new(&self.endpoint)
    }
}
