// Superlattices of nanocrystals: the lattices SAXS sees, their allowed reflections with powder
// multiplicities and structure factors, and the distances derived from the lattice constants.
//
// Every reflection family is written as q = 2π·sqrt(X/a² + Y/c²): cubic X = h²+k²+l² (Y = 0);
// hexagonal X = (4/3)(h²+hk+k²), Y = l²; 2D hexagonal X = (4/3)(h²+hk+k²); lamellar X = l² (a = d).
// (International Tables A, ch. 1.1; SAXS_INDEXING.md §1.2.)
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::saxs {

enum class Lattice { fcc, bcc, sc, hcp, hex2d, hex3d, lamellar, none };

// "fcc", "bcc", "sc", "hcp", "hex2d", "hex3d", "lamellar", "none".
const char* lattice_name(Lattice lattice);
// Parses a name as lattice_name writes it (also "hex" = hex3d, "lam" = lamellar); nullopt otherwise.
std::optional<Lattice> parse_lattice(std::string_view name);
// The seven superlattices the indexer knows (everything but none).
std::vector<Lattice> all_lattices();
// Lattice constants free in a fit: 2 for hcp and hex3d (a, c), else 1.
int free_parameters(Lattice lattice);
// Whether the lattice has a c axis (hcp, hex3d).
bool has_c_axis(Lattice lattice);
// Particles per conventional cell: fcc 4, bcc 2, hcp 2, others 1.
int particles_per_cell(Lattice lattice);

// One family of reflections sharing a q (e.g. cubic 221 and 300, both N = 9).
struct ReflectionFamily {
  double x = 0;          // coefficient of 1/a²
  double y = 0;          // coefficient of 1/c²
  int multiplicity = 0;  // number of (h,k,l) in the family (powder multiplicity)
  double strength = 0;   // Σ |F_hkl|² over the family (multiplicity × |F|² per particle basis)
  std::string hkl;       // "111", "221/300", "10" (hex2d), "101" (hexagonal hkl, l last)
};

// Allowed reflection families with x ≤ x_max and y ≤ y_max, sorted by x + y, extinct ones
// (strength 0) removed. For one-parameter lattices y_max is ignored.
std::vector<ReflectionFamily> reflection_families(Lattice lattice, double x_max, double y_max = 0);

// q (in the inverse unit of a, c) of a family: 2π·sqrt(x/a² + y/c²).
double family_q(const ReflectionFamily& family, double a, double c);

// A reflection at a given lattice constant, for listings and forward models.
struct Reflection {
  std::string hkl;
  double q = 0;  // 2π/d
  double d = 0;
  int multiplicity = 0;
  double strength = 0;
};

// All allowed reflections with q ≤ q_max for lattice constants a (and c for hcp/hex3d), sorted by q.
std::vector<Reflection> reflections(Lattice lattice, double a, double c, double q_max);

// Nearest-neighbour (centre-to-centre) distance: fcc a/√2, bcc a√3/2, sc a, hcp/hex2d/hex3d a,
// lamellar d (= a). SAXS_INDEXING.md §1.3.
double nearest_neighbour_distance(Lattice lattice, double a, double c);

// Volume per particle (a³/4 fcc, a³/2 bcc, a³ sc, (√3/2)a²c/2 hcp, (√3/2)a²c hex3d). For hex2d the
// area per column (√3/2)a² and for lamellar nullopt: neither is a volume.
std::optional<double> volume_per_particle(Lattice lattice, double a, double c);
// Cross-section per column for hex2d, (√3/2)a²; nullopt for other lattices.
std::optional<double> area_per_column(Lattice lattice, double a);

// The ideal c/a of close packing, sqrt(8/3).
inline constexpr double kIdealHcpCOverA = 1.6329931618554521;

}  // namespace anvil::saxs
