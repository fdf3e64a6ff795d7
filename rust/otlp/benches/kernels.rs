//! Aggregation kernels, AVX2 vs scalar: `cargo bench -p otlp --bench kernels`.

use std::hint::black_box;
use std::time::Instant;

use otlp::aggregate::Kernels;

fn main() {
    let n = 10_000_000;
    let mut x = 0x1234_5678_9abc_def1u64;
    let values: Vec<f64> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 12_000.0
        })
        .collect();
    let bounds = [
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
        7500.0, 10000.0,
    ];
    for k in [Kernels::Scalar, Kernels::Avx2] {
        if k.available() {
            let t = Instant::now();
            black_box(k.summarize(black_box(&values)));
            println!(
                "{:>6} summary only: {:.2} ns/value",
                k.name(),
                t.elapsed().as_secs_f64() * 1e9 / n as f64
            );
        }
    }
    let mut results = Vec::new();
    for k in [Kernels::Scalar, Kernels::Avx2] {
        if !k.available() {
            continue;
        }
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let mut counts = [0u64; 16];
            let t = Instant::now();
            black_box(k.histogram(black_box(&values), &bounds, &mut counts));
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{:>6}: {:.2} ns/value ({:.0} M values/s)",
            k.name(),
            best * 1e9 / n as f64,
            n as f64 / best / 1e6
        );
        results.push(best);
    }
    if results.len() == 2 {
        println!("avx2/scalar speedup: {:.2}x", results[0] / results[1]);
    }
}
