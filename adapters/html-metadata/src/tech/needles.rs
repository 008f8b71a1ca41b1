//! The prefilter's needles: literals a regular expression's every match
//! contains, read from the pattern's HIR (its syntax tree after parsing, as
//! the regex crate itself sees it), so escapes such as `\x2F`, flags such
//! as `(?x)` and nested groups mean exactly what they mean to the matcher.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A shorter needle ("//", ".js") is in nearly every string: the pattern
/// runs unfiltered instead.
pub(super) const MIN_NEEDLE: usize = 3;
/// At most this many strings in a set of alternatives the analysis keeps
/// exact (`(?:a|b)\.(?:c|d)` is four); beyond, the set is given up.
const MAX_EXACT: usize = 16;
/// A character class of at most this many characters is expanded into its
/// strings (`[Jj]`, `[.-]`); a wider one ends a literal run.
const MAX_CLASS: usize = 4;

/// Literals every match of `pattern` contains (a match holds at least one
/// of them), each at least [`MIN_NEEDLE`] bytes, or `None` when no such set
/// exists or the pattern does not parse. Of the candidate sets the one whose
/// shortest needle is longest wins. Wrong only towards `None`, which costs
/// speed, not detections. A case-insensitive word gives its few spellings
/// when it is short and none when it is long.
pub(super) fn needles_of(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut needles = analyse(&hir).needles?;
    needles.sort();
    needles.dedup();
    // A needle that holds another is found whenever that one is.
    let redundant: Vec<bool> = needles
        .iter()
        .map(|needle| {
            needles.iter().any(|other| {
                other.len() < needle.len()
                    && needle
                        .windows(other.len())
                        .any(|window| window == other.as_slice())
            })
        })
        .collect();
    let mut redundant = redundant.into_iter();
    needles.retain(|_| !redundant.next().unwrap_or(false));
    Some(needles)
}

/// What a sub-expression says about the strings it matches.
#[derive(Debug, Default)]
struct Facts {
    /// Every string the sub-expression can match, when they are few.
    exact: Option<Vec<Vec<u8>>>,
    /// The best needle set: each match contains one of them.
    needles: Option<Vec<Vec<u8>>>,
}

impl Facts {
    fn exact(strings: Vec<Vec<u8>>) -> Self {
        let mut facts = Facts::default();
        consider(&strings, &mut facts.needles);
        facts.exact = Some(strings);
        facts
    }
}

fn analyse(hir: &Hir) -> Facts {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Facts::exact(vec![Vec::new()]),
        HirKind::Literal(literal) => Facts::exact(vec![literal.0.to_vec()]),
        HirKind::Class(class) => class_strings(class).map_or_else(Facts::default, Facts::exact),
        HirKind::Capture(capture) => analyse(&capture.sub),
        HirKind::Repetition(repetition) => {
            if repetition.min == 0 {
                return Facts::default();
            }
            let inner = analyse(&repetition.sub);
            if repetition.max == Some(1) {
                return inner;
            }
            // Repeated: each match holds the sub-expression at least once.
            let mut facts = Facts {
                exact: None,
                needles: inner.needles,
            };
            if let Some(exact) = &inner.exact {
                consider(exact, &mut facts.needles);
            }
            facts
        }
        HirKind::Concat(parts) => concat(parts),
        HirKind::Alternation(branches) => alternation(branches),
    }
}

/// A concatenation: runs of exact parts joined into longer strings, and the
/// best of the runs' and the parts' own needle sets.
fn concat(parts: &[Hir]) -> Facts {
    let mut best = None;
    let mut run: Option<Vec<Vec<u8>>> = Some(vec![Vec::new()]);
    let mut all_exact = true;
    for part in parts {
        let facts = analyse(part);
        if let Some(needles) = &facts.needles {
            consider(needles, &mut best);
        }
        match facts.exact {
            Some(exact) => {
                let joined = run.as_ref().and_then(|run| product(run, &exact));
                run = match joined {
                    Some(joined) => Some(joined),
                    None => {
                        // Too many combinations: the run so far is a
                        // candidate, and a new one starts here.
                        if let Some(run) = &run {
                            consider(run, &mut best);
                        }
                        Some(exact)
                    }
                };
            }
            None => {
                all_exact = false;
                if let Some(run) = &run {
                    consider(run, &mut best);
                }
                run = Some(vec![Vec::new()]);
            }
        }
    }
    if let Some(run) = &run {
        consider(run, &mut best);
    }
    Facts {
        exact: if all_exact { run } else { None },
        needles: best,
    }
}

/// An alternation: every branch must give needles, and the set is their
/// union.
fn alternation(branches: &[Hir]) -> Facts {
    let mut exact = Some(Vec::new());
    let mut needles = Some(Vec::new());
    for branch in branches {
        let facts = analyse(branch);
        exact = match (exact, facts.exact) {
            (Some(mut all), Some(strings)) if all.len() + strings.len() <= MAX_EXACT => {
                all.extend(strings);
                Some(all)
            }
            _ => None,
        };
        needles = match (needles, facts.needles) {
            (Some(mut all), Some(found)) => {
                all.extend(found);
                Some(all)
            }
            _ => None,
        };
    }
    Facts { exact, needles }
}

/// Every concatenation of a string of `left` with one of `right`, unless
/// there are more than [`MAX_EXACT`].
fn product(left: &[Vec<u8>], right: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if left.len() * right.len() > MAX_EXACT {
        return None;
    }
    Some(
        left.iter()
            .flat_map(|head| {
                right.iter().map(move |tail| {
                    let mut joined = head.clone();
                    joined.extend_from_slice(tail);
                    joined
                })
            })
            .collect(),
    )
}

/// The strings of a class of at most [`MAX_CLASS`] characters.
fn class_strings(class: &Class) -> Option<Vec<Vec<u8>>> {
    let mut strings = Vec::new();
    match class {
        Class::Unicode(class) => {
            for range in class.ranges() {
                for code in u32::from(range.start())..=u32::from(range.end()) {
                    if strings.len() == MAX_CLASS {
                        return None;
                    }
                    let character = char::from_u32(code)?;
                    strings.push(character.to_string().into_bytes());
                }
            }
        }
        Class::Bytes(class) => {
            for range in class.ranges() {
                for byte in range.start()..=range.end() {
                    if strings.len() == MAX_CLASS {
                        return None;
                    }
                    strings.push(vec![byte]);
                }
            }
        }
    }
    Some(strings)
}

/// Keeps `candidate` in `best` when its shortest needle is long enough and
/// longer than the best set's.
fn consider(candidate: &[Vec<u8>], best: &mut Option<Vec<Vec<u8>>>) {
    fn shortest(needles: &[Vec<u8>]) -> usize {
        needles.iter().map(Vec::len).min().unwrap_or(0)
    }
    let length = shortest(candidate);
    if length < MIN_NEEDLE || candidate.is_empty() {
        return;
    }
    if best.as_ref().is_none_or(|best| length > shortest(best)) {
        *best = Some(candidate.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::needles_of;

    fn needles(pattern: &str) -> Option<Vec<String>> {
        needles_of(pattern).map(|found| {
            found
                .into_iter()
                .map(|needle| String::from_utf8(needle).unwrap())
                .collect()
        })
    }

    fn strings(list: &[&str]) -> Option<Vec<String>> {
        let mut list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        list.sort();
        Some(list)
    }

    #[test]
    fn a_needle_is_the_longest_literal_every_match_contains() {
        assert_eq!(
            needles(r"//js\.stripe\.com/v(\d+)/"),
            strings(&["//js.stripe.com/v"])
        );
        assert_eq!(
            needles(r"(?:^|/)jquery(?:\.slim)?(?:\.min)?\.js(?:[?#]|$)"),
            strings(&["jquery"])
        );
        assert_eq!(
            needles(r"^#__next$|^#__NEXT_DATA__$"),
            strings(&["#__NEXT_DATA__", "#__next"])
        );
    }

    #[test]
    fn escapes_and_flags_mean_what_they_mean_to_the_regex() {
        assert_eq!(
            needles(r"\x2F\x2Fcdn\x2Eacme\x2Ecom/"),
            strings(&["//cdn.acme.com/"])
        );
        assert_eq!(
            needles("(?x) //cdn \\. acme \\. com / # the host\n"),
            strings(&["//cdn.acme.com/"])
        );
        assert_eq!(needles(r"\Qa.b\E|abc"), None, "not regex syntax: no needle");
    }

    #[test]
    fn a_case_insensitive_word_gives_its_spellings_only_when_short() {
        assert_eq!(
            needles(r"(?i:px)-captcha"),
            strings(&["PX-captcha", "Px-captcha", "pX-captcha", "px-captcha"])
        );
        let wordpress = needles(r"(?i)^WordPress(?:\s+(\d+(?:\.\d+)+))?").unwrap();
        assert_eq!(wordpress.len(), 16, "too many spellings of the whole word");
        assert!(
            wordpress
                .iter()
                .all(|needle| needle.eq_ignore_ascii_case("word")),
            "{wordpress:?}"
        );
    }

    #[test]
    fn a_group_every_match_passes_through_gives_one_needle_per_alternative() {
        assert_eq!(
            needles(r"//(?:widget\.intercom\.io|js\.intercomcdn\.com)/"),
            strings(&["//js.intercomcdn.com/", "//widget.intercom.io/"])
        );
        assert_eq!(
            needles(r"(?:^|/)(?:matomo|piwik)\.(?:js|php)(?:[?#]|$)"),
            strings(&["matomo.js", "matomo.php", "piwik.js", "piwik.php"])
        );
        assert_eq!(
            needles(r"//(?:[a-z0-9.-]+\.)?(?:cdn-abc)?static\.xyz/"),
            strings(&["static.xyz/"]),
            "an optional group is not required"
        );
    }

    #[test]
    fn an_optional_or_repeated_character_is_not_part_of_a_needle() {
        assert_eq!(needles(r"ab\.?cde"), strings(&["cde"]));
        assert_eq!(needles(r"abcd*ef"), strings(&["abc"]));
        assert_eq!(needles(r"wxyz{2}ab"), strings(&["wxy"]));
        assert_eq!(needles(r"(?:abcd)+"), strings(&["abcd"]));
    }

    #[test]
    fn a_pattern_without_a_long_enough_literal_has_no_needle() {
        assert_eq!(needles(r"^(?:a|c)j$"), None);
        assert_eq!(
            needles(r"abcdef|[0-9]+"),
            None,
            "every alternative needs one"
        );
        assert_eq!(needles(r"^\d+\.\d+$"), None);
        assert_eq!(needles(r"(unclosed"), None);
    }
}
