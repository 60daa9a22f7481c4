//! `aks-sp-update`: step 4, switch an AKS cluster to the multitenant app's service principal.

fn main() -> std::process::ExitCode {
    common::driver::main::<aks_sp_update::Cli>()
}
