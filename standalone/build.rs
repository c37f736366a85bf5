//! Embeds the page: one `(URL path, body, content type)` entry per line of
//! `web/files.txt`, the page's one file list (see its header), written to
//! `$OUT_DIR/page_files.rs` for `src/web.rs`.

use std::fmt::Write as _;
use std::path::Path;

fn content_type(file: &str) -> &'static str {
    match Path::new(file).extension().and_then(|e| e.to_str()) {
        Some("html") => "HTML",
        Some("js") => "JS",
        Some("css") => "CSS",
        _ => panic!("web/files.txt: no content type for {file:?} (html, js, css)"),
    }
}

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let list = web.join("files.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    let text = std::fs::read_to_string(&list).expect("read web/files.txt");
    let mut out = String::from("&[\n");
    for file in text.lines().map(str::trim) {
        if file.is_empty() || file.starts_with('#') {
            continue;
        }
        let path = web.join(file);
        assert!(
            path.is_file(),
            "web/files.txt names {file:?}, which is not a file in web/"
        );
        println!("cargo::rerun-if-changed={}", path.display());
        let ty = content_type(file);
        writeln!(
            out,
            "    ({:?}, include_str!({:?}), {ty}),",
            format!("/{file}"),
            path.display()
        )
        .unwrap();
        if file == "index.html" {
            writeln!(
                out,
                "    (\"/\", include_str!({:?}), {ty}),",
                path.display()
            )
            .unwrap();
        }
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("page_files.rs");
    std::fs::write(dest, out).expect("write page_files.rs");
}
