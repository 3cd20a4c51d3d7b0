//! Header field names: canonical spelling and RFC 3261 §7.3.3 compact forms.

/// Canonical names of the headers this crate knows, with their compact form.
/// Lookup is case-insensitive; unknown names compare by their own spelling.
const KNOWN: &[(&str, Option<u8>)] = &[
    ("Via", Some(b'v')),
    ("From", Some(b'f')),
    ("To", Some(b't')),
    ("Call-ID", Some(b'i')),
    ("CSeq", None),
    ("Contact", Some(b'm')),
    ("Max-Forwards", None),
    ("Route", None),
    ("Record-Route", None),
    ("Path", None),
    ("Content-Length", Some(b'l')),
    ("Content-Type", Some(b'c')),
    ("Content-Encoding", Some(b'e')),
    ("Supported", Some(b'k')),
    ("Subject", Some(b's')),
    ("Allow-Events", Some(b'u')),
    ("Event", Some(b'o')),
    ("Refer-To", Some(b'r')),
    ("Referred-By", Some(b'b')),
    ("Session-Expires", Some(b'x')),
    ("Identity", Some(b'y')),
    ("Accept-Contact", Some(b'a')),
    ("Reject-Contact", Some(b'j')),
    ("Request-Disposition", Some(b'd')),
    ("Require", None),
    ("Proxy-Require", None),
    ("Unsupported", None),
    ("Allow", None),
    ("Expires", None),
    ("Authorization", None),
    ("Proxy-Authorization", None),
    ("WWW-Authenticate", None),
    ("Proxy-Authenticate", None),
    ("User-Agent", None),
    ("Server", None),
    ("Accept", None),
    ("Date", None),
    ("Min-Expires", None),
    ("Retry-After", None),
    ("Warning", None),
];

/// The canonical spelling of a header name: compact forms are expanded
/// (`i` → `Call-ID`) and known names get their usual capitalisation.
/// Unknown names are returned unchanged.
pub fn canonical(name: &str) -> &str {
    match known_index(name) {
        Some(i) => KNOWN[i as usize].0,
        None => name,
    }
}

/// A known header resolved at compile time, so the crate's own lookups
/// compare one integer per field instead of resolving names at run time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    pub name: &'static str,
    pub idx: u8,
}

impl Known {
    /// Compile-time only: an unknown name fails the build.
    const fn new(name: &'static str) -> Known {
        let n = name.as_bytes();
        let mut i = 0;
        while i < KNOWN.len() {
            let k = KNOWN[i].0.as_bytes();
            if k.len() == n.len() {
                let mut j = 0;
                while j < k.len() && k[j].eq_ignore_ascii_case(&n[j]) {
                    j += 1;
                }
                if j == k.len() {
                    return Known {
                        name: KNOWN[i].0,
                        idx: i as u8,
                    };
                }
            }
            i += 1;
        }
        panic!("not a known header")
    }
}

pub(crate) const VIA: Known = Known::new("Via");
pub(crate) const FROM: Known = Known::new("From");
pub(crate) const TO: Known = Known::new("To");
pub(crate) const CALL_ID: Known = Known::new("Call-ID");
pub(crate) const CSEQ: Known = Known::new("CSeq");
pub(crate) const CONTACT: Known = Known::new("Contact");
pub(crate) const MAX_FORWARDS: Known = Known::new("Max-Forwards");
pub(crate) const ROUTE: Known = Known::new("Route");
pub(crate) const RECORD_ROUTE: Known = Known::new("Record-Route");
pub(crate) const PATH: Known = Known::new("Path");
pub(crate) const EXPIRES: Known = Known::new("Expires");
pub(crate) const SUPPORTED: Known = Known::new("Supported");
pub(crate) const CONTENT_LENGTH: Known = Known::new("Content-Length");

/// Index of a known header in the table (compact forms included), used to
/// make header lookups one integer comparison.
pub(crate) fn known_index(name: &str) -> Option<u8> {
    let b = name.as_bytes();
    if let [c] = b {
        let c = c.to_ascii_lowercase();
        return KNOWN
            .iter()
            .position(|(_, compact)| *compact == Some(c))
            .map(|i| i as u8);
    }
    let first = b.first()?.to_ascii_lowercase();
    if !first.is_ascii_lowercase() {
        return None;
    }
    // Bucketed by first letter: this runs for every header of every message.
    for &i in &BUCKETS[usize::from(first - b'a')] {
        if i == NONE {
            break;
        }
        let full = KNOWN[usize::from(i)].0;
        if full.len() == b.len() && full.as_bytes().eq_ignore_ascii_case(b) {
            return Some(i);
        }
    }
    None
}

const NONE: u8 = u8::MAX;
const BUCKET: usize = 8;

/// KNOWN indices grouped by lower-cased first letter, built at compile time.
static BUCKETS: [[u8; BUCKET]; 26] = {
    let mut t = [[NONE; BUCKET]; 26];
    let mut i = 0;
    while i < KNOWN.len() {
        let f = KNOWN[i].0.as_bytes()[0].to_ascii_lowercase();
        let row = (f - b'a') as usize;
        let mut j = 0;
        while t[row][j] != NONE {
            j += 1; // a full bucket is a compile-time index error
        }
        t[row][j] = i as u8;
        i += 1;
    }
    t
};

/// Case-insensitive header name equality that treats compact forms as
/// their full names (`v` matches `Via`).
pub fn same_header(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || canonical(a).eq_ignore_ascii_case(canonical(b))
}

/// Headers whose values are comma-separated lists (RFC 3261 §7.3.1) and that
/// this crate splits in `Message::values`.
pub fn is_list_header(canonical_name: &str) -> bool {
    const LISTS: &[&str] = &[
        "Via",
        "Route",
        "Record-Route",
        "Path",
        "Contact",
        "Supported",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Allow",
        "Allow-Events",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Content-Encoding",
        "Accept-Contact",
        "Reject-Contact",
        "Request-Disposition",
        "In-Reply-To",
        "Error-Info",
        "Alert-Info",
        "Call-Info",
        "Warning",
    ];
    LISTS.iter().any(|l| l.eq_ignore_ascii_case(canonical_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_expand() {
        assert_eq!(canonical("i"), "Call-ID");
        assert_eq!(canonical("I"), "Call-ID");
        assert_eq!(canonical("v"), "Via");
        assert_eq!(canonical("l"), "Content-Length");
        assert_eq!(canonical("call-id"), "Call-ID");
        assert_eq!(canonical("X-Foo"), "X-Foo");
        assert_eq!(canonical("q"), "q");
        assert!(same_header("m", "CONTACT"));
        assert!(!same_header("m", "Max-Forwards"));
        assert!(same_header("X-Foo", "x-foo"));
        assert_eq!(known_index("v"), Some(0));
        assert_eq!(known_index("content-length"), Some(CONTENT_LENGTH.idx));
    }
}
