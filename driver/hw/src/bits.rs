//! Bit-field accessor macros and the 48-bit DMA address type shared by all descriptors.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Mask of `width` low bits, as u64 (width ≤ 32 in this crate).
pub(crate) const fn low_mask(width: u32) -> u64 {
    (1u64 << width) - 1
}

/// `bits!(getter, setter: Type = raw_field[hi:lo]);` defines a getter and a setter for the
/// inclusive bit range `hi..=lo` of the integer field `raw_field`. The setter truncates the value
/// to the field width, so a too-large value can never spill into a neighbouring field.
macro_rules! bits {
    ($(#[$doc:meta])* $get:ident, $set:ident : $t:ty = $raw:tt [$hi:literal : $lo:literal]) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $get(&self) -> $t {
            ((self.$raw as u64 >> $lo) & $crate::bits::low_mask($hi - $lo + 1)) as $t
        }
        #[doc = concat!("Sets the field read by [`Self::", stringify!($get), "`].")]
        #[inline(always)]
        pub fn $set(&mut self, value: $t) {
            let mask = $crate::bits::low_mask($hi - $lo + 1) << $lo;
            let raw = (self.$raw as u64 & !mask) | (((value as u64) << $lo) & mask);
            self.$raw = raw as _;
        }
    };
}

/// `flag!(getter, setter = raw_field[bit]);` defines a bool getter and setter for one bit.
macro_rules! flag {
    ($(#[$doc:meta])* $get:ident, $set:ident = $raw:tt [$bit:literal]) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $get(&self) -> bool {
            (self.$raw as u64 >> $bit) & 1 == 1
        }
        #[doc = concat!("Sets the flag read by [`Self::", stringify!($get), "`].")]
        #[inline(always)]
        pub fn $set(&mut self, value: bool) {
            let raw = (self.$raw as u64 & !(1u64 << $bit)) | ((value as u64) << $bit);
            self.$raw = raw as _;
        }
    };
}

/// Asserts at compile time that a type has the size the device interface defines.
macro_rules! assert_size {
    ($t:ty, $size:expr) => {
        const _: () = assert!(
            core::mem::size_of::<$t>() == $size,
            concat!("size of ", stringify!($t))
        );
    };
}

/// A 48-bit device (DMA) address as it appears inside device structures: 32 low bits, 16 high
/// bits and 16 reserved (must-be-zero) bits — 8 bytes. (`ena_common_mem_addr`.)
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MemAddr {
    /// Address bits 31:0.
    pub lo: u32,
    /// Address bits 47:32.
    pub hi: u16,
    /// Must be zero.
    pub reserved: u16,
}
assert_size!(MemAddr, 8);

impl MemAddr {
    /// The largest address the format can carry (48 bits).
    pub const MAX: u64 = (1 << 48) - 1;

    /// Encodes an address; bits above 47 are dropped (callers check [`Self::MAX`] first).
    #[inline(always)]
    pub const fn new(addr: u64) -> Self {
        Self {
            lo: addr as u32,
            hi: (addr >> 32) as u16,
            reserved: 0,
        }
    }

    /// The 48-bit address.
    #[inline(always)]
    pub const fn get(&self) -> u64 {
        self.lo as u64 | ((self.hi as u64) << 32)
    }
}
