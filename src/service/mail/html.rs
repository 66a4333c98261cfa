//! The HTML part of every e-mail: the words of its text part, laid out.

use super::SIGNATURE;
use crate::domain::notification::Notification;
use crate::domain::{Error, Result};

/// The HTML part of an e-mail: the words of its text part, in paragraphs, with its
/// addresses as links.
#[derive(askama::Template)]
#[template(path = "mail/message.html")]
struct MailHtml<'a> {
    subject: &'a str,
    /// Who writes: the collectivité.
    sender: &'a str,
    /// The portal's accent colour (it reads on white).
    accent: &'a str,
    body: Vec<Paragraph>,
    footer: Vec<Paragraph>,
}

/// Lines of text and links.
type Paragraph = Vec<Vec<Segment>>;

#[derive(Debug, PartialEq)]
struct Segment {
    text: String,
    link: bool,
}

/// Paragraphs (separated by a blank line) of lines, with their web addresses as links.
fn paragraphs(text: &str) -> Vec<Paragraph> {
    text.split("\n\n")
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.lines().map(segments).collect())
        .collect()
}

/// One line cut into text and `http(s)://` addresses (without the punctuation that may
/// follow an address in a sentence).
fn segments(line: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = ["https://", "http://"].iter().filter_map(|p| rest.find(p)).min() {
        let end = rest[start..].find(char::is_whitespace).map_or(rest.len(), |e| start + e);
        let link = rest[start..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '»']);
        let end = start + link.len();
        if start > 0 {
            out.push(Segment { text: rest[..start].to_owned(), link: false });
        }
        out.push(Segment { text: link.to_owned(), link: true });
        rest = &rest[end..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Segment { text: rest.to_owned(), link: false });
    }
    out
}

/// The HTML alternative of a message's text.
pub(super) fn html_of(n: &Notification, sender: &str, accent: &str) -> Result<String> {
    let separator = format!("\n\n{SIGNATURE}");
    let (body, footer) = n.text.split_once(&separator).unwrap_or((&n.text, ""));
    let page = MailHtml { subject: &n.subject, sender, accent, body: paragraphs(body), footer: paragraphs(footer) };
    askama::Template::render(&page).map_err(|e| Error::Internal(format!("mail template: {e}")))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::notification::{Delivery, Medium, NotificationKind};

    #[test]
    fn addresses_become_links_without_their_punctuation() {
        let text = |t: &str| Segment { text: t.to_owned(), link: false };
        let link = |t: &str| Segment { text: t.to_owned(), link: true };
        assert_eq!(
            segments("Suivre : https://mairie.example/suivi/ABCD. Merci"),
            [text("Suivre : "), link("https://mairie.example/suivi/ABCD"), text(". Merci")]
        );
        assert_eq!(segments("http://a.example"), [link("http://a.example")]);
        assert_eq!(segments("javascript:alert(1) ftp://x"), [text("javascript:alert(1) ftp://x")]);
        assert_eq!(segments(""), [text("")]);
    }

    #[test]
    fn the_html_part_says_what_the_text_says_escaped() {
        let n = Notification {
            id: "ntf-1".into(),
            kind: NotificationKind::Reply,
            medium: Medium::Email,
            to: "a@example.fr".into(),
            subject: "Réponse <b>".into(),
            text: "Bonjour,\n\n<script>x</script> & voilà\nligne 2\n\n-- \nMairie\nSuivi : https://m.example/suivi/X?a=1&b=2\n".into(),
            request: None,
            created_at: Timestamp::UNIX_EPOCH,
            attempts: 0,
            next_attempt_at: Timestamp::UNIX_EPOCH,
            last_error: String::new(),
            delivery: Delivery::Pending,
        };
        let html = html_of(&n, "Mairie d'Ici", "#1f4e8c").unwrap();
        assert!(html.contains("<html lang=\"fr\">"));
        assert!(html.contains("&#60;script&#62;x&#60;/script&#62; &#38; voilà<br>ligne 2"), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<b>"));
        assert!(html.contains("href=\"https://m.example/suivi/X?a=1&#38;b=2\""), "{html}");
        assert!(html.contains("border-top"), "the footer is set apart: {html}");
    }
}
