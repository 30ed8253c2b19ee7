//! Hand-written matchers for the pre-tokenizer regexes that nearly every BPE model
//! uses (GPT-2 and the Llama-3 / Qwen2 / Qwen3.5 family).
//!
//! They follow llama.cpp's `unicode_regex_split_custom_*` step for step, including its
//! departures from true regex semantics (e.g. a whitespace run at the very end of a
//! piece is kept whole), because the goldens are llama.cpp's output. A regex engine
//! with lookahead would also be several times slower on these patterns.
//!
//! Every splitter refines a list of piece lengths (in codepoints) over `cpts`.

use super::unicode::{flags, to_lower, CpFlags};

const OUT_OF_RANGE: u32 = u32::MAX;

/// One piece being cut into matches: codepoints `ini..end` of the fragment.
struct Piece<'a> {
    cpts: &'a [u32],
    end: usize,
    prev_end: usize,
    out: &'a mut Vec<usize>,
}

impl Piece<'_> {
    #[inline]
    fn cpt(&self, pos: usize) -> u32 {
        if pos < self.end {
            self.cpts[pos]
        } else {
            OUT_OF_RANGE
        }
    }

    /// Flags of the codepoint at `pos`; none at all past the end of the piece.
    #[inline]
    fn flags(&self, pos: usize) -> CpFlags {
        if pos < self.end {
            flags(self.cpts[pos])
        } else {
            CpFlags(0)
        }
    }

    /// Ends the current match at `end`; returns its length.
    #[inline]
    fn cut(&mut self, end: usize) -> usize {
        let len = end - self.prev_end;
        if len > 0 {
            self.out.push(len);
        }
        self.prev_end = end;
        len
    }
}

/// Calls `split_piece` on every piece of `lens`, collecting the new lengths.
fn for_each_piece(
    cpts: &[u32],
    lens: &[usize],
    out: &mut Vec<usize>,
    mut split_piece: impl FnMut(&mut Piece<'_>, usize),
) {
    out.clear();
    let mut start = 0;
    for &len in lens {
        let mut piece = Piece { cpts, end: start + len, prev_end: start, out: &mut *out };
        split_piece(&mut piece, start);
        start += len;
    }
}

/// Counts the whitespace run at `pos`; also returns the end of its last CR/LF (0: none).
fn whitespace_run(p: &Piece<'_>, pos: usize) -> (usize, usize) {
    let mut n = 0;
    let mut last_newline_end = 0;
    while p.flags(pos + n).is_whitespace() {
        if matches!(p.cpt(pos + n), 0x0D | 0x0A) {
            last_newline_end = pos + n + 1;
        }
        n += 1;
    }
    (n, last_newline_end)
}

/// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
pub fn split_gpt2(cpts: &[u32], lens: &[usize], out: &mut Vec<usize>) {
    for_each_piece(cpts, lens, out, |p, ini| {
        let mut pos = ini;
        while pos < p.end {
            let cpt = p.cpt(pos);
            let fl = p.flags(pos);

            if cpt == '\'' as u32 && pos + 1 < p.end {
                let next = p.cpt(pos + 1);
                if [b's', b't', b'm', b'd'].iter().any(|&c| next == c as u32) {
                    pos += p.cut(pos + 2);
                    continue;
                }
                if pos + 2 < p.end {
                    let pair = (next, p.cpt(pos + 2));
                    if [(b'r', b'e'), (b'v', b'e'), (b'l', b'l')].iter().any(|&(a, b)| pair == (a as u32, b as u32)) {
                        pos += p.cut(pos + 3);
                        continue;
                    }
                }
            }

            let space = (cpt == ' ' as u32) as usize;
            let mut fl2 = if space == 1 { p.flags(pos + 1) } else { fl };
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one loop, three classes.
            let class: Option<fn(CpFlags) -> bool> = if fl2.is_letter() {
                Some(CpFlags::is_letter)
            } else if fl2.is_number() {
                Some(CpFlags::is_number)
            } else if !(fl2.is_whitespace() || fl2.is_letter() || fl2.is_number() || fl2.is_empty()) {
                Some(|f: CpFlags| !(f.is_whitespace() || f.is_letter() || f.is_number() || f.is_empty()))
            } else {
                None
            };
            if let Some(in_class) = class {
                pos += space;
                while in_class(fl2) {
                    pos += 1;
                    fl2 = p.flags(pos);
                }
                p.cut(pos);
                continue;
            }

            let (n_ws, _) = whitespace_run(p, pos);
            if n_ws > 1 && p.cpt(pos + n_ws) != OUT_OF_RANGE {
                // `\s+(?!\S)`: leave the last space to prefix the next word.
                pos += n_ws - 1;
                p.cut(pos);
            } else if n_ws > 0 {
                pos += n_ws;
                p.cut(pos);
            } else {
                pos += 1;
                p.cut(pos);
            }
        }
    });
}

/// The Llama-3 regex family:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// with `D = max_digits` (3 for Llama-3, 1 for Qwen2), and with combining marks counted
/// as letters when `marks_as_letters` (Qwen3.5: `[\p{L}\p{M}]+`).
pub fn split_llama3(cpts: &[u32], lens: &[usize], out: &mut Vec<usize>, max_digits: usize, marks_as_letters: bool) {
    let wordish = move |f: CpFlags| f.is_letter() || (marks_as_letters && f.is_accent_mark());
    for_each_piece(cpts, lens, out, |p, ini| {
        let mut pos = ini;
        while pos < p.end {
            let cpt = p.cpt(pos);
            let fl = p.flags(pos);

            if cpt == '\'' as u32 && pos + 1 < p.end {
                let next = to_lower(p.cpt(pos + 1));
                if [b's', b't', b'm', b'd'].iter().any(|&c| next == c as u32) {
                    pos += p.cut(pos + 2);
                    continue;
                }
                if pos + 2 < p.end {
                    let pair = (next, to_lower(p.cpt(pos + 2)));
                    if [(b'r', b'e'), (b'v', b'e'), (b'l', b'l')].iter().any(|&(a, b)| pair == (a as u32, b as u32)) {
                        pos += p.cut(pos + 3);
                        continue;
                    }
                }
            }

            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            let newline = cpt == 0x0D || cpt == 0x0A;
            if !(newline || fl.is_number()) && (wordish(fl) || wordish(p.flags(pos + 1))) {
                pos += 1;
                while wordish(p.flags(pos)) {
                    pos += 1;
                }
                p.cut(pos);
                continue;
            }

            // `\p{N}{1,D}`
            if fl.is_number() {
                let mut group_start = pos;
                while p.flags(pos).is_number() {
                    pos += 1;
                    if pos - group_start >= max_digits {
                        p.cut(pos);
                        group_start = pos;
                    }
                }
                p.cut(pos);
                continue;
            }

            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            let punct = |f: CpFlags| !(f.is_whitespace() || wordish(f) || f.is_number() || f.is_empty());
            let space = (cpt == ' ' as u32) as usize;
            let mut fl2 = if space == 1 { p.flags(pos + 1) } else { fl };
            // llama.cpp tests the current codepoint's flags for emptiness here, not fl2's.
            if !(fl2.is_whitespace() || wordish(fl2) || fl2.is_number() || fl.is_empty()) {
                pos += space;
                while punct(fl2) {
                    pos += 1;
                    fl2 = p.flags(pos);
                }
                while matches!(p.cpt(pos), 0x0D | 0x0A) {
                    pos += 1;
                }
                p.cut(pos);
                continue;
            }

            let (n_ws, last_newline_end) = whitespace_run(p, pos);
            if last_newline_end > 0 {
                // `\s*[\r\n]+`
                pos = last_newline_end;
            } else if n_ws > 1 && p.cpt(pos + n_ws) != OUT_OF_RANGE {
                // `\s+(?!\S)`
                pos += n_ws - 1;
            } else if n_ws > 0 {
                pos += n_ws;
            } else {
                pos += 1;
            }
            p.cut(pos);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, split: impl Fn(&[u32], &[usize], &mut Vec<usize>)) -> Vec<String> {
        let cpts: Vec<u32> = text.chars().map(|c| c as u32).collect();
        let mut out = Vec::new();
        split(&cpts, &[cpts.len()], &mut out);
        let mut at = 0;
        out.iter()
            .map(|&n| {
                at += n;
                cpts[at - n..at].iter().map(|&c| char::from_u32(c).unwrap()).collect()
            })
            .collect()
    }

    #[test]
    fn gpt2_pieces() {
        let got = pieces("Hello  world's 123!!\n\n x ", split_gpt2);
        assert_eq!(got, ["Hello", " ", " world", "'s", " 123", "!!", "\n\n", " x", " "]);
    }

    #[test]
    fn llama3_pieces() {
        let split = |c: &[u32], l: &[usize], o: &mut Vec<usize>| split_llama3(c, l, o, 3, false);
        let got = pieces("Hello WORLD'S 12345 ...\n\n  x", split);
        assert_eq!(got, ["Hello", " WORLD", "'S", " ", "123", "45", " ...\n\n", " ", " x"]);
    }

    #[test]
    fn qwen2_digits_are_single() {
        let split = |c: &[u32], l: &[usize], o: &mut Vec<usize>| split_llama3(c, l, o, 1, false);
        assert_eq!(pieces("a 123", split), ["a", " ", "1", "2", "3"]);
    }
}
