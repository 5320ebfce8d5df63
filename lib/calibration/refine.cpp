#include "calibration/refine.hpp"

#include <ceres/ceres.h>

#include <cmath>

#include "calibration/ring_model.hpp"

namespace anvil::calibration {

namespace {

// One control point on a line of spacing d: model 2θ − 2·asin(λ / 2d). Wavelength in Å.
struct RingResidual {
  DetectorPoint point;
  DistortionFrame frame;
  double pixel1_m, pixel2_m, d_angstrom;

  template <class T>
  bool operator()(const T* g, const T* wavelength_a, const T* distortion, T* residual) const {
    using std::asin;
    T y, x;
    frame.displace(distortion, point.y, point.x, y, x);
    residual[0] =
        model_two_theta_at(g, y, x, pixel1_m, pixel2_m) - 2.0 * asin(wavelength_a[0] / (2.0 * d_angstrom));
    return true;
  }
};

}  // namespace

std::vector<double> two_theta_residuals(const geometry::Geometry& g, std::span<const ControlPoint> points,
                                        std::span<const CalibrantLine> lines) {
  double p[kGeometryParameterCount];
  geometry_parameters(g, p);
  std::vector<double> out;
  out.reserve(points.size());
  for (const auto& cp : points) {
    const double expected = geometry::two_theta_from_d_spacing(lines[cp.line].d_angstrom, g.wavelength_m);
    out.push_back(model_two_theta(p, detector_point(g.detector, cp.d1, cp.d2), g.detector.pixel1_m,
                                  g.detector.pixel2_m) -
                  expected);
  }
  return out;
}

RefinedGeometry refine_geometry(const geometry::Geometry& start, std::span<const ControlPoint> points,
                                std::span<const CalibrantLine> lines, const RefineOptions& options,
                                const RingDistortion& start_distortion) {
  RefinedGeometry out;
  out.geometry = start;
  double g[kGeometryParameterCount];
  geometry_parameters(start, g);
  double wavelength_a = start.wavelength_m * 1e10;
  double dist[kDistortionParameterCount] = {start_distortion.k1, start_distortion.b1, start_distortion.b2};
  const DistortionFrame frame(start.detector);

  ceres::Problem problem;
  for (const auto& cp : points) {
    auto* cost = new ceres::AutoDiffCostFunction<RingResidual, 1, kGeometryParameterCount, 1,
                                                 kDistortionParameterCount>(
        new RingResidual{detector_point(start.detector, cp.d1, cp.d2), frame, start.detector.pixel1_m,
                         start.detector.pixel2_m, lines[cp.line].d_angstrom});
    ceres::LossFunction* loss =
        options.huber_scale_rad > 0 ? new ceres::HuberLoss(options.huber_scale_rad) : nullptr;
    problem.AddResidualBlock(cost, loss, g, &wavelength_a, dist);
  }
  const FreeParameters& f = options.free;
  if (!f.distortion) problem.SetParameterBlockConstant(dist);
  std::vector<int> fixed;
  const bool free_flags[kGeometryParameterCount] = {f.dist, f.poni1, f.poni2, f.rot1, f.rot2, f.rot3};
  for (int i = 0; i < kGeometryParameterCount; ++i)
    if (!free_flags[i]) fixed.push_back(i);
  if (static_cast<int>(fixed.size()) == kGeometryParameterCount)
    problem.SetParameterBlockConstant(g);
  else if (!fixed.empty())
    problem.SetManifold(g, new ceres::SubsetManifold(kGeometryParameterCount, fixed));
  if (!f.wavelength) problem.SetParameterBlockConstant(&wavelength_a);
  problem.SetParameterLowerBound(g, kDist, 1e-4);
  for (int i : {kRot1, kRot2, kRot3}) {
    problem.SetParameterLowerBound(g, i, -M_PI / 2);
    problem.SetParameterUpperBound(g, i, M_PI / 2);
  }
  if (f.wavelength) problem.SetParameterLowerBound(&wavelength_a, 0, 1e-3);

  ceres::Solver::Options so;
  so.linear_solver_type = ceres::DENSE_QR;
  so.max_num_iterations = options.max_iterations;
  so.function_tolerance = 1e-12;
  so.parameter_tolerance = 1e-12;
  so.gradient_tolerance = 1e-14;
  so.num_threads = 1;
  ceres::Solver::Summary summary;
  ceres::Solve(so, &problem, &summary);
  out.converged = summary.termination_type == ceres::CONVERGENCE;
  out.solver_report = summary.BriefReport();
  set_geometry_parameters(out.geometry, g);
  out.geometry.wavelength_m = wavelength_a * 1e-10;
  out.distortion = {dist[kK1], dist[kB1], dist[kB2]};
  out.geometry.detector = with_ring_distortion(start.detector, out.distortion);

  out.residuals_rad = two_theta_residuals(out.geometry, points, lines);
  double ss = 0;
  for (double r : out.residuals_rad) ss += r * r;
  const double n = static_cast<double>(points.size());
  out.rms_rad = n > 0 ? std::sqrt(ss / n) : 0.0;

  if (options.covariance && f.count() > 0 && points.size() > static_cast<std::size_t>(f.count())) {
    const double s2 = ss / (n - f.count());
    ceres::Covariance::Options co;
    co.algorithm_type = ceres::DENSE_SVD;
    co.null_space_rank = 0;
    ceres::Covariance cov(co);
    std::vector<std::pair<const double*, const double*>> blocks;
    const int geometric = f.dist + f.poni1 + f.poni2 + f.rot1 + f.rot2 + f.rot3;
    if (geometric > 0) blocks.emplace_back(g, g);
    if (f.wavelength) blocks.emplace_back(&wavelength_a, &wavelength_a);
    if (f.distortion) blocks.emplace_back(dist, dist);
    if (f.distortion && geometric > 0) blocks.emplace_back(g, dist);
    out.sigma.fill(0.0);
    constexpr int kN = RefinedGeometry::kCovarianceSize;
    constexpr int kG = kGeometryParameterCount, kD = kDistortionParameterCount;
    if (cov.Compute(blocks, &problem)) {
      if (f.distortion) {
        double c[kD * kD];
        cov.GetCovarianceBlock(dist, dist, c);
        for (int i = 0; i < kD; ++i) {
          out.distortion_sigma[i] = std::sqrt(std::max(0.0, c[i * kD + i] * s2));
          for (int j = 0; j < kD; ++j) out.covariance[(kG + i) * kN + kG + j] = c[i * kD + j] * s2;
        }
      }
      if (geometric > 0) {
        double c[kG * kG];
        cov.GetCovarianceBlock(g, g, c);
        for (int i = 0; i < kG; ++i) {
          out.sigma[i] = free_flags[i] ? std::sqrt(std::max(0.0, c[i * kG + i] * s2)) : 0.0;
          for (int j = 0; j < kG; ++j)
            out.covariance[i * kN + j] = free_flags[i] && free_flags[j] ? c[i * kG + j] * s2 : 0.0;
        }
      }
      if (f.distortion && geometric > 0) {
        double c[kG * kD];
        cov.GetCovarianceBlock(g, dist, c);
        for (int i = 0; i < kG; ++i)
          for (int j = 0; j < kD; ++j) {
            const double v = free_flags[i] ? c[i * kD + j] * s2 : 0.0;
            out.covariance[i * kN + kG + j] = v;
            out.covariance[(kG + j) * kN + i] = v;
          }
      }
      if (f.wavelength) {
        double c = 0;
        cov.GetCovarianceBlock(&wavelength_a, &wavelength_a, &c);
        out.sigma[6] = std::sqrt(std::max(0.0, c * s2)) * 1e-10;
      }
    } else {
      out.covariance.fill(std::nan(""));
      for (int i = 0; i < kGeometryParameterCount; ++i)
        if (free_flags[i]) out.sigma[i] = std::nan("");
      if (f.wavelength) out.sigma[6] = std::nan("");
      if (f.distortion) out.distortion_sigma.fill(std::nan(""));
    }
  }
  return out;
}

}  // namespace anvil::calibration
