//! Speed of the text frontend: first-use load time of each language's tables (once per process)
//! and steady-state throughput of `phonemize` (normalization + routing + G2P) per language, on a
//! paragraph of ordinary text. Run with `cargo bench --bench text`. Japanese needs the Open JTalk
//! dictionary (`apt-get install open-jtalk-mecab-naist-jdic`) and is skipped without it.

use std::time::Instant;

use sovits_rt::text::segment::{preprocess, SplitMethod};
use sovits_rt::text::{phonemize, LangMode, SymbolSet};

/// (mode, paragraph): a few sentences of everyday text in each language.
const TEXTS: [(&str, &str); 6] = [
    ("zh", "今天是2024年3月15日，星期五。银行行长说：“一定不要迟到。”我们一起去公园散步吧，天气很好。"),
    ("en", "GPT-SoVITS is a few-shot voice cloning tool. It costs $12.50 per month, and 3 of 4 users like it!"),
    ("ja", "東京駅から新宿まで電車で行きます。ありがとうございました！今日はいい天気ですね。"),
    ("ko", "저는 한국어를 공부합니다. 사과 3개와 배 2개를 샀어요. 감사합니다!"),
    ("yue", "我哋今日去飲茶，好開心。呢個價錢係100蚊。唔該晒，我聽日再嚟。"),
    ("auto", "Hello，欢迎使用GPT-SoVITS。这个API的response time大约是200毫秒。"),
];

fn run(mode: LangMode, text: &str) -> Result<usize, sovits_rt::text::TextError> {
    let mut phones = 0;
    for sentence in preprocess(text, mode, SplitMethod::Cut5)? {
        phones += phonemize(&sentence, mode, SymbolSet::V2)?.phone_ids().len();
    }
    Ok(phones)
}

fn main() {
    println!("{:<6} {:>12} {:>14} {:>12}", "lang", "first use ms", "sentences/s", "phones/s");
    for (name, text) in TEXTS {
        let Ok(mode) = LangMode::parse(name) else { continue };
        let t = Instant::now();
        if let Err(e) = run(mode, text) {
            println!("{name:<6} skipped: {e}");
            continue;
        }
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        let sentences = preprocess(text, mode, SplitMethod::Cut5).map_or(0, |s| s.len());
        let (mut rounds, mut phones) = (0usize, 0usize);
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < 1.0 {
            phones += run(mode, text).unwrap_or(0);
            rounds += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name:<6} {first_ms:>12.0} {:>14.0} {:>12.0}",
            (rounds * sentences) as f64 / secs,
            phones as f64 / secs
        );
    }
}
