//! Input conversion before MeCab: mirrors Open JTalk's `text2mecab` (ASCII and half-width katakana
//! become full-width, remaining ASCII control characters are dropped, everything else is copied).

use super::rules::text2mecab::CONV_LIST;

pub(super) fn text2mecab(input: &str) -> String {
    let mut output = String::with_capacity(input.len() * 3);
    let mut rest = input;
    while let Some(first) = rest.chars().next() {
        if let Some(pair) = CONV_LIST.chunks_exact(2).find(|pair| rest.starts_with(pair[0])) {
            output.push_str(pair[1]);
            rest = &rest[pair[0].len()..];
            continue;
        }
        if !first.is_ascii() {
            output.push(first);
        }
        rest = &rest[first.len_utf8()..];
    }
    output
}

#[cfg(test)]
mod tests {
    use super::text2mecab;

    #[test]
    fn converts_ascii_and_half_width_kana() {
        assert_eq!(text2mecab("ab1 ｶﾞｷﾞ\u{7}x~"), "ａｂ１　ガギｘ〜");
    }

    #[test]
    fn drops_standalone_half_width_voicing_marks() {
        assert_eq!(text2mecab("ﾞﾟ"), "");
    }
}
