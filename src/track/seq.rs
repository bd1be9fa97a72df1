//! TCP sequence numbers with wrap-around ordering (RFC 793 §3.3, RFC 1982).
//!
//! Sequence space is modulo 2^32: `a < b` means "b is ahead of a by less than
//! 2^31", decided by the sign of the wrapping difference (as smoltcp's
//! `SeqNumber`). Raw `u32`s are never compared with `<` anywhere in `track`.
//! Two numbers exactly 2^31 apart are each "less" than the other; RFC 1982
//! leaves that case undefined and no live connection reaches it.

use std::cmp::Ordering;
use std::ops::{Add, Sub};

/// A 32-bit TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The raw wire value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl Sub for SeqNum {
    /// Signed distance `self - rhs` in sequence space.
    type Output = i32;
    fn sub(self, rhs: SeqNum) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some((*self - *other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_plain() {
        assert!(SeqNum(1) < SeqNum(2));
        assert!(SeqNum(2) > SeqNum(1));
        assert!(SeqNum(7) <= SeqNum(7));
        assert!(SeqNum(7) >= SeqNum(7));
    }

    #[test]
    fn ordering_across_wrap() {
        let near_end = SeqNum(u32::MAX - 5);
        let after_wrap = near_end + 10;
        assert_eq!(after_wrap, SeqNum(4));
        assert!(near_end < after_wrap);
        assert!(after_wrap > near_end);
        assert_eq!(after_wrap - near_end, 10);
        assert_eq!(near_end - after_wrap, -10);
    }

    #[test]
    fn add_wraps() {
        assert_eq!(SeqNum(u32::MAX) + 1, SeqNum(0));
        assert_eq!(SeqNum(0).get(), 0);
    }
}
