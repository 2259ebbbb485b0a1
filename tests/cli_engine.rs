//! The engine's subcommands as a user runs them: `voice add|list|rm`, `say` on ALSA's `null`
//! device and without a usable device, `devices`, and `serve`'s refusal to listen publicly
//! without an API key.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sovits-rt"));
    c.env_remove("SOVITS_RT_API_KEY");
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn voices_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sovits-rt-cli-voices-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn models(dir: &Path) -> Vec<String> {
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    vec![
        "--gpt".into(),
        p("gpt.ckpt"),
        "--sovits".into(),
        p("sovits.pth"),
        "--hubert".into(),
        p("chinese-hubert-base"),
        "--bert".into(),
        p("chinese-roberta-wwm-ext-large"),
    ]
}

#[test]
fn voices_are_added_listed_and_removed() {
    let Some(dir) = common::model_fixtures("voices_are_added_listed_and_removed") else { return };
    let voices = voices_dir("manage");
    let v = voices.to_str().unwrap();
    let transcript = std::fs::read_to_string(dir.join("ref.txt")).unwrap();
    let reference = dir.join("ref.wav");
    let add = |name: &str, clip: &Path| {
        bin()
            .args(["voice", "add", name, "--lang", "zh", "--voices", v, "--text", transcript.trim()])
            .arg("--ref")
            .arg(clip)
            .output()
            .unwrap()
    };
    let add_with = |name: &str, flags: &[&str]| {
        bin()
            .args(["voice", "add", name, "--lang", "zh", "--voices", v, "--text", transcript.trim()])
            .arg("--ref")
            .arg(&reference)
            .args(flags)
            .output()
            .unwrap()
    };
    let o = add("alice", &reference);
    assert!(o.status.success(), "{}", text(&o));
    let o = add("alice", &reference);
    assert!(!o.status.success() && text(&o).contains("already exists"), "{}", text(&o));
    let o = add("bad name", &reference);
    assert!(!o.status.success() && text(&o).contains("invalid voice name"), "{}", text(&o));
    let o = add("notwav", &dir.join("ref.txt"));
    assert!(!o.status.success() && text(&o).contains("cannot read this WAV"), "{}", text(&o));
    // Every request parameter can be a voice default, checked with the server's ranges.
    let o = add_with("bob", &["--seed", "11", "--max-tokens", "40", "--top-k", "5", "--noise-scale", "0.3"]);
    assert!(o.status.success(), "{}", text(&o));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(voices.join("bob/voice.json")).unwrap()).unwrap();
    let d = &manifest["defaults"];
    assert_eq!((d["seed"].as_u64(), d["max_tokens"].as_u64(), d["top_k"].as_u64()), (Some(11), Some(40), Some(5)));
    assert!((d["noise_scale"].as_f64().unwrap() - 0.3).abs() < 1e-6, "{manifest}");
    let o = add_with("carol", &["--speed", "100"]);
    assert!(!o.status.success() && text(&o).contains("speed = 100 is out of range"), "{}", text(&o));
    let o = bin().args(["voice", "rm", "bob", "--voices", v]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let o = bin().args(["voice", "list", "--voices", v]).output().unwrap();
    let listed = text(&o);
    assert!(listed.starts_with("alice\tzh\tbase models"), "{listed}");
    assert!(!listed.contains("notwav"), "a rejected voice must leave nothing behind: {listed}");

    // `say` on the null device (ALSA's sink that is always there): opens, speaks, reports.
    let o = bin()
        .args(["say", "--voices", v, "--voice", "alice", "--lang", "zh", "--output-device", "null", "--seed", "3"])
        .args(models(&dir))
        .arg("你好。")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("s of audio"), "{}", text(&o));
    // A device that does not exist: a clear error naming the ones that do, before any model loads.
    let o = bin()
        .args(["say", "--voices", v, "--voice", "alice", "--output-device", "no-such-device"])
        .args(models(&dir))
        .arg("你好。")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("null") && !text(&o).contains("loaded models"), "{}", text(&o));
    // An unknown voice.
    let o = bin()
        .args(["say", "--voices", v, "--voice", "nobody", "--output-device", "null"])
        .args(models(&dir))
        .arg("你好。")
        .output()
        .unwrap();
    assert!(!o.status.success() && text(&o).contains("no voice named \"nobody\""), "{}", text(&o));

    let o = bin().args(["voice", "rm", "alice", "--voices", v]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = bin().args(["voice", "rm", "alice", "--voices", v]).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("no voice named"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&voices);
}

#[test]
fn devices_are_listed_and_public_serving_needs_a_key() {
    let o = bin().arg("devices").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("null"), "{}", text(&o));
    let o = bin()
        .args(["serve", "--listen", "0.0.0.0:0", "--gpt", "x", "--sovits", "x", "--hubert", "x", "--bert", "x"])
        .output()
        .unwrap();
    assert!(!o.status.success() && text(&o).contains("needs an API key"), "{}", text(&o));
}
