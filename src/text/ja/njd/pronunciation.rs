//! Mirrors Open JTalk's `njd_set_pronunciation`: readings for words without one (kana read as
//! fillers, other symbols as a pause `、`), merging of consecutive kana fillers, and the `ウ` → `ー`
//! and `です？`/`ます？` adjustments.

use super::super::rules::pronunciation::LIST as KANA_LIST;
use super::Njd;

const FILLER: &str = "フィラー";
const SYMBOL: &str = "記号";
const PAUSE: &str = "、";
const QUESTION: &str = "？";

/// The longest-listed kana at the start of `text` (first match in list order), as (kana, pron, moras).
fn kana_at(text: &str) -> Option<(&'static str, &'static str, i32)> {
    KANA_LIST
        .chunks_exact(3)
        .find(|row| !row[0].is_empty() && text.starts_with(row[0]))
        .map(|row| (row[0], row[1], super::node::atoi(row[2])))
}

fn is_listed_kana(text: &str) -> bool {
    KANA_LIST.chunks_exact(3).any(|row| row[0] == text)
}

pub(super) fn set_pronunciation(njd: &mut Njd) {
    for id in njd.ids() {
        if njd.node(id).mora_size() != 0 {
            continue;
        }
        let node = njd.node_mut(id);
        node.set_read("");
        node.set_pron("");
        let string = node.string().to_string();
        let mut rest = string.as_str();
        while let Some(first) = rest.chars().next() {
            match kana_at(rest) {
                Some((kana, pron, moras)) => {
                    node.add_read(pron);
                    node.add_pron(pron);
                    node.add_mora_size(moras);
                    rest = &rest[kana.len()..];
                }
                None => rest = &rest[first.len_utf8()..],
            }
        }
        if node.mora_size() != 0 {
            node.set_pos(FILLER);
            node.clear_pos_groups();
        }
        if node.orig() == "*" {
            node.set_orig(&string);
        }
        if node.pron() == "*" && node.string() == QUESTION {
            node.set_read(QUESTION);
            node.set_pron(QUESTION);
        }
        if node.pron() == "*" {
            node.set_read(PAUSE);
            node.set_pron(PAUSE);
            node.set_pos(SYMBOL);
        }
    }
    njd.remove_silent_nodes();
    chain_kana_fillers(njd);
    njd.remove_silent_nodes();
    let ids = njd.ids();
    for pair in ids.windows(2) {
        let (id, next) = (pair[0], pair[1]);
        let (current, following) = (njd.node(id), njd.node(next));
        if following.pron() == "ウ"
            && following.pos() == "助動詞"
            && (current.pos() == "動詞" || current.pos() == "助動詞")
            && current.mora_size() > 0
        {
            njd.node_mut(next).set_pron("ー");
        }
        let (current, following) = (njd.node(id), njd.node(next));
        if current.pos() == "助動詞" && following.string() == QUESTION {
            match current.string() {
                "です" => njd.node_mut(id).set_pron("デス"),
                "ます" => njd.node_mut(id).set_pron("マス"),
                _ => {}
            }
        }
    }
}

/// Appends each run of single-kana filler nodes to the run's first node.
fn chain_kana_fillers(njd: &mut Njd) {
    let mut head_of_run = None;
    for id in njd.ids() {
        let node = njd.node(id);
        if node.pos() != FILLER || !is_listed_kana(node.string()) {
            head_of_run = None;
            continue;
        }
        match head_of_run {
            None => head_of_run = Some(id),
            Some(head) => {
                let node = node.clone();
                let target = njd.node_mut(head);
                target.add_string(node.string());
                target.add_orig(node.orig());
                target.add_read(node.read());
                target.add_pron(node.pron());
                target.add_mora_size(node.mora_size());
                njd.node_mut(id).set_pron("");
            }
        }
    }
}
