//! Every CUDA kernel in `kernels/` checked against the Rust CPU code it must match, without a
//! GPU. This test writes the cases (`kernel_emulation/cases/`, one module per kernel file):
//! seeded inputs, the launches built by the same `*_launch` functions the GPU path runs (on fake
//! addresses), and the expected outputs of the Rust CPU twins with their tolerances, one
//! safetensors file per case (`kernel_emulation/case.rs`). It compiles the C++ driver
//! (`kernel_emulation/main.cpp`) with the system C++ compiler (`$CXX`, else `c++`): an emulator
//! of the CUDA execution model (a fiber per thread, block and warp barriers, warp shuffles, the
//! tensor-core `mma.sync` from the PTX ISA's fragment layouts; emu.h says what is and is not
//! emulated) on which the `.cu` files compile unchanged. The driver only runs the launches and
//! compares, under four thread schedules whose outputs must agree bit for bit, and prints a
//! table. Without a compiler (or off x86-64 Linux) the test prints SKIP, unless
//! `SOVITS_RT_REQUIRE_CXX=1`.

#[path = "kernel_emulation/case.rs"]
mod case;
#[path = "kernel_emulation/cases/mod.rs"]
mod cases;
#[path = "kernel_emulation/inputs.rs"]
mod inputs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use sovits_rt::cuda::{declared_kernels, KernelLaunch};

const FLAGS: [&str; 5] = ["-O2", "-std=c++17", "-ffp-contract=off", "-fno-strict-aliasing", "-Wno-unknown-pragmas"];

/// The C++ compiler to use, or `None` (after printing SKIP) when there is none.
fn compiler(test: &str) -> Option<String> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    let why = if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        "the emulator's context switch is x86-64 Linux only".to_string()
    } else if !Command::new(&cxx).arg("--version").output().is_ok_and(|o| o.status.success()) {
        format!("no C++ compiler `{cxx}` (install g++ or set CXX)")
    } else {
        return Some(cxx);
    };
    if std::env::var("SOVITS_RT_REQUIRE_CXX").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, but SOVITS_RT_REQUIRE_CXX=1");
    }
    eprintln!("SKIP {test}: {why}");
    None
}

/// Waits for a compiler run; panics with its output if it failed.
fn finish(what: &str, child: Child) {
    let out = child.wait_with_output().expect("waiting for the C++ compiler");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn(cxx: &str, args: impl IntoIterator<Item = impl AsRef<std::ffi::OsStr>>) -> Child {
    Command::new(cxx)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cxx}: {e}"))
}

/// Starts one compiler per translation unit of the driver, all at once: (source, object, run).
/// The shim directory comes first, so the kernels' <cuda_fp16.h> is the host stand-in; kernels/
/// provides the .cu files themselves.
fn start_compiles(cxx: &str, src: &Path, kernels: &Path, out: &Path) -> Vec<(PathBuf, PathBuf, Child)> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src)
        .expect("reading tests/kernel_emulation")
        .map(|e| e.expect("listing tests/kernel_emulation").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    sources.sort();
    let includes = [format!("-I{}", src.display()), format!("-I{}", kernels.display())];
    sources
        .into_iter()
        .map(|source| {
            let object = out.join(source.file_stem().expect("a source file name")).with_extension("o");
            let args = FLAGS.iter().map(PathBuf::from).chain(includes.iter().map(PathBuf::from));
            let child = spawn(cxx, args.chain([PathBuf::from("-c"), source.clone(), "-o".into(), object.clone()]));
            (source, object, child)
        })
        .collect()
}

/// Every entry point of kernels/*.cu must be launched by some case (a new kernel comes with its
/// cases), never with more threads than its `__launch_bounds__` (the GPU would refuse the launch).
fn check_launches_against_the_kernels(kernels: &Path, cases: &[case::Case]) {
    let launches: Vec<&KernelLaunch> = cases.iter().flat_map(|c| c.launches()).collect();
    for kernel in std::fs::read_dir(kernels).expect("reading kernels/") {
        let path = kernel.expect("listing kernels/").path();
        if path.extension().is_none_or(|x| x != "cu") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("reading a kernel");
        for name in declared_kernels(&source) {
            let bound = launch_bound(&source, &name)
                .unwrap_or_else(|| panic!("{}: entry point {name} declares no __launch_bounds__", path.display()));
            let mine: Vec<_> = launches.iter().filter(|l| l.kernel == name).collect();
            assert!(
                !mine.is_empty(),
                "{}: entry point {name} has no case in tests/kernel_emulation/cases/",
                path.display()
            );
            for l in mine {
                assert!(
                    l.block <= bound,
                    "{name} launched with {} threads, over its __launch_bounds__({bound})",
                    l.block
                );
            }
        }
    }
}

/// The `__launch_bounds__(N)` of entry point `name` in a kernel source.
fn launch_bound(source: &str, name: &str) -> Option<u32> {
    source.split("__launch_bounds__(").skip(1).find_map(|rest| {
        let (bound, after) = rest.split_once(')')?;
        let declared = after.trim_start().split('(').next()?.trim();
        (declared == name).then(|| bound.trim().parse().ok()).flatten()
    })
}

#[test]
fn kernels_match_their_cpu_twins_under_emulation() {
    let test = "kernels_match_their_cpu_twins_under_emulation";
    let Some(cxx) = compiler(test) else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (src, kernels) = (root.join("tests/kernel_emulation"), root.join("kernels"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernel_emulation");
    let case_dir = out.join("cases");
    if case_dir.exists() {
        std::fs::remove_dir_all(&case_dir).expect("clearing the case folder");
    }
    std::fs::create_dir_all(&case_dir).expect("creating the build and case folders");

    // The driver compiles while the cases are computed and written.
    let start = Instant::now();
    let compiles = start_compiles(&cxx, &src, &kernels, &out);
    let cases = cases::all();
    check_launches_against_the_kernels(&kernels, &cases);
    for (i, c) in cases.iter().enumerate() {
        c.write(&case_dir, i);
    }
    println!("kernel emulation: {} cases written in {:.1} s", cases.len(), start.elapsed().as_secs_f64());
    let mut objects = Vec::new();
    for (source, object, child) in compiles {
        finish(&format!("compiling {}", source.display()), child);
        objects.push(object);
    }
    let binary = out.join("kernel_emulation");
    let link = spawn(&cxx, objects.iter().map(PathBuf::as_path).chain([Path::new("-o"), &binary]));
    finish("linking the kernel emulation driver", link);
    println!("kernel emulation: driver built with {cxx} in {:.1} s", start.elapsed().as_secs_f64());

    let run = Command::new(&binary).arg(&case_dir).output().expect("running the kernel emulation driver");
    print!("{}", String::from_utf8_lossy(&run.stdout));
    eprint!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "kernel emulation failed ({}): see the FAIL lines above", run.status);
}
