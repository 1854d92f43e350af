//! The `kyso-gateway` binary: the command line of [`kyso_gateway::cli`], on mimalloc (under
//! load, glibc's malloc was the largest single cost in the gateway's profile).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    kyso_gateway::cli::main()
}
