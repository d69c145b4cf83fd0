//! Fuzzes the l4lb example's frame classifier (`packet::parse`) with arbitrary frames: it must
//! never panic, and what it accepts must be consistent with the frame it came from.
#![no_main]

#[allow(unused_imports)]
#[path = "../../dpdk-shim/examples/l4lb/packet.rs"]
mod packet;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let Ok(flow) = packet::parse(frame) else {
        return;
    };
    // Only TCP and UDP are load-balanced.
    assert!(flow.proto == 6 || flow.proto == 17, "{flow:?}");
    // The IP packet lies inside the frame (after the 14-byte Ethernet header).
    assert!(
        usize::from(flow.ip_len) + 14 <= frame.len(),
        "ip_len {} beyond a {}-byte frame",
        flow.ip_len,
        frame.len()
    );
    // The addresses' family is the one the parser says.
    assert_eq!(flow.ipv6, flow.src.is_ipv6(), "{flow:?}");
    assert_eq!(flow.ipv6, flow.dst.is_ipv6(), "{flow:?}");
    // Classification and hashing are functions of the frame.
    let again = packet::parse(frame).expect("parse is deterministic");
    assert_eq!(flow.hash(), again.hash());
});
