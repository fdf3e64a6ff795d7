//! Aggregation kernels over arrays of numbers: count, sum, min, max and explicit
//! bucket counts, in one pass.
//!
//! Each kernel exists as a portable scalar version and an AVX2 version, chosen once at
//! run time ([`Kernels::detect`]); `OTLP_FORCE_SCALAR=1` forces the scalar one. The two
//! give bit-identical results: both sum into 16 accumulators (element `i` into
//! accumulator `i % 16`), fold them in the same fixed order and add the tail last, and
//! both take min/max as `if v < acc { v } else { acc }` (the semantics of `vminpd`
//! with the new value first), so NaN never enters min/max and `-0.0`/`0.0` ties keep
//! the value seen first. A NaN makes the sum NaN. The sum's error against the exact
//! sum is at most `(n / 16 + 16) * f64::EPSILON * sum(|v|)` (16 running sums, a
//! 16-way fold, then the tail), checked by the tests. Bucket `i` counts `b[i-1] < v <= b[i]`,
//! that is, the number of boundaries strictly below `v`; NaN lands in bucket 0 (the
//! recording API rejects NaN before it gets here).
//!
//! The kernels read `f64`, `f32`, `i32` and `i64` arrays as they are ([`Element`]),
//! converting each value to `f64` as it is loaded, so other dtypes need no separate
//! conversion pass. `f32` and `i32` convert exactly; `i64` rounds as `x as f64` does
//! (AVX2 converts exactly with a magic-number add when |x| < 2^51, and lane by lane
//! otherwise).

use std::sync::atomic::{AtomicU8, Ordering};

/// Accumulator lanes: 4 AVX2 registers of 4 doubles.
const LANES: usize = 16;

/// An array element the kernels read directly, widened exactly to `f64`.
pub trait Element: Copy + sealed::Sealed {
    /// How the AVX2 kernel loads four of them (0: f64, 1: f32, 2: i32, 3: i64).
    #[doc(hidden)]
    const KIND: u8;
    /// The value as a double (int64 exactly up to 2^53).
    fn to_f64(self) -> f64;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
}

impl Element for f64 {
    const KIND: u8 = 0;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Element for f32 {
    const KIND: u8 = 1;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for i32 {
    const KIND: u8 = 2;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for i64 {
    const KIND: u8 = 3;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// Running count/sum/min/max over any number of chunks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Values seen, NaN included.
    pub count: u64,
    /// Their sum (NaN when one of them was NaN).
    pub sum: f64,
    /// `+inf` when no non-NaN value was seen.
    pub min: f64,
    /// `-inf` when no non-NaN value was seen.
    pub max: f64,
    /// NaN values among them (left out of `min` and `max`).
    pub nan_count: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            nan_count: 0,
        }
    }
}

impl Summary {
    /// Fold `other` (the summary of more values) into this one.
    pub fn merge(&mut self, other: &Summary) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = min_of(other.min, self.min);
        self.max = max_of(other.max, self.max);
        self.nan_count += other.nan_count;
    }
}

#[inline(always)]
fn min_of(v: f64, acc: f64) -> f64 {
    if v < acc {
        v
    } else {
        acc
    }
}

#[inline(always)]
fn max_of(v: f64, acc: f64) -> f64 {
    if v > acc {
        v
    } else {
        acc
    }
}

/// Fold 16 partial sums in the fixed order both kernels use.
#[inline(always)]
fn fold_sums(acc: &[f64; LANES]) -> f64 {
    // Registers r0..r3 hold lanes 4r..4r+3: (r0 + r1) + (r2 + r3), then lanes
    // (l0 + l2) + (l1 + l3).
    let mut r = [0.0; 4];
    for (l, slot) in r.iter_mut().enumerate() {
        *slot = (acc[l] + acc[4 + l]) + (acc[8 + l] + acc[12 + l]);
    }
    (r[0] + r[2]) + (r[1] + r[3])
}

#[inline(always)]
fn fold_min(acc: &[f64; LANES]) -> f64 {
    let mut r = [0.0; 4];
    for (l, slot) in r.iter_mut().enumerate() {
        *slot = min_of(min_of(acc[12 + l], acc[8 + l]), min_of(acc[4 + l], acc[l]));
    }
    min_of(min_of(r[3], r[1]), min_of(r[2], r[0]))
}

#[inline(always)]
fn fold_max(acc: &[f64; LANES]) -> f64 {
    let mut r = [0.0; 4];
    for (l, slot) in r.iter_mut().enumerate() {
        *slot = max_of(max_of(acc[12 + l], acc[8 + l]), max_of(acc[4 + l], acc[l]));
    }
    max_of(max_of(r[3], r[1]), max_of(r[2], r[0]))
}

/// Which implementation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// Portable code (auto-vectorised by the compiler), always available.
    Scalar,
    /// AVX2 intrinsics, on x86-64 CPUs that have them.
    Avx2,
}

static CHOSEN: AtomicU8 = AtomicU8::new(0);

impl Kernels {
    /// AVX2 when the CPU has it, unless `OTLP_FORCE_SCALAR=1`; decided once.
    pub fn detect() -> Self {
        match CHOSEN.load(Ordering::Relaxed) {
            1 => return Kernels::Scalar,
            2 => return Kernels::Avx2,
            _ => {}
        }
        let forced = std::env::var("OTLP_FORCE_SCALAR").is_ok_and(|v| v == "1" || v == "true");
        let k = if !forced && avx2_available() {
            Kernels::Avx2
        } else {
            Kernels::Scalar
        };
        CHOSEN.store(if k == Kernels::Scalar { 1 } else { 2 }, Ordering::Relaxed);
        k
    }

    /// Whether this kernel can run on this CPU.
    pub fn available(self) -> bool {
        match self {
            Kernels::Scalar => true,
            Kernels::Avx2 => avx2_available(),
        }
    }

    /// `scalar` or `avx2`.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Scalar => "scalar",
            Kernels::Avx2 => "avx2",
        }
    }

    /// Summarize `values` and add each to its bucket in `counts`
    /// (`counts.len() == bounds.len() + 1`; `bounds` sorted ascending, no NaN).
    /// Returns the summary of this call's values.
    pub fn histogram<T: Element>(
        self,
        values: &[T],
        bounds: &[f64],
        counts: &mut [u64],
    ) -> Summary {
        assert_eq!(counts.len(), bounds.len() + 1, "one count per bucket");
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx2 if avx2_available() => {
                // SAFETY: AVX2 support was just checked at run time.
                unsafe { avx2::histogram(values, bounds, counts) }
            }
            _ => scalar::histogram(values, bounds, counts),
        }
    }

    /// Count, sum, min and max of `values`.
    pub fn summarize<T: Element>(self, values: &[T]) -> Summary {
        self.histogram(values, &[], &mut [0])
    }
}

fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Number of boundaries strictly below `v` (its bucket index).
#[inline(always)]
pub(crate) fn bucket_of(v: f64, bounds: &[f64]) -> usize {
    if bounds.len() <= 32 {
        bounds.iter().map(|b| (*b < v) as usize).sum()
    } else {
        bounds.partition_point(|b| *b < v)
    }
}

/// The values after the last full block of 16 (added one by one, after the fold, in
/// both kernels), and with no boundaries every value in the single bucket.
#[inline(always)]
fn finish<T: Element>(
    s: &mut Summary,
    values: &[T],
    body: usize,
    bounds: &[f64],
    counts: &mut [u64],
) {
    for v in &values[body..] {
        let v = v.to_f64();
        s.sum += v;
        s.min = min_of(v, s.min);
        s.max = max_of(v, s.max);
        s.nan_count += v.is_nan() as u64;
        if !bounds.is_empty() {
            counts[bucket_of(v, bounds)] += 1;
        }
    }
    if bounds.is_empty() {
        counts[0] += values.len() as u64;
    }
}

mod scalar {
    use super::*;

    pub fn histogram<T: Element>(values: &[T], bounds: &[f64], counts: &mut [u64]) -> Summary {
        let mut sum = [0.0f64; LANES];
        let mut min = [f64::INFINITY; LANES];
        let mut max = [f64::NEG_INFINITY; LANES];
        let mut nan = 0u64;
        let body = values.len() - values.len() % LANES;
        for chunk in values[..body].chunks_exact(LANES) {
            for l in 0..LANES {
                let v = chunk[l].to_f64();
                sum[l] += v;
                min[l] = min_of(v, min[l]);
                max[l] = max_of(v, max[l]);
                nan += v.is_nan() as u64;
            }
            if !bounds.is_empty() {
                for &v in chunk {
                    counts[bucket_of(v.to_f64(), bounds)] += 1;
                }
            }
        }
        let mut s = Summary {
            count: values.len() as u64,
            sum: fold_sums(&sum),
            min: fold_min(&min),
            max: fold_max(&max),
            nan_count: nan,
        };
        finish(&mut s, values, body, bounds, counts);
        s
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    // SAFETY: callers check AVX2 at run time (`Kernels::histogram`).
    #[target_feature(enable = "avx2")]
    pub unsafe fn histogram<T: Element>(
        values: &[T],
        bounds: &[f64],
        counts: &mut [u64],
    ) -> Summary {
        // A copy of the loop per boundary count up to 16 keeps the per-boundary
        // counters in registers.
        macro_rules! by_len {
            ($($n:literal)*) => {
                match bounds.len() {
                    // SAFETY: the caller guarantees AVX2.
                    $($n => unsafe { run::<$n, T>(values, bounds, counts) },)*
                    // SAFETY: as above.
                    _ => unsafe { run::<0, T>(values, bounds, counts) },
                }
            };
        }
        by_len!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    /// `N` > 0: exactly `N` boundaries, counted in registers; 0: any other count.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    // SAFETY: only called from `histogram`, whose caller checked AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn run<const N: usize, T: Element>(
        values: &[T],
        bounds: &[f64],
        counts: &mut [u64],
    ) -> Summary {
        let zero = _mm256_setzero_pd();
        let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
        let inf = _mm256_set1_pd(f64::INFINITY);
        let ninf = _mm256_set1_pd(f64::NEG_INFINITY);
        let (mut lo0, mut lo1, mut lo2, mut lo3) = (inf, inf, inf, inf);
        let (mut hi0, mut hi1, mut hi2, mut hi3) = (ninf, ninf, ninf, ninf);
        let mut nan = _mm256_setzero_si256();
        let body = values.len() - values.len() % LANES;
        let few = N > 0;
        debug_assert!(N == 0 || N == bounds.len());
        let linear = !bounds.is_empty() && !few && bounds.len() <= 32;
        // Unused slots hold +inf: no value is above it, so they count nothing.
        let mut bvec = [_mm256_set1_pd(f64::INFINITY); 32];
        for (slot, &b) in bvec.iter_mut().zip(bounds.iter().take(32)) {
            *slot = _mm256_set1_pd(b);
        }
        let mut above = [_mm256_setzero_si256(); 17];
        let mut lane_counts = [[0u64; 33]; 4];
        let p = values.as_ptr();
        // Four elements from `p + at`, widened to doubles (T::KIND is a constant: one
        // arm survives per element type).
        let bias = _mm256_set1_epi64x(1 << 51);
        let magic_bits = _mm256_set1_epi64x(0x4338_0000_0000_0000); // 1.5 * 2^52
        let magic = _mm256_set1_pd(6_755_399_441_055_744.0);
        macro_rules! load4 {
            ($at:expr) => {
                match T::KIND {
                    0 => _mm256_loadu_pd(p.add($at).cast()),
                    1 => _mm256_cvtps_pd(_mm_loadu_ps(p.add($at).cast())),
                    2 => _mm256_cvtepi32_pd(_mm_loadu_si128(p.add($at).cast())),
                    _ => {
                        let x = _mm256_loadu_si256(p.add($at).cast());
                        // -2^51 <= x < 2^51 in every lane: x + 2^51 has no bit above 51.
                        let high = _mm256_srli_epi64::<52>(_mm256_add_epi64(x, bias));
                        if _mm256_testz_si256(high, high) == 1 {
                            // The double 1.5 * 2^52 + x is exact; minus 1.5 * 2^52 is x.
                            _mm256_sub_pd(
                                _mm256_castsi256_pd(_mm256_add_epi64(x, magic_bits)),
                                magic,
                            )
                        } else {
                            let mut lanes = [0i64; 4];
                            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), x);
                            _mm256_set_pd(
                                lanes[3] as f64,
                                lanes[2] as f64,
                                lanes[1] as f64,
                                lanes[0] as f64,
                            )
                        }
                    }
                }
            };
        }
        let mut i = 0;
        while i < body {
            // SAFETY: i + 16 <= body <= values.len(), so all four loads (of 4 elements
            // of T each) are in bounds; the unaligned loads have no alignment needs.
            let (v0, v1, v2, v3) =
                unsafe { (load4!(i), load4!(i + 4), load4!(i + 8), load4!(i + 12)) };
            s0 = _mm256_add_pd(s0, v0);
            s1 = _mm256_add_pd(s1, v1);
            s2 = _mm256_add_pd(s2, v2);
            s3 = _mm256_add_pd(s3, v3);
            // min_pd(a, b) = a < b ? a : b, with the new value first (see module docs).
            lo0 = _mm256_min_pd(v0, lo0);
            lo1 = _mm256_min_pd(v1, lo1);
            lo2 = _mm256_min_pd(v2, lo2);
            lo3 = _mm256_min_pd(v3, lo3);
            hi0 = _mm256_max_pd(v0, hi0);
            hi1 = _mm256_max_pd(v1, hi1);
            hi2 = _mm256_max_pd(v2, hi2);
            hi3 = _mm256_max_pd(v3, hi3);
            for v in [v0, v1, v2, v3] {
                let isnan = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_UNORD_Q>(v, v));
                nan = _mm256_sub_epi64(nan, isnan);
            }
            if few {
                // For each boundary, count the values above it, in vector lanes;
                // bucket counts are the differences (see below). No scatter.
                for v in [v0, v1, v2, v3] {
                    for j in 0..N {
                        let lt = _mm256_cmp_pd::<_CMP_LT_OQ>(bvec[j], v);
                        above[j] = _mm256_sub_epi64(above[j], _mm256_castpd_si256(lt));
                    }
                }
            } else if linear {
                for v in [v0, v1, v2, v3] {
                    // Index = number of boundaries below v: each true compare is -1.
                    let mut idx = _mm256_setzero_si256();
                    for b in &bvec[..bounds.len()] {
                        let lt = _mm256_cmp_pd::<_CMP_LT_OQ>(*b, v);
                        idx = _mm256_sub_epi64(idx, _mm256_castpd_si256(lt));
                    }
                    let mut lanes = [0u64; 4];
                    // SAFETY: `lanes` is 32 bytes, the size of the store.
                    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), idx) };
                    // One count table per lane: no store-to-load chain when
                    // neighbouring values share a bucket.
                    for (table, l) in lane_counts.iter_mut().zip(lanes) {
                        table[l as usize] += 1;
                    }
                }
            } else if !bounds.is_empty() {
                // SAFETY: as for the loads above.
                let chunk = unsafe { std::slice::from_raw_parts(p.add(i), LANES) };
                for v in chunk {
                    let v = v.to_f64();
                    counts[bounds.partition_point(|b| *b < v)] += 1;
                }
            }
            i += LANES;
        }
        let mut acc = [0.0f64; LANES];
        let mut lo = [0.0f64; LANES];
        let mut hi = [0.0f64; LANES];
        let mut nans = [0u64; 4];
        // SAFETY: each array holds 16 doubles; each store writes 4 at offsets 0..16.
        unsafe {
            for (k, (s, (l, h))) in [
                (s0, (lo0, hi0)),
                (s1, (lo1, hi1)),
                (s2, (lo2, hi2)),
                (s3, (lo3, hi3)),
            ]
            .into_iter()
            .enumerate()
            {
                _mm256_storeu_pd(acc.as_mut_ptr().add(4 * k), s);
                _mm256_storeu_pd(lo.as_mut_ptr().add(4 * k), l);
                _mm256_storeu_pd(hi.as_mut_ptr().add(4 * k), h);
            }
            _mm256_storeu_si256(nans.as_mut_ptr().cast(), nan);
        }
        if linear {
            for (c, bucket) in counts.iter_mut().enumerate() {
                *bucket += lane_counts.iter().map(|t| t[c]).sum::<u64>();
            }
        }
        if few {
            // above[j] = values in the body with b[j] < v; bucket i holds
            // above[i-1] - above[i] (above[-1] = all, above[n] = none).
            let mut prev = body as u64;
            for (j, bucket) in counts.iter_mut().enumerate() {
                let now = if j < bounds.len() {
                    let mut lanes = [0u64; 4];
                    // SAFETY: `lanes` is 32 bytes, the size of the store.
                    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), above[j]) };
                    lanes.iter().sum()
                } else {
                    0
                };
                *bucket += prev - now;
                prev = now;
            }
        }
        let mut s = Summary {
            count: values.len() as u64,
            sum: fold_sums(&acc),
            min: fold_min(&lo),
            max: fold_max(&hi),
            nan_count: nans.iter().sum(),
        };
        finish(&mut s, values, body, bounds, counts);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random doubles with a good share of special values.
    fn sample(seed: u64, n: usize, bounds: &[f64]) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|_| {
                let r = next();
                match r % 16 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    3 => -0.0,
                    4 => 0.0,
                    5 => f64::from_bits(r >> 12), // denormals and small values
                    6 if !bounds.is_empty() => bounds[(r as usize >> 8) % bounds.len()],
                    7 => f64::from_bits(r), // anything, NaN payloads included
                    _ => ((r >> 11) as f64 / (1u64 << 53) as f64 - 0.3) * 1e4,
                }
            })
            .collect()
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn avx2_and_scalar_agree_bit_for_bit() {
        if !Kernels::Avx2.available() {
            return;
        }
        let bound_sets: [Vec<f64>; 7] = [
            vec![],
            vec![0.0],
            vec![-1.0, 1.0],
            (0..16).map(|i| i as f64 * 3.0).collect(),
            (0..17).map(|i| i as f64 * 3.0).collect(),
            vec![
                0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0,
                5000.0, 7500.0, 10000.0,
            ],
            (0..100).map(|i| (i as f64 - 50.0) * 37.5).collect(),
        ];
        for bounds in &bound_sets {
            for n in [
                0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 4099, 100_003,
            ] {
                for seed in 0..4 {
                    let v = sample(seed * 1000 + n as u64, n, bounds);
                    let mut c1 = vec![0; bounds.len() + 1];
                    let mut c2 = vec![0; bounds.len() + 1];
                    let a = Kernels::Scalar.histogram(&v, bounds, &mut c1);
                    let b = Kernels::Avx2.histogram(&v, bounds, &mut c2);
                    assert!(same(a.sum, b.sum), "sum n={n}: {} vs {}", a.sum, b.sum);
                    assert!(same(a.min, b.min) && same(a.max, b.max), "min/max n={n}");
                    assert_eq!((a.count, a.nan_count), (b.count, b.nan_count));
                    assert_eq!(c1, c2, "buckets n={n} bounds={}", bounds.len());
                    assert_eq!(c1.iter().sum::<u64>(), n as u64);
                }
            }
        }
    }

    /// float32, int32 and int64 arrays, read directly: both kernels agree with each other
    /// and with running the f64 kernel over the same values converted first.
    #[test]
    fn narrow_arrays_agree_with_their_widened_f64_copy() {
        if !Kernels::Avx2.available() {
            return;
        }
        let bound_sets: [Vec<f64>; 4] = [
            vec![],
            vec![-1.0, 0.0, 1.0],
            (0..15).map(|i| i as f64 * 100.0 - 300.0).collect(),
            (0..40).map(|i| i as f64 * 7.0 - 100.0).collect(),
        ];
        fn check<T: Element>(v: &[T], bounds: &[f64]) {
            let wide: Vec<f64> = v.iter().map(|x| x.to_f64()).collect();
            let mut c = [
                vec![0; bounds.len() + 1],
                vec![0; bounds.len() + 1],
                vec![0; bounds.len() + 1],
            ];
            let [c0, c1, c2] = &mut c;
            let a = Kernels::Scalar.histogram(v, bounds, c0);
            let b = Kernels::Avx2.histogram(v, bounds, c1);
            let w = Kernels::Avx2.histogram(&wide, bounds, c2);
            for other in [b, w] {
                assert!(same(a.sum, other.sum), "sum {} vs {}", a.sum, other.sum);
                assert!(same(a.min, other.min) && same(a.max, other.max));
                assert_eq!((a.count, a.nan_count), (other.count, other.nan_count));
            }
            assert_eq!(c[0], c[1]);
            assert_eq!(c[0], c[2]);
        }
        for bounds in &bound_sets {
            for n in [0, 1, 15, 16, 17, 33, 1000, 4099, 100_003] {
                for seed in 0..3 {
                    let f = sample(seed * 7 + n as u64, n, bounds);
                    // f32 keeps NaN, infinities and -0.0; large values round.
                    let narrow: Vec<f32> = f.iter().map(|x| *x as f32).collect();
                    check(&narrow, bounds);
                    let ints: Vec<i32> = f
                        .iter()
                        .map(|x| if x.is_finite() { *x as i32 } else { i32::MIN })
                        .collect();
                    check(&ints, bounds);
                    // int64: small values (the exact fast path) mixed with huge ones
                    // (converted lane by lane, rounding as `as f64` does).
                    let longs: Vec<i64> = f
                        .iter()
                        .enumerate()
                        .map(|(i, x)| match i % 97 {
                            0 => i64::MAX - i as i64,
                            1 => i64::MIN + i as i64,
                            2 => (1 << 51) - (i as i64 % 3),
                            3 => -(1 << 51) + (i as i64 % 3) - 1,
                            _ if x.is_finite() => *x as i64,
                            _ => 0,
                        })
                        .collect();
                    check(&longs, bounds);
                }
            }
        }
    }

    #[test]
    fn buckets_are_upper_inclusive() {
        let bounds = [0.0, 10.0];
        for k in [Kernels::Scalar, Kernels::Avx2] {
            if !k.available() {
                continue;
            }
            let mut counts = [0; 3];
            let vals = [
                -1.0,
                -0.0,
                0.0,
                0.5,
                10.0,
                10.000001,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ];
            let s = k.histogram(&vals, &bounds, &mut counts);
            assert_eq!(counts, [4, 2, 2], "{k:?}");
            assert_eq!((s.min, s.max), (f64::NEG_INFINITY, f64::INFINITY));
        }
    }

    #[test]
    fn summary_of_simple_values() {
        for k in [Kernels::Scalar, Kernels::Avx2] {
            if !k.available() {
                continue;
            }
            let v: Vec<f64> = (1..=100).map(f64::from).collect();
            let s = k.summarize(&v);
            assert_eq!(
                (s.count, s.sum, s.min, s.max, s.nan_count),
                (100, 5050.0, 1.0, 100.0, 0)
            );
            let s = k.summarize::<f64>(&[]);
            assert_eq!(
                (s.count, s.sum, s.min, s.max),
                (0, 0.0, f64::INFINITY, f64::NEG_INFINITY)
            );
            let s = k.summarize(&[f64::NAN, 2.0]);
            assert!(s.sum.is_nan());
            assert_eq!((s.min, s.max, s.nan_count), (2.0, 2.0, 1));
        }
    }

    #[test]
    fn sum_error_is_within_the_documented_bound() {
        // |sum - exact| <= (n / 16 + 16) * eps * sum(|v|): 16 running sums, then a
        // 16-way fold, then the tail.
        let v: Vec<f64> = (0..1_000_000u64)
            .map(|i| ((i * 7919) % 1000) as f64 * 0.001 + 0.1)
            .collect();
        let exact: f64 = {
            // Kahan summation as the reference.
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for &x in &v {
                let y = x - c;
                let t = s + y;
                c = (t - s) - y;
                s = t;
            }
            s
        };
        let abs: f64 = v.iter().map(|x| x.abs()).sum();
        let bound = ((v.len() / 16 + 16) as f64) * f64::EPSILON * abs;
        let got = Kernels::detect().summarize(&v).sum;
        assert!(
            (got - exact).abs() <= bound,
            "{got} vs {exact} (bound {bound})"
        );
    }
}
