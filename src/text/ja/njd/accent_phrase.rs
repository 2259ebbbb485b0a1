//! Mirrors Open JTalk's `njd_set_accent_phrase`: decides, for every word whose dictionary left the
//! chain flag unset (-1), whether it joins the previous word's accent phrase (1) or starts one (0).

use super::node::NjdNode;
use super::Njd;

const NOUN: &str = "名詞";
const ADJECTIVE: &str = "形容詞";
const VERB: &str = "動詞";
const ADVERB: &str = "副詞";
const CONJUNCTION: &str = "接続詞";
const ADNOMINAL: &str = "連体詞";
const AUXILIARY_VERB: &str = "助動詞";
const PARTICLE: &str = "助詞";
const SYMBOL: &str = "記号";
const ADJECTIVAL_NOUN_STEM: &str = "形容動詞語幹";
const ADVERBIAL: &str = "副詞可能";
const SUFFIX: &str = "接尾";
const DEPENDENT: &str = "非自立";
const CONTINUATIVE: &str = "連用";
const CONJUNCTIVE_PARTICLE: &str = "接続助詞";
const SAHEN_NOUN: &str = "サ変接続";
const PREFIX: &str = "接頭詞";
const SURNAME: &str = "姓";
const GIVEN_NAME: &str = "名";

/// Rules 01–18 of `njd_set_accent_phrase`, applied in order (later rules override earlier ones).
fn chain_flag(prev: &NjdNode, node: &NjdNode) -> i32 {
    let mut flag = 1;
    let (pp, p) = (prev.pos(), node.pos());
    if pp == ADJECTIVE && p == NOUN {
        flag = 0;
    }
    if pp == NOUN && prev.pos_group1() == ADJECTIVAL_NOUN_STEM && p == NOUN {
        flag = 0;
    }
    if pp == VERB && (p == ADJECTIVE || p == NOUN) {
        flag = 0;
    }
    let free = [ADVERB, CONJUNCTION, ADNOMINAL];
    if free.contains(&p) || free.contains(&pp) {
        flag = 0;
    }
    if (pp == NOUN && prev.pos_group1() == ADVERBIAL) || (p == NOUN && node.pos_group1() == ADVERBIAL) {
        flag = 0;
    }
    if p == AUXILIARY_VERB || p == PARTICLE {
        flag = 1;
    }
    if (pp == AUXILIARY_VERB || pp == PARTICLE) && p != AUXILIARY_VERB && p != PARTICLE {
        flag = 0;
    }
    if prev.pos_group1() == SUFFIX && p == NOUN {
        flag = 0;
    }
    let after_continuative = prev.cform().starts_with(CONTINUATIVE);
    if p == ADJECTIVE && node.pos_group1() == DEPENDENT {
        let joins = match pp {
            VERB | ADJECTIVE => after_continuative,
            PARTICLE => prev.pos_group1() == CONJUNCTIVE_PARTICLE && matches!(prev.string(), "て" | "で"),
            _ => false,
        };
        if joins {
            flag = 1;
        }
    }
    if p == VERB && node.pos_group1() == DEPENDENT {
        let joins = match pp {
            VERB => after_continuative,
            NOUN => prev.pos_group1() == SAHEN_NOUN,
            _ => false,
        };
        if joins {
            flag = 1;
        }
    }
    if pp == NOUN && (p == VERB || p == ADJECTIVE || node.pos_group1() == ADJECTIVAL_NOUN_STEM) {
        flag = 0;
    }
    if p == SYMBOL || pp == SYMBOL {
        flag = 0;
    }
    if p == PREFIX {
        flag = 0;
    }
    if prev.pos_group3() == SURNAME && p == NOUN {
        flag = 0;
    }
    if pp == NOUN && node.pos_group3() == GIVEN_NAME {
        flag = 0;
    }
    if node.pos_group1() == SUFFIX {
        flag = 1;
    }
    flag
}

pub(super) fn set_accent_phrase(njd: &mut Njd) {
    let ids = njd.ids();
    for pair in ids.windows(2) {
        let (prev, id) = (pair[0], pair[1]);
        if njd.node(id).chain_flag() < 0 {
            let flag = chain_flag(njd.node(prev), njd.node(id));
            njd.node_mut(id).set_chain_flag(flag);
        }
    }
}
