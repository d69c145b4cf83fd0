//! `ena-sim`: software ENA devices as a process (being written).

fn main() {
    eprintln!("ena-sim: not available yet");
    std::process::exit(2);
}
