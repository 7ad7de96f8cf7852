//! Turns a synthesis frame channel into a response body: raw audio, or SSE events.

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;
use crate::service::synthesis::Frame;

/// The audio bytes as they come; an error aborts the body so the client sees a cut stream.
pub fn raw_audio(frames: mpsc::Receiver<Result<Frame, ApiError>>) -> Body {
    Body::from_stream(ReceiverStream::new(frames).filter_map(|frame| async move {
        match frame {
            Ok(Frame::Audio(bytes)) => Some(Ok(bytes)),
            Ok(Frame::Done { .. }) => None,
            Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
        }
    }))
}

/// SSE events rendered by `render` (which returns the whole event text, or nothing).
pub fn events(
    frames: mpsc::Receiver<Result<Frame, ApiError>>,
    render: impl Fn(&Frame) -> Option<String> + Send + 'static,
) -> Body {
    Body::from_stream(ReceiverStream::new(frames).filter_map(move |frame| {
        let item = match frame {
            Ok(frame) => render(&frame).map(|text| Ok(Bytes::from(text))),
            Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
        };
        async move { item }
    }))
}
