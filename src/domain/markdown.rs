//! The Markdown of posts, rendered to HTML that is safe by construction: every tag is
//! written here, from a short list (paragraphs, emphasis, lists, quotes, code, links);
//! everything else, raw HTML included, becomes escaped text. Links go to `http`, `https` or
//! `mailto` addresses only, and open with `rel="nofollow noopener noreferrer"`. Headings
//! become bold paragraphs (the page keeps its heading order); images become their links.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// `@` followed by the local part of someone's e-mail address (`@marie.dupont`).
pub fn mentions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in text.match_indices('@') {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_') {
            continue; // an e-mail address, not a mention
        }
        let name: String =
            text[i + 1..].chars().take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')).collect();
        let name = name.trim_end_matches(['.', '-']).to_lowercase();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

pub fn to_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut out = String::with_capacity(markdown.len() * 2);
    // Closing tags of the links opened, so that a refused link closes nothing.
    let mut links: Vec<bool> = Vec::new();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(tag) => open(&mut out, &tag, &mut links),
            Event::End(tag) => close(&mut out, tag, &mut links),
            Event::Text(text) => escape(&mut out, &text),
            Event::Code(code) => {
                out.push_str("<code>");
                escape(&mut out, &code);
                out.push_str("</code>");
            }
            // Raw HTML is shown, never interpreted.
            Event::Html(raw) | Event::InlineHtml(raw) => escape(&mut out, &raw),
            Event::SoftBreak => out.push('\n'),
            Event::HardBreak => out.push_str("<br>\n"),
            Event::Rule => out.push_str("<hr>\n"),
            _ => {}
        }
    }
    out
}

fn open(out: &mut String, tag: &Tag<'_>, links: &mut Vec<bool>) {
    match tag {
        Tag::Paragraph => out.push_str("<p>"),
        Tag::Heading { .. } => out.push_str("<p><strong>"),
        Tag::BlockQuote(_) => out.push_str("<blockquote>\n"),
        Tag::CodeBlock(_) => out.push_str("<pre><code>"),
        Tag::List(Some(first)) if *first != 1 => out.push_str(&format!("<ol start=\"{first}\">\n")),
        Tag::List(Some(_)) => out.push_str("<ol>\n"),
        Tag::List(None) => out.push_str("<ul>\n"),
        Tag::Item => out.push_str("<li>"),
        Tag::Emphasis => out.push_str("<em>"),
        Tag::Strong => out.push_str("<strong>"),
        Tag::Strikethrough => out.push_str("<del>"),
        Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
            let safe = is_safe_url(dest_url);
            if safe {
                out.push_str("<a href=\"");
                escape(out, dest_url);
                out.push_str("\" rel=\"nofollow noopener noreferrer\">");
            }
            links.push(safe);
        }
        _ => {}
    }
}

fn close(out: &mut String, tag: TagEnd, links: &mut Vec<bool>) {
    match tag {
        TagEnd::Paragraph => out.push_str("</p>\n"),
        TagEnd::Heading(_) => out.push_str("</strong></p>\n"),
        TagEnd::BlockQuote(_) => out.push_str("</blockquote>\n"),
        TagEnd::CodeBlock => out.push_str("</code></pre>\n"),
        TagEnd::List(true) => out.push_str("</ol>\n"),
        TagEnd::List(false) => out.push_str("</ul>\n"),
        TagEnd::Item => out.push_str("</li>\n"),
        TagEnd::Emphasis => out.push_str("</em>"),
        TagEnd::Strong => out.push_str("</strong>"),
        TagEnd::Strikethrough => out.push_str("</del>"),
        TagEnd::Link | TagEnd::Image if links.pop().unwrap_or(false) => out.push_str("</a>"),
        _ => {}
    }
}

fn is_safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["http://", "https://", "mailto:"].iter().any(|scheme| lower.starts_with(scheme))
        && !lower.contains(['"', '<', '>'])
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_markdown_is_rendered() {
        let html =
            to_html("Bonjour **à tous**, _voir_ la [note](https://mairie.example/note).\n\n- un\n- deux\n\n> cité");
        assert!(html.contains("<p>Bonjour <strong>à tous</strong>, <em>voir</em> la "), "{html}");
        assert!(html.contains("<a href=\"https://mairie.example/note\" rel=\"nofollow noopener noreferrer\">note</a>"));
        assert!(html.contains("<ul>\n<li>un</li>\n<li>deux</li>\n</ul>"), "{html}");
        assert!(html.contains("<blockquote>\n<p>cité</p>"), "{html}");
    }

    #[test]
    fn hostile_markup_is_shown_as_text() {
        for (input, forbidden) in [
            ("<script>alert(1)</script>", "<script"),
            ("<img src=x onerror=alert(1)>", "<img"),
            ("[x](javascript:alert(1))", "href=\"javascript"),
            ("[x](data:text/html;base64,PHNjcmlwdD4=)", "href=\"data"),
            ("![x](https://evil.example/track.png)", "<img"),
            ("<a href=\"https://x\" onclick=\"y\">z</a>", "<a href=\"https://x\" onclick"),
            ("`<b>`", "<b>"),
            ("# Titre", "<h1"),
        ] {
            let html = to_html(input);
            assert!(!html.contains(forbidden), "{input:?} gave {html}");
        }
        assert_eq!(to_html("<b>gras</b>"), "<p>&lt;b&gt;gras&lt;/b&gt;</p>\n");
        assert_eq!(to_html("[x](javascript:alert(1))"), "<p>x</p>\n", "the text stays, the link goes");
    }

    #[test]
    fn mentions_are_local_parts_of_addresses() {
        assert_eq!(mentions("Merci @marie.dupont et @Paul_M. !"), ["marie.dupont", "paul_m"]);
        assert!(mentions("écrire à voirie@mairie.example").is_empty(), "an address is no mention");
        assert_eq!(mentions("@a @a"), ["a"]);
    }
}
