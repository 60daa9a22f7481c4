fn main() -> std::process::ExitCode {
    common::driver::main::<consent_link::Cli>()
}
