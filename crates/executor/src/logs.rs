//! An environment's output as log events.
//!
//! Each environment writes stdout and stderr into one pipe. [`LogCapture`] turns what arrives
//! into one event per line, keeps the text of the running invocation for
//! `X-Amz-Log-Result`, and hands events to a [`LogSink`] (the function's log stream).
//! START/END/REPORT lines are written through the same capture, so they are ordered with the
//! function's own output. Draining happens both when the pipe is readable and, synchronously,
//! when an invocation ends: output a function wrote before answering is then always part of
//! that invocation's log.
//!
//! Extensions' output reaches the same pipe through the extension launcher, each line marked
//! with a leading ASCII record separator ([`EXTENSION_MARK`]): the mark is removed, and the
//! line goes to Telemetry API subscribers of the `extension` stream rather than `function`.

use std::fmt::Debug;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use std::os::fd::AsFd;

use lamina_runtime_api::TelemetryStream;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tokio::io::unix::AsyncFd;

/// One log event: a line of output or a platform line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The line, without its newline.
    pub message: String,
}

/// Where log events of a function's environments go.
pub trait LogSink: Send + Sync + Debug {
    /// Appends events to `stream` of `group`. Must not block on disk: buffer and return.
    fn append(&self, group: &str, stream: &str, events: Vec<LogEvent>);
    /// The stream will get no more events (its environment is gone).
    fn close(&self, _group: &str, _stream: &str) {}
}

/// A sink that drops everything (tests, and `--no-logs` style configurations).
#[derive(Debug, Default)]
pub struct DiscardSink;

impl LogSink for DiscardSink {
    fn append(&self, _: &str, _: &str, _: Vec<LogEvent>) {}
}

/// The first byte of a line an extension wrote (added by the extension launcher).
pub const EXTENSION_MARK: u8 = 0x1e;

/// Bytes of output handed to the sink at a time.
const BATCH_BYTES: usize = 64 * 1024;
/// Bytes the background reader takes before it lets other tasks run.
const PUMP_BUDGET_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drained {
    /// The pipe is empty for now.
    Empty,
    /// The budget ran out with data left.
    More,
    /// The pipe is closed: every writer is gone.
    Eof,
}

/// Longest single event; a longer line is split, as CloudWatch Logs caps events at 256 KB.
const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Text kept for the tail of the running invocation; only the last 4 KB is returned.
const TAIL_KEEP_BYTES: usize = 8 * 1024;

#[derive(Debug, Default)]
struct CaptureState {
    partial: Vec<u8>,
    tail: Vec<u8>,
    eof: bool,
    /// What of the function's output is kept (its LoggingConfig's levels).
    logging: crate::Logging,
    /// Where lines also go as `function` and `extension` telemetry records.
    telemetry: Option<std::sync::Arc<lamina_runtime_api::Telemetry>>,
}

/// The output pipe of one environment.
#[derive(Debug)]
pub struct LogCapture {
    // Tokio is used only to learn when the pipe becomes readable; reads are plain
    // non-blocking reads, so that `drain` can run synchronously from any thread.
    rx: AsyncFd<OwnedFd>,
    group: String,
    stream: String,
    sink: std::sync::Arc<dyn LogSink>,
    // Held only while moving bytes from the pipe into events; never across an await.
    state: Mutex<CaptureState>,
}

impl LogCapture {
    /// Wraps the read end of an environment's output pipe. Must be called within a Tokio
    /// runtime.
    pub fn new(
        output: OwnedFd,
        group: String,
        stream: String,
        sink: std::sync::Arc<dyn LogSink>,
    ) -> io::Result<LogCapture> {
        let flags = fcntl(output.as_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
        fcntl(output.as_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        // SAFETY: an OwnedFd is a valid open descriptor that always reports the same fd and
        // stays open until the AsyncFd that owns it is dropped.
        let rx = unsafe { AsyncFd::register_with_interest(output, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(LogCapture {
            rx,
            group,
            stream,
            sink,
            state: Mutex::new(CaptureState::default()),
        })
    }

    /// Filters the function's output by `logging`'s levels from now on.
    pub fn set_logging(&self, logging: crate::Logging) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).logging = logging;
    }

    /// Also publishes each line of output to the environment's telemetry subscribers.
    pub fn set_telemetry(&self, telemetry: std::sync::Arc<lamina_runtime_api::Telemetry>) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .telemetry = Some(telemetry);
    }

    /// The log stream name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Reads the pipe until it is closed. Run as the environment's log task.
    pub async fn pump(&self) {
        loop {
            let Ok(mut guard) = self.rx.readable().await else {
                return;
            };
            match self.drain_up_to(PUMP_BUDGET_BYTES) {
                Drained::Eof => return,
                // Clears only if no new readiness arrived since the guard was taken.
                Drained::Empty => guard.clear_ready(),
                // A flood: let other tasks run, then go on reading.
                Drained::More => tokio::task::yield_now().await,
            }
        }
    }

    /// Moves whatever the pipe holds now into events; returns true at end of file.
    pub fn drain(&self) -> bool {
        self.drain_up_to(usize::MAX) == Drained::Eof
    }

    /// Moves at most `budget` bytes from the pipe into events. Events go to the sink in
    /// batches of [`BATCH_BYTES`], so a flood is never held in memory.
    fn drain_up_to(&self, budget: usize) -> Drained {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.eof {
            return Drained::Eof;
        }
        let mut events = Vec::new();
        let mut batch = 0usize;
        let mut taken = 0usize;
        let mut buf = [0u8; 16 * 1024];
        let outcome = loop {
            if taken >= budget {
                break Drained::More;
            }
            match nix::unistd::read(self.rx.get_ref(), &mut buf).map_err(io::Error::from) {
                Ok(0) => {
                    st.eof = true;
                    break Drained::Eof;
                }
                Ok(n) => {
                    taken += n;
                    batch += n;
                    split_lines(&mut st, &buf[..n], &mut events);
                    if batch >= BATCH_BYTES {
                        self.sink
                            .append(&self.group, &self.stream, std::mem::take(&mut events));
                        batch = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Drained::Empty,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    st.eof = true;
                    break Drained::Eof;
                }
            }
        };
        if st.eof && !st.partial.is_empty() {
            let rest = std::mem::take(&mut st.partial);
            if st.logging.keeps(&rest) {
                push_event(&mut st, &rest, &mut events);
            }
        }
        drop(st);
        if !events.is_empty() {
            self.sink.append(&self.group, &self.stream, events);
        }
        if outcome == Drained::Eof {
            self.sink.close(&self.group, &self.stream);
        }
        outcome
    }

    /// Drains the pipe, ends a pending partial line, then writes platform lines (START, END,
    /// REPORT, timeouts) after everything the function wrote so far.
    pub fn platform_lines(&self, lines: Vec<String>) {
        self.drain();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut events = Vec::with_capacity(lines.len() + 1);
        if !st.partial.is_empty() {
            let rest = std::mem::take(&mut st.partial);
            if st.logging.keeps(&rest) {
                push_event(&mut st, &rest, &mut events);
            }
        }
        for line in lines {
            keep_tail(&mut st, line.as_bytes());
            events.push(LogEvent {
                timestamp_ms: chrono::Utc::now().timestamp_millis(),
                message: line,
            });
        }
        drop(st);
        self.sink.append(&self.group, &self.stream, events);
    }

    /// Forgets the text kept for the tail (at the start of each warm invocation; a cold
    /// start keeps its init output).
    pub fn reset_tail(&self) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tail
            .clear();
    }

    /// The last `max` bytes of text since the last [`reset_tail`](Self::reset_tail).
    pub fn tail(&self, max: usize) -> String {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let start = st.tail.len().saturating_sub(max);
        String::from_utf8_lossy(&st.tail[start..]).into_owned()
    }
}

fn split_lines(st: &mut CaptureState, mut bytes: &[u8], events: &mut Vec<LogEvent>) {
    while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
        if st.partial.is_empty() {
            if st.logging.keeps(&bytes[..pos]) {
                push_event(st, &bytes[..pos], events);
            }
        } else {
            let mut line = std::mem::take(&mut st.partial);
            line.extend_from_slice(&bytes[..pos]);
            if st.logging.keeps(&line) {
                push_event(st, &line, events);
            }
        }
        bytes = &bytes[pos + 1..];
    }
    st.partial.extend_from_slice(bytes);
    while st.partial.len() >= MAX_EVENT_BYTES {
        let rest = st.partial.split_off(MAX_EVENT_BYTES);
        let full = std::mem::replace(&mut st.partial, rest);
        push_event(st, &full, events);
    }
}

/// A line of the environment's output (the function's, or an extension's when marked).
fn push_event(st: &mut CaptureState, line: &[u8], events: &mut Vec<LogEvent>) {
    let (line, stream) = match line.split_first() {
        Some((&EXTENSION_MARK, rest)) => (rest, TelemetryStream::Extension),
        _ => (line, TelemetryStream::Function),
    };
    if let Some(t) = &st.telemetry {
        let json = st.logging.json;
        t.publish(stream, || {
            lamina_runtime_api::telemetry::Line::new(stream_name(stream), line, json)
        });
    }
    push_line(st, line, events);
}

fn stream_name(stream: TelemetryStream) -> &'static str {
    match stream {
        TelemetryStream::Extension => "extension",
        _ => "function",
    }
}

/// A line as a log event (and in the tail).
fn push_line(st: &mut CaptureState, line: &[u8], events: &mut Vec<LogEvent>) {
    keep_tail(st, line);
    events.push(LogEvent {
        timestamp_ms: chrono::Utc::now().timestamp_millis(),
        message: String::from_utf8_lossy(line).into_owned(),
    });
}

/// Keeps `line` in the tail of the running invocation.
fn keep_tail(st: &mut CaptureState, line: &[u8]) {
    st.tail.extend_from_slice(line);
    st.tail.push(b'\n');
    if st.tail.len() > TAIL_KEEP_BYTES * 2 {
        let cut = st.tail.len() - TAIL_KEEP_BYTES;
        st.tail.drain(..cut);
    }
}

/// `START RequestId: ID Version: VERSION`
pub fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}")
}

/// `END RequestId: ID`
pub fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
}

/// The REPORT line, tab-separated with a trailing tab, exactly as Lambda prints it.
pub fn report_line(
    request_id: &str,
    duration_ms: f64,
    billed_ms: u64,
    memory_mb: u32,
    max_memory_mb: u64,
    init_ms: Option<f64>,
) -> String {
    let mut line = format!(
        "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed_ms} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB\t"
    );
    if let Some(init) = init_ms {
        line.push_str(&format!("Init Duration: {init:.2} ms\t"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_matches_lambda() {
        assert_eq!(
            report_line("abc", 26.734, 27, 128, 75, Some(130.491)),
            "REPORT RequestId: abc\tDuration: 26.73 ms\tBilled Duration: 27 ms\tMemory Size: 128 MB\tMax Memory Used: 75 MB\tInit Duration: 130.49 ms\t"
        );
        assert_eq!(
            start_line("abc", "$LATEST"),
            "START RequestId: abc Version: $LATEST"
        );
    }

    #[derive(Debug, Default)]
    struct Collect(Mutex<Vec<LogEvent>>);
    impl LogSink for Collect {
        fn append(&self, _: &str, _: &str, mut events: Vec<LogEvent>) {
            self.0.lock().unwrap().append(&mut events);
        }
    }

    #[tokio::test]
    async fn lines_partial_lines_and_tail() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let sink = std::sync::Arc::new(Collect::default());
        let cap = LogCapture::new(r, "g".into(), "s".into(), sink.clone()).unwrap();
        let mut w = std::fs::File::from(w);
        use std::io::Write;
        w.write_all(b"one\ntwo\npart").unwrap();
        cap.platform_lines(vec!["END RequestId: x".into()]);
        let msgs: Vec<String> = sink
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.message.clone())
            .collect();
        assert_eq!(msgs, ["one", "two", "part", "END RequestId: x"]);
        assert_eq!(cap.tail(1000), "one\ntwo\npart\nEND RequestId: x\n");
        assert_eq!(cap.tail(2), "x\n");
        drop(w);
        assert!(cap.drain());
    }
}
