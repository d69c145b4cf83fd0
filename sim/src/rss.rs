//! Receive-side scaling: the ENA Toeplitz hash and RX queue selection (spec §9).
//!
//! The device hashes every received frame to choose the RX submission queue it lands on and
//! reports the hash in the RX completion (§9.6). Three pieces live here:
//!
//! - the hash itself: [`toeplitz`] is the bit-by-bit reference, [`ToeplitzKey`] the table-driven
//!   one the device uses, and [`ena_hash`] the ENA variant of §9.3 — the device byte-reverses the
//!   key the driver stored and XORs the result with `init_val`;
//! - hash-input extraction: [`FlowHeaders::parse`] classifies an Ethernet frame into the ENA
//!   flow types (`ena_hw::admin::flow_type`) and [`FlowHeaders::hash_input`] builds the input
//!   string from the fields a flow type selects (§9.5);
//! - [`RssState`]: what the RSS_HASH_FUNCTION (10), RSS_INDIRECTION_TABLE_CONFIG (12) and
//!   RSS_HASH_INPUT (18) features configure, and [`RssState::steer`], which turns a frame into
//!   a hash and an RX SQ index.
//!
//! The variant was checked against AWS's reference calculator
//! ("amzn/amzn-ec2-ena-utilities ena-toeplitz/toeplitz_calc.py"), which shifts the key
//! cyclically; inputs longer than the key therefore wrap around it here too.

use ena_hw::admin::{flow_type, hash_field, hash_func, RSS_FLOW_TYPES, RSS_KEY_LEN};

/// RSS_HASH_INPUT sort bit: place the smaller L3 address first (symmetric hashing).
pub const SORT_L3: u16 = 1 << 1;
/// RSS_HASH_INPUT sort bit: place the smaller L4 port first (symmetric hashing).
pub const SORT_L4: u16 = 1 << 2;
/// The sort bits this model implements (`supported_input_sort`).
pub const SUPPORTED_SORT: u16 = SORT_L3 | SORT_L4;

/// `supported_func` of RSS_HASH_FUNCTION: Toeplitz only. CRC32 is not modelled because the
/// sources do not say which CRC variant, seed or input the hardware uses.
pub const SUPPORTED_HASH_FUNCTIONS: u32 = 1 << hash_func::TOEPLITZ;

/// Indirection table size after reset, log2 (128 entries, the size the documentation states).
pub const IND_TABLE_LOG2_DEFAULT: u16 = 7;
/// Largest indirection table this model accepts, log2 (drivers require `max_size` ≤ 16).
pub const IND_TABLE_LOG2_LIMIT: u16 = 16;

/// Longest hash input: both MAC addresses, both IPv6 addresses and both ports.
pub const MAX_HASH_INPUT: usize = 6 + 6 + 16 + 16 + 2 + 2;

/// Every defined hash-input field bit.
const ALL_FIELDS: u16 = hash_field::L2_DA
    | hash_field::L2_SA
    | hash_field::L3_DA
    | hash_field::L3_SA
    | hash_field::L4_DP
    | hash_field::L4_SP;
const L2_FIELDS: u16 = hash_field::L2_DA | hash_field::L2_SA;
const L3_FIELDS: u16 = hash_field::L3_DA | hash_field::L3_SA;
const L4_FIELDS: u16 = hash_field::L4_DP | hash_field::L4_SP;

/// The key of devices whose key cannot be changed, in effective (hashing) order — spec §9.3,
/// "amzn/amzn-ec2-ena-utilities ena-toeplitz/toeplitz_calc.py". It is Microsoft's verification
/// key with its ten 32-bit words in reverse order.
pub const FIXED_KEY_EFFECTIVE: [u8; RSS_KEY_LEN] = [
    0xbe, 0xac, 0x01, 0xfa, 0x6a, 0x42, 0xb7, 0x3b, 0x80, 0x30, 0xf2, 0x0c, 0x77, 0xcb, 0x2d, 0xa3,
    0xae, 0x7b, 0x30, 0xb4, 0xd0, 0xca, 0x2b, 0xcb, 0x43, 0xa3, 0x8f, 0xb0, 0x41, 0x67, 0x25, 0x3d,
    0x25, 0x5b, 0x0e, 0xc2, 0x6d, 0x5a, 0x56, 0xda,
];

/// The reset key as the device buffer holds it (and GET RSS_HASH_FUNCTION returns it): the
/// byte reversal of [`FIXED_KEY_EFFECTIVE`], so that hashing with it uses the published key.
pub const DEFAULT_DEVICE_KEY: [u8; RSS_KEY_LEN] = reversed_key(&FIXED_KEY_EFFECTIVE);

/// Byte-reverses a 40-byte key: device-buffer order ⇄ effective order (§9.3).
pub const fn reversed_key(key: &[u8; RSS_KEY_LEN]) -> [u8; RSS_KEY_LEN] {
    let mut out = [0u8; RSS_KEY_LEN];
    let mut i = 0;
    while i < RSS_KEY_LEN {
        out[i] = key[RSS_KEY_LEN - 1 - i];
        i += 1;
    }
    out
}

/// The 32 key bits starting at bit `start` (MSB of `key[0]` is bit 0), the key read cyclically.
fn key_window(key: &[u8], start: usize) -> u32 {
    let key_bits = key.len() * 8;
    let mut window = 0u32;
    for j in 0..32 {
        let pos = (start + j) % key_bits;
        let bit = (key[pos / 8] >> (7 - pos % 8)) & 1;
        window = (window << 1) | u32::from(bit);
    }
    window
}

/// Standard (Microsoft RSS) Toeplitz hash of `input` under `key`, one bit at a time.
///
/// This is the reference the fast [`ToeplitzKey`] is tested against. For keys at least
/// `input.len() + 4` bytes long it is the textbook definition; for longer inputs the key is
/// read cyclically, as the AWS calculator does. An empty key hashes everything to 0.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    if key.is_empty() {
        return 0;
    }
    let mut hash = 0u32;
    for (byte_index, &byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= key_window(key, byte_index * 8 + bit);
            }
        }
    }
    hash
}

/// The ENA variant (§9.3): `init_val ^ toeplitz(reverse(device_key), input)`, where
/// `device_key` is the key as the driver wrote it into the RSS_HASH_FUNCTION buffer.
pub fn ena_hash(device_key: &[u8; RSS_KEY_LEN], init_val: u32, input: &[u8]) -> u32 {
    init_val ^ toeplitz(&reversed_key(device_key), input)
}

/// A 40-byte Toeplitz key with precomputed per-byte tables: hashing costs one table lookup and
/// one XOR per input byte.
///
/// `tables[p][v]` is the hash contribution of byte value `v` at input position `p`. The key is
/// 320 bits and read cyclically, so position `p` behaves exactly like `p % 40` and 40 tables
/// (40 KiB) cover inputs of any length.
#[derive(Clone)]
pub struct ToeplitzKey {
    key: [u8; RSS_KEY_LEN],
    tables: Box<[[u32; 256]]>,
}

impl ToeplitzKey {
    /// Precomputes the tables for `key`, given in effective (standard Toeplitz) order.
    pub fn new(key: &[u8; RSS_KEY_LEN]) -> Self {
        let mut tables = vec![[0u32; 256]; RSS_KEY_LEN].into_boxed_slice();
        for (pos, table) in tables.iter_mut().enumerate() {
            // Key bits 8*pos .. 8*pos+63: enough for the window of each of this byte's 8 bits.
            let window = (0..8).fold(0u64, |acc, i| {
                (acc << 8) | u64::from(key[(pos + i) % RSS_KEY_LEN])
            });
            // Input bit k (MSB first) selects key bits 8*pos+k .. 8*pos+k+31.
            let bit_windows: [u32; 8] = core::array::from_fn(|k| (window >> (32 - k)) as u32);
            for value in 1..256usize {
                // Build each entry from the entry without its lowest set bit.
                let lowest = value.trailing_zeros() as usize;
                table[value] = table[value & (value - 1)] ^ bit_windows[7 - lowest];
            }
        }
        Self { key: *key, tables }
    }

    /// The key, in effective order.
    pub fn key(&self) -> &[u8; RSS_KEY_LEN] {
        &self.key
    }

    /// Standard Toeplitz hash of `input`; equal to [`toeplitz`]`(self.key(), input)`.
    pub fn hash(&self, input: &[u8]) -> u32 {
        let mut hash = 0u32;
        for chunk in input.chunks(RSS_KEY_LEN) {
            for (table, &byte) in self.tables.iter().zip(chunk) {
                hash ^= table[usize::from(byte)];
            }
        }
        hash
    }

    /// The hash of `first` followed by `second` (together at most [`RSS_KEY_LEN`] bytes), read
    /// in place: the same as [`Self::hash`] of the two concatenated.
    #[inline]
    pub fn hash2(&self, first: &[u8], second: &[u8]) -> u32 {
        debug_assert!(first.len() + second.len() <= RSS_KEY_LEN);
        let mut hash = 0u32;
        let (head, tail) = self.tables.split_at(first.len().min(RSS_KEY_LEN));
        for (table, &byte) in head.iter().zip(first) {
            hash ^= table[usize::from(byte)];
        }
        for (table, &byte) in tail.iter().zip(second) {
            hash ^= table[usize::from(byte)];
        }
        hash
    }
}

impl core::fmt::Debug for ToeplitzKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ToeplitzKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// L3 addresses of a parsed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3Addrs {
    /// Not IP, or an IP header too malformed to trust.
    None,
    /// IPv4 source and destination.
    V4 {
        /// Source address, network order.
        src: [u8; 4],
        /// Destination address, network order.
        dst: [u8; 4],
    },
    /// IPv6 source and destination.
    V6 {
        /// Source address, network order.
        src: [u8; 16],
        /// Destination address, network order.
        dst: [u8; 16],
    },
}

/// What the hash can be computed from: a frame's flow type and header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHeaders {
    /// One of `ena_hw::admin::flow_type`.
    pub flow_type: usize,
    /// Ethernet source address.
    pub l2_src: [u8; 6],
    /// Ethernet destination address.
    pub l2_dst: [u8; 6],
    /// IP addresses, when the frame carries IPv4 or IPv6.
    pub l3: L3Addrs,
    /// (source, destination) ports, for the TCP and UDP flow types.
    pub ports: Option<(u16, u16)>,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_DSTOPTS: u8 = 60;
/// IPv6 extension headers walked before giving up (guards against header chains in garbage).
const MAX_IPV6_EXT_HEADERS: usize = 8;

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// L3/L4 part of [`FlowHeaders`].
struct L3Flow {
    flow_type: usize,
    l3: L3Addrs,
    ports: Option<(u16, u16)>,
}

impl L3Flow {
    const NOT_IP: Self = Self {
        flow_type: flow_type::NOT_IP,
        l3: L3Addrs::None,
        ports: None,
    };
}

/// Classifies an IPv4 packet. Headers with a wrong version, IHL < 5, a total length shorter
/// than the header, or fewer bytes than the header are NOT_IP [model]: no address can be
/// trusted. A TCP/UDP packet too short for its ports is hashed as IP4.
fn parse_ipv4(packet: &[u8]) -> Option<L3Flow> {
    let version_ihl = *packet.first()?;
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    if version_ihl >> 4 != 4 || header_len < 20 || packet.len() < header_len {
        return None;
    }
    let total_len = usize::from(be16(packet, 2)?);
    if total_len < header_len {
        return None;
    }
    // Ethernet pads short frames; the ports must lie inside the IP packet itself.
    let packet = packet.get(..total_len).unwrap_or(packet);
    let l3 = L3Addrs::V4 {
        src: array_at(packet, 12)?,
        dst: array_at(packet, 16)?,
    };
    let flags_fragment = be16(packet, 6)?;
    let more_fragments = flags_fragment & 0x2000 != 0;
    let fragment_offset = flags_fragment & 0x1fff;
    if more_fragments || fragment_offset != 0 {
        return Some(L3Flow {
            flow_type: flow_type::IP4_FRAG,
            l3,
            ports: None,
        });
    }
    let l4_type = match *packet.get(9)? {
        IPPROTO_TCP => flow_type::TCP4,
        IPPROTO_UDP => flow_type::UDP4,
        _ => {
            return Some(L3Flow {
                flow_type: flow_type::IP4,
                l3,
                ports: None,
            })
        }
    };
    Some(
        match (be16(packet, header_len), be16(packet, header_len + 2)) {
            (Some(sp), Some(dp)) => L3Flow {
                flow_type: l4_type,
                l3,
                ports: Some((sp, dp)),
            },
            _ => L3Flow {
                flow_type: flow_type::IP4,
                l3,
                ports: None,
            },
        },
    )
}

/// Classifies an IPv6 packet, walking hop-by-hop, routing and destination-options headers.
/// With any extension header, TCP is TCP6_EX and everything else (UDP and fragments included)
/// IP6_EX, since the ENA flow types have no UDP6_EX or IP6 fragment type [inferred].
fn parse_ipv6(packet: &[u8]) -> Option<L3Flow> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return None;
    }
    let l3 = L3Addrs::V6 {
        src: array_at(packet, 8)?,
        dst: array_at(packet, 24)?,
    };
    let payload_end = (40 + usize::from(be16(packet, 4)?)).min(packet.len());
    let packet = &packet[..payload_end];
    let ip_only = |extended: bool| L3Flow {
        flow_type: if extended {
            flow_type::IP6_EX
        } else {
            flow_type::IP6
        },
        l3,
        ports: None,
    };
    let mut next_header = packet[6];
    let mut offset = 40;
    let mut extended = false;
    for _ in 0..=MAX_IPV6_EXT_HEADERS {
        match next_header {
            IPPROTO_TCP | IPPROTO_UDP => {
                let ports = be16(packet, offset).zip(be16(packet, offset + 2));
                return Some(match (next_header, extended, ports) {
                    (_, _, None) => ip_only(extended),
                    (IPPROTO_TCP, false, ports) => L3Flow {
                        flow_type: flow_type::TCP6,
                        l3,
                        ports,
                    },
                    (IPPROTO_UDP, false, ports) => L3Flow {
                        flow_type: flow_type::UDP6,
                        l3,
                        ports,
                    },
                    (IPPROTO_TCP, true, ports) => L3Flow {
                        flow_type: flow_type::TCP6_EX,
                        l3,
                        ports,
                    },
                    _ => ip_only(true),
                });
            }
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                extended = true;
                let (Some(&next), Some(&len)) = (packet.get(offset), packet.get(offset + 1)) else {
                    return Some(ip_only(true));
                };
                next_header = next;
                offset += (usize::from(len) + 1) * 8;
            }
            IPPROTO_FRAGMENT => return Some(ip_only(true)),
            _ => return Some(ip_only(extended)),
        }
    }
    Some(ip_only(true))
}

impl FlowHeaders {
    /// Parses a whole Ethernet II frame (no FCS), with at most one 802.1Q tag. Returns `None`
    /// only when the frame is shorter than an Ethernet header; anything after that which is not
    /// well-formed IPv4/IPv6 is NOT_IP.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        let l2_dst = array_at(frame, 0)?;
        let l2_src = array_at(frame, 6)?;
        let mut ethertype = be16(frame, 12)?;
        let mut l3_offset = 14;
        if ethertype == ETHERTYPE_VLAN {
            ethertype = be16(frame, 16).unwrap_or(0);
            l3_offset = 18;
        }
        let l3_packet = frame.get(l3_offset..).unwrap_or(&[]);
        let l3 = match ethertype {
            ETHERTYPE_IPV4 => parse_ipv4(l3_packet),
            ETHERTYPE_IPV6 => parse_ipv6(l3_packet),
            _ => None,
        }
        .unwrap_or(L3Flow::NOT_IP);
        Some(Self {
            flow_type: l3.flow_type,
            l2_src,
            l2_dst,
            l3: l3.l3,
            ports: l3.ports,
        })
    }

    /// Builds the hash input from the `fields` (`ena_hw::admin::hash_field` bits) that exist in
    /// this frame, in this order [model for L2]:
    ///
    /// `L2 SA (6) | L2 DA (6) | L3 SA (4 or 16) | L3 DA | L4 SP (2) | L4 DP (2)`
    ///
    /// all in network order — source before destination at every layer, as Microsoft's layout
    /// does for L3 and L4. With [`SORT_L3`] in `sort` the two addresses are swapped when the
    /// destination is smaller, and independently for ports with [`SORT_L4`]; the swap happens
    /// before field selection, so it only makes the hash symmetric when both halves are
    /// selected. Fields the frame lacks (ports of a fragment, addresses of non-IP) are skipped.
    pub fn hash_input(&self, fields: u16, sort: u16) -> HashInput {
        fn pair<T: Ord + Copy>(src: T, dst: T, sorted: bool) -> (T, T) {
            if sorted && dst < src {
                (dst, src)
            } else {
                (src, dst)
            }
        }
        let mut input = HashInput::default();
        if fields & hash_field::L2_SA != 0 {
            input.push(&self.l2_src);
        }
        if fields & hash_field::L2_DA != 0 {
            input.push(&self.l2_dst);
        }
        let l3_sorted = sort & SORT_L3 != 0;
        let (first, second): (&[u8], &[u8]) = match &self.l3 {
            L3Addrs::None => (&[], &[]),
            L3Addrs::V4 { src, dst } => pair(&src[..], &dst[..], l3_sorted),
            L3Addrs::V6 { src, dst } => pair(&src[..], &dst[..], l3_sorted),
        };
        if fields & hash_field::L3_SA != 0 {
            input.push(first);
        }
        if fields & hash_field::L3_DA != 0 {
            input.push(second);
        }
        if let Some((sp, dp)) = self.ports {
            let (first, second) = pair(sp, dp, sort & SORT_L4 != 0);
            if fields & hash_field::L4_SP != 0 {
                input.push(&first.to_be_bytes());
            }
            if fields & hash_field::L4_DP != 0 {
                input.push(&second.to_be_bytes());
            }
        }
        input
    }
}

/// A hash input string, at most [`MAX_HASH_INPUT`] bytes, kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashInput {
    bytes: [u8; MAX_HASH_INPUT],
    len: usize,
}

impl Default for HashInput {
    fn default() -> Self {
        Self {
            bytes: [0; MAX_HASH_INPUT],
            len: 0,
        }
    }
}

impl HashInput {
    /// The input bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether no field contributed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, part: &[u8]) {
        // Six fields of at most 6+6+16+16+2+2 bytes cannot overflow; stay panic-free anyway.
        if let Some(dst) = self.bytes.get_mut(self.len..self.len + part.len()) {
            dst.copy_from_slice(part);
            self.len += part.len();
        }
    }
}

impl core::fmt::Debug for HashInput {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HashInput({:02x?})", self.as_bytes())
    }
}

/// Where a received frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steer {
    /// Hashed; `rx_sq` is the indirection-table entry `hash % table size`.
    Hashed {
        /// The hash reported in the RX completion.
        hash: u32,
        /// Device index of the RX SQ.
        rx_sq: u16,
    },
    /// Not hashed (no selected field present): the default queue, "queue 0" in the docs. The
    /// device decides which SQ that is.
    Default,
}

/// RSS hash functions this model computes (RSS_HASH_FUNCTION `selected_func`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashFunction {
    /// The ENA Toeplitz variant (function id 1).
    Toeplitz,
}

impl HashFunction {
    /// The function id (its bit number in `supported_func`/`selected_func`).
    pub const fn id(self) -> u32 {
        match self {
            Self::Toeplitz => hash_func::TOEPLITZ,
        }
    }

    /// The one-bit `selected_func` value for this function.
    pub const fn selected_func(self) -> u32 {
        1 << self.id()
    }

    /// Decodes a `selected_func` written by a driver: exactly one bit, of a supported function.
    pub fn from_selected_func(selected_func: u32) -> Result<Self, RssConfigError> {
        if selected_func == 1 << hash_func::TOEPLITZ {
            Ok(Self::Toeplitz)
        } else {
            Err(RssConfigError::UnsupportedFunction(selected_func))
        }
    }
}

/// Why an RSS configuration change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RssConfigError {
    /// `selected_func` is not exactly one supported function bit.
    #[error("unsupported RSS hash function selection {0:#x}")]
    UnsupportedFunction(u32),
    /// Table size (log2) above [`IND_TABLE_LOG2_LIMIT`].
    #[error("indirection table log2 size {0} too large")]
    TableTooLarge(u16),
    /// The entries do not number 2^log2.
    #[error("indirection table of log2 size {log2} given {got} entries")]
    TableLength {
        /// Table size, log2.
        log2: u16,
        /// Entries supplied.
        got: usize,
    },
    /// Single-entry update past the end of the table.
    #[error("indirection table index {0} out of range")]
    TableIndex(usize),
    /// Flow type ≥ 16.
    #[error("flow type {0} out of range")]
    FlowType(usize),
    /// Field bits other than the six defined ones.
    #[error("undefined hash field bits {fields:#x} for flow type {flow_type}")]
    UndefinedFields {
        /// Flow type slot.
        flow_type: usize,
        /// Bits requested.
        fields: u16,
    },
    /// Sort bits other than [`SUPPORTED_SORT`].
    #[error("unsupported input sort bits {0:#x}")]
    UnsupportedSort(u16),
    /// This device does not let the driver change the hash input.
    #[error("hash input is not configurable on this device")]
    HashInputNotConfigurable,
}

/// Fields the device can hash for a flow type (`supported_fields` of RSS_HASH_INPUT): every
/// field a frame of that type carries. Types 10–15 are unused and support nothing.
pub fn supported_fields(flow_type: usize) -> u16 {
    match flow_type {
        flow_type::TCP4
        | flow_type::UDP4
        | flow_type::TCP6
        | flow_type::UDP6
        | flow_type::TCP6_EX => ALL_FIELDS,
        flow_type::IP4 | flow_type::IP6 | flow_type::IP4_FRAG | flow_type::IP6_EX => {
            L2_FIELDS | L3_FIELDS
        }
        flow_type::NOT_IP => L2_FIELDS,
        _ => 0,
    }
}

/// Fields hashed after reset, and always when the hash input is not configurable: the
/// addresses and ports of TCP/UDP over IPv4/IPv6, nothing for the other types (§9.1: such
/// devices send everything else to queue 0).
pub fn default_selected_fields() -> [u16; RSS_FLOW_TYPES] {
    let mut fields = [0u16; RSS_FLOW_TYPES];
    for ft in [
        flow_type::TCP4,
        flow_type::UDP4,
        flow_type::TCP6,
        flow_type::UDP6,
    ] {
        fields[ft] = L3_FIELDS | L4_FIELDS;
    }
    fields
}

/// The device's RSS configuration and the steering decision made from it.
///
/// Reset state ([`RssState::new`]/[`Default`]) [model]: key [`DEFAULT_DEVICE_KEY`] (so the
/// effective key is the fixed key printed in §9.3), `init_val` 0xFFFFFFFF, Toeplitz, a
/// 128-entry indirection table of zeros, [`default_selected_fields`], no input sorting and the
/// full 32-bit hash. No sorting by default because DPDK does not touch RSS_HASH_INPUT and
/// expects the standard Toeplitz hash of its key. [`RssState::fixed_key_device`] models the
/// older devices whose key cannot be changed.
#[derive(Clone, Debug)]
pub struct RssState {
    device_key: [u8; RSS_KEY_LEN],
    effective_key: ToeplitzKey,
    init_val: u32,
    function: HashFunction,
    table_log2: u16,
    table: Vec<u16>,
    selected_fields: [u16; RSS_FLOW_TYPES],
    enabled_sort: u16,
    hash_input_configurable: bool,
    fold_low16: bool,
}

impl Default for RssState {
    /// A device that lets the driver change key and table but not the hash input — what the
    /// DPDK README says of all current hardware.
    fn default() -> Self {
        Self::new(false)
    }
}

impl RssState {
    /// Reset state; `hash_input_configurable` says whether the device implements
    /// RSS_HASH_INPUT (feature 18).
    pub fn new(hash_input_configurable: bool) -> Self {
        Self {
            device_key: DEFAULT_DEVICE_KEY,
            effective_key: ToeplitzKey::new(&FIXED_KEY_EFFECTIVE),
            init_val: 0xffff_ffff,
            function: HashFunction::Toeplitz,
            table_log2: IND_TABLE_LOG2_DEFAULT,
            table: vec![0; 1 << IND_TABLE_LOG2_DEFAULT],
            selected_fields: default_selected_fields(),
            enabled_sort: 0,
            hash_input_configurable,
            fold_low16: false,
        }
    }

    /// A device whose key cannot be changed (§9.3): fixed key, init 0xFFFFFFFF, symmetric
    /// input, and only 16 significant bits, reported as `(h & 0xFFFF) | (h << 16)`. It does
    /// not support RSS_HASH_INPUT (the device should not advertise RSS_HASH_FUNCTION either).
    pub fn fixed_key_device() -> Self {
        Self {
            enabled_sort: SORT_L3 | SORT_L4,
            fold_low16: true,
            ..Self::new(false)
        }
    }

    /// The key in device-buffer order, as GET RSS_HASH_FUNCTION returns it.
    pub fn key(&self) -> &[u8; RSS_KEY_LEN] {
        &self.device_key
    }

    /// Stores a key written by SET RSS_HASH_FUNCTION (device-buffer order).
    pub fn set_key(&mut self, key: &[u8; RSS_KEY_LEN]) {
        self.device_key = *key;
        self.effective_key = ToeplitzKey::new(&reversed_key(key));
    }

    /// The initial hash value.
    pub fn init_val(&self) -> u32 {
        self.init_val
    }

    /// Sets the initial hash value.
    pub fn set_init_val(&mut self, init_val: u32) {
        self.init_val = init_val;
    }

    /// The selected hash function.
    pub fn function(&self) -> HashFunction {
        self.function
    }

    /// Selects the hash function.
    pub fn set_function(&mut self, function: HashFunction) {
        self.function = function;
    }

    /// Indirection table size, log2.
    pub fn indirection_log2(&self) -> u16 {
        self.table_log2
    }

    /// Indirection table entries: device RX SQ indices.
    pub fn indirection_table(&self) -> &[u16] {
        &self.table
    }

    /// Replaces the indirection table (SET RSS_INDIRECTION_TABLE_CONFIG). Whether each entry
    /// names an existing RX SQ is for the device to check.
    pub fn set_indirection_table(
        &mut self,
        log2: u16,
        entries: &[u16],
    ) -> Result<(), RssConfigError> {
        if log2 > IND_TABLE_LOG2_LIMIT {
            return Err(RssConfigError::TableTooLarge(log2));
        }
        if entries.len() != 1 << log2 {
            return Err(RssConfigError::TableLength {
                log2,
                got: entries.len(),
            });
        }
        self.table_log2 = log2;
        self.table = entries.to_vec();
        Ok(())
    }

    /// Updates one indirection table entry.
    pub fn set_indirection_entry(
        &mut self,
        index: usize,
        rx_sq: u16,
    ) -> Result<(), RssConfigError> {
        let entry = self
            .table
            .get_mut(index)
            .ok_or(RssConfigError::TableIndex(index))?;
        *entry = rx_sq;
        Ok(())
    }

    /// Whether the device implements RSS_HASH_INPUT.
    pub fn hash_input_configurable(&self) -> bool {
        self.hash_input_configurable
    }

    /// Fields hashed for a flow type (0 for out-of-range types).
    pub fn selected_fields(&self, flow_type: usize) -> u16 {
        self.selected_fields.get(flow_type).copied().unwrap_or(0)
    }

    /// All 16 selected-field slots, as GET RSS_HASH_INPUT returns them.
    pub fn selected_fields_all(&self) -> [u16; RSS_FLOW_TYPES] {
        self.selected_fields
    }

    /// Selects the fields hashed for one flow type. Defined bits the type lacks are accepted
    /// and simply contribute nothing (DPDK asks for L3 fields on NOT_IP, §9.5).
    pub fn set_selected_fields(
        &mut self,
        flow_type: usize,
        fields: u16,
    ) -> Result<(), RssConfigError> {
        if !self.hash_input_configurable {
            return Err(RssConfigError::HashInputNotConfigurable);
        }
        if fields & !ALL_FIELDS != 0 {
            return Err(RssConfigError::UndefinedFields { flow_type, fields });
        }
        let slot = self
            .selected_fields
            .get_mut(flow_type)
            .ok_or(RssConfigError::FlowType(flow_type))?;
        *slot = fields;
        Ok(())
    }

    /// Replaces all 16 selected-field slots at once (the RSS_HASH_INPUT buffer); nothing
    /// changes if any slot is refused.
    pub fn set_selected_fields_all(
        &mut self,
        fields: &[u16; RSS_FLOW_TYPES],
    ) -> Result<(), RssConfigError> {
        if !self.hash_input_configurable {
            return Err(RssConfigError::HashInputNotConfigurable);
        }
        if let Some((flow_type, &bad)) = fields
            .iter()
            .enumerate()
            .find(|(_, &f)| f & !ALL_FIELDS != 0)
        {
            return Err(RssConfigError::UndefinedFields {
                flow_type,
                fields: bad,
            });
        }
        self.selected_fields = *fields;
        Ok(())
    }

    /// Enabled input sort bits ([`SORT_L3`], [`SORT_L4`]).
    pub fn enabled_sort(&self) -> u16 {
        self.enabled_sort
    }

    /// Enables input sorting (RSS_HASH_INPUT inline `enabled_input_sort`).
    pub fn set_enabled_sort(&mut self, sort: u16) -> Result<(), RssConfigError> {
        if !self.hash_input_configurable {
            return Err(RssConfigError::HashInputNotConfigurable);
        }
        if sort & !SUPPORTED_SORT != 0 {
            return Err(RssConfigError::UnsupportedSort(sort));
        }
        self.enabled_sort = sort;
        Ok(())
    }

    /// Whether only the low 16 hash bits are significant (fixed-key devices).
    pub fn fold_low16(&self) -> bool {
        self.fold_low16
    }

    /// The hash the device reports for an input string: `init_val ^ toeplitz(effective key)`,
    /// folded to 16 bits on fixed-key devices.
    pub fn hash_for(&self, input: &[u8]) -> u32 {
        let raw = match self.function {
            HashFunction::Toeplitz => self.effective_key.hash(input),
        };
        self.finish_hash(raw)
    }

    /// The reported hash from the raw Toeplitz value (initial value, optional 16-bit fold).
    #[inline]
    fn finish_hash(&self, raw: u32) -> u32 {
        let hash = self.init_val ^ raw;
        if self.fold_low16 {
            (hash & 0xffff) | (hash << 16)
        } else {
            hash
        }
    }

    /// The RX SQ the indirection table gives for a hash: entry `hash % table size`.
    pub fn queue_for_hash(&self, hash: u32) -> u16 {
        // The size is a power of two, so the modulo is a mask.
        let mask = (1usize << self.table_log2) - 1;
        self.table.get(hash as usize & mask).copied().unwrap_or(0)
    }

    /// The hash input for a frame under the current configuration, with its flow type;
    /// `None` for frames shorter than an Ethernet header.
    pub fn hash_input(&self, frame: &[u8]) -> Option<(usize, HashInput)> {
        let flow = FlowHeaders::parse(frame)?;
        let fields = self.selected_fields(flow.flow_type);
        Some((flow.flow_type, flow.hash_input(fields, self.enabled_sort)))
    }

    /// [`Self::steer`] for a frame the caller has already parsed as an unfragmented IPv4
    /// TCP or UDP packet, with its IP header at `l3_offset` and its ports at `l4_offset`: when
    /// that flow type hashes exactly the 4-tuple, unsorted (the reset configuration), the
    /// addresses and ports are hashed where they lie, without building the input. `None` when
    /// the configuration (or a short frame) needs the general path.
    #[inline]
    pub fn steer_ipv4_l4(
        &self,
        frame: &[u8],
        l3_offset: usize,
        l4_offset: usize,
        tcp: bool,
    ) -> Option<Steer> {
        const FOUR_TUPLE: u16 =
            hash_field::L3_SA | hash_field::L3_DA | hash_field::L4_SP | hash_field::L4_DP;
        let flow = if tcp {
            flow_type::TCP4
        } else {
            flow_type::UDP4
        };
        if self.selected_fields(flow) != FOUR_TUPLE || self.enabled_sort & (SORT_L3 | SORT_L4) != 0
        {
            return None;
        }
        // Source then destination address (adjacent in the header), then the two ports.
        let addrs = frame.get(l3_offset + 12..l3_offset + 20)?;
        let ports = frame.get(l4_offset..l4_offset + 4)?;
        let raw = match self.function {
            HashFunction::Toeplitz => self.effective_key.hash2(addrs, ports),
        };
        let hash = self.finish_hash(raw);
        Some(Steer::Hashed {
            hash,
            rx_sq: self.queue_for_hash(hash),
        })
    }

    /// [`Self::steer`] for a frame the checksum engine has already parsed (`info` must be
    /// `csum::parse(frame)`): unfragmented, untagged TCP/UDP over IPv4 that parsed cleanly is
    /// hashed in place ([`Self::steer_ipv4_l4`]) when the configuration allows; everything
    /// else takes the general path.
    pub fn steer_parsed(&self, frame: &[u8], info: &crate::csum::PacketInfo) -> Steer {
        use crate::csum::{L3Kind, L4Kind};
        let fast = match (info.l3, info.l4) {
            (L3Kind::Ipv4, l4 @ (L4Kind::Tcp | L4Kind::Udp))
                if info.error.is_none() && !info.ip_frag && info.vlan_tci.is_none() =>
            {
                self.steer_ipv4_l4(frame, info.l3_offset, info.l4_offset, l4 == L4Kind::Tcp)
            }
            _ => None,
        };
        fast.unwrap_or_else(|| self.steer(frame))
    }

    /// Chooses the RX SQ for a received frame. Frames whose flow type selects no field present
    /// in them (with the reset fields: everything but unfragmented TCP/UDP) are not hashed.
    pub fn steer(&self, frame: &[u8]) -> Steer {
        match self.hash_input(frame) {
            Some((_, input)) if !input.is_empty() => {
                let hash = self.hash_for(input.as_bytes());
                Steer::Hashed {
                    hash,
                    rx_sq: self.queue_for_hash(hash),
                }
            }
            _ => Steer::Default,
        }
    }
}

/// Published RSS test vectors, for tests and tools that must agree with the outside world.
pub mod vectors {
    /// Microsoft's verification key ("Verifying the RSS Hash Calculation", learn.microsoft.com),
    /// also the key `ena` uses when an application gives none.
    pub const MICROSOFT_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    /// One IPv4 row of Microsoft's table.
    #[derive(Clone, Copy, Debug)]
    pub struct Ipv4Vector {
        /// Source address.
        pub src: [u8; 4],
        /// Source port.
        pub sport: u16,
        /// Destination address.
        pub dst: [u8; 4],
        /// Destination port.
        pub dport: u16,
        /// Hash of the addresses only.
        pub ip_hash: u32,
        /// Hash of addresses and ports (TCP/UDP).
        pub l4_hash: u32,
    }

    /// Microsoft's five IPv4 rows.
    pub const MICROSOFT_IPV4: [Ipv4Vector; 5] = [
        Ipv4Vector {
            src: [66, 9, 149, 187],
            sport: 2794,
            dst: [161, 142, 100, 80],
            dport: 1766,
            ip_hash: 0x323e8fc2,
            l4_hash: 0x51ccc178,
        },
        Ipv4Vector {
            src: [199, 92, 111, 2],
            sport: 14230,
            dst: [65, 69, 140, 83],
            dport: 4739,
            ip_hash: 0xd718262a,
            l4_hash: 0xc626b0ea,
        },
        Ipv4Vector {
            src: [24, 19, 198, 95],
            sport: 12898,
            dst: [12, 22, 207, 184],
            dport: 38024,
            ip_hash: 0xd2d0a5de,
            l4_hash: 0x5c2b394a,
        },
        Ipv4Vector {
            src: [38, 27, 205, 30],
            sport: 48228,
            dst: [209, 142, 163, 6],
            dport: 2217,
            ip_hash: 0x82989176,
            l4_hash: 0xafc7327f,
        },
        Ipv4Vector {
            src: [153, 39, 163, 191],
            sport: 44251,
            dst: [202, 188, 127, 2],
            dport: 1303,
            ip_hash: 0x5d1809c5,
            l4_hash: 0x10e828a2,
        },
    ];

    impl Ipv4Vector {
        /// The Toeplitz input: source, destination, source port, destination port.
        pub fn input(&self) -> [u8; 12] {
            let mut v = [0u8; 12];
            v[..4].copy_from_slice(&self.src);
            v[4..8].copy_from_slice(&self.dst);
            v[8..10].copy_from_slice(&self.sport.to_be_bytes());
            v[10..].copy_from_slice(&self.dport.to_be_bytes());
            v
        }
    }

    /// AWS's ENA calculator example key (ENA best-practices documentation).
    pub const AWS_KEY: [u8; 40] = [
        0x77, 0xd1, 0xc9, 0x34, 0xa4, 0xc9, 0xbd, 0x87, 0x6e, 0x35, 0xdd, 0x17, 0xb2, 0xe3, 0x23,
        0x9e, 0x39, 0x6d, 0x8a, 0x93, 0x2a, 0x95, 0xb4, 0x72, 0x3a, 0xb3, 0x7f, 0x56, 0x8e, 0xde,
        0xb6, 0x01, 0x97, 0xaf, 0x3b, 0x2f, 0x3a, 0x70, 0xe7, 0x04,
    ];
    /// AWS's example flow, 1.2.3.4:7000 → 1.2.3.5:7000, with its published results:
    /// (standard Toeplitz, device buffer holding the key with init 0, with init 0xFFFFFFFF).
    pub const AWS_FLOW: Ipv4Vector = Ipv4Vector {
        src: [1, 2, 3, 4],
        sport: 7000,
        dst: [1, 2, 3, 5],
        dport: 7000,
        ip_hash: 0,
        l4_hash: 0xa9828bd4,
    };
    /// The device-side results of [`AWS_FLOW`]: init 0 and init 0xFFFFFFFF.
    pub const AWS_DEVICE_HASHES: (u32, u32) = (0xa4a1471a, 0x5b5eb8e5);
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
    use pnet_packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
    use pnet_packet::ipv4::{Ipv4Flags, MutableIpv4Packet};
    use pnet_packet::ipv6::MutableIpv6Packet;
    use pnet_packet::tcp::MutableTcpPacket;
    use pnet_packet::udp::MutableUdpPacket;
    use pnet_packet::vlan::MutableVlanPacket;
    use pnet_packet::MutablePacket;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MAC_SRC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    const MAC_DST: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

    /// Key of spec §9.3 / the AWS calculator example, as a user types it.
    const AWS_KEY: [u8; 40] = [
        0x77, 0xd1, 0xc9, 0x34, 0xa4, 0xc9, 0xbd, 0x87, 0x6e, 0x35, 0xdd, 0x17, 0xb2, 0xe3, 0x23,
        0x9e, 0x39, 0x6d, 0x8a, 0x93, 0x2a, 0x95, 0xb4, 0x72, 0x3a, 0xb3, 0x7f, 0x56, 0x8e, 0xde,
        0xb6, 0x01, 0x97, 0xaf, 0x3b, 0x2f, 0x3a, 0x70, 0xe7, 0x04,
    ];

    /// Microsoft's verification key ("Verifying the RSS Hash Calculation").
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    /// Microsoft IPv4 rows: (destination, dst port, source, src port, IPv4-only, with TCP).
    const MS_IPV4: [(&str, u16, &str, u16, u32, u32); 5] = [
        (
            "161.142.100.80",
            1766,
            "66.9.149.187",
            2794,
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            "65.69.140.83",
            4739,
            "199.92.111.2",
            14230,
            0xd718262a,
            0xc626b0ea,
        ),
        (
            "12.22.207.184",
            38024,
            "24.19.198.95",
            12898,
            0xd2d0a5de,
            0x5c2b394a,
        ),
        (
            "209.142.163.6",
            2217,
            "38.27.205.30",
            48228,
            0x82989176,
            0xafc7327f,
        ),
        (
            "202.188.127.2",
            1303,
            "153.39.163.191",
            44251,
            0x5d1809c5,
            0x10e828a2,
        ),
    ];

    /// Microsoft IPv6 rows (the page has three): same columns.
    const MS_IPV6: [(&str, u16, &str, u16, u32, u32); 3] = [
        (
            "3ffe:2501:200:3::1",
            1766,
            "3ffe:2501:200:1fff::7",
            2794,
            0x2cc18cd5,
            0x40207d3d,
        ),
        (
            "ff02::1",
            4739,
            "3ffe:501:8::260:97ff:fe40:efab",
            14230,
            0x0f0c461c,
            0xdde51bbf,
        ),
        (
            "fe80::200:f8ff:fe21:67cf",
            38024,
            "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            44251,
            0x4b61e985,
            0x02d1feef,
        ),
    ];

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().expect("test address")
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().expect("test address")
    }

    fn tcp(sp: u16, dp: u16) -> Vec<u8> {
        let mut buf = vec![0u8; 20];
        let mut tcp = MutableTcpPacket::new(&mut buf).expect("tcp buffer");
        tcp.set_source(sp);
        tcp.set_destination(dp);
        tcp.set_data_offset(5);
        buf
    }

    fn udp(sp: u16, dp: u16) -> Vec<u8> {
        let mut buf = vec![0u8; 8];
        let mut udp = MutableUdpPacket::new(&mut buf).expect("udp buffer");
        udp.set_source(sp);
        udp.set_destination(dp);
        udp.set_length(8);
        buf
    }

    #[derive(Clone, Copy)]
    struct V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: IpNextHeaderProtocol,
        flags: u8,
        fragment_offset: u16,
        option_words: u8,
    }

    fn ipv4(p: V4, l4: &[u8]) -> Vec<u8> {
        let header_len = 20 + 4 * usize::from(p.option_words);
        let mut buf = vec![0u8; header_len + l4.len()];
        let mut ip = MutableIpv4Packet::new(&mut buf).expect("ipv4 buffer");
        ip.set_version(4);
        ip.set_header_length(5 + p.option_words);
        ip.set_total_length((header_len + l4.len()) as u16);
        ip.set_ttl(64);
        ip.set_next_level_protocol(p.proto);
        ip.set_flags(p.flags);
        ip.set_fragment_offset(p.fragment_offset);
        ip.set_source(p.src);
        ip.set_destination(p.dst);
        buf[header_len..].copy_from_slice(l4);
        buf
    }

    fn ipv4_simple(src: &str, dst: &str, proto: IpNextHeaderProtocol, l4: &[u8]) -> Vec<u8> {
        ipv4(
            V4 {
                src: v4(src),
                dst: v4(dst),
                proto,
                flags: 0,
                fragment_offset: 0,
                option_words: 0,
            },
            l4,
        )
    }

    fn ipv6(src: &str, dst: &str, next: IpNextHeaderProtocol, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 40 + payload.len()];
        let mut ip = MutableIpv6Packet::new(&mut buf).expect("ipv6 buffer");
        ip.set_version(6);
        ip.set_payload_length(payload.len() as u16);
        ip.set_next_header(next);
        ip.set_hop_limit(64);
        ip.set_source(v6(src));
        ip.set_destination(v6(dst));
        ip.payload_mut().copy_from_slice(payload);
        buf
    }

    fn ether(ethertype: EtherType, vlan: Option<u16>, l3: &[u8]) -> Vec<u8> {
        let tag_len = if vlan.is_some() { 4 } else { 0 };
        let mut buf = vec![0u8; 14 + tag_len + l3.len()];
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("ethernet buffer");
        eth.set_source(MAC_SRC.into());
        eth.set_destination(MAC_DST.into());
        match vlan {
            Some(vid) => {
                eth.set_ethertype(EtherTypes::Vlan);
                let mut tag = MutableVlanPacket::new(eth.payload_mut()).expect("vlan buffer");
                tag.set_vlan_identifier(vid);
                tag.set_ethertype(ethertype);
                tag.payload_mut().copy_from_slice(l3);
            }
            None => {
                eth.set_ethertype(ethertype);
                eth.payload_mut().copy_from_slice(l3);
            }
        }
        buf
    }

    fn tcp4_frame(src: &str, sp: u16, dst: &str, dp: u16) -> Vec<u8> {
        ether(
            EtherTypes::Ipv4,
            None,
            &ipv4_simple(src, dst, IpNextHeaderProtocols::Tcp, &tcp(sp, dp)),
        )
    }

    fn udp4_frame(src: &str, sp: u16, dst: &str, dp: u16) -> Vec<u8> {
        ether(
            EtherTypes::Ipv4,
            None,
            &ipv4_simple(src, dst, IpNextHeaderProtocols::Udp, &udp(sp, dp)),
        )
    }

    fn tcp6_frame(src: &str, sp: u16, dst: &str, dp: u16) -> Vec<u8> {
        ether(
            EtherTypes::Ipv6,
            None,
            &ipv6(src, dst, IpNextHeaderProtocols::Tcp, &tcp(sp, dp)),
        )
    }

    /// 1.2.3.4:7000 → 1.2.3.5:7000, the flow of the AWS calculator example.
    fn aws_input() -> Vec<u8> {
        vec![1, 2, 3, 4, 1, 2, 3, 5, 0x1b, 0x58, 0x1b, 0x58]
    }

    fn v4_input(src: &str, dst: &str, ports: Option<(u16, u16)>) -> Vec<u8> {
        let mut input = [v4(src).octets(), v4(dst).octets()].concat();
        if let Some((sp, dp)) = ports {
            input.extend_from_slice(&sp.to_be_bytes());
            input.extend_from_slice(&dp.to_be_bytes());
        }
        input
    }

    fn v6_input(src: &str, dst: &str, ports: Option<(u16, u16)>) -> Vec<u8> {
        let mut input = [v6(src).octets(), v6(dst).octets()].concat();
        if let Some((sp, dp)) = ports {
            input.extend_from_slice(&sp.to_be_bytes());
            input.extend_from_slice(&dp.to_be_bytes());
        }
        input
    }

    /// A device configured the DPDK way with `user_key`: key reversed into the device, init 0,
    /// identity indirection table.
    fn dpdk_state(user_key: &[u8; 40], configurable: bool) -> RssState {
        let mut rss = RssState::new(configurable);
        rss.set_key(&reversed_key(user_key));
        rss.set_init_val(0);
        let identity: Vec<u16> = (0..128).collect();
        rss.set_indirection_table(7, &identity)
            .expect("valid table");
        rss
    }

    #[test]
    fn aws_vector_standard_toeplitz() {
        let hash = toeplitz(&AWS_KEY, &aws_input());
        assert_eq!(hash, 0xa982_8bd4);
        assert_eq!(hash % 128, 84);
        assert_eq!(ToeplitzKey::new(&AWS_KEY).hash(&aws_input()), 0xa982_8bd4);
    }

    #[test]
    fn aws_vector_device_buffer_unreversed() {
        let with_zero = ena_hash(&AWS_KEY, 0, &aws_input());
        assert_eq!(with_zero, 0xa4a1_471a);
        assert_eq!(with_zero % 128, 26);
        let with_ones = ena_hash(&AWS_KEY, 0xffff_ffff, &aws_input());
        assert_eq!(with_ones, 0x5b5e_b8e5);
        assert_eq!(with_ones % 128, 101);
    }

    #[test]
    fn aws_vector_dpdk_convention_gives_standard_hash() {
        assert_eq!(
            ena_hash(&reversed_key(&AWS_KEY), 0, &aws_input()),
            0xa982_8bd4
        );
        // End to end: a UDP frame through the device's steering.
        let rss = dpdk_state(&AWS_KEY, false);
        let frame = udp4_frame("1.2.3.4", 7000, "1.2.3.5", 7000);
        assert_eq!(
            rss.steer(&frame),
            Steer::Hashed {
                hash: 0xa982_8bd4,
                rx_sq: 84
            }
        );
    }

    #[test]
    fn aws_vector_linux_convention_through_steer() {
        // Linux writes the ethtool key as is and uses init 0xFFFFFFFF.
        let mut rss = dpdk_state(&AWS_KEY, false);
        rss.set_key(&AWS_KEY);
        rss.set_init_val(0xffff_ffff);
        let frame = tcp4_frame("1.2.3.4", 7000, "1.2.3.5", 7000);
        assert_eq!(
            rss.steer(&frame),
            Steer::Hashed {
                hash: 0x5b5e_b8e5,
                rx_sq: 101
            }
        );
    }

    #[test]
    fn microsoft_ipv4_vectors() {
        let fast = ToeplitzKey::new(&MS_KEY);
        for (dst, dp, src, sp, ip_only, with_tcp) in MS_IPV4 {
            let l3 = v4_input(src, dst, None);
            let l4 = v4_input(src, dst, Some((sp, dp)));
            assert_eq!(toeplitz(&MS_KEY, &l3), ip_only, "{src} -> {dst}");
            assert_eq!(toeplitz(&MS_KEY, &l4), with_tcp, "{src}:{sp} -> {dst}:{dp}");
            assert_eq!(fast.hash(&l3), ip_only, "{src} -> {dst}");
            assert_eq!(fast.hash(&l4), with_tcp, "{src}:{sp} -> {dst}:{dp}");
        }
    }

    #[test]
    fn microsoft_ipv6_vectors() {
        let fast = ToeplitzKey::new(&MS_KEY);
        for (dst, dp, src, sp, ip_only, with_tcp) in MS_IPV6 {
            let l3 = v6_input(src, dst, None);
            let l4 = v6_input(src, dst, Some((sp, dp)));
            assert_eq!(toeplitz(&MS_KEY, &l3), ip_only, "{src} -> {dst}");
            assert_eq!(toeplitz(&MS_KEY, &l4), with_tcp, "{src}:{sp} -> {dst}:{dp}");
            assert_eq!(fast.hash(&l3), ip_only, "{src} -> {dst}");
            assert_eq!(fast.hash(&l4), with_tcp, "{src}:{sp} -> {dst}:{dp}");
        }
    }

    #[test]
    fn microsoft_vectors_through_frames() {
        // Frame parsing + field order + device key reversal give the published hashes.
        let mut rss = dpdk_state(&MS_KEY, true);
        rss.set_selected_fields(flow_type::IP4, L3_FIELDS)
            .expect("configurable");
        rss.set_selected_fields(flow_type::IP6, L3_FIELDS)
            .expect("configurable");
        for (dst, dp, src, sp, ip_only, with_tcp) in MS_IPV4 {
            let frame = tcp4_frame(src, sp, dst, dp);
            assert_eq!(
                rss.steer(&frame),
                Steer::Hashed {
                    hash: with_tcp,
                    rx_sq: (with_tcp % 128) as u16
                }
            );
            let icmp = ether(
                EtherTypes::Ipv4,
                None,
                &ipv4_simple(src, dst, IpNextHeaderProtocols::Icmp, &[8, 0, 0, 0]),
            );
            assert_eq!(
                rss.steer(&icmp),
                Steer::Hashed {
                    hash: ip_only,
                    rx_sq: (ip_only % 128) as u16
                }
            );
        }
        for (dst, dp, src, sp, ip_only, with_tcp) in MS_IPV6 {
            let frame = tcp6_frame(src, sp, dst, dp);
            assert_eq!(
                rss.steer(&frame),
                Steer::Hashed {
                    hash: with_tcp,
                    rx_sq: (with_tcp % 128) as u16
                }
            );
            let icmp = ether(
                EtherTypes::Ipv6,
                None,
                &ipv6(src, dst, IpNextHeaderProtocols::Icmpv6, &[128, 0, 0, 0]),
            );
            assert_eq!(
                rss.steer(&icmp),
                Steer::Hashed {
                    hash: ip_only,
                    rx_sq: (ip_only % 128) as u16
                }
            );
        }
    }

    fn parse(frame: &[u8]) -> FlowHeaders {
        FlowHeaders::parse(frame).expect("frame has an Ethernet header")
    }

    const L3L4: u16 = L3_FIELDS | L4_FIELDS;

    #[test]
    fn extract_tcp4_and_udp4() {
        let flow = parse(&tcp4_frame("10.0.0.1", 1234, "10.0.0.2", 80));
        assert_eq!(flow.flow_type, flow_type::TCP4);
        assert_eq!(flow.l2_src, MAC_SRC);
        assert_eq!(flow.l2_dst, MAC_DST);
        assert_eq!(
            flow.hash_input(L3L4, 0).as_bytes(),
            [10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0x00, 0x50]
        );

        let flow = parse(&udp4_frame("192.168.1.7", 53, "8.8.8.8", 40000));
        assert_eq!(flow.flow_type, flow_type::UDP4);
        assert_eq!(
            flow.hash_input(L3L4, 0).as_bytes(),
            [192, 168, 1, 7, 8, 8, 8, 8, 0x00, 0x35, 0x9c, 0x40]
        );
    }

    #[test]
    fn extract_tcp6_and_udp6() {
        let flow = parse(&tcp6_frame("2001:db8::1", 443, "2001:db8::2", 50000));
        assert_eq!(flow.flow_type, flow_type::TCP6);
        let mut expected = v6_input("2001:db8::1", "2001:db8::2", Some((443, 50000)));
        assert_eq!(flow.hash_input(L3L4, 0).as_bytes(), &expected[..]);
        assert_eq!(expected.len(), 36);

        let frame = ether(
            EtherTypes::Ipv6,
            None,
            &ipv6(
                "fe80::1",
                "ff02::fb",
                IpNextHeaderProtocols::Udp,
                &udp(5353, 5353),
            ),
        );
        let flow = parse(&frame);
        assert_eq!(flow.flow_type, flow_type::UDP6);
        expected = v6_input("fe80::1", "ff02::fb", Some((5353, 5353)));
        assert_eq!(flow.hash_input(L3L4, 0).as_bytes(), &expected[..]);
    }

    #[test]
    fn extract_ipv4_fragments_have_no_ports() {
        let first = V4 {
            src: v4("10.1.1.1"),
            dst: v4("10.2.2.2"),
            proto: IpNextHeaderProtocols::Udp,
            flags: Ipv4Flags::MoreFragments,
            fragment_offset: 0,
            option_words: 0,
        };
        let later = V4 {
            flags: 0,
            fragment_offset: 185,
            ..first
        };
        for header in [first, later] {
            let flow = parse(&ether(
                EtherTypes::Ipv4,
                None,
                &ipv4(header, &udp(1000, 2000)),
            ));
            assert_eq!(flow.flow_type, flow_type::IP4_FRAG);
            assert_eq!(flow.ports, None);
            assert_eq!(
                flow.hash_input(L3L4, 0).as_bytes(),
                [10, 1, 1, 1, 10, 2, 2, 2]
            );
        }
        // Don't-fragment alone is not a fragment.
        let df = V4 {
            flags: Ipv4Flags::DontFragment,
            fragment_offset: 0,
            ..first
        };
        assert_eq!(
            parse(&ether(EtherTypes::Ipv4, None, &ipv4(df, &udp(1, 2)))).flow_type,
            flow_type::UDP4
        );
    }

    #[test]
    fn extract_other_ip_and_non_ip() {
        let icmp = ether(
            EtherTypes::Ipv4,
            None,
            &ipv4_simple("1.1.1.1", "2.2.2.2", IpNextHeaderProtocols::Icmp, &[0; 8]),
        );
        let flow = parse(&icmp);
        assert_eq!(flow.flow_type, flow_type::IP4);
        assert_eq!(
            flow.hash_input(L3L4, 0).as_bytes(),
            [1, 1, 1, 1, 2, 2, 2, 2]
        );

        let arp = ether(EtherTypes::Arp, None, &[0u8; 28]);
        let flow = parse(&arp);
        assert_eq!(flow.flow_type, flow_type::NOT_IP);
        assert_eq!(flow.l3, L3Addrs::None);
        assert!(flow.hash_input(L3L4, 0).is_empty());
        // L2 fields: source MAC first, then destination MAC.
        assert_eq!(
            flow.hash_input(L2_FIELDS, 0).as_bytes(),
            [MAC_SRC, MAC_DST].concat()
        );
        assert_eq!(flow.hash_input(hash_field::L2_DA, 0).as_bytes(), MAC_DST);
    }

    #[test]
    fn extract_vlan_tagged() {
        let l3 = ipv4_simple(
            "10.0.0.1",
            "10.0.0.2",
            IpNextHeaderProtocols::Tcp,
            &tcp(1234, 80),
        );
        let frame = ether(EtherTypes::Ipv4, Some(42), &l3);
        assert_eq!(u16::from_be_bytes([frame[12], frame[13]]), 0x8100);
        let flow = parse(&frame);
        assert_eq!(flow.flow_type, flow_type::TCP4);
        assert_eq!(
            flow.hash_input(L3L4, 0).as_bytes(),
            [10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0x00, 0x50]
        );
        // Same flow hashes the same tagged or not.
        let rss = RssState::default();
        assert_eq!(
            rss.steer(&frame),
            rss.steer(&tcp4_frame("10.0.0.1", 1234, "10.0.0.2", 80))
        );
    }

    #[test]
    fn extract_ipv4_options_and_padding() {
        let header = V4 {
            src: v4("10.0.0.1"),
            dst: v4("10.0.0.2"),
            proto: IpNextHeaderProtocols::Udp,
            flags: 0,
            fragment_offset: 0,
            option_words: 2,
        };
        let flow = parse(&ether(EtherTypes::Ipv4, None, &ipv4(header, &udp(7, 9))));
        assert_eq!(flow.flow_type, flow_type::UDP4);
        assert_eq!(flow.ports, Some((7, 9)));

        // A TCP packet whose total length ends before the ports; Ethernet padding must not be
        // read as ports.
        let mut l3 = ipv4_simple("10.0.0.1", "10.0.0.2", IpNextHeaderProtocols::Tcp, &[]);
        l3.extend_from_slice(&[0xaa; 26]);
        let flow = parse(&ether(EtherTypes::Ipv4, None, &l3));
        assert_eq!(flow.flow_type, flow_type::IP4);
        assert_eq!(flow.ports, None);
    }

    #[test]
    fn extract_ipv6_extension_headers() {
        // Hop-by-hop (8 bytes) then TCP.
        let mut payload = vec![IpNextHeaderProtocols::Tcp.0, 0, 0, 0, 0, 0, 0, 0];
        payload.extend_from_slice(&tcp(1000, 22));
        let frame = ether(
            EtherTypes::Ipv6,
            None,
            &ipv6(
                "2001:db8::a",
                "2001:db8::b",
                IpNextHeaderProtocols::Hopopt,
                &payload,
            ),
        );
        let flow = parse(&frame);
        assert_eq!(flow.flow_type, flow_type::TCP6_EX);
        assert_eq!(flow.ports, Some((1000, 22)));

        // Destination options then UDP: IP6_EX, no ports.
        payload = vec![IpNextHeaderProtocols::Udp.0, 0, 0, 0, 0, 0, 0, 0];
        payload.extend_from_slice(&udp(1000, 22));
        let frame = ether(
            EtherTypes::Ipv6,
            None,
            &ipv6(
                "2001:db8::a",
                "2001:db8::b",
                IpNextHeaderProtocols::Ipv6Opts,
                &payload,
            ),
        );
        assert_eq!(parse(&frame).flow_type, flow_type::IP6_EX);

        // Fragment header.
        payload = vec![IpNextHeaderProtocols::Tcp.0, 0, 0, 1, 0, 0, 0, 7];
        payload.extend_from_slice(&tcp(1000, 22));
        let frame = ether(
            EtherTypes::Ipv6,
            None,
            &ipv6(
                "2001:db8::a",
                "2001:db8::b",
                IpNextHeaderProtocols::Ipv6Frag,
                &payload,
            ),
        );
        let flow = parse(&frame);
        assert_eq!(flow.flow_type, flow_type::IP6_EX);
        assert_eq!(flow.ports, None);
    }

    #[test]
    fn symmetric_sort_gives_equal_hashes() {
        let mut rss = dpdk_state(&MS_KEY, true);
        rss.set_enabled_sort(SORT_L3 | SORT_L4)
            .expect("configurable");
        let pairs = [
            (
                tcp4_frame("10.0.0.9", 80, "10.0.0.1", 50000),
                tcp4_frame("10.0.0.1", 50000, "10.0.0.9", 80),
            ),
            (
                tcp6_frame("2001:db8::9", 443, "2001:db8::1", 1024),
                tcp6_frame("2001:db8::1", 1024, "2001:db8::9", 443),
            ),
        ];
        for (forward, reverse) in &pairs {
            let a = rss.steer(forward);
            assert!(matches!(a, Steer::Hashed { .. }));
            assert_eq!(a, rss.steer(reverse));
        }
        // Sorted input puts the smaller address and, independently, the smaller port first.
        let (_, input) = rss.hash_input(&pairs[0].0).expect("ethernet");
        assert_eq!(
            input.as_bytes(),
            [10, 0, 0, 1, 10, 0, 0, 9, 0x00, 0x50, 0xc3, 0x50]
        );
        rss.set_enabled_sort(SORT_L4).expect("configurable");
        let (_, input) = rss.hash_input(&pairs[0].0).expect("ethernet");
        assert_eq!(
            input.as_bytes(),
            [10, 0, 0, 9, 10, 0, 0, 1, 0x00, 0x50, 0xc3, 0x50]
        );
        // Without sorting the two directions differ.
        rss.set_enabled_sort(0).expect("configurable");
        assert_ne!(rss.steer(&pairs[0].0), rss.steer(&pairs[0].1));
    }

    #[test]
    fn reta_change_moves_flow_as_predicted() {
        let mut rss = dpdk_state(&AWS_KEY, false);
        let frame = tcp4_frame("1.2.3.4", 7000, "1.2.3.5", 7000);
        let other = tcp4_frame("1.2.3.4", 7001, "1.2.3.5", 7000);
        let Steer::Hashed {
            hash: other_hash,
            rx_sq: other_before,
        } = rss.steer(&other)
        else {
            panic!("TCP is hashed");
        };
        assert_ne!(other_hash % 128, 84, "pick a flow in another bucket");
        assert_eq!(
            rss.steer(&frame),
            Steer::Hashed {
                hash: 0xa982_8bd4,
                rx_sq: 84
            }
        );

        rss.set_indirection_entry(84, 5).expect("in range");
        assert_eq!(
            rss.steer(&frame),
            Steer::Hashed {
                hash: 0xa982_8bd4,
                rx_sq: 5
            }
        );
        assert_eq!(
            rss.steer(&other),
            Steer::Hashed {
                hash: other_hash,
                rx_sq: other_before
            }
        );

        // A smaller table: index = hash % 8 = 0xd4 % 8 = 4.
        rss.set_indirection_table(3, &[10, 11, 12, 13, 14, 15, 16, 17])
            .expect("valid table");
        assert_eq!(
            rss.steer(&frame),
            Steer::Hashed {
                hash: 0xa982_8bd4,
                rx_sq: 14
            }
        );
        assert_eq!(rss.queue_for_hash(0xa982_8bd4), 14);
    }

    #[test]
    fn reset_state() {
        let rss = RssState::default();
        assert_eq!(rss.key(), &DEFAULT_DEVICE_KEY);
        assert_eq!(rss.key()[0], 0xda);
        assert_eq!(rss.key()[39], 0xbe);
        assert_eq!(rss.init_val(), 0xffff_ffff);
        assert_eq!(rss.function(), HashFunction::Toeplitz);
        assert_eq!(rss.indirection_log2(), 7);
        assert_eq!(rss.indirection_table(), &[0u16; 128][..]);
        assert_eq!(rss.enabled_sort(), 0);
        assert!(!rss.hash_input_configurable());
        assert_eq!(
            rss.selected_fields_all(),
            [0x3c, 0x3c, 0x3c, 0x3c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );

        // TCP is hashed with the effective fixed key and init 0xFFFFFFFF, onto queue 0.
        let frame = tcp4_frame("1.2.3.4", 7000, "1.2.3.5", 7000);
        let expected = 0xffff_ffff ^ toeplitz(&FIXED_KEY_EFFECTIVE, &aws_input());
        assert_eq!(
            rss.steer(&frame),
            Steer::Hashed {
                hash: expected,
                rx_sq: 0
            }
        );
        // Everything else is not hashed.
        let icmp = ether(
            EtherTypes::Ipv4,
            None,
            &ipv4_simple("1.1.1.1", "2.2.2.2", IpNextHeaderProtocols::Icmp, &[0; 8]),
        );
        assert_eq!(rss.steer(&icmp), Steer::Default);
        assert_eq!(
            rss.steer(&ether(EtherTypes::Arp, None, &[0; 28])),
            Steer::Default
        );
    }

    #[test]
    fn fixed_key_device_is_symmetric_and_16_bit() {
        let rss = RssState::fixed_key_device();
        let forward = udp4_frame("1.2.3.5", 7000, "1.2.3.4", 6000);
        let reverse = udp4_frame("1.2.3.4", 6000, "1.2.3.5", 7000);
        let Steer::Hashed { hash, rx_sq } = rss.steer(&forward) else {
            panic!("UDP is hashed")
        };
        assert_eq!(rss.steer(&reverse), Steer::Hashed { hash, rx_sq });
        assert_eq!(hash >> 16, hash & 0xffff);
        // The calculator's computation: smaller address and port first, init 0xFFFFFFFF, folded.
        let raw = 0xffff_ffff
            ^ toeplitz(
                &FIXED_KEY_EFFECTIVE,
                &[1, 2, 3, 4, 1, 2, 3, 5, 0x17, 0x70, 0x1b, 0x58],
            );
        assert_eq!(hash, (raw & 0xffff) | (raw << 16));
        assert_eq!(
            rss.clone().set_enabled_sort(0),
            Err(RssConfigError::HashInputNotConfigurable)
        );
    }

    #[test]
    fn garbage_frames_go_to_default() {
        let rss = dpdk_state(&AWS_KEY, true);
        let mut fields = [ALL_FIELDS; RSS_FLOW_TYPES];
        fields[flow_type::NOT_IP] = L3_FIELDS; // DPDK's quirk: nothing to hash for non-IP.
        let mut rss_all = rss.clone();
        rss_all
            .set_selected_fields_all(&fields)
            .expect("configurable");
        let truncated_v6 = &tcp6_frame("2001:db8::1", 1, "2001:db8::2", 2)[..14 + 39];
        let mut bad_version = tcp4_frame("1.1.1.1", 1, "2.2.2.2", 2);
        bad_version[14] = 0x65;
        let mut short_ihl = tcp4_frame("1.1.1.1", 1, "2.2.2.2", 2);
        short_ihl[14] = 0x44;
        let cases: [&[u8]; 8] = [
            &[],
            &[0xff; 5],
            &[0; 13],
            &ether(EtherTypes::Ipv4, None, &[]),
            &ether(EtherTypes::Vlan, None, &[]),
            truncated_v6,
            &bad_version,
            &short_ihl,
        ];
        for frame in cases {
            assert_eq!(rss.steer(frame), Steer::Default, "{frame:02x?}");
            assert_eq!(rss_all.steer(frame), Steer::Default, "{frame:02x?}");
        }
        // A malformed IP header is NOT_IP, hashed by MAC only if L2 fields are selected.
        let mut l2 = rss.clone();
        l2.set_selected_fields(flow_type::NOT_IP, L2_FIELDS)
            .expect("configurable");
        let expected = l2.hash_for(&[MAC_SRC, MAC_DST].concat());
        assert_eq!(
            l2.steer(&bad_version),
            Steer::Hashed {
                hash: expected,
                rx_sq: (expected % 128) as u16
            }
        );
    }

    #[test]
    fn configuration_errors() {
        let mut rss = RssState::new(true);
        assert_eq!(
            rss.set_indirection_table(17, &[]),
            Err(RssConfigError::TableTooLarge(17))
        );
        assert_eq!(
            rss.set_indirection_table(2, &[0; 3]),
            Err(RssConfigError::TableLength { log2: 2, got: 3 })
        );
        assert_eq!(
            rss.set_indirection_entry(128, 1),
            Err(RssConfigError::TableIndex(128))
        );
        assert_eq!(
            rss.set_selected_fields(16, 0x3c),
            Err(RssConfigError::FlowType(16))
        );
        assert_eq!(
            rss.set_selected_fields(flow_type::TCP4, 0x40),
            Err(RssConfigError::UndefinedFields {
                flow_type: 0,
                fields: 0x40
            })
        );
        assert_eq!(
            rss.set_enabled_sort(0x1),
            Err(RssConfigError::UnsupportedSort(0x1))
        );
        assert_eq!(
            rss.indirection_table().len(),
            128,
            "failed calls change nothing"
        );
        assert_eq!(
            HashFunction::from_selected_func(1 << 1),
            Ok(HashFunction::Toeplitz)
        );
        assert_eq!(
            HashFunction::from_selected_func(1 << 2),
            Err(RssConfigError::UnsupportedFunction(4))
        );
        assert_eq!(
            HashFunction::from_selected_func(0b110),
            Err(RssConfigError::UnsupportedFunction(6))
        );
        assert_eq!(
            HashFunction::Toeplitz.selected_func(),
            SUPPORTED_HASH_FUNCTIONS
        );
        assert_eq!(
            RssState::default().set_selected_fields(0, 0x3c),
            Err(RssConfigError::HashInputNotConfigurable)
        );
        assert_eq!(supported_fields(flow_type::TCP4), 0x3f);
        assert_eq!(supported_fields(flow_type::IP4_FRAG), 0x0f);
        assert_eq!(supported_fields(flow_type::NOT_IP), 0x03);
        assert_eq!(supported_fields(10), 0);
    }

    #[test]
    fn reference_handles_degenerate_keys() {
        assert_eq!(toeplitz(&[], &[0xff; 8]), 0);
        assert_eq!(toeplitz(&MS_KEY, &[]), 0);
        // With a one-byte key every window is that byte repeated, rotated.
        assert_eq!(toeplitz(&[0x80], &[0x80]), 0x8080_8080);
        assert_eq!(toeplitz(&[0x80], &[0x40]), 0x0101_0101);
    }

    proptest! {
        #[test]
        fn fast_matches_reference(key in prop::array::uniform32(any::<u8>()), tail in prop::array::uniform8(any::<u8>()),
                                  input in prop::collection::vec(any::<u8>(), 0..100)) {
            let mut full = [0u8; 40];
            full[..32].copy_from_slice(&key);
            full[32..].copy_from_slice(&tail);
            prop_assert_eq!(ToeplitzKey::new(&full).hash(&input), toeplitz(&full, &input));
        }

        #[test]
        fn steer_never_panics(frame in prop::collection::vec(any::<u8>(), 0..200),
                              fields in prop::array::uniform16(0u16..0x40), sort in 0u16..8,
                              log2 in 0u16..9) {
            let mut rss = RssState::new(true);
            rss.set_selected_fields_all(&fields).expect("defined bits only");
            rss.set_enabled_sort(sort & SUPPORTED_SORT).expect("supported sort");
            let table: Vec<u16> = (0..1u16 << log2).collect();
            rss.set_indirection_table(log2, &table).expect("valid table");
            if let Steer::Hashed { hash, rx_sq } = rss.steer(&frame) {
                prop_assert_eq!(usize::from(rx_sq), hash as usize % table.len());
            }
        }

        #[test]
        fn steer_never_panics_on_damaged_ip(cut in 0usize..80, flip in 14usize..80, bits in any::<u8>(), v6 in any::<bool>()) {
            let mut frame = if v6 {
                tcp6_frame("2001:db8::1", 1, "2001:db8::2", 2)
            } else {
                tcp4_frame("10.0.0.1", 1, "10.0.0.2", 2)
            };
            if let Some(byte) = frame.get_mut(flip) {
                *byte ^= bits;
            }
            frame.truncate(cut);
            let mut rss = RssState::new(true);
            rss.set_selected_fields_all(&[ALL_FIELDS; RSS_FLOW_TYPES]).expect("defined bits");
            let _ = rss.steer(&frame);
        }

        /// The in-place IPv4 TCP/UDP path gives exactly the general path's hash and queue, or
        /// declines; it declines only for configurations other than the unsorted 4-tuple.
        #[test]
        fn in_place_ipv4_steering_matches_the_general_path(
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
            sp in any::<u16>(),
            dp in any::<u16>(),
            is_tcp in any::<bool>(),
            key in any::<[u8; RSS_KEY_LEN]>(),
            init_val in any::<u32>(),
            entries in proptest::collection::vec(0u16..8, 128),
            config in 0u8..4,
        ) {
            let (s, d) = (Ipv4Addr::from(src).to_string(), Ipv4Addr::from(dst).to_string());
            let frame = if is_tcp { tcp4_frame(&s, sp, &d, dp) } else { udp4_frame(&s, sp, &d, dp) };
            let mut rss = if config == 3 { RssState::fixed_key_device() } else { RssState::new(true) };
            if config != 3 {
                rss.set_key(&key);
                rss.set_init_val(init_val);
            }
            rss.set_indirection_table(7, &entries).expect("a 128-entry table");
            let flow = if is_tcp { flow_type::TCP4 } else { flow_type::UDP4 };
            let declines = match config {
                0 => false,
                1 => { rss.set_enabled_sort(SORT_L4).expect("sort"); true }
                2 => {
                    rss.set_selected_fields(flow, hash_field::L3_SA | hash_field::L3_DA).expect("fields");
                    true
                }
                // Symmetric (sorted) input: the general path's business.
                _ => true,
            };
            let fast = rss.steer_ipv4_l4(&frame, 14, 34, is_tcp);
            prop_assert_eq!(fast.is_none(), declines);
            if let Some(fast) = fast {
                prop_assert_eq!(fast, rss.steer(&frame));
            }
            let info = crate::csum::parse(&frame);
            prop_assert_eq!(rss.steer_parsed(&frame, &info), rss.steer(&frame));
        }
    }
}
