//! entra-app-create: see the library crate.

fn main() -> std::process::ExitCode {
    common::driver::main::<entra_app_create::Cli>()
}
