#include "saxs/absolute_scale.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace anvil::saxs {

namespace {

double quantile(std::vector<double> v, double p) {  // linear interpolation, v not empty
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

AbsoluteScale absolute_scale_factor(const std::vector<double>& q, const std::vector<double>& measured,
                                    const std::vector<double>& rq, const std::vector<double>& ri,
                                    std::optional<std::pair<double, double>> q_range) {
  if (q.size() != measured.size() || rq.size() != ri.size())
    throw InputError("absolute scale", "q and intensity differ in length");
  // The reference's positive points, in increasing q, in logs.
  std::vector<double> lq, li;
  for (std::size_t i = 0; i < rq.size(); ++i) {
    if (!(rq[i] > 0) || !(ri[i] > 0)) continue;
    if (!lq.empty() && std::log(rq[i]) <= lq.back())
      throw InputError("absolute scale",
                       fmt::format("the calibrated curve's q is not increasing at {}", rq[i]));
    lq.push_back(std::log(rq[i]));
    li.push_back(std::log(ri[i]));
  }
  if (lq.size() < 2)
    throw InputError("absolute scale", "the calibrated curve has fewer than 2 positive points");
  AbsoluteScale out;
  std::vector<double> ratio;
  out.q_min_inv_nm = HUGE_VAL;
  out.q_max_inv_nm = -HUGE_VAL;
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (!(q[i] > 0) || !(measured[i] > 0) || !std::isfinite(measured[i])) continue;
    if (q_range && (q[i] < q_range->first || q[i] > q_range->second)) continue;
    const double x = std::log(q[i]);
    if (x < lq.front() || x > lq.back()) continue;
    const auto hi = static_cast<std::size_t>(std::upper_bound(lq.begin(), lq.end(), x) - lq.begin());
    const std::size_t k = std::clamp<std::size_t>(hi, 1, lq.size() - 1);
    const double t = (x - lq[k - 1]) / (lq[k] - lq[k - 1]);
    const double ref = std::exp(li[k - 1] + t * (li[k] - li[k - 1]));
    ratio.push_back(ref / measured[i]);
    out.q_min_inv_nm = std::min(out.q_min_inv_nm, q[i]);
    out.q_max_inv_nm = std::max(out.q_max_inv_nm, q[i]);
  }
  if (ratio.size() < 5)
    throw InputError(
        "absolute scale",
        fmt::format("only {} points of the standard overlap its calibrated curve (need 5): check "
                    "the q range and units",
                    ratio.size()));
  out.points = ratio.size();
  out.factor = quantile(ratio, 0.5);
  out.relative_spread = (quantile(ratio, 0.75) - quantile(ratio, 0.25)) / (2 * out.factor);
  return out;
}

}  // namespace anvil::saxs
