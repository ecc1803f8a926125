//! The PHI-guided memory on hand-computed cases: D = 2, 3 slots, the query projection the
//! identity (so keys are the queries). Threshold priority 0.8 · 3/10 = 0.24; write priority
//! 0.8 · clamp(φ/10) + 0.1 · exp(-max(0, time - writes)/100); read score
//! 0.7 · q·k/√2 + 0.3 · φ/max φ, read-out the softmax-weighted values of the top k.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use infinito_model::memory::PhiMemory;

fn memory() -> PhiMemory {
    let dev = Device::Cpu;
    let mut tensors = HashMap::new();
    tensors.insert(
        "query_proj.weight".to_string(),
        Tensor::eye(2, DType::F32, &dev).unwrap(),
    );
    tensors.insert(
        "query_proj.bias".to_string(),
        Tensor::zeros(2, DType::F32, &dev).unwrap(),
    );
    PhiMemory::new(3, 2, VarBuilder::from_tensors(tensors, DType::F32, &dev)).unwrap()
}

fn rows(values: &[[f32; 2]]) -> Tensor {
    let flat: Vec<f32> = values.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (values.len(), 2), &Device::Cpu).unwrap()
}

fn write(m: &mut PhiMemory, keys: &[[f32; 2]], values: &[[f32; 2]], phi: &[f32]) -> usize {
    let phi = Tensor::new(phi, &Device::Cpu).unwrap();
    m.write(&rows(keys), &rows(values), &phi).unwrap()
}

fn buffer(m: &PhiMemory, name: &str) -> Vec<f32> {
    m.buffers(&Device::Cpu).unwrap()[name]
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn close(got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

/// Slots after the two writes of the worked example:
/// slot 0: key (1,0), value (1,2), φ 5, priority 0.4 + 0.1;
/// slot 1: key (0,1), value (3,4), φ 8, priority 0.64 + 0.1;
/// slot 2: key (1,1), value (5,6), φ 3, priority 0.24 + 0.1 (it replaced φ 2, priority 0.26).
fn filled() -> PhiMemory {
    let mut m = memory();
    // φ 1 gives 0.08 + 0.1 = 0.18 <= 0.24: not written.
    let n = write(
        &mut m,
        &[[9.0, 9.0], [1.0, 0.0], [0.0, 1.0]],
        &[[9.0, 9.0], [1.0, 2.0], [3.0, 4.0]],
        &[1.0, 5.0, 8.0],
    );
    assert_eq!(n, 2);
    // φ 2 (0.26) takes the free slot 2; φ 3 (0.34) then evicts the lowest priority, slot 2.
    let n = write(
        &mut m,
        &[[7.0, 7.0], [1.0, 1.0]],
        &[[7.0, 7.0], [5.0, 6.0]],
        &[2.0, 3.0],
    );
    assert_eq!(n, 2);
    m
}

#[test]
fn writes_respect_threshold_free_slots_and_victims() {
    let m = filled();
    assert_eq!(m.filled(), 3);
    close(&buffer(&m, "memory_keys"), &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    close(
        &buffer(&m, "memory_values"),
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    close(&buffer(&m, "phi_scores"), &[5.0, 8.0, 3.0]);
    close(&buffer(&m, "priorities"), &[0.5, 0.74, 0.34]);
    close(&buffer(&m, "timestamps"), &[0.0, 0.0, 1.0]);
    close(&buffer(&m, "write_count"), &[4.0]);
    close(&buffer(&m, "global_time"), &[2.0]);
    assert!((m.mean_phi() - 16.0 / 3.0).abs() < 1e-6);
}

#[test]
fn a_full_memory_keeps_entries_that_outrank_the_new_one() {
    let mut m = filled();
    // φ 2.5: 0.2 + 0.1 = 0.3 beats the threshold but not the lowest slot (0.34).
    assert_eq!(write(&mut m, &[[4.0, 4.0]], &[[4.0, 4.0]], &[2.5]), 0);
    close(&buffer(&m, "phi_scores"), &[5.0, 8.0, 3.0]);
    // φ 10: 0.8 + 0.1 replaces slot 2 again.
    assert_eq!(write(&mut m, &[[4.0, 4.0]], &[[4.0, 4.0]], &[10.0]), 1);
    close(&buffer(&m, "phi_scores"), &[5.0, 8.0, 10.0]);
    close(
        &buffer(&m, "memory_values"),
        &[1.0, 2.0, 3.0, 4.0, 4.0, 4.0],
    );
}

#[test]
fn recency_decays_with_calls_that_write_nothing() {
    let mut m = memory();
    for _ in 0..100 {
        assert_eq!(write(&mut m, &[[1.0, 1.0]], &[[1.0, 1.0]], &[0.0]), 0);
    }
    // time 100, writes 0: boost 0.1 · exp(-1).
    assert_eq!(write(&mut m, &[[1.0, 0.0]], &[[1.0, 0.0]], &[5.0]), 1);
    close(
        &buffer(&m, "priorities")[..1],
        &[0.4 + 0.1 * (-1.0f64).exp()],
    );
    close(&buffer(&m, "timestamps")[..1], &[100.0]);
}

#[test]
fn read_is_the_softmax_of_the_top_scores() {
    let mut m = filled();
    let read = m.read(&rows(&[[2.0, 0.0]]), 2).unwrap();
    assert_eq!(read.used, 2);
    // Scores: slot 0: 0.7·2/√2 + 0.3·5/8; slot 1: 0 + 0.3·8/8; slot 2: 0.7·2/√2 + 0.3·3/8.
    let s0 = 0.7 * 2.0 / 2f64.sqrt() + 0.3 * 5.0 / 8.0;
    let s2 = 0.7 * 2.0 / 2f64.sqrt() + 0.3 * 3.0 / 8.0;
    let w0 = 1.0 / (1.0 + (s2 - s0).exp());
    let w2 = 1.0 - w0;
    let want = [w0 * 1.0 + w2 * 5.0, w0 * 2.0 + w2 * 6.0];
    let got: Vec<f32> = read.readout.flatten_all().unwrap().to_vec1().unwrap();
    close(&got, &want);
    close(&buffer(&m, "access_count"), &[1.0, 0.0, 1.0]);
    // The query (-1, 3) ranks slot 1 (0.7·3/√2 + 0.3), then slot 2 (0.7·2/√2 + 0.3·3/8), then
    // slot 0 (0.7·(-1)/√2 + 0.3·5/8).
    let read = m.read(&rows(&[[-1.0, 3.0]]), 2).unwrap();
    let s1 = 0.7 * 3.0 / 2f64.sqrt() + 0.3;
    let s2 = 0.7 * 2.0 / 2f64.sqrt() + 0.3 * 3.0 / 8.0;
    let w1 = 1.0 / (1.0 + (s2 - s1).exp());
    let want = [w1 * 3.0 + (1.0 - w1) * 5.0, w1 * 4.0 + (1.0 - w1) * 6.0];
    let got: Vec<f32> = read.readout.flatten_all().unwrap().to_vec1().unwrap();
    close(&got, &want);
    close(&buffer(&m, "access_count"), &[1.0, 1.0, 2.0]);
}

#[test]
fn an_empty_memory_reads_zeros() {
    let mut m = memory();
    let read = m.read(&rows(&[[1.0, 2.0], [3.0, 4.0]]), 4).unwrap();
    assert_eq!(read.used, 0);
    let got: Vec<f32> = read.readout.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(got, vec![0.0; 4]);
    // One entry: top 4 reads just that one, with weight 1.
    write(&mut m, &[[1.0, 0.0]], &[[6.0, 7.0]], &[9.0]);
    let read = m.read(&rows(&[[1.0, 2.0]]), 4).unwrap();
    assert_eq!(read.used, 1);
    let got: Vec<f32> = read.readout.flatten_all().unwrap().to_vec1().unwrap();
    close(&got, &[6.0, 7.0]);
}
