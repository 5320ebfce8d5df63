#include "calib_plot.hpp"

#include <fmt/core.h>
#include <plplot/plplot.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numbers>

#include "calibration/ring_model.hpp"
#include "core/error.hpp"

namespace anvil::cli {

namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

// A perceptually ordered dark-blue → yellow map (close to viridis), in PLplot's cmap1.
void set_colour_map() {
  PLFLT pos[] = {0.0, 0.25, 0.5, 0.75, 1.0};
  PLFLT r[] = {0.27, 0.23, 0.13, 0.37, 0.99};
  PLFLT g[] = {0.00, 0.32, 0.57, 0.79, 0.91};
  PLFLT b[] = {0.33, 0.55, 0.55, 0.38, 0.14};
  plscmap1l(1, 5, pos, r, g, b, nullptr);
}

void image_panel(const ImageF& image, const Mask& mask, const std::vector<calibration::CalibrantLine>& lines,
                 const calibration::CalibrationResult& res) {
  const PLINT ny = static_cast<PLINT>(image.rows()), nx = static_cast<PLINT>(image.cols());
  // Log scale between the 1st and the 99.9th percentile of the valid pixels.
  std::vector<float> valid;
  for (std::size_t i = 0; i < image.pixels.size(); i += 7)
    if ((mask.pixels.empty() || !mask.pixels[i]) && !std::isnan(image.pixels[i]))
      valid.push_back(image.pixels[i]);
  std::sort(valid.begin(), valid.end());
  const double lo = valid.empty() ? 1.0 : std::max(1.0, static_cast<double>(valid[valid.size() / 100]));
  const double hi =
      valid.empty() ? 10.0 : std::max(lo * 10, static_cast<double>(valid[valid.size() * 999 / 1000]));
  std::vector<double> store(static_cast<std::size_t>(nx) * ny);
  std::vector<PLFLT*> cols(nx);
  for (PLINT x = 0; x < nx; ++x) {
    cols[x] = store.data() + static_cast<std::size_t>(x) * ny;
    for (PLINT y = 0; y < ny; ++y) {
      const std::size_t i = static_cast<std::size_t>(y) * nx + x;
      const double v = image.pixels[i];
      const bool masked = (!mask.pixels.empty() && mask.pixels[i]) || std::isnan(v);
      cols[x][y] = masked ? std::log10(lo) : std::log10(std::clamp(v, lo, hi));
    }
  }
  const double aspect = static_cast<double>(ny) / nx;
  // The left margin holds the row numbers and the axis label (0.06 clipped "row (pixel)").
  const double w = 0.37, h = std::min(0.80, w * aspect * 2.0);
  plvpor(0.09, 0.09 + w, 0.12, 0.12 + h);
  plwind(-0.5, nx - 0.5, -0.5, ny - 0.5);
  set_colour_map();
  plimage(cols.data(), nx, ny, -0.5, nx - 0.5, -0.5, ny - 0.5, std::log10(lo), std::log10(hi), -0.5, nx - 0.5,
          -0.5, ny - 0.5);
  plcol0(15);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  pllab("column (pixel)", "row (pixel)", "");
  // Fitted rings: iso-2θ curves of the refined geometry.
  const auto& g = res.geometry;
  plcol0(9);
  plwidth(1.0);
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const double t = geometry::two_theta_from_d_spacing(lines[k].d_angstrom, g.wavelength_m);
    if (std::isnan(t)) continue;
    std::vector<PLFLT> xs, ys;
    auto flush = [&] {
      if (xs.size() > 1) plline(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
      xs.clear();
      ys.clear();
    };
    for (int s = 0; s <= 1440; ++s) {
      const auto p = calibration::pixel_at(g, t, -std::numbers::pi + 2 * std::numbers::pi * s / 1440);
      if (!p || (*p)[0] < -0.5 || (*p)[0] > ny - 0.5 || (*p)[1] < -0.5 || (*p)[1] > nx - 0.5) {
        flush();
        continue;
      }
      xs.push_back((*p)[1]);
      ys.push_back((*p)[0]);
    }
    flush();
  }
  // Control points.
  std::vector<PLFLT> px, py;
  for (const auto& p : res.points) {
    px.push_back(p.d2);
    py.push_back(p.d1);
  }
  plcol0(1);
  plssym(0, 0.5);
  if (!px.empty()) plpoin(static_cast<PLINT>(px.size()), px.data(), py.data(), 17);
}

void residual_panel(const calibration::CalibrationResult& res,
                    const std::vector<calibration::CalibrantLine>& lines) {
  std::vector<PLFLT> x, y;
  double ymax = 1e-3;
  for (std::size_t i = 0; i < res.points.size() && i < res.residuals_rad.size(); ++i) {
    const double t =
        geometry::two_theta_from_d_spacing(lines[res.points[i].line].d_angstrom, res.geometry.wavelength_m);
    x.push_back(t * kDeg);
    y.push_back(res.residuals_rad[i] * kDeg * 1e3);  // millidegrees
    ymax = std::max(ymax, std::fabs(y.back()));
  }
  double xmin = 0, xmax = 1;
  if (!x.empty()) {
    xmin = *std::min_element(x.begin(), x.end());
    xmax = *std::max_element(x.begin(), x.end());
  }
  const double pad = std::max(0.5, 0.05 * (xmax - xmin));
  ymax *= 1.1;
  plvpor(0.57, 0.97, 0.12, 0.80);
  plwind(xmin - pad, xmax + pad, -ymax, ymax);
  plcol0(15);
  plbox("bcgnst", 0, 0, "bcgnstv", 0, 0);
  pllab("2#gh (degrees)", "residual 2#gh (millidegrees)", "");
  plcol0(3);
  plssym(0, 0.4);
  if (!x.empty()) plpoin(static_cast<PLINT>(x.size()), x.data(), y.data(), 17);
  // Per-ring mean ± RMS.
  plcol0(1);
  for (const auto& r : res.rings) {
    PLFLT rx[2] = {r.two_theta_expected_rad * kDeg, r.two_theta_expected_rad * kDeg};
    PLFLT ry[2] = {(r.mean_residual_rad - r.rms_residual_rad) * kDeg * 1e3,
                   (r.mean_residual_rad + r.rms_residual_rad) * kDeg * 1e3};
    plwidth(2.0);
    plline(2, rx, ry);
    PLFLT mx[1] = {rx[0]}, my[1] = {r.mean_residual_rad * kDeg * 1e3};
    plssym(0, 1.0);
    plpoin(1, mx, my, 4);
  }
  plwidth(1.0);
  plcol0(15);
  plmtex("t", 1.5, 0.5, 0.5,
         fmt::format("{} points, {} rings, RMS {:.2f} mdeg ({:.3f} px)", res.points.size(), res.rings.size(),
                     res.rms_rad * kDeg * 1e3, res.rms_px)
             .c_str());
}

}  // namespace

void plot_calibration(const std::string& path, const ImageF& image, const Mask& mask,
                      const std::vector<calibration::CalibrantLine>& lines,
                      const calibration::CalibrationResult& result, const std::string& title) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  plsdev("pngcairo");
  plsfnam(path.c_str());
  plspage(0, 0, 1800, 900, 0, 0);
  plscolbg(255, 255, 255);
  plscol0(15, 0, 0, 0);       // axes and text: black
  plscol0(1, 220, 30, 30);    // control points: red
  plscol0(3, 30, 110, 200);   // residuals: blue
  plscol0(9, 255, 255, 255);  // rings: white
  plinit();
  pladv(0);
  plschr(0, 0.8);
  image_panel(image, mask, lines, result);
  residual_panel(result, lines);
  plvpor(0.0, 1.0, 0.0, 1.0);
  plcol0(15);
  plmtex("t", -1.5, 0.5, 0.5, title.c_str());
  plend();
  if (!std::filesystem::exists(path))
    throw InputError(path, "PLplot (pngcairo) did not write the diagnostic picture");
}

}  // namespace anvil::cli
