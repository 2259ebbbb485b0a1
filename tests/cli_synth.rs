//! `sovits-rt synth` end to end on the fixture checkpoints: phones in, 32 kHz WAV out, the same
//! seed giving the same audio; and the user mistakes the CLI must answer with a clear message.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sovits_rt::checkpoint::open_sovits;
use sovits_rt::cpu::CpuSovits;
use sovits_rt::model::SemanticToAudio;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sovits-rt"))
}

fn out_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("sovits-rt-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Phone strings of the reference transcript and the target sentence, from the fixture metadata.
fn phones(dir: &Path) -> (String, String) {
    let bert = common::case(dir, "bert.safetensors");
    let m = bert.metadata();
    (m["s0_phones"].clone(), m["s1_phones"].clone())
}

/// The arguments of one `synth` call; fields default to the fixture files.
struct Call<'a> {
    gpt: PathBuf,
    sovits: PathBuf,
    reference: PathBuf,
    ref_phones: String,
    phones: String,
    extra: Vec<&'a str>,
}

impl<'a> Call<'a> {
    fn new(dir: &Path) -> Self {
        let (ref_phones, phones) = phones(dir);
        Call {
            gpt: dir.join("gpt.ckpt"),
            sovits: dir.join("sovits.pth"),
            reference: dir.join("ref.wav"),
            ref_phones,
            phones,
            extra: vec!["--seed", "7"],
        }
    }

    fn run(&self, dir: &Path, out: &Path) -> Output {
        bin()
            .arg("synth")
            .args(["--gpt".as_ref(), self.gpt.as_os_str()])
            .args(["--sovits".as_ref(), self.sovits.as_os_str()])
            .args(["--hubert".as_ref(), dir.join("chinese-hubert-base").as_os_str()])
            .args(["--bert".as_ref(), dir.join("chinese-roberta-wwm-ext-large").as_os_str()])
            .args(["--ref".as_ref(), self.reference.as_os_str()])
            .args(["--ref-phones", &self.ref_phones, "--phones", &self.phones])
            .args(["--out".as_ref(), out.as_os_str()])
            .args(if self.extra.contains(&"--lang") { &[][..] } else { &["--lang", "zh"][..] })
            .args(&self.extra)
            .output()
            .unwrap()
    }
}

fn synth(dir: &Path, extra: &[&str], out: &Path) -> Output {
    let mut call = Call::new(dir);
    call.extra.extend_from_slice(extra);
    call.run(dir, out)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn synth_writes_a_reproducible_wav() {
    let Some(dir) = common::model_fixtures("synth_writes_a_reproducible_wav") else { return };
    let d = out_dir();
    let (a, b) = (d.join("a.wav"), d.join("b.wav"));
    // A short cap keeps the untrained fixture GPT from running to the 1500-step limit.
    let o = synth(&dir, &["--top-k", "5", "--max-tokens", "40"], &a);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    assert!(log.contains("tokens") && log.contains("RTF"), "{log}");
    let o = synth(&dir, &["--top-k", "5", "--max-tokens", "40"], &b);
    assert!(o.status.success(), "{}", stderr(&o));
    let wa = std::fs::read(&a).unwrap();
    assert_eq!(wa, std::fs::read(&b).unwrap(), "same seed must give the same audio");
    let reader = hound::WavReader::open(&a).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (32_000, 1, 16));
    let n = reader.len() as usize;
    // Each semantic token is two latent frames of `hop_length` samples.
    let sovits = CpuSovits::load(&open_sovits(&dir.join("sovits.pth")).unwrap()).unwrap();
    let per_token = 2 * sovits.config().hop_length();
    assert!(n > 0 && n.is_multiple_of(per_token), "{n} samples is not a whole number of {per_token}-sample tokens");
    let samples: Vec<i16> = hound::WavReader::open(&a).unwrap().into_samples().map(|s| s.unwrap()).collect();
    assert!(samples.iter().any(|&s| s.unsigned_abs() > 300), "audio is silent");
}

#[test]
fn synth_explains_user_mistakes() {
    let Some(dir) = common::model_fixtures("synth_explains_user_mistakes") else { return };
    let out = out_dir().join("never.wav");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--lang", "xx"], "unknown language"),
        (vec!["--split", "cut9"], "cut9"),
        (vec!["--top-p", "0"], "top_p"),
        (vec!["--temperature=-1"], "temperature"),
        // The server's ranges and messages (engine::params), not the CLI's own.
        (vec!["--speed", "0"], "speed = 0 is out of range"),
        (vec!["--speed", "100"], "speed = 100 is out of range"),
        (vec!["--speed", "0.01"], "speed = 0.01 is out of range"),
        (vec!["--top-k", "100000"], "top_k = 100000 is out of range"),
        (vec!["--noise-scale", "50"], "noise_scale = 50 is out of range"),
    ];
    for (extra, needle) in cases {
        let o = synth(&dir, &extra, &out);
        assert!(!o.status.success(), "{extra:?} should fail");
        assert!(stderr(&o).contains(needle), "{extra:?}: {}", stderr(&o));
    }
    // Text and phones for the same input: ambiguous, say which flags clash.
    let o = bin()
        .args(["synth", "--gpt", "g", "--sovits", "s", "--hubert", "h", "--bert", "b", "--ref", "r"])
        .args(["--ref-phones", "n i3", "--text", "你好", "--phones", "n i3", "--out", "x.wav"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("either --text or --phones"), "{}", stderr(&o));
    // Unknown phone symbols are named.
    let o = Call { phones: "n qq9 .".into(), ..Call::new(&dir) }.run(&dir, &out);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("qq9"), "{}", stderr(&o));
    // Swapped model files.
    let o = Call { gpt: dir.join("sovits.pth"), sovits: dir.join("gpt.ckpt"), ..Call::new(&dir) }.run(&dir, &out);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sovits.pth"), "{}", stderr(&o));
    assert!(!out.exists(), "no output file on failure");
}

/// Text in, speech out: `--text`/`--ref-text` through the frontend (with BERT features for
/// Chinese), cut into sentences, each synthesized and joined with upstream's 0.3 s gap.
#[test]
fn synth_speaks_text() {
    let Some(dir) = common::model_fixtures("synth_speaks_text") else { return };
    let out = out_dir().join("text.wav");
    let reference_text = std::fs::read_to_string(dir.join("ref.txt")).unwrap();
    let o = bin()
        .arg("synth")
        .args(["--gpt".as_ref(), dir.join("gpt.ckpt").as_os_str()])
        .args(["--sovits".as_ref(), dir.join("sovits.pth").as_os_str()])
        .args(["--hubert".as_ref(), dir.join("chinese-hubert-base").as_os_str()])
        .args(["--bert".as_ref(), dir.join("chinese-roberta-wwm-ext-large").as_os_str()])
        .args(["--ref".as_ref(), dir.join("ref.wav").as_os_str()])
        .args(["--ref-text", reference_text.trim(), "--ref-lang", "zh"])
        .args(["--text", "你好，世界。Hello world! 今天是2024年3月15日。", "--lang", "auto", "--split", "cut5"])
        .args(["--seed", "3", "--top-k", "5", "--max-tokens", "12"])
        .args(["--out".as_ref(), out.as_os_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let samples = hound::WavReader::open(&out).unwrap().len() as usize;
    // cut5 gives three sentences, each followed by 0.3 s of silence.
    assert!(samples > 3 * 9_600, "{samples} samples");
}

#[test]
fn synth_rejects_bad_reference_clips() {
    let Some(dir) = common::model_fixtures("synth_rejects_bad_reference_clips") else { return };
    let d = out_dir();
    // 1 s of audio: below upstream's 3 s minimum.
    let short = d.join("short.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&short, spec).unwrap();
    for i in 0..16_000 {
        w.write_sample(((i as f32 * 0.05).sin() * 8000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    // Not a WAV at all.
    let junk = d.join("junk.wav");
    std::fs::write(&junk, b"definitely not RIFF").unwrap();
    for (clip, needle) in [(&short, "3"), (&junk, "junk.wav")] {
        let o = Call { reference: clip.clone(), ..Call::new(&dir) }.run(&dir, &d.join("x.wav"));
        assert!(!o.status.success());
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
}

/// A v2ProPlus pair end to end: `--sv` names the speaker-verification checkpoint, `--aux-ref`
/// averages a second clip in (the reference reversed and at half level); without the SV file the
/// error names the model and where the file was looked for.
#[test]
fn synth_speaks_with_a_pro_model() {
    let Some(dir) = common::model_fixtures("synth_speaks_with_a_pro_model") else { return };
    let Some(pro) = common::pro_fixtures("synth_speaks_with_a_pro_model") else { return };
    let sovits = common::sovits_cases("synth_speaks_with_a_pro_model")
        .into_iter()
        .find(|c| c.case.starts_with("sovits_v2pro"))
        .map(|c| c.model)
        .expect("a Pro model in the set");
    let d = out_dir();
    let call = |extra: Vec<&str>, out: &Path| Call { sovits: sovits.clone(), extra, ..Call::new(&dir) }.run(&dir, out);
    let sv = pro.join("sv.ckpt");
    let base = vec!["--seed", "7", "--top-k", "5", "--max-tokens", "30", "--sv", sv.to_str().unwrap()];
    let (one, two) = (d.join("pro.wav"), d.join("pro-aux.wav"));
    let o = call(base.clone(), &one);
    assert!(o.status.success(), "{}", stderr(&o));
    let aux = d.join("aux.wav");
    let mut reader = hound::WavReader::open(pro.join("ref.wav")).unwrap();
    let spec = reader.spec();
    let mut clip: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap() / 2).collect();
    clip.reverse();
    let mut w = hound::WavWriter::create(&aux, spec).unwrap();
    clip.iter().for_each(|&s| w.write_sample(s).unwrap());
    w.finalize().unwrap();
    let o = call([base.clone(), vec!["--aux-ref", aux.to_str().unwrap()]].concat(), &two);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |p: &Path| hound::WavReader::open(p).unwrap().into_samples::<i16>().map(|s| s.unwrap()).collect();
    let (a, b): (Vec<i16>, Vec<i16>) = (read(&one), read(&two));
    assert!(a.iter().any(|&s| s.unsigned_abs() > 300), "audio is silent");
    assert_eq!(a.len(), b.len(), "the same seed gives the same tokens");
    assert_ne!(a, b, "the auxiliary clip changes the style");

    let missing = pro.join("missing-sv-folder");
    let o = call(vec!["--sv", missing.to_str().unwrap()], &d.join("never.wav"));
    assert!(!o.status.success());
    let log = stderr(&o);
    assert!(log.contains("missing-sv-folder") && log.contains(sovits.file_name().unwrap().to_str().unwrap()), "{log}");
}
