//! The `domain-scheduler` binary; everything it does lives in the library.

fn main() -> std::process::ExitCode {
    domain_scheduler::main_entry()
}
