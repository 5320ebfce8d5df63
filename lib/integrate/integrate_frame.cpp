// Per-frame integration: preprocessing fused with the CSR mat-vec (pyFAI CsrIntegrator.integrate_ng,
// preproc_value_inplace), plus sigma clipping and the quantile (median) filter.
// Three kernels give the same sums (docs/integration.md, "Per-frame kernels"): the exact
// per-pixel one, and for the none/poisson error models a fast path (pixel-major for 1D patterns,
// row gather for cakes) that takes the frame-independent sums from a per-corrections cache.
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
// ANVIL_INTEGRATE_SCALAR: build without the AVX2 kernel (to test the portable one).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(ANVIL_INTEGRATE_SCALAR)
#include <immintrin.h>
#define ANVIL_INTEGRATE_AVX2 1
#endif

#include "core/error.hpp"
#include "integrate/integrator.hpp"
#include "integrate/static_sums.hpp"

namespace anvil::integrate {

namespace {

// Everything the inner loop reads, resolved once per frame.
struct FrameView {
  const float* pixels = nullptr;
  const std::uint8_t* invalid = nullptr;
  const float* variance = nullptr;
  const float* norm = nullptr;
  const float* dark = nullptr;
  float factor = 1.0f;
  std::size_t pixel_count = 0;
};

FrameView resolve(const Integrator& integrator, const FrameInput& f, const PreparedCorrections& c,
                  ErrorModel model) {
  const std::size_t n = integrator.shape().pixel_count();
  const auto fail = [](const std::string& what) { throw InputError("integrate", what); };
  if (f.pixels.size() != n)
    fail("frame has " + std::to_string(f.pixels.size()) + " pixels, the integrator expects " +
         std::to_string(n));
  if (!f.invalid.empty() && f.invalid.size() != n) fail("invalid-pixel mask size differs from the frame");
  if (model == ErrorModel::variance && f.variance.size() != n)
    fail("error model 'variance' needs one variance per pixel");
  if (!c.normalization().empty() && c.normalization().size() != n)
    fail("corrections are for another detector size");
  if (!c.dark().empty() && c.dark().size() != n) fail("dark is for another detector size");
  FrameView v;
  v.pixels = f.pixels.data();
  v.invalid = f.invalid.empty() ? nullptr : f.invalid.data();
  v.variance = model == ErrorModel::variance ? f.variance.data() : nullptr;
  v.norm = c.normalization().empty() ? nullptr : c.normalization().data();
  v.dark = c.dark().empty() ? nullptr : c.dark().data();
  v.factor = f.normalization_factor;
  v.pixel_count = n;
  return v;
}

// One preprocessed pixel (pyFAI preproc_t): false when the pixel does not contribute.
struct Pixel {
  double signal, variance, norm;
};

template <ErrorModel kModel, bool kNorm, bool kDark, bool kInvalid>
inline bool preprocess(const FrameView& v, std::uint32_t p, Pixel& out) {
  const float raw = v.pixels[p];
  float norm = v.factor;
  if constexpr (kNorm) norm *= v.norm[p];
  bool valid = !std::isnan(raw) && norm != 0.0f && !std::isnan(norm);
  if constexpr (kInvalid) valid = valid && v.invalid[p] == 0;
  if (!valid) return false;
  float signal = raw;
  float variance = 0.0f;
  if constexpr (kModel == ErrorModel::poisson) variance = std::max(1.0f, raw);
  if constexpr (kModel == ErrorModel::variance) variance = v.variance[p];
  if constexpr (kDark) {
    signal -= v.dark[p];
    if constexpr (kModel == ErrorModel::poisson) variance += std::max(0.0f, v.dark[p]);
  }
  if constexpr (kModel == ErrorModel::variance) {
    if (std::isnan(variance)) return false;
  }
  out = {signal, variance, norm};
  return true;
}

struct Accumulator {
  double signal = 0, variance = 0, norm = 0, norm_sq = 0, count = 0;

  // Poisson / given variance: plain weighted sums.
  void add(double c, const Pixel& px) {
    signal += c * px.signal;
    variance += c * c * px.variance;
    const double w = c * px.norm;
    norm += w;
    norm_sq += w * w;
    count += c;
  }
  // Azimuthal: weighted running variance of signal/norm, pyFAI's update
  // VV_{A∪b} = VV_A + ω_b²·(b − ⟨A⟩)·(b − ⟨A∪b⟩) with ω_b = c·norm.
  void add_azimuthal(double c, const Pixel& px) {
    const double w = c * px.norm;
    if (norm == 0.0) {
      signal = c * px.signal;
      norm = w;
      norm_sq = w * w;
      count = c;
      return;
    }
    const double b = px.signal / px.norm;
    const double delta1 = signal / norm - b;
    signal += c * px.signal;
    norm += w;
    norm_sq += w * w;
    const double delta2 = signal / norm - b;
    variance += w * w * delta1 * delta2;
    count += c;
  }
};

void store(IntegrationResult& r, std::size_t bin, const Accumulator& a, double empty) {
  r.sum_signal[bin] = a.signal;
  r.sum_variance[bin] = a.variance;
  r.sum_normalization[bin] = a.norm;
  r.sum_normalization_sq[bin] = a.norm_sq;
  r.count[bin] = a.count;
  if (a.norm_sq > 0.0) {
    r.intensity[bin] = a.signal / a.norm;
    r.sigma[bin] = std::sqrt(a.variance) / a.norm;
    r.std_dev[bin] = std::sqrt(a.variance / a.norm_sq);
  } else {
    r.intensity[bin] = r.sigma[bin] = r.std_dev[bin] = empty;
  }
}

IntegrationResult make_result(const Integrator& integrator) {
  IntegrationResult r;
  r.radial_bins = integrator.binning().radial_bins;
  r.azimuth_bins = integrator.binning().azimuth_bins;
  const std::size_t n = integrator.bin_count();
  for (auto* v : {&r.sum_signal, &r.sum_variance, &r.sum_normalization, &r.sum_normalization_sq, &r.count,
                  &r.intensity, &r.sigma, &r.std_dev})
    v->assign(n, 0.0);
  return r;
}

// Sequential rows for the azimuthal model (its running variance is order-dependent).
template <ErrorModel kModel, bool kNorm, bool kDark, bool kInvalid>
void integrate_rows_azimuthal(const CsrMatrix& m, const FrameView& v, double empty, IntegrationResult& r) {
  const std::uint32_t* col = m.col_idx.data();
  const float* weight = m.weights.data();
  for (std::size_t row = 0; row < m.rows(); ++row) {
    Accumulator a;
    Pixel px;
    for (std::uint32_t j = m.row_ptr[row], end = m.row_ptr[row + 1]; j < end; ++j)
      if (preprocess<kModel, kNorm, kDark, kInvalid>(v, col[j], px)) a.add_azimuthal(weight[j], px);
    store(r, row, a, empty);
  }
}

// Poisson / given variance / none: a branch-free fused preprocessing + mat-vec over a batch of
// kBatch frames, so that the matrix and the static corrections are read once per batch.
// Each frame's sums are formed in the same order whatever the batch, so results do not depend
// on how frames are grouped or on the number of threads.
template <ErrorModel kModel, bool kNorm, bool kDark, bool kInvalid, int kBatch>
void integrate_rows_batch(const CsrMatrix& m, const FrameView* v, double empty, IntegrationResult* r) {
  const std::uint32_t* col = m.col_idx.data();
  const float* weight = m.weights.data();
  const float* norm = v[0].norm;
  const float* dark = v[0].dark;
  for (std::size_t row = 0; row < m.rows(); ++row) {
    double s[kBatch] = {}, var[kBatch] = {}, nrm[kBatch] = {}, nrm2[kBatch] = {}, cnt[kBatch] = {};
    for (std::uint32_t j = m.row_ptr[row], end = m.row_ptr[row + 1]; j < end; ++j) {
      const std::uint32_t p = col[j];
      const double w = weight[j];
      const float n_static = kNorm ? norm[p] : 1.0f;
      const float d = kDark ? dark[p] : 0.0f;
      for (int f = 0; f < kBatch; ++f) {
        const float raw = v[f].pixels[p];
        const float n = v[f].factor * n_static;
        bool valid = raw == raw && n == n && n != 0.0f;  // not NaN, normalisable
        if constexpr (kInvalid) valid = valid && v[f].invalid[p] == 0;
        float variance = 0.0f;
        if constexpr (kModel == ErrorModel::poisson)
          variance = std::max(1.0f, raw) + (kDark ? std::max(0.0f, d) : 0.0f);
        if constexpr (kModel == ErrorModel::variance) variance = v[f].variance[p];
        const double sig_v = valid ? static_cast<double>(raw - d) : 0.0;
        const double var_v = valid ? static_cast<double>(variance) : 0.0;
        const double wn = valid ? w * static_cast<double>(n) : 0.0;
        s[f] += w * sig_v;
        var[f] += w * w * var_v;
        nrm[f] += wn;
        nrm2[f] += wn * wn;
        cnt[f] += valid ? w : 0.0;
      }
    }
    for (int f = 0; f < kBatch; ++f) {
      Accumulator a;
      a.signal = s[f];
      a.variance = var[f];
      a.norm = nrm[f];
      a.norm_sq = nrm2[f];
      a.count = cnt[f];
      store(r[f], row, a, empty);
    }
  }
}

template <ErrorModel kModel, bool kNorm, bool kDark, bool kInvalid>
void integrate_batch(const CsrMatrix& m, const FrameView* v, std::size_t count, double empty,
                     IntegrationResult* r) {
  if constexpr (kModel == ErrorModel::azimuthal) {
    for (std::size_t f = 0; f < count; ++f)
      integrate_rows_azimuthal<kModel, kNorm, kDark, kInvalid>(m, v[f], empty, r[f]);
  } else {
    switch (count) {
      case 1:
        return integrate_rows_batch<kModel, kNorm, kDark, kInvalid, 1>(m, v, empty, r);
      case 2:
        return integrate_rows_batch<kModel, kNorm, kDark, kInvalid, 2>(m, v, empty, r);
      case 3:
        return integrate_rows_batch<kModel, kNorm, kDark, kInvalid, 3>(m, v, empty, r);
      default:
        return integrate_rows_batch<kModel, kNorm, kDark, kInvalid, 4>(m, v, empty, r);
    }
  }
}

// Dispatch on the error model and on which corrections are present, so that the inner loop has
// no branch on them.
template <class F>
void dispatch(ErrorModel model, const FrameView& v, F&& f) {
  const auto with_model = [&]<ErrorModel M>() {
    const bool n = v.norm, d = v.dark, i = v.invalid;
    if (n && !d && !i) return f.template operator()<M, true, false, false>();
    if (n && d && !i) return f.template operator()<M, true, true, false>();
    if (n && !d && i) return f.template operator()<M, true, false, true>();
    if (n && d && i) return f.template operator()<M, true, true, true>();
    if (!n && !d && !i) return f.template operator()<M, false, false, false>();
    if (!n && d && !i) return f.template operator()<M, false, true, false>();
    if (!n && !d && i) return f.template operator()<M, false, false, true>();
    return f.template operator()<M, false, true, true>();
  };
  switch (model) {
    case ErrorModel::none:
      return with_model.template operator()<ErrorModel::none>();
    case ErrorModel::variance:
      return with_model.template operator()<ErrorModel::variance>();
    case ErrorModel::poisson:
      return with_model.template operator()<ErrorModel::poisson>();
    case ErrorModel::azimuthal:
      return with_model.template operator()<ErrorModel::azimuthal>();
  }
}

// The valid pixels of one bin, preprocessed, for the row-local filters.
struct BinPixel {
  double coef;
  Pixel px;
  double value;  // signal / norm
};

template <ErrorModel kModel, bool kNorm, bool kDark, bool kInvalid>
void gather_row(const CsrMatrix& m, const FrameView& v, std::size_t row, std::vector<BinPixel>& out) {
  out.clear();
  Pixel px;
  for (std::uint32_t j = m.row_ptr[row], end = m.row_ptr[row + 1]; j < end; ++j) {
    if (m.weights[j] == 0.0f) continue;
    if (!preprocess<kModel, kNorm, kDark, kInvalid>(v, m.col_idx[j], px)) continue;
    out.push_back({m.weights[j], px, px.signal / px.norm});
  }
}

// Accumulator::add_azimuthal over gathered pixels, bit-identical to it but with one division
// per pixel instead of three: b = signal/norm is the gathered value, and ⟨A⟩ before a pixel is
// the ⟨A∪b⟩ computed after the previous one.
struct RunningAzimuthal {
  Accumulator a;
  double mean = 0.0;
  void add(const BinPixel& e) {
    const double c = e.coef;
    const double w = c * e.px.norm;
    if (a.norm == 0.0) {
      a.signal = c * e.px.signal;
      a.norm = w;
      a.norm_sq = w * w;
      a.count = c;
      mean = a.signal / a.norm;
      return;
    }
    const double delta1 = mean - e.value;
    a.signal += c * e.px.signal;
    a.norm += w;
    a.norm_sq += w * w;
    mean = a.signal / a.norm;
    const double delta2 = mean - e.value;
    a.variance += w * w * delta1 * delta2;
    a.count += c;
  }
};

Accumulator accumulate_azimuthal(const std::vector<BinPixel>& pixels, const char* keep) {
  RunningAzimuthal r;
  for (std::size_t k = 0; k < pixels.size(); ++k)
    if (!keep || keep[k]) r.add(pixels[k]);
  return r.a;
}

Accumulator accumulate(const std::vector<BinPixel>& pixels, const std::vector<char>* keep, bool azimuthal) {
  if (azimuthal) return accumulate_azimuthal(pixels, keep ? keep->data() : nullptr);
  Accumulator a;
  for (std::size_t k = 0; k < pixels.size(); ++k) {
    if (keep && !(*keep)[k]) continue;
    if (azimuthal)
      a.add_azimuthal(pixels[k].coef, pixels[k].px);
    else
      a.add(pixels[k].coef, pixels[k].px);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Fast path (error models none and poisson). The frame-independent sums Σ c·norm, Σ (c·norm)²,
// Σ c come from StaticSums; per frame only Σ c·signal and Σ c²·variance are formed, for up to
// 4 frames per pass over the matrix. Every bin is summed in ascending pixel order with separate
// multiply and add, exactly as the per-pixel kernel (integrate_rows_batch / general_row) does,
// so the sums are bit-identical to it and depend on nothing but the frame.
// A row whose sums come out NaN (a NaN pixel or dark, or a statically invalid pixel holding a
// NaN/inf) or that holds one of the frame's invalid pixels is re-integrated with the exact
// per-pixel checks (general_row): the result is pyFAI's whatever the frame holds.

constexpr int kMaxBatch = 4;

// Cakes: rows gathered in CSR order (bins are many and small; a per-bin accumulator set in the
// pixel-major kernel would not fit the caches).
struct FastRows {
  const std::uint32_t* row_ptr;
  const std::uint32_t* col;
  const float* weight;
  const float* dark;  // null: no dark
  std::size_t rows;
};

template <bool kPoisson, bool kDark, int K>
void fast_rows(const FastRows& m, const float* const* frames, double* const* sig, double* const* var) {
  for (std::size_t row = 0; row < m.rows; ++row) {
    double s[K] = {}, v[K] = {};
    for (std::uint32_t j = m.row_ptr[row], end = m.row_ptr[row + 1]; j < end; ++j) {
      const std::uint32_t p = m.col[j];
      const double w = m.weight[j];
      const float d = kDark ? m.dark[p] : 0.0f;
      for (int f = 0; f < K; ++f) {
        const float raw = frames[f][p];
        s[f] += w * static_cast<double>(raw - d);
        if constexpr (kPoisson)
          v[f] += w * w * static_cast<double>(std::max(1.0f, raw) + (kDark ? std::max(0.0f, d) : 0.0f));
      }
    }
    for (int f = 0; f < K; ++f) {
      sig[f][row] = s[f];
      var[f][row] = v[f];
    }
  }
}

template <bool kPoisson, bool kDark>
void fast_rows_k(const FastRows& m, int k, const float* const* frames, double* const* sig,
                 double* const* var) {
  switch (k) {
    case 1:
      return fast_rows<kPoisson, kDark, 1>(m, frames, sig, var);
    case 2:
      return fast_rows<kPoisson, kDark, 2>(m, frames, sig, var);
    case 3:
      return fast_rows<kPoisson, kDark, 3>(m, frames, sig, var);
    default:
      return fast_rows<kPoisson, kDark, 4>(m, frames, sig, var);
  }
}

// 1D patterns: pixel-major. The frames are streamed in pixel order (what the memory system does
// best: no gather, the hardware prefetchers see 4 sequential streams) and each pixel's
// contributions are added to its bins, 4 frame lanes at a time (unused lanes repeat frame 0 and
// are ignored). Per bin, 8 doubles (4 signal lanes, 4 variance lanes: one cache line); 1000 bins
// fit the L2 cache. Adjacent pixels often share a bin; the store-to-load forwarding of the CPU
// makes that dependency cheap (tried: 2 and 4 interleaved copies of the bins were slower).
constexpr std::size_t kLaneStride = 8;

struct ScatterMatrix {
  const std::uint32_t* bins;  // per pixel: first bin | count << 16
  const float* weights;       // null: one bin per pixel, weight 1
  const float* dark;          // null: no dark
  std::size_t pixels;
};

template <bool kPoisson, bool kDark, bool kUnit>
void scatter_scalar(const ScatterMatrix& m, const float* const* frames, double* acc) {
  const float* w = m.weights;
  for (std::size_t p = 0; p < m.pixels; ++p) {
    const std::uint32_t info = m.bins[p], count = info >> 16;
    if (count == 0) continue;
    const float d = kDark ? m.dark[p] : 0.0f;
    double sd[4], vd[4];
    for (int f = 0; f < 4; ++f) {
      const float raw = frames[f][p];
      sd[f] = static_cast<double>(raw - d);
      vd[f] = kPoisson ? static_cast<double>(std::max(1.0f, raw) + (kDark ? std::max(0.0f, d) : 0.0f)) : 0.0;
    }
    double* a = acc + (info & 0xFFFF) * kLaneStride;
    if constexpr (kUnit) {
      for (int f = 0; f < 4; ++f) {
        a[f] += sd[f];  // = 1·sd exactly
        a[4 + f] += vd[f];
      }
    } else {
      for (std::uint32_t e = 0; e < count; ++e, a += kLaneStride) {
        const double we = w[e], w2 = we * we;
        for (int f = 0; f < 4; ++f) {
          a[f] += we * sd[f];
          a[4 + f] += w2 * vd[f];
        }
      }
      w += count;
    }
  }
}

#ifdef ANVIL_INTEGRATE_AVX2
// The same arithmetic as scatter_scalar, 4 frames per AVX register (no FMA: bit-identical).
template <bool kPoisson, bool kDark, bool kUnit>
__attribute__((target("avx2"))) void scatter_avx2(const ScatterMatrix& m, const float* const* frames,
                                                  double* acc) {
  const float *f0 = frames[0], *f1 = frames[1], *f2 = frames[2], *f3 = frames[3];
  const float* w = m.weights;
  const float* dark = m.dark;
  const std::uint32_t* bins = m.bins;
  const std::size_t pixels = m.pixels;
  const __m128 one = _mm_set1_ps(1.0f), zero = _mm_setzero_ps();
  for (std::size_t p = 0; p < pixels; ++p) {
    const std::uint32_t info = bins[p], count = info >> 16;
    if (count == 0) continue;
    const __m128 raw = _mm_setr_ps(f0[p], f1[p], f2[p], f3[p]);
    __m128 sig = raw, var = zero;
    if constexpr (kPoisson) var = _mm_max_ps(raw, one);  // raw > 1 ? raw : 1 (NaN rows are redone)
    if constexpr (kDark) {
      const __m128 d = _mm_set1_ps(dark[p]);
      sig = _mm_sub_ps(raw, d);
      if constexpr (kPoisson) var = _mm_add_ps(var, _mm_max_ps(d, zero));
    }
    const __m256d sd = _mm256_cvtps_pd(sig), vd = _mm256_cvtps_pd(var);
    double* a = acc + (info & 0xFFFF) * kLaneStride;
    if constexpr (kUnit) {
      _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), sd));
      if constexpr (kPoisson) _mm256_storeu_pd(a + 4, _mm256_add_pd(_mm256_loadu_pd(a + 4), vd));
    } else {
      for (std::uint32_t e = 0; e < count; ++e, a += kLaneStride) {
        const __m256d we = _mm256_set1_pd(static_cast<double>(w[e]));
        _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), _mm256_mul_pd(we, sd)));
        if constexpr (kPoisson)
          _mm256_storeu_pd(a + 4,
                           _mm256_add_pd(_mm256_loadu_pd(a + 4), _mm256_mul_pd(_mm256_mul_pd(we, we), vd)));
      }
      w += count;
    }
  }
}

bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#endif

template <bool kPoisson, bool kDark, bool kUnit>
void scatter(const ScatterMatrix& m, const float* const* frames, double* acc) {
#ifdef ANVIL_INTEGRATE_AVX2
  if (have_avx2()) return scatter_avx2<kPoisson, kDark, kUnit>(m, frames, acc);
#endif
  scatter_scalar<kPoisson, kDark, kUnit>(m, frames, acc);
}

template <bool kPoisson>
void scatter_dispatch(const ScatterMatrix& m, const float* const* frames, double* acc) {
  if (m.dark)
    m.weights ? scatter<kPoisson, true, false>(m, frames, acc)
              : scatter<kPoisson, true, true>(m, frames, acc);
  else
    m.weights ? scatter<kPoisson, false, false>(m, frames, acc)
              : scatter<kPoisson, false, true>(m, frames, acc);
}

// The exact per-pixel integration of one row (pyFAI semantics), for the rows the fast kernel
// cannot vouch for.
template <ErrorModel kModel, bool kNorm, bool kDark, bool kInvalid>
Accumulator general_row(const CsrMatrix& m, const FrameView& v, std::size_t row) {
  Accumulator a;
  Pixel px;
  for (std::uint32_t j = m.row_ptr[row], end = m.row_ptr[row + 1]; j < end; ++j)
    if (preprocess<kModel, kNorm, kDark, kInvalid>(v, m.col_idx[j], px)) a.add(m.weights[j], px);
  return a;
}

std::uint32_t bits_of(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

std::shared_ptr<const detail::StaticSums> static_sums_for(const CsrMatrix& m, detail::StaticSumsCache& cache,
                                                          const PreparedCorrections& c, float factor) {
  const auto norm = c.normalization();
  const std::uint32_t fbits = bits_of(factor);
  {
    std::lock_guard lock(cache.mutex);
    for (auto it = cache.entries.begin(); it != cache.entries.end(); ++it) {
      const auto& e = **it;
      if (e.corrections_id == c.id() && e.norm_data == norm.data() && e.norm_size == norm.size() &&
          e.factor_bits == fbits) {
        auto found = *it;
        if (it + 1 != cache.entries.end()) {
          cache.entries.erase(it);
          cache.entries.push_back(found);
        }
        return found;
      }
    }
  }
  auto s = std::make_shared<detail::StaticSums>();
  s->corrections_id = c.id();
  s->norm_data = norm.data();
  s->norm_size = norm.size();
  s->factor_bits = fbits;
  const std::size_t rows = m.rows();
  s->norm.assign(rows, 0.0);
  s->norm_sq.assign(rows, 0.0);
  s->count.assign(rows, 0.0);
  for (std::size_t row = 0; row < rows; ++row) {
    double nrm = 0, nrm2 = 0, cnt = 0;
    for (std::uint32_t j = m.row_ptr[row], end = m.row_ptr[row + 1]; j < end; ++j) {
      const float n = norm.empty() ? factor : factor * norm[m.col_idx[j]];
      const double w = m.weights[j];
      if (n == n && n != 0.0f) {  // as preprocess(): not NaN, not 0
        const double wn = w * static_cast<double>(n);
        nrm += wn;
        nrm2 += wn * wn;
        cnt += w;
      } else {
        if (s->dirty_rows.empty()) s->dirty_rows.assign(rows, 0);
        s->dirty_rows[row] = 1;
      }
    }
    s->norm[row] = nrm;
    s->norm_sq[row] = nrm2;
    s->count[row] = cnt;
  }
  std::lock_guard lock(cache.mutex);
  cache.entries.push_back(s);
  if (cache.entries.size() > 8) cache.entries.erase(cache.entries.begin());
  return s;
}

bool fast_path_applies(ErrorModel model) { return model == ErrorModel::none || model == ErrorModel::poisson; }

// What the fast path needs from the integrator.
struct FastPlan {
  const CsrMatrix& m;
  const std::uint32_t* row_lo;
  const std::uint32_t* row_hi;
  const std::vector<std::uint32_t>& scatter_bins;  // empty: gather along rows
  const std::vector<float>& scatter_weights;
  bool scatter_unit;
};

// Integrates `count` (≤ kMaxBatch) frames sharing the static sums `ss` with the fast kernel, then
// re-integrates exactly the rows it cannot vouch for, and fills the results.
void integrate_fast(const FastPlan& plan, const detail::StaticSums& ss, const FrameView* v, std::size_t count,
                    ErrorModel model, double empty, IntegrationResult* r) {
  const CsrMatrix& m = plan.m;
  const std::uint32_t* row_lo = plan.row_lo;
  const std::uint32_t* row_hi = plan.row_hi;
  const bool poisson = model == ErrorModel::poisson;
  if (!plan.scatter_bins.empty()) {
    const std::size_t rows = m.rows();
    thread_local std::vector<double> acc;
    acc.assign(rows * kLaneStride, 0.0);
    const float* frames[4];
    for (std::size_t f = 0; f < 4; ++f) frames[f] = v[f < count ? f : 0].pixels;
    const ScatterMatrix sm{plan.scatter_bins.data(),
                           plan.scatter_unit ? nullptr : plan.scatter_weights.data(), v[0].dark,
                           plan.scatter_bins.size()};
    poisson ? scatter_dispatch<true>(sm, frames, acc.data())
            : scatter_dispatch<false>(sm, frames, acc.data());
    for (std::size_t f = 0; f < count; ++f)
      for (std::size_t row = 0; row < rows; ++row) {
        r[f].sum_signal[row] = acc[row * kLaneStride + f];
        r[f].sum_variance[row] = acc[row * kLaneStride + 4 + f];
      }
  } else {
    const FastRows rows{m.row_ptr.data(), m.col_idx.data(), m.weights.data(), v[0].dark, m.rows()};
    const float* frames[kMaxBatch];
    double* sig[kMaxBatch];
    double* var[kMaxBatch];
    for (std::size_t f = 0; f < count; ++f) {
      frames[f] = v[f].pixels;
      sig[f] = r[f].sum_signal.data();
      var[f] = r[f].sum_variance.data();
    }
    const int k = static_cast<int>(count);
    if (poisson)
      rows.dark ? fast_rows_k<true, true>(rows, k, frames, sig, var)
                : fast_rows_k<true, false>(rows, k, frames, sig, var);
    else
      rows.dark ? fast_rows_k<false, true>(rows, k, frames, sig, var)
                : fast_rows_k<false, false>(rows, k, frames, sig, var);
  }

  std::vector<std::uint8_t> dirty;
  for (std::size_t f = 0; f < count; ++f) {
    const FrameView& fv = v[f];
    IntegrationResult& res = r[f];
    const std::size_t n_rows = m.rows();
    // Rows holding one of this frame's invalid pixels.
    bool any_dirty = false;
    if (fv.invalid) {
      const std::uint8_t* inv = fv.invalid;
      dirty.assign(n_rows, 0);
      // Skip zero bytes 8 at a time.
      const std::size_t total = fv.pixel_count;
      std::size_t p = 0;
      for (; p + 8 <= total; p += 8) {
        std::uint64_t word;
        std::memcpy(&word, inv + p, 8);
        if (word == 0) continue;
        for (std::size_t q = p; q < p + 8; ++q)
          if (inv[q] && row_lo[q] <= row_hi[q]) {
            for (std::uint32_t row = row_lo[q]; row <= row_hi[q]; ++row) dirty[row] = 1;
            any_dirty = true;
          }
      }
      for (; p < total; ++p)
        if (inv[p] && row_lo[p] <= row_hi[p]) {
          for (std::uint32_t row = row_lo[p]; row <= row_hi[p]; ++row) dirty[row] = 1;
          any_dirty = true;
        }
    }
    const auto exact = [&](std::size_t row) {
      Accumulator a;
      dispatch(model, fv, [&]<ErrorModel M, bool N, bool D, bool I>() {
        if constexpr (M == ErrorModel::none || M == ErrorModel::poisson)
          a = general_row<M, N, D, I>(m, fv, row);
      });
      return a;
    };
    for (std::size_t row = 0; row < n_rows; ++row) {
      Accumulator a;
      if ((any_dirty && dirty[row]) || (!ss.dirty_rows.empty() && ss.dirty_rows[row]) ||
          std::isnan(res.sum_signal[row]) || std::isnan(res.sum_variance[row])) {
        a = exact(row);
      } else {
        a.signal = res.sum_signal[row];
        a.variance = res.sum_variance[row];
        a.norm = ss.norm[row];
        a.norm_sq = ss.norm_sq[row];
        a.count = ss.count[row];
      }
      store(res, row, a, empty);
    }
  }
}

}  // namespace

IntegrationResult Integrator::integrate(const FrameInput& frame, const PreparedCorrections& corrections,
                                        const IntegrateOptions& options) const {
  const FrameView v = resolve(*this, frame, corrections, options.error_model);
  IntegrationResult r = make_result(*this);
  if (fast_path_applies(options.error_model)) {
    const auto ss = static_sums_for(matrix_, *static_sums_, corrections, v.factor);
    const FastPlan plan{matrix_,       pixel_row_lo_.data(), pixel_row_hi_.data(),
                        scatter_bins_, scatter_weights_,     scatter_unit_};
    integrate_fast(plan, *ss, &v, 1, options.error_model, options.empty, &r);
    return r;
  }
  dispatch(options.error_model, v, [&]<ErrorModel M, bool N, bool D, bool I>() {
    integrate_batch<M, N, D, I>(matrix_, &v, 1, options.empty, &r);
  });
  return r;
}

std::vector<IntegrationResult> Integrator::integrate_frames(std::span<const FrameInput> frames,
                                                            const PreparedCorrections& corrections,
                                                            const IntegrateOptions& options) const {
  // Up to 4 frames per pass over the matrix, but enough batches to keep every thread busy
  // (how frames are grouped never changes a frame's result).
  const auto workers = static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
  const std::size_t kBatch = std::clamp<std::size_t>(frames.size() / workers, 1, kMaxBatch);
  std::vector<FrameView> views;
  views.reserve(frames.size());
  for (const FrameInput& f : frames) views.push_back(resolve(*this, f, corrections, options.error_model));
  std::vector<IntegrationResult> out(frames.size());
  if (frames.empty()) return out;
  const bool fast = fast_path_applies(options.error_model);
  // Static sums per distinct normalisation factor, computed before the parallel loop.
  std::vector<std::shared_ptr<const detail::StaticSums>> sums(frames.size());
  if (fast)
    for (std::size_t f = 0; f < frames.size(); ++f)
      sums[f] = f > 0 && views[f].factor == views[f - 1].factor && sums[f - 1]
                    ? sums[f - 1]
                    : static_sums_for(matrix_, *static_sums_, corrections, views[f].factor);
  const FastPlan plan{matrix_,       pixel_row_lo_.data(), pixel_row_hi_.data(),
                      scatter_bins_, scatter_weights_,     scatter_unit_};
  const std::size_t batches = (frames.size() + kBatch - 1) / kBatch;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, batches, 1), [&](const auto& range) {
    for (std::size_t b = range.begin(); b < range.end(); ++b) {
      const std::size_t begin = b * kBatch, end = std::min(frames.size(), begin + kBatch);
      for (std::size_t f = begin; f < end; ++f) out[f] = make_result(*this);
      std::size_t i = begin;
      while (i < end) {
        std::size_t j = i + 1;
        if (fast) {
          // Frames sharing the static sums share a pass over the matrix.
          while (j < end && sums[j] == sums[i]) ++j;
          integrate_fast(plan, *sums[i], &views[i], j - i, options.error_model, options.empty, &out[i]);
        } else {
          // Frames sharing a per-frame mask pattern go in the same batch (the kernel is chosen per batch).
          const bool has_invalid = views[i].invalid != nullptr;
          while (j < end && (views[j].invalid != nullptr) == has_invalid) ++j;
          dispatch(options.error_model, views[i], [&]<ErrorModel M, bool N, bool D, bool I>() {
            integrate_batch<M, N, D, I>(matrix_, &views[i], j - i, options.empty, &out[i]);
          });
        }
        i = j;
      }
    }
  });
  return out;
}

IntegrationResult Integrator::sigma_clip(const FrameInput& frame, const PreparedCorrections& corrections,
                                         const SigmaClipOptions& options) const {
  const ErrorModel model =
      options.error_model == ErrorModel::none ? ErrorModel::azimuthal : options.error_model;
  const FrameView v = resolve(*this, frame, corrections, model);
  IntegrationResult r = make_result(*this);
  const bool azimuthal = model == ErrorModel::azimuthal;
  dispatch(model, v, [&]<ErrorModel M, bool N, bool D, bool I>() {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, matrix_.rows(), 16), [&](const auto& rows) {
      std::vector<BinPixel> pixels;
      std::vector<char> keep;
      for (std::size_t row = rows.begin(); row < rows.end(); ++row) {
        gather_row<M, N, D, I>(matrix_, v, row, pixels);
        keep.assign(pixels.size(), 1);
        Accumulator a = accumulate(pixels, nullptr, azimuthal);
        for (int cycle = 0; cycle < options.max_iterations; ++cycle) {
          if (a.norm == 0.0 || a.count == 0.0) break;
          const double mean = a.signal / a.norm;
          const double std_dev = std::sqrt(a.variance / a.norm_sq);
          // Chauvenet's criterion sets a floor on the threshold (pyFAI sigma_clip).
          const double n_eff = std::max(3.0, a.count);
          const double cutoff =
              std::max(options.threshold, std::sqrt(2.0 * std::log(n_eff / std::sqrt(2.0 * M_PI))));
          std::size_t rejected = 0;
          const double limit = cutoff * std_dev;
          for (std::size_t k = 0; k < pixels.size(); ++k)
            if (keep[k] && std::fabs(pixels[k].value - mean) > limit) {
              keep[k] = 0;
              ++rejected;
            }
          if (rejected == 0) break;
          a = accumulate(pixels, &keep, azimuthal);
        }
        store(r, row, a, options.empty);
      }
    });
  });
  return r;
}

IntegrationResult Integrator::median_filter(const FrameInput& frame, const PreparedCorrections& corrections,
                                            const MedianFilterOptions& options) const {
  const ErrorModel model = options.error_model;
  const FrameView v = resolve(*this, frame, corrections, model);
  IntegrationResult r = make_result(*this);
  const bool azimuthal = model == ErrorModel::azimuthal;
  const double q_lo = std::min(options.quantile_min, options.quantile_max);
  const double q_hi = std::max(options.quantile_min, options.quantile_max);
  dispatch(model, v, [&]<ErrorModel M, bool N, bool D, bool I>() {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, matrix_.rows(), 16), [&](const auto& rows) {
      std::vector<BinPixel> pixels;
      std::vector<char> keep;
      for (std::size_t row = rows.begin(); row < rows.end(); ++row) {
        gather_row<M, N, D, I>(matrix_, v, row, pixels);
        // Stable sort: equal values keep pixel order, so the result is deterministic.
        std::stable_sort(pixels.begin(), pixels.end(),
                         [](const BinPixel& a, const BinPixel& b) { return a.value < b.value; });
        double total = 0;
        for (const BinPixel& p : pixels) total += p.coef * p.px.norm;
        const double lo = q_lo * total, hi = q_hi * total;
        keep.assign(pixels.size(), 0);
        double before = 0;
        for (std::size_t k = 0; k < pixels.size(); ++k) {
          const double after = before + pixels[k].coef * pixels[k].px.norm;
          // Inside the quantile window, or the single pixel spanning it (qmin == qmax: median).
          keep[k] = (lo <= before && after <= hi) || (before <= lo && hi <= after);
          before = after;
        }
        store(r, row, accumulate(pixels, &keep, azimuthal), options.empty);
      }
    });
  });
  return r;
}

}  // namespace anvil::integrate
