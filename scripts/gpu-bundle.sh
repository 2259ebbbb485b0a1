#!/usr/bin/env bash
# Builds what the GPU checks need into .gpu-bundle/ (git-ignored) so it can be carried to a machine
# that has a GPU and the CUDA toolkit but no Rust toolchain (the lent GPU machine): release test
# binaries, the GPU benchmark, the v2-small fixture files those tests read, and run.sh, which runs
# them with a GPU required and prints a summary. The carried tree is limited to 64 MiB, so the
# checks come in two sets:
#
#   scripts/gpu-bundle.sh t2s       # GPT prior + BERT + kernels + benchmark (default)
#   scripts/gpu-bundle.sh hubert    # HuBERT (with the SoVITS quantizer for prompt tokens)
#   bash .gpu-bundle/run.sh         # there, from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
SET="${1:-t2s}"
OUT=.gpu-bundle
FIXTURES="${SOVITS_RT_FIXTURES:-$PWD/../shared/fixtures}/v2-small"
case "$SET" in
t2s)
    TESTS=(nvrtc_kernels gpu_kernels gpu_t2s)
    BENCHES=(cuda)
    FILES=(manifest.json gpt.ckpt t2s.safetensors chinese-roberta-wwm-ext-large)
    ;;
hubert)
    TESTS=(gpu_hubert)
    BENCHES=()
    FILES=(manifest.json hubert.safetensors sovits.pth chinese-hubert-base)
    ;;
*) echo "usage: $0 [t2s|hubert]" >&2; exit 2 ;;
esac
rm -rf "$OUT" && mkdir -p "$OUT/bin" "$OUT/fixtures/v2-small"

# Test and bench executables (not the main binary), located through cargo's JSON messages.
executables() {
    cargo "$@" --no-run --message-format=json-render-diagnostics |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    kinds = m.get("target", {}).get("kind", [])
    if m.get("reason") == "compiler-artifact" and m.get("executable") and ("test" in kinds or "bench" in kinds):
        print(m["executable"])'
}
{
    executables test --release "${TESTS[@]/#/--test=}"
    [ ${#BENCHES[@]} -eq 0 ] || executables bench "${BENCHES[@]/#/--bench=}"
} | while read -r exe; do
    name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
    cp "$exe" "$OUT/bin/$name"
    strip "$OUT/bin/$name"
done
for f in "${FILES[@]}"; do cp -r "$FIXTURES/$f" "$OUT/fixtures/v2-small/"; done

cat >"$OUT/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the bundled GPU checks on a GPU machine; prints each binary's output, then a summary.
cd "$(dirname "$0")"
export SOVITS_RT_REQUIRE_GPU=1 SOVITS_RT_REQUIRE_NVRTC=1 SOVITS_RT_FIXTURES="$PWD/fixtures"
CUDA="${CUDA_HOME:-/usr/local/cuda}"
export CUDA_FP16_INCLUDE="${CUDA_FP16_INCLUDE:-$CUDA/include}"
export LD_LIBRARY_PATH="$CUDA/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
summary=()
for t in bin/*; do
    name=$(basename "$t")
    if ldd "$t" | grep -q "not found"; then ldd "$t"; summary+=("$name: missing libraries"); continue; fi
    if [ "$name" = cuda ]; then args=(--bench); else args=(--test-threads=1 --nocapture); fi
    if "$t" "${args[@]}"; then summary+=("$name: ok"); else summary+=("$name: FAILED"); fi
done
printf '%s\n' "${summary[@]}"
RUN
chmod +x "$OUT/run.sh"
du -sh "$OUT"/* | sort -h
