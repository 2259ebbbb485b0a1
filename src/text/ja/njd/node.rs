//! One word of Open JTalk's NJD structure (`njd_node.c`). Text fields use the empty string for C's NULL;
//! the getters return `"*"` for it, as `NJDNode_get_*` do.

/// Mirrors `NJDNode` (without its list links, which live in [`super::Njd`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NjdNode {
    string: String,
    pos: String,
    pos_group1: String,
    pos_group2: String,
    pos_group3: String,
    ctype: String,
    cform: String,
    orig: String,
    read: String,
    pron: String,
    acc: i32,
    mora_size: i32,
    chain_rule: String,
    chain_flag: i32,
}

fn or_star(value: &str) -> &str {
    if value.is_empty() {
        "*"
    } else {
        value
    }
}

/// C `atoi`: optional sign and leading decimal digits, 0 when there are none.
pub(crate) fn atoi(text: &str) -> i32 {
    let trimmed = text.trim_start();
    let (sign, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (-1, &trimmed[1..]),
        Some(b'+') => (1, &trimmed[1..]),
        _ => (1, trimmed),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |acc, d| (acc * 10 + i64::from(d - b'0')).min(i64::from(i32::MAX) + 1));
    (sign * value).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `get_token_from_string` of `njd_node.c`: the text up to `delimiter` (or the end) from `*index`.
fn next_token<'a>(text: &'a str, index: &mut usize, delimiter: char) -> &'a str {
    let rest = text.get(*index..).unwrap_or("");
    match rest.find(delimiter) {
        Some(at) => {
            *index += at + delimiter.len_utf8();
            &rest[..at]
        }
        None => {
            *index += rest.len();
            rest
        }
    }
}

/// Splits an accent field part `acc/mora` (read up to `/`, then up to `:`).
fn accent_and_mora(accent: &str, index: &mut usize) -> (i32, i32) {
    let acc = atoi(next_token(accent, index, '/'));
    let mora = atoi(next_token(accent, index, ':'));
    (acc, mora)
}

impl Default for NjdNode {
    fn default() -> Self {
        Self {
            string: String::new(),
            pos: String::new(),
            pos_group1: String::new(),
            pos_group2: String::new(),
            pos_group3: String::new(),
            ctype: String::new(),
            cform: String::new(),
            orig: String::new(),
            read: String::new(),
            pron: String::new(),
            acc: 0,
            mora_size: 0,
            chain_rule: String::new(),
            chain_flag: -1,
        }
    }
}

impl NjdNode {
    /// `NJDNode_load` on a fresh node: a MeCab line `surface,pos,...` becomes one node, or several when
    /// the dictionary entry is a chained word (`acc/mora:acc/mora` with `:`-separated readings).
    pub(crate) fn from_feature(line: &str) -> Vec<NjdNode> {
        let mut first = NjdNode::default();
        let mut chained = first.load(line);
        chained.insert(0, first);
        chained
    }

    /// `NJDNode_load` onto this node; returns the further nodes of a chained word (none for the
    /// single-word features that Open JTalk's digit rules load).
    pub(crate) fn load(&mut self, line: &str) -> Vec<NjdNode> {
        let mut index = 0;
        let string = next_token(line, &mut index, ',').to_string();
        self.pos = next_token(line, &mut index, ',').to_string();
        self.pos_group1 = next_token(line, &mut index, ',').to_string();
        self.pos_group2 = next_token(line, &mut index, ',').to_string();
        self.pos_group3 = next_token(line, &mut index, ',').to_string();
        self.ctype = next_token(line, &mut index, ',').to_string();
        self.cform = next_token(line, &mut index, ',').to_string();
        let orig = next_token(line, &mut index, ',');
        let read = next_token(line, &mut index, ',');
        let pron = next_token(line, &mut index, ',');
        let accent = next_token(line, &mut index, ',');
        self.chain_rule = next_token(line, &mut index, ',').to_string();
        match next_token(line, &mut index, ',') {
            "1" => self.chain_flag = 1,
            "0" => self.chain_flag = 0,
            _ => {}
        }
        let parts = accent.matches('/').count();
        if accent.contains('*') || parts == 0 {
            self.string = string;
            self.orig = orig.to_string();
            self.read = read.to_string();
            self.pron = pron.to_string();
            self.acc = 0;
            self.mora_size = 0;
            return Vec::new();
        }
        let (mut at_orig, mut at_read, mut at_pron, mut at_accent, mut at_string) = (0, 0, 0, 0, 0);
        let mut extra: Vec<NjdNode> = Vec::new();
        for part in 0..parts {
            let mut node = if part == 0 {
                std::mem::take(self)
            } else {
                let mut copy = extra.last().cloned().unwrap_or_default();
                copy.chain_flag = 0;
                copy
            };
            let orig_part = next_token(orig, &mut at_orig, ':');
            node.orig = orig_part.to_string();
            if part + 1 < parts {
                node.string = orig_part.to_string();
                at_string += orig_part.len();
            } else {
                node.string = String::from_utf8_lossy(string.as_bytes().get(at_string..).unwrap_or(&[])).into_owned();
            }
            node.read = next_token(read, &mut at_read, ':').to_string();
            node.pron = next_token(pron, &mut at_pron, ':').to_string();
            let (acc, mora) = accent_and_mora(accent, &mut at_accent);
            node.set_acc(acc);
            node.set_mora_size(mora);
            extra.push(node);
        }
        let mut nodes = extra.into_iter();
        if let Some(first) = nodes.next() {
            *self = first;
        }
        nodes.collect()
    }

    pub(crate) fn string(&self) -> &str {
        or_star(&self.string)
    }
    pub(crate) fn pos(&self) -> &str {
        or_star(&self.pos)
    }
    pub(crate) fn pos_group1(&self) -> &str {
        or_star(&self.pos_group1)
    }
    pub(crate) fn pos_group2(&self) -> &str {
        or_star(&self.pos_group2)
    }
    pub(crate) fn pos_group3(&self) -> &str {
        or_star(&self.pos_group3)
    }
    pub(crate) fn cform(&self) -> &str {
        or_star(&self.cform)
    }
    pub(crate) fn orig(&self) -> &str {
        or_star(&self.orig)
    }
    pub(crate) fn read(&self) -> &str {
        or_star(&self.read)
    }
    pub(crate) fn pron(&self) -> &str {
        or_star(&self.pron)
    }
    pub(crate) fn acc(&self) -> i32 {
        self.acc
    }
    pub(crate) fn mora_size(&self) -> i32 {
        self.mora_size
    }
    pub(crate) fn chain_rule(&self) -> &str {
        or_star(&self.chain_rule)
    }
    pub(crate) fn chain_flag(&self) -> i32 {
        self.chain_flag
    }

    pub(crate) fn set_string(&mut self, value: &str) {
        self.string = value.to_string();
    }
    pub(crate) fn set_pos(&mut self, value: &str) {
        self.pos = value.to_string();
    }
    /// Clears the three POS sub-groups (`NJDNode_set_pos_group{1,2,3}(node, NULL)`).
    pub(crate) fn clear_pos_groups(&mut self) {
        self.pos_group1.clear();
        self.pos_group2.clear();
        self.pos_group3.clear();
    }
    pub(crate) fn set_orig(&mut self, value: &str) {
        self.orig = value.to_string();
    }
    pub(crate) fn set_read(&mut self, value: &str) {
        self.read = value.to_string();
    }
    pub(crate) fn set_pron(&mut self, value: &str) {
        self.pron = value.to_string();
    }
    /// `NJDNode_set_acc`: negative values become 0.
    pub(crate) fn set_acc(&mut self, acc: i32) {
        self.acc = acc.max(0);
    }
    /// `NJDNode_set_mora_size`: negative values become 0.
    pub(crate) fn set_mora_size(&mut self, size: i32) {
        self.mora_size = size.max(0);
    }
    pub(crate) fn set_chain_rule(&mut self, value: &str) {
        self.chain_rule = value.to_string();
    }
    pub(crate) fn set_chain_flag(&mut self, flag: i32) {
        self.chain_flag = flag;
    }

    pub(crate) fn add_string(&mut self, value: &str) {
        self.string.push_str(value);
    }
    pub(crate) fn add_orig(&mut self, value: &str) {
        self.orig.push_str(value);
    }
    pub(crate) fn add_read(&mut self, value: &str) {
        self.read.push_str(value);
    }
    pub(crate) fn add_pron(&mut self, value: &str) {
        self.pron.push_str(value);
    }
    /// `NJDNode_add_mora_size`: a negative sum becomes 0.
    pub(crate) fn add_mora_size(&mut self, size: i32) {
        self.mora_size = self.mora_size.saturating_add(size).max(0);
    }
}

#[cfg(test)]
mod tests {
    use super::{atoi, NjdNode};

    #[test]
    fn atoi_matches_c() {
        assert_eq!(atoi("12/3"), 12);
        assert_eq!(atoi("-4"), -4);
        assert_eq!(atoi("*"), 0);
        assert_eq!(atoi(""), 0);
    }

    #[test]
    fn loads_a_single_word() {
        let nodes = NjdNode::from_feature("今日,名詞,副詞可能,*,*,*,*,今日,キョウ,キョー,1/2,C3");
        assert_eq!(nodes.len(), 1);
        assert_eq!(
            (nodes[0].string(), nodes[0].pron(), nodes[0].acc(), nodes[0].mora_size()),
            ("今日", "キョー", 1, 2)
        );
        assert_eq!((nodes[0].chain_rule(), nodes[0].chain_flag()), ("C3", -1));
    }

    #[test]
    fn splits_a_chained_word() {
        let nodes = NjdNode::from_feature("明日は,名詞,一般,*,*,*,*,明日:は,アシタ:ハ,アシタ:ワ,3/3:0/1,C1,1");
        assert_eq!(nodes.len(), 2);
        assert_eq!(
            (nodes[0].string(), nodes[0].pron(), nodes[0].acc(), nodes[0].chain_flag()),
            ("明日", "アシタ", 3, 1)
        );
        assert_eq!(
            (nodes[1].string(), nodes[1].pron(), nodes[1].mora_size(), nodes[1].chain_flag()),
            ("は", "ワ", 1, 0)
        );
    }

    #[test]
    fn symbols_keep_zero_moras() {
        let nodes = NjdNode::from_feature("、,記号,読点,*,*,*,*,、,、,、,*/*,*");
        assert_eq!((nodes[0].pron(), nodes[0].mora_size()), ("、", 0));
    }
}
