//! Builds the lists of content files into the binary: the articles under
//! `content/articles/` and the intake questionnaires under
//! `content/questionnaires/`, so adding one is adding one file (no Rust to
//! edit) and the binary runs from any directory.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    embed("content/articles", "md", "articles.rs");
    embed("content/questionnaires", "toml", "questionnaires.rs");
}

/// Writes `OUT_DIR/out` as a Rust slice of `(file name, contents)` of every
/// `*.extension` file in `folder`, sorted by name.
fn embed(folder: &str, extension: &str, out: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    // A directory's mtime changes when a file is added or removed.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == extension))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut list = String::from("&[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            list,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    list.push(']');
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join(out), list).expect("write the content list");
}
