//! FITS headers: every 80-character card kept verbatim and in order, with typed look-ups.
//!
//! The parsing follows the FITS standard 4.0, section 4 ("Headers"): fixed- and free-format
//! values, quoted strings with doubled quotes, `D` exponents, complex values, commentary
//! keywords (`COMMENT`, `HISTORY`, blank), the `HIERARCH` convention (ESO) and the long-string
//! convention (`&` + `CONTINUE`, standard section 4.2.1.2).

use std::fmt;

/// Length of a header card in bytes.
pub const CARD_LEN: usize = 80;

/// One 80-character header record, kept exactly as it was read.
///
/// ```
/// use eloy_fits::{Card, Value};
/// let card = Card::new("EXPTIME", 30.0, "exposure time [s]");
/// assert_eq!(card.keyword(), "EXPTIME");
/// assert_eq!(card.value(), Some(Value::Real(30.0)));
/// assert_eq!(card.comment(), Some("exposure time [s]"));
/// assert_eq!(card.as_str().len(), 80);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Card {
    raw: String,
}

/// A header value, typed as the FITS standard types it (section 4.2).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `T` or `F`.
    Logical(bool),
    /// An integer that fits in 64 bits.
    Integer(i64),
    /// A real number (`1.5`, `1.5E3`, `1.5D3`), or an integer too large for 64 bits.
    Real(f64),
    /// A complex number `(re, im)`.
    Complex(f64, f64),
    /// A character string, trailing blanks removed (they are not significant).
    Text(String),
    /// A keyword with a value indicator but no value.
    Undefined,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Logical(true) => f.write_str("T"),
            Value::Logical(false) => f.write_str("F"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Real(x) => f.write_str(&format_real(*x)),
            Value::Complex(re, im) => write!(f, "({}, {})", format_real(*re), format_real(*im)),
            Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Undefined => Ok(()),
        }
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Real(x)
    }
}
impl From<f32> for Value {
    fn from(x: f32) -> Self {
        Value::Real(f64::from(x))
    }
}
impl From<i64> for Value {
    fn from(x: i64) -> Self {
        Value::Integer(x)
    }
}
impl From<i32> for Value {
    fn from(x: i32) -> Self {
        Value::Integer(i64::from(x))
    }
}
impl From<u32> for Value {
    fn from(x: u32) -> Self {
        Value::Integer(i64::from(x))
    }
}
impl From<usize> for Value {
    fn from(x: usize) -> Self {
        i64::try_from(x).map_or(Value::Real(x as f64), Value::Integer)
    }
}
impl From<bool> for Value {
    fn from(x: bool) -> Self {
        Value::Logical(x)
    }
}
impl From<&str> for Value {
    fn from(x: &str) -> Self {
        Value::Text(x.to_owned())
    }
}
impl From<String> for Value {
    fn from(x: String) -> Self {
        Value::Text(x)
    }
}

/// Conversion of a header [`Value`] into a Rust type, for [`Header::get`].
///
/// Numbers written as strings (`EXPTIME = '30.0'`, as some camera software does) convert to
/// numbers; a real with no fractional part converts to an integer type.
pub trait FromValue: Sized {
    /// The converted value, or `None` when the value has another type.
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Real(x) => Some(*x),
            Value::Integer(i) => Some(*i as f64),
            Value::Text(s) => parse_number(s.trim()),
            _ => None,
        }
    }
}

impl FromValue for f32 {
    fn from_value(value: &Value) -> Option<Self> {
        f64::from_value(value).map(|x| x as f32)
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Integer(i) => Some(*i),
            Value::Real(x) if x.fract() == 0.0 && x.abs() < 9.0e18 => Some(*x as i64),
            Value::Text(s) => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .or_else(|| parse_number(s).and_then(|x| i64::from_value(&Value::Real(x))))
            }
            _ => None,
        }
    }
}

macro_rules! from_value_via_i64 {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Option<Self> {
                i64::from_value(value).and_then(|i| <$t>::try_from(i).ok())
            }
        }
    )*};
}
from_value_via_i64!(i32, u32, u16, u8, usize);

impl FromValue for bool {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Logical(b) => Some(*b),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s.clone()),
            Value::Undefined => None,
            other => Some(other.to_string()),
        }
    }
}

/// Parses a FITS number: optional sign, digits, optional fraction, exponent `E` or `D`.
fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty() || s.eq_ignore_ascii_case("nan") || s.to_ascii_lowercase().contains("inf") {
        return None;
    }
    s.replace(['D', 'd'], "E").parse::<f64>().ok()
}

/// Formats a real so that FITS readers see a real (always a `.` or an exponent) and it
/// round-trips exactly.
fn format_real(x: f64) -> String {
    if !x.is_finite() {
        // FITS has no NaN or infinity; the caller should not write one. Keep it visible.
        return "NaN".to_owned();
    }
    if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        let s = format!("{x}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{x:E}");
        match s.split_once('E') {
            Some((mantissa, exp)) if !mantissa.contains('.') => format!("{mantissa}.0E{exp}"),
            _ => s,
        }
    }
}

const COMMENTARY: [&str; 3] = ["COMMENT", "HISTORY", ""];

impl Card {
    /// A card holding `key = value / comment`, formatted in the standard's fixed format
    /// (strings from column 11, numbers right-justified to column 30).
    ///
    /// Keywords longer than 8 characters or with spaces use the `HIERARCH` convention.
    /// A string too long for one card is cut at 68 characters; use [`Header::set`] for long
    /// strings (it writes `CONTINUE` cards). The comment is cut to fit the card.
    ///
    /// A string's value field ends at column 30 at least when a comment follows, as cfitsio
    /// and astropy write it (the comment's `/` in column 32).
    ///
    /// ```
    /// use eloy_fits::Card;
    /// let card = Card::new("OBJECT", "M 42", "");
    /// assert_eq!(card.as_str().trim_end(), "OBJECT  = 'M 42    '");
    /// let card = Card::new("FILTER", "R", "filter name");
    /// assert_eq!(card.as_str().trim_end(), "FILTER  = 'R       '           / filter name");
    /// ```
    pub fn new(key: &str, value: impl Into<Value>, comment: &str) -> Card {
        let key = key.trim().to_ascii_uppercase();
        let value = value.into();
        let text = match &value {
            Value::Text(s) => {
                let mut quoted = s.replace('\'', "''");
                while quoted.len() < 8 {
                    quoted.push(' ');
                }
                let mut q = format!("'{quoted}'");
                if q.len() > 70 {
                    q.truncate(69);
                    if q.ends_with('\'') && !q.ends_with("''") {
                        q.pop();
                    }
                    q.push('\'');
                }
                q
            }
            Value::Undefined => String::new(),
            other => format!("{:>20}", other.to_string()),
        };
        let head = if key.len() > 8 || key.contains(' ') {
            let key = key.strip_prefix("HIERARCH ").unwrap_or(&key);
            format!("HIERARCH {key} = ")
        } else {
            format!("{key:<8}= ")
        };
        let mut card = head + &text;
        if !comment.is_empty() {
            // cfitsio (`ffmkky`) and astropy end a string's value field at column 30 at
            // least, so that the comment starts at column 32: astropy re-creates the
            // CHECKSUM card so when it verifies a checksum, and the sums must match it.
            if matches!(value, Value::Text(_)) && card.len() < 30 {
                card.push_str(&" ".repeat(30 - card.len()));
            }
            card.push_str(" / ");
            card.push_str(comment);
        }
        Card::from_raw(&card)
    }

    /// A commentary card (`COMMENT`, `HISTORY` or blank keyword) with free text, cut to 72
    /// characters. Use [`Header::push_history`] to split longer text over several cards.
    ///
    /// ```
    /// let card = eloy_fits::Card::commentary("HISTORY", "calibrated by eloy");
    /// assert_eq!(card.keyword(), "HISTORY");
    /// assert_eq!(card.text(), Some("calibrated by eloy"));
    /// ```
    pub fn commentary(key: &str, text: &str) -> Card {
        Card::from_raw(&format!("{:<8}{text}", key.trim().to_ascii_uppercase()))
    }

    /// A card from its raw text: padded with blanks or cut to 80 characters; characters
    /// outside printable ASCII (which FITS forbids) are replaced by `?`.
    ///
    /// ```
    /// let card = eloy_fits::Card::from_raw("NAXIS   =                    2");
    /// assert_eq!(card.as_str().len(), 80);
    /// ```
    pub fn from_raw(raw: &str) -> Card {
        let mut s: String = raw
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .take(CARD_LEN)
            .collect();
        while s.len() < CARD_LEN {
            s.push(' ');
        }
        Card { raw: s }
    }

    /// The 80 characters of the card.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The keyword: columns 1–8 without trailing blanks, or for a `HIERARCH` card the words
    /// between `HIERARCH` and `=` (`ESO DPR TYPE`), single-spaced.
    pub fn keyword(&self) -> &str {
        if let Some(rest) = self.raw.strip_prefix("HIERARCH ") {
            if let Some(eq) = rest.find('=') {
                return rest[..eq].trim();
            }
        }
        self.raw[..8].trim_end()
    }

    /// Whether the card uses the `HIERARCH` convention.
    pub fn is_hierarch(&self) -> bool {
        self.raw.starts_with("HIERARCH ") && self.raw[9..].contains('=')
    }

    /// Whether the card is commentary (`COMMENT`, `HISTORY`, blank keyword, or any card
    /// without the `= ` value indicator).
    pub fn is_commentary(&self) -> bool {
        self.value_field().is_none()
    }

    /// The text of a commentary card (columns 9–80, trailing blanks removed).
    pub fn text(&self) -> Option<&str> {
        if self.is_commentary() {
            Some(self.raw[8..].trim_end())
        } else {
            None
        }
    }

    /// The part of the card after the value indicator, or `None` for commentary cards.
    fn value_field(&self) -> Option<&str> {
        if self.is_hierarch() {
            let eq = self.raw.find('=')?;
            return Some(&self.raw[eq + 1..]);
        }
        let key = self.raw[..8].trim_end();
        if key == "CONTINUE" {
            return Some(&self.raw[8..]);
        }
        if COMMENTARY.contains(&key) || &self.raw[8..10] != "= " {
            return None;
        }
        Some(&self.raw[10..])
    }

    /// The card's value, or `None` for a commentary card or a value that cannot be parsed.
    /// A string split over `CONTINUE` cards is only whole through [`Header::value`].
    pub fn value(&self) -> Option<Value> {
        parse_value(self.value_field()?).map(|(v, _)| v)
    }

    /// The card's comment (after the `/` that follows the value), trimmed.
    pub fn comment(&self) -> Option<&str> {
        let field = self.value_field()?;
        let (_, rest) = parse_value(field)?;
        let rest = rest.trim_start();
        rest.strip_prefix('/').map(str::trim)
    }
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Card({:?})", self.raw.trim_end())
    }
}

impl fmt::Display for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Parses a value field; returns the value and the rest of the field (the comment part).
fn parse_value(field: &str) -> Option<(Value, &str)> {
    let trimmed = field.trim_start();
    if let Some(body) = trimmed.strip_prefix('\'') {
        // A quoted string: '' stands for one quote; the string ends at a lone quote.
        let mut text = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    chars.next();
                    text.push('\'');
                } else {
                    let rest = &body[i + 1..];
                    return Some((Value::Text(text.trim_end().to_owned()), rest));
                }
            } else {
                text.push(c);
            }
        }
        // No closing quote: take the rest as the string, as lenient readers do.
        return Some((Value::Text(text.trim_end().to_owned()), ""));
    }
    let (token, rest) = match trimmed.find('/') {
        // A '/' inside a complex value or a number cannot occur, so the first one starts
        // the comment.
        Some(slash) => (trimmed[..slash].trim(), &trimmed[slash..]),
        None => (trimmed.trim(), ""),
    };
    let value = if token.is_empty() {
        Value::Undefined
    } else if token == "T" {
        Value::Logical(true)
    } else if token == "F" {
        Value::Logical(false)
    } else if let Some(inner) = token.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        let (re, im) = inner.split_once(',')?;
        Value::Complex(parse_number(re.trim())?, parse_number(im.trim())?)
    } else if let Ok(i) = token.parse::<i64>() {
        Value::Integer(i)
    } else {
        Value::Real(parse_number(token)?)
    };
    Some((value, rest))
}

/// An owned FITS header: every card verbatim and in order.
///
/// Look-ups are case-insensitive and find the first card with the keyword, as astropy and
/// cfitsio do. `HIERARCH` keywords are found with or without the `HIERARCH` prefix.
///
/// ```
/// use eloy_fits::Header;
/// let mut header = Header::new();
/// header.set("EXPTIME", 30.0, "exposure time [s]");
/// header.set("IMAGETYP", "Light Frame", "");
/// header.push_history("calibrated by eloy");
/// assert_eq!(header.get::<f64>("exptime"), Some(30.0));
/// assert_eq!(header.get::<String>("IMAGETYP").as_deref(), Some("Light Frame"));
/// assert_eq!(header.history().collect::<Vec<_>>(), ["calibrated by eloy"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    cards: Vec<Card>,
}

impl Header {
    /// An empty header.
    pub fn new() -> Header {
        Header::default()
    }

    /// A header from its cards, in order.
    pub fn from_cards(cards: Vec<Card>) -> Header {
        Header { cards }
    }

    /// Parses a header from concatenated 80-character records (as in a FITS file), stopping
    /// at `END`. A short final record is padded.
    ///
    /// ```
    /// let text = format!("{:<80}{:<80}", "EXPTIME =                 12.5", "END");
    /// let header = eloy_fits::Header::parse(&text);
    /// assert_eq!(header.len(), 1);
    /// assert_eq!(header.get::<f64>("EXPTIME"), Some(12.5));
    /// ```
    pub fn parse(text: &str) -> Header {
        let mut cards = Vec::new();
        let bytes = text.as_bytes();
        for chunk in bytes.chunks(CARD_LEN) {
            let raw = String::from_utf8_lossy(chunk);
            let card = Card::from_raw(&raw);
            if card.raw[..8].trim_end() == "END" {
                break;
            }
            cards.push(card);
        }
        Header { cards }
    }

    /// The cards, in order.
    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    /// Number of cards.
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether there are no cards.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        let key = normalize_key(key);
        self.cards
            .iter()
            .position(|c| !c.is_commentary() && c.keyword().eq_ignore_ascii_case(&key))
    }

    /// Whether a card with this keyword (and a value indicator) exists.
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The value of the first card with this keyword, long strings joined across `CONTINUE`
    /// cards; `None` when the keyword is absent or its value cannot be parsed.
    ///
    /// ```
    /// use eloy_fits::{Card, Header, Value};
    /// let header = Header::from_cards(vec![
    ///     Card::from_raw("LONGSTR = 'part one, &'"),
    ///     Card::from_raw("CONTINUE  'part two'"),
    /// ]);
    /// assert_eq!(header.value("LONGSTR"), Some(Value::Text("part one, part two".into())));
    /// ```
    pub fn value(&self, key: &str) -> Option<Value> {
        let at = self.position(key)?;
        let value = self.cards[at].value()?;
        let Value::Text(mut text) = value else {
            return Some(value);
        };
        // Long-string convention: a string ending in '&' continues in CONTINUE cards.
        for next in &self.cards[at + 1..] {
            if !text.ends_with('&') || next.raw[..8].trim_end() != "CONTINUE" {
                break;
            }
            match next.value() {
                Some(Value::Text(more)) => {
                    text.pop();
                    text.push_str(&more);
                }
                _ => break,
            }
        }
        Some(Value::Text(text))
    }

    /// The value of `key` converted to `T` (see [`FromValue`]); `None` when absent or of
    /// another type.
    ///
    /// ```
    /// let mut header = eloy_fits::Header::new();
    /// header.set("NAXIS1", 1530, "");
    /// assert_eq!(header.get::<usize>("NAXIS1"), Some(1530));
    /// assert_eq!(header.get::<f64>("NAXIS1"), Some(1530.0));
    /// assert_eq!(header.get::<bool>("NAXIS1"), None);
    /// ```
    pub fn get<T: FromValue>(&self, key: &str) -> Option<T> {
        self.value(key).as_ref().and_then(T::from_value)
    }

    /// The value text of `key` as written in the card (for error messages).
    pub fn raw_value(&self, key: &str) -> Option<String> {
        let card = &self.cards[self.position(key)?];
        let field = card.value_field()?;
        let end = match parse_value(field) {
            Some((_, rest)) => field.len() - rest.len(),
            None => field.len(),
        };
        Some(field[..end].trim().to_owned())
    }

    /// Sets `key` to `value`: replaces the first card with that keyword (and the
    /// `CONTINUE` cards of its old value) in place, or appends a new card. Strings longer
    /// than one card are written with the long-string convention.
    pub fn set(&mut self, key: &str, value: impl Into<Value>, comment: &str) {
        let value = value.into();
        let new_cards = match &value {
            Value::Text(s) if s.replace('\'', "''").len() > 68 => {
                long_string_cards(key, s, comment)
            }
            _ => vec![Card::new(key, value, comment)],
        };
        match self.position(key) {
            Some(at) => {
                let mut end = at + 1;
                while end < self.cards.len() && self.cards[end].raw[..8].trim_end() == "CONTINUE" {
                    end += 1;
                }
                self.cards.splice(at..end, new_cards);
            }
            None => self.cards.extend(new_cards),
        }
    }

    /// Removes every card with this keyword (and their `CONTINUE` cards); returns how many
    /// keywords were removed.
    pub fn remove(&mut self, key: &str) -> usize {
        let mut removed = 0;
        while let Some(at) = self.position(key) {
            let mut end = at + 1;
            while end < self.cards.len() && self.cards[end].raw[..8].trim_end() == "CONTINUE" {
                end += 1;
            }
            self.cards.drain(at..end);
            removed += 1;
        }
        removed
    }

    /// Appends a card as it is.
    pub fn push(&mut self, card: Card) {
        self.cards.push(card);
    }

    /// Appends `HISTORY` cards holding `text`, split over as many cards as needed
    /// (72 characters each).
    pub fn push_history(&mut self, text: &str) {
        self.push_commentary("HISTORY", text);
    }

    /// Appends `COMMENT` cards holding `text`, split over as many cards as needed.
    pub fn push_comment(&mut self, text: &str) {
        self.push_commentary("COMMENT", text);
    }

    fn push_commentary(&mut self, key: &str, text: &str) {
        let clean: String = text
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .collect();
        if clean.is_empty() {
            self.cards.push(Card::commentary(key, ""));
        }
        let bytes = clean.as_bytes();
        for chunk in bytes.chunks(72) {
            // `clean` is ASCII, so any byte boundary is a char boundary.
            self.cards.push(Card::commentary(
                key,
                std::str::from_utf8(chunk).unwrap_or(""),
            ));
        }
    }

    /// The texts of the `HISTORY` cards, in order.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.cards
            .iter()
            .filter(|c| c.keyword() == "HISTORY" && c.is_commentary())
            .filter_map(Card::text)
    }

    /// The texts of the `COMMENT` cards, in order.
    pub fn comments(&self) -> impl Iterator<Item = &str> {
        self.cards
            .iter()
            .filter(|c| c.keyword() == "COMMENT" && c.is_commentary())
            .filter_map(Card::text)
    }
}

fn normalize_key(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("HIERARCH ")
        .or_else(|| key.strip_prefix("hierarch "))
        .unwrap_or(key);
    key.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cards for a long string value with the `&` / `CONTINUE` convention.
fn long_string_cards(key: &str, text: &str, comment: &str) -> Vec<Card> {
    // Each card holds at most 67 characters of escaped text plus the '&'. Split on chars
    // (the text is made ASCII by Card::from_raw anyway) without cutting a doubled quote.
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let width = if c == '\'' { 2 } else { 1 };
        if current.len() + width > 66 {
            pieces.push(std::mem::take(&mut current));
        }
        if c == '\'' {
            current.push_str("''");
        } else {
            current.push(c);
        }
    }
    pieces.push(current);
    let last = pieces.len() - 1;
    let mut cards = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let amp = if i == last { "" } else { "&" };
        let body = format!("'{piece}{amp}'");
        let with_comment = if i == last && !comment.is_empty() {
            format!("{body} / {comment}")
        } else {
            body
        };
        let raw = if i == 0 {
            let head = Card::new(key, "", "");
            let prefix_len = head.raw.find('\'').unwrap_or(10);
            format!("{}{with_comment}", &head.raw[..prefix_len])
        } else {
            format!("CONTINUE  {with_comment}")
        };
        cards.push(Card::from_raw(&raw));
    }
    cards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_value_types() {
        let cases = [
            (
                "SIMPLE  =                    T / conforms",
                Value::Logical(true),
            ),
            ("BITPIX  =                  -32", Value::Integer(-32)),
            ("BZERO   =              32768.0", Value::Real(32768.0)),
            (
                "EXPTIME =               1.5D+1 / seconds",
                Value::Real(15.0),
            ),
            ("EXPTIME =                1.5e1", Value::Real(15.0)),
            ("CPLX    = (1.0, -2.5)", Value::Complex(1.0, -2.5)),
            (
                "OBJECT  = 'M42     '           / target",
                Value::Text("M42".into()),
            ),
            (
                "QUOTE   = 'it''s a / slash'",
                Value::Text("it's a / slash".into()),
            ),
            ("EMPTY   = ''", Value::Text(String::new())),
            ("LEADING = '  x'", Value::Text("  x".into())),
            ("UNDEF   =                      / nothing", Value::Undefined),
            (
                "BIG     = 123456789012345678901234",
                Value::Real(1.2345678901234568e23),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(Card::from_raw(raw).value(), Some(expected), "{raw}");
        }
    }

    #[test]
    fn comments_and_commentary() {
        let card = Card::from_raw("OBJECT  = 'a/b' / the target");
        assert_eq!(card.comment(), Some("the target"));
        let card = Card::from_raw("HISTORY   calibrated = yes");
        assert!(card.is_commentary());
        assert_eq!(card.value(), None);
        assert_eq!(card.text(), Some("  calibrated = yes"));
        let card = Card::from_raw("NOVALUE   just text");
        assert!(card.is_commentary());
    }

    #[test]
    fn hierarch_lookup() {
        let header = Header::from_cards(vec![Card::from_raw(
            "HIERARCH ESO DPR TYPE = 'FLAT,SKY' / observation type",
        )]);
        assert_eq!(
            header.get::<String>("ESO DPR TYPE").as_deref(),
            Some("FLAT,SKY")
        );
        assert_eq!(
            header.get::<String>("HIERARCH ESO DPR TYPE").as_deref(),
            Some("FLAT,SKY")
        );
        assert_eq!(header.cards()[0].comment(), Some("observation type"));
    }

    #[test]
    fn numbers_are_in_fixed_format() {
        // FITS standard 4.2.3-4.2.4: logical and numbers right-justified to column 30.
        assert_eq!(
            &Card::new("SIMPLE", true, "").as_str()[..30],
            "SIMPLE  =                    T"
        );
        assert_eq!(
            &Card::new("BITPIX", -32, "").as_str()[..30],
            "BITPIX  =                  -32"
        );
        assert_eq!(
            &Card::new("EXPTIME", 1.5, "").as_str()[..30],
            "EXPTIME =                  1.5"
        );
    }

    #[test]
    fn new_cards_round_trip() {
        for value in [
            Value::Real(0.1),
            Value::Real(-1.0e-30),
            Value::Real(6.02214076e23),
            Value::Real(30.0),
            Value::Real(0.0),
            Value::Integer(-7),
            Value::Logical(false),
            Value::Text("O'Brien".into()),
        ] {
            let card = Card::new("KEY", value.clone(), "c");
            assert_eq!(card.value(), Some(value), "{card:?}");
            assert_eq!(card.comment(), Some("c"));
        }
        let card = Card::new("ESO DET DIT", 2.5, "");
        assert!(card.is_hierarch());
        assert_eq!(card.keyword(), "ESO DET DIT");
    }

    #[test]
    fn long_strings_round_trip() {
        let text: String = (0..300)
            .map(|i| if i % 37 == 0 { '\'' } else { 'a' })
            .collect();
        let mut header = Header::new();
        header.set("FILES", text.as_str(), "inputs");
        header.set("AFTER", 1, "");
        assert!(header.len() > 4);
        assert_eq!(header.get::<String>("FILES"), Some(text.clone()));
        assert_eq!(header.get::<i64>("AFTER"), Some(1));
        header.set("FILES", "short", "");
        assert_eq!(header.len(), 2);
        assert_eq!(header.get::<String>("FILES").as_deref(), Some("short"));
    }

    #[test]
    fn numeric_strings_convert() {
        let header = Header::from_cards(vec![Card::from_raw("EXPTIME = '30.5'")]);
        assert_eq!(header.get::<f64>("EXPTIME"), Some(30.5));
        assert_eq!(header.get::<i64>("EXPTIME"), None);
    }

    #[test]
    fn history_is_split() {
        let mut header = Header::new();
        header.push_history(&"x".repeat(150));
        assert_eq!(
            header.history().map(str::len).collect::<Vec<_>>(),
            [72, 72, 6]
        );
    }
}
