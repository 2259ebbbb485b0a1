//! Every CUDA kernel in `kernels/` checked against the CPU code it must match, without a GPU:
//! `tests/kernel_emulation/` emulates the CUDA execution model on the host (a fiber per thread,
//! block and warp barriers, warp shuffles, the tensor-core `mma.sync` from the PTX ISA's fragment
//! layouts), so the `.cu` files compile unchanged as C++ and run against C++ ports of the Rust
//! CPU code, under four thread schedules whose outputs must agree bit for bit (main.cpp and
//! emu.h say what is and is not emulated). This test compiles the driver with the system C++
//! compiler (`$CXX`, else `c++`), including the kernels from `kernels/` by include path, runs it
//! and prints its table. Without a compiler (or off x86-64 Linux) it prints SKIP, unless
//! `SOVITS_RT_REQUIRE_CXX=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use sovits_rt::cuda::declared_kernels;

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

#[test]
fn kernels_match_their_cpu_twins_under_emulation() {
    let test = "kernels_match_their_cpu_twins_under_emulation";
    let Some(cxx) = compiler(test) else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("tests/kernel_emulation");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernel_emulation");
    std::fs::create_dir_all(&out).expect("creating the build directory");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("reading tests/kernel_emulation")
        .map(|e| e.expect("listing tests/kernel_emulation").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    sources.sort();

    // Every entry point must be called by some suite: a new kernel comes with its cases.
    let suites: String = sources.iter().map(|p| std::fs::read_to_string(p).expect("reading a suite")).collect();
    for kernel in std::fs::read_dir(root.join("kernels")).expect("reading kernels/") {
        let path = kernel.expect("listing kernels/").path();
        if path.extension().is_some_and(|x| x == "cu") {
            for name in declared_kernels(&std::fs::read_to_string(&path).expect("reading a kernel")) {
                assert!(
                    suites.contains(&format!("{name}(")),
                    "{}: entry point {name} has no case in tests/kernel_emulation/",
                    path.display()
                );
            }
        }
    }

    // One compiler per translation unit, all at once. The shim directory comes first, so the
    // kernels' <cuda_fp16.h> is the host stand-in; kernels/ provides the .cu files themselves.
    let start = Instant::now();
    let includes = [format!("-I{}", src.display()), format!("-I{}", root.join("kernels").display())];
    let compiles: Vec<(PathBuf, PathBuf, Child)> = sources
        .into_iter()
        .map(|source| {
            let object = out.join(source.file_stem().unwrap()).with_extension("o");
            let child = Command::new(&cxx)
                .args(FLAGS)
                .args(&includes)
                .arg("-c")
                .arg(&source)
                .arg("-o")
                .arg(&object)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {cxx}: {e}"));
            (source, object, child)
        })
        .collect();
    let mut objects = Vec::new();
    for (source, object, child) in compiles {
        finish(&format!("compiling {}", source.display()), child);
        objects.push(object);
    }
    let binary = out.join("kernel_emulation");
    let link = Command::new(&cxx)
        .args(&objects)
        .arg("-o")
        .arg(&binary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cxx}: {e}"));
    finish("linking the kernel emulation driver", link);
    println!("kernel emulation: built with {cxx} in {:.1} s", start.elapsed().as_secs_f64());

    let run = Command::new(&binary).output().expect("running the kernel emulation driver");
    print!("{}", String::from_utf8_lossy(&run.stdout));
    eprint!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "kernel emulation failed ({}): see the FAIL lines above", run.status);
}
