//! The words of the human outputs, in English and Japanese (`--lang en|ja`). One Fluent
//! catalogue per language, `locales/en.ftl` and `locales/ja.ftl`, built into the binary:
//! the terminal report, the HTML report and the dashboard take every label, heading,
//! cause, remedy, prevention and finding text from it, and nothing else holds those words
//! (the model's English meanings and remedies are read from the English catalogue too).
//! Machine outputs (JSON keys and values, CSV and Parquet columns, cause and finding codes,
//! metric names) never go through here, so they do not change with the language.
//!
//! The language comes from `--lang`, else from the first of `LC_ALL`, `LC_MESSAGES`,
//! `LANG` that is set and not empty (`ja_JP.UTF-8` → Japanese; anything else, `C` and
//! `POSIX` included, → English). A message missing from a catalogue shows as `⟦id⟧`, which
//! the tests look for. The anomalies' explanations are the one exception to "both
//! catalogues hold the same messages": their English is `src/anomaly.rs`'s own (the bottom
//! layer, shared with the README's table), so only `ja.ftl` has `anomaly-<layer>-<what>`
//! messages, and [`anomaly_explanation`] picks. Alignment helpers measure display width: a CJK character takes two
//! terminal cells.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::collections::HashMap;
use std::sync::OnceLock;
use unicode_width::UnicodeWidthStr;

const EN: &str = include_str!("../locales/en.ftl");
const JA: &str = include_str!("../locales/ja.ftl");

/// A language of the human outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ja];

    /// The language's code (`en`, `ja`), as `--lang` takes it and HTML's `lang` names it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// `en`, `ja`, or a locale name such as `ja_JP.UTF-8`, `en_US`, `C`.
    pub fn parse(s: &str) -> Option<Lang> {
        let lower = s.trim().to_ascii_lowercase();
        let base = lower.split(['_', '-', '.', '@']).next().unwrap_or_default();
        match base {
            "ja" | "jp" => Some(Lang::Ja),
            "en" | "c" | "posix" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of a locale environment: the first of `LC_ALL`, `LC_MESSAGES`, `LANG`
    /// that is set and not empty decides, English when it names no language we have.
    pub fn from_locale_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| get(k))
            .find(|v| !v.trim().is_empty())
            .and_then(|v| Lang::parse(&v))
            .unwrap_or_default()
    }

    /// The language of this process's locale environment.
    pub fn from_env() -> Lang {
        Lang::from_locale_vars(|k| std::env::var(k).ok())
    }

    /// `--lang` when given, else the environment's.
    pub fn resolve(flag: Option<Lang>) -> Lang {
        flag.unwrap_or_else(Lang::from_env)
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s {
            "en" => Ok(Lang::En),
            "ja" => Ok(Lang::Ja),
            _ => Err(format!("unknown language {s:?}: en or ja")),
        }
    }
}

struct Catalogue {
    bundle: FluentBundle<FluentResource>,
    /// Every message that needs no argument, formatted once (so [`t`] can lend it).
    plain: HashMap<String, String>,
    ids: Vec<String>,
}

fn build(lang: Lang) -> Catalogue {
    let src = match lang {
        Lang::En => EN,
        Lang::Ja => JA,
    };
    // A catalogue that does not parse is a build mistake; the tests parse both strictly.
    let res = FluentResource::try_new(src.to_string()).unwrap_or_else(|(res, _)| res);
    let ids: Vec<String> = res
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect();
    let langid: unic_langid::LanguageIdentifier = lang.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![langid]);
    // Terminal text: no Unicode isolation marks around arguments.
    bundle.set_use_isolating(false);
    let _ = bundle.add_resource(res);
    let mut plain = HashMap::new();
    for id in &ids {
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, None, &mut errors);
            if errors.is_empty() {
                plain.insert(id.clone(), text.into_owned());
            }
        }
    }
    Catalogue { bundle, plain, ids }
}

fn catalogue(lang: Lang) -> &'static Catalogue {
    static EN_CAT: OnceLock<Catalogue> = OnceLock::new();
    static JA_CAT: OnceLock<Catalogue> = OnceLock::new();
    match lang {
        Lang::En => EN_CAT.get_or_init(|| build(Lang::En)),
        Lang::Ja => JA_CAT.get_or_init(|| build(Lang::Ja)),
    }
}

/// The message ids of a language's catalogue, in file order (for the tests).
pub fn message_ids(lang: Lang) -> Vec<String> {
    catalogue(lang).ids.clone()
}

/// The catalogue's source text (for the tests, which parse it strictly).
pub fn source(lang: Lang) -> &'static str {
    match lang {
        Lang::En => EN,
        Lang::Ja => JA,
    }
}

/// Whether the catalogue has a message.
pub fn has(lang: Lang, id: &str) -> bool {
    catalogue(lang).bundle.get_message(id).is_some()
}

/// A message without arguments; `⟦id⟧` when the catalogue lacks it.
pub fn t(lang: Lang, id: &str) -> &'static str {
    match catalogue(lang).plain.get(id) {
        Some(s) => s.as_str(),
        None => missing(id),
    }
}

fn missing(id: &str) -> &'static str {
    static MISSING: OnceLock<std::sync::Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let m = MISSING.get_or_init(Default::default);
    let mut m = match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    m.entry(id.to_string())
        .or_insert_with(|| Box::leak(format!("⟦{id}⟧").into_boxed_str()))
}

/// The arguments of a message.
#[derive(Default)]
pub struct Args {
    args: FluentArgs<'static>,
}

impl Args {
    pub fn new() -> Args {
        Args::default()
    }

    /// A text argument.
    pub fn s(mut self, key: &'static str, v: impl Into<String>) -> Args {
        self.args.set(key, FluentValue::from(v.into()));
        self
    }

    /// A count: `$key` formatted with thousands separators, `$key_plural` for plural choice.
    pub fn n(mut self, key: &'static str, v: u64) -> Args {
        self.args.set(key, FluentValue::from(num(v)));
        self.args
            .set(format!("{key}_plural"), FluentValue::from(v as f64));
        self
    }
}

/// A message with arguments; `⟦id⟧` when the catalogue lacks it.
pub fn tf(lang: Lang, id: &str, args: Args) -> String {
    let cat = catalogue(lang);
    let Some(pattern) = cat.bundle.get_message(id).and_then(|m| m.value()) else {
        return missing(id).to_string();
    };
    let mut errors = Vec::new();
    let text = cat
        .bundle
        .format_pattern(pattern, Some(&args.args), &mut errors);
    text.into_owned()
}

/// What an anomaly means, in a language (English: [`crate::anomaly::Anomaly::explanation`]).
pub fn anomaly_explanation(lang: Lang, a: crate::anomaly::Anomaly) -> &'static str {
    match lang {
        Lang::En => a.explanation(),
        Lang::Ja => match catalogue(Lang::Ja).plain.get(&anomaly_id(a)) {
            Some(s) => s.as_str(),
            None => a.explanation(),
        },
    }
}

/// `anomaly-http-bad_chunk` for `http.bad_chunk`.
fn anomaly_id(a: crate::anomaly::Anomaly) -> String {
    format!("anomaly-{}", a.name().replacen('.', "-", 1))
}

/// A counted noun: `n-episodes` and 3 → `3 episodes` / `3 件のエピソード`.
pub fn count(lang: Lang, id: &str, n: u64) -> String {
    tf(lang, id, Args::new().n("n", n))
}

/// An integer with thousands separators (`1,234,567`), as both languages write it.
pub fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Terminal cells a text takes (CJK characters two each).
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` padded with spaces on the right to `w` cells.
pub fn pad_right(s: &str, w: usize) -> String {
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    out
}

/// `s` padded with spaces on the left to `w` cells.
pub fn pad_left(s: &str, w: usize) -> String {
    let mut out: String = std::iter::repeat_n(' ', w.saturating_sub(width(s))).collect();
    out.push_str(s);
    out
}

/// `s` cut to at most `max` cells, a cut marked with `…`.
pub fn cut(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for ch in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(ch);
        w += cw;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_variables_in_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Lang::from_locale_vars(env(&[])), Lang::En);
        assert_eq!(
            Lang::from_locale_vars(env(&[("LANG", "ja_JP.UTF-8")])),
            Lang::Ja
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LANG", "ja_JP.UTF-8"), ("LC_ALL", "C")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LC_MESSAGES", "ja_JP"), ("LANG", "en_US")])),
            Lang::Ja
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LC_ALL", ""), ("LANG", "ja")])),
            Lang::Ja
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LANG", "de_DE.UTF-8")])),
            Lang::En
        );
    }

    #[test]
    fn catalogues_parse_and_hold_the_same_messages() {
        for lang in Lang::ALL {
            if let Err((_, errors)) = FluentResource::try_new(source(lang).to_string()) {
                panic!("{}.ftl: {errors:?}", lang.code());
            }
        }
        let mut en = message_ids(Lang::En);
        let mut ja = message_ids(Lang::Ja);
        // The anomalies' Japanese only (their English is anomaly.rs's): one for each.
        let anomaly_ids: Vec<String> = crate::anomaly::Anomaly::all().map(anomaly_id).collect();
        let ja_anomalies: Vec<String> = ja
            .iter()
            .filter(|i| i.starts_with("anomaly-"))
            .cloned()
            .collect();
        let mut want = anomaly_ids.clone();
        want.sort();
        let mut have = ja_anomalies.clone();
        have.sort();
        assert_eq!(have, want, "ja.ftl: one explanation per anomaly");
        assert!(!en.iter().any(|i| i.starts_with("anomaly-")));
        ja.retain(|i| !i.starts_with("anomaly-"));
        assert!(en.len() > 150, "{} messages", en.len());
        en.sort();
        ja.sort();
        let only_en: Vec<_> = en.iter().filter(|i| !ja.contains(i)).collect();
        let only_ja: Vec<_> = ja.iter().filter(|i| !en.contains(i)).collect();
        assert!(
            only_en.is_empty() && only_ja.is_empty(),
            "{only_en:?} {only_ja:?}"
        );
        let dup = en.windows(2).find(|w| w[0] == w[1]);
        assert_eq!(dup, None, "a message defined twice");
    }

    #[test]
    fn every_cause_and_finding_has_its_words() {
        use crate::model::{Cause, Finding};
        for lang in Lang::ALL {
            for c in Cause::ALL {
                for part in ["", "-short", "-meaning", "-remedy", "-prevention"] {
                    let id = format!("cause-{}{part}", c.as_str());
                    assert!(!t(lang, &id).starts_with('⟦'), "{id} in {}", lang.code());
                }
            }
            for f in Finding::ALL {
                for part in ["", "-short", "-meaning"] {
                    let id = format!("finding-{}{part}", f.as_str());
                    assert!(!t(lang, &id).starts_with('⟦'), "{id} in {}", lang.code());
                }
            }
        }
        // The Japanese words differ from the English ones and keep the code beside them.
        assert_ne!(
            t(Lang::Ja, "cause-bad_credentials-remedy"),
            Cause::BadCredentials.remedy()
        );
        assert!(t(Lang::Ja, "cause-bad_credentials").contains("bad_credentials"));
        assert!(!Cause::NoCredentials.prevention().is_empty());
    }

    #[test]
    fn counts_and_widths() {
        assert_eq!(count(Lang::En, "n-episodes", 1), "1 episode");
        assert_eq!(count(Lang::En, "n-episodes", 1200), "1,200 episodes");
        assert_eq!(count(Lang::Ja, "n-episodes", 3), "3 件のエピソード");
        assert_eq!(t(Lang::En, "no-such-message"), "⟦no-such-message⟧");
        assert_eq!(width("ユーザー"), 8);
        assert_eq!(pad_right("失敗", 6), "失敗  ");
        assert_eq!(pad_left("失敗", 6), "  失敗");
        assert_eq!(cut("接続先のホスト名", 7), "接続先…");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
