#include "powder/model.hpp"

#include <fftw3.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <mutex>

#include "core/error.hpp"
#include "powder/profile.hpp"

namespace anvil::powder {

namespace {

constexpr double kRad2Deg = 180.0 / M_PI;

// The global slots of the flat vector (ParameterLayout), short for the model's inner loops.
constexpr std::size_t kU = ParameterLayout::global(GlobalParam::CagliotiU),
                      kV = ParameterLayout::global(GlobalParam::CagliotiV),
                      kW = ParameterLayout::global(GlobalParam::CagliotiW),
                      kZero = ParameterLayout::global(GlobalParam::Zero),
                      kDisp = ParameterLayout::global(GlobalParam::Displacement),
                      kHumpA = ParameterLayout::global(GlobalParam::HumpAmplitude),
                      kHumpC = ParameterLayout::global(GlobalParam::HumpCenter),
                      kHumpW = ParameterLayout::global(GlobalParam::HumpWidth),
                      kEmpty = ParameterLayout::global(GlobalParam::EmptyScale);

// FFTW's planner is not thread-safe (FFTW manual §5.4); plans are made once per size and model.
std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

std::vector<Param*> PatternParameters::flat() {
  std::vector<Param*> out{&caglioti_u,     &caglioti_v,  &caglioti_w, &zero_deg,   &displacement,
                          &hump_amplitude, &hump_center, &hump_width, &empty_scale};
  for (auto& b : background) out.push_back(&b);
  for (auto& p : phases)
    for (Param* q : {&p.scale, &p.a, &p.c, &p.size_nm, &p.strain, &p.b_iso}) out.push_back(q);
  return out;
}

std::vector<const Param*> PatternParameters::flat() const {
  auto m = const_cast<PatternParameters*>(this)->flat();
  return {m.begin(), m.end()};
}

std::vector<std::string> PatternParameters::names(const std::vector<PowderPhase>& ph) const {
  std::vector<std::string> out{
      "U", "V", "W", "zero", "displacement", "hump_amplitude", "hump_center", "hump_width", "empty_scale"};
  for (std::size_t k = 0; k < background.size(); ++k) out.push_back(fmt::format("background[{}]", k));
  for (std::size_t p = 0; p < phases.size(); ++p) {
    const std::string n = p < ph.size() ? ph[p].name : fmt::format("phase{}", p);
    for (const char* q : {"scale", "a", "c", "size_nm", "strain", "b_iso"}) out.push_back(n + "." + q);
  }
  return out;
}

PatternParameters default_parameters(const std::vector<PowderPhase>& phases, const ModelSettings& settings,
                                     double size_nm) {
  PatternParameters P;
  const auto& in = settings.instrument;
  P.caglioti_u = {in.u, -1.0, 1.0, false};
  P.caglioti_v = {in.v, -1.0, 1.0, false};
  P.caglioti_w = {in.w, 0.0, 1.0, false};
  P.zero_deg = {0.0, -0.5, 0.5, true};
  P.displacement = {0.0, -0.05, 0.05, false};
  P.hump_amplitude = {0.0, 0.0, 1e300, false};
  P.hump_center = {10.0, 0.0, 90.0, false};
  P.hump_width = {3.0, 0.05, 60.0, false};
  P.empty_scale = {0.0, 0.0, 1e6, false};
  P.background.assign(static_cast<std::size_t>(std::max(settings.background_terms, 0)),
                      Param{0.0, -1e300, 1e300, true});
  for (const auto& ph : phases) {
    PhaseParameters q;
    q.scale = {1.0, 0.0, 1e300, true};
    q.a = {ph.a, 0.85 * ph.a, 1.10 * ph.a, true};
    const bool hex = ph.kind == CellKind::Hexagonal;
    q.c = {hex ? ph.c : 0.0, hex ? 0.85 * ph.c : 0.0, hex ? 1.10 * ph.c : 0.0, hex};
    const bool sized = settings.size_profile != SizeProfile::None;
    q.size_nm = {size_nm, 0.8, 500.0, sized};
    q.strain = {0.0, 0.0, 0.05, false};
    q.b_iso = {ph.b_iso, 0.0, 5.0, false};
    P.phases.push_back(q);
  }
  return P;
}

// ---------------------------------------------------------------------------------------------
// Scratch space of one model: the grid accumulators, one reflection's profile samples, and the
// FFTW plans and buffers (one per transform length).
struct PatternModel::Workspace {
  std::vector<double> grid_model, grid_jac;
  std::vector<std::vector<double>> grid_phase;
  std::vector<double> p, dc, dw1, dw2;  // one reflection over the grid
  struct SpectrumBin {
    double t, sv, svd, el, eg, ls;
    std::complex<double> phase;
  };
  std::vector<SpectrumBin> spectrum;
  struct Fft {
    int n = 0;
    fftw_complex* in = nullptr;
    double* out = nullptr;
    fftw_plan plan = nullptr;
  };
  std::map<int, Fft> ffts;

  Fft& fft(int n) {
    auto it = ffts.find(n);
    if (it != ffts.end()) return it->second;
    Fft f;
    f.n = n;
    f.in = fftw_alloc_complex(static_cast<std::size_t>(n / 2 + 1));
    f.out = fftw_alloc_real(static_cast<std::size_t>(n));
    {
      std::lock_guard<std::mutex> lock(fftw_planner_mutex());
      f.plan = fftw_plan_dft_c2r_1d(n, f.in, f.out, FFTW_ESTIMATE);
    }
    return ffts.emplace(n, f).first->second;
  }
  ~Workspace() {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    for (auto& [n, f] : ffts) {
      fftw_destroy_plan(f.plan);
      fftw_free(f.in);
      fftw_free(f.out);
    }
  }
};

PatternModel::~PatternModel() = default;
PatternModel::PatternModel(PatternModel&&) noexcept = default;
PatternModel& PatternModel::operator=(PatternModel&&) noexcept = default;

PatternModel::PatternModel(ModelSettings settings, std::vector<PowderPhase> phases,
                           std::vector<double> two_theta_deg, std::vector<double> empty_pattern)
    : settings_(std::move(settings)),
      phases_(std::move(phases)),
      x_(std::move(two_theta_deg)),
      empty_(std::move(empty_pattern)),
      ws_(std::make_unique<Workspace>()),
      sphere_table_(std::make_shared<const SphereTable>()) {
  const double lambda = settings_.instrument.wavelength_a;
  if (!(lambda > 0.0) || !std::isfinite(lambda))
    throw InputError("powder model", fmt::format("wavelength must be positive, got {} Å", lambda));
  if (x_.size() < 2) throw InputError("powder model", "the pattern has fewer than 2 points");
  for (std::size_t i = 0; i < x_.size(); ++i) {
    if (!std::isfinite(x_[i]) || x_[i] <= 0.0 || x_[i] >= 180.0)
      throw InputError("powder model", fmt::format("2θ[{}] = {} is not in (0, 180) degrees", i, x_[i]));
    if (i > 0 && !(x_[i] > x_[i - 1]))
      throw InputError("powder model",
                       fmt::format("2θ must increase strictly; 2θ[{}] = {} after {}", i, x_[i], x_[i - 1]));
  }
  if (!empty_.empty() && empty_.size() != x_.size())
    throw InputError("powder model",
                     fmt::format("empty-cell pattern has {} points, the data {}", empty_.size(), x_.size()));
  if (settings_.background_terms < 0 || settings_.background_terms > 30)
    throw InputError("powder model",
                     fmt::format("background_terms = {} (expected 0–30)", settings_.background_terms));
  if (phases_.empty()) throw InputError("powder model", "no phase given");
  for (const auto& ph : phases_) {
    if (!(ph.a > 0.0) || (ph.kind == CellKind::Hexagonal && !(ph.c > 0.0)))
      throw InputError(ph.name, "cell parameters must be positive");
    int in_range = 0;
    for (const auto& r : ph.reflections) {
      if (r.multiplicity <= 0 || !(r.f2 >= 0.0) || !std::isfinite(r.f2))
        throw InputError(ph.name,
                         fmt::format("reflection {} {} {}: multiplicity {} and |F|² {} must be positive", r.h,
                                     r.k, r.l, r.multiplicity, r.f2));
      if (r.h == 0 && r.k == 0 && r.l == 0) throw InputError(ph.name, "reflection 0 0 0 in the list");
      const double s = lambda / (2.0 * d_spacing(ph.kind, r, ph.a, ph.c));
      if (s < 1.0) {
        const double tth = 2.0 * std::asin(s) * kRad2Deg;
        if (tth >= x_.front() && tth <= x_.back() && r.f2 > 0.0) ++in_range;
      }
    }
    if (in_range == 0)
      throw InputError(
          ph.name, fmt::format("no reflection between 2θ = {:.3f} and {:.3f} degrees at λ = {} Å", x_.front(),
                               x_.back(), lambda));
  }
  num_params_ = ParameterLayout(static_cast<std::size_t>(settings_.background_terms), phases_.size()).size();

  // Uniform grid with the smallest data spacing.
  double step = x_.back() - x_.front();
  for (std::size_t i = 1; i < x_.size(); ++i) step = std::min(step, x_[i] - x_[i - 1]);
  grid0_ = x_.front();
  grid_n_ = static_cast<std::size_t>(std::ceil((x_.back() - x_.front()) / step - 1e-6)) + 1;
  grid_step_ = (x_.back() - x_.front()) / static_cast<double>(grid_n_ - 1);
  grid_is_data_ = grid_n_ == x_.size();
  if (grid_is_data_)
    for (std::size_t i = 0; i < x_.size(); ++i)
      if (std::fabs(x_[i] - (grid0_ + grid_step_ * static_cast<double>(i))) > 1e-6 * grid_step_)
        grid_is_data_ = false;
  if (grid_n_ > 400000) throw InputError("powder model", "the 2θ points are too unevenly spaced");
  interp_index_.resize(x_.size());
  interp_frac_.resize(x_.size());
  for (std::size_t i = 0; i < x_.size(); ++i) {
    const double u = (x_[i] - grid0_) / grid_step_;
    auto j = static_cast<std::size_t>(std::clamp(std::floor(u), 0.0, static_cast<double>(grid_n_ - 2)));
    interp_index_[i] = j;
    interp_frac_[i] = std::clamp(u - static_cast<double>(j), 0.0, 1.0);
  }
}

double PatternModel::bragg_two_theta(std::size_t phase, const PowderReflection& r, double a, double c) const {
  const double s = settings_.instrument.wavelength_a / (2.0 * d_spacing(phases_[phase].kind, r, a, c));
  return s < 1.0 ? 2.0 * std::asin(s) * kRad2Deg : NAN;
}

void PatternModel::evaluate(const std::vector<double>& v, double* model, double* jacobian,
                            const std::vector<char>& need_column, std::vector<std::vector<double>>* per_phase,
                            std::vector<double>* background) const {
  if (v.size() != num_params_)
    throw InputError("powder model",
                     fmt::format("{} parameter values for {} parameters", v.size(), num_params_));
  const std::size_t G = grid_n_, N = x_.size(), P = num_params_;
  const std::size_t nb = static_cast<std::size_t>(settings_.background_terms);
  const auto need = [&](std::size_t i) { return jacobian && (need_column.empty() || need_column[i]); };
  const ParameterLayout layout(nb, phases_.size());
  const auto pidx = [&](std::size_t p, PhaseParam k) { return layout.phase(p, k); };
  const double lambda = settings_.instrument.wavelength_a;
  const bool sphere = settings_.size_profile == SizeProfile::Sphere;
  const bool lorentz_size = settings_.size_profile == SizeProfile::Lorentzian;

  Workspace& ws = *ws_;
  ws.grid_model.assign(G, 0.0);
  ws.grid_phase.resize(phases_.size());
  // Grid Jacobian columns: only the peak-related ones (global U…displacement and the phases').
  std::vector<std::size_t> grid_cols;
  std::vector<long> grid_col_of(P, -1);
  if (jacobian) {
    for (std::size_t i : {kU, kV, kW, kZero, kDisp})
      if (need(i)) grid_col_of[i] = static_cast<long>(grid_cols.size()), grid_cols.push_back(i);
    for (std::size_t p = 0; p < phases_.size(); ++p)
      for (std::size_t k = 0; k < ParameterLayout::kPerPhase; ++k) {
        const std::size_t i = pidx(p, static_cast<PhaseParam>(k));
        if (need(i)) grid_col_of[i] = static_cast<long>(grid_cols.size()), grid_cols.push_back(i);
      }
    ws.grid_jac.assign(G * grid_cols.size(), 0.0);
  }
  const auto gcol = [&](std::size_t param) -> double* {
    const long c = grid_col_of[param];
    return c < 0 ? nullptr : ws.grid_jac.data() + static_cast<std::size_t>(c) * G;
  };
  const double U = v[kU], V = v[kV], W = v[kW], zero = v[kZero], disp = v[kDisp];
  const bool need_uvw = need(kU) || need(kV) || need(kW);
  if (need_uvw && sphere)
    throw InputError("powder model",
                     "U, V, W can only be refined with pseudo-Voigt profiles (size None/Lorentzian)");

  ws.p.resize(G);
  ws.dc.resize(G);
  ws.dw1.resize(G);
  ws.dw2.resize(G);
  const double h = grid_step_;

  for (std::size_t ip = 0; ip < phases_.size(); ++ip) {
    const PowderPhase& ph = phases_[ip];
    auto& curve = ws.grid_phase[ip];
    curve.assign(G, 0.0);
    const double S = v[pidx(ip, PhaseParam::Scale)], a = v[pidx(ip, PhaseParam::A)];
    const double c = ph.kind == CellKind::Hexagonal ? v[pidx(ip, PhaseParam::C)] : a;
    const double size_nm = v[pidx(ip, PhaseParam::Size)], eps = v[pidx(ip, PhaseParam::Strain)],
                 B = v[pidx(ip, PhaseParam::BIso)];
    double* j_scale = gcol(pidx(ip, PhaseParam::Scale));
    double* j_a = gcol(pidx(ip, PhaseParam::A));
    double* j_c = ph.kind == CellKind::Hexagonal ? gcol(pidx(ip, PhaseParam::C)) : nullptr;
    double* j_size = settings_.size_profile != SizeProfile::None ? gcol(pidx(ip, PhaseParam::Size)) : nullptr;
    double* j_strain = gcol(pidx(ip, PhaseParam::Strain));
    double* j_b = gcol(pidx(ip, PhaseParam::BIso));
    double* j_zero = gcol(kZero);
    double* j_disp = gcol(kDisp);
    double* j_u = gcol(kU);
    double* j_v = gcol(kV);
    double* j_w = gcol(kW);
    const bool need_theta = j_a || j_c;
    const bool need_center = need_theta || j_zero || j_disp;

    for (const PowderReflection& r : ph.reflections) {
      if (r.f2 <= 0.0) continue;
      const double q2 = one_over_d_squared(ph.kind, r, a, c);
      const double d = 1.0 / std::sqrt(q2);
      const double sin_t = lambda / (2.0 * d);
      if (sin_t >= 0.999) continue;
      const double theta = std::asin(sin_t), cos_t = std::cos(theta), tan_t = sin_t / cos_t;
      const double tth = 2.0 * theta * kRad2Deg;
      const double sin2t = std::sin(2 * theta), cos2t = std::cos(2 * theta);
      const double center = tth + zero - disp * sin2t * cos2t * kRad2Deg;
      const double dcenter_dtheta = 2.0 * kRad2Deg * (1.0 - disp * std::cos(4 * theta));
      // θ derivatives of 1/d²: dθ/dQ = λ d /(4 cosθ)
      const double dtheta_dq = lambda * d / (4.0 * cos_t);
      double dq_da, dq_dc = 0.0;
      if (ph.kind == CellKind::Cubic) {
        dq_da = -2.0 * q2 / a;
      } else {
        const double qa = 4.0 / 3.0 * (r.h * r.h + r.h * r.k + r.k * r.k) / (a * a);
        dq_da = -2.0 * qa / a;
        dq_dc = -2.0 * r.l * r.l / (c * c * c);
      }
      // Line strength.
      double dlnlp;
      const double lp = crystal::lp_factor_theta(theta, settings_.lp, &dlnlp);
      const double s2 = sin_t * sin_t / (lambda * lambda);
      const double dw = std::exp(-2.0 * B * s2);
      const double unit = r.multiplicity * r.f2 * lp * dw;  // per unit scale
      const double I0 = S * unit;
      const double dI_dtheta = I0 * (dlnlp - 4.0 * B * sin_t * cos_t / (lambda * lambda));
      // Widths (degrees).
      const double gam_g = caglioti_fwhm(U, V, W, theta);
      const double size_a = 10.0 * size_nm;
      const double lsize = lorentz_size ? kRad2Deg * lambda / (size_a * cos_t) : 0.0;
      const double lstrain = kRad2Deg * 4.0 * eps * tan_t;
      const double gam_l = lsize + lstrain;
      const double dgl_dtheta = lsize * tan_t + kRad2Deg * 4.0 * eps / (cos_t * cos_t);
      const double dgg_dtheta = (2.0 * U * tan_t + V) / (cos_t * cos_t) / (2.0 * gam_g);
      const double dgl_dstrain = kRad2Deg * 4.0 * tan_t;
      const double dgl_dsize = lorentz_size ? -lsize / size_nm : 0.0;

      const bool want_d = jacobian != nullptr;
      const double kappa = kDeg * cos_t / lambda;  // Å⁻¹ of s per degree of 2θ
      const bool sphere_fft = sphere && (gam_g > 1e-5 || gam_l > 1e-9);

      // Coefficients of the Jacobian columns for this line. The profile's width derivatives
      // are w1 = ∂Φ/∂Γ_G (pseudo-Voigt) or ∂Φ/∂D (sphere, Å), and w2 = ∂Φ/∂Γ_L.
      const double dshift_ddisp = -sin2t * cos2t * kRad2Deg;
      const double dtheta_da = dtheta_dq * dq_da, dtheta_dc = dtheta_dq * dq_dc;
      const double duvw = I0 / (2.0 * gam_g);
      const double c_b = -2.0 * s2 * I0;
      const double th_c = I0 * dcenter_dtheta, th_p = dI_dtheta, th_w2 = I0 * dgl_dtheta;
      const double th_w1 = sphere ? I0 * (-tan_t * size_a) : I0 * dgg_dtheta;
      const double size_w1 = sphere ? I0 * 10.0 : 0.0, size_w2 = sphere ? 0.0 : I0 * dgl_dsize;
      const double strain_w2 = I0 * dgl_dstrain;
      const double tan2 = tan_t * tan_t;
      const auto add = [&](std::size_t j, double p, double dc, double dw1, double dw2) {
        curve[j] += I0 * p;
        if (j_scale) j_scale[j] += unit * p;
        if (j_b) j_b[j] += c_b * p;
        if (j_zero) j_zero[j] += I0 * dc;
        if (j_disp) j_disp[j] += I0 * dc * dshift_ddisp;
        if (j_size) j_size[j] += size_w1 * dw1 + size_w2 * dw2;
        if (j_strain) j_strain[j] += strain_w2 * dw2;
        if (j_u) j_u[j] += duvw * dw1 * tan2;
        if (j_v) j_v[j] += duvw * dw1 * tan_t;
        if (j_w) j_w[j] += duvw * dw1;
        if (need_theta) {
          const double t = th_c * dc + th_p * p + th_w1 * dw1 + th_w2 * dw2;
          if (j_a) j_a[j] += t * dtheta_da;
          if (j_c) j_c[j] += t * dtheta_dc;
        }
      };

      if (!sphere) {
        // Pseudo-Voigt (TCH). Gaussian part within ±4Γ, Lorentzian part everywhere.
        const TchWidth tw = tch_width(gam_g, gam_l);
        const double F = tw.fwhm, eta = tw.eta, inv = 1.0 / F, inv2 = inv * inv;
        const double gnorm = 2.0 * std::sqrt(kLn2 / M_PI) * inv, lnorm = 2.0 / M_PI * inv;
        for (std::size_t j = 0; j < G; ++j) {
          const double z = grid0_ + h * static_cast<double>(j) - center;
          const double u = 4.0 * z * z * inv2;
          const double ri = 1.0 / (1.0 + u);
          const double lor = lnorm * ri;
          const double gau = u < 64.0 ? gnorm * std::exp(-kLn2 * u) : 0.0;
          const double p = eta * lor + (1 - eta) * gau;
          if (!want_d) {
            curve[j] += I0 * p;
            continue;
          }
          const double dl_dc = lor * (8.0 * z * inv2) * ri;
          const double dg_dc = gau * 8.0 * kLn2 * z * inv2;
          const double dl_df = lor * (-inv + 2.0 * u * inv * ri);
          const double dg_df = gau * (-inv + 2.0 * kLn2 * u * inv);
          const double dp_df = eta * dl_df + (1 - eta) * dg_df, dp_de = lor - gau;
          add(j, p, eta * dl_dc + (1 - eta) * dg_dc, dp_df * tw.dfwhm_dg + dp_de * tw.deta_dg,
              dp_df * tw.dfwhm_dl + dp_de * tw.deta_dl);
        }
      } else if (!sphere_fft) {
        // Exact sphere profile, no other broadening: Φ(z) = 2κD·F(2πκDz).
        const double kd = kappa * size_a, two_pi_kd = 2.0 * M_PI * kd;
        for (std::size_t j = 0; j < G; ++j) {
          const double z = grid0_ + h * static_cast<double>(j) - center;
          const double y = two_pi_kd * z;
          double f, df;
          sphere_table_->eval(y, &f, &df);
          if (!want_d) {
            curve[j] += I0 * 2.0 * kd * f;
            continue;
          }
          add(j, 2.0 * kd * f, -2.0 * kd * df * two_pi_kd, 2.0 * kappa * (f + y * df), 0.0);
        }
      } else {
        // Sphere ⊗ pseudo-Voigt(Γ_G, Γ_L) by FFT. The Lorentzian with the same 1/z² tail
        // (HWHM γ, from the |t| slope of the transform at t = 0) is subtracted in Fourier space
        // and added back analytically over the whole grid, so the periodic FFT window does not
        // alias the slowly decaying tails.
        std::fill(ws.p.begin(), ws.p.end(), 0.0);
        if (want_d) {
          std::fill(ws.dc.begin(), ws.dc.end(), 0.0);
          std::fill(ws.dw1.begin(), ws.dw1.end(), 0.0);
          std::fill(ws.dw2.begin(), ws.dw2.end(), 0.0);
        }
        const TchWidth tw = tch_width(gam_g, gam_l);
        const double F = tw.fwhm, eta = tw.eta;
        const double gamma = 3.0 / (4.0 * M_PI * size_a * kappa) + 0.5 * eta * F;
        const double dgamma_dd = -3.0 / (4.0 * M_PI * size_a * size_a * kappa);
        const double dgamma_dl = 0.5 * (tw.deta_dl * F + eta * tw.dfwhm_dl);
        const double fwhm_est = std::hypot(F, 1.1067 / (size_a * kappa));
        const double half = std::max(10.0 * fwhm_est, 40.0 * h);
        int n = 64;
        while (n * h < 2.0 * half && n < (1 << 16)) n *= 2;
        Workspace::Fft& fft = ws.fft(n);
        const long j0 = std::lround((center - grid0_) / h);
        const double delta = center - (grid0_ + h * static_cast<double>(j0));
        const double dt = 1.0 / (n * h);
        const double c_gauss = M_PI * M_PI * F * F / (4.0 * kLn2);
        // Spectrum factors at t_k = k·dt, by recurrences (one exp each per line): the sphere
        // V(t/κ), the pseudo-Voigt transform η e^{−πΓt} + (1−η) e^{−π²Γ²t²/4ln2}, the subtracted
        // Lorentzian e^{−2πγt}, and the shift e^{−2πitδ}/(n h). Bins where all vanish are zero.
        int nk = n / 2 + 1;
        {
          const double t_stop = std::max(size_a * kappa, 28.0 / (2.0 * M_PI * gamma));  // e^{-28} ≈ 7e-13
          nk = std::min(nk, static_cast<int>(t_stop / dt) + 2);
        }
        auto& sp = ws.spectrum;
        sp.resize(static_cast<std::size_t>(nk));
        {
          const double rl = std::exp(-M_PI * F * dt), rls = std::exp(-2.0 * M_PI * gamma * dt);
          const double g1 = std::exp(-c_gauss * dt * dt), g2 = g1 * g1;
          const std::complex<double> rphase = std::polar(1.0, -2.0 * M_PI * dt * delta);
          double el = 1.0, ls = 1.0, eg = 1.0, gstep = g1;
          std::complex<double> shift(1.0 / (n * h), 0.0);
          for (int k = 0; k < nk; ++k) {
            const double t = k * dt;
            auto& e = sp[static_cast<std::size_t>(k)];
            e.t = t;
            e.sv = sphere_common_volume(t / kappa, size_a);
            e.svd = sphere_common_volume_dd(t / kappa, size_a);
            e.el = el;
            e.eg = eg;
            e.ls = ls;
            e.phase = shift;
            el *= rl;
            ls *= rls;
            eg *= gstep;
            gstep *= g2;
            shift *= rphase;
          }
        }
        const auto transform = [&](int which, std::vector<double>& dest) {
          for (int k = 0; k < nk; ++k) {
            const auto& e = sp[static_cast<std::size_t>(k)];
            const double t = e.t;
            const double iv = eta * e.el + (1 - eta) * e.eg;
            double a_t = 0.0;
            std::complex<double> fac = e.phase;
            if (which == 0 || which == 1) {
              a_t = e.sv * iv - e.ls;
              if (which == 1) fac *= std::complex<double>(0.0, -2.0 * M_PI * t);
            } else if (which == 2) {
              a_t = e.svd * iv + 2.0 * M_PI * t * e.ls * dgamma_dd;
            } else {
              const double di_df = eta * (-M_PI * t) * e.el + (1 - eta) * (-2.0 * c_gauss / F * t * t) * e.eg;
              const double di_dl = di_df * tw.dfwhm_dl + (e.el - e.eg) * tw.deta_dl;
              a_t = e.sv * di_dl + 2.0 * M_PI * t * e.ls * dgamma_dl;
            }
            const std::complex<double> x = a_t * fac;
            fft.in[k][0] = x.real();
            fft.in[k][1] = k == n / 2 ? 0.0 : x.imag();
          }
          for (int k = nk; k <= n / 2; ++k) fft.in[k][0] = fft.in[k][1] = 0.0;
          fftw_execute(fft.plan);
          for (int m = 0; m < n; ++m) {
            const long off = m < n / 2 ? m : m - n;
            const long j = j0 + off;
            if (j >= 0 && j < static_cast<long>(G)) dest[static_cast<std::size_t>(j)] += fft.out[m];
          }
        };
        transform(0, ws.p);
        if (want_d) {
          if (need_center) transform(1, ws.dc);
          if (j_size || need_theta) transform(2, ws.dw1);
          if (j_strain || need_theta) transform(3, ws.dw2);
        }
        // The analytic Lorentzian tail term γ/π/(z² + γ²).
        const double g2 = gamma * gamma;
        for (std::size_t j = 0; j < G; ++j) {
          const double z = grid0_ + h * static_cast<double>(j) - center;
          const double den = 1.0 / (z * z + g2);
          const double lz = gamma / M_PI * den;
          if (!want_d) {
            curve[j] += I0 * (ws.p[j] + lz);
            continue;
          }
          const double dl_dgamma = (z * z - g2) / M_PI * den * den;
          add(j, ws.p[j] + lz, ws.dc[j] + 2.0 * z * gamma / M_PI * den * den,
              ws.dw1[j] + dl_dgamma * dgamma_dd, ws.dw2[j] + dl_dgamma * dgamma_dl);
        }
      }
    }
    for (std::size_t j = 0; j < G; ++j) ws.grid_model[j] += curve[j];
  }

  // Onto the data points.
  const auto to_data = [&](const double* g, double* out) {
    if (grid_is_data_) {
      std::copy(g, g + N, out);
      return;
    }
    for (std::size_t i = 0; i < N; ++i) {
      const std::size_t j = interp_index_[i];
      const double f = interp_frac_[i];
      out[i] = (1.0 - f) * g[j] + f * g[j + 1];
    }
  };
  to_data(ws.grid_model.data(), model);
  if (per_phase) {
    per_phase->resize(phases_.size());
    for (std::size_t ip = 0; ip < phases_.size(); ++ip) {
      (*per_phase)[ip].resize(N);
      to_data(ws.grid_phase[ip].data(), (*per_phase)[ip].data());
    }
  }
  if (jacobian) {
    for (std::size_t col = 0; col < P; ++col)
      if (need(col)) std::fill(jacobian + col * N, jacobian + (col + 1) * N, 0.0);
    for (std::size_t k = 0; k < grid_cols.size(); ++k)
      to_data(ws.grid_jac.data() + k * G, jacobian + grid_cols[k] * N);
  }

  // Background at the data points.
  if (background) background->assign(N, 0.0);
  const double x0 = x_.front(), x1 = x_.back();
  const double A = v[kHumpA], hc = v[kHumpC], hw = v[kHumpW], se = v[kEmpty];
  for (std::size_t i = 0; i < N; ++i) {
    const double xn = 2.0 * (x_[i] - x0) / (x1 - x0) - 1.0;
    double t_prev = 1.0, t_cur = xn, bg = 0.0;
    for (std::size_t k = 0; k < nb; ++k) {
      const double tk = k == 0 ? 1.0 : (k == 1 ? xn : 2.0 * xn * t_cur - t_prev);
      if (k >= 2) t_prev = t_cur, t_cur = tk;
      bg += v[layout.background(k)] * tk;
      if (need(layout.background(k))) jacobian[layout.background(k) * N + i] = tk;
    }
    if (A != 0.0 || need(kHumpA) || need(kHumpC) || need(kHumpW)) {
      const double u = settings_.hump_axis == HumpAxis::TwoTheta
                           ? x_[i]
                           : 4.0 * M_PI * std::sin(0.5 * x_[i] * kDeg) / lambda;
      const double du = u - hc, e = std::exp(-0.5 * du * du / (hw * hw));
      bg += A * e;
      if (need(kHumpA)) jacobian[kHumpA * N + i] = e;
      if (need(kHumpC)) jacobian[kHumpC * N + i] = A * e * du / (hw * hw);
      if (need(kHumpW)) jacobian[kHumpW * N + i] = A * e * du * du / (hw * hw * hw);
    }
    if (!empty_.empty()) {
      bg += se * empty_[i];
      if (need(kEmpty)) jacobian[kEmpty * N + i] = empty_[i];
    }
    model[i] += bg;
    if (background) (*background)[i] = bg;
  }
}

std::vector<std::vector<double>> PatternModel::unit_phase_patterns(
    const std::vector<double>& flat_values) const {
  std::vector<double> v = flat_values;
  const std::size_t nb = static_cast<std::size_t>(settings_.background_terms);
  const ParameterLayout layout(nb, phases_.size());
  for (std::size_t p = 0; p < phases_.size(); ++p) v[layout.phase(p, PhaseParam::Scale)] = 1.0;
  std::vector<double> m(x_.size());
  std::vector<std::vector<double>> out;
  evaluate(v, m.data(), nullptr, {}, &out, nullptr);
  return out;
}

}  // namespace anvil::powder
