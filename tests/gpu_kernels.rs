//! GPU kernels against their CPU twins. Needs an NVIDIA GPU; prints SKIP without one.

use cudarc::driver::{LaunchConfig, PushKernelArg};
use half::f16;
use sovits_rt::cpu::ops::layer_norm_slice;
use sovits_rt::cuda::{discover, kernels_for};

#[test]
fn add_layer_norm_matches_the_cpu() {
    let gpu = match discover(0) {
        Ok(g) => g,
        Err(why) => {
            eprintln!("SKIP add_layer_norm_matches_the_cpu: {why}");
            return;
        }
    };
    println!("GPU: {} (sm_{}{})", gpu.name, gpu.capability.0, gpu.capability.1);
    let kernels = kernels_for(&gpu.arch()).unwrap_or_else(|e| panic!("{e}"));
    let norm = kernels.iter().find(|k| k.name == "norm").unwrap();
    let module = gpu.ctx.load_module(norm.ptx()).unwrap();
    let f = module.load_function("add_layer_norm_f16").unwrap();
    let stream = gpu.ctx.default_stream();

    let (rows, cols) = (37usize, 1024usize);
    let value = |i: usize, s: f32| (i as f32 * 0.7311 + s).sin() * 2.0;
    let x: Vec<f16> = (0..rows * cols).map(|i| f16::from_f32(value(i, 0.0))).collect();
    let r: Vec<f16> = (0..rows * cols).map(|i| f16::from_f32(value(i, 1.3))).collect();
    let g: Vec<f16> = (0..cols).map(|i| f16::from_f32(1.0 + 0.1 * value(i, 2.0))).collect();
    let b: Vec<f16> = (0..cols).map(|i| f16::from_f32(0.1 * value(i, 3.0))).collect();
    let (xd, rd, gd, bd) = (
        stream.clone_htod(&x).unwrap(),
        stream.clone_htod(&r).unwrap(),
        stream.clone_htod(&g).unwrap(),
        stream.clone_htod(&b).unwrap(),
    );
    let mut out = stream.alloc_zeros::<f16>(rows * cols).unwrap();
    let (rows_i, cols_i, eps) = (rows as i32, cols as i32, 1e-5f32);
    let mut launch = stream.launch_builder(&f);
    launch.arg(&mut out).arg(&xd).arg(&rd).arg(&gd).arg(&bd).arg(&rows_i).arg(&cols_i).arg(&eps);
    let config = LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: argument order and types match `add_layer_norm_f16` in kernels/norm.cu; buffers hold rows × cols.
    unsafe { launch.launch(config) }.unwrap();
    let got: Vec<f16> = stream.clone_dtoh(&out).unwrap();

    let (gf, bf): (Vec<f32>, Vec<f32>) =
        (g.iter().map(|v| v.to_f32()).collect(), b.iter().map(|v| v.to_f32()).collect());
    let mut worst = 0.0f32;
    for row in 0..rows {
        let mut want: Vec<f32> = (0..cols).map(|c| x[row * cols + c].to_f32() + r[row * cols + c].to_f32()).collect();
        layer_norm_slice(&mut want, &gf, &bf, 1e-5);
        for c in 0..cols {
            worst = worst.max((got[row * cols + c].to_f32() - want[c]).abs());
        }
    }
    println!("add_layer_norm_f16 vs CPU: max abs error {worst:.2e}");
    assert!(worst < 1e-2, "max abs error {worst}");
}
