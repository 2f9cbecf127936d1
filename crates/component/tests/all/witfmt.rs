//! The WIT formatter over real WIT: the project's `wit/` (with the WASI 0.2.12 packages in
//! `wit/deps`) and the WASI 0.2 and 0.3 packages wasmtime-wasi and wasmtime-wasi-http ship.
//! Every file formats, formatting twice changes nothing, and each formatted directory
//! resolves to the same packages as the original (every package printed alike).

use std::path::{Path, PathBuf};

use wharf_component::{format_wit, load_wit};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Format every `.wit` file under `dir` in place; returns how many changed.
fn format_tree(dir: &Path) -> (usize, usize) {
    let (mut files, mut changed) = (0, 0);
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            let (f, c) = format_tree(&p);
            files += f;
            changed += c;
        } else if p.extension().is_some_and(|e| e == "wit") {
            let text = std::fs::read_to_string(&p).unwrap();
            let once = format_wit(&text, &p.display().to_string()).unwrap();
            let twice = format_wit(&once, "formatted").unwrap();
            assert_eq!(once, twice, "formatting {} twice changed it", p.display());
            files += 1;
            if once != text {
                changed += 1;
            }
            std::fs::write(&p, once).unwrap();
        }
    }
    (files, changed)
}

/// Every package of the resolved directory, printed.
fn printed(dir: &Path) -> Vec<String> {
    let loaded = load_wit(dir).unwrap();
    let mut out: Vec<String> = loaded
        .resolve
        .packages
        .iter()
        .map(|(id, _)| {
            let mut printer = wit_component::WitPrinter::default();
            printer.print(&loaded.resolve, id, &[]).unwrap();
            printer.output.to_string()
        })
        .collect();
    out.sort();
    out
}

fn package_dirs() -> Vec<PathBuf> {
    let wasi = PathBuf::from(crate::crate_manifest("wasmtime-wasi"));
    let wasi = wasi.parent().unwrap();
    let http = PathBuf::from(crate::crate_manifest("wasmtime-wasi-http"));
    let http = http.parent().unwrap();
    vec![
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit"),
        wasi.join("src/p2/wit"),
        wasi.join("src/p3/wit"),
        http.join("wit"),
        http.join("src/p3/wit"),
    ]
}

#[test]
fn formatting_real_wit_changes_only_layout_and_is_idempotent() {
    let work = tempfile::tempdir().unwrap();
    let mut total = 0;
    for (n, dir) in package_dirs().iter().enumerate() {
        assert!(dir.is_dir(), "{} is missing", dir.display());
        let copy = work.path().join(n.to_string());
        copy_tree(dir, &copy);
        let before = printed(&copy);
        let (files, _) = format_tree(&copy);
        total += files;
        assert_eq!(
            printed(&copy),
            before,
            "{} resolves differently once formatted",
            dir.display()
        );
        // the formatter's output of the project's own files is what is committed
        if n == 0 {
            assert_eq!(
                std::fs::read_to_string(copy.join("greeter.wit")).unwrap(),
                std::fs::read_to_string(dir.join("greeter.wit")).unwrap(),
                "wit/greeter.wit is not formatted: run `wharf wit fmt wit/`"
            );
        }
    }
    assert!(total >= 20, "only {total} WIT files formatted");
}

#[test]
fn comments_and_doc_comments_stay() {
    let src = "// header\npackage a:b@1.0.0;\n\n/// Docs of i.\ninterface i {\n    /* inner */ f: func(); // after\n  /** block doc */\n  g: func();\n}\n";
    let out = format_wit(src, "c.wit").unwrap();
    for comment in [
        "// header",
        "/// Docs of i.",
        "/* inner */",
        "// after",
        "/** block doc */",
    ] {
        assert!(out.contains(comment), "{comment} kept in:\n{out}");
    }
    assert_eq!(
        out,
        "// header\npackage a:b@1.0.0;\n\n/// Docs of i.\ninterface i {\n  /* inner */ f: func(); // after\n  /** block doc */\n  g: func();\n}\n"
    );
}
