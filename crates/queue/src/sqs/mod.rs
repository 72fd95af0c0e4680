//! Messages as SQS keeps them: [`MessageStore`] sends (with FIFO deduplication), receives
//! (visibility timeouts, receive counts, FIFO groups, redrive to a dead-letter queue once a
//! message was received too often, retention), deletes and changes visibility by receipt
//! handle, purges and counts. It knows nothing of queues' configuration: each call says what
//! applies. [`SqliteMessages`] keeps them in SQLite through one writer thread that commits
//! the calls waiting in one transaction (group commit).

mod sqlite;

pub use sqlite::SqliteMessages;

use crate::QueueError;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The queue's name.
    pub queue: String,
    /// The message id given back to the sender.
    pub id: String,
    pub body: String,
    /// The message attributes, as the service encodes them (kept opaque here).
    pub attributes: String,
    /// FIFO: the message group.
    pub group_id: Option<String>,
    /// FIFO: the deduplication id.
    pub dedup_id: Option<String>,
    /// How long before it may be received, in ms.
    pub delay_ms: u64,
}

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message's id: a duplicate gets the first message's.
    pub id: String,
    /// Its sequence number (increasing in send order).
    pub seq: i64,
    /// Whether it was a duplicate within the deduplication window (nothing was stored).
    pub duplicate: bool,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub seq: i64,
    pub id: String,
    pub body: String,
    pub attributes: String,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// When it was sent, epoch ms.
    pub sent_ms: u64,
    /// When it was first received, epoch ms.
    pub first_receive_ms: u64,
    /// Receives so far, this one included.
    pub receive_count: u32,
    /// The receipt handle of this receive.
    pub receipt: String,
}

/// What a receive asks for, and the queue's rules that apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveRequest {
    pub queue: String,
    /// 1 to 10.
    pub max: usize,
    /// How long received messages stay invisible, in ms.
    pub visibility_ms: u64,
    /// FIFO: messages in send order, none of a group with a message in flight.
    pub fifo: bool,
    /// Messages older than this are removed, in ms.
    pub retention_ms: u64,
    /// After this many receives, a message goes to the named queue instead.
    pub redrive: Option<(u32, String)>,
    /// Most messages in flight at once (SQS: 120,000, FIFO 120,000 too since 2024); a
    /// receive past it fails with [`QueueError::InFlightLimit`].
    pub max_in_flight: u64,
}

/// A queue's messages, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted or visible again.
    pub in_flight: u64,
    /// Sent with a delay that has not passed.
    pub delayed: u64,
    /// When the oldest message was sent, epoch ms.
    pub oldest_sent_ms: Option<u64>,
}

/// Why a receipt handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleError {
    /// Not a handle of this queue's messages (malformed, deleted, or received again since).
    Invalid,
    /// The message is not in flight.
    NotInFlight,
}

/// Where a store's messages live.
#[async_trait::async_trait]
pub trait MessageStore: Send + Sync + std::fmt::Debug {
    /// Sends messages; a FIFO message whose deduplication id was seen within `dedup_ms` is
    /// not stored again.
    async fn send(&self, batch: Vec<Outgoing>, dedup_ms: u64) -> Result<Vec<Sent>, QueueError>;
    /// Receives up to `max` messages.
    async fn receive(&self, request: ReceiveRequest) -> Result<Vec<Received>, QueueError>;
    /// Deletes by receipt handle; a stale handle (the message was received again) deletes
    /// nothing and is not an error, as in SQS.
    async fn delete(
        &self,
        queue: &str,
        receipts: Vec<String>,
    ) -> Result<Vec<Result<(), HandleError>>, QueueError>;
    /// Makes in-flight messages visible after the given ms (0: at once).
    async fn change_visibility(
        &self,
        queue: &str,
        changes: Vec<(String, u64)>,
    ) -> Result<Vec<Result<(), HandleError>>, QueueError>;
    /// Removes every message of `queue`; how many.
    async fn purge(&self, queue: &str) -> Result<u64, QueueError>;
    /// The queue's messages by state.
    async fn counts(&self, queue: &str) -> Result<Counts, QueueError>;
}

/// A receipt handle: the message's sequence number and this receive's token.
pub fn receipt(seq: i64, token: &str) -> String {
    format!("{seq}.{token}")
}

/// The sequence number and token of a receipt handle.
pub fn parse_receipt(handle: &str) -> Option<(i64, &str)> {
    let (seq, token) = handle.split_once('.')?;
    let seq = seq.parse().ok()?;
    (!token.is_empty() && token.chars().all(|c| c.is_ascii_hexdigit())).then_some((seq, token))
}

/// A fresh receive token: unique for a message, a time and a counter.
pub fn token(seq: i64, now: u64, n: u64) -> String {
    // Unique per receive: the time and a counter, mixed so that handles are not guessable
    // in order (they are not secrets: anyone who can receive may delete).
    let mixed = (seq as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
        ^ now.wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ n.wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{mixed:016x}{n:08x}")
}

/// The contract every implementation keeps.
#[cfg(any(test, feature = "contract"))]
pub mod contract {
    use super::*;

    fn out(queue: &str, body: &str) -> Outgoing {
        Outgoing {
            queue: queue.into(),
            id: format!("id-{body}"),
            body: body.into(),
            attributes: "{}".into(),
            group_id: None,
            dedup_id: None,
            delay_ms: 0,
        }
    }

    fn req(queue: &str, max: usize, visibility_ms: u64) -> ReceiveRequest {
        ReceiveRequest {
            queue: queue.into(),
            max,
            visibility_ms,
            fifo: false,
            retention_ms: 3_600_000,
            redrive: None,
            max_in_flight: 120_000,
        }
    }

    /// Sends, receives, visibility, deletes, delays, redrive, FIFO, purge.
    pub async fn messages(s: &dyn MessageStore) {
        // Send, receive in order, invisible while in flight, deleted by handle.
        let sent = s
            .send(vec![out("q", "a"), out("q", "b"), out("other", "c")], 0)
            .await
            .unwrap();
        assert_eq!(sent.len(), 3);
        assert!(sent[0].seq < sent[1].seq);
        let got = s.receive(req("q", 10, 60_000)).await.unwrap();
        assert_eq!(
            got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(got[0].receive_count, 1);
        assert!(s.receive(req("q", 10, 60_000)).await.unwrap().is_empty());
        let c = s.counts("q").await.unwrap();
        assert_eq!((c.visible, c.in_flight, c.delayed), (0, 2, 0));
        let deleted = s
            .delete("q", vec![got[0].receipt.clone(), "junk".into()])
            .await
            .unwrap();
        assert_eq!(deleted, [Ok(()), Err(HandleError::Invalid)]);
        // Visible again at once, received again with a new handle; the old one is stale.
        let changed = s
            .change_visibility("q", vec![(got[1].receipt.clone(), 0)])
            .await
            .unwrap();
        assert_eq!(changed, [Ok(())]);
        let again = s.receive(req("q", 10, 60_000)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].body.as_str(), again[0].receive_count), ("b", 2));
        assert_ne!(again[0].receipt, got[1].receipt);
        assert_eq!(
            s.change_visibility("q", vec![(got[1].receipt.clone(), 0)])
                .await
                .unwrap(),
            [Err(HandleError::Invalid)]
        );
        // A stale handle deletes nothing and is not an error.
        assert_eq!(
            s.delete("q", vec![got[1].receipt.clone()]).await.unwrap(),
            [Ok(())]
        );
        assert_eq!(s.counts("q").await.unwrap().in_flight, 1);
        s.delete("q", vec![again[0].receipt.clone()]).await.unwrap();
        assert_eq!(s.counts("q").await.unwrap(), Counts::default());

        // Delays and visibility expiry.
        let mut delayed = out("d", "later");
        delayed.delay_ms = 200;
        s.send(vec![delayed], 0).await.unwrap();
        assert_eq!(s.counts("d").await.unwrap().delayed, 1);
        assert!(s.receive(req("d", 1, 100)).await.unwrap().is_empty());
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let m = s.receive(req("d", 1, 100)).await.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(
            s.change_visibility("d", vec![(m[0].receipt.clone(), 0)])
                .await
                .unwrap(),
            [Ok(())]
        );
        // Not in flight any more.
        assert_eq!(
            s.change_visibility("d", vec![(m[0].receipt.clone(), 10)])
                .await
                .unwrap(),
            [Err(HandleError::NotInFlight)]
        );

        // Redrive: the third receive moves it to the dead-letter queue.
        s.send(vec![out("r", "poison")], 0).await.unwrap();
        let mut r = req("r", 1, 0);
        r.redrive = Some((2, "r-dlq".into()));
        assert_eq!(s.receive(r.clone()).await.unwrap().len(), 1);
        assert_eq!(s.receive(r.clone()).await.unwrap().len(), 1);
        assert!(s.receive(r.clone()).await.unwrap().is_empty());
        let dead = s.receive(req("r-dlq", 1, 1000)).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].body.as_str(), dead[0].id.as_str()),
            ("poison", "id-poison")
        );

        // FIFO: in order, one group at a time, deduplicated.
        let fifo = |body: &str, group: &str, dedup: &str| {
            let mut o = out("f.fifo", body);
            o.group_id = Some(group.into());
            o.dedup_id = Some(dedup.into());
            o
        };
        let sent = s
            .send(
                vec![
                    fifo("1", "g1", "d1"),
                    fifo("2", "g1", "d2"),
                    fifo("3", "g2", "d3"),
                ],
                300_000,
            )
            .await
            .unwrap();
        let dup = s
            .send(vec![fifo("1 again", "g1", "d1")], 300_000)
            .await
            .unwrap();
        assert!(dup[0].duplicate);
        assert_eq!(dup[0].id, sent[0].id);
        let mut f = req("f.fifo", 1, 60_000);
        f.fifo = true;
        let first = s.receive(f.clone()).await.unwrap();
        assert_eq!(first[0].body, "1");
        // g1 is blocked while "1" is in flight: g2's message comes next.
        let second = s.receive(f.clone()).await.unwrap();
        assert_eq!(second[0].body, "3");
        assert!(s.receive(f.clone()).await.unwrap().is_empty());
        s.delete("f.fifo", vec![first[0].receipt.clone()])
            .await
            .unwrap();
        assert_eq!(s.receive(f.clone()).await.unwrap()[0].body, "2");

        // The in-flight limit.
        s.send(vec![out("l", "1"), out("l", "2"), out("l", "3")], 0)
            .await
            .unwrap();
        let mut limited = req("l", 2, 60_000);
        limited.max_in_flight = 2;
        assert_eq!(s.receive(limited.clone()).await.unwrap().len(), 2);
        assert!(matches!(
            s.receive(limited).await,
            Err(QueueError::InFlightLimit(2))
        ));

        // Purge.
        s.send(vec![out("p", "x"), out("p", "y")], 0).await.unwrap();
        assert_eq!(s.purge("p").await.unwrap(), 2);
        assert_eq!(s.counts("p").await.unwrap(), Counts::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip() {
        let t = token(42, 1_700_000_000_000, 7);
        let r = receipt(42, &t);
        assert_eq!(parse_receipt(&r), Some((42, t.as_str())));
        assert_eq!(parse_receipt("42"), None);
        assert_eq!(parse_receipt("x.ab"), None);
        assert_eq!(parse_receipt("1.zz"), None);
        assert_ne!(token(42, 1, 1), token(42, 1, 2));
    }

    #[tokio::test]
    async fn the_sqlite_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMessages::open(&dir.path().join("sqs.sqlite3")).unwrap();
        contract::messages(&store).await;
        drop(store);
        // Reopened: what was stored is there.
        let store = SqliteMessages::open(&dir.path().join("sqs.sqlite3")).unwrap();
        assert_eq!(store.counts("r-dlq").await.unwrap().in_flight, 1);
    }
}
