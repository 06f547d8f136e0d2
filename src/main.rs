//! The `sigbench` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    sigbench::cli::main()
}
