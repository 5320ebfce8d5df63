#include "fit_profile.hpp"

#include <cmath>

namespace anvil::pipeline {

using json = nlohmann::json;

namespace {

json floats(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(std::isfinite(x) ? json(static_cast<float>(x)) : json(nullptr));
  return a;
}

// `curves[k]` is phase k's (named names[k], else fallback(k)).
template <class Name>
json profile(const char* x_unit, const std::vector<double>& x, const std::vector<double>& observed,
             const std::vector<double>& model, const std::vector<double>& background,
             const std::vector<const std::vector<double>*>& curves, const std::vector<std::string>& names,
             Name fallback) {
  json phases = json::object();
  for (std::size_t k = 0; k < curves.size(); ++k)
    if (!curves[k]->empty()) phases[k < names.size() ? names[k] : fallback(k)] = floats(*curves[k]);
  return {{"x_unit", x_unit},
          {"x", floats(x)},
          {"observed", floats(observed)},
          {"model", floats(model)},
          {"background", floats(background)},
          {"phases", phases}};
}

}  // namespace

json fit_profile_json(const powder::FitResult& r, const std::vector<std::string>& names) {
  std::vector<const std::vector<double>*> curves;
  for (const auto& p : r.phases) curves.push_back(&p.curve);
  return profile("2th_deg", r.two_theta_deg, r.observed, r.model, r.background, curves, names,
                 [&](std::size_t k) { return r.phases[k].name; });
}

json fit_profile_json(const debye::FitResult& r, const std::vector<std::string>& names) {
  std::vector<const std::vector<double>*> curves;
  for (const auto& c : r.phase_curves) curves.push_back(&c);
  return profile("q_A^-1", r.q, r.observed, r.calculated, r.background, curves, names, [&](std::size_t k) {
    return k < r.phases.size() ? r.phases[k].name : "phase " + std::to_string(k + 1);
  });
}

}  // namespace anvil::pipeline
