//! `enactl` (being written).

fn main() {
    eprintln!("enactl: not available yet");
    std::process::exit(2);
}
