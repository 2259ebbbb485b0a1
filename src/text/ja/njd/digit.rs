//! Mirrors Open JTalk's `njd_set_digit`: reads digit sequences as numbers (inserting 十/百/千 and
//! 万/億/… place words) or digit by digit, reads decimal points, and adjusts numerals before counters
//! (sound changes such as ロッ/ハッ, voicing of the counter, special day/person readings).

use super::super::rules::digit as rules;
use super::node::{atoi, NjdNode};
use super::{Njd, NodeId};

const SYMBOL: &str = "記号";
const NOUN: &str = "名詞";
const NUMBER: &str = "数";
const NUMBER_PREFIX: &str = "数接続";
const COUNTER: &str = "助数詞";
const ADVERBIAL: &str = "副詞可能";
const DASHES: [&str; 5] = ["―", "−", "‐", "—", "－"];
const OPEN_PAREN: &str = "（";
const CLOSE_PAREN: &str = "）";
const NUMBER_WORD: &str = "番号";
const COMMA: &str = "，";
const DECIMAL_POINTS: [&str; 2] = ["．", "・"];
const DECIMAL_POINT_FEATURE: &str = "．,名詞,接尾,助数詞,*,*,*,．,テン,テン,0/2,*,-1";
const ZEROS: [&str; 2] = ["〇", "０"];
const ZERO_BEFORE_POINT: &str = "レー";
const ZERO_AFTER_POINT: &str = "ゼロ";
const TWO: &str = "二";
const TWO_LONG: &str = "ニー";
const FIVE: &str = "五";
const FIVE_LONG: &str = "ゴー";
const SIX: &str = "六";
const PERSON: &str = "人";
const MONTH: &str = "月";
const DAY: &str = "日";
const DAYS: &str = "日間";
const ONE: &str = "一";
const FOUR: &str = "四";
const TEN: &str = "十";
const FIRST_OF_MONTH: &str = "一日,名詞,副詞可能,*,*,*,*,一日,ツイタチ,ツイタチ,4/4,*";
const FOURTEENTH: &str = "十四日,名詞,副詞可能,*,*,*,*,十四日,ジュウヨッカ,ジューヨッカ,1/5,*";
const FOURTEEN_DAYS: &str = "十四日間,名詞,副詞可能,*,*,*,*,十四日間,ジュウヨッカカン,ジューヨッカカン,5/7,*";
const TWENTY: &str = "二十,名詞,副詞可能,*,*,*,*,二十,ニジュウ,ニジュー,1/3,*";
const FOURTH: &str = "四日,名詞,副詞可能,*,*,*,*,四日,ヨッカ,ヨッカ,0/3,*,0";
const FOUR_DAYS: &str = "四日間,名詞,副詞可能,*,*,*,*,四日間,ヨッカカン,ヨッカカン,3/5,*,0";
const TWENTIETH: &str = "二十日,名詞,副詞可能,*,*,*,*,二十日,ハツカ,ハツカ,0/3,*";
const TWENTY_DAYS: &str = "二十日間,名詞,副詞可能,*,*,*,*,二十日間,ハツカカン,ハツカカン,3/5,*";

/// Counter classes that change the preceding digit's reading (`numerative_class1*` → `conv_table1*`).
const DIGIT_PRON_RULES: [(&[&str], &[&str]); 11] = [
    (rules::NUMERATIVE_CLASS1B, rules::CONV_TABLE1B),
    (rules::NUMERATIVE_CLASS1C1, rules::CONV_TABLE1C1),
    (rules::NUMERATIVE_CLASS1C2, rules::CONV_TABLE1C2),
    (rules::NUMERATIVE_CLASS1D, rules::CONV_TABLE1D),
    (rules::NUMERATIVE_CLASS1E, rules::CONV_TABLE1E),
    (rules::NUMERATIVE_CLASS1F, rules::CONV_TABLE1F),
    (rules::NUMERATIVE_CLASS1G, rules::CONV_TABLE1G),
    (rules::NUMERATIVE_CLASS1H, rules::CONV_TABLE1H),
    (rules::NUMERATIVE_CLASS1I, rules::CONV_TABLE1I),
    (rules::NUMERATIVE_CLASS1J, rules::CONV_TABLE1J),
    (rules::NUMERATIVE_CLASS1K, rules::CONV_TABLE1K),
];

/// Counter classes whose own reading is voiced after some digits (`numerative_class2*` → `conv_table2*`).
const COUNTER_PRON_RULES: [(&[&str], &[&str]); 5] = [
    (rules::NUMERATIVE_CLASS2B, rules::CONV_TABLE2B),
    (rules::NUMERATIVE_CLASS2C, rules::CONV_TABLE2C),
    (rules::NUMERATIVE_CLASS2D, rules::CONV_TABLE2D),
    (rules::NUMERATIVE_CLASS2E, rules::CONV_TABLE2E),
    (rules::NUMERATIVE_CLASS2F, rules::CONV_TABLE2F),
];

fn is_period(text: &str) -> bool {
    DECIMAL_POINTS.contains(&text)
}

fn is_comma(text: &str) -> bool {
    text == COMMA
}

fn is_zero(text: &str) -> bool {
    ZEROS.contains(&text)
}

/// `get_digit`: the value (0–9) of a numeral node and its kanji form, if it is one.
fn numeral(njd: &Njd, id: NodeId) -> Option<(i32, &'static str)> {
    let node = njd.node(id);
    if node.string() == "*" || node.pos_group1() != NUMBER {
        return None;
    }
    rules::NUMERAL_LIST1.chunks_exact(3).find(|row| row[0] == node.string()).map(|row| (atoi(row[1]), row[2]))
}

fn digit_of(njd: &Njd, id: NodeId) -> i32 {
    numeral(njd, id).map_or(-1, |(value, _)| value)
}

/// `get_digit_sequence_score`: context evidence for reading `start..=end` as a number (>= 0) or not.
fn sequence_score(njd: &Njd, start: NodeId, end: NodeId) -> i32 {
    let mut score = 0;
    if let Some(prev) = njd.prev(start) {
        let node = njd.node(prev);
        let prev_prev_is_number = njd.prev(prev).is_some_and(|pp| njd.node(pp).pos_group1() == NUMBER);
        if node.pos_group1() == NUMBER_PREFIX {
            score += 2;
        }
        if node.pos_group2() == COUNTER || node.pos_group1() == ADVERBIAL {
            score += 1;
        }
        let text = node.string();
        if is_period(text) {
            if prev_prev_is_number {
                score -= 5;
            }
        } else if DASHES.contains(&text) {
            score -= 2;
        } else if text == OPEN_PAREN {
            if prev_prev_is_number {
                score -= 2;
            }
        } else if text == CLOSE_PAREN || text == NUMBER_WORD {
            score -= 2;
        }
        if njd.prev(prev).is_some_and(|pp| njd.node(pp).string() == NUMBER_WORD) {
            score -= 2;
        }
    }
    if let Some(next) = njd.next(end) {
        let node = njd.node(next);
        if node.pos_group2() == COUNTER || node.pos_group1() == ADVERBIAL {
            score += 2;
        }
        let text = node.string();
        if DASHES.contains(&text) || text == OPEN_PAREN || text == NUMBER_WORD {
            score -= 2;
        } else if text == CLOSE_PAREN {
            if njd.next(next).is_some_and(|nn| njd.node(nn).pos_group1() == NUMBER) {
                score -= 2;
            }
        } else if is_period(text) {
            score += 4;
        }
    }
    score
}

/// Nodes from `start` through `end` following the links.
fn span(njd: &Njd, start: NodeId, end: NodeId) -> Vec<NodeId> {
    let mut ids = Vec::new();
    let mut cursor = Some(start);
    while let Some(id) = cursor {
        ids.push(id);
        if id == end {
            break;
        }
        cursor = njd.next(id);
    }
    ids
}

/// `convert_digit_sequence_for_non_numerical_reading`: digit by digit, paired into accent phrases.
fn read_digit_by_digit(njd: &mut Njd, start: NodeId, end: NodeId) {
    let ids = span(njd, start, end);
    if ids.len() <= 1 {
        return;
    }
    for (index, &id) in ids.iter().enumerate() {
        let node = njd.node_mut(id);
        let text = node.string().to_string();
        if is_zero(&text) {
            node.set_pron(ZERO_AFTER_POINT);
            node.set_mora_size(2);
        } else if text == TWO {
            node.set_pron(TWO_LONG);
            node.set_mora_size(2);
        } else if text == FIVE {
            node.set_pron(FIVE_LONG);
            node.set_mora_size(2);
        }
        node.set_chain_rule("");
        if index % 2 == 0 {
            node.set_chain_flag(0);
        } else {
            node.set_chain_flag(1);
            if let Some(prev) = njd.prev(id) {
                njd.node_mut(prev).set_acc(3);
            }
        }
    }
}

/// `convert_digit_sequence_for_numerical_reading`: inserts 十/百/千 and the 万/億/… place words.
fn read_as_number(njd: &mut Njd, start: NodeId, end: NodeId) {
    let size = span(njd, start, end).len();
    if size <= 1 {
        return;
    }
    let mut index = (size % 4) as i64;
    if index == 0 {
        index = 4;
    }
    let mut place = if size as i64 > index { (size as i64 - index) / 4 } else { 0 };
    index -= 1;
    if place > 17 {
        return;
    }
    let stop = njd.next(end);
    let mut have = false;
    let mut cursor = Some(start);
    while let Some(mut id) = cursor {
        if Some(id) == stop {
            break;
        }
        let digit = digit_of(njd, id);
        if index == 0 {
            if digit == 0 {
                silence(njd.node_mut(id));
            } else {
                have = true;
            }
            if have {
                if place > 0 {
                    id = insert_loaded(njd, id, rules::NUMERAL_LIST3.get(place as usize).copied().unwrap_or(""));
                }
                have = false;
            }
            place -= 1;
        } else if digit <= 0 {
            silence(njd.node_mut(id));
        } else {
            let feature = rules::NUMERAL_LIST2.get(index as usize).copied().unwrap_or("");
            if digit == 1 {
                njd.node_mut(id).load(feature);
            } else {
                id = insert_loaded(njd, id, feature);
            }
            have = true;
        }
        index -= 1;
        if index < 0 {
            index = 3;
        }
        cursor = njd.next(id);
    }
}

fn silence(node: &mut NjdNode) {
    node.set_pron("");
    node.set_acc(0);
    node.set_mora_size(0);
}

/// Creates a node from a rule feature and links it after `after`; returns the new node.
fn insert_loaded(njd: &mut Njd, after: NodeId, feature: &str) -> NodeId {
    let mut node = NjdNode::default();
    node.load(feature);
    njd.insert_after(after, node)
}

/// `convert_digit_sequence`: decides between numeric and digit-by-digit reading for `s..=e`, honouring
/// thousands separators and decimal points, and recurses on what follows.
fn convert_sequence(njd: &mut Njd, start: NodeId, end: NodeId) {
    let mut pending = Some((start, end));
    while let Some((s, e)) = pending.take() {
        pending = convert_sequence_step(njd, s, e);
    }
}

fn convert_sequence_step(njd: &mut Njd, s: NodeId, e: NodeId) -> Option<(NodeId, NodeId)> {
    let text = njd.node(s).string();
    if is_comma(text) || is_period(text) {
        return if s != e { njd.next(s).map(|next| (next, e)) } else { None };
    }
    let mut final_before_period = s;
    while let Some(next) = njd.next(final_before_period) {
        if final_before_period == e || is_period(njd.node(next).string()) {
            break;
        }
        final_before_period = next;
    }
    while let Some(prev) = njd.prev(final_before_period) {
        if final_before_period == s || !is_comma(njd.node(final_before_period).string()) {
            break;
        }
        final_before_period = prev;
    }
    let mut numerical = 1;
    let mut commas = 0;
    let mut first_comma = None;
    let mut cursor = Some(final_before_period);
    let mut rindex = 0;
    while let Some(id) = cursor {
        if is_comma(njd.node(id).string()) {
            first_comma = Some(id);
            commas += 1;
            if numerical == 1 && rindex % 4 != 3 {
                numerical = 0;
            }
        } else if numerical == 1 && rindex % 4 == 3 {
            numerical = 0;
        }
        if id == s {
            break;
        }
        cursor = njd.prev(id);
        rindex += 1;
    }
    if s != final_before_period && digit_of(njd, s) == 0 {
        numerical = -1;
    }
    if numerical == 1 && commas == 0 {
        numerical = 0;
    }
    if numerical == 1 {
        let mut cursor = Some(s);
        while let Some(id) = cursor {
            if id == final_before_period {
                break;
            }
            cursor = if is_comma(njd.node(id).string()) { njd.remove(id) } else { njd.next(id) };
        }
        read_as_number(njd, s, final_before_period);
        return (final_before_period != e).then(|| njd.next(final_before_period)).flatten().map(|next| (next, e));
    }
    let final_digit = match first_comma {
        None => Some(final_before_period),
        Some(comma) => njd.prev(comma),
    }?;
    if numerical == 0 {
        numerical = if sequence_score(njd, s, final_digit) >= 0 { 1 } else { -1 };
    }
    if numerical == 1 {
        read_as_number(njd, s, final_digit);
    } else {
        read_digit_by_digit(njd, s, final_digit);
    }
    (final_digit != e).then(|| njd.next(final_digit)).flatten().map(|next| (next, e))
}

pub(super) fn set_digit(njd: &mut Njd) {
    let mut found_number = false;
    let mut start: Option<NodeId> = None;
    let mut cursor = njd.head();
    while let Some(id) = cursor {
        if njd.node(id).pos_group1() == NUMBER {
            found_number = true;
        }
        let mut end = None;
        let node_text = njd.node(id).string().to_string();
        let is_numeral = match numeral(njd, id) {
            Some((_, kanji)) => {
                let node = njd.node_mut(id);
                node.set_string(kanji);
                node.set_orig(kanji);
                true
            }
            None => false,
        };
        let in_sequence =
            is_numeral || (njd.node(id).pos_group1() == NUMBER && (is_period(&node_text) || is_comma(&node_text)));
        if in_sequence {
            if start.is_none() {
                start = Some(id);
            }
            if Some(id) == njd.tail() {
                end = Some(id);
            }
        } else if start.is_some() {
            end = njd.prev(id);
        }
        if let (Some(s), Some(e)) = (start, end) {
            convert_sequence(njd, s, e);
            start = None;
        }
        cursor = njd.next(id);
    }
    if !found_number {
        return;
    }
    njd.remove_silent_nodes();
    if njd.head().is_none() {
        return;
    }
    read_decimal_points(njd);
    adjust_before_counters(njd);
    adjust_numeral_pairs(njd);
    special_counter_readings(njd);
    special_day_readings(njd);
    njd.remove_silent_nodes();
}

/// A `．`/`・` between two numbers becomes テン, and the digit before it is lengthened.
fn read_decimal_points(njd: &mut Njd) {
    let mut cursor = njd.head().and_then(|head| njd.next(head));
    while let Some(id) = cursor {
        let (Some(prev), Some(next)) = (njd.prev(id), njd.next(id)) else {
            break;
        };
        let node = njd.node(id);
        let is_point = node.string() != "*"
            && njd.node(prev).string() != "*"
            && is_period(node.string())
            && njd.node(prev).pos_group1() == NUMBER
            && njd.node(next).pos_group1() == NUMBER;
        if !is_point {
            cursor = Some(next);
            continue;
        }
        njd.node_mut(id).load(DECIMAL_POINT_FEATURE);
        njd.node_mut(id).set_chain_flag(1);
        let prev_node = njd.node_mut(prev);
        let prev_text = prev_node.string().to_string();
        if is_zero(&prev_text) {
            prev_node.set_pron(ZERO_BEFORE_POINT);
            prev_node.set_mora_size(2);
        } else if prev_text == TWO {
            prev_node.set_pron(TWO_LONG);
            prev_node.set_mora_size(2);
        } else if prev_text == FIVE {
            prev_node.set_pron(FIVE_LONG);
            prev_node.set_mora_size(2);
        } else if prev_text == SIX {
            prev_node.set_acc(1);
        }
        let mut skip = njd.next(id);
        while let Some(s) = skip {
            if njd.node(s).pos() != NOUN {
                break;
            }
            skip = njd.next(s);
        }
        cursor = skip.and_then(|s| njd.next(s));
    }
}

fn in_list(list: &[&str], njd: &Njd, id: NodeId) -> bool {
    let text = njd.node(id).string();
    text != "*" && list.contains(&text)
}

/// `convert_digit_pron`: rows of (string, pron, acc, moras).
fn convert_digit_pron(table: &[&str], node: &mut NjdNode) {
    let text = node.string();
    if text == "*" {
        return;
    }
    if let Some(row) = table.chunks_exact(4).find(|row| row[0] == text) {
        let (pron, acc, moras) = (row[1], atoi(row[2]), atoi(row[3]));
        node.set_pron(pron);
        node.set_acc(acc);
        node.set_mora_size(moras);
    }
}

/// `convert_numerative_pron`: voices (type 1) or semi-voices (type 2) the counter after some numerals.
fn convert_counter_pron(table: &[&str], njd: &mut Njd, numeral: NodeId, counter: NodeId) {
    let text = njd.node(numeral).string();
    if text == "*" {
        return;
    }
    let kind = table.chunks_exact(2).find(|row| row[0] == text).map_or(0, |row| atoi(row[1]));
    let symbols = match kind {
        1 => rules::VOICED_SOUND_SYMBOL_LIST,
        2 => rules::SEMIVOICED_SOUND_SYMBOL_LIST,
        _ => return,
    };
    let pron = njd.node(counter).pron().to_string();
    if let Some(row) = symbols.chunks_exact(2).find(|row| pron.starts_with(row[0])) {
        let changed = format!("{}{}", row[1], &pron[row[0].len()..]);
        njd.node_mut(counter).set_pron(&changed);
    }
}

/// Numeral + counter: digit reading changes, counter voicing, and a new accent phrase at the numeral.
fn adjust_before_counters(njd: &mut Njd) {
    let mut cursor = njd.head().and_then(|head| njd.next(head));
    while let Some(id) = cursor {
        let Some(prev) = njd.prev(id) else {
            break;
        };
        let node = njd.node(id);
        if njd.node(prev).pos_group1() == NUMBER && (node.pos_group2() == COUNTER || node.pos_group1() == ADVERBIAL) {
            if let Some((_, table)) = DIGIT_PRON_RULES.iter().find(|(class, _)| in_list(class, njd, id)) {
                convert_digit_pron(table, njd.node_mut(prev));
            }
            if let Some((_, table)) = COUNTER_PRON_RULES.iter().find(|(class, _)| in_list(class, njd, id)) {
                convert_counter_pron(table, njd, prev, id);
            }
            njd.node_mut(prev).set_chain_flag(0);
            njd.node_mut(id).set_chain_flag(1);
        }
        cursor = njd.next(id);
    }
}

/// Numeral + numeral: accent-phrase joins (一 + 十/百/…) and sound changes (六百 → ロッピャク, …).
fn adjust_numeral_pairs(njd: &mut Njd) {
    let mut cursor = njd.head().and_then(|head| njd.next(head));
    while let Some(id) = cursor {
        let Some(prev) = njd.prev(id) else {
            break;
        };
        if njd.node(prev).pos_group1() == NUMBER {
            if njd.node(id).pos_group1() == NUMBER {
                let (prev_text, text) = (njd.node(prev).string(), njd.node(id).string());
                if rules::NUMERAL_LIST4.contains(&prev_text) {
                    if rules::NUMERAL_LIST5.contains(&text) {
                        njd.node_mut(prev).set_chain_flag(0);
                        njd.node_mut(id).set_chain_flag(1);
                    }
                } else if rules::NUMERAL_LIST5.contains(&prev_text) && rules::NUMERAL_LIST4.contains(&text) {
                    njd.node_mut(id).set_chain_flag(0);
                }
            }
            if in_list(rules::NUMERAL_LIST8, njd, id) {
                convert_digit_pron(rules::NUMERAL_LIST9, njd.node_mut(prev));
            }
            if in_list(rules::NUMERAL_LIST10, njd, id) {
                convert_digit_pron(rules::NUMERAL_LIST11, njd.node_mut(prev));
            }
            if in_list(rules::NUMERAL_LIST6, njd, id) {
                convert_counter_pron(rules::NUMERAL_LIST7, njd, prev, id);
            }
        }
        cursor = njd.next(id);
    }
}

/// Numeral at the start of a number before a counter: ヒト/フタ readings, 一人/二人, days of the month.
fn special_counter_readings(njd: &mut Njd) {
    let mut cursor = njd.head();
    while let Some(id) = cursor {
        let Some(next) = njd.next(id) else {
            break;
        };
        let starts_number = match njd.prev(id) {
            None => true,
            Some(prev) => njd.node(prev).pos() == SYMBOL || njd.node(prev).pos_group1() != NUMBER,
        };
        let (node, following) = (njd.node(id), njd.node(next));
        if following.string() != "*"
            && node.pos_group1() == NUMBER
            && starts_number
            && (following.pos_group2() == COUNTER || following.pos_group1() == ADVERBIAL)
        {
            convert_class3(njd, id, next);
            if njd.node(next).string() == PERSON {
                load_from_table(njd, id, next, rules::CONV_TABLE4);
            }
            let (node, following) = (njd.node(id), njd.node(next));
            if following.string() == DAY && node.string() != "*" {
                let after_month = njd.prev(id).is_some_and(|prev| njd.node(prev).string().contains(MONTH));
                if after_month && node.string() == ONE {
                    njd.node_mut(id).load(FIRST_OF_MONTH);
                    njd.node_mut(next).set_pron("");
                } else {
                    load_from_table(njd, id, next, rules::CONV_TABLE5);
                }
            } else if following.string() == DAYS {
                load_from_table(njd, id, next, rules::CONV_TABLE6);
            }
        }
        cursor = njd.next(id);
    }
}

/// `numerative_class3`: counters read with native numerals (一棟 → ヒトムネ).
fn convert_class3(njd: &mut Njd, id: NodeId, next: NodeId) {
    let following = njd.node(next);
    let matches_class =
        rules::NUMERATIVE_CLASS3.chunks_exact(2).any(|row| row[0] == following.string() && row[1] == following.read());
    if !matches_class {
        return;
    }
    let text = njd.node(id).string();
    if let Some(row) = rules::CONV_TABLE3.chunks_exact(4).find(|row| row[0] == text) {
        let (reading, acc, moras) = (row[1], atoi(row[2]), atoi(row[3]));
        let node = njd.node_mut(id);
        node.set_read(reading);
        node.set_pron(reading);
        node.set_acc(acc);
        node.set_mora_size(moras);
    }
}

/// Replaces the numeral by a whole-word feature from `table` (rows: numeral, feature) and silences the
/// counter after it.
fn load_from_table(njd: &mut Njd, id: NodeId, next: NodeId, table: &[&str]) {
    let text = njd.node(id).string().to_string();
    if let Some(row) = table.chunks_exact(2).find(|row| row[0] == text) {
        njd.node_mut(id).load(row[1]);
        njd.node_mut(next).set_pron("");
    }
}

/// 十四日, 二十日, 二十四日 (and …間) written with separate numerals.
fn special_day_readings(njd: &mut Njd) {
    let mut cursor = njd.head();
    while let Some(id) = cursor {
        let after_non_number = njd.prev(id).is_none_or(|prev| njd.node(prev).pos_group1() != NUMBER);
        let next = njd.next(id);
        let next2 = next.and_then(|n| njd.next(n));
        if let (true, Some(next), Some(next2)) = (after_non_number, next, next2) {
            let (first, second, third) = (
                njd.node(id).string().to_string(),
                njd.node(next).string().to_string(),
                njd.node(next2).string().to_string(),
            );
            if first == TEN && second == FOUR {
                let whole = match third.as_str() {
                    DAY => Some(FOURTEENTH),
                    DAYS => Some(FOURTEEN_DAYS),
                    _ => None,
                };
                if let Some(feature) = whole {
                    njd.node_mut(id).load(feature);
                    njd.node_mut(next).set_pron("");
                    njd.node_mut(next2).set_pron("");
                }
            } else if first == TWO && second == TEN {
                let next3 = njd.next(next2);
                match third.as_str() {
                    DAY | DAYS => {
                        njd.node_mut(id).load(if third == DAY { TWENTIETH } else { TWENTY_DAYS });
                        njd.node_mut(next).set_pron("");
                        njd.node_mut(next2).set_pron("");
                    }
                    FOUR => {
                        if let Some(next3) = next3 {
                            let fourth = njd.node(next3).string().to_string();
                            if fourth == DAY || fourth == DAYS {
                                njd.node_mut(id).load(TWENTY);
                                njd.node_mut(next).load(if fourth == DAY { FOURTH } else { FOUR_DAYS });
                                njd.node_mut(next2).set_pron("");
                                njd.node_mut(next3).set_pron("");
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        cursor = njd.next(id);
    }
}
