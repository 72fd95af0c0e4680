//! Function logs: the [`LogBackend`] trait (appends buffered off the invocation path,
//! reads in the manner of CloudWatch Logs), and [`LogStore`], its embedded implementation in
//! the data directory: one directory per log group, one file per log stream, one line per
//! event (`<epoch-ms> <message>`), with a size bound per group.
//!
//! Appends go into buffered writers and reach the disk when [`LogStore::flush`] runs (the
//! platform calls it periodically and before every read), so the invocation path never
//! waits on the disk. When a group grows past its bound, its oldest streams are removed.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod open;
mod out;
use open::{State, Writer};
use out::Out;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Stream it belongs to.
    pub stream: String,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The message.
    pub message: String,
    /// Stable id: stream file and byte offset.
    pub event_id: String,
}

/// A query over one group, in the manner of CloudWatch Logs' FilterLogEvents.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Events at or after this time.
    pub start_ms: Option<i64>,
    /// Events at or before this time.
    pub end_ms: Option<i64>,
    /// Only these streams.
    pub streams: Option<Vec<String>>,
    /// Only events whose message contains this text.
    pub contains: Option<String>,
    /// Skip this many matching events (pagination).
    pub skip: usize,
    /// At most this many events.
    pub limit: usize,
}

/// Where function logs go and are read from: the data directory ([`LogStore`]) or a
/// cluster's database ([`crate::postgres::PgLogStore`]). Appends never wait on storage: they
/// are buffered until [`LogBackend::flush`], which the platform runs periodically and
/// before every read.
#[async_trait::async_trait]
pub trait LogBackend: Send + Sync + std::fmt::Debug {
    /// Appends events (epoch ms, message) to a stream.
    fn append(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> io::Result<()>;
    /// The stream will get no more events (its environment ended).
    fn close(&self, group: &str, stream: &str);
    /// Writes every buffered event out.
    async fn flush(&self);
    /// Whether a group has any event.
    async fn group_exists(&self, group: &str) -> io::Result<bool>;
    /// Stream names of a group, with their size and last write, newest first.
    async fn streams(&self, group: &str) -> io::Result<Vec<(String, u64, std::time::SystemTime)>>;
    /// Events of a group matching `query`, oldest first, and whether more matched.
    async fn query(&self, group: &str, query: &LogQuery) -> io::Result<(Vec<StoredEvent>, bool)>;
    /// Every group, by name, with its stored bytes and its oldest event's time (ms).
    async fn groups(&self) -> io::Result<Vec<(String, u64, i64)>>;
    /// Removes a group's events older than `before_ms` (a retention policy); the file store
    /// removes whole streams whose last event is older. How many events or streams went.
    async fn expire(&self, group: &str, before_ms: i64) -> io::Result<u64>;
}

#[async_trait::async_trait]
impl LogBackend for LogStore {
    fn append(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> io::Result<()> {
        LogStore::append(self, group, stream, events)
    }

    fn close(&self, group: &str, stream: &str) {
        LogStore::close(self, group, stream);
    }

    async fn flush(&self) {
        LogStore::flush(self);
    }

    async fn group_exists(&self, group: &str) -> io::Result<bool> {
        Ok(LogStore::group_exists(self, group))
    }

    async fn streams(&self, group: &str) -> io::Result<Vec<(String, u64, std::time::SystemTime)>> {
        LogStore::streams(self, group)
    }

    async fn query(&self, group: &str, query: &LogQuery) -> io::Result<(Vec<StoredEvent>, bool)> {
        LogStore::query(self, group, query)
    }

    async fn groups(&self) -> io::Result<Vec<(String, u64, i64)>> {
        LogStore::groups(self)
    }

    async fn expire(&self, group: &str, before_ms: i64) -> io::Result<u64> {
        LogStore::expire(self, group, before_ms)
    }
}

pub(crate) fn millis(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Most stream files kept open at once.
const MAX_OPEN_STREAMS: usize = 256;

/// Suffix of a stream's current file.
const CURRENT: &str = ".log";
/// Suffix of a stream's previous file, once the current one was rotated.
const ROTATED: &str = ".log.1";

/// The stream name and whether it is the rotated file, from a file name.
fn stream_of(file_name: &str) -> Option<(String, bool)> {
    if let Some(enc) = file_name.strip_suffix(ROTATED) {
        return Some((decode(enc), true));
    }
    file_name
        .strip_suffix(CURRENT)
        .map(|enc| (decode(enc), false))
}

/// The log store.
#[derive(Debug)]
pub struct LogStore {
    root: PathBuf,
    max_group_bytes: u64,
    // File writes into memory buffers only; flush happens on its own schedule.
    state: Mutex<State>,
}

impl LogStore {
    /// Opens the store at `root`; each group keeps at most `max_group_bytes`.
    pub fn open(root: &Path, max_group_bytes: u64) -> io::Result<LogStore> {
        fs::create_dir_all(root)?;
        Ok(LogStore {
            root: root.to_path_buf(),
            max_group_bytes,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn group_dir(&self, group: &str) -> PathBuf {
        self.root.join(encode(group))
    }

    /// Appends events to a stream.
    pub fn append(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> io::Result<()> {
        let mut st = self.lock();
        if st.writer(group, stream).is_none() {
            let dir = self.group_dir(group);
            fs::create_dir_all(&dir)?;
            let writer = self.open_writer(group, stream)?;
            // A safety net: streams are closed when their environment ends, but never keep
            // more than this many files open.
            if st.open_streams() >= MAX_OPEN_STREAMS {
                for w in st.all_writers() {
                    let _ = w.out.flush();
                }
                st.writers.clear();
            }
            st.writers
                .entry(group.to_string())
                .or_default()
                .insert(stream.to_string(), writer);
            if !st.group_bytes.contains_key(group) {
                let size = dir_size(&dir);
                st.group_bytes.insert(group.to_string(), size);
            }
        }
        for (ts, message) in events {
            let Some(writer) = st.writer(group, stream) else {
                break;
            };
            let line_len = writer.out.write_line(*ts, message)? as u64;
            writer.written += line_len;
            // A long-lived environment writes one stream for ever: rotate it, so that even a
            // single stream stays within the group's bound.
            let mut dropped = 0;
            if writer.written > self.max_group_bytes / 4 {
                writer.out.flush()?;
                let dir = self.group_dir(group);
                let current = dir.join(format!("{}{CURRENT}", encode(stream)));
                let rotated = dir.join(format!("{}{ROTATED}", encode(stream)));
                dropped = fs::metadata(&rotated).map(|m| m.len()).unwrap_or(0);
                fs::rename(&current, &rotated)?;
                *writer = self.open_writer(group, stream)?;
            }
            let total = match st.group_bytes.get_mut(group) {
                Some(total) => total,
                None => st.group_bytes.entry(group.to_string()).or_insert(0),
            };
            *total = total.saturating_sub(dropped) + line_len;
            if *total > self.max_group_bytes {
                self.trim_group(&mut st, group, stream)?;
            }
        }
        Ok(())
    }

    fn open_writer(&self, group: &str, stream: &str) -> io::Result<Writer> {
        let path = self
            .group_dir(group)
            .join(format!("{}{CURRENT}", encode(stream)));
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Writer {
            out: Out::new(file),
            written,
        })
    }

    /// Removes the oldest streams of a group until it is within three quarters of its bound.
    /// The stream being written (`keep`) is never removed, even if alone it is over.
    fn trim_group(&self, st: &mut State, group: &str, keep: &str) -> io::Result<()> {
        let dir = self.group_dir(group);
        for w in st
            .writers
            .get_mut(group)
            .into_iter()
            .flat_map(|s| s.values_mut())
        {
            w.out.flush()?;
        }
        let mut files: Vec<(std::time::SystemTime, PathBuf, u64)> = fs::read_dir(&dir)?
            .flatten()
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, e.path(), m.len()))
            })
            .collect();
        files.sort();
        let mut total: u64 = files.iter().map(|f| f.2).sum();
        let target = self.max_group_bytes / 4 * 3;
        for (_, path, len) in files {
            if total <= target {
                break;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some((stream, rotated)) = stream_of(name) else {
                continue;
            };
            if stream == keep && !rotated {
                continue;
            }
            if !rotated {
                st.remove_writer(group, &stream);
            }
            fs::remove_file(&path)?;
            total -= len;
        }
        st.group_bytes.insert(group.to_string(), total);
        Ok(())
    }

    /// Flushes and closes a stream's file; a later append reopens it.
    pub fn close(&self, group: &str, stream: &str) {
        let mut st = self.lock();
        if let Some(mut w) = st.remove_writer(group, stream) {
            let _ = w.out.flush();
        }
    }

    /// Writes every buffered event to disk, and lets go of streams whose file was removed
    /// (by hand, to free space): a file kept open keeps its space, and the next event of
    /// such a stream starts a new file.
    pub fn flush(&self) {
        use std::os::unix::fs::MetadataExt;
        let mut st = self.lock();
        st.writers.retain(|_, streams| {
            streams.retain(|_, w| {
                let _ = w.out.flush();
                w.out.get_ref().metadata().is_ok_and(|m| m.nlink() > 0)
            });
            !streams.is_empty()
        });
    }

    /// Whether a group has any stream.
    pub fn group_exists(&self, group: &str) -> bool {
        self.group_dir(group).is_dir()
    }

    /// Stream names of a group, with their size and last write, newest first.
    pub fn streams(&self, group: &str) -> io::Result<Vec<(String, u64, std::time::SystemTime)>> {
        self.flush();
        let mut by_stream: HashMap<String, (u64, std::time::SystemTime)> = HashMap::new();
        for e in fs::read_dir(self.group_dir(group))?.flatten() {
            let Some((name, _)) = e.file_name().to_str().and_then(stream_of) else {
                continue;
            };
            let Ok(m) = e.metadata() else { continue };
            let Ok(modified) = m.modified() else { continue };
            let entry = by_stream.entry(name).or_insert((0, modified));
            entry.0 += m.len();
            entry.1 = entry.1.max(modified);
        }
        let mut out: Vec<_> = by_stream
            .into_iter()
            .map(|(n, (size, t))| (n, size, t))
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.2));
        Ok(out)
    }

    /// Events of a group matching `query`, oldest first, and whether more matched.
    pub fn query(&self, group: &str, query: &LogQuery) -> io::Result<(Vec<StoredEvent>, bool)> {
        self.flush();
        let dir = self.group_dir(group);
        let mut events = Vec::new();
        for entry in fs::read_dir(&dir)?.flatten() {
            let file_name = entry.file_name();
            let Some((name, rotated)) = file_name.to_str().and_then(stream_of) else {
                continue;
            };
            if let Some(want) = &query.streams
                && !want.contains(&name)
            {
                continue;
            }
            let mut reader = BufReader::new(File::open(entry.path())?);
            let mut offset = 0u64;
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 {
                    break;
                }
                let at = offset;
                offset += n as u64;
                let Some((ts, msg)) = line.trim_end_matches('\n').split_once(' ') else {
                    continue;
                };
                let Ok(ts) = ts.parse::<i64>() else { continue };
                if query.start_ms.is_some_and(|s| ts < s) || query.end_ms.is_some_and(|e| ts > e) {
                    continue;
                }
                if query.contains.as_deref().is_some_and(|c| !msg.contains(c)) {
                    continue;
                }
                events.push(StoredEvent {
                    stream: name.clone(),
                    timestamp_ms: ts,
                    message: msg.to_string(),
                    event_id: format!("{ts:020}{:08x}{}{at:012}", fxhash(&name), u8::from(rotated)),
                });
            }
        }
        events.sort_by(|a, b| (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id)));
        let total = events.len();
        let page: Vec<StoredEvent> = events
            .into_iter()
            .skip(query.skip)
            .take(query.limit)
            .collect();
        let more = query.skip + page.len() < total;
        Ok((page, more))
    }

    /// Every group, with its stored bytes and its oldest stream file's last write (ms).
    pub fn groups(&self) -> io::Result<Vec<(String, u64, i64)>> {
        self.flush();
        let mut out = Vec::new();
        for e in fs::read_dir(&self.root)?.flatten() {
            let Some(name) = e.file_name().to_str().map(decode) else {
                continue;
            };
            if !e.path().is_dir() {
                continue;
            }
            let streams = self.streams(&name)?;
            let Some(oldest) = streams.iter().map(|s| s.2).min() else {
                continue;
            };
            out.push((name, streams.iter().map(|s| s.1).sum(), millis(oldest)));
        }
        out.sort();
        Ok(out)
    }

    /// Removes the stream files of `group` last written before `before_ms`.
    pub fn expire(&self, group: &str, before_ms: i64) -> io::Result<u64> {
        self.flush();
        let mut st = self.lock();
        let mut removed = 0;
        let dir = self.group_dir(group);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(0);
        };
        for e in entries.flatten() {
            let Some((stream, _)) = e.file_name().to_str().and_then(stream_of) else {
                continue;
            };
            let Ok(modified) = e.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if millis(modified) < before_ms {
                st.remove_writer(group, &stream);
                fs::remove_file(e.path())?;
                removed += 1;
            }
        }
        st.group_bytes.remove(group);
        Ok(removed)
    }

    /// Removes a whole group (when its function is deleted).
    pub fn delete_group(&self, group: &str) -> io::Result<()> {
        let mut st = self.lock();
        st.writers.remove(group);
        st.group_bytes.remove(group);
        match fs::remove_dir_all(self.group_dir(group)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn fxhash(s: &str) -> u32 {
    s.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    })
}

/// Group and stream names hold `/`, `[` and `$`; file names get them percent-encoded.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&name[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The behaviour every [`LogBackend`] keeps, run against each implementation by its tests.
#[cfg(test)]
pub(crate) async fn contract(store: &dyn LogBackend) {
    let g = "/aws/lambda/f";
    store.append(g, "s-a", &[(1_000, "from a")]).unwrap();
    store.flush().await;
    store.append(g, "s-b", &[(2_000, "from b")]).unwrap();
    store.flush().await;
    // Later, so that s-a is the newest stream by any measure.
    std::thread::sleep(std::time::Duration::from_millis(20));
    store.append(g, "s-a", &[(3_000, "a again")]).unwrap();
    assert!(
        store.group_exists(g).await.unwrap(),
        "appends are read back"
    );
    assert!(!store.group_exists("/aws/lambda/g").await.unwrap());
    let all = LogQuery {
        limit: 10,
        ..LogQuery::default()
    };
    let (events, more) = store.query(g, &all).await.unwrap();
    let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        (messages, more),
        (vec!["from a", "from b", "a again"], false)
    );
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "event ids are distinct");
    let page = LogQuery {
        limit: 1,
        skip: 1,
        contains: Some("from".into()),
        ..LogQuery::default()
    };
    let (events, more) = store.query(g, &page).await.unwrap();
    assert_eq!((events[0].message.as_str(), more), ("from b", false));
    let window = LogQuery {
        limit: 10,
        start_ms: Some(1_500),
        end_ms: Some(3_000),
        streams: Some(vec!["s-a".into()]),
        ..LogQuery::default()
    };
    let (events, _) = store.query(g, &window).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "a again");
    let streams = store.streams(g).await.unwrap();
    let names: Vec<&str> = streams.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["s-a", "s-b"], "newest first");
    store.append("/custom/other", "s", &[(5_000, "x")]).unwrap();
    let groups = store.groups().await.unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(names, ["/aws/lambda/f", "/custom/other"]);
    assert!(groups.iter().all(|g| g.1 > 0), "{groups:?}");
    // Nothing is older than the start of time; everything is older than the future.
    assert_eq!(store.expire(g, 0).await.unwrap(), 0);
    let far = super::logs::millis(std::time::SystemTime::now()) + 3_600_000;
    assert!(store.expire(g, far).await.unwrap() > 0);
    assert_eq!(store.query(g, &all).await.unwrap().0, []);
    assert_eq!(
        store.groups().await.unwrap().len(),
        1,
        "an empty group is no group"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        contract(&LogStore::open(dir.path(), 1 << 20).unwrap()).await;
    }

    #[test]
    fn a_stream_removed_by_hand_is_let_go_and_starts_anew() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), 1 << 20).unwrap();
        store.append("/aws/lambda/f", "s", &[(1, "one")]).unwrap();
        store.flush();
        let group = dir.path().join(encode("/aws/lambda/f"));
        for e in fs::read_dir(&group).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
        store.flush();
        assert!(
            store.lock().writers.is_empty(),
            "the removed file was let go"
        );
        store.append("/aws/lambda/f", "s", &[(2, "two")]).unwrap();
        store.flush();
        assert_eq!(fs::read_dir(&group).unwrap().count(), 1);
    }

    #[test]
    fn an_open_stream_holds_no_buffer_once_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), 1 << 30).unwrap();
        let line = "x".repeat(1000);
        let many: Vec<(i64, &str)> = (0..200).map(|i| (i, line.as_str())).collect();
        store.append("/aws/lambda/f", "s", &many).unwrap();
        let held = |store: &LogStore| {
            store
                .lock()
                .all_writers()
                .map(|w| w.out.pending.capacity())
                .sum::<usize>()
        };
        assert!(held(&store) > 0, "lines wait in memory until the flush");
        store.flush();
        assert_eq!(held(&store), 0, "the flush gives the buffer back");
        assert_eq!(store.lock().open_streams(), 1, "the stream stays open");
        let file = dir
            .path()
            .join(encode("/aws/lambda/f"))
            .join(format!("{}{CURRENT}", encode("s")));
        let text = fs::read_to_string(file).unwrap();
        assert_eq!(text.lines().count(), 200, "every line reached the file");
        assert!(text.lines().all(|l| l.ends_with(&line)));
    }

    #[test]
    fn append_query_page_and_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), 4096).unwrap();
        let g = "/aws/lambda/f";
        let s1 = "2026/11/21/[$LATEST]aaaa";
        store
            .append(g, s1, &[(1, "START RequestId: 1"), (3, "END RequestId: 1")])
            .unwrap();
        store
            .append(g, "2026/11/21/[$LATEST]bbbb", &[(2, "hello\tworld")])
            .unwrap();
        let (all, more) = store
            .query(
                g,
                &LogQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(!more);
        let msgs: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            msgs,
            ["START RequestId: 1", "hello\tworld", "END RequestId: 1"]
        );
        assert_eq!(all[0].stream, s1);
        let (page, more) = store
            .query(
                g,
                &LogQuery {
                    limit: 1,
                    skip: 1,
                    start_ms: Some(2),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(!more);
        assert_eq!(page[0].message, "END RequestId: 1");
        assert_eq!(store.streams(g).unwrap().len(), 2);

        let big = "x".repeat(1000);
        for i in 0..20 {
            store
                .append(g, &format!("s{i}"), &[(10 + i, big.as_str())])
                .unwrap();
        }
        store.flush();
        assert!(dir_size(&store.group_dir(g)) <= 4096, "bounded");
        // One stream alone is bounded too: it rotates.
        for i in 0..50 {
            store
                .append(g, "s-long", &[(100 + i, big.as_str())])
                .unwrap();
        }
        store.flush();
        assert!(
            dir_size(&store.group_dir(g)) <= 4096 + 1100,
            "a single stream rotates"
        );
        let (events, _) = store
            .query(
                g,
                &LogQuery {
                    limit: 100,
                    streams: Some(vec!["s-long".into()]),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(
            !events.is_empty() && events.last().unwrap().timestamp_ms == 149,
            "newest events kept"
        );
        let ids: std::collections::HashSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(
            ids.len(),
            events.len(),
            "event ids stay unique across rotation"
        );
        store.delete_group(g).unwrap();
        assert!(!store.group_exists(g));
        assert_eq!(decode(&encode(s1)), s1);
    }
}
