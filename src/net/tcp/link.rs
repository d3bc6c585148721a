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
use crate::error::{Error, PartyId};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Plaintext handed to TLS per write, so records are produced and sent in a steady stream.
const TLS_CHUNK: usize = 64 * 1024;

/// Socket read buffer of a TLS link.
const TLS_READ_BUF: usize = 256 * 1024;

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

pub(super) type SharedTls = Arc<Mutex<rustls::Connection>>;

fn lock_tls(tls: &SharedTls) -> io::Result<std::sync::MutexGuard<'_, rustls::Connection>> {
    tls.lock()
        .map_err(|_| io::Error::other("tls state poisoned by a panicked thread"))
}

fn tls_io_error(e: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

/// What the writer thread is asked to do.
pub(super) enum Cmd {
    Send(Message, Stamp),
    /// Write out pending TLS records (e.g. a key-update answer the reader queued).
    Flush,
    Close,
}

/// The reading side of a link: plain socket reads, or TLS records decrypted under the shared
/// connection's lock (never held during socket I/O).
pub(super) struct ReadHalf {
    sock: TcpStream,
    pub(super) tls: Option<SharedTls>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    wake_writer: Option<Sender<Cmd>>,
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
            wake_writer: None,
            failure: None,
        }
    }

    fn read_tls_plaintext(&mut self, tls: &SharedTls, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut conn = lock_tls(tls)?;
                match conn.reader().read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                if self.start < self.end {
                    let mut pending = &self.buf[self.start..self.end];
                    let took = conn.read_tls(&mut pending)?;
                    self.start += took;
                    conn.process_new_packets().map_err(tls_io_error)?;
                    if conn.wants_write()
                        && let Some(w) = &self.wake_writer
                    {
                        let _ = w.send(Cmd::Flush);
                    }
                    continue;
                }
            }
            if self.buf.is_empty() {
                self.buf = vec![0; TLS_READ_BUF];
            }
            let got = loop {
                match self.sock.read(&mut self.buf) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if got == 0 {
                return Ok(0);
            }
            self.start = 0;
            self.end = got;
        }
    }
}

impl Read for ReadHalf {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let got = match self.tls.clone() {
            None => self.sock.read(out),
            Some(tls) => self.read_tls_plaintext(&tls, out),
        };
        if let Err(e) = &got
            && e.kind() != ErrorKind::Interrupted
        {
            self.failure = Some(io_detail(e));
        }
        got
    }
}

/// The writing side of a link. With TLS, plaintext is encrypted in chunks of 64 KiB under the
/// shared connection's lock, and the records are written after the lock is released.
pub(super) struct WriteHalf {
    sock: Counted,
    pub(super) tls: Option<SharedTls>,
    out: Vec<u8>,
}

impl WriteHalf {
    pub(super) fn new(sock: Counted) -> Self {
        Self {
            sock,
            tls: None,
            out: Vec::new(),
        }
    }

    fn drain_tls(&mut self, tls: &SharedTls) -> io::Result<()> {
        {
            let mut conn = lock_tls(tls)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.out)?;
            }
        }
        let sent = self.sock.write_all(&self.out);
        self.out.clear();
        sent
    }

    /// Ends the link's sending side: TLS close_notify (when on), then a TCP FIN.
    fn close(&mut self) {
        if let Some(tls) = self.tls.clone() {
            if let Ok(mut conn) = lock_tls(&tls) {
                conn.send_close_notify();
            }
            let _ = self.drain_tls(&tls);
        }
        let _ = self.sock.sock.shutdown(Shutdown::Write);
    }
}

impl Write for WriteHalf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.clone() else {
            return self.sock.write(data);
        };
        let chunk = &data[..data.len().min(TLS_CHUNK)];
        let taken = {
            let mut conn = lock_tls(&tls)?;
            let taken = conn.writer().write(chunk)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.out)?;
            }
            taken
        };
        let sent = self.sock.write_all(&self.out);
        self.out.clear();
        sent.map(|()| taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.clone() {
            self.drain_tls(&tls)?;
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
    mut io: LinkIo,
    limits: ReadLimits,
    counters: &Arc<Counters>,
) -> io::Result<Link> {
    let (cmd_tx, cmd_rx) = unbounded::<Cmd>();
    let (msg_tx, msg_rx) = unbounded::<Item>();
    let (done_tx, done_rx) = bounded::<()>(0);
    let writer = Arc::new(WriterState::default());
    let backlog = Arc::new(Backlog::new(limits.max_queued_words));
    if io.read.tls.is_some() {
        io.read.wake_writer = Some(cmd_tx.clone());
    }

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
            loop {
                match cmd_rx.recv() {
                    Ok(Cmd::Send(msg, stamp)) => match write_message(&mut write, &msg, stamp) {
                        Ok(()) => {
                            counters
                                .payload_written
                                .fetch_add(8 * msg.len() as u64, Ordering::AcqRel);
                            state.flushed.fetch_add(1, Ordering::AcqRel);
                        }
                        Err(e) => {
                            state.fail(io_detail(&e));
                            break;
                        }
                    },
                    Ok(Cmd::Flush) => {
                        if let Err(e) = write.flush() {
                            state.fail(io_detail(&e));
                            break;
                        }
                    }
                    Ok(Cmd::Close) | Err(_) => break,
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
