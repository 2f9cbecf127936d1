//! Writing data to stdout.

use std::io::Write as _;

/// Write `text` to stdout and flush. A closed pipe ends the process with success (the
/// reader has what it wanted, as with `head`); another write error ends it with 1.
pub fn write(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: failed to write to stdout: {e}");
        std::process::exit(1);
    }
}
