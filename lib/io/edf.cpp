#include "io/edf.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

#include "core/text.hpp"
#include "io/detector_file.hpp"

namespace anvil::io {
namespace {

using detail::SampleType;

constexpr std::size_t kMaxHeaderBytes = std::size_t{1} << 20;  // real headers are a few KiB
constexpr std::size_t kMaxBlocks = 1'000'000;

// Random access to the bytes of a file or a buffer.
class ByteReader {
 public:
  virtual ~ByteReader() = default;
  virtual std::uint64_t size() const = 0;
  // Copies up to n bytes at `offset`; returns how many there were.
  virtual std::size_t read_at(std::uint64_t offset, void* buf, std::size_t n) const = 0;
};

class MemoryReader final : public ByteReader {
 public:
  explicit MemoryReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::uint64_t size() const override { return bytes_.size(); }
  std::size_t read_at(std::uint64_t offset, void* buf, std::size_t n) const override {
    if (offset >= bytes_.size()) return 0;
    const std::size_t count = std::min<std::uint64_t>(n, bytes_.size() - offset);
    std::memcpy(buf, bytes_.data() + offset, count);
    return count;
  }

 private:
  std::span<const std::byte> bytes_;
};

class FileReader final : public ByteReader {
 public:
  explicit FileReader(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw InputError(path, "not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~FileReader() override { ::close(fd_); }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  std::uint64_t size() const override { return size_; }
  std::size_t read_at(std::uint64_t offset, void* buf, std::size_t n) const override {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got =
          ::pread(fd_, static_cast<char*>(buf) + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw InputError(path_, std::string("read error: ") + std::strerror(errno));
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// One header+data block of the file.
struct Block {
  std::uint64_t offset = 0;       // of its '{'
  std::uint64_t data_offset = 0;  // first pixel byte
  Shape shape;
  SampleType type;
  bool swap = false;  // HighByteFirst on this little-endian host
  FrameMetadata metadata;
  std::string problem;  // non-empty: this frame cannot be read, and why
};

struct Entry {
  std::string key, value;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// "key = value ; key = value ; ..." (the text between the braces).
std::vector<Entry> parse_entries(std::string_view text) {
  std::vector<Entry> entries;
  while (!text.empty()) {
    const auto end = text.find(';');
    const std::string_view item = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;  // stray text between entries
    const std::string_view key = trim(item.substr(0, eq));
    if (!key.empty()) entries.push_back({std::string(key), std::string(trim(item.substr(eq + 1)))});
  }
  return entries;
}

// The last value given for `key` (EDF keys compared case-insensitively, as fabio does).
const std::string* find(const std::vector<Entry>& entries, std::string_view key) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (iequals(it->key, key)) return &it->value;
  return nullptr;
}

std::optional<std::uint64_t> parse_count(const std::string& s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_real(const std::string* s) {
  if (!s) return std::nullopt;
  double v = 0;
  const std::string_view t = trim(*s);
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || end == t.data()) return std::nullopt;
  return v;
}

// fabio's DATA_TYPES table (fabio/edfimage.py).
std::optional<SampleType> data_type(std::string_view name) {
  struct Named {
    const char* name;
    SampleType type;
  };
  static const Named table[] = {
      {"SignedByte", {false, true, 1}},
      {"Signed8", {false, true, 1}},
      {"UnsignedByte", {false, false, 1}},
      {"Unsigned8", {false, false, 1}},
      {"SignedShort", {false, true, 2}},
      {"Signed16", {false, true, 2}},
      {"UnsignedShort", {false, false, 2}},
      {"Unsigned16", {false, false, 2}},
      {"UnsignedShortInteger", {false, false, 2}},
      {"SignedInteger", {false, true, 4}},
      {"Signed32", {false, true, 4}},
      {"UnsignedInteger", {false, false, 4}},
      {"Unsigned32", {false, false, 4}},
      {"SignedLong", {false, true, 4}},
      {"UnsignedLong", {false, false, 4}},
      {"Signed64", {false, true, 8}},
      {"Unsigned64", {false, false, 8}},
      {"FloatValue", {true, true, 4}},
      {"Float", {true, true, 4}},
      {"FloatIEEE32", {true, true, 4}},
      {"Float32", {true, true, 4}},
      {"Double", {true, true, 8}},
      {"DoubleValue", {true, true, 8}},
      {"FloatIEEE64", {true, true, 8}},
      {"DoubleIEEE64", {true, true, 8}},
  };
  for (const auto& n : table)
    if (iequals(n.name, name)) return n.type;
  return std::nullopt;
}

FrameMetadata metadata_of(const std::vector<Entry>& e) {
  FrameMetadata md;
  md.wavelength_m = parse_real(find(e, "WaveLength"));
  md.distance_m = parse_real(find(e, "SampleDistance"));
  md.pixel_size_x_m = parse_real(find(e, "PSize_1"));
  md.pixel_size_y_m = parse_real(find(e, "PSize_2"));
  md.beam_center_x_px = parse_real(find(e, "Center_1"));
  md.beam_center_y_px = parse_real(find(e, "Center_2"));
  for (const char* key : {"ExposureTime", "Exposure_time", "count_time", "acq_expo_time"})
    if (!md.count_time_s) md.count_time_s = parse_real(find(e, key));
  if (const std::string* d = find(e, "Detector")) md.detector = *d;
  return md;
}

// Fills a block's shape, type and order from its header; returns the byte count of its
// data (Size), or nullopt when the header does not say how far the next block is.
std::optional<std::uint64_t> interpret(const std::vector<Entry>& e, Block& b, std::size_t max_pixels) {
  const std::string* size_text = find(e, "Size");
  if (!size_text) size_text = find(e, "EDF_BinarySize");
  std::optional<std::uint64_t> size;
  if (size_text) {
    size = parse_count(*size_text);
    if (!size) {
      b.problem = "Size = '" + *size_text + "' is not a byte count";
      return std::nullopt;
    }
  }
  const std::string* dim1 = find(e, "Dim_1");
  if (!dim1) {
    if (!size || *size == 0) return std::uint64_t{0};  // a header-only block
    b.problem = "a block of " + std::to_string(*size) + " bytes has no Dim_1";
    return size;
  }
  const std::string* dim2 = find(e, "Dim_2");
  const auto cols = parse_count(*dim1);
  const auto rows = dim2 ? parse_count(*dim2) : std::optional<std::uint64_t>(1);
  if (!cols || !rows || *cols == 0 || *rows == 0) {
    b.problem = "bad dimensions Dim_1 = '" + *dim1 + "', Dim_2 = '" + (dim2 ? *dim2 : "") + "'";
    return size;
  }
  if (*cols > max_pixels || *rows > max_pixels / *cols) {
    b.problem = std::to_string(*rows) + " x " + std::to_string(*cols) + " pixels is larger than any detector";
    return size;
  }
  b.shape = Shape{static_cast<std::size_t>(*rows), static_cast<std::size_t>(*cols)};
  if (const std::string* dim3 = find(e, "Dim_3"); dim3 && parse_count(*dim3).value_or(0) > 1) {
    b.problem = "3D blocks (Dim_3 = " + *dim3 + ") are not supported";
    return size;
  }
  const std::string* type_name = find(e, "DataType");
  const auto type = type_name ? data_type(*type_name) : std::nullopt;
  if (!type) {
    b.problem = type_name ? "unknown DataType '" + *type_name + "'" : "no DataType";
    return size;
  }
  b.type = *type;
  const std::uint64_t needed = b.shape.pixel_count() * b.type.bytes;
  if (!size) size = needed;
  if (const std::string* order = find(e, "ByteOrder")) {
    if (iequals(*order, "HighByteFirst"))
      b.swap = true;
    else if (!iequals(*order, "LowByteFirst"))
      b.problem = "unknown ByteOrder '" + *order + "'";
  }
  if (const std::string* c = find(e, "Compression");
      c && !iequals(*c, "None") && !iequals(*c, "NoCompression") && !c->empty())
    b.problem = "Compression = " + *c + " is not supported (anvil reads uncompressed EDF)";
  if (b.problem.empty() && *size < needed)
    b.problem = "Size = " + std::to_string(*size) + " bytes is less than Dim_1 x Dim_2 x " +
                std::to_string(b.type.bytes) + " = " + std::to_string(needed) + " bytes";
  b.metadata = metadata_of(e);
  return size;
}

// Reads every header of the file. Stops at the first block whose end cannot be found
// (that block carries the problem). An empty result means no frame at all.
std::vector<Block> scan_blocks(const ByteReader& r, std::size_t max_pixels) {
  std::vector<Block> blocks;
  const std::uint64_t file_size = r.size();
  std::uint64_t pos = 0;
  std::vector<char> chunk(4096);
  std::string header;
  while (blocks.size() < kMaxBlocks) {
    // Whitespace (and NUL padding) may separate blocks.
    bool found = false;
    for (std::size_t skipped = 0; !found && pos < file_size && skipped < kMaxHeaderBytes;) {
      const std::size_t got = r.read_at(pos, chunk.data(), chunk.size());
      if (got == 0) break;
      std::size_t i = 0;
      while (i < got && (chunk[i] == '\0' || std::isspace(static_cast<unsigned char>(chunk[i])))) ++i;
      pos += i;
      skipped += i;
      found = i < got;
    }
    if (!found) break;  // end of file
    Block b;
    b.offset = pos;
    char first = 0;
    r.read_at(pos, &first, 1);
    if (first != '{') {
      b.problem = "no EDF header ('{') at byte " + std::to_string(pos);
      blocks.push_back(std::move(b));
      break;
    }
    // The header runs to the first '}'.
    header.clear();
    std::uint64_t close = 0;
    for (std::uint64_t at = pos + 1;;) {
      const std::size_t got = r.read_at(at, chunk.data(), chunk.size());
      const auto brace = std::find(chunk.data(), chunk.data() + got, '}');
      header.append(chunk.data(), brace);
      if (brace != chunk.data() + got) {
        close = at + static_cast<std::uint64_t>(brace - chunk.data());
        break;
      }
      if (got == 0) {
        b.problem = "header at byte " + std::to_string(pos) + " is truncated (no closing '}')";
        break;
      }
      if (header.size() > kMaxHeaderBytes) {
        b.problem = "header at byte " + std::to_string(pos) + " has no closing '}' within 1 MiB";
        break;
      }
      at += got;
    }
    if (!b.problem.empty()) {
      blocks.push_back(std::move(b));
      break;
    }
    // Data starts after "}\n" (or "}\r\n").
    std::uint64_t data = close + 1;
    char after[2] = {0, 0};
    const std::size_t n_after = r.read_at(data, after, 2);
    if (n_after > 0 && after[0] == '\r') ++data, after[0] = after[1];
    if (n_after > 0 && after[0] == '\n') ++data;
    b.data_offset = data;
    const std::optional<std::uint64_t> size = interpret(parse_entries(header), b, max_pixels);
    const bool header_only = b.problem.empty() && b.shape.pixel_count() == 0;
    if (size && *size > file_size - std::min(data, file_size)) {
      b.problem = "truncated: the header at byte " + std::to_string(pos) + " announces " +
                  std::to_string(*size) + " bytes of pixels but only " +
                  std::to_string(file_size - std::min(data, file_size)) + " remain in the file";
      blocks.push_back(std::move(b));
      break;
    }
    if (!header_only) blocks.push_back(std::move(b));
    if (!size) break;  // cannot find the next block
    pos = data + *size;
  }
  return blocks;
}

ImageF decode_block(const ByteReader& r, const Block& b) {
  const std::size_t n = b.shape.pixel_count();
  std::vector<unsigned char> raw(n * b.type.bytes);
  if (r.read_at(b.data_offset, raw.data(), raw.size()) != raw.size())
    throw FrameError("", 0, "file shorter than its headers say");  // re-labelled by callers
  ImageF image(b.shape);
  detail::convert_samples(raw.data(), n, b.type, b.swap, image.pixels.data());
  return image;
}

std::string origin_of(const std::string& path, std::size_t index, std::size_t count) {
  return count > 1 ? path + "[" + std::to_string(index) + "]" : path;
}

// The first block's problem when no block is readable: the file is not an EDF we can use.
void require_a_frame(const std::vector<Block>& blocks, const std::string& name) {
  if (blocks.empty()) throw InputError(name, "no EDF frame (no header with Dim_1/Dim_2 found)");
  const bool any_good =
      std::any_of(blocks.begin(), blocks.end(), [](const Block& b) { return b.problem.empty(); });
  if (!any_good) throw InputError(name, blocks.front().problem);
}

class EdfSource final : public FrameSource {
 public:
  EdfSource(const std::string& path, const OpenOptions& options) : options_(options) {
    info_.path = path;
    info_.format = "EDF";
    info_.compression = "none";
    {
      FileReader reader(path);
      blocks_ = scan_blocks(reader, kMaxPixels);
    }
    require_a_frame(blocks_, path);
    const Block& first =
        *std::find_if(blocks_.begin(), blocks_.end(), [](const Block& b) { return b.problem.empty(); });
    info_.frame_count = blocks_.size();
    info_.shape = first.shape;
    info_.dtype = first.type.name();
    info_.metadata = first.metadata;
    if (options.saturation_value) info_.metadata.saturation_value = options.saturation_value;
  }

  const SourceInfo& info() const override { return info_; }

  Frame read(std::size_t index) const override {
    const std::string& path = info_.path;
    if (index >= blocks_.size())
      throw InputError(path, "frame " + std::to_string(index) + " out of range: the file has " +
                                 std::to_string(blocks_.size()) + " frame(s)");
    const Block& b = blocks_[index];
    if (!b.problem.empty()) throw FrameError(path, index, b.problem);
    if (b.shape != info_.shape)
      throw FrameError(path, index,
                       "is " + std::to_string(b.shape.rows) + " x " + std::to_string(b.shape.cols) +
                           ", the first frame is " + std::to_string(info_.shape.rows) + " x " +
                           std::to_string(info_.shape.cols));
    ImageF image;
    try {
      FileReader reader(path);
      image = decode_block(reader, b);
    } catch (const InputError& e) {
      throw FrameError(path, index, e.problem());
    }
    return detail::finish_frame(std::move(image), b.metadata, b.type.integer_max(), index,
                                origin_of(path, index, blocks_.size()), options_);
  }

 private:
  static constexpr std::size_t kMaxPixels = std::size_t{1} << 28;
  SourceInfo info_;
  OpenOptions options_;
  std::vector<Block> blocks_;
};

const char* type_name(EdfDataType t) {
  switch (t) {
    case EdfDataType::uint8:
      return "UnsignedByte";
    case EdfDataType::int8:
      return "SignedByte";
    case EdfDataType::uint16:
      return "UnsignedShort";
    case EdfDataType::int16:
      return "SignedShort";
    case EdfDataType::uint32:
      return "UnsignedInteger";
    case EdfDataType::int32:
      return "SignedInteger";
    case EdfDataType::float32:
      return "FloatValue";
    case EdfDataType::float64:
      return "DoubleValue";
  }
  return "FloatValue";
}

bool writable(const std::string& s) { return s.find_first_of(";{}=\n\r") == std::string::npos; }

std::string number(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc{} ? end : buf);
}

}  // namespace

std::unique_ptr<FrameSource> open_edf(const std::string& path, const OpenOptions& options) {
  return std::make_unique<EdfSource>(path, options);
}

std::vector<Frame> read_edf_memory(std::span<const std::byte> bytes, const OpenOptions& options,
                                   const std::string& name, std::size_t max_pixels) {
  const MemoryReader reader(bytes);
  const std::vector<Block> blocks = scan_blocks(reader, max_pixels);
  require_a_frame(blocks, name);
  std::vector<Frame> frames;
  std::size_t total = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (!b.problem.empty()) throw InputError(name, "frame " + std::to_string(i) + ": " + b.problem);
    total += b.shape.pixel_count();
    if (total > max_pixels) throw InputError(name, "frames larger than the pixel limit in total");
    ImageF image;
    try {
      image = decode_block(reader, b);
    } catch (const InputError& e) {
      throw InputError(name, "frame " + std::to_string(i) + ": " + e.problem());
    }
    frames.push_back(detail::finish_frame(std::move(image), b.metadata, b.type.integer_max(), i,
                                          origin_of(name, i, blocks.size()), options));
  }
  return frames;
}

void write_edf(const std::string& path, const std::vector<ImageF>& frames, const EdfWriteOptions& options) {
  if (frames.empty()) throw InputError(path, "nothing to write: no frames");
  for (const auto& [key, value] : options.extra)
    if (key.empty() || !writable(key) || !writable(value))
      throw InputError(path,
                       "EDF header entry '" + key + " = " + value + "' contains one of ; { } = or a newline");
  const SampleType type = [&] {
    switch (options.type) {
      case EdfDataType::uint8:
        return SampleType{false, false, 1};
      case EdfDataType::int8:
        return SampleType{false, true, 1};
      case EdfDataType::uint16:
        return SampleType{false, false, 2};
      case EdfDataType::int16:
        return SampleType{false, true, 2};
      case EdfDataType::uint32:
        return SampleType{false, false, 4};
      case EdfDataType::int32:
        return SampleType{false, true, 4};
      case EdfDataType::float32:
        return SampleType{true, true, 4};
      case EdfDataType::float64:
        return SampleType{true, true, 8};
    }
    return SampleType{true, true, 4};
  }();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(path, std::string("cannot create: ") + std::strerror(errno));
  const FrameMetadata& md = options.metadata;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const ImageF& img = frames[i];
    if (img.empty()) throw InputError(path, "frame " + std::to_string(i) + " is empty");
    const std::size_t bytes = img.pixels.size() * type.bytes;
    std::string h = "{\n";
    auto line = [&h](const std::string& key, const std::string& value) { h += key + " = " + value + " ;\n"; };
    line("HeaderID", "EH:" + std::string(6 - std::min<std::size_t>(6, std::to_string(i + 1).size()), '0') +
                         std::to_string(i + 1) + ":000000:000000");
    line("Image", std::to_string(i + 1));
    line("ByteOrder", options.big_endian ? "HighByteFirst" : "LowByteFirst");
    line("DataType", type_name(options.type));
    line("Dim_1", std::to_string(img.cols()));
    line("Dim_2", std::to_string(img.rows()));
    line("Size", std::to_string(bytes));
    if (md.wavelength_m) line("WaveLength", number(*md.wavelength_m));
    if (md.distance_m) line("SampleDistance", number(*md.distance_m));
    if (md.pixel_size_x_m) line("PSize_1", number(*md.pixel_size_x_m));
    if (md.pixel_size_y_m) line("PSize_2", number(*md.pixel_size_y_m));
    if (md.beam_center_x_px) line("Center_1", number(*md.beam_center_x_px));
    if (md.beam_center_y_px) line("Center_2", number(*md.beam_center_y_px));
    if (md.count_time_s) line("ExposureTime", number(*md.count_time_s));
    if (!md.detector.empty() && writable(md.detector)) line("Detector", md.detector);
    for (const auto& [key, value] : options.extra) line(key, value);
    // Pad with spaces so that the header, "}\n" included, fills whole 512-byte records.
    h.append((512 - (h.size() + 2) % 512) % 512, ' ');
    h += "}\n";
    std::vector<unsigned char> data(bytes);
    detail::pack_samples(img.pixels.data(), img.pixels.size(), type, options.big_endian, data.data());
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }
  out.close();
  if (!out) throw InputError(path, "writing failed (disk full?)");
}

void write_edf_mask(const std::string& path, const Mask& mask) {
  ImageF frame(mask.shape);
  std::transform(mask.pixels.begin(), mask.pixels.end(), frame.pixels.begin(),
                 [](std::uint8_t m) { return static_cast<float>(m); });
  EdfWriteOptions options;
  options.type = EdfDataType::uint8;
  write_edf(path, {frame}, options);
}

}  // namespace anvil::io
