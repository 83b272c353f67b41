//! Reading the HTML report's marked numbers (`data-json`: a JSON Pointer into the summary of
//! `analyze --json`, `data-value`: the exact value) and comparing them with the JSON.

#![allow(dead_code)]

use serde_json::Value;

/// HTML text or attribute value with its character references resolved.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of an attribute in an element's opening tag.
pub fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let rest = &tag[i..];
    Some(&rest[..rest.find('"')?])
}

/// Every element marked with `data-json`: (path, exact value, visible text).
pub fn marked(html: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = html[at..].find("data-json=\"") {
        let pos = at + i;
        let start = html[..pos].rfind('<').expect("inside a tag");
        let end = pos + html[pos..].find('>').expect("tag ends");
        let tag = &html[start..end];
        let text_end = end + 1 + html[end + 1..].find('<').unwrap_or(0);
        let text = html[end + 1..text_end].to_string();
        out.push((
            unescape(attr(tag, "data-json").unwrap()),
            unescape(attr(tag, "data-value").expect("data-value beside data-json")),
            unescape(&text),
        ));
        at = end;
    }
    out
}

/// The first number in a text (`1,234 episodes` → 1234).
pub fn leading_number(text: &str) -> Option<f64> {
    let s: String = text
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .filter(|c| *c != ',')
        .collect();
    s.parse().ok()
}

/// Every element marked with `data-json-count` (a JSON array whose length it shows):
/// (pointer, visible text).
pub fn marked_counts(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = html[at..].find("data-json-count=\"") {
        let pos = at + i;
        let start = html[..pos].rfind('<').expect("inside a tag");
        let end = pos + html[pos..].find('>').expect("tag ends");
        let tag = &html[start..end];
        let text_end = end + 1 + html[end + 1..].find('<').unwrap_or(0);
        out.push((
            unescape(attr(tag, "data-json-count").unwrap()),
            unescape(&html[end + 1..text_end]),
        ));
        at = end;
    }
    out
}

/// Compares every marked number of `html` with `json`; returns how many were compared.
pub fn check_marks(html: &str, json: &Value, what: &str) -> usize {
    let counts = marked_counts(html);
    for (path, text) in &counts {
        let n = json
            .pointer(path)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{what}: {path} is not a JSON array"))
            .len();
        assert_eq!(
            leading_number(text),
            Some(n as f64),
            "{what}: {path} shows {text:?}"
        );
    }
    let marks = marked(html);
    for (path, value, text) in &marks {
        let j = json
            .pointer(path)
            .unwrap_or_else(|| panic!("{what}: {path} is not in the JSON"));
        let jv = j
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: {path} is {j}, not a number"));
        let hv: f64 = value.parse().expect("a numeric data-value");
        assert!(
            (jv - hv).abs() <= 1e-9 * jv.abs().max(1.0),
            "{what}: {path} is {hv} in the HTML, {jv} in the JSON"
        );
        // Counts are shown as they are; durations are rounded for reading.
        if j.is_u64() {
            assert_eq!(
                leading_number(text),
                Some(jv),
                "{what}: {path} shows {text:?}"
            );
        }
    }
    marks.len() + counts.len()
}
