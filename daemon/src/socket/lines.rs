//! Reading the socket line by line, each at most [`MAX_FRAME`] bytes: a longer line is
//! consumed and reported, so one oversized request never takes the connection down.

use lm_protocol::socket::MAX_FRAME;
use std::io;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

pub(super) enum Line {
    Text(String),
    TooLong,
    End,
}

/// Reads one line of at most [`MAX_FRAME`] bytes; a longer one is consumed and reported.
pub(super) async fn read_line(reader: &mut (impl AsyncBufRead + Unpin)) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                Line::End
            } else if too_long {
                Line::TooLong
            } else {
                Line::Text(String::from_utf8_lossy(&line).into_owned())
            });
        }
        let (chunk, found) = match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => (&buffer[..end], Some(end + 1)),
            None => (buffer, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_FRAME {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let consumed = found.unwrap_or(buffer.len());
        reader.consume(consumed);
        if found.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(String::from_utf8_lossy(&line).into_owned())
            });
        }
    }
}
