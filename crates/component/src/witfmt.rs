//! A WIT formatter (`wharf wit fmt`) that changes only whitespace: every token and every
//! comment, doc comments included, stays where it is in the token order, so the text
//! resolves to the same packages (checked: the formatter refuses to return text whose
//! tokens or comments differ from the input's). It is idempotent: formatting its output
//! again changes nothing.
//!
//! What it does, in the style of the WASI packages and `wasm-tools component wit`:
//! - indentation: two spaces per open `{`, and per open `(` or `<` that a line break
//!   leaves open; a line that starts with a closing bracket is dedented;
//! - spacing within a line: none before `,` `;` `:` `.` and closing brackets, none after
//!   opening brackets, `.`, `/`, `@`; one after `,`; one around `->` and `=`; one inside
//!   `{ … }` written on one line (none in a `use path.{a, b}` list); a `:` keeps a space
//!   after it when it had one (`name: type`) and none when it had none (`ns:pkg`);
//! - lines: the author's line breaks are kept; runs of blank lines become one, blank lines
//!   after `{` and before `}` and at the ends of the file go, trailing whitespace goes,
//!   the file ends with one newline; a comment after code stays on its line, one space
//!   after it; a block comment's inner lines are kept as written.

use crate::Result;
use crate::error::ComponentError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Identifiers, keywords, numbers, `%`-escaped names, `_`.
    Word,
    /// One punctuation token (`->` is one).
    Punct,
    /// `// …` to the end of the line (doc comments included).
    LineComment,
    /// `/* … */`, nested as WIT allows.
    BlockComment,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    text: String,
    /// Line breaks between the previous token and this one.
    breaks: usize,
    /// Whitespace directly before this token (on its line).
    space_before: bool,
}

fn lex(src: &str, what: &str) -> Result<Vec<Token>> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut breaks = 0;
    let mut space = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            breaks += 1;
            space = false;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        let start = i;
        let kind = if src[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            Kind::LineComment
        } else if src[i..].starts_with("/*") {
            let mut depth = 0usize;
            loop {
                if i >= bytes.len() {
                    return Err(ComponentError::WitSyntax {
                        what: what.to_owned(),
                        reason: format!(
                            "a block comment opened on line {} is never closed",
                            line_of(src, start)
                        ),
                    });
                }
                if src[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += src[i..].chars().next().map_or(1, char::len_utf8);
                }
            }
            Kind::BlockComment
        } else if c == b'"' {
            // a string (`@external-id("…")`): to the closing quote, on one line
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            if i >= bytes.len() || bytes[i] != b'"' {
                return Err(ComponentError::WitSyntax {
                    what: what.to_owned(),
                    reason: format!("a string on line {} is never closed", line_of(src, start)),
                });
            }
            i += 1;
            Kind::Word
        } else if src[i..].starts_with("->") {
            i += 2;
            Kind::Punct
        } else if c.is_ascii_alphanumeric() || c == b'%' || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'-' && !src[i..].starts_with("->")
                    || bytes[i] == b'%'
                    || bytes[i] == b'_'
                    || bytes[i] == b'+')
            {
                i += 1;
            }
            Kind::Word
        } else if b"{}()<>,;:=./@*?".contains(&c) {
            i += 1;
            Kind::Punct
        } else {
            return Err(ComponentError::WitSyntax {
                what: what.to_owned(),
                reason: format!(
                    "unexpected character `{}` on line {}",
                    src[i..].chars().next().unwrap_or('?'),
                    line_of(src, i)
                ),
            });
        };
        let mut text = src[start..i].to_owned();
        if kind == Kind::LineComment {
            text.truncate(text.trim_end().len());
        }
        tokens.push(Token {
            kind,
            text,
            breaks,
            space_before: space,
        });
        breaks = 0;
        space = false;
    }
    Ok(tokens)
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at].matches('\n').count() + 1
}

/// Which bracket is open, and whether it opened a one-line `{ … }` kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    /// `{` of an item body.
    Brace,
    /// `{` of a `use path.{…}` list.
    UseList,
    /// `(` or `<`.
    Paren,
}

/// Format the WIT text `src`; `what` names it in errors.
///
/// # Errors
/// Text that cannot be tokenized (an unclosed block comment, a character WIT has no use
/// for), or brackets that do not balance.
pub fn format_wit(src: &str, what: &str) -> Result<String> {
    let tokens = lex(src, what)?;
    let mut out = String::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut prev: Option<&Token> = None;
    for t in &tokens {
        let closing = matches!(t.text.as_str(), "}" | ")" | ">") && t.kind == Kind::Punct;
        let starts_line = prev.is_none() || t.breaks > 0;
        if starts_line {
            if prev.is_some() {
                let after_open = prev.is_some_and(|p| p.kind == Kind::Punct && p.text == "{");
                let blank = t.breaks > 1 && !after_open && !closing;
                out.push('\n');
                if blank {
                    out.push('\n');
                }
            }
            let mut depth = stack.len();
            if closing {
                depth = depth.saturating_sub(1);
            }
            for _ in 0..depth {
                out.push_str("  ");
            }
        } else if let Some(p) = prev
            && space_between(p, t, &stack)
        {
            out.push(' ');
        }
        out.push_str(&t.text);
        if t.kind == Kind::Punct {
            match t.text.as_str() {
                "{" => stack.push(
                    if prev.is_some_and(|p| p.kind == Kind::Punct && p.text == ".") {
                        Open::UseList
                    } else {
                        Open::Brace
                    },
                ),
                "(" | "<" => stack.push(Open::Paren),
                "}" | ")" | ">" => {
                    let Some(_) = stack.pop() else {
                        return Err(ComponentError::WitSyntax {
                            what: what.to_owned(),
                            reason: format!("`{}` closes nothing", t.text),
                        });
                    };
                }
                _ => {}
            }
        }
        prev = Some(t);
    }
    if !stack.is_empty() {
        return Err(ComponentError::WitSyntax {
            what: what.to_owned(),
            reason: format!("{} bracket(s) are never closed", stack.len()),
        });
    }
    if !out.is_empty() {
        out.push('\n');
    }
    // the formatter may change whitespace only
    let again = lex(&out, what)?;
    let same = again.len() == tokens.len()
        && again
            .iter()
            .zip(&tokens)
            .all(|(a, b)| a.kind == b.kind && a.text == b.text);
    if !same {
        return Err(ComponentError::WitSyntax {
            what: what.to_owned(),
            reason: "formatting would change more than whitespace (a bug: please report it)".into(),
        });
    }
    Ok(out)
}

/// Whether one space separates `p` and `t` on one line.
fn space_between(p: &Token, t: &Token, stack: &[Open]) -> bool {
    if matches!(t.kind, Kind::LineComment | Kind::BlockComment) {
        return true;
    }
    if matches!(p.kind, Kind::BlockComment) {
        return true;
    }
    let (pt, tt) = (p.text.as_str(), t.text.as_str());
    let p_punct = p.kind == Kind::Punct;
    let t_punct = t.kind == Kind::Punct;
    if t_punct {
        match tt {
            "," | ";" | "." | ")" | ">" | "?" => return false,
            ":" => return false,
            "}" => return stack.last() != Some(&Open::UseList),
            "(" | "<" => return p_punct && matches!(pt, "->" | "=" | ","),
            "/" => return false,
            // glued to a package name (`ns:pkg@1.0.0`); an attribute after a bracket or
            // separator on the same line is spaced
            "@" => return p_punct && matches!(pt, "{" | "," | ";" | ")" | "}"),
            "->" | "=" => return true,
            "{" => return !(p_punct && pt == "."),
            _ => {}
        }
    }
    if p_punct {
        match pt {
            "(" | "<" | "." | "/" | "@" => return false,
            "{" => return stack.last() != Some(&Open::UseList),
            ":" => return t.space_before,
            "," | "->" | "=" | ";" | "}" | ")" | ">" => return true,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        format_wit(s, "test.wit").unwrap()
    }

    #[test]
    fn spacing_indentation_and_blank_lines() {
        let src = "package  a:b@0.1.0 ;\n\n\n\ninterface i{\n\n    /// Doc.\n  f : func( x:u32 ,y : list< u8 > )->result<_,string> ; // trailing\nuse  wasi:io/poll@0.2.0 .{ pollable , x };\n\n}\n\n\n";
        let want = "package a:b@0.1.0;\n\ninterface i {\n  /// Doc.\n  f: func(x:u32, y: list<u8>) -> result<_, string>; // trailing\n  use wasi:io/poll@0.2.0.{pollable, x};\n}\n";
        assert_eq!(fmt(src), want);
        assert_eq!(fmt(want), want, "idempotent");
    }

    #[test]
    fn one_line_bodies_multi_line_params_and_comments() {
        let src = "package a:b;\nworld w {\nimport x: func(\na: u32,\nb: u32\n) -> u32;\n/* block\n   kept */\nexport y: interface { f: func(); }\n}\n";
        let want = "package a:b;\nworld w {\n  import x: func(\n    a: u32,\n    b: u32\n  ) -> u32;\n  /* block\n   kept */\n  export y: interface { f: func(); }\n}\n";
        assert_eq!(fmt(src), want);
        assert_eq!(fmt(want), want);
    }

    #[test]
    fn refuses_what_is_not_wit_text() {
        assert!(format_wit("interface i { /* open", "x").is_err());
        assert!(format_wit("interface i { }}", "x").is_err());
        assert!(format_wit("interface i { $ }", "x").is_err());
    }
}
