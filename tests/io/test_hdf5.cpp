// HDF5/NeXus ingestion: EIGER bitshuffle-LZ4 stacks, master files with external links,
// metadata from the NeXus tree, and clear errors for broken files.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "io/frame_source.hpp"
#include "io/hdf5_source.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace anvil;
using namespace anvil::io;

namespace {

ImageF test_image(Shape s, int seed, float scale = 1000.0f) {
  ImageF img(s);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_real_distribution<float> u(0.0f, scale);
  for (auto& v : img.pixels) v = std::round(u(rng));
  return img;
}

// A file name in this test's own scratch folder (emptied once, at the test's first call).
std::string scratch(const std::string& name) {
  static std::string current;
  static fs::path dir;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string id = std::string(info->test_suite_name()) + "." + info->name();
  if (id != current) {
    current = id;
    std::string safe = id;
    for (auto& c : safe)
      if (c == '/') c = '_';
    dir = test::scratch_dir(safe);
  }
  return (dir / name).string();
}

}  // namespace

// The bitshuffle test vectors shipped with bitshuffle: every compressed/ array decodes
// equal to its original/ twin, both through HDF5's filter pipeline and through anvil's own
// chunk decoder (the fast path used for EIGER frames).
TEST(Hdf5Bitshuffle, RegressionVectorsDecodeToTheirOriginals) {
  ANVIL_REFERENCE_FILE(file, "real/regression_0.1.3.h5");
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  std::vector<std::string> names;
  const hid_t g = H5Gopen2(f, "/compressed", H5P_DEFAULT);
  H5G_info_t gi;
  H5Gget_info(g, &gi);
  for (hsize_t i = 0; i < gi.nlinks; ++i) {
    char name[256] = {};
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    names.emplace_back(name);
  }
  // element size of each dataset, for the direct decoder
  std::vector<std::size_t> elem_sizes;
  for (const auto& n : names) {
    const hid_t ds = H5Dopen2(g, n.c_str(), H5P_DEFAULT);
    const hid_t t = H5Dget_type(ds);
    elem_sizes.push_back(H5Tget_size(t));
    H5Tclose(t);
    H5Dclose(ds);
  }
  H5Gclose(g);
  H5Fclose(f);
  ASSERT_GE(names.size(), 20u);
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    const auto original = read_dataset_bytes(file, "/original/" + names[i]);
    const auto through_hdf5 = read_dataset_bytes(file, "/compressed/" + names[i]);
    EXPECT_EQ(through_hdf5, original);
    const auto chunk = read_raw_chunk(file, "/compressed/" + names[i], {0});
    ASSERT_EQ(chunk.filter_mask, 0u);
    const auto decoded = decode_bitshuffle_lz4(chunk.bytes, elem_sizes[i]);
    EXPECT_EQ(decoded, original);
  }
}

TEST(Hdf5Bitshuffle, CorruptChunkIsAnErrorNotACrash) {
  std::vector<std::byte> junk(64, std::byte{0x5a});
  EXPECT_THROW(decode_bitshuffle_lz4(junk, 4), std::runtime_error);
  EXPECT_THROW(decode_bitshuffle_lz4(std::span<const std::byte>(junk.data(), 5), 4), std::runtime_error);
}

// Every pixel type and compression round-trips: written by the HDF5 library, read by anvil.
class Hdf5RoundTrip : public ::testing::TestWithParam<std::tuple<PixelType, Hdf5Compression>> {};

TEST_P(Hdf5RoundTrip, PixelsComeBackExactly) {
  const auto [type, compression] = GetParam();
  const Shape shape{37, 53};  // odd sizes exercise bitshuffle's tail handling
  const auto path = scratch("stack.h5");
  Hdf5StackOptions opt;
  opt.pixel_type = type;
  opt.compression = compression;
  const float scale = type == PixelType::UInt8 ? 200.0f : 30000.0f;
  std::vector<ImageF> frames = {test_image(shape, 1, scale), test_image(shape, 2, scale),
                                test_image(shape, 3, scale)};
  {
    Hdf5StackWriter w(path, shape, opt);
    for (const auto& f : frames) w.append(f);
  }
  OpenOptions no_mask;
  no_mask.mask_sentinels = false;
  const auto src = open_frames(path, no_mask);
  ASSERT_EQ(src->frame_count(), 3u);
  EXPECT_EQ(src->shape(), shape);
  EXPECT_EQ(src->info().dataset, "/entry/data/data");
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const auto f = src->read(k);
    EXPECT_EQ(f.index, k);
    EXPECT_EQ(f.image.pixels, frames[k].pixels) << "frame " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, Hdf5RoundTrip,
    ::testing::Combine(::testing::Values(PixelType::UInt8, PixelType::UInt16, PixelType::UInt32,
                                         PixelType::Int16, PixelType::Int32, PixelType::Float32,
                                         PixelType::Float64),
                       ::testing::Values(Hdf5Compression::None, Hdf5Compression::Gzip, Hdf5Compression::Lz4,
                                         Hdf5Compression::BitshuffleLz4)));

TEST(Hdf5Source, ReportsCompressionDtypeAndNexusMetadata) {
  const auto path = scratch("meta.h5");
  Hdf5StackOptions opt;
  opt.metadata.wavelength_m = 0.4859e-10;
  opt.metadata.distance_m = 0.2;
  opt.metadata.beam_center_x_px = 480.5;
  opt.metadata.beam_center_y_px = 510.25;
  opt.metadata.pixel_size_x_m = 75e-6;
  opt.metadata.pixel_size_y_m = 75e-6;
  opt.metadata.count_time_s = 0.5;
  opt.metadata.detector = "Dectris EIGER2 X 4M";
  Hdf5StackWriter(path, {8, 16}, opt).append(test_image({8, 16}, 4));
  const auto src = open_frames(path);
  const auto& in = src->info();
  EXPECT_EQ(in.compression, "bitshuffle+LZ4");
  EXPECT_EQ(in.dtype, "uint32");
  EXPECT_EQ(in.format, "NeXus/HDF5");
  ASSERT_TRUE(in.metadata.wavelength_m);
  EXPECT_NEAR(*in.metadata.wavelength_m, 0.4859e-10, 1e-16);
  EXPECT_DOUBLE_EQ(*in.metadata.distance_m, 0.2);
  EXPECT_DOUBLE_EQ(*in.metadata.beam_center_x_px, 480.5);
  EXPECT_DOUBLE_EQ(*in.metadata.beam_center_y_px, 510.25);
  EXPECT_DOUBLE_EQ(*in.metadata.pixel_size_x_m, 75e-6);
  EXPECT_DOUBLE_EQ(*in.metadata.count_time_s, 0.5);
  EXPECT_EQ(in.metadata.detector, "Dectris EIGER2 X 4M");
}

// EIGER marks gaps and overflowed pixels with the all-ones value of its unsigned type and
// ships a pixel_mask; both end up masked, and counts above the saturation value too.
TEST(Hdf5Source, EigerSentinelsPixelMaskAndSaturationAreMasked) {
  const auto path = scratch("eiger.h5");
  const Shape s{4, 5};
  Hdf5StackOptions opt;
  opt.pixel_type = PixelType::UInt32;
  opt.metadata.saturation_value = 50000;
  opt.pixel_mask = Mask(s, 0);
  opt.pixel_mask(3, 4) = 1;   // gap
  opt.pixel_mask(0, 0) = 16;  // noisy
  ImageF img(s, 10.0f);
  img(1, 1) = 4294967295.0f;  // all ones
  img(2, 2) = 60000.0f;       // above saturation
  Hdf5StackWriter(path, s, opt).append(img);
  const auto f = open_frames(path)->read(0);
  std::size_t masked = 0;
  for (auto m : f.invalid.pixels) masked += m;
  EXPECT_EQ(masked, 4u);
  EXPECT_EQ(f.invalid(1, 1), 1);
  EXPECT_EQ(f.invalid(2, 2), 1);
  EXPECT_EQ(f.invalid(3, 4), 1);
  EXPECT_EQ(f.invalid(0, 0), 1);
  EXPECT_EQ(f.invalid(1, 2), 0);
}

// An EIGER master file whose data_000001.. are external links: frames concatenate in link
// order, relative link targets resolve next to the master, not the working directory.
TEST(Hdf5Source, EigerMasterConcatenatesExternallyLinkedDataFiles) {
  const auto dir = fs::path(scratch("x")).parent_path();
  const Shape s{16, 12};
  std::vector<std::string> data_files;
  std::vector<ImageF> all;
  for (int part = 0; part < 3; ++part) {
    const auto p = (dir / ("scan_data_00000" + std::to_string(part + 1) + ".h5")).string();
    Hdf5StackOptions opt;
    opt.nexus = false;
    Hdf5StackWriter w(p, s, opt);
    for (int k = 0; k < 2 + part; ++k) {
      all.push_back(test_image(s, 10 * part + k));
      w.append(all.back());
    }
    data_files.push_back(p);
  }
  FrameMetadata md;
  md.wavelength_m = 0.7e-10;
  md.detector = "EIGER 1M";
  write_eiger_master((dir / "scan_master.h5").string(), data_files, md);
  const auto cwd = fs::current_path();
  fs::current_path(fs::temp_directory_path());  // links must not depend on the working directory
  const auto src = open_frames((dir / "scan_master.h5").string());
  fs::current_path(cwd);
  EXPECT_EQ(src->info().format, "NeXus/EIGER master");
  ASSERT_EQ(src->frame_count(), all.size());
  for (std::size_t k = 0; k < all.size(); ++k) EXPECT_EQ(src->read(k).image.pixels, all[k].pixels) << k;
  EXPECT_EQ(src->info().metadata.detector, "EIGER 1M");
  EXPECT_NEAR(*src->info().metadata.wavelength_m, 0.7e-10, 1e-18);
}

// A missing data file behind a master link: its frames are bad frames, the rest are read.
TEST(Hdf5Source, MissingExternalLinkMakesOnlyItsFramesBad) {
  const auto dir = fs::path(scratch("x")).parent_path();
  const Shape s{8, 8};
  std::vector<std::string> data_files;
  for (int part = 0; part < 3; ++part) {
    const auto p = (dir / ("d" + std::to_string(part) + ".h5")).string();
    Hdf5StackOptions opt;
    opt.nexus = false;
    Hdf5StackWriter w(p, s, opt);
    w.append(test_image(s, part));
    w.append(test_image(s, part + 5));
    data_files.push_back(p);
  }
  write_eiger_master((dir / "m.h5").string(), data_files, {});
  fs::remove(data_files[1]);
  const auto src = open_frames((dir / "m.h5").string());
  ASSERT_EQ(src->frame_count(), 6u);
  std::vector<std::string> errors;
  const auto good = for_each_frame(
      *src, [](Frame&&) {}, [&](const FrameError& e) { errors.push_back(e.what()); });
  EXPECT_EQ(good, 4u);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("d1.h5"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("file not found"), std::string::npos) << errors[0];
}

TEST(Hdf5Source, ExplicitDatasetPathAnd2DImage) {
  const auto path = scratch("plain.h5");
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[2] = {3, 4};
  const hid_t sp = H5Screate_simple(2, dims, nullptr);
  const hid_t g = H5Gcreate2(f, "/scan", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t ds = H5Dcreate2(f, "/scan/image", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const double v[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(ds);
  H5Gclose(g);
  H5Sclose(sp);
  H5Fclose(f);
  for (const auto& spec : {path + ":/scan/image", path}) {
    const auto src = open_frames(spec);
    EXPECT_EQ(src->info().dataset, "/scan/image");
    EXPECT_EQ(src->frame_count(), 1u);
    EXPECT_EQ(src->info().dtype, "float64");
    const auto fr = src->read(0);
    EXPECT_FLOAT_EQ(fr.image(1, 2), 6.0f);
  }
  try {
    open_frames(path + ":/scan/nothing");
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/scan/nothing"), std::string::npos) << e.what();
  }
}

TEST(Hdf5Source, FlipUpDownOnRead) {
  const auto path = scratch("flip.h5");
  ImageF img({3, 2});
  img.pixels = {1, 2, 3, 4, 5, 6};
  Hdf5StackOptions opt;
  opt.pixel_type = PixelType::Float32;
  Hdf5StackWriter(path, img.shape, opt).append(img);
  OpenOptions o;
  o.flip_up_down = true;
  EXPECT_EQ(open_frames(path, o)->read(0).image.pixels, (std::vector<float>{5, 6, 3, 4, 1, 2}));
  o.flip_left_right = true;
  EXPECT_EQ(open_frames(path, o)->read(0).image.pixels, (std::vector<float>{6, 5, 4, 3, 2, 1}));
}

TEST(Hdf5Source, TruncatedFileIsAClearError) {
  const auto path = scratch("full.h5");
  Hdf5StackWriter(path, {64, 64}, {}).append(test_image({64, 64}, 9));
  const auto cut = scratch("cut.h5");
  fs::copy_file(path, cut);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  try {
    const auto src = open_frames(cut);
    src->read(0);
    FAIL() << "a truncated file must not read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.h5"), std::string::npos) << e.what();
  }
  std::ofstream(scratch("garbage.h5")) << "this is not hdf5";
  EXPECT_THROW(open_frames(scratch("garbage.h5")), InputError);
  EXPECT_THROW(open_frames(scratch("nothing-here.h5")), InputError);
}

TEST(Hdf5Source, FrameOutOfRangeIsAnInputError) {
  const auto path = scratch("one.h5");
  Hdf5StackWriter(path, {4, 4}, {}).append(test_image({4, 4}, 1));
  EXPECT_THROW(open_frames(path)->read(1), InputError);
}

namespace {
// An identity filter, registered only while writing, to stand for a codec that the reading
// machine does not have installed.
std::size_t identity_filter(unsigned, std::size_t, const unsigned[], std::size_t nbytes, std::size_t*, void**) {
  return nbytes;
}
}  // namespace

TEST(Hdf5Source, FilterThatIsNotInstalledIsNamed) {
  constexpr H5Z_filter_t kId = 32999;
  const H5Z_class2_t cls = {H5Z_CLASS_T_VERS, kId, 1, 1, "anvil-test-codec", nullptr, nullptr, identity_filter};
  ASSERT_GE(H5Zregister(&cls), 0);
  const auto path = scratch("exotic.h5");
  {
    const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {1, 4, 4};
    const hid_t sp = H5Screate_simple(3, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, dims);
    H5Pset_filter(dcpl, kId, H5Z_FLAG_MANDATORY, 0, nullptr);
    const hid_t ds = H5Dcreate2(f, "/data", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    std::vector<std::uint16_t> v(16, 7);
    H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
  }
  ASSERT_GE(H5Zunregister(kId), 0);
  try {
    open_frames(path);
    FAIL() << "expected an error naming the missing filter";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("exotic.h5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("32999"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not installed"), std::string::npos) << msg;
  }
}
