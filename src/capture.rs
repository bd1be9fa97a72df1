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
