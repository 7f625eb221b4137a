//! The `skiff` binary: parses the command line, builds the tokio runtime and runs
//! the chosen role. Everything else lives in library crates.
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    Ok(())
}
