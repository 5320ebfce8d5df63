// anvil calibrate: detector geometry (.poni) from a calibrant image.
#include "calibration/calibrate.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>

#include "calib_dirs.hpp"
#include "calib_plot.hpp"
#include "calibration/active_area.hpp"
#include "calibration/ring_model.hpp"
#include "commands.hpp"
#include "geometry/detector.hpp"
#include "geometry/poni.hpp"
#include "io/frame_source.hpp"
#include "io/mask.hpp"
#include "io/tiff.hpp"

namespace anvil::cli {

namespace fs = std::filesystem;

namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

struct CalibrateArgs {
  std::string image, calibrant, detector, guess, mask, mask_orientation = "auto", output, plot, save_mask;
  std::optional<double> wavelength_a, energy_kev, dist_mm, pixel_um, max_rms_px;
  std::vector<double> center;
  std::vector<std::string> fix{"rot3"};
  std::size_t frame = 0;
  bool flip_ud = false, flip_lr = false, refine_wavelength = false, refine_distortion = false,
       no_plot = false, verbose = false;
};

void print_table(const calibration::CalibrationResult& r) {
  fmt::print("{:>12} {:>10} {:>12} {:>12} {:>7} {:>16} {:>10}\n", "hkl", "d (Å)", "2θ exp (°)", "2θ obs (°)",
             "points", "mean ± σ (m°)", "rms (m°)");
  for (const auto& f : r.rings) {
    const auto& h = f.calibrant_line.hkl;
    fmt::print("{:>12} {:>10.5f} {:>12.5f} {:>12.5f} {:>7} {:>16} {:>10.2f}\n",
               fmt::format("({} {} {})", h[0], h[1], h[2]), f.calibrant_line.d_angstrom,
               f.two_theta_expected_rad * kDeg, f.two_theta_observed_rad * kDeg, f.points,
               fmt::format("{:.2f} ± {:.2f}", f.mean_residual_rad * kDeg * 1e3,
                           f.mean_residual_sigma_rad * kDeg * 1e3),
               f.rms_residual_rad * kDeg * 1e3);
  }
}

// `where` says which image the beam centre's pixels are of, when it is not the file as stored.
void print_geometry(const calibration::CalibrationResult& r, const std::string& where) {
  const auto& g = r.geometry;
  const auto& s = r.sigma;
  auto pm = [](double v, double sig, double scale, int prec) {
    return sig > 0 ? fmt::format("{:.{}f} ± {:.{}f}", v * scale, prec, sig * scale, prec)
                   : fmt::format("{:.{}f} (fixed)", v * scale, prec);
  };
  fmt::print("  Distance    {} mm\n", pm(g.dist_m, s[0], 1e3, 4));
  fmt::print("  Poni1       {} mm\n", pm(g.poni1_m, s[1], 1e3, 4));
  fmt::print("  Poni2       {} mm\n", pm(g.poni2_m, s[2], 1e3, 4));
  fmt::print("  Rot1        {} °\n", pm(g.rot1, s[3], kDeg, 5));
  fmt::print("  Rot2        {} °\n", pm(g.rot2, s[4], kDeg, 5));
  fmt::print("  Rot3        {} °\n", pm(g.rot3, s[5], kDeg, 5));
  fmt::print("  Wavelength  {} Å\n", pm(g.wavelength_m, s[6], 1e10, 6));
  if (r.distortion_sigma[0] > 0 || !r.distortion.is_zero()) {
    const auto& d = r.distortion;
    const auto& ds = r.distortion_sigma;
    fmt::print("  Distortion  k1 {:.3e} ± {:.1e}, b1 {:.3e} ± {:.1e}, b2 {:.3e} ± {:.1e}\n", d.k1, ds[0],
               d.b1, ds[1], d.b2, ds[2]);
    if (g.detector.distortion) {
      double largest = 0;
      const double rows = static_cast<double>(g.detector.shape.rows),
                   cols = static_cast<double>(g.detector.shape.cols);
      for (double y : {0.0, 0.5 * rows, rows})
        for (double x : {0.0, 0.5 * cols, cols}) {
          const auto v = g.detector.distortion->displacement(y, x);
          largest = std::max(largest, std::hypot(v[0], v[1]));
        }
      fmt::print("              largest displacement {:.2f} px (corners and edge centres)\n", largest);
    }
  }
  if (const auto c = calibration::beam_center_px(g))
    fmt::print("  Beam centre column {:.2f}, row {:.2f} (pixels{})\n", (*c)[1], (*c)[0], where);
  fmt::print("  RMS residual {:.5f}° 2θ ({:.3f} px-equivalent), {} points on {} rings\n", r.rms_rad * kDeg,
             r.rms_px, r.points.size(), r.rings.size());
}

int run_calibrate(const CalibrateArgs& a) {
  const auto mask_layout = io::parse_mask_orientation(a.mask_orientation, "--mask-orientation");
  if (a.wavelength_a.has_value() == a.energy_kev.has_value())
    throw InputError("anvil calibrate", "give exactly one of --wavelength (Å) and --energy (keV)");
  const double wavelength_m =
      a.wavelength_a ? *a.wavelength_a * 1e-10 : geometry::wavelength_m_from_energy_kev(*a.energy_kev);
  if (!(wavelength_m > 0)) throw InputError("--wavelength", "must be > 0");

  io::OpenOptions open;
  open.flip_up_down = a.flip_ud;
  open.flip_left_right = a.flip_lr;
  const auto source = io::open_frames(a.image, open);
  if (a.frame >= source->frame_count())
    throw InputError(
        a.image, fmt::format("has {} frame(s); --frame {} is out of range", source->frame_count(), a.frame));
  const io::Frame frame = source->read(a.frame);
  Mask mask = frame.invalid;
  if (mask.pixels.empty()) mask = Mask(frame.image.shape, 0);
  std::vector<std::string> notes;
  if (!a.mask.empty()) {
    const auto stored = io::resolve_mask_orientation(a.mask, mask_layout);
    io::merge_mask(mask, io::read_mask(a.mask, frame.image.shape, open, stored));
    notes.push_back(io::describe_mask_orientation(a.mask, stored, open));
  }

  // Everything is computed on the frames as read (flipped if asked); the .poni written refers
  // to the image as stored in the file (geometry_for_file).
  const geometry::ImageFlips flips{a.flip_ud, a.flip_lr};
  const bool flipping = a.flip_ud || a.flip_lr;
  const std::string flipped_text = a.flip_ud && a.flip_lr ? "flipped up-down and left-right"
                                   : a.flip_ud            ? "flipped up-down"
                                                          : "flipped left-right";
  std::optional<geometry::Geometry> guess;
  if (!a.guess.empty()) {
    geometry::PoniInfo info;
    const auto file_guess = geometry::read_poni(a.guess, &info);
    auto g = geometry::geometry_for_frames(file_guess, info, flips, a.guess);
    if (!g.note.empty()) notes.push_back(g.note);
    guess = g.geometry;
  }
  geometry::Detector det;
  if (!a.detector.empty()) {
    det = geometry::detector_preset(a.detector);
    if (guess) det.orientation = guess->detector.orientation;
  } else if (a.pixel_um) {
    det = geometry::generic_detector(*a.pixel_um * 1e-6, *a.pixel_um * 1e-6);
  } else if (guess) {
    det = guess->detector;
  } else if (frame.metadata.pixel_size_x_m && frame.metadata.pixel_size_y_m) {
    det = geometry::generic_detector(*frame.metadata.pixel_size_y_m, *frame.metadata.pixel_size_x_m);
  } else {
    throw InputError(a.image,
                     "the file gives no pixel size: name the detector (--detector) or give --pixel (µm)");
  }
  if (det.shape.pixel_count() != 0 && det.shape != frame.image.shape)
    throw InputError(a.image, fmt::format("image is {} x {} but detector {} is {} x {}", frame.image.rows(),
                                          frame.image.cols(), det.name, det.shape.rows, det.shape.cols));

  calibration::CalibrationStart start;
  start.guess = guess;
  if (a.dist_mm) start.dist_m = *a.dist_mm * 1e-3;
  if (!a.center.empty()) {
    if (a.center.size() != 2) throw InputError("--center", "expected x,y (column,row in pixels)");
    start.center_px = std::array<double, 2>{a.center[1], a.center[0]};
  }
  calibration::CalibrationOptions opt;
  opt.free.wavelength = a.refine_wavelength;
  opt.free.distortion = a.refine_distortion;
  opt.free.rot3 = true;
  for (const auto& f : a.fix)
    if (f != "none" && !opt.free.fix(f))
      throw InputError("--fix",
                       fmt::format("unknown parameter '{}': dist, poni1, poni2, rot1, rot2, rot3", f));
  if (a.max_rms_px) opt.max_rms_px = *a.max_rms_px;

  const calibration::Calibrant cal =
      pipeline::load_calibrant(a.calibrant, pipeline::calib_dir() / "calibrants", "--calibrant");
  const auto lines = calibration::calibrant_lines_to_two_theta(cal, wavelength_m, std::numbers::pi / 2);
  if (lines.empty())
    throw InputError("--calibrant", fmt::format("{} has no line below 2θ = 90° at λ = {:.4f} Å", cal.name,
                                                wavelength_m * 1e10));

  if (!a.save_mask.empty()) {
    // The pixels the calibration leaves out that integration should too: the given mask, the
    // detector's invalid pixels and an inactive area read off the image (calibration::calibrate
    // finds the same one), in the layout of the file as stored.
    Mask out = mask;
    if (const auto inactive = calibration::find_inactive_area(frame.image, mask))
      for (std::size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] |= inactive->mask.pixels[i];
    if (a.flip_ud) flip_up_down(out);
    if (a.flip_lr) flip_left_right(out);
    if (fs::path(a.save_mask).has_parent_path()) fs::create_directories(fs::path(a.save_mask).parent_path());
    io::write_tiff_mask(a.save_mask, out);
    const auto masked = std::count(out.pixels.begin(), out.pixels.end(), 1);
    notes.push_back(fmt::format("mask written to {} ({} pixels masked, layout of the file as stored)",
                                a.save_mask, masked));
  }

  const auto t0 = std::chrono::steady_clock::now();
  const auto res = calibration::calibrate(frame.image, mask, det, wavelength_m, lines, start, opt);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  fmt::print(
      "anvil calibrate: {} ({}), {} at λ = {:.5f} Å ({:.3f} keV), detector {} ({} x {}, {:g} x {:g} µm)\n",
      frame.origin, cal.name, cal.standard.empty() ? cal.description : cal.standard, wavelength_m * 1e10,
      geometry::energy_kev_from_wavelength_m(wavelength_m), det.name, frame.image.rows(), frame.image.cols(),
      det.pixel1_m * 1e6, det.pixel2_m * 1e6);
  for (const auto& n : notes) fmt::print("  note: {}\n", n);
  if (a.verbose)
    for (const auto& l : res.log) fmt::print("  {}\n", l);
  else
    for (const auto& l : res.log)
      if (l.rfind("note:", 0) == 0) fmt::print("  {}\n", l);
  if (!res.rings.empty()) print_table(res);
  print_geometry(res, flipping ? " of the image " + flipped_text : "");
  fmt::print("  time {:.2f} s\n", seconds);

  const std::string plot =
      a.no_plot ? std::string()
                : (a.plot.empty() ? fs::path(a.output).replace_extension(".png").string() : a.plot);
  if (!plot.empty()) {
    plot_calibration(plot, frame.image, mask, lines, res,
                     fmt::format("{}  {}  {}", fs::path(a.image).filename().string(), cal.name,
                                 calibration::status_name(res.status)));
    fmt::print("  diagnostic picture: {}\n", plot);
  }
  if (!res.ok()) {
    fmt::print(stderr, "anvil calibrate: {}: {}\nanvil calibrate: {} not written\n",
               calibration::status_name(res.status), res.message, a.output);
    return 3;
  }
  if (fs::path(a.output).has_parent_path()) fs::create_directories(fs::path(a.output).parent_path());
  geometry::Geometry out = geometry::geometry_for_file(res.geometry, flips);
  if (out.detector.orientation != geometry::Orientation::BottomRight) {
    out.detector.shape = frame.image.shape;  // pyFAI flips need the shape; a .poni v1 guess gives none
    if (flipping)
      fmt::print(
          "  note: calibrated on the image {}; the .poni says so with orientation {} ({}, .poni v2.1) "
          "and fits the image as stored in the file, as pyFAI >= 2024 and Dioptas read it\n",
          flipped_text, static_cast<int>(out.detector.orientation),
          geometry::orientation_name(out.detector.orientation));
  }
  std::string spline_note;
  if (out.detector.distortion && !res.distortion.is_zero()) {
    // pyFAI reads the distortion from the Fit2D spline file the .poni names (absolute path, as pyFAI writes).
    const fs::path spline = fs::absolute(fs::path(a.output).replace_extension(".spline"));
    out.detector.distortion->file = spline.string();
    geometry::write_fit2d_spline(spline, *out.detector.distortion);
    spline_note = " + " + spline.filename().string();
  }
  geometry::write_poni(a.output, out);
  fmt::print("anvil calibrate: {} -> {}{}\n", res.message, a.output, spline_note);
  return 0;
}

}  // namespace

void add_calibrate_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<CalibrateArgs>();
  auto* cmd = app.add_subcommand("calibrate",
                                 "Detector geometry (.poni) from a calibrant image (CeO2, LaB6, AgBh, ...)");
  cmd->add_option("image", a->image, "Calibrant image: TIFF, CBF, EDF, HDF5 (file.h5[:/dataset]), SPE")
      ->required();
  cmd->add_option(
         "--calibrant", a->calibrant,
         "CeO2, LaB6, Si, alpha_Al2O3, AgBh, Au, Pt (calib/calibrants), a .toml or .cif file, or a cell "
         "such as Fm-3m:4.0786 or lamellar:58.38")
      ->required();
  cmd->add_option("--wavelength", a->wavelength_a, "Wavelength (Å)")->check(positive_number());
  cmd->add_option("--energy", a->energy_kev, "Photon energy (keV)")->check(positive_number());
  cmd->add_option("--detector", a->detector, "Detector preset (Pilatus1M, Eiger4M, ...)");
  cmd->add_option("--pixel", a->pixel_um, "Pixel size (µm) of a detector without a preset")
      ->check(positive_number());
  cmd->add_option("--guess", a->guess, "Starting geometry (.poni)");
  cmd->add_option("--dist", a->dist_mm, "Rough sample-detector distance (mm, ±20 %)")
      ->check(positive_number());
  cmd->add_option("--center", a->center, "Rough beam centre x,y: column,row in pixels (±30 px)")
      ->delimiter(',')
      ->expected(2)
      ->check(finite_number());
  cmd->add_option("--mask", a->mask, "Mask file (1 = masked): TIFF, Dioptas .mask, EDF, CBF, file.h5:/path");
  cmd->add_option(
         "--mask-orientation", a->mask_orientation,
         "Layout of the mask file: dioptas (up-down flipped, as Dioptas saves .mask files), raw (as the "
         "image file), or auto: dioptas for *.mask, raw otherwise")
      ->capture_default_str();
  cmd->add_option("--frame", a->frame, "Frame of a multi-frame file (0-based)")->capture_default_str();
  cmd->add_flag("--flip-ud", a->flip_ud,
                "Calibrate on the image flipped up-down, as Dioptas shows it; the .poni written says so "
                "(orientation 2) and fits the image as stored");
  cmd->add_flag("--flip-lr", a->flip_lr, "Flip the image left-right");
  cmd->add_flag("--refine-wavelength", a->refine_wavelength, "Refine the wavelength too");
  cmd->add_flag("--refine-distortion", a->refine_distortion,
                "Refine a detector distortion (radial k1, anisotropy, shear) too, for lens/taper CCDs; "
                "writes OUT.spline (Fit2D format) beside OUT.poni");
  cmd->add_option("--fix", a->fix, "Parameters kept fixed (dist poni1 poni2 rot1 rot2 rot3, or none)")
      ->capture_default_str();
  cmd->add_option(
         "--max-rms", a->max_rms_px,
         "Outer bound on the points' RMS residual (pixel-equivalents; default 2). A fit is judged on "
         "its ring means, ring shape and parameter stability; the scatter alone does not refuse it")
      ->check(positive_number());
  cmd->add_option("-o,--output", a->output, "The refined geometry (.poni)")->required();
  cmd->add_option("--save-mask", a->save_mask,
                  "Write the mask used (--mask, the detector's invalid pixels, and an inactive area found "
                  "on the image, e.g. the corners outside a round CCD) as a uint8 TIFF, for anvil integrate "
                  "--mask");
  cmd->add_option("--plot", a->plot, "Diagnostic picture (PNG; default: OUT.png)");
  cmd->add_flag("--no-plot", a->no_plot, "Do not draw the diagnostic picture");
  cmd->add_flag("-v,--verbose", a->verbose, "Print every refinement pass");
  add_threads_option(cmd, ctx);
  cmd->callback([a, &ctx] { ctx.exit_code = run_calibrate(*a); });
}

}  // namespace anvil::cli
