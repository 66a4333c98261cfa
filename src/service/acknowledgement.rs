//! The acknowledgement rendered for people: plain text (e-mail, SMS) and a printable page.

use askama::Template;

use crate::domain::Result;
use crate::domain::acknowledgement::Acknowledgement;
use crate::domain::catalogue::ImplicitOutcome;
use crate::l10n::Locale;

#[derive(Template)]
#[template(path = "acknowledgement.txt")]
struct Text<'a> {
    ack: &'a Acknowledgement,
    l: &'a Locale,
}

#[derive(Template)]
#[template(path = "acknowledgement.html")]
pub struct Page<'a> {
    pub ack: &'a Acknowledgement,
    pub l: &'a Locale,
    pub collectivite: &'a str,
    pub accessibility: &'a str,
}

fn render(template: &impl Template) -> Result<String> {
    template.render().map_err(|e| crate::domain::Error::Internal(format!("template: {e}")))
}

pub fn text(ack: &Acknowledgement) -> Result<String> {
    render(&Text { ack, l: Locale::french() })
}

pub fn html(ack: &Acknowledgement) -> Result<String> {
    render(&Page { ack, l: Locale::french(), collectivite: &ack.collectivite, accessibility: "" })
}
