//! Writing data to stdout, and keeping what others wrote from steering the terminal.

use std::io::Write as _;

/// `text` with terminal control characters made visible: every C0 control except
/// newline and tab, DEL and the C1 controls become `\u{..}` escapes, so what a registry,
/// an annotation or wasm metadata says cannot move the cursor, set the window title or
/// colour the terminal.
pub fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    let bad =
        |c: char| (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c);
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if bad(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Print `warning: <text>` on stderr, control characters escaped: the [`wharf_core::Warn`]
/// of every workflow the CLI runs.
pub fn warn(text: &str) {
    eprintln!("warning: {}", sanitize(text));
}

/// Write `text` to stdout (control characters escaped, see [`sanitize`]) and flush. A
/// closed pipe ends the process with success (the reader has what it wanted, as with
/// `head`); another write error ends it with 1.
pub fn write(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(sanitize(text).as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: failed to write to stdout: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(sanitize("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            sanitize("\u{1b}]0;pwned\u{7}red\u{1b}[31m\r\u{9b}"),
            "\\u{1b}]0;pwned\\u{7}red\\u{1b}[31m\\u{d}\\u{9b}"
        );
    }
}
