//! Runs the `RUN:` lines of the files in `cli/tests/cli` and compares exit code, stdout
//! and stderr with the blessed `.out` files (`BLESS=1` rewrites them). `%` is the file,
//! `%t` a fresh temporary directory (shown as `<TMP>` in the expected output). See its README.

use std::path::{Path, PathBuf};

use crate::support::Wharf;

fn cases() -> Vec<(PathBuf, Vec<String>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wat" || e == "wit"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let runs = text
                .lines()
                .filter_map(|l| l.trim_start_matches([';', '/', ' ']).strip_prefix("RUN:"))
                .map(|r| r.trim().to_owned())
                .collect();
            (f, runs)
        })
        .collect()
}

fn render(out: &std::process::Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status
            .code()
            .map_or("signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn cli_files() {
    let w = Wharf::new();
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, runs) in cases() {
        assert!(!runs.is_empty(), "{} has no RUN: line", file.display());
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, run) in runs.iter().enumerate() {
            let tmp = tempfile::tempdir().unwrap();
            let tmp_path = tmp.path().to_str().unwrap().to_owned();
            let args: Vec<String> = run
                .split_whitespace()
                .map(|a| {
                    if a == "%" {
                        name.clone()
                    } else {
                        a.replace("%t", &tmp_path)
                    }
                })
                .collect();
            let out = w
                .cmd()
                .args(&args)
                .current_dir(file.parent().unwrap())
                .output()
                .unwrap();
            let actual = render(&out).replace(&tmp_path, "<TMP>");
            assert!(
                !actual.contains("panicked"),
                "{name}: `wharf {run}` panicked:\n{actual}"
            );
            let expected_path = if runs.len() == 1 {
                file.with_extension(format!(
                    "{}.out",
                    file.extension().unwrap().to_string_lossy()
                ))
            } else {
                file.with_extension(format!(
                    "{}.{i}.out",
                    file.extension().unwrap().to_string_lossy()
                ))
            };
            count += 1;
            if bless {
                std::fs::write(&expected_path, &actual).unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            if expected != actual {
                failures.push(format!(
                    "{name}: `wharf {run}`\n--- expected ({})\n{expected}\n--- actual\n{actual}",
                    expected_path.display()
                ));
            }
        }
    }
    assert!(count >= 10, "only {count} RUN lines found");
    assert!(
        failures.is_empty(),
        "{} of {count} CLI file tests differ (BLESS=1 to accept):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
