//! Every kernel in `kernels/` compiles with NVRTC to PTX for sm_80 and sm_90 — on a machine
//! without a GPU (CI installs NVRTC 13.0 and cuda_fp16.h from PyPI wheels, see `.ci/run`).
//! Without NVRTC the test prints SKIP, unless `SOVITS_RT_REQUIRE_NVRTC=1`.

use sovits_rt::cuda::{
    compile_kernel, declared_kernels, fp16_include_dir, kernels_for, nvrtc_present, KernelCompileError, KERNELS,
};

fn nvrtc_available(test: &str) -> bool {
    if nvrtc_present() && fp16_include_dir().is_some() {
        return true;
    }
    if std::env::var("SOVITS_RT_REQUIRE_NVRTC").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: NVRTC or cuda_fp16.h missing but SOVITS_RT_REQUIRE_NVRTC=1 (LD_LIBRARY_PATH, CUDA_FP16_INCLUDE)"
        );
    }
    eprintln!("SKIP {test}: no libnvrtc.so.13 / cuda_fp16.h (set LD_LIBRARY_PATH and CUDA_FP16_INCLUDE)");
    false
}

#[test]
fn every_kernel_compiles_for_sm80_and_sm90() {
    if !nvrtc_available("every_kernel_compiles_for_sm80_and_sm90") {
        return;
    }
    for arch in ["compute_80", "compute_90"] {
        let compiled = kernels_for(arch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compiled.len(), KERNELS.len());
        for (k, (name, source)) in compiled.iter().zip(KERNELS) {
            assert_eq!(k.name, *name);
            let mut entries = declared_kernels(source);
            assert!(!entries.is_empty(), "kernels/{name}.cu declares no extern \"C\" __global__ entry point");
            let mut in_ptx = k.entry_points();
            in_ptx.sort();
            entries.sort();
            assert_eq!(in_ptx, entries, "{name}.cu for {arch}: PTX entries differ from the source's");
            // NVRTC 13.0 emits PTX ISA 9.0, which the GPU machine's driver (CUDA 13.0) can JIT.
            let version = k.ptx.lines().find(|l| l.starts_with(".version")).unwrap_or("");
            println!("kernels/{name}.cu {arch}: {} bytes of PTX, {version}", k.ptx.len());
        }
    }
    // Cached: the second request returns the same compilation.
    assert!(std::sync::Arc::ptr_eq(&kernels_for("compute_90").unwrap(), &kernels_for("compute_90").unwrap()));
}

#[test]
fn compile_errors_carry_the_nvrtc_log_and_bad_archs_are_refused() {
    if !nvrtc_available("compile_errors_carry_the_nvrtc_log_and_bad_archs_are_refused") {
        return;
    }
    let e = compile_kernel("broken", "extern \"C\" __global__ void k() { undefined_thing = 1; }", "compute_90")
        .unwrap_err();
    match e {
        KernelCompileError::Compile { message, .. } => assert!(message.contains("undefined_thing"), "{message}"),
        other => panic!("{other}"),
    }
    assert!(matches!(compile_kernel("norm", KERNELS[0].1, "compute_1"), Err(KernelCompileError::Arch(_))));
}
