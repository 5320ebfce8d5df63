#include "saxs/form_factor.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace anvil::saxs {

double sphere_amplitude(double x) {
  if (std::abs(x) < 1e-3) return 1.0 - x * x / 10.0;
  return 3.0 * (std::sin(x) - x * std::cos(x)) / (x * x * x);
}

namespace {

struct Node {
  double radius;
  double weight;  // f(R)·V(R)², normalised to sum 1
};

// Quadrature over the radius distribution, weighted by the volume squared (the scattering power).
std::vector<Node> radius_nodes(const FormFactorModel& m) {
  const double r0 = m.radius_nm;
  const double p = std::max(m.polydispersity, 0.0);
  const double volume_power = m.shape == ParticleShape::sphere ? 6.0 : 4.0;  // V ∝ R³ or R²
  if (p < 1e-3 || !(r0 > 0)) return {{r0, 1.0}};
  constexpr int n = 41;
  const double lo = std::max(r0 * (1.0 - 4.0 * p), r0 * 1e-3);
  const double hi = r0 * (1.0 + 5.0 * p);
  std::vector<Node> nodes;
  std::vector<double> logw;
  for (int i = 0; i < n; ++i) {
    const double r = lo + (hi - lo) * (i + 0.5) / n;
    double lw;
    if (m.distribution == SizeDistribution::schulz) {
      const double z = 1.0 / (p * p) - 1.0;
      lw = z * std::log(r / r0) - (z + 1.0) * (r / r0 - 1.0);
    } else {
      const double t = (r - r0) / (p * r0);
      lw = -0.5 * t * t;
    }
    lw += volume_power * std::log(r / r0);
    nodes.push_back({r, 0});
    logw.push_back(lw);
  }
  const double mx = *std::max_element(logw.begin(), logw.end());
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += nodes[i].weight = std::exp(logw[i] - mx);
  for (auto& nd : nodes) nd.weight /= sum;
  return nodes;
}

// Randomly oriented cylinder of radius R and length L, amplitude squared averaged over μ = cos α.
double cylinder_orientation_average(double q, double r, double length) {
  constexpr int n = 48;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const double mu = (i + 0.5) / n;
    const double xr = q * r * std::sqrt(1.0 - mu * mu);
    const double xl = q * length * mu / 2.0;
    const double fr = xr < 1e-6 ? 1.0 : 2.0 * std::cyl_bessel_j(1.0, xr) / xr;
    const double fl = xl < 1e-6 ? 1.0 : std::sin(xl) / xl;
    sum += fr * fr * fl * fl;
  }
  return sum / n;
}

}  // namespace

std::vector<double> form_factor(const FormFactorModel& model, const std::vector<double>& q) {
  const auto nodes = radius_nodes(model);
  std::vector<double> out(q.size(), 0.0);
  for (std::size_t i = 0; i < q.size(); ++i) {
    double s = 0;
    for (const auto& nd : nodes) {
      if (model.shape == ParticleShape::sphere) {
        const double f = sphere_amplitude(q[i] * nd.radius);
        s += nd.weight * f * f;
      } else {
        s += nd.weight * cylinder_orientation_average(q[i], nd.radius, model.length_nm);
      }
    }
    out[i] = s;
  }
  return out;
}

double form_factor(const FormFactorModel& model, double q) {
  return form_factor(model, std::vector<double>{q})[0];
}

}  // namespace anvil::saxs
