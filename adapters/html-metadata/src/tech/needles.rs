//! The prefilter's needles: the literals a regular expression's every match
//! contains, found by reading the pattern.

/// A shorter needle ("//", ".js") is in nearly every string: the pattern
/// runs unfiltered instead.
const MIN_NEEDLE: usize = 3;

/// Literals every match of `pattern` contains, one per top-level
/// alternative (a match holds at least one of them), or `None` when an
/// alternative has none of [`MIN_NEEDLE`] bytes. Within an alternative the
/// longest literal run wins, or the needles of a group every match passes
/// through (`(?:cdn\.a\.com|js\.b\.com)`) when their shortest is longer.
/// Classes and escapes such as `\d` end a run; a quantified character or
/// group is not required. Wrong only towards `None`, which costs speed,
/// not detections. A case-insensitive pattern has none: a needle matched
/// without case would be found in every other script (`Cal(` in `local(`).
pub(super) fn needles_of(pattern: &str) -> Option<Vec<String>> {
    if pattern.contains("(?i") {
        return None;
    }
    let mut needles = Vec::new();
    for alternative in top_level_alternatives(pattern) {
        needles.extend(alternative_needles(alternative)?);
    }
    Some(needles)
}

fn top_level_alternatives(pattern: &str) -> Vec<&str> {
    let bytes = pattern.as_bytes();
    let (mut depth, mut in_class, mut start) = (0usize, false, 0);
    let mut alternatives = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => depth = depth.saturating_sub(1),
            b'|' if !in_class && depth == 0 => {
                alternatives.push(&pattern[start..index]);
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    alternatives.push(&pattern[start..]);
    alternatives
}

/// The best needle set of one alternative (no top-level `|`).
fn alternative_needles(alternative: &str) -> Option<Vec<String>> {
    fn shortest(needles: &[String]) -> usize {
        needles.iter().map(String::len).min().unwrap_or(0)
    }
    fn consider(candidate: Vec<String>, best: &mut Option<Vec<String>>) {
        let better = match best {
            None => true,
            Some(best) => shortest(&candidate) > shortest(best),
        };
        if better && shortest(&candidate) >= MIN_NEEDLE {
            *best = Some(candidate);
        }
    }
    fn finish(run: &mut String, best: &mut Option<Vec<String>>) {
        if !run.is_empty() {
            consider(vec![std::mem::take(run)], best);
        }
    }
    let bytes = alternative.as_bytes();
    let mut best = None;
    let mut run = String::new();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'\\' => {
                let &next = bytes.get(index + 1)?;
                index += 2;
                if next.is_ascii_alphanumeric() || !next.is_ascii() {
                    finish(&mut run, &mut best);
                    continue;
                }
                run.push(char::from(next));
            }
            b'(' | b'[' => {
                finish(&mut run, &mut best);
                let end = skip_group(bytes, index)?;
                let optional = is_optional(bytes, end);
                if byte == b'(' && !optional {
                    let inner = &alternative[index + 1..end - 1];
                    let inner = inner
                        .strip_prefix("?:")
                        .or_else(|| inner.strip_prefix("?-u:"))
                        .or_else(|| (!inner.starts_with('?')).then_some(inner));
                    if let Some(needles) = inner.and_then(needles_of) {
                        consider(needles, &mut best);
                    }
                }
                index = if matches!(bytes.get(end), Some(b'?' | b'*' | b'+' | b'{')) {
                    skip_quantifier(bytes, end)
                } else {
                    end
                };
            }
            b'?' | b'*' | b'{' => {
                // The last character was optional or repeated: not required.
                run.pop();
                finish(&mut run, &mut best);
                index = skip_quantifier(bytes, index);
            }
            b'+' | b'.' | b'^' | b'$' | b')' | b']' | b'|' => {
                finish(&mut run, &mut best);
                index += 1;
            }
            _ if !byte.is_ascii() => {
                finish(&mut run, &mut best);
                index += 1;
            }
            _ => {
                run.push(char::from(byte));
                index += 1;
            }
        }
    }
    finish(&mut run, &mut best);
    best
}

/// Whether the quantifier at `index` (if any) allows zero repetitions.
fn is_optional(bytes: &[u8], index: usize) -> bool {
    match bytes.get(index) {
        Some(b'?' | b'*') => true,
        Some(b'{') => matches!(bytes.get(index + 1), Some(b'0')),
        _ => false,
    }
}

/// Index just past the group or class opening at `start`.
fn skip_group(bytes: &[u8], start: usize) -> Option<usize> {
    let (open, close) = if bytes[start] == b'[' {
        (b'[', b']')
    } else {
        (b'(', b')')
    };
    let mut depth = 0usize;
    let mut in_class = false;
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 1,
            b'[' if open == b'(' && !in_class => in_class = true,
            b']' if open == b'(' && in_class => in_class = false,
            byte if byte == open && !in_class => depth += 1,
            byte if byte == close && !in_class => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

fn skip_quantifier(bytes: &[u8], start: usize) -> usize {
    let mut index = start;
    if bytes.get(index) == Some(&b'{') {
        while index < bytes.len() && bytes[index] != b'}' {
            index += 1;
        }
    }
    index += 1;
    // Lazy or possessive suffix.
    if matches!(bytes.get(index), Some(b'?' | b'+')) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::needles_of;

    #[test]
    fn a_needle_is_the_longest_literal_every_match_contains() {
        assert_eq!(
            needles_of(r"//js\.stripe\.com/v(\d+)/"),
            Some(vec![String::from("//js.stripe.com/v")])
        );
        assert_eq!(
            needles_of(r"(?:^|/)jquery(?:\.slim)?(?:\.min)?\.js(?:[?#]|$)"),
            Some(vec![String::from("jquery")])
        );
        assert_eq!(
            needles_of(r"^#__next$|^#__NEXT_DATA__$"),
            Some(vec![
                String::from("#__next"),
                String::from("#__NEXT_DATA__")
            ])
        );
        assert_eq!(
            needles_of(r"(?i)^WordPress(?:\s+(\d+(?:\.\d+)+))?"),
            None,
            "a case-insensitive pattern runs on every string"
        );
    }

    #[test]
    fn a_group_every_match_passes_through_gives_one_needle_per_alternative() {
        assert_eq!(
            needles_of(r"//(?:widget\.intercom\.io|js\.intercomcdn\.com)/"),
            Some(vec![
                String::from("widget.intercom.io"),
                String::from("js.intercomcdn.com")
            ])
        );
        assert_eq!(
            needles_of(r"(?:^|/)(?:matomo|piwik)\.(?:js|php)(?:[?#]|$)"),
            Some(vec![String::from("matomo"), String::from("piwik")])
        );
        assert_eq!(
            needles_of(r"//(?:[a-z0-9.-]+\.)?(?:cdn-abc)?static\.xyz/"),
            Some(vec![String::from("static.xyz/")]),
            "an optional group is not required"
        );
    }

    #[test]
    fn an_optional_or_repeated_character_is_not_part_of_a_needle() {
        assert_eq!(needles_of(r"ab\.?cde"), Some(vec![String::from("cde")]));
        assert_eq!(needles_of(r"abcd*ef"), Some(vec![String::from("abc")]));
        assert_eq!(needles_of(r"wxyz{2}ab"), Some(vec![String::from("wxy")]));
    }

    #[test]
    fn a_pattern_without_a_long_enough_literal_has_no_needle() {
        assert_eq!(needles_of(r"^(?:ab|cd)\.j$"), None);
        assert_eq!(
            needles_of(r"abcdef|[0-9]+"),
            None,
            "every alternative needs one"
        );
        assert_eq!(needles_of(r"^\d+\.\d+$"), None);
    }
}
