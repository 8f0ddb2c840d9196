//! The `shaobing` command line, built inside the test package so that the end-to-end tests can
//! run it as a process (cargo hands a package's own executables to its tests). Same code as
//! the shipped binary: both are `shaobing::cli::main`.

fn main() -> std::process::ExitCode {
    shaobing::cli::main()
}
