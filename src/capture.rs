//! Capture: the only module that touches libpcap.
//!
//! Owns opening files and interfaces, BPF filters, and the packet timestamps.
//! Yields borrowed packets (timestamp, link type, original length, bytes).

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
pub struct FileSource {
    cap: Capture<Offline>,
    bpf: Option<pcap::BpfProgram>,
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
}

impl FileSource {
    pub fn open(path: &Path, filter: Option<&str>) -> Result<FileSource, CaptureError> {
        let open_err = |reason: String| CaptureError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| open_err(io_reason(&e)))?;
        if meta.is_dir() {
            return Err(open_err("is a directory, not a capture file".into()));
        }
        let header = read_prefix(path).map_err(|e| open_err(io_reason(&e)))?;
        let (format, snaplen) = sniff(&header).ok_or_else(|| {
            open_err(if header.len() < 4 {
                format!("not a capture file: only {} bytes long (pcap and pcapng files start with a 24-byte header)", header.len())
            } else {
                "not a pcap or pcapng capture file (unknown magic number)".into()
            })
        })?;
        let cap = Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
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
        Ok(FileSource {
            cap,
            bpf,
            path: path.to_path_buf(),
            link,
            link_name,
            link_description,
            snaplen,
            format,
            offset: 24,
            records: 0,
            filtered_out: 0,
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
    /// packet lives in libpcap's buffer only until the next read.
    pub fn next_with<R>(
        &mut self,
        f: impl FnOnce(Packet<'_>) -> R,
    ) -> Result<Option<R>, CaptureError> {
        loop {
            match self.cap.next_packet() {
                Ok(p) => {
                    self.records += 1;
                    self.offset += 16 + u64::from(p.header.caplen);
                    if let Some(bpf) = &self.bpf {
                        if !bpf.filter(p.data) {
                            self.filtered_out += 1;
                            continue;
                        }
                    }
                    return Ok(Some(f(Packet {
                        ts: Timestamp::new(p.header.ts.tv_sec, p.header.ts.tv_usec as u32),
                        wire_len: p.header.len,
                        data: p.data,
                    })));
                }
                Err(pcap::Error::NoMorePackets) => return Ok(None),
                Err(e) => {
                    return Err(CaptureError::Read {
                        path: self.path.clone(),
                        offset: (self.format == FileFormat::Pcap).then_some(self.offset),
                        record: self.records + 1,
                        reason: pcap_reason(&e),
                    })
                }
            }
        }
    }
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
fn sniff(h: &[u8]) -> Option<(FileFormat, u32)> {
    let u32_at = |i: usize, le: bool| -> Option<u32> {
        let b: [u8; 4] = h.get(i..i + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let magic = h.get(0..4)?;
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => {
            Some((FileFormat::Pcap, u32_at(16, true).unwrap_or(0)))
        }
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => {
            Some((FileFormat::Pcap, u32_at(16, false).unwrap_or(0)))
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let le = h.get(8..12)? == [0x4d, 0x3c, 0x2b, 0x1a];
            let shb_len = u32_at(4, le)? as usize;
            // The first IDB follows the section header block.
            let idb_type = u32_at(shb_len, le);
            let snap = if idb_type == Some(1) {
                u32_at(shb_len + 12, le).unwrap_or(0)
            } else {
                0
            };
            Some((FileFormat::PcapNg, snap))
        }
        _ => None,
    }
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
