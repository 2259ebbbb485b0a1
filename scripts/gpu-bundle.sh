#!/usr/bin/env bash
# Builds, into .gpu-bundle/ (git-ignored), everything one call of the lent GPU machine needs to check
# the CUDA backend: that machine has the CUDA toolkit and Python but no Rust, takes at most 64 MiB of
# carried files per command and stays warm only ~30 s between commands, so it all goes in one
# bundle run by one script:
#
#   scripts/gpu-bundle.sh            # here: builds and packs (prints the bundle's size; ≤ 60 MiB)
#   bash .gpu-bundle/run.sh          # there, from the repository root; logs and results go to $OUT
#
# The bundle holds three release binaries, stripped and xz-compressed (the GPU tests, linked into
# one test binary; the `cuda` benchmark; the load generator), the shared libraries they need that a
# CUDA image may lack, and the few fixture files the GPU tests read (the rest use full-size models
# with seeded random weights built in memory, `sovits_rt::synthetic`). run.sh bounds every step with
# `timeout`, keeps each step's log under $OUT, and prints one summary table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.gpu-bundle
FIXTURES="${SOVITS_RT_FIXTURES:-$PWD/../shared/fixtures}/v2-small"
# The fixture files the GPU tests read (tests/gpu/*.rs): the fixture GPT with its decode case, the
# fixture HuBERT with its reference-clip case. SoVITS and BERT are checked on full-size random models.
FIXTURE_FILES=(manifest.json gpt.ckpt t2s.safetensors chinese-hubert-base hubert.safetensors)
rm -rf "$OUT" && mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/fixtures/v2-small"

# The release executables of targets gpu, cuda and loadgen, located through cargo's JSON messages
# (building an integration test also builds the main binary, which the bundle does not carry).
executables() {
    cargo "$@" --message-format=json-render-diagnostics |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    name = m.get("target", {}).get("name")
    if m.get("reason") == "compiler-artifact" and m.get("executable") and name in ("gpu", "cuda", "loadgen"):
        print(name, m["executable"])'
}
{
    executables test --release --test gpu --no-run
    executables bench --bench cuda --no-run
    executables build --release --example loadgen
} | while read -r name exe; do
    cp "$exe" "$OUT/bin/$name"
    strip "$OUT/bin/$name"
    xz -9 --threads=0 "$OUT/bin/$name"
done
for lib in libsoxr.so.0 libasound.so.2 libgomp.so.1; do
    cp -L "$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')" "$OUT/lib/"
done
for f in "${FIXTURE_FILES[@]}"; do cp -r "$FIXTURES/$f" "$OUT/fixtures/v2-small/"; done

cat >"$OUT/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the bundled GPU checks; every step bounded by `timeout`, its log in $OUT (default
# ./gpu-results), then one summary table. Exit status: 0 when every step passed.
cd "$(dirname "$0")"
OUT="${OUT:-$PWD/gpu-results}"
mkdir -p "$OUT"
export SOVITS_RT_REQUIRE_GPU=1 SOVITS_RT_FIXTURES="$PWD/fixtures"
CUDA="${CUDA_HOME:-/usr/local/cuda}"
export CUDA_FP16_INCLUDE="${CUDA_FP16_INCLUDE:-$CUDA/include}"
export LD_LIBRARY_PATH="$CUDA/lib64:$PWD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
python3 - <<'PY'
import glob, lzma, os, shutil
for packed in glob.glob("bin/*.xz"):
    with lzma.open(packed) as src, open(packed[:-3], "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.chmod(packed[:-3], 0o755)
PY
summary=()
# step NAME SECONDS LOG COMMAND...: runs it bounded, records "name | status | seconds | note".
step() {
    local name=$1 limit=$2 log=$OUT/$3; shift 3
    local start=$SECONDS status
    if ldd "$1" | grep -q "not found"; then
        ldd "$1" >"$log"
        summary+=("$name | missing libraries | 0 | see $(basename "$log")")
        return
    fi
    timeout "$limit" "$@" >"$log" 2>&1
    case $? in
    0) status=ok ;;
    124) status="TIMEOUT after ${limit}s" ;;
    *) status=FAILED ;;
    esac
    local note
    note=$(grep -E "^test result|audio-s|tokens/s" "$log" | tail -1 | cut -c1-90)
    summary+=("$name | $status | $((SECONDS - start)) | $note")
}
step "GPU tests" 420 gpu-tests.log bin/gpu --test-threads=1 --nocapture
step "cuda benchmark" 240 cuda-bench.log bin/cuda --bench
step "server load (loadgen, full-size random models)" 300 loadgen.log \
    bin/loadgen --synthetic --device cuda --max-tokens 100 --concurrency 1,16,64,256 --max-sessions 256
echo
echo "| step | status | seconds | last figure |"
echo "|---|---|---:|---|"
failed=0
for row in "${summary[@]}"; do
    echo "| $row |"
    case $row in *"| ok |"*) ;; *) failed=1 ;; esac
done
grep -h "^SKIP" "$OUT"/*.log | sed 's/^/  /' || true
exit $failed
RUN
chmod +x "$OUT/run.sh"
du -sh "$OUT"/* && du -sh "$OUT"
size=$(du -sm "$OUT" | cut -f1)
if [ "$size" -gt 60 ]; then
    echo "the bundle is $size MiB: over the 60 MiB budget (the carried tree is limited to 64 MiB)" >&2
    exit 1
fi
