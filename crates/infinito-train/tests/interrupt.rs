//! The Ctrl+C handler sets the stop flag on a real SIGINT (its own test binary, because the
//! handler is process-wide).

#[cfg(unix)]
#[test]
fn sigint_sets_the_stop_flag() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    let flag = infinito_train::interrupt::install_ctrlc_handler()?;
    assert!(!flag.load(Ordering::SeqCst));
    let status = std::process::Command::new("kill")
        .args(["-INT", &std::process::id().to_string()])
        .status()?;
    assert!(status.success());
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(flag.load(Ordering::SeqCst), "SIGINT did not set the flag");

    let err = infinito_train::interrupt::install_ctrlc_handler()
        .err()
        .ok_or("a second handler was accepted")?;
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot install the Ctrl+C handler") && !msg.contains('\n'),
        "{msg}"
    );
    Ok(())
}
