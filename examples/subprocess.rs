//! The asyncio documentation's subprocess example: run `date` and read the line it prints
//! (asyncio's `create_subprocess_exec(..., stdout=PIPE)` then `proc.stdout.readline()`).
//!
//! ```text
//! cargo run --example subprocess
//! ```

use ringstream::process::{Command, Stdio};

async fn get_date() -> std::io::Result<String> {
    let mut child = Command::new("date").stdout(Stdio::piped()).spawn()?;
    let line = match child.stdout.as_mut() {
        Some(stdout) => stdout.read_line().await?,
        None => bytes::Bytes::new(),
    };
    child.wait().await?;
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

fn main() -> std::io::Result<()> {
    let date = ringstream::run(get_date())??;
    println!("Current date: {date}");
    Ok(())
}
