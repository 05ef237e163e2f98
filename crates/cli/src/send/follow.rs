//! Following a transfer until it ends, wherever it runs: its figures read through the send's
//! [`Commands`] for the progress bar, the same bar for an engine in this process and for a
//! server's transfer.

use super::Commands;
use crate::progress::{self, Progress};
use jetstream_engine::error::Error;
use std::future::Future;

/// Shows transfer `id`'s progress on `progress` until `ended` (what tells the transfer's end)
/// resolves, then removes the bar: what `ended` gave, or the failure to read the figures.
pub async fn follow<T>(
    commands: &impl Commands,
    id: u64,
    progress: &Progress,
    ended: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let mut clock = progress.clock();
    tokio::pin!(ended);
    let result = loop {
        tokio::select! {
            ended = &mut ended => break ended,
            () = progress::tick(&mut clock) => match commands.transfer(id).await {
                Ok(transfer) => progress.show(&transfer),
                Err(e) => break Err(e),
            },
        }
    };
    progress.finish();
    result
}
