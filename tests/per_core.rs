//! Thread per core: pinned threads, one runtime each.

use std::collections::BTreeSet;

use ringstream::runtime::{current_cpu, pinned_cpu, CoreError, PerCore};

#[test]
fn each_core_runs_pinned_to_a_distinct_cpu() {
    let group = PerCore::new()
        .launch(|index| async move {
            // Yield through the ring a few times so the thread surely runs on its CPU.
            for _ in 0..10 {
                ringstream::nop().await.expect("nop");
            }
            (index, pinned_cpu(), current_cpu())
        })
        .expect("launch");
    let cpus = group.cpus();
    let results: Vec<_> = group
        .join()
        .into_iter()
        .map(|r| r.expect("core result"))
        .collect();
    let allowed = PerCore::new().resolve_cpus().expect("cpus");
    assert_eq!(
        results.len(),
        allowed.len(),
        "one core per allowed CPU by default"
    );
    let mut seen = BTreeSet::new();
    for (i, (index, pinned, running)) in results.iter().enumerate() {
        assert_eq!(*index, i, "the factory got the core index");
        let pinned = pinned.expect("pinned");
        assert_eq!(pinned, cpus[i]);
        assert_eq!(
            *running,
            Some(pinned),
            "the thread runs on the CPU it is pinned to"
        );
        assert!(seen.insert(pinned), "CPU {pinned} used twice");
    }
}

#[test]
fn a_panicking_core_is_reported_as_an_error_and_the_others_finish() {
    let group = PerCore::new()
        .launch(|index| async move {
            if index == 0 {
                panic!("core zero fails");
            }
            index
        })
        .expect("launch");
    let results = group.join();
    match &results[0] {
        Err(CoreError::Panicked { message, .. }) => assert!(message.contains("core zero fails")),
        other => panic!("expected a panic report, got {other:?}"),
    }
    for (i, r) in results.iter().enumerate().skip(1) {
        assert_eq!(r.as_ref().ok(), Some(&i));
    }
}

#[test]
fn asking_for_more_cores_than_allowed_is_an_error() {
    let err = PerCore::new()
        .cores(10_000)
        .launch(|_| async {})
        .err()
        .expect("too many cores");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("may run on"), "{err}");
}
