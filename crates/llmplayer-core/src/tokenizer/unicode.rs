//! Codepoint classification, case and accent folding, and the GPT-2 byte alphabet.
//!
//! The category tables are llama.cpp's (see `unicode_flags_data.rs`), not Rust's own
//! Unicode tables: pre-tokenizers must split text exactly where llama.cpp splits it,
//! and the two Unicode versions differ on rare codepoints.

use std::sync::OnceLock;

use super::unicode_case_data::{LOWERCASE, NFD_RANGES};
use super::unicode_flags_data::{RANGES_FLAGS, WHITESPACE};

/// Category bits of one codepoint, with llama.cpp's bit values (`unicode_cpt_flags`),
/// so that "no flags at all" (`0`, which llama.cpp uses for positions past the end of
/// a piece) behaves the same in the splitters.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct CpFlags(pub u16);

impl CpFlags {
    pub const UNDEFINED: u16 = 0x0001;
    pub const NUMBER: u16 = 0x0002;
    pub const LETTER: u16 = 0x0004;
    pub const ACCENT_MARK: u16 = 0x0010;
    pub const PUNCTUATION: u16 = 0x0020;
    pub const SYMBOL: u16 = 0x0040;
    pub const CONTROL: u16 = 0x0080;
    pub const CATEGORIES: u16 = 0x00FF;
    pub const WHITESPACE: u16 = 0x0100;

    #[inline]
    pub fn is_number(self) -> bool {
        self.0 & Self::NUMBER != 0
    }
    #[inline]
    pub fn is_letter(self) -> bool {
        self.0 & Self::LETTER != 0
    }
    #[inline]
    pub fn is_accent_mark(self) -> bool {
        self.0 & Self::ACCENT_MARK != 0
    }
    #[inline]
    pub fn is_punctuation(self) -> bool {
        self.0 & Self::PUNCTUATION != 0
    }
    #[inline]
    pub fn is_symbol(self) -> bool {
        self.0 & Self::SYMBOL != 0
    }
    #[inline]
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }
    #[inline]
    pub fn is_whitespace(self) -> bool {
        self.0 & Self::WHITESPACE != 0
    }
    #[inline]
    pub fn category(self) -> u16 {
        self.0 & Self::CATEGORIES
    }
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Flags of every BMP codepoint, expanded once from the range table: the splitters
/// query flags several times per character, and 128 KiB beats a binary search.
fn bmp_flags() -> &'static [u16] {
    static TABLE: OnceLock<Box<[u16]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![0u16; 0x10000];
        for w in RANGES_FLAGS.windows(2) {
            let (start, flags) = w[0];
            let end = w[1].0.min(0x10000);
            if start < end {
                table[start as usize..end as usize].fill(flags);
            }
        }
        for &cp in WHITESPACE.iter().filter(|&&cp| cp < 0x10000) {
            table[cp as usize] |= CpFlags::WHITESPACE;
        }
        table.into_boxed_slice()
    })
}

/// llama.cpp's flags of `cp` (`unicode_cpt_flags_from_cpt`).
#[inline]
pub fn flags(cp: u32) -> CpFlags {
    if cp < 0x10000 {
        return CpFlags(bmp_flags()[cp as usize]);
    }
    if cp >= 0x110000 {
        return CpFlags(CpFlags::UNDEFINED);
    }
    // Astral planes: no whitespace there, so the range table alone decides.
    let i = RANGES_FLAGS.partition_point(|&(start, _)| start <= cp);
    CpFlags(RANGES_FLAGS[i - 1].1)
}

/// Simple (one-to-one) lowercase mapping, as llama.cpp's `unicode_tolower`.
pub fn to_lower(cp: u32) -> u32 {
    if cp < 0x80 {
        return (cp as u8).to_ascii_lowercase() as u32;
    }
    match LOWERCASE.binary_search_by_key(&cp, |&(from, _)| from) {
        Ok(i) => LOWERCASE[i].1,
        Err(_) => cp,
    }
}

/// First codepoint of the NFD decomposition (llama.cpp's `unicode_cpts_normalize_nfd`
/// keeps only that one: the base letter without its combining accents).
pub fn nfd_base(cp: u32) -> u32 {
    if cp < 0xC0 {
        return cp;
    }
    let i = NFD_RANGES.partition_point(|&(first, _, _)| first <= cp);
    match i.checked_sub(1).map(|i| NFD_RANGES[i]) {
        Some((first, last, base)) if first <= cp && cp <= last => base,
        _ => cp,
    }
}

/// Length of the UTF-8 sequence that starts with `lead`, as llama.cpp's
/// `unicode_len_utf8` (a stray continuation byte counts as length 1).
#[inline]
pub fn utf8_len(lead: u8) -> usize {
    const LOOKUP: [u8; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(lead >> 4) as usize] as usize
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other
/// 68 bytes to U+0100.. in byte order.
pub fn byte_to_char(b: u8) -> char {
    byte_char_table().0[b as usize]
}

/// Inverse of [`byte_to_char`]; `None` for a char outside the alphabet.
pub fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    let (_, inverse) = byte_char_table();
    (cp < 0x144).then(|| inverse[cp as usize]).flatten()
}

fn byte_char_table() -> &'static ([char; 256], [Option<u8>; 0x144]) {
    static TABLE: OnceLock<([char; 256], [Option<u8>; 0x144])> = OnceLock::new();
    TABLE.get_or_init(|| {
        let printable = |b: u8| matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let mut forward = ['\0'; 256];
        let mut inverse = [None; 0x144];
        let mut next_extra = 0x100u32;
        for b in 0..=255u8 {
            let cp = if printable(b) {
                b as u32
            } else {
                next_extra += 1;
                next_extra - 1
            };
            forward[b as usize] = char::from_u32(cp).unwrap();
            inverse[cp as usize] = Some(b);
        }
        (forward, inverse)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_match_llama_cpp_classes() {
        assert!(flags('a' as u32).is_letter());
        assert!(flags('7' as u32).is_number());
        assert!(flags(' ' as u32).is_whitespace());
        assert!(flags('\n' as u32).is_whitespace() && flags('\n' as u32).is_control());
        assert!(flags(0x3000).is_whitespace());
        assert!(flags('!' as u32).is_punctuation());
        assert!(flags('$' as u32).is_symbol());
        assert!(flags(0x0301).is_accent_mark());
        assert!(flags(0x4E2D).is_letter()); // 中
        assert!(flags(0x1F999).is_symbol()); // 🦙
        assert!(flags(0x10FFFF).category() != 0);
    }

    #[test]
    fn case_and_accents() {
        assert_eq!(to_lower('Ä' as u32), 'ä' as u32);
        assert_eq!(to_lower('Ж' as u32), 'ж' as u32);
        assert_eq!(nfd_base('Ä' as u32), 'A' as u32);
        assert_eq!(nfd_base('ệ' as u32), 'e' as u32);
        assert_eq!(nfd_base('x' as u32), 'x' as u32);
    }

    #[test]
    fn gpt2_byte_alphabet_round_trips() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(0), 'Ā');
        assert_eq!(byte_to_char(b'!'), '!');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('中'), None);
    }
}
