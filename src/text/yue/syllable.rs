//! Jyutping syllables as packed by ToJyutping 3.2.0 (`Jyutping.py`, the integer constructor).
//!
//! A syllable id is `onset * 402 + rhyme * 6 + (tone - 1)`; rhymes 0–53 are a nucleus × coda grid,
//! 54–66 a list of irregular rhymes.

/// Onsets in id order (ToJyutping's `onset`).
const ONSETS: [&str; 20] =
    ["", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "ng", "gw", "kw", "w", "h", "z", "c", "s", "j"];
/// Nuclei of the regular rhyme grid (ToJyutping's `nucleus`).
const NUCLEI: [&str; 6] = ["aa", "a", "e", "i", "o", "u"];
/// Codas of the regular rhyme grid (ToJyutping's `coda`).
const CODAS: [&str; 9] = ["", "i", "u", "m", "n", "ng", "p", "t", "k"];
/// Rhymes with ids 54 and up (ToJyutping's `rhyme`).
const IRREGULAR_RHYMES: [&str; 13] =
    ["oe", "oen", "oeng", "oet", "oek", "eoi", "eon", "eot", "yu", "yun", "yut", "m", "ng"];

const REGULAR_RHYMES: usize = NUCLEI.len() * CODAS.len();
const RHYMES: usize = REGULAR_RHYMES + IRREGULAR_RHYMES.len();
const TONES: usize = 6;

/// One Jyutping syllable; only constructible from a valid id, so rendering cannot go out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Syllable {
    onset: u8,
    rhyme: u8,
    tone: u8,
}

impl Syllable {
    /// Decodes a packed id; `None` for ids past the last onset (ToJyutping would raise there).
    pub(super) fn from_id(id: u32) -> Option<Self> {
        let id = usize::try_from(id).ok()?;
        let onset = id / (RHYMES * TONES);
        if onset >= ONSETS.len() {
            return None;
        }
        let rhyme = (id % (RHYMES * TONES)) / TONES;
        let tone = id % TONES;
        Some(Self {
            onset: u8::try_from(onset).ok()?,
            rhyme: u8::try_from(rhyme).ok()?,
            tone: u8::try_from(tone).ok()?,
        })
    }

    /// Appends the romanization, e.g. `ngaam1` (ToJyutping's `Jyutping.jyutping`).
    pub(super) fn push_to(self, out: &mut String) {
        out.push_str(ONSETS[usize::from(self.onset)]);
        let rhyme = usize::from(self.rhyme);
        if rhyme >= REGULAR_RHYMES {
            out.push_str(IRREGULAR_RHYMES[rhyme - REGULAR_RHYMES]);
        } else {
            out.push_str(NUCLEI[rhyme / CODAS.len()]);
            out.push_str(CODAS[rhyme % CODAS.len()]);
        }
        out.push(char::from(b'1' + self.tone));
    }
}

/// Space-joined romanization of a reading (ToJyutping's `JyutpingList.jyutping`).
pub(super) fn reading_text(reading: &[Syllable]) -> String {
    let mut out = String::new();
    for (index, syllable) in reading.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        syllable.push_to(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: u32) -> Option<String> {
        Syllable::from_id(id).map(|s| reading_text(&[s]))
    }

    #[test]
    fn decodes_regular_and_irregular_rhymes() {
        // ng (11) + aam (aa × m = 3) + tone 1
        assert_eq!(text(11 * 402 + 3 * 6).as_deref(), Some("ngaam1"));
        // k (10) + eoi (irregular #5 = 59) + tone 5
        assert_eq!(text(10 * 402 + 59 * 6 + 4).as_deref(), Some("keoi5"));
        // bare syllabic ng: onset "" + rhyme ng (66) + tone 5
        assert_eq!(text(66 * 6 + 4).as_deref(), Some("ng5"));
        assert_eq!(text(19 * 402 + 401).as_deref(), Some("jng6"));
        assert_eq!(text(20 * 402), None);
    }

    #[test]
    fn joins_multi_syllable_readings_with_spaces() {
        let reading: Vec<Syllable> = [18 * 402, 5].iter().filter_map(|&id| Syllable::from_id(id)).collect();
        assert_eq!(reading_text(&reading), "saa1 aa6");
    }
}
