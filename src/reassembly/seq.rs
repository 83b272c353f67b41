//! A wrapping TCP sequence number: arithmetic and ordering modulo 2^32 (RFC 9293 §3.4).
//! Owns nothing else; the assembler turns sequence numbers into 64-bit stream offsets with
//! [`SeqNumber::distance`].

use std::ops::{Add, Sub};

/// A TCP sequence number; comparisons are modulo 2^32: `a` is before `b` when `b - a`,
/// taken as a signed 32-bit number, is positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self` (positive when `self` is after `other`).
    pub fn distance(self, other: SeqNumber) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }
    /// `self` comes strictly before `other` (mod 2^32).
    pub fn before(self, other: SeqNumber) -> bool {
        self.distance(other) < 0
    }
    /// `self` comes strictly after `other` (mod 2^32).
    pub fn after(self, other: SeqNumber) -> bool {
        self.distance(other) > 0
    }
    /// `self` advanced by `n` bytes, wrapping.
    pub fn plus(self, n: u64) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n as u32))
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

/// The signed distance between two sequence numbers, as [`SeqNumber::distance`].
impl Sub<SeqNumber> for SeqNumber {
    type Output = i64;
    fn sub(self, rhs: SeqNumber) -> i64 {
        self.distance(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around() {
        let a = SeqNumber(u32::MAX - 9);
        let b = a + 20;
        assert_eq!(b, SeqNumber(10));
        assert_eq!(b - a, 20);
        assert_eq!(a - b, -20);
        assert!(a.before(b));
        assert!(b.after(a));
        assert!(!a.after(a));
        assert_eq!(b - 20, a);
        assert_eq!(a.plus(u64::from(u32::MAX) + 1), a);
    }

    #[test]
    fn half_space_distance() {
        let a = SeqNumber(0);
        assert_eq!(SeqNumber(0x7fff_ffff) - a, 0x7fff_ffff);
        assert_eq!(SeqNumber(0x8000_0000) - a, -0x8000_0000);
    }
}
