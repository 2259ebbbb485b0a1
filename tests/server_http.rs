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
        let (wav, pcm, opus, flac, sse) = tokio::join!(
            post_json(addr, path, body("wav")),
            post_json(addr, path, body("pcm")),
            post_json(addr, path, body("opus")),
            post_json(addr, path, flac_body),
            post_json(addr, path, sse_body),
        );
        println!("five OpenAI requests in {:.1?}", t0.elapsed());

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
        let mut mp3 = ok.clone();
        mp3["response_format"] = json!("mp3");
        let mut nobody = ok.clone();
        nobody["voice"] = json!("nobody");
        let mut sse_bad = ok.clone();
        sse_bad["stream_format"] = json!("websocket");
        for (body, status, want) in [
            (without("input"), 400, "input"),
            (without("voice"), 400, "voice"),
            (without("model"), 400, "model"),
            (mp3, 400, "use opus, wav, pcm or flac"),
            (sse_bad, 400, "websocket"),
            (nobody, 404, "nobody"),
            (json!(["not", "an", "object"]), 400, "JSON object"),
        ] {
            let a = post_json(addr, path, body.clone()).await;
            assert_eq!(a.status, status, "{body}: {a:?}");
            let message = a.json()["error"]["message"].as_str().unwrap_or_default().to_string();
            assert!(message.contains(want), "{body}: {message}");
        }
        let a = answer(reqwest::Client::new().post(format!("http://{addr}{path}")).body("{\"model\": ")).await;
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
    let (engine, _voices) = test_engine::engine(&dir, 16);
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
            (with("ref_audio_path", json!("/nonexistent/ref.wav")), "does not exist"),
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
            answer(client.post(format!("http://{addr}/v1/voices?{q}")).body(body))
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
            assert_eq!(a.json()["error"]["code"], "unauthorized");
        }
        for request in [
            client.get(url("/v1/voices")).bearer_auth("s3cret"),
            client.get(url("/v1/voices")).header("x-api-key", "s3cret"),
            client.get(url("/v1/voices?api_key=s3cret")),
        ] {
            assert_eq!(voice_names(&answer(request).await).len(), 2);
        }
    });
    println!("voices_health_metrics_and_api_keys: {:.1?}", t0.elapsed());
}
