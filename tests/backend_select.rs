//! `--device` without a GPU (CI's case): `auto` and `cpu` run on the CPU, `cuda` is a typed error
//! that says why. On a machine with a GPU the first two checks do not apply and it says so.

use sovits_rt::backend::{Backend, Device};
use sovits_rt::cuda::discover;
use sovits_rt::model::ModelError;

#[test]
fn without_a_gpu_auto_runs_on_the_cpu_and_cuda_is_a_typed_error() {
    assert_eq!(Backend::select(Device::Cpu, 4).unwrap().describe(), "cpu");
    if let Ok(gpu) = discover(0) {
        println!("SKIP without-GPU checks: {} is present", gpu.name);
        return;
    }
    assert_eq!(Backend::select(Device::Auto, 4).unwrap().describe(), "cpu");
    match Backend::select(Device::Cuda, 4) {
        Err(ModelError::Device(why)) => assert!(why.starts_with("--device cuda:"), "{why}"),
        other => panic!("expected a device error, got {other:?}"),
    }
}
