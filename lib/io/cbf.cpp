#include "io/cbf.hpp"

#include <cbf.h>
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include "io/detector_file.hpp"
#include "io/pilatus_header.hpp"

namespace anvil::io {
namespace {

using detail::SampleType;

// CBFlib makes no thread-safety promise (its parser and allocator keep state), so every
// call into it happens under this lock. Decoding a Pilatus 1M frame takes a few ms.
std::mutex& cbf_mutex() {
  static std::mutex m;
  return m;
}

// A problem with one image; callers turn it into InputError or FrameError.
struct ImageProblem {
  std::string what;
};

std::string cbf_message(int err) {
  std::string s;
  for (int bit = 0; bit < 31; ++bit) {
    if (!(err & (1 << bit))) continue;
    if (!s.empty()) s += ", ";
    const char* text = cbf_strerror(1 << bit);
    s += text ? text : "CBFlib error " + std::to_string(1 << bit);
  }
  return s.empty() ? "CBFlib error " + std::to_string(err) : s;
}

// Runs a CBFlib call; a non-zero code becomes a problem "<doing>: <CBFlib's words>".
void check(int err, const char* doing) {
  if (err) throw ImageProblem{std::string(doing) + ": " + cbf_message(err)};
}

// A CBFlib handle whose log (parser errors and warnings, stderr by default) is captured
// for exception text.
class CbfHandle {
 public:
  CbfHandle() {
    if (cbf_make_handle(&h_)) throw ImageProblem{"CBFlib could not allocate a handle"};
    log_ = open_memstream(&log_text_, &log_size_);
    cbf_set_cbf_logfile(h_, log_);  // NULL (no memory) silences it, which is fine too
  }
  ~CbfHandle() {
    if (h_) cbf_free_handle(h_);  // does not close the log
    if (log_) std::fclose(log_);
    std::free(log_text_);
  }
  CbfHandle(const CbfHandle&) = delete;
  CbfHandle& operator=(const CbfHandle&) = delete;
  cbf_handle get() const { return h_; }

  // Parses `stream`; CBFlib owns it from here on (and closes it with the handle).
  void read(std::FILE* stream) {
    if (!stream) throw ImageProblem{std::string("cannot open: ") + std::strerror(errno)};
    const int err = cbf_read_widefile(h_, stream, MSG_DIGEST);
    if (err) throw ImageProblem{"not a readable CBF: " + cbf_message(err) + log()};
  }

  // What CBFlib logged so far, as " (message; message)", or "".
  std::string log() {
    if (!log_ || std::fflush(log_) != 0 || !log_text_ || log_size_ == 0) return "";
    std::string text(log_text_, std::min<std::size_t>(log_size_, 1000));
    for (char& c : text)
      if (c == '\n') c = ';';
    while (!text.empty() && (text.back() == ';' || text.back() == ' ')) text.pop_back();
    return " (" + text + ")";
  }

 private:
  cbf_handle h_ = nullptr;
  std::FILE* log_ = nullptr;
  char* log_text_ = nullptr;
  std::size_t log_size_ = 0;
};

// CBFlib's lexer is not safe on hostile text: fuzzing found it reading past a buffer
// (sprintf of an unterminated token in cbf_lex) on non-ASCII bytes. CIF text is ASCII, so
// everything outside the binary sections must be printable ASCII, tabs, line ends or the
// NUL padding after binary data; each binary section (after its 0C 1A 04 D5 marker) is
// skipped by its X-Binary-Size, which must fit in the file.
struct BinarySection {
  std::size_t offset = 0;  // first byte after the 0C 1A 04 D5 marker
  std::size_t size = 0;    // X-Binary-Size
};

std::vector<BinarySection> require_cif_text(std::span<const std::byte> bytes) {
  std::vector<BinarySection> sections;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  static constexpr std::string_view kSizeKey = "X-Binary-Size:";
  bool have_size = false;
  std::uint64_t binary_size = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = p[i];
    if (c == 0x0C && i + 3 < n && p[i + 1] == 0x1A && p[i + 2] == 0x04 && p[i + 3] == 0xD5) {
      if (!have_size)
        throw ImageProblem{"binary section at byte " + std::to_string(i) + " has no X-Binary-Size"};
      if (binary_size > n - (i + 4))
        throw ImageProblem{"truncated: the binary section at byte " + std::to_string(i) + " announces " +
                           std::to_string(binary_size) + " bytes but only " + std::to_string(n - (i + 4)) +
                           " remain"};
      sections.push_back({i + 4, static_cast<std::size_t>(binary_size)});
      i += 3 + static_cast<std::size_t>(binary_size);
      have_size = false;
      continue;
    }
    if (c >= 0x7F || (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != 0))
      throw ImageProblem{"byte " + std::to_string(i) + " (0x" + fmt::format("{:02X}", c) +
                         ") is not CIF text (CBF text is ASCII outside binary sections)"};
    if (c == 'X' && n - i > kSizeKey.size() &&
        std::string_view(reinterpret_cast<const char*>(p + i), kSizeKey.size()) == kSizeKey) {
      std::size_t j = i + kSizeKey.size();
      while (j < n && p[j] == ' ') ++j;
      std::uint64_t v = 0;
      const auto [end, ec] =
          std::from_chars(reinterpret_cast<const char*>(p + j), reinterpret_cast<const char*>(p + n), v);
      if (ec != std::errc{} || end == reinterpret_cast<const char*>(p + j))
        throw ImageProblem{"X-Binary-Size at byte " + std::to_string(i) + " is not a byte count"};
      binary_size = v;
      have_size = true;
    }
  }
  return sections;
}

std::vector<std::byte> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageProblem{std::string("cannot open: ") + std::strerror(errno)};
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) throw ImageProblem{"read error"};
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

// Parses a whole CBF held in `bytes` (which must outlive the handle); returns its binary
// sections in file order.
std::vector<BinarySection> parse_buffer(CbfHandle& h, std::span<const std::byte> bytes) {
  if (bytes.empty()) throw ImageProblem{"empty: not a CBF"};
  std::vector<BinarySection> sections = require_cif_text(bytes);
  // fmemopen only reads the buffer; CBFlib keeps the stream until the handle is freed.
  h.read(fmemopen(const_cast<std::byte*>(bytes.data()), bytes.size(), "rb"));
  return sections;
}

// Where one image lives in the CBF tree, and what it holds.
struct ImageRef {
  unsigned datablock = 0;
  unsigned row = 0;
  Shape shape;
  SampleType type;
  std::string compression;
  FrameMetadata metadata;
};

std::string compression_name(unsigned int c) {
  switch (c) {
    case CBF_NONE:
      return "none";
    case CBF_BYTE_OFFSET:
      return "CBF byte-offset";
    case CBF_PACKED:
      return "CBF packed";
    case CBF_PACKED_V2:
      return "CBF packed v2";
    case CBF_CANONICAL:
      return "CBF canonical";
    case CBF_PREDICTOR:
      return "CBF predictor";
    case CBF_NIBBLE_OFFSET:
      return "CBF nibble-offset";
    default:
      return "CBF compression " + std::to_string(c);
  }
}

// Reads the current value's array parameters into `ref`.
void describe_image(cbf_handle h, ImageRef& ref, std::size_t max_pixels) {
  unsigned int compression = 0;
  int id = 0, elsigned = 0, elunsigned = 0, minelem = 0, maxelem = 0, realarray = 0;
  std::size_t elsize = 0, nelem = 0, dimfast = 0, dimmid = 0, dimslow = 0, padding = 0;
  const char* byteorder = nullptr;
  check(cbf_get_arrayparameters_wdims_fs(h, &compression, &id, &elsize, &elsigned, &elunsigned, &nelem,
                                         &minelem, &maxelem, &realarray, &byteorder, &dimfast, &dimmid,
                                         &dimslow, &padding),
        "reading the array parameters");
  if (realarray ? (elsize != 4 && elsize != 8) : (elsize != 1 && elsize != 2 && elsize != 4 && elsize != 8))
    throw ImageProblem{"unsupported element size " + std::to_string(elsize) + " bytes"};
  // CBFlib's "mid" is X-Binary-Size-Second-Dimension: the slow axis of a 2D image.
  if (dimfast == 0 && nelem > 0) dimfast = nelem;  // no dimensions given: one row
  if (dimmid > 1 && dimslow > 1) throw ImageProblem{"3D arrays are not detector images"};
  dimslow = std::max<std::size_t>({dimmid, dimslow, 1});
  if (dimfast == 0 || nelem == 0) throw ImageProblem{"empty image"};
  if (dimslow > max_pixels / dimfast)
    throw ImageProblem{std::to_string(dimslow) + " x " + std::to_string(dimfast) +
                       " pixels is larger than any detector (limit " + std::to_string(max_pixels) + ")"};
  if (dimfast * dimslow != nelem)
    throw ImageProblem{"dimensions " + std::to_string(dimslow) + " x " + std::to_string(dimfast) +
                       " do not match " + std::to_string(nelem) + " elements"};
  ref.shape = Shape{dimslow, dimfast};
  ref.type = SampleType{realarray != 0, realarray != 0 || elsigned != 0, elsize};
  ref.compression = compression_name(compression);
}

// Every binary _array_data.data value in the file, in order.
std::vector<ImageRef> list_images(cbf_handle h, std::size_t max_pixels) {
  std::vector<ImageRef> refs;
  unsigned blocks = 0;
  check(cbf_count_datablocks(h, &blocks), "counting data blocks");
  for (unsigned b = 0; b < blocks; ++b) {
    check(cbf_select_datablock(h, b), "selecting a data block");
    if (cbf_find_category(h, "array_data") || cbf_find_column(h, "data")) continue;
    unsigned rows = 0;
    check(cbf_count_rows(h, &rows), "counting _array_data rows");
    for (unsigned r = 0; r < rows; ++r) {
      ImageRef ref;
      ref.datablock = b;
      ref.row = r;
      check(cbf_select_row(h, r), "selecting an _array_data row");
      if (!cbf_find_column(h, "header_contents")) {
        const char* text = nullptr;
        if (!cbf_get_value(h, &text) && text) ref.metadata = parse_pilatus_header(text);
      }
      check(cbf_find_column(h, "data"), "finding _array_data.data");
      const char* kind = nullptr;
      if (cbf_get_typeofvalue(h, &kind) || !kind || std::strcmp(kind, "bnry") != 0) continue;
      describe_image(h, ref, max_pixels);
      refs.push_back(std::move(ref));
    }
  }
  if (refs.empty()) throw ImageProblem{"no binary image (_array_data.data) in the file"};
  return refs;
}

template <class T>
T little_endian(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // the host is little-endian (detector_file.hpp)
  return v;
}

// Byte-offset decompression (CBFlib manual, "x-CBF_BYTE_OFFSET"; Hammersley's scheme as
// Pilatus and EIGER write it): each pixel is the previous plus a delta of 1 byte, or
// 0x80 then 2 bytes, or 0x8000 then 4, or 0x80000000 then 8. Written here, bounded by the
// section size, because CBFlib 0.9.7's decoder overruns its output buffer on inconsistent
// headers (found by fuzzing).
ImageF decode_byte_offset(const unsigned char* p, std::size_t size, Shape shape) {
  ImageF image(shape);
  const std::size_t n = shape.pixel_count();
  std::uint64_t value = 0;  // two's complement, wrapping like the detector's arithmetic
  std::size_t i = 0;
  auto need = [&](std::size_t bytes, std::size_t k) {
    if (size - i < bytes)
      throw ImageProblem{"byte-offset data ends after " + std::to_string(k) + " of " + std::to_string(n) +
                         " pixels"};
  };
  for (std::size_t k = 0; k < n; ++k) {
    need(1, k);
    const auto d8 = static_cast<std::int8_t>(p[i++]);
    if (d8 != std::numeric_limits<std::int8_t>::min()) {
      value += static_cast<std::uint64_t>(static_cast<std::int64_t>(d8));
    } else {
      need(2, k);
      const auto d16 = little_endian<std::int16_t>(p + i);
      i += 2;
      if (d16 != std::numeric_limits<std::int16_t>::min()) {
        value += static_cast<std::uint64_t>(static_cast<std::int64_t>(d16));
      } else {
        need(4, k);
        const auto d32 = little_endian<std::int32_t>(p + i);
        i += 4;
        if (d32 != std::numeric_limits<std::int32_t>::min()) {
          value += static_cast<std::uint64_t>(static_cast<std::int64_t>(d32));
        } else {
          need(8, k);
          value += little_endian<std::uint64_t>(p + i);
          i += 8;
        }
      }
    }
    image.pixels[k] = static_cast<float>(static_cast<std::int64_t>(value));
  }
  return image;
}

ImageF decode_image(std::span<const std::byte> file, const BinarySection& section, const ImageRef& ref) {
  const auto* p = reinterpret_cast<const unsigned char*>(file.data()) + section.offset;
  if (ref.compression == "CBF byte-offset") return decode_byte_offset(p, section.size, ref.shape);
  if (ref.compression == "none") {
    const std::size_t n = ref.shape.pixel_count();
    if (section.size / ref.type.bytes < n)
      throw ImageProblem{"binary section holds " + std::to_string(section.size) + " bytes, " +
                         std::to_string(n) + " pixels need " + std::to_string(n * ref.type.bytes)};
    ImageF image(ref.shape);
    detail::convert_samples(p, n, ref.type, false, image.pixels.data());
    return image;
  }
  throw ImageProblem{ref.compression + " is not supported (anvil reads byte-offset and uncompressed CBF)"};
}

// Image k of the CBFlib listing is binary section k of the file.
const BinarySection& section_of(const std::vector<BinarySection>& sections, std::size_t k,
                                std::size_t images) {
  if (sections.size() != images)
    throw ImageProblem{"the file has " + std::to_string(sections.size()) + " binary sections but " +
                       std::to_string(images) +
                       " images: binary data outside _array_data.data is not supported"};
  return sections[k];
}

std::string origin_of(const std::string& path, std::size_t index, std::size_t count) {
  return count > 1 ? path + "[" + std::to_string(index) + "]" : path;
}

class CbfSource final : public FrameSource {
 public:
  CbfSource(const std::string& path, const OpenOptions& options) : options_(options) {
    info_.path = path;
    info_.format = "CBF";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such file");
    try {
      const std::vector<std::byte> bytes = read_whole_file(path);
      std::lock_guard lock(cbf_mutex());
      CbfHandle h;
      const std::vector<BinarySection> sections = parse_buffer(h, bytes);
      images_ = list_images(h.get(), kMaxPixels);
      section_of(sections, 0, images_.size());
    } catch (const ImageProblem& e) {
      throw InputError(path, e.what);
    }
    const ImageRef& first = images_.front();
    info_.frame_count = images_.size();
    info_.shape = first.shape;
    info_.dtype = first.type.name();
    info_.compression = first.compression;
    info_.metadata = first.metadata;
    if (options.saturation_value) info_.metadata.saturation_value = options.saturation_value;
  }

  const SourceInfo& info() const override { return info_; }

  Frame read(std::size_t index) const override {
    const std::string& path = info_.path;
    if (index >= images_.size())
      throw InputError(path, "frame " + std::to_string(index) + " out of range: the file has " +
                                 std::to_string(images_.size()) + " image(s)");
    const ImageRef& ref = images_[index];
    if (ref.shape != info_.shape)
      throw FrameError(path, index,
                       "is " + std::to_string(ref.shape.rows) + " x " + std::to_string(ref.shape.cols) +
                           ", image 0 is " + std::to_string(info_.shape.rows) + " x " +
                           std::to_string(info_.shape.cols));
    ImageF image;
    try {
      // The image list came from this file at open; re-check the sections (it may have changed).
      const std::vector<std::byte> bytes = read_whole_file(path);
      const std::vector<BinarySection> sections = require_cif_text(bytes);
      image = decode_image(bytes, section_of(sections, index, images_.size()), ref);
    } catch (const ImageProblem& e) {
      throw FrameError(path, index, e.what);
    }
    return detail::finish_frame(std::move(image), ref.metadata, ref.type.integer_max(), index,
                                origin_of(path, index, images_.size()), options_);
  }

 private:
  static constexpr std::size_t kMaxPixels = std::size_t{1} << 28;
  SourceInfo info_;
  OpenOptions options_;
  std::vector<ImageRef> images_;
};

}  // namespace

std::unique_ptr<FrameSource> open_cbf(const std::string& path, const OpenOptions& options) {
  return std::make_unique<CbfSource>(path, options);
}

std::vector<Frame> read_cbf_memory(std::span<const std::byte> bytes, const OpenOptions& options,
                                   const std::string& name, std::size_t max_pixels) {
  std::vector<Frame> frames;
  try {
    std::lock_guard lock(cbf_mutex());
    CbfHandle h;
    const std::vector<BinarySection> sections = parse_buffer(h, bytes);
    const std::vector<ImageRef> refs = list_images(h.get(), max_pixels);
    std::size_t total = 0;
    for (std::size_t i = 0; i < refs.size(); ++i) {
      total += refs[i].shape.pixel_count();
      if (total > max_pixels) throw ImageProblem{"images larger than the pixel limit in total"};
      frames.push_back(detail::finish_frame(
          decode_image(bytes, section_of(sections, i, refs.size()), refs[i]), refs[i].metadata,
          refs[i].type.integer_max(), i, origin_of(name, i, refs.size()), options));
    }
  } catch (const ImageProblem& e) {
    throw InputError(name, e.what);
  }
  return frames;
}

void write_cbf(const std::string& path, const Image<std::int32_t>& image, const FrameMetadata& metadata) {
  if (image.empty()) throw InputError(path, "nothing to write: empty image");
  // CBFlib 0.9.7 wraps a byte-offset step that does not fit in 32 bits instead of using the
  // 64-bit escape, which would corrupt the image silently.
  for (std::size_t i = 1; i < image.pixels.size(); ++i) {
    const std::int64_t step = std::int64_t{image.pixels[i]} - image.pixels[i - 1];
    if (step > std::numeric_limits<std::int32_t>::max() ||
        step < std::numeric_limits<std::int32_t>::min() + 1)
      throw InputError(path,
                       "pixels " + std::to_string(i - 1) + " and " + std::to_string(i) +
                           " differ by more than 2^31, which CBFlib's byte-offset writer cannot encode");
  }
  std::string header(1, '\n');
  header += format_pilatus_header(metadata);
  try {
    std::lock_guard lock(cbf_mutex());
    CbfHandle h;
    cbf_handle c = h.get();
    check(cbf_new_datablock(c, "image_1"), "creating the data block");
    check(cbf_new_category(c, "array_data"), "creating _array_data");
    check(cbf_new_column(c, "header_convention"), "creating header_convention");
    check(cbf_set_value(c, "PILATUS_1.2"), "setting header_convention");
    check(cbf_new_column(c, "header_contents"), "creating header_contents");
    check(cbf_set_value(c, header.c_str()), "setting header_contents");
    check(cbf_new_column(c, "data"), "creating _array_data.data");
    check(cbf_set_integerarray_wdims_fs(c, CBF_BYTE_OFFSET, 1, const_cast<std::int32_t*>(image.pixels.data()),
                                        sizeof(std::int32_t), 1, image.pixels.size(), "little_endian",
                                        image.cols(), image.rows(), 0, 0),
          "compressing the image");
    std::FILE* out = std::fopen(path.c_str(), "w+b");
    if (!out) throw ImageProblem{std::string("cannot create: ") + std::strerror(errno)};
    // isbuffer = 1: CBFlib keeps and closes the stream itself.
    check(cbf_write_file(c, out, 1, CBF, MSG_DIGEST | MIME_HEADERS, 0), "writing");
  } catch (const ImageProblem& e) {
    throw InputError(path, e.what);
  }
}

}  // namespace anvil::io
