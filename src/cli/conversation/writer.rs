//! [`LineRenderWriter`]: a [`Renderer`] behind `std::io::Write`, so the
//! client's log copy (which writes the body's chunks as they arrive) prints
//! a conversation instead of JSON lines.

use super::Renderer;
use std::io::{self, Write};

/// A line longer than this is not kept whole: its bytes so far and the rest
/// up to its newline are copied as they are (the log's size cap bounds
/// lines anyway; this bounds the client's memory).
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Renders each complete line written to it and writes the result to the
/// inner writer; keeps a partial line (cut anywhere, even inside a UTF-8
/// sequence) until its end arrives. [`finish`](Self::finish) renders what
/// is left. `flush` flushes the inner writer only: a partial line stays
/// until it is complete.
pub struct LineRenderWriter<W: Write> {
    inner: W,
    renderer: Renderer,
    /// The current line's bytes so far.
    pending: Vec<u8>,
    /// The current line outgrew [`MAX_LINE_BYTES`]: its bytes are being
    /// copied as they are until its newline.
    copying: bool,
}

impl<W: Write> LineRenderWriter<W> {
    pub fn new(inner: W, renderer: Renderer) -> Self {
        LineRenderWriter {
            inner,
            renderer,
            pending: Vec::new(),
            copying: false,
        }
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Render the partial line left at the end (the log's last line had no
    /// newline), flush, and give the inner writer back.
    pub fn finish(mut self) -> io::Result<W> {
        if self.copying {
            self.inner.write_all(b"\n")?;
        } else if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line)?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        match self.renderer.line(line) {
            Some(text) => self.inner.write_all(text.as_bytes()),
            None => Ok(()),
        }
    }
}

impl<W: Write> Write for LineRenderWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = (&rest[..nl], &rest[nl + 1..]);
            if self.copying {
                self.inner.write_all(&rest[..=nl])?;
                self.copying = false;
            } else if self.pending.is_empty() {
                self.emit(line)?;
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(line);
                self.emit(&whole)?;
                whole.clear();
                self.pending = whole;
            }
            rest = tail;
        }
        if self.copying {
            self.inner.write_all(rest)?;
        } else {
            self.pending.extend_from_slice(rest);
            if self.pending.len() > MAX_LINE_BYTES {
                self.inner.write_all(&self.pending)?;
                self.pending = Vec::new();
                self.copying = true;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
