//! Escaping text for XML and HTML output (JUnit and the HTML report share it).
//!
//! Besides the five markup characters, XML 1.0 forbids most control characters even when
//! escaped; server frames can carry anything, so those are written as visible `\u{..}`
//! text instead of producing a file a CI parser rejects.

/// True for characters XML 1.0 allows in a document (its `Char` production).
fn xml_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// Appends `text` to `out`, escaped for XML/HTML element content.
pub(crate) fn push_text(out: &mut String, text: &str) {
    push_escaped(out, text, false);
}

/// Appends `text` to `out`, escaped for a double- or single-quoted attribute value. Tabs
/// and line breaks become character references, so they survive attribute normalization.
pub(crate) fn push_attr(out: &mut String, text: &str) {
    push_escaped(out, text, true);
}

/// `text` escaped for element content.
pub(crate) fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_text(&mut out, text);
    out
}

/// `text` escaped for an attribute value.
pub(crate) fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_attr(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            // A bare CR in content would be normalized to LF by parsers; keep it visible.
            '\r' => out.push_str("&#13;"),
            c if xml_allowed(c) => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            text(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn line_breaks_survive_in_attributes_only_as_references() {
        assert_eq!(attr("a\nb\tc"), "a&#10;b&#9;c");
        assert_eq!(text("a\nb\tc"), "a\nb\tc");
    }

    #[test]
    fn forbidden_control_characters_become_visible() {
        assert_eq!(text("a\u{1b}[31mb\u{0}"), "a\\u{1b}[31mb\\u{0}");
        assert_eq!(text("\u{FFFE}é😀"), "\\u{fffe}é😀");
    }
}
