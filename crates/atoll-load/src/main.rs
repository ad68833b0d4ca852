//! The `atoll-load` command (see the library's docs and `--help`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(atoll_load::cli(&args));
}
