//! The HTTP routes end to end, as their usual clients call them: OpenAI's `/v1/audio/speech`,
//! upstream api_v2's `/tts`, voice management, health, metrics and API keys. The server runs
//! in-process on the fixture models; formats are cross-checked against each other (the same
//! voice and seed give the same audio), never against recorded audio.
mod common;
#[path = "common/engine.rs"]
mod test_engine;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use sovits_rt::audio::opus_stream::{FRAME_SAMPLES, PRE_SKIP};
use sovits_rt::audio::wav_stream::{parse_wav_header, UNKNOWN_SIZE, WAV_HEADER_LEN};
use sovits_rt::engine::{NewVoice, RequestParams, VoiceManifest};
use sovits_rt::server::{check_bind, ConnectionLimits, ServerOptions};

const INPUT: &str = "今天天气很好。";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// An HTTP answer: status, content type, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let r = tokio::time::timeout(Duration::from_secs(120), request.send()).await.expect("no answer in 120 s").unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").map_or("", |v| v.to_str().unwrap()).to_string();
    let body = r.bytes().await.unwrap().to_vec();
    Answer { status, content_type, body }
}

async fn post_json(addr: SocketAddr, path: &str, body: Value) -> Answer {
    answer(reqwest::Client::new().post(format!("http://{addr}{path}")).json(&body)).await
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    answer(reqwest::Client::new().get(format!("http://{addr}{path}"))).await
}

fn s16le(bytes: &[u8]) -> Vec<i16> {
    assert_eq!(bytes.len() % 2, 0, "odd number of PCM bytes");
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

/// Checks an Ogg Opus file (one logical stream: OpusHead, OpusTags, audio packets, EOS) and
/// returns (decoded 48 kHz samples, final granule position).
fn check_ogg_opus(bytes: &[u8]) -> (usize, u64) {
    let mut r = ogg::PacketReader::new(std::io::Cursor::new(bytes.to_vec()));
    let head = r.read_packet_expected().unwrap();
    assert_eq!(&head.data[..8], b"OpusHead");
    assert!(head.first_in_stream());
    assert_eq!(head.data[9], 1, "mono");
    assert_eq!(u16::from_le_bytes([head.data[10], head.data[11]]), PRE_SKIP);
    let tags = r.read_packet_expected().unwrap();
    assert_eq!(&tags.data[..8], b"OpusTags");
    let serial = head.stream_serial();
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
    let mut buf = vec![0f32; 6 * FRAME_SAMPLES];
    let (mut decoded, mut granule, mut eos, mut packets) = (0usize, 0u64, false, 0usize);
    while let Some(p) = r.read_packet().unwrap() {
        assert!(!eos, "a packet after the end of stream");
        assert_eq!(p.stream_serial(), serial, "more than one logical stream");
        assert!(!p.data.starts_with(b"OpusHead"), "a second OpusHead (chained stream)");
        decoded += decoder.decode_float(&p.data, &mut buf, false).unwrap();
        granule = p.absgp_page();
        eos = p.last_in_stream();
        packets += 1;
    }
    assert!(eos, "no end-of-stream page");
    assert!(packets > 0);
    (decoded, granule)
}

#[test]
fn openai_speech_streams_every_format() {
    let Some(dir) = common::model_fixtures("openai_speech_streams_every_format") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 16);
    // A voice whose default seed is fixed: OpenAI's request has no seed, and with one every
    // format of the same input is the same audio.
    let (transcript, wav) = test_engine::reference(&dir);
    let manifest = VoiceManifest {
        name: "fixed".into(),
        transcript,
        lang: "zh".into(),
        gpt: None,
        sovits: None,
        defaults: RequestParams { seed: Some(11), ..Default::default() },
    };
    engine.add_voice(&NewVoice { manifest, reference_wav: wav }).unwrap();
    let t0 = Instant::now();
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let body =
            |format: &str| json!({"model": "tts-1", "input": INPUT, "voice": "fixed", "response_format": format});
        let mut flac_body = body("flac");
        flac_body["voice"] = json!({"id": "fixed"});
        let mut sse_body = body("pcm");
        sse_body["stream_format"] = json!("sse");
        let path = "/v1/audio/speech";
        // No response_format: OpenAI's default, mp3.
        let mut mp3_body = body("mp3");
        mp3_body.as_object_mut().unwrap().remove("response_format");
        let (wav, pcm, opus, flac, sse, mp3) = tokio::join!(
            post_json(addr, path, body("wav")),
            post_json(addr, path, body("pcm")),
            post_json(addr, path, body("opus")),
            post_json(addr, path, flac_body),
            post_json(addr, path, sse_body),
            post_json(addr, path, mp3_body),
        );
        println!("six OpenAI requests in {:.1?}", t0.elapsed());

        // WAV: a streaming header (sizes unknown or right), 32 kHz mono s16.
        assert_eq!((wav.status, wav.content_type.as_str()), (200, "audio/wav"));
        let info = parse_wav_header(&wav.body).expect("not a WAV header");
        assert_eq!((info.sample_rate, info.channels, info.bits_per_sample), (32_000, 1, 16));
        let data_len = wav.body.len() - WAV_HEADER_LEN;
        assert!(info.data_len.is_none_or(|n| n as usize == data_len), "{info:?} for {data_len} data bytes");
        let riff = u32::from_le_bytes(wav.body[4..8].try_into().unwrap());
        assert!(riff == UNKNOWN_SIZE || riff as usize == wav.body.len() - 8, "RIFF size {riff}");
        let samples = s16le(&wav.body[WAV_HEADER_LEN..]);
        assert!(samples.len() > 3200, "{} samples", samples.len());
        assert!(samples.iter().any(|&s| s != 0), "silent WAV");
        let n32 = samples.len();
        println!("wav: {n32} samples ({:.2} s)", n32 as f64 / 32e3);

        // PCM: OpenAI's 24 kHz s16le, as long as the WAV.
        assert_eq!((pcm.status, pcm.content_type.as_str()), (200, "audio/pcm"));
        assert_eq!(s16le(&pcm.body).len(), (n32 * 3 + 2) / 4, "24 kHz PCM length for {n32} samples at 32 kHz");

        // FLAC (voice given as {"id": ...}): lossless, so exactly the WAV's samples.
        assert_eq!((flac.status, flac.content_type.as_str()), (200, "audio/flac"));
        let mut reader = claxon::FlacReader::new(std::io::Cursor::new(&flac.body)).unwrap();
        let si = reader.streaminfo();
        assert_eq!((si.sample_rate, si.channels, si.bits_per_sample), (32_000, 1, 16));
        let decoded: Vec<i16> = reader.samples().map(|s| s.unwrap() as i16).collect();
        assert!(decoded == samples, "FLAC decodes to {} samples that differ from the WAV's {n32}", decoded.len());

        // MP3 (the default): MPEG frames from the first byte, about 64 kbit/s for the WAV's length.
        assert_eq!((mp3.status, mp3.content_type.as_str()), (200, "audio/mpeg"));
        assert_eq!((mp3.body[0], mp3.body[1] & 0xE0), (0xFF, 0xE0), "MPEG frame sync");
        let expected = 8_000.0 * n32 as f64 / 32e3;
        let got = mp3.body.len() as f64;
        assert!(got > 0.8 * expected && got < 1.2 * expected + 2_000.0, "{got} MP3 bytes for {expected} expected");

        // Ogg Opus: one valid stream, its granule = pre-skip + the audio at 48 kHz.
        assert_eq!((opus.status, opus.content_type.as_str()), (200, "audio/ogg; codecs=opus"));
        let (decoded, granule) = check_ogg_opus(&opus.body);
        let n48 = (n32 * 3).div_ceil(2) as u64;
        assert_eq!(granule, PRE_SKIP as u64 + n48, "final granule");
        assert!(decoded as u64 >= granule && (decoded as u64) < granule + FRAME_SAMPLES as u64, "{decoded} decoded");

        // SSE: delta events with base64 audio (here PCM), then done; the audio is the PCM body.
        assert_eq!(sse.status, 200);
        assert!(sse.content_type.starts_with("text/event-stream"), "{}", sse.content_type);
        let text = String::from_utf8(sse.body).unwrap();
        let events: Vec<Value> = text
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                serde_json::from_str(e.strip_prefix("data: ").unwrap_or_else(|| panic!("not an SSE data line: {e:?}")))
                    .unwrap()
            })
            .collect();
        let (done, deltas) = events.split_last().unwrap();
        assert_eq!(done["type"], "speech.audio.done", "{done}");
        assert!(done["usage"]["output_tokens"].as_u64().is_some_and(|t| t > 0), "{done}");
        assert!(!deltas.is_empty());
        let mut audio = Vec::new();
        for d in deltas {
            assert_eq!(d["type"], "speech.audio.delta", "{d}");
            audio.extend(base64::engine::general_purpose::STANDARD.decode(d["audio"].as_str().unwrap()).unwrap());
        }
        assert!(
            audio == pcm.body,
            "SSE audio ({} bytes) differs from the PCM body ({} bytes)",
            audio.len(),
            pcm.body.len()
        );

        // Errors: OpenAI's shape {"error": {"message": ...}}.
        let ok = json!({"model": "tts-1", "input": INPUT, "voice": "alice"});
        let without = |k: &str| {
            let mut b = ok.clone();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        let mut aac = ok.clone();
        aac["response_format"] = json!("aac");
        let mut nobody = ok.clone();
        nobody["voice"] = json!("nobody");
        let mut sse_bad = ok.clone();
        sse_bad["stream_format"] = json!("websocket");
        for (body, status, want) in [
            (without("input"), 400, "input"),
            (without("voice"), 400, "voice"),
            (without("model"), 400, "model"),
            (aac, 400, "aac is not encoded"),
            (sse_bad, 400, "websocket"),
            (nobody, 404, "nobody"),
            (json!(["not", "an", "object"]), 400, "JSON object"),
        ] {
            let a = post_json(addr, path, body.clone()).await;
            assert_eq!(a.status, status, "{body}: {a:?}");
            let message = a.json()["error"]["message"].as_str().unwrap_or_default().to_string();
            assert!(message.contains(want), "{body}: {message}");
        }
        let json_post =
            reqwest::Client::new().post(format!("http://{addr}{path}")).header("content-type", "application/json");
        let a = answer(json_post.body("{\"model\": ")).await;
        assert_eq!(a.status, 400);
        assert!(a.json()["error"]["message"].as_str().unwrap().contains("malformed JSON"), "{a:?}");
        assert!(test_engine::wait_idle(&engine, Duration::from_secs(5)).await.is_ok());
    });
    println!("openai_speech_streams_every_format: {:.1?}", t0.elapsed());
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

#[test]
fn api_v2_tts_answers_like_upstream() {
    let Some(dir) = common::model_fixtures("api_v2_tts_answers_like_upstream") else { return };
    let (engine, _voices) = test_engine::engine_with(&dir, |c| c.reference_roots.push(dir.clone()));
    let ref_path = std::fs::canonicalize(dir.join("ref.wav")).unwrap().to_string_lossy().into_owned();
    let (prompt_text, _) = test_engine::reference(&dir);
    let t0 = Instant::now();
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let fields = [
            ("text", INPUT),
            ("text_lang", "zh"),
            ("ref_audio_path", ref_path.as_str()),
            ("prompt_text", prompt_text.as_str()),
            ("prompt_lang", "zh"),
        ];
        let mut body: Value =
            fields.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>().into();
        body["seed"] = json!(7);
        let mut raw = body.clone();
        raw["streaming_mode"] = json!(true);
        raw["media_type"] = json!("raw");
        let mut ogg = body.clone();
        ogg["streaming_mode"] = json!(true);
        ogg["media_type"] = json!("ogg");
        ogg["seed"] = json!(-1);
        let mut get_fields = fields.to_vec();
        get_fields.push(("seed", "7"));
        let get_path = format!("/tts?{}", query(&get_fields));
        let (wav, raw, ogg) =
            tokio::join!(get(addr, &get_path), post_json(addr, "/tts", raw), post_json(addr, "/tts", ogg),);
        println!("three /tts requests in {:.1?}", t0.elapsed());

        // GET, not streaming: one complete WAV whose header sizes match the body.
        assert_eq!(
            (wav.status, wav.content_type.as_str()),
            (200, "audio/wav"),
            "{:?}",
            String::from_utf8_lossy(&wav.body)
        );
        let info = parse_wav_header(&wav.body).expect("not a WAV header");
        assert_eq!((info.sample_rate, info.channels, info.bits_per_sample), (32_000, 1, 16));
        assert_eq!(info.data_len, Some((wav.body.len() - WAV_HEADER_LEN) as u32), "data size in the header");
        assert_eq!(u32::from_le_bytes(wav.body[4..8].try_into().unwrap()) as usize, wav.body.len() - 8, "RIFF size");
        let samples = s16le(&wav.body[WAV_HEADER_LEN..]);
        assert!(samples.len() > 3200 && samples.iter().any(|&s| s != 0), "{} samples", samples.len());

        // POST, streaming raw: the same seed gives exactly the WAV's data.
        assert_eq!(raw.status, 200, "{:?}", String::from_utf8_lossy(&raw.body));
        assert!(raw.body == wav.body[WAV_HEADER_LEN..], "raw PCM ({} bytes) differs from the WAV data", raw.body.len());

        // POST, ogg with seed -1 (random): one Ogg Opus stream, not upstream's chained files.
        assert_eq!((ogg.status, ogg.content_type.as_str()), (200, "audio/ogg; codecs=opus"));
        let (decoded, granule) = check_ogg_opus(&ogg.body);
        assert!(granule > PRE_SKIP as u64 && decoded as u64 >= granule, "granule {granule}, decoded {decoded}");

        // Errors: api_v2's shape {"message": ...}, 400 and never 500.
        let without = |k: &str| {
            let mut b = body.clone();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        let with = |k: &str, v: Value| {
            let mut b = body.clone();
            b[k] = v;
            b
        };
        for (b, want) in [
            (without("text_lang"), "text_lang"),
            (without("text"), "text is required"),
            (without("prompt_lang"), "prompt_lang"),
            (without("ref_audio_path"), "ref_audio_path"),
            (with("media_type", json!("aac")), "aac"),
            (with("streaming_mode", json!("maybe")), "streaming_mode"),
            (with("top_k", json!(2.5)), "top_k"),
            (with("ref_audio_path", json!("/nonexistent/ref.wav")), "not allowed"),
            (with("text_lang", json!("klingon")), "klingon"),
        ] {
            let a = post_json(addr, "/tts", b.clone()).await;
            assert_eq!(a.status, 400, "{b}: {a:?}");
            let message = a.json()["message"].as_str().unwrap_or_default().to_string();
            assert!(message.contains(want), "{b}: {message}");
        }
        let a = get(addr, &format!("/tts?{}", query(&fields[..1]))).await;
        assert_eq!(a.status, 400);
        assert!(a.json()["message"].as_str().unwrap().contains("text_lang"));
        let a = answer(reqwest::Client::new().post(format!("http://{addr}/tts")).body("text=hi")).await;
        assert_eq!(a.status, 415, "a body that is not declared JSON");
        assert!(a.json()["message"].as_str().unwrap().contains("application/json"));
        let json_post =
            reqwest::Client::new().post(format!("http://{addr}/tts")).header("content-type", "application/json");
        let a = answer(json_post.body("text=hi")).await;
        assert_eq!(a.status, 400);
        assert!(a.json()["message"].is_string());
        assert!(test_engine::wait_idle(&engine, Duration::from_secs(5)).await.is_ok());
    });
    println!("api_v2_tts_answers_like_upstream: {:.1?}", t0.elapsed());
}

fn voice_names(list: &Answer) -> Vec<String> {
    assert_eq!(list.status, 200);
    list.json()["voices"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn voices_health_metrics_and_api_keys() {
    let Some(dir) = common::model_fixtures("voices_health_metrics_and_api_keys") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    let (transcript, wav) = test_engine::reference(&dir);
    let t0 = Instant::now();
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let client = reqwest::Client::new();

        let list = get(addr, "/v1/voices").await;
        let voices = list.json();
        let names = voice_names(&list);
        assert!(names.contains(&"alice".into()) && names.contains(&"bob".into()), "{names:?}");
        assert_eq!(names.len(), 2, "{names:?}");
        let alice = voices["voices"].as_array().unwrap().iter().find(|v| v["name"] == "alice").unwrap();
        assert_eq!((&alice["lang"], &alice["transcript"]), (&json!("zh"), &json!(transcript)));

        // Add a voice: the clip is the body, the rest is in the query.
        let add = |name: &str, body: Vec<u8>| {
            let q = query(&[("name", name), ("transcript", &transcript), ("lang", "zh")]);
            answer(client.post(format!("http://{addr}/v1/voices?{q}")).header("content-type", "audio/wav").body(body))
        };
        let a = add("carol", wav.clone()).await;
        assert_eq!(a.status, 201, "{:?}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.json()["name"], "carol");
        assert!(voice_names(&get(addr, "/v1/voices").await).contains(&"carol".into()));
        // A broken clip, a duplicate name, no name: 400 with a message, nothing added.
        let mut broken = wav[..WAV_HEADER_LEN.min(wav.len())].to_vec();
        broken[0..4].copy_from_slice(b"RIFX");
        for (name, body) in
            [("dave", broken), ("erin", b"not a wav at all".to_vec()), ("carol", wav.clone()), ("", wav.clone())]
        {
            let a = add(name, body).await;
            assert_eq!(a.status, 400, "{name:?}: {:?}", String::from_utf8_lossy(&a.body));
            assert!(a.json()["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{a:?}");
        }
        assert_eq!(voice_names(&get(addr, "/v1/voices").await).len(), 3);
        // Remove it: 204, then 404.
        let del = || answer(client.delete(format!("http://{addr}/v1/voices/carol")));
        assert_eq!(del().await.status, 204);
        let a = del().await;
        assert_eq!(a.status, 404);
        assert_eq!(a.json()["error"]["code"], "unknown_voice");
        assert!(!voice_names(&get(addr, "/v1/voices").await).contains(&"carol".into()));

        // Health and metrics (with an error counted).
        let health = get(addr, "/healthz").await;
        assert_eq!(health.status, 200);
        assert_eq!(health.json()["status"], "ok");
        assert_eq!(health.json()["active_sessions"], 0);
        let a = post_json(addr, "/v1/audio/speech", json!({"model": "m", "input": INPUT, "voice": "zed"})).await;
        assert_eq!(a.status, 404);
        let metrics = get(addr, "/metrics").await;
        assert_eq!(metrics.status, 200);
        assert!(metrics.content_type.starts_with("text/plain"), "{}", metrics.content_type);
        let text = String::from_utf8(metrics.body).unwrap();
        for line in ["sovits_active_sessions 0", "# TYPE sovits_ttfa_seconds histogram"] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(text.lines().any(|l| l.starts_with("sovits_ttfa_seconds_bucket{le=")), "{text}");
        assert!(text.lines().any(|l| l == "sovits_errors_total{code=\"unknown_voice\"} 1"), "{text}");

        // API key on every HTTP route: 401 without or with a wrong one; Bearer, X-API-Key and
        // the query parameter are accepted.
        let keyed = test_engine::serve(engine.clone(), Some("s3cret")).await;
        let url = |p: &str| format!("http://{keyed}{p}");
        for request in [
            client.get(url("/v1/voices")),
            client.get(url("/metrics")),
            client.get(url("/v1/voices")).bearer_auth("wrong"),
            client.post(url("/v1/audio/speech")).json(&json!({"model": "m", "input": INPUT, "voice": "alice"})),
            client.get(url("/tts?text=hi&text_lang=zh")),
        ] {
            let a = answer(request).await;
            assert_eq!(a.status, 401, "{a:?}");
            // Each route answers in its dialect: api_v2's `/tts` names the code in "Exception".
            let body = a.json();
            let code = if body["Exception"].is_null() { &body["error"]["code"] } else { &body["Exception"] };
            assert_eq!(code, "unauthorized", "{body}");
        }
        for request in [
            client.get(url("/v1/voices")).bearer_auth("s3cret"),
            client.get(url("/v1/voices")).header("x-api-key", "s3cret"),
            client.get(url("/v1/voices?api_key=s3cret")),
            client.get(url("/v1/voices")).header("authorization", "bearer s3cret"),
        ] {
            assert_eq!(voice_names(&answer(request).await).len(), 2);
        }
    });
    println!("voices_health_metrics_and_api_keys: {:.1?}", t0.elapsed());
}

/// A v2ProPlus model as the server's base model: a voice of the voices directory streams over the
/// OpenAI route, and api_v2's `/tts` takes a reference with an auxiliary clip; the same Pro model
/// without its speaker-verification checkpoint is refused at start, naming both files.
#[test]
fn pro_voices_stream_through_the_server() {
    let Some(dir) = common::model_fixtures("pro_voices_stream_through_the_server") else { return };
    let Some(pro) = common::pro_fixtures("pro_voices_stream_through_the_server") else { return };
    let Some(model) = common::sovits_cases("pro_voices_stream_through_the_server")
        .into_iter()
        .find(|c| c.case.starts_with("sovits_v2pro"))
        .map(|c| c.model)
    else {
        panic!("no Pro model in {}", pro.display());
    };
    // A copy of the SV checkpoint, so that it can be "changed" below.
    let sv_dir = test_engine::tempdir::Dir::new("sv");
    let sv = sv_dir.path().join("sv.ckpt");
    std::fs::copy(pro.join("sv.ckpt"), &sv).unwrap();
    let (engine, _voices) = test_engine::engine_with(&dir, |c| {
        c.sovits = model.clone();
        c.sv = Some(sv.clone());
        c.reference_roots.extend([dir.clone(), pro.clone()]);
    });
    let ref_path = std::fs::canonicalize(pro.join("ref.wav")).unwrap().to_string_lossy().into_owned();
    let aux_path = std::fs::canonicalize(dir.join("ref.wav")).unwrap().to_string_lossy().into_owned();
    let (prompt_text, _) = test_engine::reference(&pro);
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let speech = json!({"model": "tts-1", "input": INPUT, "voice": "alice", "response_format": "pcm"});
        let tts = json!({
            "text": INPUT, "text_lang": "zh", "ref_audio_path": ref_path, "prompt_text": prompt_text,
            "prompt_lang": "zh", "aux_ref_audio_paths": [aux_path], "seed": 7, "media_type": "raw",
        });
        let (speech, tts) = tokio::join!(post_json(addr, "/v1/audio/speech", speech), post_json(addr, "/tts", tts));
        for (route, a) in [("/v1/audio/speech", &speech), ("/tts", &tts)] {
            assert_eq!(a.status, 200, "{route}: {}", String::from_utf8_lossy(&a.body));
            let pcm = s16le(&a.body);
            assert!(!pcm.is_empty(), "{route}: no audio");
            assert!(pcm.iter().any(|&s| s != 0), "{route}: silence");
        }
    });

    // A prepared Pro voice depends on the SV checkpoint: a newer file prepares it again.
    let before = engine.voice("alice").unwrap();
    assert!(std::sync::Arc::ptr_eq(&before, &engine.voice("alice").unwrap()), "prepared once");
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    std::fs::File::options().write(true).open(&sv).unwrap().set_modified(later).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&before, &engine.voice("alice").unwrap()), "SV change not noticed");

    let mut config = engine.config().clone();
    config.sv = Some(pro.join("no-such-sv.ckpt"));
    let e = sovits_rt::engine::Engine::new(config).err().expect("a Pro model without its SV checkpoint");
    let msg = e.to_string();
    let model = std::fs::canonicalize(&model).unwrap();
    assert!(msg.contains(&model.display().to_string()) && msg.contains("no-such-sv.ckpt"), "{msg}");
    assert_eq!(e.code(), "incompatible_models");
}

/// api_v2's reference paths reach only regular files under the reference roots: everything else
/// — outside, `..`, a symlink out, a folder, a device, a missing file, an auxiliary clip outside —
/// gets one and the same refusal (no probing which files exist), and a clip whose header promises
/// more than 10 s is refused before its samples are read.
#[test]
fn api_v2_reference_paths_are_confined() {
    let Some(dir) = common::model_fixtures("api_v2_reference_paths_are_confined") else { return };
    let root = test_engine::tempdir::Dir::new("ref-root");
    let inside = root.path().join("clip.wav");
    std::fs::copy(dir.join("ref.wav"), &inside).unwrap();
    // A WAV header that claims an hour of audio (the samples are never there).
    let long = root.path().join("long.wav");
    let mut bytes = std::fs::read(dir.join("ref.wav")).unwrap();
    let data = bytes.windows(4).position(|w| w == b"data").unwrap();
    bytes[data + 4..data + 8].copy_from_slice(&(3600u32 * 44_100 * 2).to_le_bytes());
    std::fs::write(&long, bytes).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("ref.wav"), root.path().join("link.wav")).unwrap();
    let (engine, _voices) = test_engine::engine_with(&dir, |c| c.reference_roots = vec![root.path().to_path_buf()]);
    let (prompt_text, _) = test_engine::reference(&dir);
    let outside = std::fs::canonicalize(dir.join("ref.wav")).unwrap();
    // root/../../… up to `/`, then down to the file outside: a `..` escape that exists.
    let ups = std::fs::canonicalize(root.path()).unwrap().components().count() - 1;
    let escape = (0..ups).fold(root.path().to_path_buf(), |p, _| p.join("..")).join(outside.strip_prefix("/").unwrap());
    let request = |path: &std::path::Path, aux: Option<&std::path::Path>| {
        let mut body = json!({
            "text": INPUT, "text_lang": "zh", "ref_audio_path": path, "prompt_text": prompt_text, "prompt_lang": "zh",
        });
        if let Some(aux) = aux {
            body["aux_ref_audio_paths"] = json!([aux]);
        }
        body
    };
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let mut refusals = Vec::new();
        let refused = [
            request(&outside, None),
            request(&escape, None),
            request(&root.path().join("link.wav"), None),
            request(root.path(), None),
            request(std::path::Path::new("/dev/zero"), None),
            request(std::path::Path::new("/etc/passwd"), None),
            request(&root.path().join("missing.wav"), None),
            request(&inside, Some(&outside)),
        ];
        for body in refused {
            let a = post_json(addr, "/tts", body.clone()).await;
            assert_eq!(a.status, 400, "{body}: {}", String::from_utf8_lossy(&a.body));
            let message = a.json()["message"].as_str().unwrap().to_string();
            let asked = body["aux_ref_audio_paths"][0].as_str().or(body["ref_audio_path"].as_str()).unwrap();
            refusals.push(message.replace(asked, "PATH"));
        }
        assert!(refusals.iter().all(|m| m == &refusals[0] && m.contains("not allowed")), "{refusals:#?}");

        let t = Instant::now();
        let a = post_json(addr, "/tts", request(&long, None)).await;
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
        assert!(a.json()["message"].as_str().unwrap().contains("at most"), "{}", String::from_utf8_lossy(&a.body));
        println!("a one-hour header refused in {:.1?}", t.elapsed());

        let a = post_json(addr, "/tts", request(&inside, None)).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    });
}

/// Connections that never finish their request headers are closed after the header timeout, and
/// past the per-address cap a new connection is closed at once; afterwards the server serves
/// normally.
#[test]
fn stalled_connections_time_out_and_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(dir) = common::model_fixtures("stalled_connections_time_out_and_are_capped") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    let limits = ConnectionLimits { header_timeout: Duration::from_secs(1), max_connections: 100, max_per_peer: 3 };
    runtime().block_on(async {
        let addr = test_engine::serve_with(engine, ServerOptions { limits, ..Default::default() }).await;
        // Closed: the read ends (EOF or reset) within `limit`.
        async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> bool {
            let mut buf = [0u8; 256];
            let until = tokio::time::Instant::now() + limit;
            loop {
                match tokio::time::timeout_at(until, s.read(&mut buf)).await {
                    Err(_) => return false,
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    Ok(Ok(_)) => continue,
                }
            }
        }
        let mut stalled = Vec::new();
        for _ in 0..3 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
            stalled.push(s);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut extra, Duration::from_millis(500)).await, "a 4th connection from one address");
        let t = Instant::now();
        for s in &mut stalled {
            assert!(closed_within(s, Duration::from_secs(4)).await, "a stalled request was not timed out");
        }
        println!("stalled requests closed after {:.1?}", t.elapsed());
        assert_eq!(get(addr, "/healthz").await.status, 200);
    });
}

/// What a web page could do to a server on loopback without asking: use another `Host` name
/// (DNS rebinding), open a WebSocket from a foreign origin, POST a body type a form can send.
#[test]
fn browser_pages_cannot_drive_a_loopback_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(dir) = common::model_fixtures("browser_pages_cannot_drive_a_loopback_server") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    let allowed = "https://app.example".to_string();
    runtime().block_on(async {
        let options = ServerOptions { allowed_origins: vec![allowed.clone()], ..Default::default() };
        let addr = test_engine::serve_with(engine, options).await;
        // The status code of one raw request.
        let status = |head: String| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await.unwrap().unwrap();
            String::from_utf8_lossy(&buf[..n]).split(' ').nth(1).unwrap_or_default().to_string()
        };
        let get_with_host =
            |host: &str| format!("GET /v1/voices HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(status(get_with_host("evil.example")).await, "421");
        assert_eq!(status(get_with_host(&format!("rebind.evil.example:{}", addr.port()))).await, "421");
        for host in [format!("127.0.0.1:{}", addr.port()), format!("localhost:{}", addr.port())] {
            assert_eq!(status(get_with_host(&host)).await, "200", "{host}");
        }
        let upgrade = |origin: Option<&str>| {
            let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
            format!(
                "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n",
                addr.port()
            )
        };
        assert_eq!(status(upgrade(Some("https://evil.example"))).await, "403");
        assert_eq!(status(upgrade(Some("http://localhost.evil.example"))).await, "403");
        let own = format!("http://127.0.0.1:{}", addr.port());
        for origin in [None, Some(own.as_str()), Some(allowed.as_str())] {
            assert_eq!(status(upgrade(origin)).await, "101", "{origin:?}");
        }
        let client = reqwest::Client::new();
        let body = json!({"model": "m", "input": INPUT, "voice": "alice"}).to_string();
        for (path, content_type) in [
            ("/v1/audio/speech", "text/plain"),
            ("/tts", "application/x-www-form-urlencoded"),
            ("/v1/voices?name=x&transcript=y", "multipart/form-data; boundary=z"),
            ("/v1/voices?name=x&transcript=y", "text/plain"),
        ] {
            let request = client.post(format!("http://{addr}{path}")).header("content-type", content_type);
            let a = answer(request.body(body.clone())).await;
            assert_eq!(a.status, 415, "{path} as {content_type}: {}", String::from_utf8_lossy(&a.body));
        }
    });
}

#[test]
fn api_keys_must_not_be_guessable() {
    let loopback: SocketAddr = "127.0.0.1:9880".parse().unwrap();
    let open: SocketAddr = "0.0.0.0:9880".parse().unwrap();
    for key in [" ", "", "short", "               x", " 0123456789abcdef"] {
        assert!(check_bind(&loopback, Some(key)).is_err(), "{key:?}");
    }
    assert!(check_bind(&loopback, None).is_ok());
    assert!(check_bind(&open, None).is_err());
    assert!(check_bind(&open, Some("0123456789abcdef")).is_ok());
}

/// `max_tokens` and `seed` take effect on the OpenAI route and on `/tts` alike: the same seed gives
/// the same audio, another seed other audio, and a token cap shortens it.
#[test]
fn max_tokens_and_seed_take_effect_on_every_route() {
    let Some(dir) = common::model_fixtures("max_tokens_and_seed_take_effect_on_every_route") else { return };
    let (engine, _voices) = test_engine::engine_with(&dir, |c| c.reference_roots.push(dir.clone()));
    let ref_path = std::fs::canonicalize(dir.join("ref.wav")).unwrap().to_string_lossy().into_owned();
    let (prompt_text, _) = test_engine::reference(&dir);
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let openai = |seed: u64, max_tokens: usize| {
            let body = json!({"model": "m", "input": INPUT, "voice": "alice", "response_format": "pcm",
                "seed": seed, "max_tokens": max_tokens});
            post_json(addr, "/v1/audio/speech", body)
        };
        let tts = |seed: u64, max_tokens: usize| {
            let body = json!({"text": INPUT, "text_lang": "zh", "ref_audio_path": ref_path, "prompt_text": prompt_text,
                "prompt_lang": "zh", "media_type": "raw", "seed": seed, "max_tokens": max_tokens});
            post_json(addr, "/tts", body)
        };
        for route in ["/v1/audio/speech", "/tts"] {
            let call = |seed, max| async move {
                if route == "/tts" {
                    tts(seed, max).await
                } else {
                    openai(seed, max).await
                }
            };
            let (a, again, other, short) = (call(7, 24).await, call(7, 24).await, call(8, 24).await, call(7, 1).await);
            for x in [&a, &again, &other, &short] {
                assert_eq!(x.status, 200, "{route}: {}", String::from_utf8_lossy(&x.body));
            }
            assert_eq!(a.body, again.body, "{route}: the same seed must give the same audio");
            assert_ne!(a.body, other.body, "{route}: another seed gave the same audio");
            assert!(
                short.body.len() < a.body.len(),
                "{route}: max_tokens 1 gave {} bytes, 24 gave {}",
                short.body.len(),
                a.body.len()
            );
        }
        // A wrong type names its field, on both routes.
        let bad = post_json(
            addr,
            "/v1/audio/speech",
            json!({"model": "m", "input": INPUT, "voice": "alice", "speed": "fast"}),
        )
        .await;
        assert_eq!(bad.status, 400);
        assert!(bad.json()["error"]["message"].as_str().unwrap().contains("speed must be a number"), "{bad:?}");
    });
}

/// One rule for a bad field on every route: a JSON error naming the field, what it accepts and
/// what came; text with nothing to speak is `bad_input`; an oversized body or text is a JSON 413.
#[test]
fn input_errors_name_the_field_on_every_route() {
    let Some(dir) = common::model_fixtures("input_errors_name_the_field_on_every_route") else { return };
    let (engine, _voices) = test_engine::engine_with(&dir, |c| c.reference_roots.push(dir.clone()));
    let ref_path = std::fs::canonicalize(dir.join("ref.wav")).unwrap().to_string_lossy().into_owned();
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let speech = |patch: Value| {
            let mut body = json!({"model": "m", "input": INPUT, "voice": "alice"});
            body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
            post_json(addr, "/v1/audio/speech", body)
        };
        for (patch, status, code, needle) in [
            (json!({"input": 123}), 400, "bad_request", "\"input\" must be a string, got 123"),
            (json!({"model": 5}), 400, "bad_request", "\"model\" must be a string, got 5"),
            (json!({"voice": 123}), 400, "bad_request", "\"voice\" must be a voice name"),
            (json!({"speed": "fast"}), 400, "bad_request", "speed must be a number"),
            (json!({"response_format": 5}), 400, "bad_request", "\"response_format\" must be a string"),
            (json!({"input": ""}), 400, "bad_input", "nothing to speak"),
            (json!({"input": "   "}), 400, "bad_input", "nothing to speak"),
            (json!({"input": "。。！？"}), 400, "bad_input", "nothing to speak"),
            (json!({"input": "😀👍"}), 400, "bad_input", "nothing to speak"),
        ] {
            let a = speech(patch.clone()).await;
            assert_eq!(a.status, status, "{patch}: {}", String::from_utf8_lossy(&a.body));
            let error = &a.json()["error"];
            assert_eq!(error["code"], code, "{patch}: {error}");
            assert!(error["message"].as_str().unwrap().contains(needle), "{patch}: {error}");
        }
        let tts = |patch: Value| {
            let mut body = json!({"text": INPUT, "text_lang": "zh", "ref_audio_path": ref_path, "prompt_lang": "zh",
                "prompt_text": "今天天气很好。"});
            body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
            post_json(addr, "/tts", body)
        };
        let megabyte = "很".repeat(350_000);
        for (patch, status, code, needle) in [
            (json!({"text": 123}), 400, "bad_request", "text must be a string, got 123"),
            (json!({"text_split_method": "cut9"}), 400, "bad_request", "cut9"),
            (json!({"text": "。。。"}), 400, "bad_input", "nothing to speak"),
            (json!({"text": megabyte}), 413, "too_large", "several requests"),
        ] {
            let a = tts(patch.clone()).await;
            assert_eq!(
                a.status,
                status,
                "{}: {}",
                &patch.to_string()[..40.min(patch.to_string().len())],
                String::from_utf8_lossy(&a.body)
            );
            let body = a.json();
            assert_eq!(body["Exception"], code, "{body}");
            assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
        }
        // A body over the limit: JSON, with the limit.
        let huge = vec![0u8; 17 << 20];
        let request = reqwest::Client::new()
            .post(format!("http://{addr}/v1/voices?name=big&transcript=x"))
            .header("content-type", "audio/wav")
            .body(huge);
        let a = answer(request).await;
        assert_eq!(a.status, 413);
        let error = &a.json()["error"];
        assert_eq!(error["code"], "too_large", "{error}");
        assert!(error["message"].as_str().unwrap().contains("16 MiB"), "{error}");
    });
}
