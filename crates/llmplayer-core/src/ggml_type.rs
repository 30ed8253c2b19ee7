//! The one table of ggml tensor types: id, name, elements per block, bytes per block.
//!
//! Ids and sizes follow ggml.h / ggml.c (llama.cpp de3ff815). Ids that ggml has retired
//! (4, 5, 31–33, 36–38) are deliberately absent: GGUF files carrying them are rejected.

/// A ggml tensor element type as stored in GGUF tensor infos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
    NVFP4,
    Q1_0,
    Q2_0,
}

/// Static facts about one type (a row of [`TYPE_TABLE`]).
#[derive(Clone, Copy, Debug)]
pub struct TypeInfo {
    pub ty: GgmlType,
    pub id: u32,
    pub name: &'static str,
    /// Elements per block.
    pub block_size: u32,
    /// Bytes per block (ggml's `type_size`).
    pub type_size: u32,
}

macro_rules! table {
    ($($ty:ident = $id:literal, $name:literal, $blk:literal, $bytes:literal;)*) => {
        /// Every type ggml can store in a GGUF file, ordered by id.
        pub const TYPE_TABLE: &[TypeInfo] = &[
            $(TypeInfo { ty: GgmlType::$ty, id: $id, name: $name, block_size: $blk, type_size: $bytes },)*
        ];
        impl GgmlType {
            /// The table row for this type.
            pub const fn info(self) -> &'static TypeInfo {
                // The enum and the table are generated from one list, in the same order.
                &TYPE_TABLE[self as usize]
            }
        }
    };
}

table! {
    F32 = 0, "F32", 1, 4;
    F16 = 1, "F16", 1, 2;
    Q4_0 = 2, "Q4_0", 32, 18;
    Q4_1 = 3, "Q4_1", 32, 20;
    Q5_0 = 6, "Q5_0", 32, 22;
    Q5_1 = 7, "Q5_1", 32, 24;
    Q8_0 = 8, "Q8_0", 32, 34;
    Q8_1 = 9, "Q8_1", 32, 36;
    Q2_K = 10, "Q2_K", 256, 84;
    Q3_K = 11, "Q3_K", 256, 110;
    Q4_K = 12, "Q4_K", 256, 144;
    Q5_K = 13, "Q5_K", 256, 176;
    Q6_K = 14, "Q6_K", 256, 210;
    Q8_K = 15, "Q8_K", 256, 292;
    IQ2_XXS = 16, "IQ2_XXS", 256, 66;
    IQ2_XS = 17, "IQ2_XS", 256, 74;
    IQ3_XXS = 18, "IQ3_XXS", 256, 98;
    IQ1_S = 19, "IQ1_S", 256, 50;
    IQ4_NL = 20, "IQ4_NL", 32, 18;
    IQ3_S = 21, "IQ3_S", 256, 110;
    IQ2_S = 22, "IQ2_S", 256, 82;
    IQ4_XS = 23, "IQ4_XS", 256, 136;
    I8 = 24, "I8", 1, 1;
    I16 = 25, "I16", 1, 2;
    I32 = 26, "I32", 1, 4;
    I64 = 27, "I64", 1, 8;
    F64 = 28, "F64", 1, 8;
    IQ1_M = 29, "IQ1_M", 256, 56;
    BF16 = 30, "BF16", 1, 2;
    TQ1_0 = 34, "TQ1_0", 256, 54;
    TQ2_0 = 35, "TQ2_0", 256, 66;
    MXFP4 = 39, "MXFP4", 32, 17;
    NVFP4 = 40, "NVFP4", 64, 36;
    Q1_0 = 41, "Q1_0", 128, 18;
    Q2_0 = 42, "Q2_0", 64, 18;
}

impl GgmlType {
    /// Looks a type up by its GGUF id; `None` for unknown or retired ids.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TYPE_TABLE.iter().find(|t| t.id == id).map(|t| t.ty)
    }

    /// Looks a type up by its ggml name (`"Q4_K"`), case-insensitively.
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TYPE_TABLE.iter().find(|t| t.name.eq_ignore_ascii_case(name)).map(|t| t.ty)
    }

    pub fn id(self) -> u32 {
        self.info().id
    }
    pub fn name(self) -> &'static str {
        self.info().name
    }
    pub fn block_size(self) -> u32 {
        self.info().block_size
    }
    pub fn type_size(self) -> u32 {
        self.info().type_size
    }

    /// Bytes taken by `n` elements, or `None` when `n` is not a whole number of blocks
    /// or the size overflows.
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        let blk = self.block_size() as u64;
        if n % blk != 0 {
            return None;
        }
        (n / blk).checked_mul(self.type_size() as u64)
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_and_self_consistent() {
        for (i, row) in TYPE_TABLE.iter().enumerate() {
            assert_eq!(row.ty as usize, i, "{} out of order", row.name);
            assert_eq!(GgmlType::from_id(row.id), Some(row.ty));
            assert_eq!(GgmlType::from_name(row.name), Some(row.ty));
        }
        for retired in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000] {
            assert_eq!(GgmlType::from_id(retired), None);
        }
    }
}
