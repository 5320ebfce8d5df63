// anvil info FILE...: what each detector file holds and what anvil could read of it.
#include <fmt/core.h>

#include <cstdint>

#include "commands.hpp"
#include "core/constants.hpp"
#include "io/frame_source.hpp"

namespace anvil::cli {

namespace {

std::string fmt_opt(const std::optional<double>& v, double scale, const char* unit,
                    const char* spec = "{:.6g}") {
  if (!v) return "-";
  return fmt::format(fmt::runtime(std::string(spec) + " {}"), *v * scale, unit);
}

void print_info(const io::FrameSource& src, bool read_first) {
  const auto& in = src.info();
  const auto& md = in.metadata;
  fmt::print("{}\n", in.path);
  fmt::print("  format       {}\n", in.format);
  if (!in.dataset.empty()) fmt::print("  dataset      {}\n", in.dataset);
  fmt::print("  frames       {}\n", in.frame_count);
  fmt::print("  shape        {} x {} (rows x columns)\n", in.shape.rows, in.shape.cols);
  fmt::print("  dtype        {}\n", in.dtype);
  fmt::print("  compression  {}\n", in.compression.empty() ? "none" : in.compression);
  fmt::print("  detector     {}\n", md.detector.empty() ? "-" : md.detector);
  fmt::print("  wavelength   {}", fmt_opt(md.wavelength_m, 1e10, "Å"));
  if (md.wavelength_m)
    fmt::print(" ({:.4f} keV)", energy_kev_from_wavelength_angstrom(*md.wavelength_m * 1e10));
  fmt::print("\n");
  fmt::print("  distance     {}\n", fmt_opt(md.distance_m, 1e3, "mm"));
  if (md.beam_center_x_px || md.beam_center_y_px)
    fmt::print("  beam centre  x {}, y {}\n", fmt_opt(md.beam_center_x_px, 1, "px"),
               fmt_opt(md.beam_center_y_px, 1, "px"));
  if (md.pixel_size_x_m || md.pixel_size_y_m)
    fmt::print("  pixel size   {} x {}\n", fmt_opt(md.pixel_size_x_m, 1e6, "µm"),
               fmt_opt(md.pixel_size_y_m, 1e6, "µm"));
  fmt::print("  exposure     {}\n", fmt_opt(md.count_time_s, 1, "s"));
  if (md.saturation_value) fmt::print("  saturation   {:.0f} counts\n", *md.saturation_value);
  if (read_first && in.frame_count > 0) {
    try {
      const auto f = src.read(0);
      std::size_t masked = 0;
      double sum = 0, maxv = -1e300;
      for (std::size_t i = 0; i < f.image.pixels.size(); ++i) {
        if (f.invalid.pixels[i]) {
          ++masked;
          continue;
        }
        sum += f.image.pixels[i];
        maxv = std::max(maxv, static_cast<double>(f.image.pixels[i]));
      }
      const auto valid = f.image.pixels.size() - masked;
      fmt::print("  frame 0      {} invalid pixels (gaps, dead, saturated); mean {:.4g}, max {:.6g} counts\n",
                 masked, valid ? sum / static_cast<double>(valid) : 0.0, valid ? maxv : 0.0);
    } catch (const InputError& e) {
      fmt::print("  frame 0      unreadable: {}\n", e.what());
    }
  }
}

}  // namespace

void add_info_command(CLI::App& app, Context& ctx) {
  struct Args {
    std::vector<std::string> files;
    bool no_read = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "info", "Show frames, shape, dtype, detector, wavelength and exposure of detector files");
  cmd->add_option("files", args->files,
                  "Detector files: HDF5/NeXus (file.h5 or file.h5:/dataset, EIGER master), TIFF, CBF, EDF, "
                  "or a pattern like scan_{:05d}.tif")
      ->required();
  cmd->add_flag("--no-read", args->no_read, "Only read headers; do not decode the first frame");
  cmd->callback([args, &ctx] {
    int failures = 0;
    for (const auto& f : args->files) {
      try {
        const auto src = io::open_frames(f);
        print_info(*src, !args->no_read);
      } catch (const InputError& e) {
        fmt::print(stderr, "anvil info: {}\n", e.what());
        ++failures;
      }
    }
    ctx.exit_code = failures ? 2 : 0;
  });
}

}  // namespace anvil::cli
