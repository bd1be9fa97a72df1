//! Capture: the only module that touches libpcap.
//!
//! Owns opening files and interfaces, BPF filters, and the packet timestamps.
//! Yields borrowed packets (timestamp, link type, original length, bytes).
//!
//! Both sources read on a thread of their own: a live capture so that the
//! kernel buffer is drained while the analysis runs, a file (`FileSource`)
//! so that reading it overlaps the analysis on a second core (pipelining:
//! libpcap's reads and copies are a third of `connscope read`'s time).

/// A packet timestamp: seconds and nanoseconds since the Unix epoch, as
/// recorded by the capture (microsecond files have `nanos % 1000 == 0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub fn new(secs: i64, nanos: u32) -> Self {
        Timestamp { secs, nanos }
    }

    /// Epoch seconds as a float (the JSON contract's `start`/`end`).
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// Signed difference `self - earlier` in seconds.
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.secs - earlier.secs) as f64 + (f64::from(self.nanos) - f64::from(earlier.nanos)) / 1e9
    }

    /// This timestamp plus `secs` seconds (may be fractional, must be >= 0).
    pub fn plus_secs(self, secs: f64) -> Timestamp {
        let whole = secs.trunc() as i64;
        let frac = ((secs - secs.trunc()) * 1e9).round() as u32;
        let mut nanos = self.nanos + frac;
        let mut s = self.secs + whole;
        if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000;
            s += 1;
        }
        Timestamp { secs: s, nanos }
    }
}

use pcap::{Capture, Offline, Precision};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The link layers connscope decodes, mapped once per capture from the
/// DLT number; anything else is kept as `Unknown` and refused by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    /// DLT_NULL: 4-byte address family in the capturing host's byte order.
    Null,
    /// DLT_LOOP: 4-byte address family in network byte order.
    Loop,
    /// Bare IPv4 or IPv6 (DLT_RAW and its platform aliases).
    Raw,
    Ipv4,
    Ipv6,
    Unknown(i32),
}

impl LinkType {
    pub fn from_dlt(dlt: i32) -> LinkType {
        match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            // 12 and 14 are DLT_RAW on some BSDs; 101 is LINKTYPE_RAW in files.
            12 | 14 | 101 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            n => LinkType::Unknown(n),
        }
    }
}

/// One captured packet, borrowed from libpcap's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    /// Length on the wire (may exceed `data.len()` when cut by the snapshot length).
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// Errors from opening or reading a capture. Each names the file.
#[derive(Debug)]
pub enum CaptureError {
    Open {
        path: PathBuf,
        reason: String,
    },
    UnsupportedLinkType {
        path: PathBuf,
        name: String,
    },
    Filter {
        expr: String,
        reason: String,
    },
    /// The file broke in the middle: everything before `offset` was read.
    Read {
        path: PathBuf,
        offset: Option<u64>,
        record: u64,
        reason: String,
    },
    Live {
        reason: String,
    },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Open { path, reason } => write!(f, "{}: {}", path.display(), reason),
            CaptureError::UnsupportedLinkType { path, name } => write!(
                f,
                "{}: unsupported link type {name}; connscope decodes EN10MB, LINUX_SLL, LINUX_SLL2, NULL, LOOP and RAW captures",
                path.display()
            ),
            CaptureError::Filter { expr, reason } => write!(
                f,
                "invalid filter '{expr}': {reason} (see pcap-filter(7) for the syntax)"
            ),
            CaptureError::Read { path, offset, record, reason } => {
                write!(f, "{}: ", path.display())?;
                match offset {
                    Some(o) => write!(f, "broken capture at byte offset {o} (record {record}): ")?,
                    None => write!(f, "broken capture after record {}: ", record.saturating_sub(1))?,
                }
                write!(f, "{reason}")?;
                if reason.contains("truncated") {
                    write!(f, " (the file was cut short: copied while still being written?)")?;
                }
                write!(f, "; the packets before it were analysed")
            }
            CaptureError::Live { reason } => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// A capture's link type, with libpcap's name (`EN10MB`) and description
/// (`Ethernet`) as tcpdump prints them.
fn link_of(dl: pcap::Linktype) -> (LinkType, String, String) {
    let name = dl.get_name().unwrap_or_else(|_| format!("DLT {}", dl.0));
    let description = dl.get_description().unwrap_or_else(|_| name.clone());
    (LinkType::from_dlt(dl.0), name, description)
}

/// Builds the BPF expression for `--port` and `--filter` (and-ed).
pub fn filter_expression(port: Option<u16>, filter: Option<&str>) -> Option<String> {
    match (port, filter.map(str::trim).filter(|f| !f.is_empty())) {
        (None, None) => None,
        (Some(p), None) => Some(format!("tcp port {p}")),
        (None, Some(f)) => Some(f.to_string()),
        (Some(p), Some(f)) => Some(format!("tcp port {p} and ({f})")),
    }
}

/// What kind of file this is, sniffed from the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileFormat {
    Pcap,
    PcapNg,
}

/// A saved capture read through libpcap.
///
/// Reading is pipelined: once `open` has checked the file, a reader thread
/// owns the libpcap handle and the BPF program, reads and filters records,
/// and sends them ahead in batches over a bounded channel while the caller
/// analyses the previous batch, so the file read overlaps the analysis on a
/// second core. A classic pcap file (version 2.4) is read in 1 MiB chunks
/// straight into the batches (`read_pcap_chunks`), with libpcap taking over
/// at the first record it might judge differently; pcapng is libpcap's
/// throughout. The caller still sees one packet at a time, in file order,
/// and the counters and errors as of the packet it last got.
///
/// `E` is what the caller's `early` function (see `open_with`) makes of each
/// packet on the reader thread, handed out beside the packet: work moved off
/// the caller's thread (the analysis decodes headers there). `S` is a store
/// per batch the function may also fill, for results only some packets
/// have (the packet's `E` then says where its result is), so that `E`
/// stays small.
pub struct FileSource<E: Send + 'static = (), S: Side = ()> {
    rx: Receiver<Batch<E, S>>,
    /// Emptied batches go back to the reader, so steady state allocates nothing.
    recycle: Sender<Batch<E, S>>,
    /// Batches sent by the reader and not yet received here.
    queued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    /// The batch being handed out and the index of its next packet.
    current: Option<Batch<E, S>>,
    next: usize,
    /// The reader's last message (end of file or a read error) was handed out.
    finished: bool,
    path: PathBuf,
    pub link: LinkType,
    link_name: String,
    link_description: String,
    snaplen: u32,
    format: FileFormat,
    /// Byte offset of the next record (classic pcap only: 24-byte file
    /// header, then a 16-byte record header plus caplen bytes per record).
    offset: u64,
    /// Records read so far, matching or not.
    pub records: u64,
    /// Records rejected by the BPF filter.
    pub filtered_out: u64,
    /// The most bytes the chunk reader's buffer held (it stays bounded).
    #[cfg(test)]
    largest_buffer: usize,
}

/// Where a batch fills up: enough to make a channel handoff per batch
/// negligible, small enough to stay in cache and keep the RSS flat.
const BATCH_BYTES: usize = 1024 * 1024;
const BATCH_PACKETS: usize = 16384;
/// Full batches in flight between the reader and the analysis.
const BATCH_QUEUE: usize = 4;

/// Packets read ahead: their bytes back to back in `data`, and per packet
/// its header plus the reader's counters just after it.
struct Batch<E, S> {
    data: Vec<u8>,
    packets: Vec<BatchPacket>,
    /// `early` of each packet, filled just before the batch is sent.
    early: Vec<E>,
    /// What `early` stored on the side for this batch.
    side: S,
    /// Set on the reader's last batch: nothing follows it.
    end: Option<ReadEnd>,
}

impl<E, S: Side> Batch<E, S> {
    fn new() -> Batch<E, S> {
        Batch {
            data: Vec::with_capacity(BATCH_BYTES),
            packets: Vec::with_capacity(BATCH_PACKETS),
            early: Vec::new(),
            side: S::default(),
            end: None,
        }
    }
}

#[derive(Clone, Copy)]
struct BatchPacket {
    ts: Timestamp,
    wire_len: u32,
    /// `data[start..end]` of its batch.
    start: usize,
    end: usize,
    /// `FileSource`'s counters once this packet was read.
    at: Counters,
}

/// The reader's position: records read (matching or not), records the
/// filter rejected, and the byte offset of the next record.
#[derive(Clone, Copy)]
struct Counters {
    records: u64,
    filtered_out: u64,
    offset: u64,
    #[cfg(test)]
    largest_buffer: usize,
}

/// How the reader stopped, with its counters then: end of file, or the
/// error for the record it could not read.
struct ReadEnd {
    at: Counters,
    error: Option<CaptureError>,
}

impl FileSource {
    pub fn open(path: &Path, filter: Option<&str>) -> Result<FileSource, CaptureError> {
        FileSource::open_with(path, filter, |_, _, _, _: &mut ()| ())
    }
}

/// The per-batch store of a `FileSource` (see there): emptied, keeping its
/// buffers, when the batch is reused.
pub trait Side: Default + Send + 'static {
    fn clear(&mut self);
}

impl Side for () {
    fn clear(&mut self) {}
}

impl<T: Send + 'static> Side for Vec<T> {
    fn clear(&mut self) {
        Vec::clear(self);
    }
}

/// Per-packet work for the reader thread (see `FileSource`): called with
/// the link type, the packet, whether the caller is behind, and the batch's
/// store. Behind means read batches are waiting for the caller: work that
/// only saves the caller time is worth doing then, and only then, as the
/// reader would otherwise wait; when the reader is the slower side it is
/// not. A generic, not a function pointer, so that the call is inlined and
/// its result written in place in the batch.
pub trait EarlyFn<E, S>: Fn(LinkType, &Packet<'_>, bool, &mut S) -> E + Send + 'static {}

impl<E, S, F: Fn(LinkType, &Packet<'_>, bool, &mut S) -> E + Send + 'static> EarlyFn<E, S> for F {}

impl<E: Send + 'static, S: Side> FileSource<E, S> {
    /// `open`, with `early` run on every packet that passes the filter, on
    /// the reader thread; `next_with` hands its result out with the packet.
    pub fn open_with(
        path: &Path,
        filter: Option<&str>,
        early: impl EarlyFn<E, S>,
    ) -> Result<FileSource<E, S>, CaptureError> {
        let open_err = |reason: String| CaptureError::Open {
            path: path.to_path_buf(),
            reason,
        };
        // `-` is standard input. It, or a pipe or device given by name, can
        // be read only once: its head is read here (to tell the format), and
        // libpcap reads the head and the rest through a pipe of our own.
        let stream: Option<Box<dyn std::io::Read + Send>> = if path == Path::new("-") {
            Some(Box::new(std::io::stdin()))
        } else {
            let meta = std::fs::metadata(path).map_err(|e| open_err(io_reason(&e)))?;
            if meta.is_dir() {
                return Err(open_err("is a directory, not a capture file".into()));
            }
            if meta.is_file() {
                None
            } else {
                let f = std::fs::File::open(path).map_err(|e| open_err(io_reason(&e)))?;
                Some(Box::new(f))
            }
        };
        let streamed = stream.is_some();
        let (header, pcap_path, pipe) = match stream {
            None => {
                let header = read_prefix(path).map_err(|e| open_err(io_reason(&e)))?;
                (header, path.to_path_buf(), None)
            }
            Some(mut input) => {
                let header = read_head(&mut input).map_err(|e| open_err(io_reason(&e)))?;
                let (rx, tx) = std::io::pipe().map_err(|e| open_err(io_reason(&e)))?;
                feed(tx, header.clone(), input)
                    .map_err(|e| open_err(format!("cannot start the input thread: {e}")))?;
                let fd = std::os::fd::AsRawFd::as_raw_fd(&rx);
                (header, PathBuf::from(format!("/dev/fd/{fd}")), Some(rx))
            }
        };
        let (format, snaplen) = sniff(&header).ok_or_else(|| {
            open_err(if header.len() < 4 {
                format!("not a capture file: only {} bytes long (pcap and pcapng files start with a 24-byte header)", header.len())
            } else {
                "not a pcap or pcapng capture file (unknown magic number)".into()
            })
        })?;
        let cap = Capture::from_file_with_precision(&pcap_path, Precision::Nano).map_err(|e| {
            let r = pcap_reason(&e);
            open_err(if r.contains("file header") {
                format!("{r}: the file ends inside the capture header")
            } else {
                r
            })
        })?;
        let (link, link_name, link_description) = link_of(cap.get_datalink());
        if let LinkType::Unknown(_) = link {
            return Err(CaptureError::UnsupportedLinkType {
                path: path.to_path_buf(),
                name: format!("{link_name} ({link_description})"),
            });
        }
        let bpf = match filter {
            Some(expr) => Some(cap.compile(expr, true).map_err(|e| CaptureError::Filter {
                expr: expr.to_string(),
                reason: pcap_reason(&e),
            })?),
            None => None,
        };
        // libpcap has its own end of the pipe now.
        drop(pipe);
        // Everything that can fail at open has been checked: from here on the
        // file is read ahead on its own thread (see the type's doc).
        let fast = PcapHeader::parse(&header).filter(|h| h.chunkable() && !streamed);
        let (tx, rx) = sync_channel(BATCH_QUEUE);
        let (recycle, recycled) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicUsize::new(0));
        let reader = {
            let (path, stop) = (path.to_path_buf(), stop.clone());
            let queued = queued.clone();
            std::thread::Builder::new()
                .name("capture-read".into())
                .spawn(move || {
                    let out = Out {
                        tx,
                        link,
                        early,
                        queued,
                    };
                    read_ahead(cap, bpf, &path, format, fast, &out, &recycled, &stop)
                })
                .map_err(|e| open_err(format!("cannot start the reader thread: {e}")))?
        };
        Ok(FileSource {
            rx,
            recycle,
            queued,
            stop,
            reader: Some(reader),
            current: None,
            next: 0,
            finished: false,
            path: path.to_path_buf(),
            link,
            link_name,
            link_description,
            snaplen,
            format,
            offset: 24,
            records: 0,
            filtered_out: 0,
            #[cfg(test)]
            largest_buffer: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// libpcap's name for the link type, e.g. `EN10MB`.
    pub fn link_name(&self) -> &str {
        &self.link_name
    }

    /// Bytes of the file consumed so far (classic pcap only; pcapng's
    /// block sizes are libpcap's business).
    pub fn bytes_read(&self) -> Option<u64> {
        (self.format == FileFormat::Pcap).then_some(self.offset)
    }

    /// tcpdump's status line for this file.
    pub fn status_line(&self) -> String {
        format!(
            "reading from file {}, link-type {} ({}), snapshot length {}",
            self.path.display(),
            self.link_name,
            self.link_description,
            self.snaplen
        )
    }

    /// Hands the next packet that passes the filter to `f`; `None` at the
    /// end of the file. A callback rather than a returned borrow, because the
    /// packet lives in the read-ahead buffer only until the next call.
    /// A read error comes after every packet before the broken record.
    pub fn next_with<R>(
        &mut self,
        f: impl FnOnce(Packet<'_>, &mut E, &mut S) -> R,
    ) -> Result<Option<R>, CaptureError> {
        if !self.advance()? {
            return Ok(None);
        }
        let Some(batch) = &mut self.current else {
            return Ok(None);
        };
        let (Some(&p), Some(e)) = (batch.packets.get(self.next), batch.early.get_mut(self.next))
        else {
            return Ok(None);
        };
        self.next += 1;
        (self.records, self.filtered_out, self.offset) =
            (p.at.records, p.at.filtered_out, p.at.offset);
        let pkt = Packet {
            ts: p.ts,
            wire_len: p.wire_len,
            data: &batch.data[p.start..p.end],
        };
        Ok(Some(f(pkt, e, &mut batch.side)))
    }

    /// `next_with` for every packet left in the current batch (the next
    /// batch once it is used up), in order, until `f` fails: the analysis
    /// loop then runs without a call, a check and the counters' update per
    /// packet. The counters stand at the last packet handed out. `Ok(None)`
    /// at the end of the file, `Ok(Some(Err))` when `f` failed.
    pub fn each_in_batch<X>(
        &mut self,
        mut f: impl FnMut(Packet<'_>, &mut E, &mut S) -> Result<(), X>,
    ) -> Result<Option<Result<(), X>>, CaptureError> {
        if !self.advance()? {
            return Ok(None);
        }
        let Some(batch) = &mut self.current else {
            return Ok(None);
        };
        let Batch {
            data,
            packets,
            early,
            side,
            ..
        } = batch;
        let from = self.next;
        let mut result = Ok(());
        let mut last = None;
        for (p, e) in packets.iter().zip(early.iter_mut()).skip(from) {
            last = Some(p.at);
            self.next += 1;
            let pkt = Packet {
                ts: p.ts,
                wire_len: p.wire_len,
                data: &data[p.start..p.end],
            };
            if let Err(x) = f(pkt, e, side) {
                result = Err(x);
                break;
            }
        }
        if let Some(at) = last {
            (self.records, self.filtered_out, self.offset) =
                (at.records, at.filtered_out, at.offset);
        }
        Ok(Some(result))
    }

    /// Makes sure a batch with a packet left is current: `Ok(false)` at the
    /// end of the file, the read error when the reader stopped at one.
    fn advance(&mut self) -> Result<bool, CaptureError> {
        loop {
            if let Some(batch) = &mut self.current {
                if self.next < batch.packets.len() && self.next < batch.early.len() {
                    return Ok(true);
                }
                if let Some(end) = batch.end.take() {
                    self.current = None;
                    self.finished = true;
                    #[cfg(test)]
                    {
                        self.largest_buffer = end.at.largest_buffer;
                    }
                    (self.records, self.filtered_out, self.offset) =
                        (end.at.records, end.at.filtered_out, end.at.offset);
                    return match end.error {
                        Some(e) => Err(e),
                        None => Ok(false),
                    };
                }
                if let Some(used) = self.current.take() {
                    // Sent back as it is: the reader empties it. `data` keeps
                    // its bytes: the chunk reader reads into them without
                    // zeroing them again (`read_chunk`).
                    // The reader may be done already; then the batch is dropped.
                    let _ = self.recycle.send(used);
                }
            }
            if self.finished {
                return Ok(false);
            }
            match self.rx.recv() {
                Ok(batch) => {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    self.current = Some(batch);
                    self.next = 0;
                }
                // The reader always ends with a batch carrying `end`, so
                // this means it panicked.
                Err(_) => {
                    self.finished = true;
                    return Err(CaptureError::Read {
                        path: self.path.clone(),
                        offset: self.bytes_read(),
                        record: self.records + 1,
                        reason: "the capture reader thread stopped unexpectedly".into(),
                    });
                }
            }
        }
    }
}

impl<E: Send + 'static, S: Side> Drop for FileSource<E, S> {
    /// Stops the reader early (output closed, an error): the flag ends its
    /// loop at the next record, and a disconnected channel fails a send it
    /// is blocked in, so the join waits at most for one libpcap read.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(std::mem::replace(&mut self.rx, sync_channel(0).1));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reader thread: reads and filters records into batches until the end
/// of the file, a read error, or the `FileSource` going away. Its counters
/// and error match a synchronous read's exactly.
#[allow(clippy::too_many_arguments)]
fn read_ahead<E, S: Side, F: EarlyFn<E, S>>(
    mut cap: Capture<Offline>,
    bpf: Option<pcap::BpfProgram>,
    path: &Path,
    format: FileFormat,
    fast: Option<PcapHeader>,
    tx: &Out<E, S, F>,
    recycled: &Receiver<Batch<E, S>>,
    stop: &AtomicBool,
) {
    let mut c = Counters {
        records: 0,
        filtered_out: 0,
        offset: 24,
        #[cfg(test)]
        largest_buffer: 0,
    };
    // Recycled batches are emptied here: dropping the store's entries reads
    // them all again, which is better done on this thread than the caller's.
    let fresh = || match recycled.try_recv() {
        Ok(mut b) => {
            b.packets.clear();
            b.early.clear();
            b.side.clear();
            b
        }
        Err(_) => Batch::new(),
    };
    if let Some(h) = fast {
        match read_pcap_chunks(path, h, bpf.as_ref(), &mut c, tx, &fresh, stop) {
            ChunkEnd::Stopped => return,
            ChunkEnd::Eof => return send_end(tx, fresh(), c, None),
            // libpcap takes over at the record the fast path was unsure of:
            // it skips the ones already read, then reads (or refuses) it as
            // it always has, so broken files get libpcap's own verdict.
            ChunkEnd::Handover => {
                for _ in 0..c.records {
                    if cap.next_packet().is_err() {
                        break;
                    }
                }
            }
        }
    }
    // The libpcap path appends: its batches start empty (the chunk reader
    // leaves recycled ones full of stale bytes).
    let fresh_empty = || {
        let mut b = fresh();
        b.data.clear();
        b
    };
    let mut batch = fresh_empty();
    let error = loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match cap.next_packet() {
            Ok(p) => {
                c.records += 1;
                c.offset += 16 + u64::from(p.header.caplen);
                if let Some(bpf) = &bpf {
                    if !bpf.filter(p.data) {
                        c.filtered_out += 1;
                        continue;
                    }
                }
                let start = batch.data.len();
                batch.data.extend_from_slice(p.data);
                batch.packets.push(BatchPacket {
                    ts: Timestamp::new(p.header.ts.tv_sec, p.header.ts.tv_usec as u32),
                    wire_len: p.header.len,
                    start,
                    end: batch.data.len(),
                    at: c,
                });
                if batch.data.len() >= BATCH_BYTES || batch.packets.len() >= BATCH_PACKETS {
                    if tx.send(batch).is_err() {
                        return; // the FileSource was dropped
                    }
                    batch = fresh_empty();
                }
            }
            Err(pcap::Error::NoMorePackets) => break None,
            Err(e) => {
                break Some(CaptureError::Read {
                    path: path.to_path_buf(),
                    offset: (format == FileFormat::Pcap).then_some(c.offset),
                    record: c.records + 1,
                    reason: pcap_reason(&e),
                })
            }
        }
    };
    send_end(tx, batch, c, error);
}

/// Sends the reader's last batch: `batch`'s packets, then the end.
fn send_end<E, S: Side, F: EarlyFn<E, S>>(
    tx: &Out<E, S, F>,
    mut batch: Batch<E, S>,
    at: Counters,
    error: Option<CaptureError>,
) {
    batch.end = Some(ReadEnd { at, error });
    // The FileSource may be gone already: then nobody needs it.
    let _ = tx.send(batch);
}

/// The reader's side of the channel: runs the caller's `early` function over
/// a batch's packets just before sending it.
struct Out<E, S, F> {
    tx: SyncSender<Batch<E, S>>,
    link: LinkType,
    early: F,
    /// Batches sent and not yet received (shared with the `FileSource`).
    queued: Arc<AtomicUsize>,
}

/// Batches waiting for the caller from which on the reader does optional
/// work for it (`EarlyFn`'s flag).
const BEHIND: usize = 1;

impl<E, S: Side, F: EarlyFn<E, S>> Out<E, S, F> {
    /// Fails when the `FileSource` is gone.
    fn send(&self, mut batch: Batch<E, S>) -> Result<(), ()> {
        let Batch {
            data,
            packets,
            early,
            side,
            ..
        } = &mut batch;
        let behind = self.queued.load(Ordering::Relaxed) >= BEHIND;
        early.extend(packets.iter().map(|p| {
            let pkt = Packet {
                ts: p.ts,
                wire_len: p.wire_len,
                data: &data[p.start..p.end],
            };
            (self.early)(self.link, &pkt, behind, side)
        }));
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.send(batch).map_err(|_| ())
    }
}

/// A `u32` at `i` of `b` in the file's byte order.
fn u32_at(b: &[u8], i: usize, big_endian: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

/// The 24-byte header of a classic pcap file (µs or ns, either byte order).
#[derive(Clone, Copy, Debug)]
struct PcapHeader {
    big_endian: bool,
    nanos: bool,
    /// (major << 16) | minor; 0 if the file is too short to say.
    version: u32,
    /// As written; 0 if the file is too short to say.
    snaplen: u32,
}

impl PcapHeader {
    /// The header if `h` starts with a classic pcap magic number.
    fn parse(h: &[u8]) -> Option<PcapHeader> {
        let magic: [u8; 4] = h.get(0..4)?.try_into().ok()?;
        let (big_endian, nanos) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return None,
        };
        let version = u32_at(h, 4, big_endian).unwrap_or(0);
        Some(PcapHeader {
            big_endian,
            nanos,
            // (major, minor) are two u16s in file order.
            version: if big_endian {
                version
            } else {
                version.rotate_left(16)
            },
            snaplen: u32_at(h, 16, big_endian).unwrap_or(0),
        })
    }

    /// Only version 2.4 files with a snapshot length are read in chunks:
    /// anything older or odd is left to libpcap alone.
    fn chunkable(&self) -> bool {
        self.version == 0x0002_0004 && self.snaplen > 0
    }

    /// The longest record the chunked reader passes on itself: the snapshot
    /// length, within libpcap's ceiling for the usual link types (MAXIMUM_SNAPLEN).
    fn caplen_limit(&self) -> u32 {
        self.snaplen.min(262_144)
    }
}

enum ChunkEnd {
    Eof,
    Stopped,
    Handover,
}

/// What a chunk read asks the file for: large reads, few system calls.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Reads a classic pcap file in 1 MiB chunks straight into the batch buffers
/// and splits the records in place: one copy from the kernel and one system
/// call per chunk, where libpcap copies every record out of a 4 KiB stdio
/// buffer. Any record it is not sure libpcap would take as is (caplen over
/// the snapshot length, a record cut by the end of the file, an I/O error)
/// ends it with `Handover`, so libpcap reads or refuses that record itself.
fn read_pcap_chunks<E, S: Side, F: EarlyFn<E, S>>(
    path: &Path,
    h: PcapHeader,
    bpf: Option<&pcap::BpfProgram>,
    c: &mut Counters,
    tx: &Out<E, S, F>,
    fresh: &dyn Fn() -> Batch<E, S>,
    stop: &AtomicBool,
) -> ChunkEnd {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return ChunkEnd::Handover;
    };
    if file.seek(SeekFrom::Start(24)).is_err() {
        return ChunkEnd::Handover;
    }
    // A record header field (the loop has checked that all 16 bytes are there).
    let rd = |b: &[u8], i: usize| u32_at(b, i, h.big_endian).unwrap_or(0);
    let limit = h.caplen_limit();
    let mut batch = fresh();
    // `batch.data[pos..filled]` is read but not yet split into records;
    // past `filled` are stale bytes of the buffer's earlier use (see
    // `read_chunk`).
    let (mut pos, mut filled) = (0usize, 0usize);
    loop {
        if stop.load(Ordering::Relaxed) {
            return ChunkEnd::Stopped;
        }
        let Ok(n) = read_chunk(&mut file, &mut batch.data, filled, CHUNK_BYTES) else {
            return send_then(tx, batch, ChunkEnd::Handover);
        };
        filled += n;
        let eof = n == 0;
        #[cfg(test)]
        {
            c.largest_buffer = c.largest_buffer.max(filled);
        }
        while filled - pos >= 16 {
            let d = &batch.data[pos..];
            let (caplen, len) = (rd(d, 8), rd(d, 12));
            if caplen > limit {
                return send_then(tx, batch, ChunkEnd::Handover);
            }
            let end = pos + 16 + caplen as usize;
            if end > filled {
                break;
            }
            c.records += 1;
            c.offset += 16 + u64::from(caplen);
            let data = &batch.data[pos + 16..end];
            if bpf.is_some_and(|b| !b.filter(data)) {
                c.filtered_out += 1;
            } else {
                let frac = rd(d, 4);
                // As libpcap with nanosecond precision (microseconds scaled up).
                let nanos = if h.nanos {
                    frac
                } else {
                    (i64::from(frac) * 1000) as u32
                };
                batch.packets.push(BatchPacket {
                    ts: Timestamp::new(i64::from(rd(d, 0)), nanos),
                    wire_len: len,
                    start: pos + 16,
                    end,
                    at: *c,
                });
            }
            pos = end;
        }
        if eof {
            let end = if pos == filled {
                ChunkEnd::Eof
            } else {
                ChunkEnd::Handover // a record cut short: libpcap's message
            };
            return send_then(tx, batch, end);
        }
        // Hand the complete records on; the partial one starts the next
        // batch. With none (a filter rejecting a long run of records), the
        // records read are dropped and the partial one moves to the front:
        // the buffer must not grow with the file.
        if batch.packets.is_empty() {
            batch.data.copy_within(pos..filled, 0);
            (pos, filled) = (0, filled - pos);
        } else {
            let mut next = fresh();
            let rest = filled - pos;
            if next.data.len() < rest {
                next.data.resize(rest, 0);
            }
            next.data[..rest].copy_from_slice(&batch.data[pos..filled]);
            if tx.send(batch).is_err() {
                return ChunkEnd::Stopped;
            }
            batch = next;
            (pos, filled) = (0, rest);
        }
    }
}

/// Reads up to `max` bytes of `file` into `buf[at..]`, fewer only at the
/// end of the file, and returns how many. One `read` per call where
/// `read_to_end` starts at 8 KiB and doubles (eight system calls per MiB).
/// `buf` keeps its length between uses (the batches come back with their
/// bytes), so its room is zeroed only when it first grows: safe Rust has
/// no read into uninitialised memory.
fn read_chunk(
    file: &mut std::fs::File,
    buf: &mut Vec<u8>,
    at: usize,
    max: usize,
) -> std::io::Result<usize> {
    use std::io::Read;
    if buf.len() < at + max {
        buf.resize(at + max, 0);
    }
    let mut got = 0;
    while got < max {
        match file.read(&mut buf[at + got..at + max]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Sends what `batch` holds (if anything) and returns `end`.
fn send_then<E, S: Side, F: EarlyFn<E, S>>(
    tx: &Out<E, S, F>,
    batch: Batch<E, S>,
    end: ChunkEnd,
) -> ChunkEnd {
    if !batch.packets.is_empty() && tx.send(batch).is_err() {
        return ChunkEnd::Stopped;
    }
    end
}

/// The head of a stream, enough to tell its format (`sniff`): reads no
/// more than that, so a live `tcpdump -w -` is not waited on.
fn read_head(input: &mut dyn std::io::Read) -> std::io::Result<Vec<u8>> {
    const MAX: usize = 64 * 1024;
    let mut buf = Vec::new();
    loop {
        let enough = match buf.get(0..4) {
            None => false,
            // pcapng: the section header block, then the first interface
            // block's header and snapshot length.
            Some([0x0a, 0x0d, 0x0d, 0x0a]) => {
                shb(&buf).is_some_and(|(len, _)| buf.len() >= len.saturating_add(16))
            }
            Some(_) => buf.len() >= 24,
        };
        if enough || buf.len() >= MAX {
            return Ok(buf);
        }
        let mut chunk = [0u8; 4096];
        let want = (MAX - buf.len()).min(chunk.len());
        match input.read(&mut chunk[..want]) {
            Ok(0) => return Ok(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Copies `head`, then the rest of `input`, into `tx` on a thread of its own
/// (libpcap reads the other end). It ends at the input's end, or when the
/// reading side is gone.
fn feed(
    mut tx: std::io::PipeWriter,
    head: Vec<u8>,
    mut input: Box<dyn std::io::Read + Send>,
) -> std::io::Result<()> {
    use std::io::Write;
    std::thread::Builder::new()
        .name("capture-input".into())
        .spawn(move || {
            if tx.write_all(&head).is_ok() {
                let _ = std::io::copy(&mut input, &mut tx);
            }
        })
        .map(drop)
}

fn read_prefix(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < buf.len() {
        let r = f.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    buf.truncate(n);
    Ok(buf)
}

/// Recognises pcap (µs and ns, either byte order) and pcapng, and finds the
/// snapshot length tcpdump reports (pcapng: the first interface block's).
/// A pcapng file's section header block: its length and whether the file
/// is big-endian (from the byte-order magic), once that much was read.
fn shb(h: &[u8]) -> Option<(usize, bool)> {
    let be = h.get(8..12)? != [0x4d, 0x3c, 0x2b, 0x1a];
    Some((u32_at(h, 4, be)? as usize, be))
}

fn sniff(h: &[u8]) -> Option<(FileFormat, u32)> {
    if let Some(p) = PcapHeader::parse(h) {
        return Some((FileFormat::Pcap, p.snaplen));
    }
    if h.get(0..4)? != [0x0a, 0x0d, 0x0d, 0x0a] {
        return None;
    }
    let (shb_len, be) = shb(h)?;
    // The first IDB follows the section header block.
    let snap = if u32_at(h, shb_len, be) == Some(1) {
        u32_at(h, shb_len + 12, be).unwrap_or(0)
    } else {
        0
    };
    Some((FileFormat::PcapNg, snap))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (check the file's permissions, or run with sudo)".into()
        }
        _ => e.to_string(),
    }
}

/// libpcap's own message, without the crate's wrapper text.
pub(crate) fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A packet copied out of libpcap's buffer, to cross from the capture
/// thread to the analysis thread.
#[derive(Clone, Debug)]
pub struct OwnedPacket {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub data: Vec<u8>,
}

impl OwnedPacket {
    pub fn as_packet(&self) -> Packet<'_> {
        Packet {
            ts: self.ts,
            wire_len: self.wire_len,
            data: &self.data,
        }
    }
}

/// libpcap's counters at the end of a live capture (tcpdump prints them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub captured: u64,
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

/// What the capture thread reports.
#[derive(Debug)]
pub enum LiveEvent {
    Packet(OwnedPacket),
    /// The capture ended (count, duration, stop request, or error); last event.
    Stopped {
        stats: LiveStats,
        error: Option<CaptureError>,
    },
}

/// Settings for a live capture.
#[derive(Clone, Debug, Default)]
pub struct LiveConfig {
    pub interface: Option<String>,
    pub filter: Option<String>,
    pub snaplen: i32,
    pub count: Option<u64>,
    pub duration: Option<std::time::Duration>,
    pub write: Option<PathBuf>,
}

/// A live capture running on its own thread.
pub struct LiveCapture {
    pub link: LinkType,
    link_name: String,
    pub interface: String,
    status: String,
    rx: std::sync::mpsc::Receiver<LiveEvent>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveCapture {
    /// Opens the interface (errors surface here, before any thread starts)
    /// and starts capturing.
    pub fn start(cfg: &LiveConfig) -> Result<LiveCapture, CaptureError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let name = match &cfg.interface {
            Some(i) => i.clone(),
            None => pcap::Device::lookup()
                .ok()
                .flatten()
                .map(|d| d.name)
                .ok_or_else(|| CaptureError::Live {
                    reason: "no capture device found; name one with -i (e.g. -i lo)".into(),
                })?,
        };
        let snaplen = if cfg.snaplen > 0 {
            cfg.snaplen
        } else {
            262_144
        };
        let inactive = Capture::from_device(name.as_str())
            .map_err(|e| live_open_error(&name, &e))?
            .immediate_mode(true)
            .promisc(true)
            .snaplen(snaplen)
            .timeout(100)
            .buffer_size(16 << 20);
        let mut cap = inactive.open().map_err(|e| live_open_error(&name, &e))?;
        if let Some(expr) = &cfg.filter {
            cap.filter(expr, true).map_err(|e| CaptureError::Filter {
                expr: expr.clone(),
                reason: pcap_reason(&e),
            })?;
        }
        let (link, link_name, link_description) = link_of(cap.get_datalink());
        if let LinkType::Unknown(_) = link {
            return Err(CaptureError::Live {
                reason: format!("{name}: unsupported link type {link_name} ({link_description}); capture on another interface"),
            });
        }
        let mut save = match &cfg.write {
            Some(p) => Some(cap.savefile(p).map_err(|e| CaptureError::Open {
                path: p.clone(),
                reason: pcap_reason(&e),
            })?),
            None => None,
        };
        let status = format!("listening on {name}, link-type {link_name} ({link_description}), snapshot length {snaplen} bytes");
        let (tx, rx) = std::sync::mpsc::sync_channel(65_536);
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop_t = stop.clone();
        let (count, duration, iface) = (cfg.count, cfg.duration, name.clone());
        // libpcap may block in poll() despite the read timeout (immediate
        // mode on Linux), so a watcher wakes it with pcap_breakloop() when
        // the stop flag is set or the duration is over.
        let brk = cap.breakloop_handle();
        let stop_w = stop.clone();
        let started = std::time::Instant::now();
        std::thread::Builder::new()
            .name("capture-stop".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_millis(20));
                if duration.is_some_and(|d| started.elapsed() >= d) {
                    stop_w.store(true, Ordering::Relaxed);
                }
                if stop_w.load(Ordering::Relaxed) {
                    brk.breakloop();
                    return;
                }
            })
            .map_err(|e| CaptureError::Live {
                reason: format!("cannot start the capture thread: {e}"),
            })?;
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                let mut stats = LiveStats::default();
                let mut error = None;
                // One captured packet: saved with -w, handed to the analysis;
                // false once the analysis side has gone away.
                macro_rules! deliver {
                    ($p:expr) => {{
                        let p = $p;
                        stats.captured += 1;
                        if let Some(s) = save.as_mut() {
                            s.write(&p);
                        }
                        let owned = OwnedPacket {
                            ts: Timestamp::new(p.header.ts.tv_sec, p.header.ts.tv_usec as u32 * 1000),
                            wire_len: p.header.len,
                            data: p.data.to_vec(),
                        };
                        tx.send(LiveEvent::Packet(owned)).is_ok()
                    }};
                }
                let mut receiver_gone = false;
                while !stop_t.load(Ordering::Relaxed) {
                    if count.is_some_and(|c| stats.captured >= c) || duration.is_some_and(|d| started.elapsed() >= d) {
                        break;
                    }
                    match cap.next_packet() {
                        Ok(p) => {
                            if !deliver!(p) {
                                receiver_gone = true;
                                break;
                            }
                        }
                        Err(pcap::Error::TimeoutExpired) => continue,
                        // pcap_breakloop() from the watcher.
                        Err(pcap::Error::NoMorePackets) => break,
                        Err(e) => {
                            error = Some(CaptureError::Live {
                                reason: format!("{iface}: capture stopped: {} (the interface went away?); what was seen so far is reported", pcap_reason(&e)),
                            });
                            break;
                        }
                    }
                }
                // Stopped by Ctrl-C or --duration: packets the kernel already
                // holds arrived before the stop, so they are read too (nothing
                // lost), without waiting for more.
                let drain = error.is_none() && !receiver_gone && count.is_none_or(|c| stats.captured < c);
                let mut cap = if drain {
                    match cap.setnonblock() {
                        Ok(mut c) => {
                            for _ in 0..1_000_000 {
                                match c.next_packet() {
                                    Ok(p) => {
                                        if !deliver!(p) {
                                            break;
                                        }
                                    }
                                    Err(_) => break,
                                }
                            }
                            Some(c)
                        }
                        Err(_) => None,
                    }
                } else {
                    Some(cap)
                };
                if let Some(s) = save.as_mut() {
                    let _ = s.flush();
                }
                if let Some(Ok(st)) = cap.as_mut().map(|c| c.stats()) {
                    stats.received = st.received;
                    stats.dropped = st.dropped;
                    stats.if_dropped = st.if_dropped;
                }
                let _ = tx.send(LiveEvent::Stopped { stats, error });
            })
            .map_err(|e| CaptureError::Live { reason: format!("cannot start the capture thread: {e}") })?;
        Ok(LiveCapture {
            link,
            link_name,
            interface: name,
            status,
            rx,
            stop,
            thread: Some(thread),
        })
    }

    /// libpcap's name for the link type, e.g. `EN10MB`.
    pub fn link_name(&self) -> &str {
        &self.link_name
    }

    /// tcpdump's `listening on …` line.
    pub fn status_line(&self) -> &str {
        &self.status
    }

    /// A flag that ends the capture when set (Ctrl-C handlers set it).
    pub fn stop_handle(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.stop.clone()
    }

    /// The next event; `None` once the capture thread is gone.
    pub fn recv(&self) -> Option<LiveEvent> {
        self.rx.recv().ok()
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Drain so a blocked sender can finish, then join.
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn live_open_error(iface: &str, e: &pcap::Error) -> CaptureError {
    let r = pcap_reason(e);
    let lower = r.to_lowercase();
    let reason = if lower.contains("permission") || lower.contains("not permitted") {
        format!(
            "{iface}: {r}; capturing needs privileges: run with sudo, or grant them once with `sudo setcap cap_net_raw,cap_net_admin=eip {}`, or analyse a saved file with `connscope read FILE`",
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "$(command -v connscope)".into())
        )
    } else if lower.contains("no such device")
        || lower.contains("doesn't exist")
        || lower.contains("not exist")
    {
        let names: Vec<String> = pcap::Device::list()
            .map(|v| v.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        format!(
            "{iface}: no such interface; available: {}",
            if names.is_empty() {
                "none visible".into()
            } else {
                names.join(", ")
            }
        )
    } else {
        format!("{iface}: {r}")
    };
    CaptureError::Live { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a synchronous read (libpcap on the calling thread, as before the
    /// read-ahead) yields: per packet (ts, wire_len, data, records,
    /// filtered_out, bytes_read), then the end counters and error text.
    type Step = (Timestamp, u32, Vec<u8>, u64, u64, Option<u64>);
    /// All the steps, the counters at the end, and the error if any.
    type Run = (Vec<Step>, (u64, u64, Option<u64>), Option<String>);

    fn synchronous(path: &Path, filter: Option<&str>) -> Run {
        let mut cap = Capture::from_file_with_precision(path, Precision::Nano).unwrap();
        let bpf = filter.map(|f| cap.compile(f, true).unwrap());
        let (mut records, mut filtered, mut offset) = (0u64, 0u64, 24u64);
        let mut steps = Vec::new();
        let error = loop {
            match cap.next_packet() {
                Ok(p) => {
                    records += 1;
                    offset += 16 + u64::from(p.header.caplen);
                    if bpf.as_ref().is_some_and(|b| !b.filter(p.data)) {
                        filtered += 1;
                        continue;
                    }
                    let ts = Timestamp::new(p.header.ts.tv_sec, p.header.ts.tv_usec as u32);
                    steps.push((
                        ts,
                        p.header.len,
                        p.data.to_vec(),
                        records,
                        filtered,
                        Some(offset),
                    ));
                }
                Err(pcap::Error::NoMorePackets) => break None,
                Err(e) => {
                    break Some(
                        CaptureError::Read {
                            path: path.to_path_buf(),
                            offset: Some(offset),
                            record: records + 1,
                            reason: pcap_reason(&e),
                        }
                        .to_string(),
                    )
                }
            }
        };
        (steps, (records, filtered, Some(offset)), error)
    }

    fn read_ahead(path: &Path, filter: Option<&str>) -> Run {
        let mut src = FileSource::open(path, filter).unwrap();
        let mut steps = Vec::new();
        let error = loop {
            match src.next_with(|p, _, _| (p.ts, p.wire_len, p.data.to_vec())) {
                Ok(Some((ts, len, data))) => steps.push((
                    ts,
                    len,
                    data,
                    src.records,
                    src.filtered_out,
                    src.bytes_read(),
                )),
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        // The end is sticky.
        assert!(matches!(src.next_with(|_, _, _| ()), Ok(None)));
        (
            steps,
            (src.records, src.filtered_out, src.bytes_read()),
            error,
        )
    }

    /// A classic pcap (µs) whose packet sizes vary from 0 bytes to a full
    /// snapshot length, so batches end on both the byte and packet limits;
    /// `tail` is appended as is (a cut record, say).
    fn write_capture(dir: &Path, n: u32, tail: &[u8]) -> PathBuf {
        write_capture_as(dir, n, tail, Form::default())
    }

    /// Byte order, time resolution and snapshot length of a test capture.
    #[derive(Clone, Copy, Default)]
    struct Form {
        big_endian: bool,
        nanos: bool,
        /// 0: 262,144.
        snaplen: u32,
    }

    fn write_capture_as(dir: &Path, n: u32, tail: &[u8], form: Form) -> PathBuf {
        let path = dir.join(format!(
            "many-{}-{}-{}.pcap",
            form.big_endian, form.nanos, form.snaplen
        ));
        let magic = if form.nanos {
            0xa1b2_3c4d
        } else {
            0xa1b2_c3d4u32
        };
        let snaplen = if form.snaplen == 0 {
            262_144
        } else {
            form.snaplen
        };
        let u32b = |v: u32| {
            if form.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u16b = |v: u16| {
            if form.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        // Magic, version 2.4, zone, sigfigs, snapshot length, EN10MB.
        let mut f: Vec<u8> = u32b(magic).to_vec();
        f.extend_from_slice(&u16b(2));
        f.extend_from_slice(&u16b(4));
        for v in [0, 0, snaplen, 1] {
            f.extend_from_slice(&u32b(v));
        }
        for i in 0..n {
            let len = match i % 1000 {
                999 => 262_144,
                k if k % 7 == 0 => 0,
                k => 60 + (k * 37) % 1500,
            };
            let frac = (i % 1000) * 1000 + 1;
            let frac = if form.nanos { frac * 1000 + 7 } else { frac };
            for v in [1_700_000_000 + i / 1000, frac, len, len + 4] {
                f.extend_from_slice(&u32b(v));
            }
            f.extend((0..len).map(|b| (b as u8) ^ (i as u8)));
        }
        f.extend_from_slice(tail);
        std::fs::write(&path, f).unwrap();
        path
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    #[test]
    fn same_packets_counters_and_end_as_a_synchronous_read() {
        let d = tempfile::tempdir().unwrap();
        let many = write_capture(d.path(), 20_000, &[]);
        for (path, filter) in [
            (fixture("http-keepalive-8080.pcap"), None),
            (
                fixture("http-keepalive-8080.pcap"),
                Some("tcp[tcpflags] & tcp-syn != 0"),
            ),
            (fixture("nsec.pcap"), None),
            (many.clone(), None),
            // Rejects all but the full-size packets: long runs of filtered records.
            (many, Some("greater 100000")),
            // Either byte order and resolution through the chunked reader.
            (
                write_capture_as(
                    d.path(),
                    5_000,
                    &[],
                    Form {
                        big_endian: true,
                        ..Form::default()
                    },
                ),
                None,
            ),
            (
                write_capture_as(
                    d.path(),
                    5_000,
                    &[],
                    Form {
                        nanos: true,
                        ..Form::default()
                    },
                ),
                None,
            ),
            (
                write_capture_as(
                    d.path(),
                    5_000,
                    &[],
                    Form {
                        big_endian: true,
                        nanos: true,
                        snaplen: 0,
                    },
                ),
                None,
            ),
            // Records longer than the snapshot length: libpcap takes over at
            // the first one (and cuts it, as it does), mid-file.
            (
                write_capture_as(
                    d.path(),
                    3_000,
                    &[],
                    Form {
                        snaplen: 2_000,
                        ..Form::default()
                    },
                ),
                None,
            ),
        ] {
            let want = synchronous(&path, filter);
            let got = read_ahead(&path, filter);
            assert_eq!(got.0.len(), want.0.len(), "{path:?} {filter:?}");
            assert!(got == want, "{path:?} {filter:?}: read-ahead differs");
        }
    }

    /// A record header promising 1000 bytes, then only 10 (little-endian).
    fn cut_record() -> Vec<u8> {
        let mut tail = Vec::new();
        for v in [1_700_000_100u32, 0, 1000, 1000] {
            tail.extend_from_slice(&v.to_le_bytes());
        }
        tail.extend_from_slice(&[0; 10]);
        tail
    }

    /// `each_in_batch` hands out the packets `next_with` does, in order,
    /// and stands at the packet it stopped at when `f` fails: the counters
    /// there are a synchronous read's, and the next call goes on after it.
    #[test]
    fn batches_hand_out_what_single_packets_do_and_stop_where_told() {
        let d = tempfile::tempdir().unwrap();
        let tail = cut_record();
        for (path, filter) in [
            (write_capture(d.path(), 20_000, &[]), None),
            (write_capture(d.path(), 20_000, &[]), Some("greater 500")),
            (write_capture(d.path(), 9_000, &tail), None),
        ] {
            let want = synchronous(&path, filter);
            let mut src = FileSource::open(&path, filter).unwrap();
            let mut got: Vec<(Timestamp, u32, Vec<u8>)> = Vec::new();
            let mut stops = 0;
            let error = loop {
                let r = src.each_in_batch(|p, _, _| {
                    got.push((p.ts, p.wire_len, p.data.to_vec()));
                    // A prime: stops fall anywhere in a batch.
                    if got.len().is_multiple_of(997) {
                        Err(())
                    } else {
                        Ok(())
                    }
                });
                match r {
                    Ok(Some(Err(()))) => {
                        stops += 1;
                        let w = &want.0[got.len() - 1];
                        assert_eq!(
                            (src.records, src.filtered_out, src.bytes_read()),
                            (w.3, w.4, w.5),
                            "{path:?} {filter:?}: counters at packet {}",
                            got.len()
                        );
                    }
                    Ok(Some(Ok(()))) => {}
                    Ok(None) => break None,
                    Err(e) => break Some(e.to_string()),
                }
            };
            assert_eq!(stops, want.0.len() / 997, "{path:?} {filter:?}");
            let want_packets: Vec<_> = want.0.iter().map(|w| (w.0, w.1, w.2.clone())).collect();
            assert!(got == want_packets, "{path:?} {filter:?}: packets differ");
            assert_eq!(
                ((src.records, src.filtered_out, src.bytes_read()), error),
                (want.1, want.2),
                "{path:?} {filter:?}"
            );
        }
    }

    /// A filter that rejects every record of a file many chunks long: the
    /// reader drops what it read instead of keeping the whole file.
    #[test]
    fn a_filter_rejecting_everything_keeps_the_reader_bounded() {
        let d = tempfile::tempdir().unwrap();
        let path = write_capture(d.path(), 20_000, &[]);
        let size = std::fs::metadata(&path).unwrap().len() as usize;
        assert!(size > 8 * CHUNK_BYTES, "{size} bytes");
        let mut src = FileSource::open(&path, Some("greater 1000000")).unwrap();
        while let Ok(Some(())) = src.next_with(|_, _, _| ()) {}
        assert_eq!((src.records, src.filtered_out), (20_000, 20_000));
        assert!(
            src.largest_buffer <= 2 * CHUNK_BYTES,
            "the reader held {} bytes of a {size}-byte file",
            src.largest_buffer
        );
    }

    #[test]
    fn a_broken_record_comes_after_every_packet_before_it() {
        let d = tempfile::tempdir().unwrap();
        let path = write_capture(d.path(), 9_000, &cut_record());
        let want = synchronous(&path, None);
        let got = read_ahead(&path, None);
        assert_eq!(got.0.len(), 9_000);
        assert!(
            want.2.as_deref().is_some_and(|e| e.contains("record 9001")),
            "{:?}",
            want.2
        );
        assert!(
            got == want,
            "read-ahead differs: {:?} vs {:?}",
            got.2,
            want.2
        );
    }

    #[test]
    fn dropping_early_stops_the_reader() {
        let d = tempfile::tempdir().unwrap();
        let path = write_capture(d.path(), 50_000, &[]);
        // Unread, one packet read, and a full queue: each drop returns.
        drop(FileSource::open(&path, None).unwrap());
        let mut src = FileSource::open(&path, None).unwrap();
        assert!(matches!(src.next_with(|p, _, _| p.data.len()), Ok(Some(_))));
        drop(src);
        let mut src = FileSource::open(&path, None).unwrap();
        assert!(matches!(src.next_with(|_, _, _| ()), Ok(Some(()))));
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(src);
    }
}
