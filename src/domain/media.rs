//! File types recognised from their first bytes, never from the name a client sent.

/// Media types Guichet can recognise; an instance may accept a subset.
pub const KNOWN_TYPES: [&str; 6] =
    ["image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "application/pdf"];

/// Bytes needed to recognise every known type.
pub const SNIFF_LEN: usize = 16;

pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if head.get(4..8) == Some(b"ftyp")
        && head
            .get(8..12)
            .is_some_and(|brand| [b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"].iter().any(|b| *b == brand))
    {
        Some("image/heic")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// A file name safe to show and to put in a Content-Disposition header: the last path
/// component, without control or quoting characters, at most 120 characters.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String =
        base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '\\' | ';')).take(120).collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    if trimmed.is_empty() { "fichier".to_owned() } else { trimmed.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_content() {
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"GIF89a\x01\x00"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some("image/heic"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"MZ\x90\0"), None, "a Windows executable");
        assert_eq!(sniff(b"<svg xmlns="), None, "SVG can carry scripts");
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn names_lose_paths_and_quotes() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\x\\photo \"1\".jpg"), "photo 1.jpg");
        assert_eq!(clean_file_name("a\r\nb.pdf"), "ab.pdf");
        assert_eq!(clean_file_name(".."), "fichier");
        assert_eq!(clean_file_name(".htaccess"), "htaccess");
    }
}
