//! The acknowledgement rendered for people: plain text (e-mail, SMS) and a printable page.

use std::sync::Arc;

use askama::Template;

use super::portal::Site;
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
    pub site: Arc<Site>,
}

fn render(template: &impl Template) -> Result<String> {
    template.render().map_err(|e| crate::domain::Error::Internal(format!("template: {e}")))
}

pub fn text(ack: &Acknowledgement) -> Result<String> {
    render(&Text { ack, l: Locale::french() })
}

/// The printable page, in the portal's layout.
pub fn html(ack: &Acknowledgement, site: Arc<Site>) -> Result<String> {
    render(&Page { ack, l: Locale::french(), site })
}
