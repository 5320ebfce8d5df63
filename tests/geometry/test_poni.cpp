// .poni files: every version pyFAI and Dioptas write, lossless round trips, clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "core/error.hpp"
#include "geometry/poni.hpp"
#include "test_support.hpp"

namespace ag = anvil::geometry;
using ag::Geometry;

namespace {

// The error text of parse_poni(text), or "" if it parsed.
std::string error_of(const std::string& text) {
  try {
    ag::parse_poni(text, "test.poni");
  } catch (const anvil::InputError& e) {
    EXPECT_EQ(e.source(), "test.poni");
    return e.what();
  }
  return "";
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_bitwise_equal(const Geometry& a, const Geometry& b) {
  EXPECT_TRUE(same_bits(a.dist_m, b.dist_m)) << a.dist_m << " " << b.dist_m;
  EXPECT_TRUE(same_bits(a.poni1_m, b.poni1_m)) << a.poni1_m << " " << b.poni1_m;
  EXPECT_TRUE(same_bits(a.poni2_m, b.poni2_m));
  EXPECT_TRUE(same_bits(a.rot1, b.rot1));
  EXPECT_TRUE(same_bits(a.rot2, b.rot2));
  EXPECT_TRUE(same_bits(a.rot3, b.rot3));
  EXPECT_TRUE(same_bits(a.wavelength_m, b.wavelength_m));
  EXPECT_TRUE(same_bits(a.detector.pixel1_m, b.detector.pixel1_m));
  EXPECT_TRUE(same_bits(a.detector.pixel2_m, b.detector.pixel2_m));
  EXPECT_EQ(a.detector, b.detector);
}

const std::string kMinimal = "Distance: 0.1\nWavelength: 1e-10\nPixelSize1: 1e-4\nPixelSize2: 1e-4\n";

}  // namespace

TEST(PoniRead, PyFAIVersion2ReferenceFile) {
  ANVIL_REFERENCE_FILE(path, "pyfai/geometry.poni");
  const Geometry g = ag::read_poni(path);
  EXPECT_EQ(g.dist_m, 0.2);
  EXPECT_EQ(g.poni1_m, 0.0905);
  EXPECT_EQ(g.poni2_m, 0.083);
  EXPECT_EQ(g.rot1, 0.012);
  EXPECT_EQ(g.rot2, -0.007);
  EXPECT_EQ(g.rot3, 0.0);
  EXPECT_EQ(g.wavelength_m, 4.859e-11);
  EXPECT_TRUE(g.detector.is_generic());
  EXPECT_EQ(g.detector.pixel1_m, 0.000172);
  EXPECT_EQ(g.detector.pixel2_m, 0.000172);
  EXPECT_EQ(g.detector.shape, (anvil::Shape{1043, 981}));
  EXPECT_EQ(g.detector.orientation, ag::Orientation::BottomRight);
}

TEST(PoniRead, DioptasVersion1PilatusFile) {
  ANVIL_REFERENCE_FILE(path, "real/CeO2_Pilatus1M.poni");
  const Geometry g = ag::read_poni(path);
  EXPECT_EQ(g.dist_m, 0.208651380603);
  EXPECT_EQ(g.poni1_m, 0.0872948482846);
  EXPECT_EQ(g.poni2_m, 0.0799601126306);
  EXPECT_EQ(g.rot1, -0.0184422457059);
  EXPECT_EQ(g.rot2, 0.00413760084465);
  EXPECT_EQ(g.rot3, -2.77645988275e-08);
  EXPECT_EQ(g.wavelength_m, 4.066e-11);
  EXPECT_EQ(g.detector.pixel1_m, 0.000172);
  EXPECT_EQ(g.detector.pixel2_m, 0.000172);
  EXPECT_EQ(g.detector.shape, (anvil::Shape{0, 0}));  // a v1 file does not give the shape
  EXPECT_EQ(g.detector.orientation, ag::Orientation::BottomRight);
}

TEST(PoniRead, TwoRecordsInOneFileTheLastWins) {
  ANVIL_REFERENCE_FILE(path, "real/LaB6_40keV_MarCCD.poni");
  const Geometry g = ag::read_poni(path);
  EXPECT_EQ(g.dist_m, 0.196711580484);
  EXPECT_EQ(g.poni1_m, 0.0813975852141);
  EXPECT_EQ(g.poni2_m, 0.0820662115429);
  EXPECT_EQ(g.rot1, 0.00615439716514);
  EXPECT_EQ(g.rot2, -0.00156720465515);
  EXPECT_EQ(g.rot3, 1.68707221612e-06);
  EXPECT_EQ(g.wavelength_m, 3.1e-11);
  EXPECT_EQ(g.detector.pixel1_m, 7.9e-05);
  EXPECT_EQ(g.detector.pixel2_m, 7.9e-05);
}

TEST(PoniRead, Version21WithOrientation) {
  ANVIL_REFERENCE_FILE(path, "real/LaB6_40keV_MarCCD_new_with_orientation.poni");
  const Geometry g = ag::read_poni(path);
  EXPECT_EQ(g.dist_m, 0.196711580484);
  EXPECT_EQ(g.poni1_m, 0.0813975852141);
  EXPECT_EQ(g.poni2_m, 0.0820662115429);
  EXPECT_EQ(g.rot1, 0.00615439716514);
  EXPECT_EQ(g.rot2, -0.00156720465515);
  EXPECT_EQ(g.rot3, 1.68707221612e-06);
  EXPECT_EQ(g.wavelength_m, 3.1e-11);
  EXPECT_EQ(g.detector.pixel1_m, 7.9e-05);
  EXPECT_EQ(g.detector.shape, (anvil::Shape{0, 0}));  // "max_shape": null
  EXPECT_EQ(g.detector.orientation, ag::Orientation::TopRight);
}

TEST(PoniRead, KeysAreCaseInsensitiveAndCommentsIgnored) {
  const Geometry g = ag::parse_poni(
      "# a comment: with a colon\n  # indented comment\nno colon here\r\n"
      "DISTANCE: 0.25\r\nponi1: 0.01\nPONI2:0.02\nrot1: 0.1\nROT2: -0.2\nRot3: 0.3\n"
      "WAVELENGTH: 7e-11\nPixelSize1: 1e-4\npixelsize2: 2e-4\nSplineFile: None\n",
      "x.poni");
  EXPECT_EQ(g.dist_m, 0.25);
  EXPECT_EQ(g.poni1_m, 0.01);
  EXPECT_EQ(g.poni2_m, 0.02);
  EXPECT_EQ(g.rot1, 0.1);
  EXPECT_EQ(g.rot2, -0.2);
  EXPECT_EQ(g.rot3, 0.3);
  EXPECT_EQ(g.wavelength_m, 7e-11);
  EXPECT_EQ(g.detector.pixel1_m, 1e-4);
  EXPECT_EQ(g.detector.pixel2_m, 2e-4);
}

TEST(PoniRead, NamedDetectorsInVersion1And2) {
  const Geometry v1 = ag::parse_poni("Detector: Pilatus1M\nDistance: 0.1\nWavelength: 1e-10\n", "a");
  EXPECT_EQ(v1.detector.name, "Pilatus1M");
  EXPECT_EQ(v1.detector.shape, (anvil::Shape{1043, 981}));
  EXPECT_TRUE(v1.detector.modules.has_value());
  const Geometry v2 = ag::parse_poni(
      "poni_version: 2\nDetector: Eiger2_4M\nDetector_config: {}\nDist: 0.1\nWavelength: 1e-10\n", "b");
  EXPECT_EQ(v2.detector.name, "Eiger2_4M");
  EXPECT_EQ(v2.dist_m, 0.1);
  const Geometry v21 = ag::parse_poni(
      "poni_version: 2.1\nDetector: Pilatus2M\nDetector_config: {\"orientation\": 4}\nDistance: 0.1\n"
      "Wavelength: 1e-10\n",
      "c");
  EXPECT_EQ(v21.detector.name, "Pilatus2M");
  EXPECT_EQ(v21.detector.orientation, ag::Orientation::BottomLeft);
}

TEST(PoniWrite, RoundTripIsBitForBitLossless) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int trial = 0; trial < 200; ++trial) {
    Geometry g;
    g.dist_m = 0.05 + std::abs(u(rng));
    g.poni1_m = u(rng) * 0.3;
    g.poni2_m = u(rng) * 3e-7;
    g.rot1 = u(rng);
    g.rot2 = u(rng) * 1e-9;
    g.rot3 = trial % 3 == 0 ? 0.0 : u(rng) * 1e20;
    g.wavelength_m = 1e-11 * (1.0 + std::abs(u(rng)));
    if (trial % 2) {
      g.detector = ag::generic_detector(1e-4 * (1 + std::abs(u(rng))), 1.72e-4, {trial % 4 ? 17u : 0u, 33},
                                        static_cast<ag::Orientation>(1 + trial % 4));
    } else {
      g.detector = ag::detector_preset(trial % 4 ? "Pilatus1M" : "Eiger2_9M");
      g.detector.orientation = static_cast<ag::Orientation>(1 + trial % 4);
    }
    const Geometry back = ag::parse_poni(ag::format_poni(g), "round trip");
    check_bitwise_equal(g, back);
  }
}

TEST(PoniWrite, ReferenceFilesSurviveWriteAndRead) {
  const auto dir = anvil::test::scratch_dir("poni_round_trip");
  for (const char* rel : {"pyfai/geometry.poni", "real/CeO2_Pilatus1M.poni", "real/LaB6_40keV_MarCCD.poni",
                          "real/LaB6_40keV_MarCCD_new_with_orientation.poni"}) {
    ANVIL_REFERENCE_FILE(path, rel);
    const Geometry g = ag::read_poni(path);
    const auto out = dir / "copy.poni";
    ag::write_poni(out, g);
    check_bitwise_equal(g, ag::read_poni(out));
  }
}

// Version 2, as pyFAI 0.21 (Debian's, the reference) writes and reads it; orientation (v2.1)
// only when it differs from the default, since pyFAI 0.21 rejects "poni_version: 2.1".
TEST(PoniWrite, LooksLikePyFAIsOwnOutput) {
  Geometry g;
  g.dist_m = 0.2;
  g.poni1_m = 0.0905;
  g.poni2_m = 0.083;
  g.rot1 = 0.012;
  g.rot2 = -0.007;
  g.rot3 = 0.0;
  g.wavelength_m = 4.859e-11;
  g.detector = ag::generic_detector(0.000172, 0.000172, {1043, 981});
  const std::string text = ag::format_poni(g);
  for (const char* line :
       {"poni_version: 2\n", "Detector: Detector\n",
        "Detector_config: {\"pixel1\": 0.000172, \"pixel2\": 0.000172, \"max_shape\": [1043, 981]}\n",
        "Distance: 0.2\n", "Poni1: 0.0905\n", "Poni2: 0.083\n", "Rot1: 0.012\n", "Rot2: -0.007\n",
        "Rot3: 0.0\n", "Wavelength: 4.859e-11\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin\n" << text;
  }
  g.detector = ag::detector_preset("Pilatus1M");
  g.detector.orientation = ag::Orientation::TopRight;
  const std::string named = ag::format_poni(g);
  EXPECT_NE(named.find("Detector: Pilatus1M\nDetector_config: {\"orientation\": 2}\n"), std::string::npos)
      << named;
  EXPECT_NE(named.find("poni_version: 2.1\n"), std::string::npos) << named;
}

TEST(PoniWrite, DoublesAreWrittenAsPythonReprWritesThem) {
  EXPECT_EQ(ag::python_float_repr(0.2), "0.2");
  EXPECT_EQ(ag::python_float_repr(0.0), "0.0");
  EXPECT_EQ(ag::python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(ag::python_float_repr(1.0), "1.0");
  EXPECT_EQ(ag::python_float_repr(4.859e-11), "4.859e-11");
  EXPECT_EQ(ag::python_float_repr(1e-05), "1e-05");
  EXPECT_EQ(ag::python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(ag::python_float_repr(7.9e-05), "7.9e-05");
  EXPECT_EQ(ag::python_float_repr(-2.77645988275e-08), "-2.77645988275e-08");
  EXPECT_EQ(ag::python_float_repr(123456.0), "123456.0");
  EXPECT_EQ(ag::python_float_repr(1e16), "1e+16");
  EXPECT_EQ(ag::python_float_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(ag::python_float_repr(0.1 + 0.2), "0.30000000000000004");
}

TEST(PoniErrors, MissingDistanceOrWavelength) {
  EXPECT_NE(error_of("Wavelength: 1e-10\nPixelSize1: 1e-4\nPixelSize2: 1e-4\n").find("no Distance"),
            std::string::npos);
  EXPECT_NE(error_of("Distance: 0.1\nPixelSize1: 1e-4\nPixelSize2: 1e-4\n").find("no Wavelength"),
            std::string::npos);
}

TEST(PoniErrors, NonNumericValueNamesKeyAndLine) {
  const std::string e = error_of(
      "# header\nDistance: 0.1\nPoni1: 0.0x5\nWavelength: 1e-10\nPixelSize1: 1e-4\n"
      "PixelSize2: 1e-4\n");
  EXPECT_NE(e.find("Poni1"), std::string::npos) << e;
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("0.0x5"), std::string::npos) << e;
  EXPECT_NE(error_of(kMinimal + "Rot1: nan\n").find("Rot1"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "Rot2:\n").find("Rot2"), std::string::npos);
}

TEST(PoniErrors, NonPositiveDistanceOrWavelength) {
  EXPECT_NE(error_of(kMinimal + "Distance: 0\n").find("Distance must be positive"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "Distance: -0.1\n").find("Distance must be positive"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "Wavelength: 0\n").find("Wavelength must be positive"), std::string::npos);
  EXPECT_NE(error_of(kMinimal + "Wavelength: -1e-10\n").find("Wavelength must be positive"),
            std::string::npos);
}

TEST(PoniErrors, UnknownDetectorWithoutPixelSize) {
  const std::string v1 = error_of("Detector: Frobnicator9000\nDistance: 0.1\nWavelength: 1e-10\n");
  EXPECT_NE(v1.find("Frobnicator9000"), std::string::npos) << v1;
  EXPECT_NE(v1.find("Pilatus1M"), std::string::npos) << v1;
  const std::string v2 = error_of(
      "poni_version: 2\nDetector: Frobnicator9000\nDetector_config: {}\nDistance: 0.1\nWavelength: 1e-10\n");
  EXPECT_NE(v2.find("Frobnicator9000"), std::string::npos) << v2;
  EXPECT_NE(
      error_of("poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 1e-4}\nDistance: 0.1\n"
               "Wavelength: 1e-10\n"),
      "");
  EXPECT_NE(error_of("Distance: 0.1\nWavelength: 1e-10\n").find("no detector"), std::string::npos);
  // An unknown name with a pixel size is a generic detector, as far as geometry goes.
  EXPECT_EQ(error_of("poni_version: 2\nDetector: Frobnicator9000\nDetector_config: {\"pixel1\": 1e-4, "
                     "\"pixel2\": 1e-4}\nDistance: 0.1\nWavelength: 1e-10\n"),
            "");
}

TEST(PoniErrors, BadDetectorConfigSplineOrVersion) {
  EXPECT_NE(error_of("poni_version: 2\nDetector: Detector\nDetector_config: {pixel1: 1}\nDistance: 0.1\n"
                     "Wavelength: 1e-10\n")
                .find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of("poni_version: 2.1\nDetector: Pilatus1M\nDetector_config: {\"orientation\": 7}\n"
                     "Distance: 0.1\nWavelength: 1e-10\n")
                .find("orientation 7"),
            std::string::npos);
  EXPECT_NE(error_of(kMinimal + "SplineFile: /data/frelon.spline\n").find("spline"), std::string::npos);
  EXPECT_NE(error_of("poni_version: 3\n" + kMinimal).find("poni_version 3"), std::string::npos);
  EXPECT_NE(error_of("poni_version: two\n" + kMinimal).find("poni_version"), std::string::npos);
}

TEST(PoniErrors, MissingFileIsAnInputErrorNamingIt) {
  try {
    ag::read_poni("/nonexistent/dir/x.poni");
    FAIL();
  } catch (const anvil::InputError& e) {
    EXPECT_EQ(e.source(), "/nonexistent/dir/x.poni");
  }
}

namespace {

Geometry tilted(ag::Orientation o) {
  Geometry g;
  g.dist_m = 0.15;
  g.poni1_m = 0.021;
  g.poni2_m = 0.034;
  g.rot1 = -0.12;
  g.rot2 = 0.08;
  g.rot3 = 0.5;
  g.wavelength_m = 4.1e-11;
  g.detector = ag::generic_detector(100e-6, 150e-6, {40, 30}, o);
  return g;
}

}  // namespace

TEST(PoniOrientation, InfoSaysWhetherTheFileRecordsIt) {
  ag::PoniInfo info;
  ag::parse_poni(kMinimal, "v1.poni", {}, &info);
  EXPECT_EQ(info.version, 1.0);
  EXPECT_FALSE(info.orientation_recorded);
  ag::parse_poni(
      "poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 1e-4, \"pixel2\": 1e-4}\n"
      "Distance: 0.1\nWavelength: 1e-10\n",
      "v2.poni", {}, &info);
  EXPECT_EQ(info.version, 2.0);
  EXPECT_FALSE(info.orientation_recorded);
  ANVIL_REFERENCE_FILE(v21, "real/LaB6_40keV_MarCCD_new_with_orientation.poni");
  ag::read_poni(v21, &info);
  EXPECT_EQ(info.version, 2.1);
  EXPECT_TRUE(info.orientation_recorded);
  // anvil writes the default orientation as v2 (pyFAI 0.21 reads it) with a comment it reads back.
  const std::string text = ag::format_poni(tilted(ag::Orientation::BottomRight));
  EXPECT_NE(text.find("# anvil: orientation 3 (BottomRight, pyFAI's default): the geometry of the image as "
                      "stored in the file\nponi_version: 2\n"),
            std::string::npos)
      << text;
  ag::parse_poni(text, "anvil.poni", {}, &info);
  EXPECT_EQ(info.version, 2.0);
  EXPECT_TRUE(info.orientation_recorded);
  // A comment that contradicts the file is an error naming the file and the line.
  const std::string edited = "# anvil: orientation 2\n" + std::string(kMinimal);
  EXPECT_EQ(error_of(edited),
            "test.poni: the comment on line 1 says orientation 2 but the file describes orientation 3 "
            "(BottomRight): correct one of them");
}

// A recorded orientation refers to the image as stored: on flipped frames anvil flips the
// orientation too, and every pixel keeps its 2θ and χ. Reading the .poni with or without
// --flip-ud (or --flip-lr) gives the same physics.
TEST(PoniOrientation, RecordedOrientationFollowsTheFlips) {
  for (auto o : {ag::Orientation::TopLeft, ag::Orientation::TopRight, ag::Orientation::BottomRight,
                 ag::Orientation::BottomLeft}) {
    const Geometry file = tilted(o);
    const auto tth_file = ag::two_theta_array(file);
    const auto chi_file = ag::chi_array(file);
    for (bool ud : {false, true})
      for (bool lr : {false, true}) {
        SCOPED_TRACE(std::to_string(static_cast<int>(o)) + (ud ? " ud" : "") + (lr ? " lr" : ""));
        const auto frames = ag::geometry_for_frames(file, {2.1, true}, {ud, lr}, "g.poni");
        EXPECT_EQ(frames.geometry.detector.orientation, ag::flipped(o, ud, lr));
        auto tth = ag::two_theta_array(frames.geometry);
        auto chi = ag::chi_array(frames.geometry);
        if (ud) {  // back to the file's rows
          anvil::flip_up_down(tth);
          anvil::flip_up_down(chi);
        }
        if (lr) {
          anvil::flip_left_right(tth);
          anvil::flip_left_right(chi);
        }
        EXPECT_EQ(tth.pixels, tth_file.pixels);
        EXPECT_EQ(chi.pixels, chi_file.pixels);
        // Written back for the file, the .poni is the one read.
        check_bitwise_equal(ag::geometry_for_file(frames.geometry, {ud, lr}), file);
        if (ud || lr) EXPECT_NE(frames.note.find("is used on them"), std::string::npos) << frames.note;
      }
  }
}

// A v1/v2 file records nothing: it belongs to the frames as read, flipped or not. That is what
// --flip-ud is for with a .poni Dioptas wrote before it recorded orientations.
TEST(PoniOrientation, UnrecordedOrientationBelongsToTheFramesAsRead) {
  const Geometry file = tilted(ag::Orientation::BottomRight);
  const auto flipped = ag::geometry_for_frames(file, {1.0, false}, {true, false}, "old_dioptas.poni");
  EXPECT_EQ(flipped.geometry, file);
  EXPECT_EQ(flipped.note,
            "old_dioptas.poni records no orientation (poni_version 1): taken as the geometry of the frames "
            "flipped up-down, as a Dioptas .poni without orientation is");
  const auto plain = ag::geometry_for_frames(file, {2.0, false}, {}, "pyfai.poni");
  EXPECT_EQ(plain.geometry, file);
  EXPECT_NE(plain.note.find("as pyFAI reads it"), std::string::npos) << plain.note;
  // What anvil calibrate --flip-ud writes for such frames: orientation 2, for the file.
  const Geometry written = ag::geometry_for_file(flipped.geometry, {true, false});
  EXPECT_EQ(written.detector.orientation, ag::Orientation::TopRight);
  ag::PoniInfo info;
  const Geometry back = ag::parse_poni(ag::format_poni(written), "calibrated.poni", {}, &info);
  EXPECT_TRUE(info.orientation_recorded);
  EXPECT_NE(ag::format_poni(written).find("poni_version: 2.1\n"), std::string::npos);
  EXPECT_EQ(ag::geometry_for_frames(back, info, {true, false}, "calibrated.poni").geometry, file);
}

// Dioptas' own pair (its test data): LaB6_40keV_MarCCD.poni, v1, written for Dioptas' up-down
// flipped image, and the same numbers saved again as v2.1 with orientation 2 by Dioptas with
// orientation support. Read the way each is meant (the v1 with --flip-ud; the v2.1 with or
// without), they give every pixel of the MarCCD file the same 2θ and χ.
TEST(PoniOrientation, DioptasOldAndNewFilesAgree) {
  ANVIL_REFERENCE_FILE(v1_path, "real/LaB6_40keV_MarCCD.poni");
  ANVIL_REFERENCE_FILE(v21_path, "real/LaB6_40keV_MarCCD_new_with_orientation.poni");
  ag::PoniInfo v1_info, v21_info;
  Geometry v1 = ag::read_poni(v1_path, &v1_info);
  Geometry v21 = ag::read_poni(v21_path, &v21_info);
  const anvil::Shape mar{2048, 2048};
  v1.detector.shape = mar;
  v21.detector.shape = mar;
  const auto old_flipped = ag::geometry_for_frames(v1, v1_info, {true, false}, "v1").geometry;
  const auto new_flipped = ag::geometry_for_frames(v21, v21_info, {true, false}, "v21").geometry;
  const auto new_plain = ag::geometry_for_frames(v21, v21_info, {}, "v21").geometry;
  for (std::size_t i = 0; i < mar.rows; i += 97)
    for (std::size_t j = 0; j < mar.cols; j += 89) {
      const double fi = static_cast<double>(mar.rows - 1 - i), d1 = static_cast<double>(i),
                   d2 = static_cast<double>(j);  // file row i is row 2047 - i of the flipped frames
      EXPECT_DOUBLE_EQ(ag::two_theta(new_plain, d1, d2), ag::two_theta(old_flipped, fi, d2));
      EXPECT_DOUBLE_EQ(ag::two_theta(new_flipped, fi, d2), ag::two_theta(old_flipped, fi, d2));
      EXPECT_DOUBLE_EQ(ag::chi(new_plain, d1, d2), ag::chi(old_flipped, fi, d2));
    }
  // Read without the flip, the v1 file would put the beam at the other end of the rows.
  const auto old_plain = ag::geometry_for_frames(v1, v1_info, {}, "v1").geometry;
  EXPECT_GT(std::abs(ag::two_theta(old_plain, 100, 1000) - ag::two_theta(new_plain, 100, 1000)), 1e-3);
}
