//! The `kyso-gateway` program, built in this crate so that its tests can run it as separate
//! processes (see `kyso_tests::gateway_process`).

fn main() -> anyhow::Result<()> {
    kyso_gateway::cli::main()
}
