#include "saxs/lattice.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

namespace anvil::saxs {

const char* lattice_name(Lattice lattice) {
  switch (lattice) {
    case Lattice::fcc:
      return "fcc";
    case Lattice::bcc:
      return "bcc";
    case Lattice::sc:
      return "sc";
    case Lattice::hcp:
      return "hcp";
    case Lattice::hex2d:
      return "hex2d";
    case Lattice::hex3d:
      return "hex3d";
    case Lattice::lamellar:
      return "lamellar";
    case Lattice::none:
      return "none";
  }
  return "none";
}

std::optional<Lattice> parse_lattice(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (s == "fcc") return Lattice::fcc;
  if (s == "bcc") return Lattice::bcc;
  if (s == "sc" || s == "cubic") return Lattice::sc;
  if (s == "hcp") return Lattice::hcp;
  if (s == "hex2d" || s == "2dhex" || s == "p6mm") return Lattice::hex2d;
  if (s == "hex3d" || s == "hex" || s == "simple-hex") return Lattice::hex3d;
  if (s == "lamellar" || s == "lam") return Lattice::lamellar;
  if (s == "none") return Lattice::none;
  return std::nullopt;
}

std::vector<Lattice> all_lattices() {
  return {Lattice::fcc,   Lattice::bcc,   Lattice::sc,      Lattice::hcp,
          Lattice::hex2d, Lattice::hex3d, Lattice::lamellar};
}

int free_parameters(Lattice lattice) { return has_c_axis(lattice) ? 2 : 1; }

bool has_c_axis(Lattice lattice) { return lattice == Lattice::hcp || lattice == Lattice::hex3d; }

int particles_per_cell(Lattice lattice) {
  switch (lattice) {
    case Lattice::fcc:
      return 4;
    case Lattice::bcc:
    case Lattice::hcp:
      return 2;
    default:
      return 1;
  }
}

namespace {

// Cubic families: all integer (h,k,l) with h²+k²+l² = N, grouped by N; fcc needs h,k,l of one
// parity, bcc h+k+l even (Fm-3m / Im-3m extinctions). Labels list h ≥ k ≥ l ≥ 0 representatives.
std::vector<ReflectionFamily> cubic_families(Lattice lattice, int n_max) {
  const double f2 = lattice == Lattice::fcc ? 16.0 : lattice == Lattice::bcc ? 4.0 : 1.0;
  auto allowed = [lattice](int h, int k, int l) {
    if (lattice == Lattice::bcc) return (h + k + l) % 2 == 0;
    if (lattice == Lattice::fcc) {
      const int p = h % 2 + k % 2 + l % 2;
      return p == 0 || p == 3;
    }
    return true;
  };
  // Representatives h ≥ k ≥ l ≥ 0; the extinction rules do not depend on signs or order, and the
  // family has (distinct permutations) × 2^(non-zero indices) members.
  std::map<int, ReflectionFamily> by_n;
  const int m = static_cast<int>(std::floor(std::sqrt(static_cast<double>(n_max))));
  for (int h = 1; h <= m; ++h)
    for (int k = 0; k <= h; ++k)
      for (int l = 0; l <= k; ++l) {
        const int n = h * h + k * k + l * l;
        if (n > n_max || !allowed(h, k, l)) continue;
        const int perms = (h == k && k == l) ? 1 : (h == k || k == l) ? 3 : 6;
        const int signs = 1 << ((h != 0) + (k != 0) + (l != 0));
        auto& fam = by_n[n];
        fam.x = n;
        fam.multiplicity += perms * signs;
        fam.strength += f2 * perms * signs;
        if (!fam.hkl.empty()) fam.hkl += "/";
        fam.hkl += std::to_string(h) + std::to_string(k) + std::to_string(l);
      }
  std::vector<ReflectionFamily> out;
  for (auto& [n, fam] : by_n) out.push_back(std::move(fam));
  return out;
}

// (h,k) pairs (all integers) with h²+hk+k² = M, and their h ≥ k ≥ 0 representatives as labels.
struct HexPlane {
  int count = 0;
  std::string label;  // "10", "11", "21", "70/53"
};

std::map<int, HexPlane> hex_planes(int m_max) {
  std::map<int, HexPlane> planes;
  const int r = static_cast<int>(std::ceil(std::sqrt(4.0 * m_max / 3.0))) + 1;
  for (int h = -r; h <= r; ++h)
    for (int k = -r; k <= r; ++k) {
      const int m = h * h + h * k + k * k;
      if (m > m_max) continue;
      auto& p = planes[m];
      p.count += 1;
      if (h >= k && k >= 0 && m > 0) {
        if (!p.label.empty()) p.label = "/" + p.label;
        p.label = std::to_string(h) + std::to_string(k) + p.label;
      }
    }
  return planes;
}

std::vector<ReflectionFamily> hexagonal_families(Lattice lattice, double x_max, double y_max) {
  const int m_max = static_cast<int>(std::floor(x_max * 0.75 + 1e-9));
  const int l_max =
      lattice == Lattice::hex2d ? 0 : static_cast<int>(std::floor(std::sqrt(std::max(y_max, 0.0)) + 1e-9));
  std::vector<ReflectionFamily> out;
  const auto planes = hex_planes(m_max);
  for (const auto& [m, plane] : planes)
    for (int l = 0; l <= l_max; ++l) {
      if (m == 0 && l == 0) continue;
      ReflectionFamily fam;
      fam.x = 4.0 * m / 3.0;
      fam.y = static_cast<double>(l) * l;
      // (00l) has the (h,k) = (0,0) pair only; ±l doubles every l > 0 family.
      fam.multiplicity = plane.count * (l > 0 ? 2 : 1);
      double f2 = 1.0;
      if (lattice == Lattice::hcp) {
        // P6_3/mmc with particles at (1/3,2/3,1/4), (2/3,1/3,3/4): |F|² = 4cos²(π[(h+2k)/3 + l/2]);
        // h+2k ≡ h−k (mod 3) and h²+hk+k² ≡ (h−k)² (mod 3), so the class follows from M mod 3.
        const bool h2k_multiple_of_3 = m % 3 == 0;
        const bool l_odd = l % 2 == 1;
        f2 = h2k_multiple_of_3 ? (l_odd ? 0.0 : 4.0) : (l_odd ? 3.0 : 1.0);
      }
      fam.strength = f2 * fam.multiplicity;
      if (fam.strength <= 0) continue;
      const std::string hk = m == 0 ? "00" : plane.label;
      if (lattice == Lattice::hex2d) {
        fam.hkl = hk;
      } else {
        // "hkl" for every (h,k) representative: "101", "701/531".
        std::string label;
        std::size_t start = 0;
        while (start <= hk.size()) {
          const auto slash = hk.find('/', start);
          const std::string one =
              hk.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
          if (!label.empty()) label += "/";
          label += one + std::to_string(l);
          if (slash == std::string::npos) break;
          start = slash + 1;
        }
        fam.hkl = label;
      }
      out.push_back(std::move(fam));
    }
  return out;
}

}  // namespace

std::vector<ReflectionFamily> reflection_families(Lattice lattice, double x_max, double y_max) {
  std::vector<ReflectionFamily> out;
  switch (lattice) {
    case Lattice::fcc:
    case Lattice::bcc:
    case Lattice::sc:
      out = cubic_families(lattice, static_cast<int>(std::floor(x_max + 1e-9)));
      break;
    case Lattice::hcp:
    case Lattice::hex3d:
    case Lattice::hex2d:
      out = hexagonal_families(lattice, x_max, y_max);
      break;
    case Lattice::lamellar: {
      const int l_max = static_cast<int>(std::floor(std::sqrt(std::max(x_max, 0.0)) + 1e-9));
      for (int l = 1; l <= l_max; ++l) {
        ReflectionFamily fam;
        fam.x = static_cast<double>(l) * l;
        fam.multiplicity = 2;
        fam.strength = 2;
        fam.hkl = "00" + std::to_string(l);
        out.push_back(std::move(fam));
      }
      break;
    }
    case Lattice::none:
      break;
  }
  return out;
}

double family_q(const ReflectionFamily& family, double a, double c) {
  double s = family.x / (a * a);
  if (family.y > 0) s += family.y / (c * c);
  return 2.0 * std::numbers::pi * std::sqrt(s);
}

std::vector<Reflection> reflections(Lattice lattice, double a, double c, double q_max) {
  if (lattice == Lattice::none || !(a > 0) || !(q_max > 0)) return {};
  const double qq = q_max / (2.0 * std::numbers::pi);
  const double x_max = qq * qq * a * a;
  const double y_max = has_c_axis(lattice) && c > 0 ? qq * qq * c * c : 0;
  std::vector<Reflection> out;
  for (const auto& fam : reflection_families(lattice, x_max, y_max)) {
    const double q = family_q(fam, a, c);
    if (q > q_max * (1 + 1e-12)) continue;
    out.push_back({fam.hkl, q, 2.0 * std::numbers::pi / q, fam.multiplicity, fam.strength});
  }
  std::sort(out.begin(), out.end(), [](const Reflection& l, const Reflection& r) { return l.q < r.q; });
  return out;
}

double nearest_neighbour_distance(Lattice lattice, double a, double /*c*/) {
  switch (lattice) {
    case Lattice::fcc:
      return a / std::numbers::sqrt2;
    case Lattice::bcc:
      return a * std::numbers::sqrt3 / 2.0;
    case Lattice::hcp:
    case Lattice::hex2d:
    case Lattice::hex3d:  // in-plane (rod axis to rod axis); c is reported separately
    case Lattice::sc:
    case Lattice::lamellar:
      return a;
    case Lattice::none:
      break;
  }
  return 0;
}

std::optional<double> volume_per_particle(Lattice lattice, double a, double c) {
  switch (lattice) {
    case Lattice::fcc:
      return a * a * a / 4.0;
    case Lattice::bcc:
      return a * a * a / 2.0;
    case Lattice::sc:
      return a * a * a;
    case Lattice::hcp:
      return std::numbers::sqrt3 / 2.0 * a * a * c / 2.0;
    case Lattice::hex3d:
      return std::numbers::sqrt3 / 2.0 * a * a * c;
    default:
      return std::nullopt;
  }
}

std::optional<double> area_per_column(Lattice lattice, double a) {
  if (lattice != Lattice::hex2d) return std::nullopt;
  return std::numbers::sqrt3 / 2.0 * a * a;
}

}  // namespace anvil::saxs
