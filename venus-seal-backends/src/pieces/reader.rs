//! A piece stream fed by a task: the task sends chunks, then an end
//! marker or an error; the [`ChannelReader`] is the caller's
//! [`AsyncRead`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// What a feeding task sends: bytes (`Some`), the clean end (`None`), or
/// why the stream failed.
pub(crate) type Chunk = Result<Option<Bytes>, io::Error>;

/// Chunks buffered between a feeding task and its reader.
const CHANNEL_CHUNKS: usize = 16;

/// A feeding task's sender and the reader it feeds. A sender dropped
/// without sending the end marker (the task stopped or panicked) is an
/// error for the reader, never a silent early end.
pub(crate) fn channel() -> (mpsc::Sender<Chunk>, ChannelReader) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    (
        tx,
        ChannelReader {
            rx,
            current: Bytes::new(),
            done: false,
        },
    )
}

/// The reading end of [`channel`].
#[derive(Debug)]
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    done: bool,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.current.is_empty() {
                let n = self.current.len().min(buf.remaining());
                buf.put_slice(&self.current[..n]);
                self.current.advance(n);
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(Some(bytes)))) => self.current = bytes,
                Poll::Ready(Some(Ok(None))) => {
                    self.done = true;
                }
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the piece stream stopped before its end (its fetching task ended)",
                    )));
                }
            }
        }
    }
}
