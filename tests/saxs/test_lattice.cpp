// Lattice geometry against SAXS_INDEXING.md §1.2–1.3 (ratios computed from the extinction rules).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numbers>

#include "saxs/lattice.hpp"

using namespace anvil::saxs;

namespace {

std::vector<double> ratios(Lattice l, double a, double c, std::size_t n) {
  const auto r = reflections(l, a, c, 1000.0 / a);
  std::vector<double> out;
  for (std::size_t i = 0; i < n && i < r.size(); ++i) out.push_back(r[i].q / r[0].q);
  return out;
}

void check_ratios(Lattice l, const std::vector<double>& want, double c_over_a = 0) {
  const auto got = ratios(l, 10.0, 10.0 * c_over_a, want.size());
  ASSERT_EQ(got.size(), want.size()) << lattice_name(l);
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-4) << lattice_name(l) << " #" << i;
}

}  // namespace

TEST(SaxsLattice, CubicRatioSequencesFollowTheExtinctionRules) {
  check_ratios(Lattice::sc, {1, 1.4142, 1.7321, 2, 2.2361, 2.4495, 2.8284, 3, 3.1623, 3.3166, 3.4641});
  check_ratios(Lattice::bcc, {1, 1.4142, 1.7321, 2, 2.2361, 2.4495, 2.6458, 2.8284, 3, 3.1623});
  check_ratios(Lattice::fcc, {1, 1.1547, 1.6330, 1.9149, 2, 2.3094, 2.5166, 2.5820, 2.8284, 3});
  check_ratios(Lattice::hex2d, {1, 1.7321, 2, 2.6458, 3, 3.4641, 3.6056, 4});
  check_ratios(Lattice::lamellar, {1, 2, 3, 4});
}

TEST(SaxsLattice, IdealHcpKeepsOnlyAllowedReflections) {
  // 001, 003, 111, 113 are absent (h+2k = 3n with l odd).
  check_ratios(Lattice::hcp, {1, 1.0607, 1.1319, 1.4577, 1.7321, 1.8792, 2, 2.0310, 2.0691, 2.1213},
                kIdealHcpCOverA);
  const auto r = reflections(Lattice::hcp, 10, 10 * kIdealHcpCOverA, 3.0);
  for (const auto& x : r) {
    EXPECT_NE(x.hkl, "001");
    EXPECT_NE(x.hkl, "003");
    EXPECT_NE(x.hkl, "111");
  }
}

TEST(SaxsLattice, MultiplicitiesAreThePowderOnes) {
  std::map<std::string, int> m;
  for (const auto& r : reflections(Lattice::sc, 10, 0, 2.5)) m[r.hkl] = r.multiplicity;
  EXPECT_EQ(m["100"], 6);
  EXPECT_EQ(m["110"], 12);
  EXPECT_EQ(m["111"], 8);
  EXPECT_EQ(m["210"], 24);
  EXPECT_EQ(m["221/300"], 30);  // two families at N = 9
  std::map<std::string, int> h;
  for (const auto& r : reflections(Lattice::hex3d, 10, 20, 2.5)) h[r.hkl] = r.multiplicity;
  EXPECT_EQ(h["100"], 6);
  EXPECT_EQ(h["001"], 2);
  EXPECT_EQ(h["101"], 12);
  EXPECT_EQ(h["210"], 12);
  EXPECT_EQ(h["211"], 24);
}

TEST(SaxsLattice, NanorodSimpleHexagonalWorkedExampleReproducesTheTabulatedPeaks) {
  // SAXS_INDEXING.md: a = 6.72 nm, c = 26.2 nm.
  const std::map<std::string, double> table = {
      {"001", 0.2398}, {"002", 0.4796}, {"003", 0.7194}, {"004", 0.9593}, {"100", 1.0796},
      {"101", 1.1060}, {"102", 1.1814}, {"005", 1.1991}, {"103", 1.2974}, {"006", 1.4389},
      {"104", 1.4442}, {"105", 1.6135}, {"007", 1.6787}, {"106", 1.7989}};
  const auto r = reflections(Lattice::hex3d, 6.72, 26.2, 1.80);
  std::map<std::string, double> got;
  for (const auto& x : r) got[x.hkl] = x.q;
  for (const auto& [hkl, q] : table) {
    ASSERT_TRUE(got.count(hkl)) << hkl;
    EXPECT_NEAR(got[hkl], q, 6e-5) << hkl;
  }
  EXPECT_EQ(got.size(), table.size());
  EXPECT_NEAR(2 * std::numbers::pi / got["100"], std::sqrt(3.0) / 2 * 6.72, 1e-9);  // d100 = 5.82 nm
}

TEST(SaxsLattice, FccExampleD111Of5nmGivesA8660AndNearestNeighbour6124) {
  const double a = std::sqrt(3.0) * 5.0;
  EXPECT_NEAR(a, 8.660, 5e-4);
  const auto r = reflections(Lattice::fcc, a, 0, 2.0);
  EXPECT_EQ(r.front().hkl, "111");
  EXPECT_NEAR(r.front().q, 1.2566, 1e-4);
  EXPECT_NEAR(nearest_neighbour_distance(Lattice::fcc, a, 0), 6.124, 5e-4);
  EXPECT_NEAR(*volume_per_particle(Lattice::fcc, a, 0), a * a * a / 4, 1e-9);
}

TEST(SaxsLattice, NearestNeighbourAndVolumePerParticleFollowTheTable) {
  EXPECT_NEAR(nearest_neighbour_distance(Lattice::bcc, 10, 0), 10 * std::sqrt(3.0) / 2, 1e-12);
  EXPECT_NEAR(nearest_neighbour_distance(Lattice::sc, 10, 0), 10, 1e-12);
  EXPECT_NEAR(nearest_neighbour_distance(Lattice::hcp, 10, 16.33), 10, 1e-12);
  EXPECT_NEAR(nearest_neighbour_distance(Lattice::hex3d, 6.72, 26.2), 6.72, 1e-12);
  EXPECT_NEAR(nearest_neighbour_distance(Lattice::lamellar, 5.81, 0), 5.81, 1e-12);
  EXPECT_NEAR(*volume_per_particle(Lattice::bcc, 10, 0), 500, 1e-9);
  EXPECT_NEAR(*volume_per_particle(Lattice::hcp, 10, 16), std::sqrt(3.0) / 2 * 100 * 16 / 2, 1e-9);
  EXPECT_NEAR(*volume_per_particle(Lattice::hex3d, 6.72, 26.2), std::sqrt(3.0) / 2 * 6.72 * 6.72 * 26.2,
              1e-9);
  EXPECT_FALSE(volume_per_particle(Lattice::lamellar, 5, 0));
  EXPECT_NEAR(*area_per_column(Lattice::hex2d, 10), std::sqrt(3.0) / 2 * 100, 1e-9);
}

TEST(SaxsLattice, NamesRoundTrip) {
  for (Lattice l : all_lattices()) EXPECT_EQ(parse_lattice(lattice_name(l)), l);
  EXPECT_EQ(parse_lattice("none"), Lattice::none);
  EXPECT_FALSE(parse_lattice("rhombohedral"));
}
