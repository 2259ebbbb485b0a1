#!/usr/bin/env bash
# Builds everything the GPU checks need into .gpu-bundle/ (git-ignored) so it can be carried to a
# machine that has a GPU and the CUDA toolkit but no Rust toolchain (the lent GPU machine):
# the GPU test binaries, the GPU benchmark, the v2-small fixture files those tests read, and
# run.sh, which runs them all with a GPU required and prints the results.
#
#   scripts/gpu-bundle.sh            # here (no GPU needed)
#   bash .gpu-bundle/run.sh          # there, from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.gpu-bundle
FIXTURES="${SOVITS_RT_FIXTURES:-$PWD/../shared/fixtures}/v2-small"
rm -rf "$OUT" && mkdir -p "$OUT/bin" "$OUT/fixtures/v2-small"

# Release test and bench executables (`cargo bench` builds release by itself), located through
# cargo's JSON messages.
executables() {
    cargo "$@" --no-run --message-format=json-render-diagnostics |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])'
}
{
    executables test --release --test gpu_kernels --test gpu_t2s --test nvrtc_kernels
    executables bench --bench cuda_t2s
} | while read -r exe; do
    name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
    cp "$exe" "$OUT/bin/$name"
    strip "$OUT/bin/$name"
done

# Only the fixture files the GPU tests read (the carried tree is limited to 64 MiB).
cp "$FIXTURES"/{manifest.json,gpt.ckpt,t2s.safetensors} "$OUT/fixtures/v2-small/"
cp -r "$FIXTURES/chinese-roberta-wwm-ext-large" "$OUT/fixtures/v2-small/"

cat >"$OUT/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the GPU checks on a GPU machine; prints each binary's output, then a summary.
cd "$(dirname "$0")"
export SOVITS_RT_REQUIRE_GPU=1 SOVITS_RT_REQUIRE_NVRTC=1 SOVITS_RT_FIXTURES="$PWD/fixtures"
CUDA="${CUDA_HOME:-/usr/local/cuda}"
export CUDA_FP16_INCLUDE="${CUDA_FP16_INCLUDE:-$CUDA/include}"
export LD_LIBRARY_PATH="$CUDA/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
summary=()
for t in nvrtc_kernels gpu_kernels gpu_t2s; do
    ldd "bin/$t" | grep -q "not found" && { ldd "bin/$t"; summary+=("$t: missing libraries"); continue; }
    if "bin/$t" --test-threads=1 --nocapture; then summary+=("$t: ok"); else summary+=("$t: FAILED"); fi
done
if bin/cuda_t2s --bench; then summary+=("cuda_t2s bench: ok"); else summary+=("cuda_t2s bench: FAILED"); fi
printf '%s\n' "${summary[@]}"
RUN
chmod +x "$OUT/run.sh"
du -sh "$OUT"/* | sort -h
