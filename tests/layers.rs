//! The layers of `src/` point one way. `ARCHITECTURE.md` lists, under "What may import
//! what", each top-level module with the modules it may use; this test reads every source
//! file, collects the `crate::<module>` paths it names (tests inside a file excepted) and
//! fails on any use the table does not allow, on a module the table does not list, and on a
//! cycle in the table itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The table of `ARCHITECTURE.md`: module → modules it may import.
fn allowed() -> Graph {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = text
        .split("## What may import what")
        .nth(1)
        .expect("a section 'What may import what'");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut g = Graph::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let module = cells[1].trim_matches('`').to_string();
        let deps = cells[2]
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_string())
            .filter(|d| !d.is_empty() && d != "—")
            .collect();
        assert!(
            g.insert(module.clone(), deps).is_none(),
            "{module} listed twice"
        );
    }
    assert!(g.len() >= 10, "the table looks empty");
    g
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// What the code imports: top-level module → the other top-level modules it names.
fn actual() -> Graph {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g = Graph::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a path");
        let top = first.as_os_str().to_string_lossy();
        let top = top.strip_suffix(".rs").unwrap_or(&top).to_string();
        if matches!(top.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        // Unit tests may reach anywhere; they sit at the end of a file.
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(&text);
        let deps = g.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if !name.is_empty() && name != top {
                deps.insert(name);
            }
        }
    }
    g
}

fn cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        n: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

#[test]
fn the_table_of_layers_has_no_cycle() {
    let g = allowed();
    assert_eq!(cycle(&g), None, "ARCHITECTURE.md allows an import cycle");
}

#[test]
fn every_import_is_allowed_by_the_table() {
    let allowed = allowed();
    let mut wrong = Vec::new();
    for (module, deps) in actual() {
        let Some(ok) = allowed.get(&module) else {
            wrong.push(format!("{module}: not in ARCHITECTURE.md's table"));
            continue;
        };
        for d in deps.difference(ok) {
            wrong.push(format!("{module} imports {d}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports the layers do not allow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_cycle_is_found() {
    let g: Graph = [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(cycle(&g).map(|c| c.len()), Some(4));
    let mut dag = g.clone();
    dag.insert("c".into(), BTreeSet::new());
    assert_eq!(cycle(&dag), None);
}
