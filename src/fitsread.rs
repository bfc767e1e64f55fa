//! Fast reading of whole FITS files: gzip inflation with libdeflate and a
//! checked walk over the 2880-byte header blocks.
//!
//! [`inflate_gzip`] inflates every gzip member of a file (CRC32 and ISIZE of
//! each are checked by libdeflate); the output buffer starts at the size the
//! last trailer's ISIZE claims when that is plausible and grows by doubling,
//! so a wrong ISIZE costs time, never more than twice the true size of memory.
//!
//! [`scan`] locates every HDU of an inflated file from its header blocks and
//! checks each header before trusting it: `SIMPLE`/`XTENSION` first, one
//! `END`, `BITPIX` in the FITS set, `0 <= NAXIS <= 999`, every `NAXISn >= 0`,
//! `PCOUNT >= 0`, `GCOUNT >= 0`, the data size computed without overflow and
//! within the file, no structural keyword twice.  Nothing is allocated in
//! proportion to a header's numbers.  [`ones_sum`] is the FITS checksum (32-bit
//! ones' complement sum of big-endian words).
//!
//! Limits: random groups (`NAXIS1 = 0` with `GROUPS = T`) are described but
//! flagged `unusual`; bytes after the last HDU that do not start an extension
//! are reported, not read.

use crate::error::{CoreError, CoreResult};

/// A FITS block.
pub(crate) const BLOCK: usize = 2880;
const CARD: usize = 80;
/// DEFLATE cannot expand more than 1032:1.
const MAX_RATIO: usize = 1032;

fn bad(msg: String) -> CoreError {
    CoreError::FileFormat(msg)
}

/// The libdeflate decompressor, freed on drop.
struct Inflater(std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Inflater {
    #[allow(unsafe_code)] // FFI allocation; see SAFETY
    fn new() -> CoreResult<Self> {
        // SAFETY: libdeflate_alloc_decompressor has no preconditions; it
        // returns NULL only when out of memory, which is checked.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        std::ptr::NonNull::new(p)
            .map(Inflater)
            .ok_or_else(|| bad("out of memory allocating the gzip decompressor".into()))
    }

    /// Inflate one gzip member at the start of `input` into `out`:
    /// `Ok(Some((consumed, written)))`, `Ok(None)` when `out` is too small.
    #[allow(unsafe_code)] // FFI call; see SAFETY
    fn member(&mut self, input: &[u8], out: &mut [u8]) -> Result<Option<(usize, usize)>, ()> {
        let mut consumed = 0usize;
        let mut written = 0usize;
        // SAFETY: the decompressor is valid (allocated in `new`, freed only in
        // drop) and used by one thread (`&mut self`); the input and output
        // pointers and lengths come from live slices; the two result pointers
        // point to local variables.  libdeflate writes only within `out`.
        let ret = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &raw mut consumed,
                &raw mut written,
            )
        };
        match ret {
            libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS => Ok(Some((consumed, written))),
            libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Ok(None),
            _ => Err(()),
        }
    }
}

impl Drop for Inflater {
    #[allow(unsafe_code)] // FFI free; see SAFETY
    fn drop(&mut self) {
        // SAFETY: the pointer came from libdeflate_alloc_decompressor and is
        // freed exactly once, here.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// True when `data` starts with the gzip magic bytes.
pub(crate) fn is_gzip(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] == 0x1f && data[1] == 0x8b
}

/// Inflate a whole gzip file (one or more members; trailing zero bytes are
/// allowed, as Python's `gzip` allows them).
///
/// # Errors
/// `FileFormat` for a corrupt or truncated stream, a CRC32 or ISIZE mismatch,
/// or bytes after a member that start no other member.
pub fn inflate_gzip(data: &[u8]) -> CoreResult<Vec<u8>> {
    if !is_gzip(data) {
        return Err(bad("not gzip data (no 1f 8b magic bytes)".into()));
    }
    let limit = data.len().saturating_mul(MAX_RATIO).max(1 << 16);
    // the last trailer's ISIZE (size mod 2^32 of the last member): trusted as
    // the first guess only when plausible
    let isize_hint = if data.len() >= 18 {
        let t = &data[data.len() - 4..];
        u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize
    } else {
        0
    };
    let plausible = data.len().saturating_mul(64).saturating_add(1 << 20);
    let first = if isize_hint > 0 && isize_hint <= plausible {
        isize_hint
    } else {
        data.len().saturating_mul(8).min(limit)
    };
    let mut inflater = Inflater::new()?;
    let mut out = vec![0u8; first];
    let mut written = 0usize;
    let mut pos = 0usize;
    let mut member = 0usize;
    while pos < data.len() {
        let rest = &data[pos..];
        if member > 0 && rest.iter().all(|&b| b == 0) {
            break;
        }
        if !is_gzip(rest) {
            return Err(bad(format!(
                "{} bytes after gzip member {member} (ending at byte {pos}) are not another \
                 gzip member",
                rest.len()
            )));
        }
        member += 1;
        loop {
            match inflater.member(rest, &mut out[written..]) {
                Ok(Some((used, n))) => {
                    pos += used.max(1);
                    written += n;
                    break;
                }
                Ok(None) => {
                    if out.len() >= limit {
                        return Err(bad(format!(
                            "gzip member {member} inflates to more than {limit} bytes \
                             ({MAX_RATIO} times the {} compressed bytes): corrupt",
                            data.len()
                        )));
                    }
                    let grown = out.len().saturating_mul(2).clamp(1 << 16, limit);
                    out.resize(grown, 0);
                }
                Err(()) => {
                    return Err(bad(format!(
                        "gzip member {member} (starting at byte {pos} of {}) is corrupt or \
                         truncated (bad deflate data, CRC32 or ISIZE)",
                        data.len()
                    )));
                }
            }
        }
        if written == out.len() && pos < data.len() {
            let grown = out.len().saturating_mul(2).clamp(1 << 16, limit);
            out.resize(grown, 0);
        }
    }
    out.truncate(written);
    out.shrink_to_fit();
    Ok(out)
}

/// The FITS checksum of `bytes`: the 32-bit ones' complement sum of its
/// big-endian words (a last partial word is padded with zeros, as the
/// zero fill of a FITS block would be).
#[must_use]
pub fn ones_sum(bytes: &[u8]) -> u32 {
    let mut hi: u64 = 0;
    let mut lo: u64 = 0;
    let words = bytes.chunks_exact(4);
    let rest = words.remainder();
    for w in words {
        hi += u64::from(u16::from_be_bytes([w[0], w[1]]));
        lo += u64::from(u16::from_be_bytes([w[2], w[3]]));
    }
    if !rest.is_empty() {
        let mut w = [0u8; 4];
        w[..rest.len()].copy_from_slice(rest);
        hi += u64::from(u16::from_be_bytes([w[0], w[1]]));
        lo += u64::from(u16::from_be_bytes([w[2], w[3]]));
    }
    // fold the carries, as the FITS checksum paper's C code does
    loop {
        let hicarry = hi >> 16;
        let locarry = lo >> 16;
        if hicarry == 0 && locarry == 0 {
            break;
        }
        hi = (hi & 0xffff) + locarry;
        lo = (lo & 0xffff) + hicarry;
    }
    u32::try_from((hi << 16) | lo).unwrap_or(u32::MAX)
}

/// One HDU as its header describes it, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hdu {
    /// Position in the file (0 = primary).
    pub index: usize,
    /// Byte offset of the header.
    pub header_start: usize,
    /// Byte offset of the data (the header's end, padded to a block).
    pub data_start: usize,
    /// Data bytes (without padding).
    pub data_size: usize,
    /// Offset of the next HDU (the data padded to a block).
    pub end: usize,
    /// `XTENSION` value (empty for the primary HDU).
    pub xtension: String,
    /// `EXTNAME` value, if any.
    pub extname: Option<String>,
    /// `BITPIX`.
    pub bitpix: i64,
    /// `NAXIS1..NAXISn`, FITS order.
    pub naxes: Vec<usize>,
    /// `PCOUNT` (0 when absent).
    pub pcount: usize,
    /// `GCOUNT` (1 when absent).
    pub gcount: usize,
    /// `TFIELDS` (0 when absent).
    pub tfields: usize,
    /// `ZIMAGE = T` (a tile-compressed image).
    pub zimage: bool,
    /// Random groups or an unknown value layout: not for the fast path.
    pub unusual: bool,
    /// Raw value texts of `BSCALE`, `BZERO`, `BLANK`, `CHECKSUM`, `DATASUM`
    /// (strings unquoted), when present.
    pub bscale: Option<String>,
    pub bzero: Option<String>,
    pub blank: Option<String>,
    pub checksum: Option<String>,
    pub datasum: Option<String>,
}

/// A card's value: a string (unquoted, trailing blanks removed) or the raw
/// text before any comment.
fn card_value(card: &[u8]) -> Option<String> {
    if card.len() < 10 || &card[8..10] != b"= " {
        return None;
    }
    let text = &card[10..];
    let start = text.iter().position(|&b| b != b' ')?;
    if text[start] == b'\'' {
        let mut s = Vec::new();
        let mut i = start + 1;
        while i < text.len() {
            if text[i] == b'\'' {
                if i + 1 < text.len() && text[i + 1] == b'\'' {
                    s.push(b'\'');
                    i += 2;
                    continue;
                }
                break;
            }
            s.push(text[i]);
            i += 1;
        }
        while s.last() == Some(&b' ') {
            s.pop();
        }
        return Some(String::from_utf8_lossy(&s).into_owned());
    }
    let end = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
    Some(
        String::from_utf8_lossy(&text[start..end])
            .trim()
            .to_string(),
    )
}

fn keyword(card: &[u8]) -> &str {
    let k = std::str::from_utf8(&card[..8]).unwrap_or("");
    k.trim_end()
}

/// The structural keywords: each may appear once.
fn structural(key: &str) -> bool {
    matches!(
        key,
        "SIMPLE" | "XTENSION" | "BITPIX" | "NAXIS" | "PCOUNT" | "GCOUNT" | "TFIELDS" | "GROUPS"
    ) || (key.starts_with("NAXIS") && key[5..].bytes().all(|b| b.is_ascii_digit()))
}

struct Cards<'a> {
    what: String,
    list: Vec<(&'a str, &'a [u8])>,
}

impl Cards<'_> {
    fn get(&self, key: &str) -> Option<&[u8]> {
        self.list.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
    }

    fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(card_value)
    }

    /// An integer card: absent gives `default` (or an error when None).
    fn int(&self, key: &str, default: Option<i64>) -> CoreResult<i64> {
        let Some(card) = self.get(key) else {
            return default
                .ok_or_else(|| bad(format!("{}: the required card {key} is missing", self.what)));
        };
        let text = card_value(card).unwrap_or_default();
        text.strip_prefix('+')
            .unwrap_or(&text)
            .parse::<i64>()
            .map_err(|_| {
                bad(format!(
                    "{}: card {key} = {text:?} is not an integer",
                    self.what
                ))
            })
    }

    fn logical(&self, key: &str) -> bool {
        self.text(key).is_some_and(|v| v == "T")
    }
}

/// The axes and data size a header declares, checked.
struct Layout {
    naxes: Vec<usize>,
    pcount: usize,
    gcount: usize,
    groups: bool,
    data_size: usize,
}

fn layout(cards: &Cards<'_>, index: usize, bitpix: i64) -> CoreResult<Layout> {
    let what = &cards.what;
    let naxis = cards.int("NAXIS", None)?;
    if !(0..=999).contains(&naxis) {
        return Err(bad(format!(
            "{what}: card NAXIS = {naxis} is outside 0..999"
        )));
    }
    let mut naxes = Vec::new();
    for k in 1..=naxis {
        let key = format!("NAXIS{k}");
        let n = cards.int(&key, None)?;
        let n = usize::try_from(n).map_err(|_| {
            bad(format!(
                "{what}: card {key} = {n} is negative; an axis length is >= 0"
            ))
        })?;
        naxes.push(n);
    }
    let groups = index == 0 && cards.logical("GROUPS") && naxes.first() == Some(&0);
    let counted = index > 0 || groups;
    let pcount = if counted {
        cards.int("PCOUNT", Some(0))?
    } else {
        0
    };
    let gcount = if counted {
        cards.int("GCOUNT", Some(1))?
    } else {
        1
    };
    let pcount = usize::try_from(pcount)
        .map_err(|_| bad(format!("{what}: card PCOUNT = {pcount} is negative")))?;
    let gcount = usize::try_from(gcount)
        .map_err(|_| bad(format!("{what}: card GCOUNT = {gcount} is negative")))?;
    let overflow = || {
        bad(format!(
            "{what}: the data size |BITPIX|/8 x GCOUNT x (PCOUNT + NAXIS1 x ... x NAXISn) = \
             {}/8 x {gcount} x ({pcount} + {}) overflows",
            bitpix.unsigned_abs(),
            naxes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" x ")
        ))
    };
    let data_size = if naxes.is_empty() {
        0
    } else {
        let axes = if groups { &naxes[1..] } else { &naxes[..] };
        let mut n: usize = 1;
        for &a in axes {
            n = n.checked_mul(a).ok_or_else(overflow)?;
        }
        let bytes = usize::try_from(bitpix.unsigned_abs() / 8).unwrap_or(8);
        n.checked_add(pcount)
            .and_then(|v| v.checked_mul(gcount))
            .and_then(|v| v.checked_mul(bytes))
            .ok_or_else(overflow)?
    };
    Ok(Layout {
        naxes,
        pcount,
        gcount,
        groups,
        data_size,
    })
}

/// Check one header starting at `start` (a block boundary) and describe its HDU.
/// The cards of the header at `start` up to END (or the end of the file),
/// with the HDU named by its EXTNAME; the offset after END, if found.
fn read_cards(buf: &[u8], start: usize, index: usize) -> CoreResult<(Cards<'_>, Option<usize>)> {
    let what = format!("HDU {index} (header at byte {start})");
    let mut list: Vec<(&str, &[u8])> = Vec::new();
    let mut pos = start;
    let mut after_end = None;
    while pos + CARD <= buf.len() {
        let card = &buf[pos..pos + CARD];
        pos += CARD;
        let key = keyword(card);
        if key == "END" {
            after_end = Some(pos);
            break;
        }
        if structural(key) && list.iter().any(|(k, _)| *k == key) {
            return Err(bad(format!(
                "{what}: card {key} appears twice; a FITS header has one"
            )));
        }
        list.push((key, card));
    }
    let mut cards = Cards { what, list };
    if let Some(name) = cards.text("EXTNAME") {
        cards.what = format!("HDU {index} ({name:?}, header at byte {start})");
    }
    Ok((cards, after_end))
}

fn hdu_at(buf: &[u8], start: usize, index: usize) -> CoreResult<Hdu> {
    let (cards, after_end) = read_cards(buf, start, index)?;
    let what = cards.what.clone();
    let first = cards.list.first().map_or("", |(k, _)| *k);
    let expected = if index == 0 { "SIMPLE" } else { "XTENSION" };
    if first != expected {
        let seen: String = buf[start..(start + 8).min(buf.len())]
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        return Err(bad(format!(
            "{what}: the header starts with {seen:?}, not the {expected} card: not a FITS file \
             or damaged"
        )));
    }
    let Some(pos) = after_end else {
        return Err(bad(format!(
            "{what}: the header has no END card within the file ({} bytes scanned)",
            buf.len() - start
        )));
    };
    let header_end = (pos - start).div_ceil(BLOCK) * BLOCK + start;
    if header_end > buf.len() {
        return Err(bad(format!(
            "{what}: the header's last 2880-byte block is cut short: it ends at byte \
             {header_end} but the file has {} bytes",
            buf.len()
        )));
    }
    let bitpix = cards.int("BITPIX", None)?;
    if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
        return Err(bad(format!(
            "{what}: card BITPIX = {bitpix} is not one of 8, 16, 32, 64, -32, -64"
        )));
    }
    let xtension = if index == 0 {
        String::new()
    } else {
        cards.text("XTENSION").unwrap_or_default()
    };
    let Layout {
        naxes,
        pcount,
        gcount,
        groups,
        data_size,
    } = layout(&cards, index, bitpix)?;
    // the data padded to whole blocks, as astropy requires of the last HDU too
    let padded = data_size.div_ceil(BLOCK) * BLOCK;
    let available = buf.len() - header_end;
    if padded > available {
        let cards_named = (1..=naxes.len())
            .map(|k| format!("NAXIS{k} = {}", naxes[k - 1]))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(bad(format!(
            "{what}: truncated: the header (BITPIX = {bitpix}, {cards_named}, PCOUNT = {pcount}, \
             GCOUNT = {gcount}) needs {data_size} data bytes ({padded} with the padding to a \
             block) but the file has {available} after the header"
        )));
    }
    let tfields = usize::try_from(cards.int("TFIELDS", Some(0))?)
        .map_err(|_| bad(format!("{what}: card TFIELDS is negative")))?;
    let end = header_end + padded;
    let unusual = groups || (index > 0 && !matches!(xtension.as_str(), "IMAGE" | "BINTABLE"));
    Ok(Hdu {
        index,
        header_start: start,
        data_start: header_end,
        data_size,
        end,
        xtension,
        extname: cards.text("EXTNAME"),
        bitpix,
        naxes,
        pcount,
        gcount,
        tfields,
        zimage: cards.logical("ZIMAGE"),
        unusual,
        bscale: cards.text("BSCALE"),
        bzero: cards.text("BZERO"),
        blank: cards.text("BLANK"),
        checksum: cards.text("CHECKSUM"),
        datasum: cards.text("DATASUM"),
    })
}

/// Every HDU of an (inflated) FITS file, each header checked.  Returns the
/// HDUs and the count of bytes after the last one that start no extension
/// (zero padding or foreign trailing data, not read).
///
/// # Errors
/// `FileFormat` naming the HDU and the card for a header that cannot be
/// trusted, and `truncated` when its data run past the end of the file.
pub fn scan(buf: &[u8]) -> CoreResult<(Vec<Hdu>, usize)> {
    if buf.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    let mut hdus = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        if !hdus.is_empty() && !buf[pos..].starts_with(b"XTENSION") {
            return Ok((hdus, buf.len() - pos));
        }
        let hdu = hdu_at(buf, pos, hdus.len())?;
        pos = hdu.end.max(pos + BLOCK);
        hdus.push(hdu);
    }
    Ok((hdus, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> String {
        format!("{s:<80}")
    }

    fn header(cards: &[&str]) -> Vec<u8> {
        let mut h: String = cards.iter().map(|c| card(c)).collect();
        h.push_str(&card("END"));
        let mut b = h.into_bytes();
        b.resize(b.len().div_ceil(BLOCK) * BLOCK, b' ');
        b
    }

    fn image(extra: &[&str], data: usize) -> Vec<u8> {
        let mut cards = vec![
            "SIMPLE  =                    T",
            "BITPIX  =                   16",
        ];
        cards.extend_from_slice(extra);
        let mut b = header(&cards);
        b.resize(b.len() + data.div_ceil(BLOCK) * BLOCK, 0);
        b
    }

    #[test]
    fn a_primary_image_and_a_table_extension() {
        let mut b = image(
            &[
                "NAXIS   =                    2",
                "NAXIS1  =   3",
                "NAXIS2 = 5",
            ],
            30,
        );
        // NAXIS2 = 5 is not a value card ("= " must be in columns 9-10): missing
        assert!(scan(&b).is_err());
        b = image(
            &[
                "NAXIS   =                    2",
                "NAXIS1  =                    3",
                "NAXIS2  =                    5",
            ],
            30,
        );
        let start = b.len();
        b.extend(header(&[
            "XTENSION= 'BINTABLE'",
            "BITPIX  =                    8",
            "NAXIS   =                    2",
            "NAXIS1  =                   12",
            "NAXIS2  =                    2",
            "PCOUNT  =                    0",
            "GCOUNT  =                    1",
            "TFIELDS =                    1",
            "EXTNAME = 'It''s'              / a name",
        ]));
        b.resize(b.len() + BLOCK, 0);
        let (hdus, trailing) = scan(&b).unwrap();
        assert_eq!(trailing, 0);
        assert_eq!(hdus.len(), 2);
        assert_eq!((hdus[0].data_start, hdus[0].data_size), (BLOCK, 30));
        assert_eq!(hdus[0].naxes, vec![3, 5]);
        assert_eq!(hdus[1].header_start, start);
        assert_eq!(hdus[1].extname.as_deref(), Some("It's"));
        assert_eq!(
            (
                hdus[1].xtension.as_str(),
                hdus[1].data_size,
                hdus[1].tfields
            ),
            ("BINTABLE", 24, 1)
        );
    }

    fn err_of(extra: &[&str], data: usize) -> String {
        match scan(&image(extra, data)) {
            Err(CoreError::FileFormat(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn hostile_headers_name_the_card() {
        let n1 = "NAXIS   =                    1";
        assert!(
            err_of(&[n1, "NAXIS1  =                  -15"], 0).contains("NAXIS1 = -15 is negative")
        );
        assert!(err_of(&[n1, "NAXIS1  =           2000000000"], 0).contains("truncated"));
        assert!(err_of(&["NAXIS   =                   1000"], 0).contains("NAXIS = 1000"));
        assert!(err_of(&[n1, "NAXIS1  =                 1.5"], 0).contains("not an integer"));
        assert!(err_of(&[n1], 0).contains("NAXIS1 is missing"));
        assert!(err_of(
            &[
                "NAXIS   =                    0",
                "NAXIS   =                    0"
            ],
            0
        )
        .contains("appears twice"));
        let big1 = "NAXIS1  =  9223372036854775807";
        let big2 = "NAXIS2  =  9223372036854775807";
        let m = err_of(&["NAXIS   =                    2", big1, big2], 0);
        assert!(m.contains("overflows"), "{m}");
        let mut b = image(&["NAXIS   =                    0"], 0);
        b[80..160].copy_from_slice(card("BITPIX  =                   12").as_bytes());
        assert!(matches!(scan(&b), Err(CoreError::FileFormat(m)) if m.contains("BITPIX = 12")));
        // no END in the file
        let noend = card("SIMPLE  =                    T") + &card("COMMENT").repeat(35);
        assert!(
            matches!(scan(noend.as_bytes()), Err(CoreError::FileFormat(m)) if m.contains("END"))
        );
        assert!(
            matches!(scan(b"<html>"), Err(CoreError::FileFormat(m)) if m.contains("not a FITS"))
        );
        assert!(scan(b"").is_err());
    }

    #[test]
    fn extension_counts_are_checked() {
        let mut b = image(&["NAXIS   =                    0"], 0);
        b.extend(header(&[
            "XTENSION= 'BINTABLE'",
            "BITPIX  =                    8",
            "NAXIS   =                    2",
            "NAXIS1  =                    4",
            "NAXIS2  =                    1",
            "PCOUNT  =                   -1",
            "GCOUNT  =                    1",
        ]));
        assert!(matches!(scan(&b), Err(CoreError::FileFormat(m)) if m.contains("PCOUNT = -1")));
    }

    #[test]
    fn trailing_bytes_are_counted_not_read() {
        let mut b = image(&["NAXIS   =                    0"], 0);
        b.extend_from_slice(&[0u8; 100]);
        let (hdus, trailing) = scan(&b).unwrap();
        assert_eq!((hdus.len(), trailing), (1, 100));
    }

    #[test]
    fn damaged_headers_never_panic_and_stay_within_the_file() {
        let mut good = image(
            &[
                "NAXIS   =                    2",
                "NAXIS1  =                    3",
                "NAXIS2  =                    5",
            ],
            30,
        );
        good.extend(header(&[
            "XTENSION= 'BINTABLE'",
            "BITPIX  =                    8",
            "NAXIS   =                    2",
            "NAXIS1  =                   12",
            "NAXIS2  =                    2",
            "PCOUNT  =                    0",
            "GCOUNT  =                    1",
        ]));
        good.resize(good.len() + BLOCK, 0);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let digits = b"0123456789-+ '=.ET";
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..=(next() % 4) {
                let r = next();
                // damage the value columns of the first cards of either header
                let card = usize::try_from(r % 8).unwrap();
                let start = if r & 8 == 0 { 0 } else { 2 * BLOCK };
                let col = 8 + usize::try_from((r >> 8) % 24).unwrap();
                b[start + card * CARD + col] = digits[usize::try_from((r >> 16) % 18).unwrap()];
            }
            let cut = usize::try_from(next() % 64).unwrap();
            if cut < 8 {
                b.truncate(b.len() - cut * 500);
            }
            if let Ok((hdus, trailing)) = scan(&b) {
                for h in &hdus {
                    assert!(h.data_start + h.data_size <= b.len() && h.end <= b.len());
                }
                assert!(trailing <= b.len());
            }
        }
    }

    #[test]
    fn checksum_of_words_folds_carries() {
        assert_eq!(ones_sum(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]), 1);
        assert_eq!(ones_sum(&[0, 0, 0, 1, 0, 0, 0, 2]), 3);
        assert_eq!(ones_sum(&[0x80, 0, 0, 0, 0x80, 0, 0, 0]), 1);
        assert_eq!(ones_sum(&[]), 0);
        assert_eq!(ones_sum(&[0, 0, 1]), ones_sum(&[0, 0, 1, 0]));
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut out = vec![0; c.gzip_compress_bound(data.len())];
        let n = c.gzip_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn gzip_members_padding_wrong_isize_and_damage() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let b = vec![7u8; 300_000];
        // the first member larger than the last trailer's ISIZE: the buffer grows
        let mut big_first = gz(&b);
        big_first.extend(gz(&a[..10]));
        let mut want = b.clone();
        want.extend(&a[..10]);
        assert_eq!(inflate_gzip(&big_first).unwrap(), want);
        assert_eq!(inflate_gzip(&gz(&a)).unwrap(), a);
        let mut two = gz(&a);
        two.extend(gz(&b));
        two.extend([0u8; 10]);
        let mut both = a.clone();
        both.extend(&b);
        assert_eq!(inflate_gzip(&two).unwrap(), both);
        // an ISIZE that lies (too small, absurd) only costs retries
        for isize in [1u32, u32::MAX] {
            let mut lie = gz(&b);
            let n = lie.len();
            lie[n - 4..].copy_from_slice(&isize.to_le_bytes());
            // libdeflate checks ISIZE: a lying trailer is damage
            assert!(
                matches!(inflate_gzip(&lie), Err(CoreError::FileFormat(m)) if m.contains("corrupt"))
            );
        }
        let mut cut = gz(&a);
        cut.truncate(cut.len() / 2);
        assert!(inflate_gzip(&cut).is_err());
        let mut junk = gz(&a);
        junk.extend(b"junk");
        assert!(
            matches!(inflate_gzip(&junk), Err(CoreError::FileFormat(m)) if m.contains("not another"))
        );
        assert!(inflate_gzip(b"\x1f\x8b\0\0\0").is_err());
        assert!(inflate_gzip(b"plain").is_err());
        assert_eq!(inflate_gzip(&gz(b"")).unwrap(), b"");
    }
}
