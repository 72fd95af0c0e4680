//! Starting an invocation whose answer may stream (InvokeWithResponseStream, and URLs with
//! `InvokeMode: RESPONSE_STREAM`): it runs in a task of its own, and the caller learns first
//! whether the function streams (then the chunks follow as it writes them) or answered
//! whole (or could not run at all, which is an ordinary error answer).

use lamina_model::LambdaError;
use lamina_platform::{InvokeInput, InvokeOutput, Platform, StreamEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How a streaming invocation began.
#[derive(Debug)]
pub enum Started {
    /// The function streams its answer.
    Streaming {
        /// Its content type.
        content_type: Option<String>,
        /// The version that runs.
        executed_version: String,
        /// The chunks, as written; closed at the answer's end.
        chunks: mpsc::Receiver<StreamEvent>,
        /// The invocation's end (how the stream ended, the log tail).
        done: JoinHandle<Result<InvokeOutput, LambdaError>>,
    },
    /// The function answered whole.
    Whole(InvokeOutput),
}

/// Starts `input` with a stream sink and waits until the answer begins.
pub async fn start(p: &Platform, input: InvokeInput) -> Result<Started, LambdaError> {
    let (tx, mut chunks) = mpsc::channel(16);
    let p = p.clone();
    let mut done = tokio::spawn(async move { p.invoke_streaming(input, Some(tx)).await });
    let first = tokio::select! {
        // A stream's start always comes before its invocation's end.
        biased;
        first = chunks.recv() => first,
        out = &mut done => return whole(out),
    };
    match first {
        Some(StreamEvent::Start {
            content_type,
            executed_version,
        }) => Ok(Started::Streaming {
            content_type,
            executed_version,
            chunks,
            done,
        }),
        // The sink went without a stream: the answer came whole.
        _ => whole(done.await),
    }
}

fn whole(
    out: Result<Result<InvokeOutput, LambdaError>, tokio::task::JoinError>,
) -> Result<Started, LambdaError> {
    match out {
        Ok(out) => out.map(Started::Whole),
        Err(e) => Err(LambdaError::Service(format!("The invocation failed: {e}"))),
    }
}
