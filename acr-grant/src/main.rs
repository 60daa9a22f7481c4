//! `acr-grant`: step 3, the pull role in tenant B, and proof that the pull works.

fn main() -> std::process::ExitCode {
    common::driver::main::<acr_grant::Cli>()
}
