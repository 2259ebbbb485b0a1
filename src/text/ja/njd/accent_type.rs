//! Mirrors Open JTalk's `njd_set_accent_type`: the accent nucleus of each accent phrase, from the chain
//! rules of the words that join it (`F1`–`F5`, `C1`–`C5`, `P1`/`P2`/`P6`/`P14`, optionally conditioned on
//! the previous word's POS as `pos%rule@shift`), plus the accent rules for numerals.

use super::node::atoi;
use super::{Njd, NodeId};

const NUMBER: &str = "数";

/// `get_token_from_string` of `njd_set_accent_type.c`: text up to the next `%`, `@` or `/`, and that
/// delimiter (`None` at the end).
fn next_token<'a>(rule: &'a str, index: &mut usize) -> (&'a str, Option<char>) {
    let rest = rule.get(*index..).unwrap_or("");
    match rest.find(['%', '@', '/']) {
        Some(at) => {
            *index += at + 1;
            (&rest[..at], rest[at..].chars().next())
        }
        None => {
            *index += rest.len();
            (rest, None)
        }
    }
}

/// `get_rule`: the accent-change rule that applies after a word with POS `prev_pos`, and its shift.
fn get_rule(input: &str, prev_pos: &str) -> (String, i32) {
    let mut index = 0;
    let mut delimiter = Some(' ');
    while delimiter.is_some() {
        let (token, found) = next_token(input, &mut index);
        delimiter = found;
        let applies = match delimiter {
            Some('%') => prev_pos.contains(token),
            _ => true,
        };
        if applies {
            let rule = if delimiter == Some('%') {
                let (rule, found) = next_token(input, &mut index);
                delimiter = found;
                rule
            } else {
                token
            };
            let shift = if delimiter == Some('@') { atoi(next_token(input, &mut index).0) } else { 0 };
            return (rule.to_string(), shift);
        }
        while matches!(delimiter, Some('%') | Some('@')) {
            delimiter = next_token(input, &mut index).1;
        }
    }
    ("*".to_string(), 0)
}

pub(super) fn set_accent_type(njd: &mut Njd) {
    let Some(head) = njd.head() else {
        return;
    };
    let mut top: NodeId = head;
    let mut mora_size = 0;
    for id in njd.ids() {
        let prev = njd.prev(id);
        if id == head || njd.node(id).chain_flag() != 1 {
            top = id;
            mora_size = 0;
        } else if let Some(prev) = prev {
            apply_chain_rule(njd, top, id, prev, mora_size);
        }
        if let Some(prev) = prev {
            adjust_numeral_accent(njd, prev, id);
        }
        let node = njd.node(id);
        let starts_ten = node.string() == "十"
            && node.chain_flag() != 1
            && njd.next(id).is_some_and(|next| njd.node(next).pos_group1() == NUMBER);
        if starts_ten {
            njd.node_mut(id).set_acc(0);
        }
        mora_size += njd.node(id).mora_size();
    }
}

fn apply_chain_rule(njd: &mut Njd, top: NodeId, id: NodeId, prev: NodeId, mora_size: i32) {
    let (rule, shift) = get_rule(njd.node(id).chain_rule(), njd.node(prev).pos());
    let acc = njd.node(id).acc();
    let top_acc = njd.node(top).acc();
    let new_acc = match rule.as_str() {
        "F2" if top_acc == 0 => Some(mora_size + shift),
        "F3" if top_acc != 0 => Some(mora_size + shift),
        "F4" => Some(mora_size + shift),
        "F5" | "C4" | "P6" => Some(0),
        "C1" => Some(mora_size + acc),
        "C2" => Some(mora_size + 1),
        "C3" => Some(mora_size),
        "P1" => Some(if acc == 0 { 0 } else { mora_size + acc }),
        "P2" => Some(if acc == 0 { mora_size + 1 } else { mora_size + acc }),
        "P14" if acc != 0 => Some(mora_size + acc),
        _ => None,
    };
    if let Some(value) = new_acc {
        njd.node_mut(top).set_acc(value);
    }
}

/// Accent of a numeral before 十/百/千/万/億/兆 in the same accent phrase.
fn adjust_numeral_accent(njd: &mut Njd, prev: NodeId, id: NodeId) {
    let node = njd.node(id);
    if node.chain_flag() != 1 || njd.node(prev).pos_group1() != NUMBER || node.pos_group1() != NUMBER {
        return;
    }
    let prev_text = njd.node(prev).string().to_string();
    let next_text = njd.next(id).map(|next| njd.node(next).string().to_string());
    let prev_moras = njd.node(prev).mora_size();
    let new_acc = match node.string() {
        "十" => {
            let before_digit = next_text
                .as_deref()
                .is_some_and(|t| ["一", "二", "三", "四", "五", "六", "七", "八", "九"].contains(&t));
            if ["五", "六", "八"].contains(&prev_text.as_str()) && before_digit {
                0
            } else {
                1
            }
        }
        "百" => match prev_text.as_str() {
            "七" => 2,
            "三" | "四" | "九" | "何" => 1,
            _ => prev_moras + node.mora_size(),
        },
        "千" | "万" => prev_moras + 1,
        "億" => {
            if ["一", "六", "七", "八", "幾"].contains(&prev_text.as_str()) {
                2
            } else {
                1
            }
        }
        "兆" => {
            if ["六", "七"].contains(&prev_text.as_str()) {
                2
            } else {
                1
            }
        }
        _ => return,
    };
    njd.node_mut(prev).set_acc(new_acc);
}

#[cfg(test)]
mod tests {
    use super::get_rule;

    #[test]
    fn rule_selected_by_previous_pos() {
        let rule = "名詞%F1/動詞%F2@0/形容詞%F2@1";
        assert_eq!(get_rule(rule, "名詞"), ("F1".to_string(), 0));
        assert_eq!(get_rule(rule, "動詞"), ("F2".to_string(), 0));
        assert_eq!(get_rule(rule, "形容詞"), ("F2".to_string(), 1));
        assert_eq!(get_rule(rule, "助詞"), ("*".to_string(), 0));
    }

    #[test]
    fn unconditional_rules() {
        assert_eq!(get_rule("C3", "名詞"), ("C3".to_string(), 0));
        assert_eq!(get_rule("F2@1", "動詞"), ("F2".to_string(), 1));
        assert_eq!(get_rule("*", "動詞"), ("*".to_string(), 0));
    }
}
