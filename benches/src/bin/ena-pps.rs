//! `ena-pps` (being written).

fn main() {
    eprintln!("ena-pps: not available yet");
    std::process::exit(2);
}
