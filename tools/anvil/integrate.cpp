// anvil integrate: detector frames → I(q) / I(2θ) / I(d) patterns or 2D cakes, pyFAI-exact.
#include <fmt/core.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>

#include <atomic>
#include <filesystem>
#include <sstream>

#include "azimuthal.hpp"
#include "commands.hpp"
#include "geometry/detector.hpp"
#include "geometry/poni.hpp"
#include "io/mask.hpp"
#include "io/pattern_io.hpp"
#include "progress.hpp"

namespace anvil::cli {

namespace fs = std::filesystem;

namespace {

struct IntegrateArgs {
  std::string poni, mask, mask_orientation = "auto", dark, flat, detector, output, unit = "q_nm^-1",
                          split = "bbox", error = "poisson";
  std::vector<std::string> frames;
  std::size_t npt = 1000, azimuth_bins = 0;
  std::optional<double> polarization, sigma_clip;
  int sigma_clip_iterations = 5;
  std::vector<double> radial_range, azimuth_range, quantiles;
  bool flip_ud = false, flip_lr = false, no_solid_angle = false, quiet = false;
};

integrate::Range range_of(const std::vector<double>& v, const char* what) {
  if (v.size() != 2) throw InputError("", fmt::format("{} needs two numbers: min,max", what));
  return {v[0], v[1]};
}

enum class OutputKind { Hdf5, TextFile, TextFolder };

OutputKind output_kind(const std::string& out, std::size_t frames) {
  const auto ext = fs::path(out).extension().string();
  if (ext == ".h5" || ext == ".hdf5" || ext == ".nxs") return OutputKind::Hdf5;
  if (ext == ".xy" || ext == ".xye" || ext == ".chi" || ext == ".dat" || ext == ".txt") {
    if (frames != 1)
      throw InputError(
          out, fmt::format("one text file cannot hold {} frames: give a folder or an .h5 file", frames));
    return OutputKind::TextFile;
  }
  return OutputKind::TextFolder;
}

std::vector<std::string> header_lines(const pipeline::DetectorIntegrator& di, const std::string& origin,
                                      const IntegrateArgs& a) {
  const auto& g = di.geometry();
  std::vector<std::string> h;
  h.push_back("== anvil " ANVIL_VERSION " azimuthal integration ==");
  h.push_back("frame: " + origin);
  h.push_back(fmt::format("Detector: {} ({} x {} px, pixel1 {:g} m, pixel2 {:g} m)", g.detector.name,
                          g.detector.shape.rows, g.detector.shape.cols, g.detector.pixel1_m,
                          g.detector.pixel2_m));
  h.push_back(
      fmt::format("Distance: {:.10g} m  Poni1: {:.10g} m  Poni2: {:.10g} m", g.dist_m, g.poni1_m, g.poni2_m));
  h.push_back(fmt::format("Rot1: {:.10g}  Rot2: {:.10g}  Rot3: {:.10g} rad", g.rot1, g.rot2, g.rot3));
  h.push_back(fmt::format("Wavelength: {:.10g} m", g.wavelength_m));
  h.push_back(di.describe());
  const auto masked = std::count(di.static_mask().pixels.begin(), di.static_mask().pixels.end(), 1);
  h.push_back(fmt::format("Mask: {} ({} pixels masked, detector gaps included)",
                          a.mask.empty() ? "none" : a.mask, masked));
  h.push_back(
      fmt::format("Dark: {}  Flat: {}", a.dark.empty() ? "none" : a.dark, a.flat.empty() ? "none" : a.flat));
  return h;
}

int run_integrate(const IntegrateArgs& a) {
  const auto mask_layout = io::parse_mask_orientation(a.mask_orientation, "--mask-orientation");
  io::OpenOptions open;
  open.flip_up_down = a.flip_ud;
  open.flip_left_right = a.flip_lr;
  const auto source = io::open_frames(a.frames, open);
  const Shape shape = source->shape();

  // The .poni refers to the image as stored in the file (or, without a recorded orientation, to
  // the frames as flipped); the geometry used is that of the frames as read.
  auto [geometry, poni_note] = pipeline::frame_geometry(a.poni, a.detector, {a.flip_ud, a.flip_lr});
  if (!poni_note.empty()) fmt::print(stderr, "anvil integrate: {}\n", poni_note);
  pipeline::IntegrationSettings s;
  s.unit = io::parse_radial_unit(a.unit);
  s.radial_bins = a.npt;
  s.azimuth_bins = a.azimuth_bins;
  const auto split = pipeline::parse_pixel_split(a.split);
  if (!split) throw InputError("--split", "expected none, bbox or full, not '" + a.split + "'");
  s.split = *split;
  const auto error = pipeline::parse_error_model(a.error);
  if (!error) throw InputError("--error", "expected poisson, azimuthal or none, not '" + a.error + "'");
  s.error_model = *error;
  s.correct_solid_angle = !a.no_solid_angle;
  s.polarization_factor = a.polarization;
  if (!a.radial_range.empty()) s.radial_range = range_of(a.radial_range, "--radial-range");
  if (!a.azimuth_range.empty()) s.azimuth_range_deg = range_of(a.azimuth_range, "--azimuth-range");
  s.sigma_clip = a.sigma_clip;
  s.sigma_clip_iterations = a.sigma_clip_iterations;
  if (!a.quantiles.empty()) {
    s.median_quantiles = range_of(a.quantiles, "--quantiles");
    if (!(s.median_quantiles->min < s.median_quantiles->max))
      throw InputError("--quantiles", fmt::format("{},{}: the lower quantile must come first and be smaller",
                                                  a.quantiles[0], a.quantiles[1]));
  }

  Mask mask;
  if (!a.mask.empty()) {
    const auto stored = io::resolve_mask_orientation(a.mask, mask_layout);
    mask = io::read_mask(a.mask, shape, open, stored);
    fmt::print(stderr, "anvil integrate: {}\n", io::describe_mask_orientation(a.mask, stored, open));
  }
  std::optional<ImageF> dark, flat;
  if (!a.dark.empty()) dark = io::read_mean_frame(a.dark, shape, open);
  if (!a.flat.empty()) flat = io::read_mean_frame(a.flat, shape, open);

  const pipeline::DetectorIntegrator di(geometry, shape, mask, s, dark ? &*dark : nullptr,
                                        flat ? &*flat : nullptr);
  const auto kind = output_kind(a.output, source->frame_count());
  {  // the folder the output goes in; one that cannot be made is the user's to fix
    const fs::path folder =
        kind == OutputKind::TextFolder ? fs::path(a.output) : fs::path(a.output).parent_path();
    std::error_code ec;
    if (!folder.empty()) fs::create_directories(folder, ec);
    if (ec)
      throw InputError(a.output, fmt::format("cannot make the folder {}: {}", folder.string(), ec.message()));
  }
  if (s.azimuth_bins > 0 && kind != OutputKind::Hdf5)
    throw InputError(a.output, "2D cakes are written to HDF5: give an output name ending in .h5");

  std::unique_ptr<io::PatternStackWriter> stack;
  if (kind == OutputKind::Hdf5) {
    std::vector<double> chi;
    if (s.azimuth_bins)
      for (double c : di.integrator().azimuth_centers_rad()) chi.push_back(c * 180.0 / M_PI);
    std::vector<double> x = di.radial_axis();
    if (s.unit == RadialUnit::DSpacingA) std::reverse(x.begin(), x.end());
    stack = std::make_unique<io::PatternStackWriter>(
        a.output, s.azimuth_bins ? "cake" : "integrated", s.unit, x,
        std::vector<std::pair<std::string, std::string>>{
            {"program", "anvil " ANVIL_VERSION},
            {"method", di.describe()},
            {"poni", geometry::format_poni(geometry::geometry_for_file(
                         di.geometry(), geometry::ImageFlips{a.flip_ud, a.flip_lr}))},
            {"source", source->info().path}},
        chi);
  }

  Progress progress("integrate", source->frame_count());
  std::atomic<std::size_t> failed{0};
  std::vector<std::string> errors;
  std::mutex error_mutex;
  struct Item {
    std::size_t index = 0;
    std::optional<Pattern1D> pattern;
    std::optional<pipeline::Cake> cake;
    std::string origin;
  };
  std::size_t next = 0;
  const std::size_t n = source->frame_count();
  const std::size_t tokens = 2 * static_cast<std::size_t>(tbb::info::default_concurrency()) + 1;
  tbb::parallel_pipeline(
      tokens, tbb::make_filter<void, std::size_t>(tbb::filter_mode::serial_in_order,
                                                  [&](tbb::flow_control& fc) -> std::size_t {
                                                    if (next >= n) {
                                                      fc.stop();
                                                      return 0;
                                                    }
                                                    return next++;
                                                  }) &
                  tbb::make_filter<std::size_t, Item>(tbb::filter_mode::parallel,
                                                      [&](std::size_t k) {
                                                        Item it;
                                                        it.index = source->first_number() + k;
                                                        try {
                                                          const auto frame = source->read(k);
                                                          it.origin = frame.origin;
                                                          if (s.azimuth_bins)
                                                            it.cake = di.integrate_cake(frame);
                                                          else
                                                            it.pattern = di.integrate(frame);
                                                        } catch (const InputError& e) {
                                                          std::lock_guard lock(error_mutex);
                                                          errors.push_back(e.what());
                                                          ++failed;
                                                        }
                                                        return it;
                                                      }) &
                  tbb::make_filter<Item, void>(tbb::filter_mode::serial_in_order, [&](const Item& it) {
                    if (it.pattern || it.cake) {
                      if (stack) {
                        if (it.cake)
                          stack->append_cake(it.index, it.cake->intensity, it.cake->sigma);
                        else
                          stack->append(it.index, *it.pattern);
                      } else {
                        std::string path = a.output;
                        if (kind == OutputKind::TextFolder) {
                          const auto stem = fs::path(source->info().path).stem().string();
                          path = (fs::path(a.output) / fmt::format("{}_{:05d}.xye", stem, it.index)).string();
                        }
                        io::write_pattern_text(path, *it.pattern, header_lines(di, it.origin, a), true,
                                               di.geometry().wavelength_m * 1e10);
                      }
                    }
                    if (!a.quiet) progress.advance();
                  }));
  if (stack) stack->close();
  if (!a.quiet) progress.finish();
  for (const auto& e : errors) fmt::print(stderr, "anvil integrate: skipped {}\n", e);
  fmt::print(stderr, "anvil integrate: {} of {} frames integrated{} -> {}\n", n - failed, n,
             failed ? fmt::format(", {} failed", failed.load()) : "", a.output);
  return failed ? 3 : 0;
}

}  // namespace

void add_integrate_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<IntegrateArgs>();
  auto* cmd = app.add_subcommand("integrate", "Azimuthal integration of detector frames (pyFAI semantics)");
  cmd->add_option("frames", a->frames,
                  "Frames: HDF5/NeXus (file.h5[:/dataset], EIGER master), TIFF, CBF, EDF, patterns")
      ->required();
  cmd->add_option("--poni", a->poni, "Geometry (pyFAI .poni, any version)")->required();
  cmd->add_option(
         "-o,--output", a->output,
         "Output: an .h5 file (all frames, NeXus NXdata), one .xy/.xye/.chi/.dat file (single frame), "
         "or a folder (one .xye per frame)")
      ->required();
  cmd->add_option("--mask", a->mask, "Mask file (1 = masked): TIFF, Dioptas .mask, EDF, CBF, file.h5:/path");
  cmd->add_option(
         "--mask-orientation", a->mask_orientation,
         "Layout of the mask file: dioptas (up-down flipped, as Dioptas saves .mask files), raw (as the "
         "frame files), or auto: dioptas for *.mask, raw otherwise")
      ->capture_default_str();
  cmd->add_option("--dark", a->dark, "Dark frame(s), averaged");
  cmd->add_option("--flat", a->flat, "Flat-field frame(s), averaged");
  cmd->add_option("--detector", a->detector,
                  "Detector preset overriding the .poni's (e.g. Pilatus1M, Eiger4M)");
  cmd->add_option("--npt,--bins", a->npt, "Radial bins (`bins` in a scan description)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--unit", a->unit, "q_nm^-1, q_A^-1, 2th_deg, d_A or r_mm")->capture_default_str();
  cmd->add_option("--split", a->split, "Pixel splitting: none, bbox or full")->capture_default_str();
  cmd->add_option("--error,--error-model", a->error,
                  "Error model: poisson, azimuthal or none (`error_model` in a scan description)")
      ->capture_default_str();
  cmd->add_option("--polarization", a->polarization, "Polarisation factor (-1..1), e.g. 0.99")
      ->check(number_in(-1.0, 1.0));
  cmd->add_flag("--no-solid-angle", a->no_solid_angle, "Do not correct for the pixels' solid angle");
  cmd->add_option("--azimuth-bins", a->azimuth_bins, "χ bins: write 2D cakes (radial × azimuthal) to .h5")
      ->check(CLI::Range(0, 36'000));
  cmd->add_option("--radial-range,--range", a->radial_range,
                  "min,max in --unit (`range` in a scan description)")
      ->delimiter(',')
      ->expected(2)
      ->check(finite_number());
  cmd->add_option("--azimuth-range", a->azimuth_range, "χ min,max in degrees")
      ->delimiter(',')
      ->expected(2)
      ->check(finite_number());
  cmd->add_option("--sigma-clip", a->sigma_clip,
                  "Reject pixels further than this many σ from their bin's mean (diamond spots, hot pixels)")
      ->check(positive_number());
  cmd->add_option("--sigma-clip-iterations", a->sigma_clip_iterations, "Iterations of sigma clipping")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--quantiles", a->quantiles, "Trimmed mean per bin between these quantiles, e.g. 0.2,0.8")
      ->delimiter(',')
      ->expected(2)
      ->check(number_in(0.0, 1.0));
  cmd->add_flag(
      "--flip-ud", a->flip_ud,
      "Flip frames (and dark, flat) up-down, as Dioptas shows them: for a .poni without orientation "
      "made in Dioptas; a mask follows --mask-orientation");
  cmd->add_flag("--flip-lr", a->flip_lr, "Flip frames left-right");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
  add_threads_option(cmd, ctx);
  cmd->callback([a, &ctx] { ctx.exit_code = run_integrate(*a); });
}

}  // namespace anvil::cli
