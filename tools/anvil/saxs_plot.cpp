#include "saxs_plot.hpp"

#include <fmt/core.h>
#include <plplot.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.hpp"

namespace anvil::cli {

namespace {

bool device_available(const char* name) {
  // plgDevs fills arrays the caller provides; n is their capacity on entry, the count on return.
  std::vector<const char*> menu_storage(256, nullptr), device_storage(256, nullptr);
  const char** menu = menu_storage.data();
  const char** devices = device_storage.data();
  int n = static_cast<int>(menu_storage.size());
  plgDevs(&menu, &devices, &n);
  for (int i = 0; i < n; ++i)
    if (devices[i] && std::strcmp(devices[i], name) == 0) return true;
  return false;
}

}  // namespace

void plot_saxs_index(const std::string& png_path, const Pattern1D& pattern, const saxs::SaxsResult& r,
                     const std::string& title) {
  if (!device_available("pngcairo"))
    throw InputError(png_path, "PLplot has no pngcairo device: install Debian's plplot-driver-cairo");
  // log10 intensity of the positive points in the analysed range.
  std::vector<PLFLT> x, y, xb, yb;
  for (std::size_t i = 0; i < pattern.x.size(); ++i) {
    const double q = pattern.x[i];
    if (q < r.q_min_inv_nm || q > r.q_max_inv_nm || !(pattern.intensity[i] > 0)) continue;
    x.push_back(q);
    y.push_back(std::log10(pattern.intensity[i]));
  }
  for (std::size_t i = 0; i < r.q.size(); ++i)
    if (r.baseline[i] > 0) {
      xb.push_back(r.q[i]);
      yb.push_back(std::log10(r.baseline[i]));
    }
  if (x.size() < 2) throw InputError(png_path, "nothing to plot: no positive intensity in the q range");
  const auto [ymin_it, ymax_it] = std::minmax_element(y.begin(), y.end());
  const double span = std::max(*ymax_it - *ymin_it, 0.5);
  const double y_lo = *ymin_it - 0.30 * span;  // room below the curve for the hkl ticks
  const double y_hi = *ymax_it + 0.08 * span;

  plsdev("pngcairo");
  plsfnam(png_path.c_str());
  plsetopt("geometry", "1400x900");
  plscol0(0, 255, 255, 255);  // background
  plscol0(1, 0, 0, 0);        // axes, labels
  plscol0(2, 31, 90, 180);    // pattern
  plscol0(3, 150, 150, 150);  // baseline
  plscol0(4, 215, 40, 40);    // found peaks
  plscol0(5, 0, 130, 60);     // first phase
  plscol0(6, 200, 110, 0);    // second phase
  plinit();
  plcol0(1);
  plschr(0, 0.9);
  plenv(r.q_min_inv_nm, r.q_max_inv_nm, y_lo, y_hi, 0, 20);  // 20: logarithmic y axis
  pllab("q (nm#u-1#d)", "I", title.c_str());

  plcol0(3);
  pllsty(2);
  plline(static_cast<PLINT>(xb.size()), xb.data(), yb.data());
  pllsty(1);
  plcol0(2);
  plwidth(1.5);
  plline(static_cast<PLINT>(x.size()), x.data(), y.data());
  plwidth(1.0);

  // Found peaks: a marker on the curve at each refined centre.
  std::vector<PLFLT> px, py;
  for (const auto& p : r.peaks) {
    auto it = std::lower_bound(x.begin(), x.end(), p.q);
    if (it == x.end()) continue;
    px.push_back(p.q);
    py.push_back(y[static_cast<std::size_t>(it - x.begin())] + 0.02 * span);
  }
  plcol0(4);
  plssym(0, 1.2);
  if (!px.empty()) plpoin(static_cast<PLINT>(px.size()), px.data(), py.data(), 11);  // triangles

  // Indexed reflections: a tick per predicted position with its hkl, one row per phase.
  for (std::size_t k = 0; k < r.phases.size() && k < 2; ++k) {
    const auto& ph = r.phases[k];
    plcol0(static_cast<PLINT>(5 + k));
    const double base = y_lo + (0.04 + 0.13 * k) * span;
    for (const auto& refl : ph.reflections) {
      PLFLT tx[2] = {refl.q, refl.q};
      PLFLT ty[2] = {base, base + 0.05 * span};
      plline(2, tx, ty);
      plschr(0, 0.55);
      plptex(refl.q, base + 0.06 * span, 0.0, 1.0, 0.0, refl.hkl.c_str());  // vertical label
    }
    plschr(0, 0.8);
    const std::string label =
        ph.solution.c_nm > 0
            ? fmt::format("{} a = {:.3f} nm, c = {:.3f} nm", saxs::lattice_name(ph.solution.lattice),
                          ph.solution.a_nm, ph.solution.c_nm)
            : fmt::format("{} a = {:.3f} nm", saxs::lattice_name(ph.solution.lattice), ph.solution.a_nm);
    plmtex("t", -1.5 - 1.3 * static_cast<double>(k), 0.98, 1.0, label.c_str());
  }
  if (r.phases.empty()) {
    plcol0(1);
    plschr(0, 0.8);
    plmtex("t", -1.5, 0.98, 1.0, ("no superlattice: " + r.reason).c_str());
  }
  plend();
}

}  // namespace anvil::cli
