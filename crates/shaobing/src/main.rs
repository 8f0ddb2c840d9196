//! The `shaobing` binary: everything is in the library's command line.

fn main() -> std::process::ExitCode {
    shaobing::cli::main()
}
