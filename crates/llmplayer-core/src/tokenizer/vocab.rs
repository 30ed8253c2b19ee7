//! The vocabulary shared by every tokenizer kind: token texts, types, scores, special
//! ids and the flags llama.cpp derives from GGUF metadata (`llama_vocab::impl::load`),
//! including its text-based fix-ups (EOG detection, forced CONTROL types, phi-3 RSTRIP).

use crate::gguf::{keys, GgufFile};

use super::lookup::{TextArena, TextIndex, TextKey};
use super::pretokenize::pre_spec;
use super::{ModelKind, TokenizerError};

/// Token attribute bits (llama.cpp's `llama_token_attr`).
pub mod attr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;

    /// From a GGUF `token_type` (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte; anything else is "undefined", no bit at all).
    pub fn from_token_type(t: i64) -> u16 {
        match t {
            1 => NORMAL,
            2 => UNKNOWN,
            3 => CONTROL,
            4 => USER_DEFINED,
            5 => UNUSED,
            6 => BYTE,
            _ => 0,
        }
    }
}

/// Special token ids (None: the vocabulary has none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

/// Behaviour switches resolved from the model kind, pre-tokenizer and GGUF keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct VocabFlags {
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_sep: bool,
    pub add_space_prefix: bool,
    pub clean_spaces: bool,
    pub ignore_merges: bool,
    pub lowercase: bool,
    pub strip_accents: bool,
}

#[derive(Clone, Debug)]
pub struct Vocab {
    pub kind: ModelKind,
    pub pre: String,
    pub texts: TextArena,
    pub index: TextIndex,
    attrs: Vec<u16>,
    scores: Vec<f32>,
    pub max_token_len: usize,
    pub ids: SpecialIds,
    pub flags: VocabFlags,
    /// Sorted ids that end generation.
    eog: Vec<u32>,
    /// CONTROL / USER_DEFINED / UNKNOWN tokens, longest text first: the order in which
    /// they are matched in input text.
    special_order: Vec<u32>,
}

/// Selects one field of [`SpecialIds`] (tables of keys and names map onto fields).
type IdSlot = fn(&mut SpecialIds) -> &mut Option<u32>;

// Token texts llama.cpp recognises by name (llama-vocab.cpp, `load`), in the order we
// prefer them when several exist (llama.cpp takes whichever its hash map yields first;
// the fixtures' choices agree with this order).
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

impl Vocab {
    pub fn from_gguf(f: &GgufFile<'_>) -> Result<Vocab, TokenizerError> {
        let model = f.get_str(keys::TOKENIZER_MODEL).ok_or(TokenizerError::MissingKey(keys::TOKENIZER_MODEL))?;
        let pre = f.get_str(keys::TOKENIZER_PRE).unwrap_or("").to_string();
        let mut flags = VocabFlags::default();
        let mut ids = SpecialIds::default();
        let kind = match model {
            "llama" => {
                (ids.bos, ids.eos, ids.unk) = (Some(1), Some(2), Some(0));
                (flags.add_space_prefix, flags.add_bos) = (true, true);
                ModelKind::Spm
            }
            "bert" => {
                (ids.bos, ids.unk, ids.sep, ids.pad, ids.mask) = (Some(101), Some(100), Some(102), Some(0), Some(103));
                (flags.clean_spaces, flags.add_bos, flags.add_sep) = (true, true, true);
                ModelKind::Wpm
            }
            "gpt2" => {
                (ids.bos, ids.eos) = (Some(11), Some(11));
                let spec = pre_spec(&pre).ok_or_else(|| TokenizerError::UnsupportedPreTokenizer(pre.clone()))?;
                flags.clean_spaces = spec.clean_spaces;
                flags.ignore_merges = spec.ignore_merges;
                flags.add_bos = spec.add_bos;
                flags.add_sep = spec.add_sep;
                if spec.no_bos {
                    ids.bos = None;
                }
                ModelKind::Bpe
            }
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };
        if let Some(v) = f.get_bool(keys::TOKENIZER_ADD_SPACE_PREFIX) {
            flags.add_space_prefix = v;
        }

        let tokens = f.get_array(keys::TOKENIZER_TOKENS).ok_or(TokenizerError::MissingKey(keys::TOKENIZER_TOKENS))?;
        let n = tokens.len();
        // The arena addresses bytes with u32 offsets and ids are u32.
        let total: usize = tokens.strings().map(|t| if t.is_empty() { 20 } else { t.len() }).sum();
        if total > u32::MAX as usize || n >= u32::MAX as usize {
            return Err(TokenizerError::InvalidKey(keys::TOKENIZER_TOKENS));
        }
        let mut texts = TextArena::with_capacity(n, total);
        let mut max_token_len = 0;
        for (i, text) in tokens.strings().enumerate() {
            if text.is_empty() {
                // llama.cpp renames empty tokens so that they never match input text.
                texts.push(format!("[EMPTY_{i}]").as_bytes());
            } else {
                texts.push(text);
            }
            max_token_len = max_token_len.max(texts.get(i).len());
        }
        if texts.len() != n {
            return Err(TokenizerError::InvalidKey(keys::TOKENIZER_TOKENS));
        }
        let scores = match f.get_array(keys::TOKENIZER_SCORES) {
            Some(a) => {
                a.to_f32_vec().filter(|s| s.len() >= n).ok_or(TokenizerError::InvalidKey(keys::TOKENIZER_SCORES))?
            }
            None => Vec::new(),
        };
        let attrs = match f.get_array(keys::TOKENIZER_TOKEN_TYPE) {
            Some(a) => {
                let types = a.to_i64_vec().filter(|t| t.len() >= n);
                let types = types.ok_or(TokenizerError::InvalidKey(keys::TOKENIZER_TOKEN_TYPE))?;
                types[..n].iter().map(|&t| attr::from_token_type(t)).collect()
            }
            None => vec![attr::NORMAL; n],
        };
        let index = TextIndex::build(&texts);

        let mut vocab = Vocab {
            kind,
            pre,
            texts,
            index,
            attrs,
            scores,
            max_token_len,
            ids,
            flags,
            eog: Vec::new(),
            special_order: Vec::new(),
        };
        vocab.read_special_ids(f);
        vocab.detect_special_tokens();
        vocab.build_special_order();
        vocab.apply_model_attrs(f);
        Ok(vocab)
    }

    fn read_special_ids(&mut self, f: &GgufFile<'_>) {
        let n = self.n_tokens();
        let slots: [(&str, IdSlot); 17] = [
            (keys::TOKENIZER_BOS_ID, |i| &mut i.bos),
            (keys::TOKENIZER_EOS_ID, |i| &mut i.eos),
            (keys::TOKENIZER_EOT_ID, |i| &mut i.eot),
            (keys::TOKENIZER_EOM_ID, |i| &mut i.eom),
            (keys::TOKENIZER_UNK_ID, |i| &mut i.unk),
            (keys::TOKENIZER_SEP_ID, |i| &mut i.sep),
            (keys::TOKENIZER_PAD_ID, |i| &mut i.pad),
            (keys::TOKENIZER_MASK_ID, |i| &mut i.mask),
            (keys::TOKENIZER_FIM_PRE_ID, |i| &mut i.fim_pre),
            (keys::TOKENIZER_FIM_SUF_ID, |i| &mut i.fim_suf),
            (keys::TOKENIZER_FIM_MID_ID, |i| &mut i.fim_mid),
            (keys::TOKENIZER_FIM_PAD_ID, |i| &mut i.fim_pad),
            (keys::TOKENIZER_FIM_REP_ID, |i| &mut i.fim_rep),
            (keys::TOKENIZER_FIM_SEP_ID, |i| &mut i.fim_sep),
            (keys::TOKENIZER_PREFIX_ID, |i| &mut i.fim_pre),
            (keys::TOKENIZER_SUFFIX_ID, |i| &mut i.fim_suf),
            (keys::TOKENIZER_MIDDLE_ID, |i| &mut i.fim_mid),
        ];
        for (key, slot) in slots {
            let slot = slot(&mut self.ids);
            // A default outside the vocabulary is dropped; a stored id outside it is
            // ignored (the default stays), as llama.cpp does.
            if slot.is_some_and(|id| id as usize >= n) {
                *slot = None;
            }
            if let Some(id) = f.get_u32(key).filter(|&id| (id as usize) < n) {
                *slot = Some(id);
            }
        }
        let flags = &mut self.flags;
        flags.add_bos = f.get_bool(keys::TOKENIZER_ADD_BOS).unwrap_or(flags.add_bos);
        flags.add_eos = f.get_bool(keys::TOKENIZER_ADD_EOS).unwrap_or(flags.add_eos);
        flags.add_sep = f.get_bool(keys::TOKENIZER_ADD_SEP).unwrap_or(flags.add_sep);
        flags.lowercase = f.get_bool(keys::TOKENIZER_NORMALIZER_LOWERCASE).unwrap_or(true);
        flags.strip_accents = f.get_bool(keys::TOKENIZER_NORMALIZER_STRIP_ACCENTS).unwrap_or(flags.lowercase);
    }

    /// First of `texts` present in the vocabulary.
    fn find_first(&self, texts: &[&str]) -> Option<u32> {
        texts.iter().find_map(|t| self.token_id(t.as_bytes()))
    }

    fn force_control(&mut self, id: u32) {
        self.attrs[id as usize] |= attr::CONTROL;
    }

    /// llama.cpp's name-based detection of EOT/EOM/FIM and end-of-generation tokens.
    fn detect_special_tokens(&mut self) {
        let detections: [(IdSlot, &[&str]); 8] = [
            (|i| &mut i.eot, EOT_TEXTS),
            (|i| &mut i.eom, EOM_TEXTS),
            (|i| &mut i.fim_pre, FIM_PRE_TEXTS),
            (|i| &mut i.fim_suf, FIM_SUF_TEXTS),
            (|i| &mut i.fim_mid, FIM_MID_TEXTS),
            (|i| &mut i.fim_pad, FIM_PAD_TEXTS),
            (|i| &mut i.fim_rep, FIM_REP_TEXTS),
            (|i| &mut i.fim_sep, FIM_SEP_TEXTS),
        ];
        for (slot, texts) in detections {
            if slot(&mut self.ids).is_none() {
                if let Some(id) = self.find_first(texts) {
                    *slot(&mut self.ids) = Some(id);
                    self.force_control(id);
                }
            }
        }
        // Control tokens named "unused..." are unused.
        for id in 0..self.n_tokens() as u32 {
            let a = self.attrs[id as usize];
            if a & attr::CONTROL != 0 && self.text(id).windows(6).any(|w| w == b"unused") {
                self.attrs[id as usize] |= attr::UNUSED;
            }
        }

        let mut eog: Vec<u32> = [self.ids.fim_pad, self.ids.fim_rep, self.ids.fim_sep].into_iter().flatten().collect();
        for text in EOG_TEXTS {
            if let Some(id) = self.token_id(text.as_bytes()) {
                eog.push(id);
                self.force_control(id);
            }
        }
        // gpt-oss: these structural tokens are always rendered.
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(id) = self.token_id(text.as_bytes()) {
                self.attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend([self.ids.eos, self.ids.eot, self.ids.eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();
        let has = |vocab: &Vocab, eog: &[u32], t: &str| vocab.token_id(t.as_bytes()).filter(|id| eog.contains(id));
        // o200k_harmony / solar-open: `<|end|>` ends a message, not the generation (harmony
        // writes `analysis ... <|end|><|start|>assistant<|channel|>final ...` in one turn).
        // llama.cpp counts `<|call|>` and `<|calls|>` alike, so `<|return|>` with `<|calls|>`
        // also qualifies.
        if let Some(end) = has(self, &eog, "<|end|>") {
            let call = has(self, &eog, "<|call|>").is_some() || has(self, &eog, "<|calls|>").is_some();
            let harmony = call && has(self, &eog, "<|return|>").is_some();
            let solar = call && has(self, &eog, "<|flush|>").is_some();
            if harmony || solar {
                eog.retain(|&id| id != end);
                self.attrs[end as usize] = attr::USER_DEFINED;
            }
        }
        // gemma4 / paddleocr: `</s>` is an ordinary token there.
        if has(self, &eog, "<|tool_response>").is_some() {
            if let Some(s) = has(self, &eog, "</s>") {
                eog.retain(|&id| id != s);
                self.attrs[s as usize] = attr::NORMAL;
            }
        }
        self.eog = eog;
    }

    fn build_special_order(&mut self) {
        let special = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
        let mut order: Vec<u32> = (0..self.n_tokens() as u32).filter(|&id| self.attr(id) & special != 0).collect();
        // llama.cpp sorts by length only (unstable); ties keep id order here.
        order.sort_by_key(|&id| std::cmp::Reverse(self.text(id).len()));
        self.special_order = order;
    }

    /// Per-model attributes llama.cpp sets by model/tokenizer name.
    fn apply_model_attrs(&mut self, f: &GgufFile<'_>) {
        let name = f.get_str(keys::GENERAL_NAME).unwrap_or("").to_ascii_lowercase();
        let arch = f.architecture().unwrap_or("");
        let pre = self.pre.clone();
        let set = |vocab: &mut Vocab, text: &str, bit: u16, on: bool| {
            if let Some(id) = vocab.token_id(text.as_bytes()) {
                let a = &mut vocab.attrs[id as usize];
                *a = if on { *a | bit } else { *a & !bit };
            }
        };
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"].iter().any(|p| pre.contains(p))
            || ["nomic-bert-moe", "jina-bert-v3"].iter().any(|a| arch.contains(a))
        {
            set(self, "<mask>", attr::LSTRIP, true);
        } else if name.contains("phi-3") || name.contains("phi3") {
            for id in self.special_order.clone() {
                self.attrs[id as usize] |= attr::RSTRIP;
            }
            set(self, "</s>", attr::RSTRIP, true);
            for text in ["<unk>", "<s>", "<|endoftext|>"] {
                set(self, text, attr::RSTRIP, false);
            }
        } else if name.contains("modern-bert") {
            set(self, "[MASK]", attr::LSTRIP, true);
        }
    }

    pub fn n_tokens(&self) -> usize {
        self.texts.len()
    }

    #[inline]
    pub fn text(&self, id: u32) -> &[u8] {
        self.texts.get(id as usize)
    }

    #[inline]
    pub fn token_id(&self, text: &[u8]) -> Option<u32> {
        self.index.get(&self.texts, text)
    }

    /// [`Vocab::token_id`] with the key computed (and maybe prefetched) beforehand.
    #[inline]
    pub fn token_id_keyed(&self, text: &[u8], key: &TextKey) -> Option<u32> {
        self.index.get_keyed(&self.texts, text, key)
    }

    #[inline]
    pub fn prefetch_token(&self, key: &TextKey) {
        self.index.prefetch(key);
    }

    #[inline]
    pub fn attr(&self, id: u32) -> u16 {
        self.attrs[id as usize]
    }

    #[inline]
    pub fn score(&self, id: u32) -> f32 {
        self.scores.get(id as usize).copied().unwrap_or(0.0)
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    pub fn special_order(&self) -> &[u32] {
        &self.special_order
    }

    /// SPM byte fallback: the `<0xXX>` token of `b`, else the token that is `b` itself.
    pub fn byte_token_spm(&self, b: u8) -> Option<u32> {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let name = [b'<', b'0', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize], b'>'];
        self.token_id(&name).or_else(|| self.token_id(&[b]))
    }
}
