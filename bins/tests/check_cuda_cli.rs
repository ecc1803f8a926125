//! `check_cuda` on a CPU-only build: says so, tells how to build with CUDA, exits with status 3.

#[cfg(not(feature = "cuda"))]
#[test]
fn a_cpu_only_build_says_how_to_enable_cuda_and_exits_with_3() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_check_cuda"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("CUDA support in this build: no"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cargo build --release --features cuda"),
        "{stdout}"
    );
}

#[test]
fn unknown_flags_exit_with_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_check_cuda"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
