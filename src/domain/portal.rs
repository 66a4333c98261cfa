//! What the citizen portal shows of the collectivité beyond its name: accessibility status
//! and statement, legal notice, accent colour, logo, and whether the public map is published.
//! The configuration gives the first values; admins change them afterwards.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// The statuses of the RGAA compliance mention, as the law words them.
pub const ACCESSIBILITY_STATUSES: [&str; 3] = ["non conforme", "partiellement conforme", "totalement conforme"];

/// Logos uploaded through the admin pages: raster images only (an SVG can carry scripts).
pub const LOGO_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];
pub const MAX_LOGO_BYTES: usize = 512 * 1024;
const MAX_TEXT_CHARS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalSettings {
    pub accessibility_status: String,
    pub accessibility_statement: String,
    pub legal_notice: String,
    /// `#rrggbb`, with a contrast of at least 4.5:1 on white.
    pub accent_color: String,
    pub public_map: bool,
    pub logo: Option<Logo>,
    /// Raised at every change: style sheet and logo addresses carry it, so that browsers
    /// holding the previous ones in cache fetch the new ones.
    #[serde(default)]
    pub revision: u64,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Logo {
    pub media_type: String,
    #[serde(with = "base64_bytes")]
    pub bytes: Arc<[u8]>,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logo({}, {} bytes)", self.media_type, self.bytes.len())
    }
}

impl PortalSettings {
    pub fn validate(&self) -> Result<()> {
        if !ACCESSIBILITY_STATUSES.contains(&self.accessibility_status.as_str()) {
            return Err(Error::invalid(
                "invalid_status",
                "accessibility_status",
                "must be non conforme, partiellement conforme or totalement conforme",
            ));
        }
        match contrast_on_white(&self.accent_color) {
            None => return Err(Error::invalid("invalid_color", "accent_color", "a colour such as #1f4e8c")),
            Some(ratio) if ratio < 4.5 => {
                return Err(Error::invalid("low_contrast", "accent_color", "contrast below 4.5:1 on white"));
            }
            Some(_) => {}
        }
        for (field, text) in
            [("accessibility_statement", &self.accessibility_statement), ("legal_notice", &self.legal_notice)]
        {
            if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                return Err(Error::invalid("invalid_text", field, "between 1 and 20,000 characters"));
            }
        }
        Ok(())
    }
}

impl Logo {
    /// A logo sent through the admin pages, typed by its content.
    pub fn uploaded(bytes: Vec<u8>) -> Result<Logo> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(Error::invalid("too_large", "logo", "at most 512 KiB"));
        }
        match super::media::sniff(&bytes).filter(|t| LOGO_TYPES.contains(t)) {
            Some(media_type) => Ok(Logo { media_type: media_type.to_owned(), bytes: bytes.into() }),
            None => Err(Error::invalid("unsupported_type", "logo", "PNG, JPEG or WebP image")),
        }
    }
}

/// Contrast ratio of `#rrggbb` text on white (WCAG 2.1 relative luminance).
pub fn contrast_on_white(color: &str) -> Option<f64> {
    let hex = color.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).ok()?) / 255.0;
        Some(if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) })
    };
    let luminance = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
    Some(1.05 / (luminance + 0.05))
}

mod base64_bytes {
    use std::sync::Arc;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map(Into::into).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PortalSettings {
        PortalSettings {
            accessibility_status: "non conforme".into(),
            accessibility_statement: "Déclaration".into(),
            legal_notice: "Mentions".into(),
            accent_color: "#1f4e8c".into(),
            public_map: false,
            logo: None,
            revision: 0,
        }
    }

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast_on_white("#000000").unwrap() - 21.0).abs() < 0.01);
        assert!((contrast_on_white("#ffffff").unwrap() - 1.0).abs() < 0.01);
        assert!(contrast_on_white("#767676").unwrap() >= 4.5, "the lightest grey that passes");
        assert!(contrast_on_white("#777777").unwrap() < 4.5);
        assert_eq!(contrast_on_white("blue"), None);
        assert_eq!(contrast_on_white("#12345"), None);
    }

    #[test]
    fn settings_are_checked() {
        assert!(settings().validate().is_ok());
        let low = PortalSettings { accent_color: "#ffcc00".into(), ..settings() };
        assert!(matches!(low.validate(), Err(Error::Invalid { code: "low_contrast", .. })));
        let status = PortalSettings { accessibility_status: "conforme".into(), ..settings() };
        assert!(matches!(status.validate(), Err(Error::Invalid { code: "invalid_status", .. })));
        let empty = PortalSettings { legal_notice: "  ".into(), ..settings() };
        assert!(matches!(empty.validate(), Err(Error::Invalid { code: "invalid_text", .. })));
    }

    #[test]
    fn logos_are_typed_by_content() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        assert_eq!(Logo::uploaded(png).unwrap().media_type, "image/png");
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
        assert!(matches!(Logo::uploaded(svg), Err(Error::Invalid { code: "unsupported_type", .. })));
        assert!(matches!(Logo::uploaded(b"%PDF-1.7".to_vec()), Err(Error::Invalid { code: "unsupported_type", .. })));
        let huge = [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0; MAX_LOGO_BYTES]].concat();
        assert!(matches!(Logo::uploaded(huge), Err(Error::Invalid { code: "too_large", .. })));
    }

    #[test]
    fn logos_round_trip_through_json() {
        let with_logo =
            PortalSettings { logo: Some(Logo::uploaded(b"\x89PNG\r\n\x1a\n\x01\x02".to_vec()).unwrap()), ..settings() };
        let json = serde_json::to_string(&with_logo).unwrap();
        assert_eq!(serde_json::from_str::<PortalSettings>(&json).unwrap(), with_logo);
    }
}
