//! `wharf man`: manual pages from the clap definitions (clap_mangen), with each command's
//! after-help text (notes, then `Examples:`) rendered as a NOTES section and an EXAMPLES
//! section whose command lines are kept as written (roff no-fill), not reflowed.

use std::io::Write as _;
use std::path::Path;

/// Escape `line` for roff text: backslashes, hyphens (so they stay ASCII hyphen-minus in
/// a copy and paste), and a leading `.` or `'` that roff would read as a request.
fn escape(line: &str) -> String {
    let text = line.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// The NOTES and EXAMPLES sections for `after_help`.
fn after_help_sections(after_help: &str) -> String {
    let (notes, examples) = match after_help.split_once("Examples:") {
        Some((n, e)) => (n, Some(e)),
        None => (after_help, None),
    };
    let mut out = String::new();
    let notes = notes.trim();
    if !notes.is_empty() {
        out.push_str(".SH NOTES\n");
        for paragraph in notes.split("\n\n") {
            out.push_str(".PP\n");
            for line in paragraph.lines() {
                out.push_str(&escape(line.trim()));
                out.push('\n');
            }
        }
    }
    if let Some(examples) = examples {
        out.push_str(".SH EXAMPLES\n.nf\n");
        for line in examples.trim_matches('\n').lines() {
            out.push_str(&escape(line.strip_prefix("  ").unwrap_or(line)));
            out.push('\n');
        }
        out.push_str(".fi\n");
    }
    out
}

/// The page of `cmd` (already built), its EXTRA section replaced by NOTES and EXAMPLES.
pub fn render(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    let Some(after) = cmd.get_after_help().map(|a| a.to_string()) else {
        return Ok(page);
    };
    let text = String::from_utf8_lossy(&page).into_owned();
    let Some(start) = text.find(".SH EXTRA\n") else {
        return Ok(page);
    };
    let rest = &text[start + 1..];
    let end = rest
        .find("\n.SH ")
        .map_or(text.len(), |i| start + 1 + i + 1);
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push_str(&after_help_sections(&after));
    out.push_str(&text[end..]);
    Ok(out.into_bytes())
}

/// Write `wharf.1` and `wharf-<command>[-<subcommand>].1` for every visible command into
/// `dir`, as `clap_mangen::generate_to` names them.
pub fn generate_to(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    fn each(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            each(sub, dir)?;
        }
        let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
        let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
        file.write_all(&render(cmd)?)?;
        file.flush()
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    each(&cmd, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_kept_as_written_and_escaped() {
        let s = after_help_sections(
            "Copies things.\nMore.\n\nSecond -x paragraph.\n\nExamples:\n  wharf copy a b --json\n  .hidden \\ path",
        );
        assert!(
            s.starts_with(".SH NOTES\n.PP\nCopies things.\nMore.\n.PP\nSecond \\-x paragraph.\n"),
            "{s}"
        );
        assert!(
            s.contains(".SH EXAMPLES\n.nf\nwharf copy a b \\-\\-json\n\\&.hidden \\e path\n.fi\n"),
            "{s}"
        );
        assert_eq!(
            after_help_sections("Only notes."),
            ".SH NOTES\n.PP\nOnly notes.\n"
        );
    }
}
