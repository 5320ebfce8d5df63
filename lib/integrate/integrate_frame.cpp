// Per-frame integration: preprocessing fused with the CSR mat-vec (pyFAI CsrIntegrator.integrate_ng,
// preproc_value_inplace), plus sigma clipping and the quantile (median) filter.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.hpp"
#include "integrate/integrator.hpp"

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

Accumulator accumulate(const std::vector<BinPixel>& pixels, const std::vector<char>* keep, bool azimuthal) {
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

}  // namespace

IntegrationResult Integrator::integrate(const FrameInput& frame, const PreparedCorrections& corrections,
                                        const IntegrateOptions& options) const {
  const FrameView v = resolve(*this, frame, corrections, options.error_model);
  IntegrationResult r = make_result(*this);
  dispatch(options.error_model, v, [&]<ErrorModel M, bool N, bool D, bool I>() {
    integrate_batch<M, N, D, I>(matrix_, &v, 1, options.empty, &r);
  });
  return r;
}

std::vector<IntegrationResult> Integrator::integrate_frames(std::span<const FrameInput> frames,
                                                            const PreparedCorrections& corrections,
                                                            const IntegrateOptions& options) const {
  constexpr std::size_t kBatch = 4;
  std::vector<FrameView> views;
  views.reserve(frames.size());
  for (const FrameInput& f : frames) views.push_back(resolve(*this, f, corrections, options.error_model));
  std::vector<IntegrationResult> out(frames.size());
  for (auto& r : out) r = make_result(*this);
  // Frames sharing a per-frame mask pattern go in the same batch (the kernel is chosen per batch).
  const std::size_t batches = (frames.size() + kBatch - 1) / kBatch;
  tbb::parallel_for(std::size_t{0}, batches, [&](std::size_t b) {
    const std::size_t begin = b * kBatch, end = std::min(frames.size(), begin + kBatch);
    std::size_t i = begin;
    while (i < end) {
      std::size_t j = i + 1;
      const bool has_invalid = views[i].invalid != nullptr;
      while (j < end && (views[j].invalid != nullptr) == has_invalid) ++j;
      dispatch(options.error_model, views[i], [&]<ErrorModel M, bool N, bool D, bool I>() {
        integrate_batch<M, N, D, I>(matrix_, &views[i], j - i, options.empty, &out[i]);
      });
      i = j;
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
          for (std::size_t k = 0; k < pixels.size(); ++k) {
            if (keep[k] && std::fabs(pixels[k].value - mean) > cutoff * std_dev) {
              keep[k] = 0;
              ++rejected;
            }
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
