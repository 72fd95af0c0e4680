//! How the nodes of a cluster learn of each other's changes: every write of a function
//! record notifies the channel [`CHANNEL`] in its own statement (PostgreSQL delivers the
//! notification at commit, so never for a change that did not happen), and each node
//! listens on one connection of its own. When that connection is lost, the listener
//! reconnects and says [`Change::Resync`], because notifications sent meanwhile are gone.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

/// The notification channel.
pub const CHANNEL: &str = "lamina_changes";

/// A change some node made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A function's records (its `$LATEST`, versions, aliases, settings) changed.
    Function(String),
    /// Documents of this kind (schedules, rules, ...) changed.
    Documents(String),
    /// Changes may have been missed: compare everything.
    Resync,
}

/// The payload of a function's notification.
pub(crate) fn function_payload(name: &str) -> String {
    format!("f:{name}")
}

/// The payload of a change of documents of `kind`.
pub(crate) fn documents_payload(kind: &str) -> String {
    format!("d:{kind}")
}

fn parse(payload: &str) -> Option<Change> {
    if let Some(kind) = payload.strip_prefix("d:") {
        return Some(Change::Documents(kind.to_string()));
    }
    payload
        .strip_prefix("f:")
        .map(|name| Change::Function(name.to_string()))
}

/// Listens to `url`'s changes until the receiver is dropped, reconnecting after a loss.
pub fn listen(url: &str) -> mpsc::UnboundedReceiver<Change> {
    let mut raw = listen_channel(url, CHANNEL);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(payload) = raw.recv().await {
            let change = match payload {
                None => Some(Change::Resync),
                Some(p) => parse(&p),
            };
            if let Some(change) = change
                && tx.send(change).is_err()
            {
                return;
            }
        }
    });
    rx
}

/// Listens to `channel` on `url` until the receiver is dropped, reconnecting after a loss:
/// each notification's payload, and `None` each time a connection starts listening (what
/// was sent before is unknown).
pub fn listen_channel(url: &str, channel: &'static str) -> mpsc::UnboundedReceiver<Option<String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let url = url.to_string();
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(100);
        while !tx.is_closed() {
            match follow(&url, channel, &tx).await {
                Ok(()) => pause = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the database's change notifications; reconnecting");
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
            tokio::time::sleep(pause).await;
        }
    });
    rx
}

/// One connection's worth of listening: returns when the connection ends.
async fn follow(
    url: &str,
    channel: &str,
    tx: &mpsc::UnboundedSender<Option<String>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (ntx, mut nrx) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if ntx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "the change connection ended");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    // Whatever happened before this connection listened is unknown.
    if tx.send(None).is_err() {
        return Ok(());
    }
    while let Some(payload) = nrx.recv().await {
        if tx.send(Some(payload)).is_err() {
            break;
        }
    }
    driver.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FunctionStore, PgFunctionStore, PgPool};

    #[tokio::test(flavor = "multi_thread")]
    async fn every_write_is_announced_and_a_lost_connection_resyncs() {
        let mut pg = lamina_testpg::Postgres::start();
        let pool = PgPool::new(&pg.url(), 4).unwrap();
        pool.migrate().await.unwrap();
        let mut changes = listen(&pg.url());
        assert_eq!(changes.recv().await, Some(Change::Resync));
        let store = PgFunctionStore::new(pool);
        let req: lamina_model::function::CreateFunctionRequest =
            serde_json::from_value(serde_json::json!({
                "FunctionName": "announced", "Runtime": "python3.11", "Handler": "a.b",
                "Role": "arn:aws:iam::000000000000:role/r"
            }))
            .unwrap();
        let code = lamina_model::function::CodeInfo {
            id: "code-1".into(),
            sha256: "x".into(),
            size: 1,
            unzipped_size: 1,
        };
        let mut f = lamina_model::FunctionConfig::from_create(&req, code, "r1".into()).unwrap();
        store.create(&f).await.unwrap();
        assert_eq!(
            changes.recv().await,
            Some(Change::Function("announced".into()))
        );
        // A refused write announces nothing.
        assert!(store.create(&f).await.is_err());
        let old = f.revision_id.clone();
        f.revision_id = "r2".into();
        store.update(&f, &old).await.unwrap();
        assert_eq!(
            changes.recv().await,
            Some(Change::Function("announced".into()))
        );
        store.delete("announced").await.unwrap();
        assert_eq!(
            changes.recv().await,
            Some(Change::Function("announced".into()))
        );
        pg.restart();
        let resynced = tokio::time::timeout(Duration::from_secs(20), changes.recv())
            .await
            .expect("the listener comes back");
        assert_eq!(resynced, Some(Change::Resync));
    }
}
