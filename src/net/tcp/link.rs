//! One link's I/O: the counted socket, the reading and writing halves (plain or TLS), and the
//! reader and writer threads that decouple the protocol from the socket.
//!
//! The writer thread takes messages from an unbounded queue, so `send` never blocks and two peers
//! sending large tensors to each other at once never deadlock. The reader thread reads one frame
//! at a time into a fresh `Vec<u64>` and queues it; its queue is bounded by a [`Backlog`] of words,
//! so a peer that sends faster than the protocol consumes stalls in TCP flow control instead of
//! filling this process's memory.

use super::super::frame::{check_frame_len, read_message_header, read_words, write_message};
use super::super::{Message, Stamp};
use super::record::{HEADER_LEN, MAX_BODY, Opened, Opener, Sealer};
use crate::error::{Error, PartyId};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Small writes are gathered up to this many bytes (one TLS record's plaintext) and sent together
/// at the next flush: a message's header and a short payload leave in one segment and one record.
const COALESCE: usize = super::record::MAX_PLAINTEXT;

/// Most bytes of one large write handed to the socket per call.
const WRITE_CHUNK: usize = 128 * 1024;

/// Socket read buffer. Plain reads at least a quarter of this size go straight to the caller.
const READ_BUF: usize = 256 * 1024;

/// Words a queued message is charged beyond its payload (the queue entry and the vector's own
/// header), so that a flood of empty messages is bounded too.
const MESSAGE_OVERHEAD_WORDS: u64 = 8;

/// Bytes written to this endpoint's sockets, and payload bytes among them.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) socket_written: AtomicU64,
    pub(super) payload_written: AtomicU64,
}

/// A socket whose writes are counted.
pub(super) struct Counted {
    pub(super) sock: TcpStream,
    pub(super) counters: Arc<Counters>,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sock.write(buf)?;
        self.counters.socket_written.fetch_add(n as u64, Ordering::AcqRel);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = self.sock.write_vectored(bufs)?;
        self.counters.socket_written.fetch_add(n as u64, Ordering::AcqRel);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }
}

/// What the writer thread is asked to do.
pub(super) enum Cmd {
    Send(Message, Stamp),
    Close,
}

/// The reading side of a link: a buffered socket whose bytes are the stream itself, or TLS
/// records this half opens on its own (see [`super::record`]).
pub(super) struct ReadHalf {
    sock: TcpStream,
    pub(super) tls: Option<Opener>,
    buf: Vec<u8>,
    /// Bytes read from the socket and not yet used: `buf[start..end]` (with TLS: not yet opened).
    start: usize,
    end: usize,
    /// With TLS: the opened plaintext not yet handed out, `buf[plain..plain_end]`.
    plain: usize,
    plain_end: usize,
    /// With TLS: the peer's close_notify has arrived.
    closed: bool,
    /// The last transport-level failure (socket or TLS), so that a frame error can be told apart
    /// from a broken connection.
    pub(super) failure: Option<String>,
}

impl ReadHalf {
    pub(super) fn new(sock: TcpStream) -> Self {
        Self {
            sock,
            tls: None,
            buf: Vec::new(),
            start: 0,
            end: 0,
            plain: 0,
            plain_end: 0,
            closed: false,
            failure: None,
        }
    }

    /// Bytes read from the socket and not yet handed out.
    pub(super) fn buffered(&self) -> usize {
        (self.end - self.start) + (self.plain_end - self.plain)
    }

    /// Reads what the socket has into `buf[end..]`; 0 at the end of the stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.buf.is_empty() {
            self.buf = vec![0; READ_BUF];
        }
        loop {
            match self.sock.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn read_plain(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if out.len() >= READ_BUF / 4 {
                return self.sock.read(out);
            }
            (self.start, self.end) = (0, 0);
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }

    fn read_tls(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.plain == self.plain_end {
            if self.closed {
                return Ok(0);
            }
            self.open_next_record()?;
        }
        let n = out.len().min(self.plain_end - self.plain);
        out[..n].copy_from_slice(&self.buf[self.plain..self.plain + n]);
        self.plain += n;
        Ok(n)
    }

    /// Reads and opens the next record; its plaintext becomes `buf[plain..plain_end]`.
    fn open_next_record(&mut self) -> io::Result<()> {
        loop {
            let have = self.end - self.start;
            if have >= HEADER_LEN {
                let header: [u8; HEADER_LEN] = self.buf[self.start..self.start + HEADER_LEN]
                    .try_into()
                    .expect("five bytes");
                let body_len = Opener::body_len(&header)?;
                if have >= HEADER_LEN + body_len {
                    let body = self.start + HEADER_LEN;
                    self.start = body + body_len;
                    let open = self.tls.as_mut().expect("a TLS link");
                    match open.open(&header, &mut self.buf[body..body + body_len])? {
                        Opened::Data(n) => (self.plain, self.plain_end) = (body, body + n),
                        Opened::Closed => self.closed = true,
                    }
                    return Ok(());
                }
            }
            if self.buf.len() < self.start + HEADER_LEN + MAX_BODY {
                // Not room for the largest record after `start`: move what is left to the front.
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, have);
            }
            if self.fill()? == 0 {
                if have == 0 {
                    self.closed = true;
                    return Ok(());
                }
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "connection closed inside a tls record",
                ));
            }
        }
    }
}

impl Read for ReadHalf {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let got = match self.tls {
            None => self.read_plain(out),
            Some(_) => self.read_tls(out),
        };
        if let Err(e) = &got
            && e.kind() != ErrorKind::Interrupted
        {
            self.failure = Some(io_detail(e));
        }
        got
    }
}

/// The writing side of a link. Small writes wait in `pending` until a flush (the writer thread
/// flushes whenever its queue runs empty); with TLS this half seals the records itself.
pub(super) struct WriteHalf {
    sock: Counted,
    pub(super) tls: Option<Sealer>,
    /// Plaintext of small writes not yet sent.
    pending: Vec<u8>,
    /// Sealed records not yet written.
    out: Vec<u8>,
}

impl WriteHalf {
    pub(super) fn new(sock: Counted) -> Self {
        Self {
            sock,
            tls: None,
            pending: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Sends `pending` followed by `more` (as records with TLS).
    fn send_pending_and(&mut self, more: &[u8]) -> io::Result<()> {
        match &mut self.tls {
            None if self.pending.is_empty() => self.sock.write_all(more),
            None => {
                self.pending.extend_from_slice(more);
                self.sock.write_all(&self.pending)
            }
            Some(seal) => {
                // The first record carries the pending bytes and the head of `more`.
                let head = more.len().min(COALESCE - self.pending.len().min(COALESCE));
                self.pending.extend_from_slice(&more[..head]);
                seal.seal(&self.pending, &mut self.out)?;
                seal.seal(&more[head..], &mut self.out)?;
                let sent = self.sock.write_all(&self.out);
                self.out.clear();
                sent
            }
        }?;
        self.pending.clear();
        Ok(())
    }

    /// Ends the link's sending side: what is pending, TLS close_notify (when on), then a TCP FIN.
    fn close(&mut self) {
        let _ = self.flush();
        if let Some(seal) = &mut self.tls
            && seal.close_notify(&mut self.out).is_ok()
        {
            let _ = self.sock.write_all(&self.out);
        }
        let _ = self.sock.sock.shutdown(Shutdown::Write);
    }
}

impl Write for WriteHalf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.pending.len() + data.len() <= COALESCE {
            self.pending.extend_from_slice(data);
            return Ok(data.len());
        }
        let take = data.len().min(WRITE_CHUNK);
        self.send_pending_and(&data[..take])?;
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.send_pending_and(&[])?;
        }
        self.sock.flush()
    }
}

/// One lowercase line for an I/O failure on a link.
pub(super) fn io_detail(e: &io::Error) -> String {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return super::tls::tls_detail(tls);
    }
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out".to_string(),
        ErrorKind::UnexpectedEof => "connection closed".to_string(),
        ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        ErrorKind::ConnectionAborted => "connection aborted".to_string(),
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::BrokenPipe => "connection closed (broken pipe)".to_string(),
        _ => {
            let text = e.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "i/o error".to_string(),
            }
        }
    }
}

/// The detail of a `read_frame` error: the transport failure recorded by the reader, or the frame
/// codec's complaint.
fn frame_failure(reader: &mut ReadHalf, e: Error) -> String {
    if let Some(failure) = reader.failure.take() {
        return failure;
    }
    match e {
        Error::Invalid { detail, .. } => format!("bad frame: {detail}"),
        other => format!("bad frame: {other}"),
    }
}

/// Shared between a link's writer thread and the transport.
#[derive(Default)]
pub(super) struct WriterState {
    /// Messages fully written to the socket.
    flushed: AtomicU64,
    /// Set once the writer has stopped on an error.
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl WriterState {
    fn fail(&self, detail: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(detail);
        }
        self.failed.store(true, Ordering::Release);
    }

    fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

/// A link's two halves after its handshake, before its threads start.
pub(super) struct LinkIo {
    pub(super) sock: TcpStream,
    pub(super) read: ReadHalf,
    pub(super) write: WriteHalf,
}

/// The words a link's reader has queued and the protocol has not yet taken, bounded: the reader
/// waits before reading a frame that would exceed the limit (one frame of any size up to the frame
/// limit always fits into an empty queue), so memory stays bounded and the peer feels backpressure.
pub(super) struct Backlog {
    limit: u64,
    state: Mutex<BacklogState>,
    room: Condvar,
}

#[derive(Default)]
struct BacklogState {
    queued: u64,
    closed: bool,
}

impl Backlog {
    fn new(limit: u64) -> Self {
        Self {
            limit,
            state: Mutex::default(),
            room: Condvar::new(),
        }
    }

    /// Waits until a message of `words` fits, then books it; false once the link is closing.
    fn admit(&self, words: u64) -> bool {
        let cost = words.saturating_add(MESSAGE_OVERHEAD_WORDS);
        let Ok(mut st) = self.state.lock() else { return false };
        while !st.closed && st.queued > 0 && st.queued.saturating_add(cost) > self.limit {
            st = match self.room.wait(st) {
                Ok(st) => st,
                Err(_) => return false,
            };
        }
        if st.closed {
            return false;
        }
        st.queued += cost;
        true
    }

    /// Returns the booking of a message of `words` the protocol has taken.
    fn release(&self, words: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.queued = st.queued.saturating_sub(words.saturating_add(MESSAGE_OVERHEAD_WORDS));
            self.room.notify_all();
        }
    }

    fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
            self.room.notify_all();
        }
    }

    /// Words booked now (payload plus overhead).
    #[cfg(test)]
    pub(super) fn queued(&self) -> u64 {
        self.state.lock().map(|st| st.queued).unwrap_or(0)
    }
}

/// What the reader thread hands the protocol: a message, or the reason the link ended.
type Item = std::result::Result<(Message, Stamp), String>;

/// A running link.
pub(super) struct Link {
    sock: TcpStream,
    cmds: Sender<Cmd>,
    msgs: Receiver<Item>,
    pub(super) backlog: Arc<Backlog>,
    /// Messages queued to the writer.
    queued: u64,
    writer: Arc<WriterState>,
    /// Disconnects when the writer thread ends.
    writer_done: Receiver<()>,
    /// Sticky receive-side failure.
    dead: Option<String>,
    threads: Vec<JoinHandle<()>>,
}

impl Link {
    /// Queues `msg` to the writer thread; fails once the writer has stopped.
    pub(super) fn send(&mut self, msg: Message, stamp: Stamp) -> std::result::Result<(), String> {
        if let Some(failure) = self.writer.failure() {
            return Err(failure);
        }
        if self.cmds.send(Cmd::Send(msg, stamp)).is_err() {
            return Err("connection closed".to_string());
        }
        self.queued += 1;
        Ok(())
    }

    /// The next message, waiting at most `timeout`; a failure is sticky.
    pub(super) fn recv(&mut self, timeout: Duration) -> std::result::Result<(Message, Stamp), String> {
        if let Some(dead) = &self.dead {
            return Err(dead.clone());
        }
        let detail = match self.msgs.recv_timeout(timeout) {
            Ok(Ok((msg, stamp))) => {
                self.backlog.release(msg.len() as u64);
                return Ok((msg, stamp));
            }
            Ok(Err(detail)) => detail,
            Err(RecvTimeoutError::Timeout) => return Err(format!("no message within {timeout:?}")),
            Err(RecvTimeoutError::Disconnected) => "connection closed".to_string(),
        };
        self.dead = Some(detail.clone());
        Err(detail)
    }

    /// Whether every queued message has been written out (or the writer has given up).
    pub(super) fn is_flushed(&self) -> bool {
        self.writer.flushed.load(Ordering::Acquire) >= self.queued || self.writer.failed.load(Ordering::Acquire)
    }

    /// Asks the writer to finish (after what is queued) and wakes the reader.
    pub(super) fn start_closing(&self) {
        let _ = self.cmds.send(Cmd::Close);
        self.backlog.close();
        let _ = self.sock.shutdown(Shutdown::Read);
    }

    /// Waits until the writer has finished or `deadline` passes (then cuts the socket), and joins
    /// both threads.
    pub(super) fn finish(mut self, deadline: std::time::Instant) {
        if let Err(RecvTimeoutError::Timeout) = self.writer_done.recv_deadline(deadline) {
            let _ = self.sock.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Limits of one link's reading side.
#[derive(Clone, Copy)]
pub(super) struct ReadLimits {
    /// Longest frame accepted, in words.
    pub(super) max_frame_words: u64,
    /// Words the reader may queue ahead of the protocol.
    pub(super) max_queued_words: u64,
}

/// Starts a link's reader and writer threads.
pub(super) fn spawn_link(
    id: PartyId,
    peer: PartyId,
    io: LinkIo,
    limits: ReadLimits,
    counters: &Arc<Counters>,
) -> io::Result<Link> {
    let (cmd_tx, cmd_rx) = unbounded::<Cmd>();
    let (msg_tx, msg_rx) = unbounded::<Item>();
    let (done_tx, done_rx) = bounded::<()>(0);
    let writer = Arc::new(WriterState::default());
    let backlog = Arc::new(Backlog::new(limits.max_queued_words));
    let mut read = io.read;
    let reader_backlog = Arc::clone(&backlog);
    let reader = std::thread::Builder::new()
        .name(format!("tcp-read-{id}-{peer}"))
        .spawn(move || {
            while let Some(item) = read_one(&mut read, limits.max_frame_words, &reader_backlog) {
                let last = item.is_err();
                if msg_tx.send(item).is_err() || last {
                    break;
                }
            }
        })?;

    let mut write = io.write;
    let state = Arc::clone(&writer);
    let counters = Arc::clone(counters);
    let writer_thread = std::thread::Builder::new()
        .name(format!("tcp-write-{id}-{peer}"))
        .spawn(move || {
            let _done = done_tx;
            // Messages written but maybe still pending in `write`: counted as flushed once sent.
            let mut unflushed = 0u64;
            while let Ok(Cmd::Send(msg, stamp)) = cmd_rx.recv() {
                let mut written = write_message(&mut write, &msg, stamp);
                unflushed += 1;
                if written.is_ok() && cmd_rx.is_empty() {
                    written = write.flush();
                }
                if let Err(e) = written {
                    state.fail(io_detail(&e));
                    break;
                }
                counters
                    .payload_written
                    .fetch_add(8 * msg.len() as u64, Ordering::AcqRel);
                if cmd_rx.is_empty() {
                    state
                        .flushed
                        .fetch_add(std::mem::take(&mut unflushed), Ordering::AcqRel);
                }
            }
            write.close();
        });
    let writer_thread = match writer_thread {
        Ok(t) => t,
        Err(e) => {
            backlog.close();
            let _ = io.sock.shutdown(Shutdown::Both);
            let _ = reader.join();
            return Err(e);
        }
    };
    Ok(Link {
        sock: io.sock,
        cmds: cmd_tx,
        msgs: msg_rx,
        backlog,
        queued: 0,
        writer,
        writer_done: done_rx,
        dead: None,
        threads: vec![reader, writer_thread],
    })
}

/// Reads the next message: its header, then (once the backlog has room, so nothing is allocated
/// ahead of the protocol) its payload. `None` when the link is closing.
fn read_one(read: &mut ReadHalf, max_words: u64, backlog: &Backlog) -> Option<Item> {
    let (len, stamp) = match read_message_header(read) {
        Ok(Some(header)) => header,
        Ok(None) => return Some(Err("connection closed".to_string())),
        Err(e) => return Some(Err(frame_failure(read, e))),
    };
    if let Err(e) = check_frame_len(len, max_words) {
        return Some(Err(frame_failure(read, e)));
    }
    if !backlog.admit(len) {
        return None;
    }
    Some(match read_words(read, len) {
        Ok(words) => Ok((Arc::new(words), stamp)),
        Err(e) => {
            backlog.release(len);
            Err(frame_failure(read, e))
        }
    })
}
