//! Reader for MeCab's compiled dictionary files (`sys.dic`, `unk.dic`, `matrix.bin`, `char.bin`) as
//! installed by Debian's `open-jtalk-mecab-naist-jdic`. Mirrors the loaders in MeCab 0.996 as bundled by
//! Open JTalk 1.11 (`dictionary.cpp`, `connector.cpp`, `char_property.cpp`, `darts.h`); all integers are
//! little-endian, as written by `mecab-dict-index` on x86.

use std::path::Path;

use super::JaError;

/// `DictionaryMagicID` in `dictionary.cpp`: the first word XOR this equals the file size.
const DICTIONARY_MAGIC: u32 = 0xef71_8f77;
/// `DIC_VERSION` in `common.h`.
const DICTIONARY_VERSION: u32 = 102;
/// Header: ten `u32` words followed by a 32-byte charset name.
const HEADER_SIZE: usize = 40 + 32;
/// `sizeof(Token)`: lcAttr, rcAttr, posid (u16), wcost (i16), feature, compound (u32).
const TOKEN_SIZE: usize = 16;
/// `sizeof(unit_t)` of the double array: base (i32), check (u32).
const UNIT_SIZE: usize = 8;
/// `char.bin` holds one `CharInfo` word for each UCS-2 code point below 0xFFFF.
const CHAR_MAP_SIZE: usize = 0xffff;

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn corrupt(file: &Path, detail: &str) -> JaError {
    JaError::CorruptDictionary { file: file.display().to_string(), detail: detail.to_string() }
}

fn read_file(path: &Path) -> Result<Vec<u8>, JaError> {
    std::fs::read(path)
        .map_err(|err| JaError::DictionaryIo { file: path.display().to_string(), detail: err.to_string() })
}

/// One dictionary entry (`struct Token` in `dictionary.h`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub left_id: u16,
    pub right_id: u16,
    pub cost: i16,
    /// Byte offset of the NUL-terminated feature string in the feature area.
    pub feature: u32,
}

/// A compiled MeCab dictionary (`sys.dic` or `unk.dic`): double-array trie, tokens, feature strings.
/// The file is kept as read and decoded on access, like MeCab's memory map.
pub(super) struct CompiledDictionary {
    bytes: Vec<u8>,
    units: std::ops::Range<usize>,
    tokens: std::ops::Range<usize>,
    features: std::ops::Range<usize>,
}

impl CompiledDictionary {
    pub(super) fn open(path: &Path) -> Result<Self, JaError> {
        let bytes = read_file(path)?;
        Self::parse(bytes).ok_or_else(|| corrupt(path, "bad header or section sizes"))
    }

    fn parse(bytes: Vec<u8>) -> Option<Self> {
        let word = |index: usize| read_u32(&bytes, index * 4);
        if (word(0)? ^ DICTIONARY_MAGIC) as usize != bytes.len() || word(1)? != DICTIONARY_VERSION {
            return None;
        }
        let (da_size, token_size, feature_size) = (word(6)? as usize, word(7)? as usize, word(8)? as usize);
        let da_end = HEADER_SIZE.checked_add(da_size)?;
        let token_end = da_end.checked_add(token_size)?;
        if token_end.checked_add(feature_size)? != bytes.len()
            || da_size % UNIT_SIZE != 0
            || token_size % TOKEN_SIZE != 0
        {
            return None;
        }
        Some(Self { units: HEADER_SIZE..da_end, tokens: da_end..token_end, features: token_end..bytes.len(), bytes })
    }

    /// Double-array unit `index` as (base, check); out of range reads as a unit that matches nothing.
    fn unit(&self, index: usize) -> (i32, u32) {
        let at = index.checked_mul(UNIT_SIZE).and_then(|offset| offset.checked_add(self.units.start));
        let read = |at: usize| -> Option<(i32, u32)> {
            if at + UNIT_SIZE > self.units.end {
                return None;
            }
            Some((read_u32(&self.bytes, at)? as i32, read_u32(&self.bytes, at + 4)?))
        };
        at.and_then(read).unwrap_or((0, u32::MAX))
    }

    fn token(&self, index: usize) -> Option<Token> {
        let at = self.tokens.start.checked_add(index.checked_mul(TOKEN_SIZE)?)?;
        if at + TOKEN_SIZE > self.tokens.end {
            return None;
        }
        Some(Token {
            left_id: read_u16(&self.bytes, at)?,
            right_id: read_u16(&self.bytes, at + 2)?,
            cost: read_u16(&self.bytes, at + 6)? as i16,
            feature: read_u32(&self.bytes, at + 8)?,
        })
    }

    /// Decodes a trie value into the tokens it points at (`token()` / `token_size()` in `dictionary.h`).
    fn tokens_of(&self, value: i32) -> Vec<Token> {
        let start = (value as u32 >> 8) as usize;
        let count = (value as u32 & 0xff) as usize;
        (start..start + count).filter_map(|index| self.token(index)).collect()
    }

    /// The trie value stored at `base` when a key ends there (a negative leaf), else `None`.
    fn leaf_value(&self, base: i32) -> Option<i32> {
        let (value, check) = self.unit(base as u32 as usize);
        (base as u32 == check && value < 0).then_some(-value - 1)
    }

    /// One transition of the double array: the base after `byte`, or `None` when no key continues.
    fn step(&self, base: i32, byte: u8) -> Option<i32> {
        let next = (base as u32 as usize).wrapping_add(byte as usize + 1);
        let (next_base, next_check) = self.unit(next);
        (base as u32 == next_check).then_some(next_base)
    }

    /// Mirrors `DoubleArrayImpl::commonPrefixSearch`: every dictionary key that is a prefix of `key`,
    /// shortest first, as (byte length, tokens).
    pub(super) fn common_prefix_search(&self, key: &[u8]) -> Vec<(usize, Vec<Token>)> {
        let mut found = Vec::new();
        let mut base = self.unit(0).0;
        for (depth, &byte) in key.iter().enumerate() {
            if let Some(value) = self.leaf_value(base) {
                found.push((depth, self.tokens_of(value)));
            }
            match self.step(base, byte) {
                Some(next) => base = next,
                None => return found,
            }
        }
        if let Some(value) = self.leaf_value(base) {
            found.push((key.len(), self.tokens_of(value)));
        }
        found
    }

    /// Mirrors `DoubleArrayImpl::exactMatchSearch`.
    pub(super) fn exact_match(&self, key: &[u8]) -> Option<Vec<Token>> {
        let mut base = self.unit(0).0;
        for &byte in key {
            base = self.step(base, byte)?;
        }
        self.leaf_value(base).map(|value| self.tokens_of(value))
    }

    /// The feature CSV of a token (`Dictionary::feature`).
    pub(super) fn feature(&self, token: &Token) -> &str {
        let start = self.features.start.saturating_add(token.feature as usize).min(self.features.end);
        let tail = self.bytes.get(start..self.features.end).unwrap_or(&[]);
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        std::str::from_utf8(&tail[..end]).unwrap_or("")
    }
}

/// Connection costs (`matrix.bin`, `Connector`).
pub(super) struct ConnectionMatrix {
    left_size: usize,
    costs: Vec<i16>,
}

impl ConnectionMatrix {
    pub(super) fn open(path: &Path) -> Result<Self, JaError> {
        let bytes = read_file(path)?;
        let parse = || -> Option<Self> {
            let left_size = read_u16(&bytes, 0)? as usize;
            let right_size = read_u16(&bytes, 2)? as usize;
            let body = bytes.get(4..)?;
            if body.len() != left_size * right_size * 2 {
                return None;
            }
            let costs = body.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
            Some(Self { left_size, costs })
        };
        parse().ok_or_else(|| corrupt(path, "size does not match its dimensions"))
    }

    /// `Connector::cost` without the word cost: `matrix[left.rcAttr + lsize * right.lcAttr]`.
    pub(super) fn cost(&self, left_right_id: u16, right_left_id: u16) -> i32 {
        let index = left_right_id as usize + self.left_size * right_left_id as usize;
        self.costs.get(index).copied().map_or(0, i32::from)
    }
}

/// Character category bits of one code point (`struct CharInfo` in `char_property.h`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CharInfo {
    pub type_mask: u32,
    pub default_type: usize,
    pub length: usize,
    pub group: bool,
    pub invoke: bool,
}

impl CharInfo {
    fn from_bits(bits: u32) -> Self {
        Self {
            type_mask: bits & 0x3ffff,
            default_type: ((bits >> 18) & 0xff) as usize,
            length: ((bits >> 26) & 0xf) as usize,
            group: (bits >> 30) & 1 == 1,
            invoke: bits >> 31 == 1,
        }
    }

    pub(super) fn is_kind_of(&self, other: &CharInfo) -> bool {
        self.type_mask & other.type_mask != 0
    }
}

/// Character categories (`char.bin`, `CharProperty`).
pub(super) struct CharProperty {
    pub category_names: Vec<String>,
    map: Vec<u32>,
}

impl CharProperty {
    pub(super) fn open(path: &Path) -> Result<Self, JaError> {
        let bytes = read_file(path)?;
        let parse = || -> Option<Self> {
            let count = read_u32(&bytes, 0)? as usize;
            let map_start = 4 + 32 * count;
            if bytes.len() != map_start + 4 * CHAR_MAP_SIZE {
                return None;
            }
            let category_names = (0..count)
                .map(|i| {
                    let raw = bytes.get(4 + 32 * i..4 + 32 * (i + 1))?;
                    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
                })
                .collect::<Option<Vec<_>>>()?;
            let map =
                bytes.get(map_start..)?.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            Some(Self { category_names, map })
        };
        parse().ok_or_else(|| corrupt(path, "size does not match its category count"))
    }

    /// `CharProperty::getCharInfo` with MeCab's `utf8_to_ucs2`: returns the info and the byte length of the
    /// character at the start of `text` (code points outside the BMP and malformed bytes map to U+0000).
    pub(super) fn char_info(&self, text: &[u8]) -> (CharInfo, usize) {
        let (code, length) = utf8_to_ucs2(text);
        (self.info_of(code), length)
    }

    pub(super) fn info_of(&self, code: usize) -> CharInfo {
        CharInfo::from_bits(self.map.get(code).copied().unwrap_or(0))
    }
}

/// Mirrors `utf8_to_ucs2` in MeCab's `ucs.h`; at the end of input it reads the terminating NUL.
fn utf8_to_ucs2(text: &[u8]) -> (usize, usize) {
    let byte = |i: usize| text.get(i).copied().unwrap_or(0) as usize;
    let lead = byte(0);
    let len = text.len();
    if lead < 0x80 {
        (lead, 1)
    } else if len >= 2 && lead & 0xe0 == 0xc0 {
        (((lead & 0x1f) << 6) | (byte(1) & 0x3f), 2)
    } else if len >= 3 && lead & 0xf0 == 0xe0 {
        (((lead & 0x0f) << 12) | ((byte(1) & 0x3f) << 6) | (byte(2) & 0x3f), 3)
    } else if len >= 4 && lead & 0xf8 == 0xf0 {
        (0, 4)
    } else if len >= 5 && lead & 0xfc == 0xf8 {
        (0, 5)
    } else if len >= 6 && lead & 0xfe == 0xfc {
        (0, 6)
    } else {
        (0, 1)
    }
}
