// JCPDS pressure-marker cards: the shared reference cards parse and are self-consistent.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "io/jcpds.hpp"
#include "test_support.hpp"

using anvil::io::parse_jcpds;
using anvil::io::read_jcpds;

TEST(Jcpds, GoldAndersonCardParses) {
  ANVIL_REFERENCE_FILE(path, "pressure/au_Anderson.jcpds");
  const auto card = read_jcpds(path);
  EXPECT_EQ(card.version, 4);
  EXPECT_EQ(card.name, "au_Anderson");
  ASSERT_EQ(card.comments.size(), 1u);
  EXPECT_NE(card.comments[0].find("Anderson"), std::string::npos);
  EXPECT_DOUBLE_EQ(card.k0_gpa, 166.65);
  EXPECT_DOUBLE_EQ(card.k0_prime, 5.4823);
  EXPECT_EQ(card.symmetry, "CUBIC");
  EXPECT_DOUBLE_EQ(card.a, 4.0786);
  EXPECT_DOUBLE_EQ(card.alpha_t, 4.26e-5);
  ASSERT_EQ(card.reflections.size(), 13u);
  EXPECT_DOUBLE_EQ(card.reflections[0].d0_angstrom, 2.3550);
  EXPECT_DOUBLE_EQ(card.reflections[0].intensity, 100.0);
  EXPECT_EQ(card.reflections[0].h, 1);
  EXPECT_EQ(card.reflections[0].k, 1);
  EXPECT_EQ(card.reflections[0].l, 1);
  EXPECT_EQ(card.reflections[12].h, 6);
  EXPECT_EQ(card.reflections[12].k, 2);
  EXPECT_EQ(card.reflections[12].l, 0);
}

TEST(Jcpds, ListedDSpacingsMatchTheCellOfEveryReferenceCard) {
  // Cubic: d = a / sqrt(h^2 + k^2 + l^2); hexagonal: 1/d^2 = 4/3 (h^2 + hk + k^2)/a^2 + l^2/c^2.
  // The cards round d to 4 digits and come from different sources: agree within 0.5%.
  for (const char* name : {"ag", "au_Anderson", "mo", "pt", "re"}) {
    ANVIL_REFERENCE_FILE(path, std::string("pressure/") + name + ".jcpds");
    const auto card = read_jcpds(path);
    ASSERT_FALSE(card.reflections.empty()) << name;
    for (const auto& r : card.reflections) {
      double d = 0.0;
      if (card.symmetry == "CUBIC") {
        d = card.a / std::sqrt(double(r.h * r.h + r.k * r.k + r.l * r.l));
      } else {
        ASSERT_EQ(card.symmetry, "HEXAGONAL") << name;
        ASSERT_TRUE(card.c.has_value()) << name;
        const double c = *card.c;
        d = 1.0 / std::sqrt(4.0 / 3.0 * (r.h * r.h + r.h * r.k + r.k * r.k) / (card.a * card.a) +
                            r.l * r.l / (c * c));
      }
      EXPECT_NEAR(r.d0_angstrom, d, 0.005 * d) << name << " (" << r.h << r.k << r.l << ")";
    }
  }
}

TEST(Jcpds, HexagonalRheniumCard) {
  ANVIL_REFERENCE_FILE(path, "pressure/re.jcpds");
  const auto card = read_jcpds(path);
  EXPECT_EQ(card.symmetry, "HEXAGONAL");
  EXPECT_DOUBLE_EQ(card.a, 2.76);
  ASSERT_TRUE(card.c.has_value());
  EXPECT_DOUBLE_EQ(*card.c, 4.4574);
  EXPECT_DOUBLE_EQ(card.k0_gpa, 433.8);
  EXPECT_EQ(card.reflections.size(), 20u);
}

TEST(Jcpds, OldFixedFormatVersion1) {
  const auto card = parse_jcpds(
      "Gold, old style card\n"
      "1 4.0786 166.65 5.4823 1.0\n"
      "d I h k l\n"
      "2.3550 100 1 1 1\n"
      "2.0390  52 2 0 0\n",
      "old.jcpds", "old");
  EXPECT_EQ(card.version, 1);
  EXPECT_EQ(card.symmetry, "CUBIC");
  EXPECT_DOUBLE_EQ(card.a, 4.0786);
  EXPECT_DOUBLE_EQ(card.k0_gpa, 166.65);
  EXPECT_DOUBLE_EQ(card.k0_prime, 5.4823);
  ASSERT_EQ(card.reflections.size(), 2u);
  EXPECT_EQ(card.reflections[1].h, 2);
}

TEST(Jcpds, ErrorsNameFileAndLine) {
  try {
    parse_jcpds("VERSION: 4\nK0: 1x0\nSYMMETRY: CUBIC\nA: 4.0\n", "bad.jcpds");
    FAIL() << "expected InputError";
  } catch (const anvil::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.jcpds"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("K0"), std::string::npos) << msg;
  }
  EXPECT_THROW(parse_jcpds("VERSION: 4\nSYMMETRY: CUBIC\nA: 4.0\nDIHKL: 2.3 100 1 1\n", "x"),
               anvil::InputError);
  EXPECT_THROW(parse_jcpds("VERSION: 4\nK0: 100\nA: 4.0\n", "x"), anvil::InputError);  // no SYMMETRY
  EXPECT_THROW(parse_jcpds("", "x"), anvil::InputError);
  EXPECT_THROW(read_jcpds("/nonexistent/none.jcpds"), anvil::InputError);
}
