//! The command line both HTTP hello examples take: `[--addr HOST:PORT] [--cores N]`.

/// Where to listen unless `--addr` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The parsed command line.
pub struct Args {
    pub addr: String,
    pub cores: Option<usize>,
}

/// Parses the process's arguments; `Ok(None)` after printing `usage` for `--help`.
pub fn parse_args(usage: &str) -> Result<Option<Args>, String> {
    let mut args = Args {
        addr: DEFAULT_ADDR.to_string(),
        cores: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value\n{usage}"));
        match arg.as_str() {
            "--addr" => args.addr = value("--addr")?,
            "--cores" => {
                let n = value("--cores")?;
                args.cores = Some(n.parse().ok().filter(|&n| n > 0).ok_or(format!(
                    "--cores {n:?}: expected a number of cores, 1 or more"
                ))?);
            }
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}\n{usage}")),
        }
    }
    Ok(Some(args))
}
