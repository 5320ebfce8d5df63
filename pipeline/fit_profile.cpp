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

}  // namespace

json fit_profile_json(const powder::FitResult& r, const std::vector<std::string>& names) {
  json j;
  j["x_unit"] = "2th_deg";
  j["x"] = floats(r.two_theta_deg);
  j["observed"] = floats(r.observed);
  j["model"] = floats(r.model);
  j["background"] = floats(r.background);
  json phases = json::object();
  for (std::size_t k = 0; k < r.phases.size(); ++k)
    if (!r.phases[k].curve.empty())
      phases[k < names.size() ? names[k] : r.phases[k].name] = floats(r.phases[k].curve);
  j["phases"] = phases;
  return j;
}

json fit_profile_json(const debye::FitResult& r, const std::vector<std::string>& names) {
  json j;
  j["x_unit"] = "q_A^-1";
  j["x"] = floats(r.q);
  j["observed"] = floats(r.observed);
  j["model"] = floats(r.calculated);
  j["background"] = floats(r.background);
  json phases = json::object();
  for (std::size_t k = 0; k < r.phase_curves.size(); ++k)
    phases[k < names.size() ? names[k] : r.phases[k].name] = floats(r.phase_curves[k]);
  j["phases"] = phases;
  return j;
}

}  // namespace anvil::pipeline
