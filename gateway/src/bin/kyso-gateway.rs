//! The `kyso-gateway` binary: the command line of [`kyso_gateway::cli`].

fn main() -> anyhow::Result<()> {
    kyso_gateway::cli::main()
}
