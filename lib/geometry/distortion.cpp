#include "geometry/distortion.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace anvil::geometry {

namespace {

// FITPACK fpbspl: the four cubic B-splines that do not vanish at x, h[m] = B_{l−3+m}(x), with
// t[l] ≤ x < t[l+1] (0-based), 3 ≤ l ≤ n − 5.
struct Basis {
  int l = 3;
  double h[4] = {1, 0, 0, 0};
};

Basis cubic_basis(const std::vector<double>& t, double x) {
  const int n = static_cast<int>(t.size());
  x = std::clamp(x, t[3], t[n - 4]);
  // The knot interval: the last l with t[l] <= x, kept inside [3, n − 5].
  int l = static_cast<int>(std::upper_bound(t.begin() + 3, t.begin() + (n - 4), x) - t.begin()) - 1;
  l = std::clamp(l, 3, n - 5);
  Basis b;
  b.l = l;
  double hh[3];
  for (int j = 1; j <= 3; ++j) {
    for (int i = 0; i < j; ++i) hh[i] = b.h[i];
    b.h[0] = 0.0;
    for (int i = 1; i <= j; ++i) {
      const int li = l + i, lj = li - j;
      const double f = hh[i - 1] / (t[li] - t[lj]);
      b.h[i - 1] += f * (t[li] - x);
      b.h[i] = f * (x - t[lj]);
    }
  }
  return b;
}

// Knots at lo (×4), lo + spacing, lo + 2·spacing, …, hi (×4).
std::vector<double> clamped_knots(double lo, double hi, double spacing) {
  std::vector<double> t(4, lo);
  const int inner = std::max(0, static_cast<int>(std::ceil((hi - lo) / spacing)) - 1);
  const double step = (hi - lo) / (inner + 1);
  for (int i = 1; i <= inner; ++i) t.push_back(lo + i * step);
  t.insert(t.end(), 4, hi);
  return t;
}

// Collocation matrix: row a holds the basis functions of knots t at sample s[a].
Eigen::MatrixXd collocation(const std::vector<double>& t, const std::vector<double>& s) {
  const int nc = static_cast<int>(t.size()) - 4;
  Eigen::MatrixXd B = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(s.size()), nc);
  for (std::size_t a = 0; a < s.size(); ++a) {
    const Basis b = cubic_basis(t, s[a]);
    for (int m = 0; m < 4; ++m) B(static_cast<Eigen::Index>(a), b.l - 3 + m) = b.h[m];
  }
  return B;
}

std::vector<double> samples(double lo, double hi, double step) {
  std::vector<double> s;
  for (double v = lo; v < hi; v += step) s.push_back(v);
  s.push_back(hi);
  return s;
}

// Coefficients C (ncx × ncy, FITPACK order) minimising ‖Bx·C·Byᵀ − F‖ for F sampled on the grid.
std::vector<double> fit_tensor(const Eigen::MatrixXd& Bx, const Eigen::MatrixXd& By,
                               const Eigen::MatrixXd& F) {
  const Eigen::MatrixXd G = Bx.colPivHouseholderQr().solve(F);              // ncx × nsy
  const Eigen::MatrixXd C = By.colPivHouseholderQr().solve(G.transpose());  // ncy × ncx
  std::vector<double> c(static_cast<std::size_t>(C.size()));
  for (Eigen::Index i = 0; i < C.cols(); ++i)
    for (Eigen::Index j = 0; j < C.rows(); ++j) c[static_cast<std::size_t>(i * C.rows() + j)] = C(j, i);
  return c;
}

}  // namespace

bool BicubicSpline::valid() const {
  const auto ordered = [](const std::vector<double>& t) {
    return t.size() >= 8 && std::is_sorted(t.begin(), t.end()) && t[3] < t[t.size() - 4] &&
           std::all_of(t.begin(), t.end(), [](double v) { return std::isfinite(v); });
  };
  return ordered(knots_x) && ordered(knots_y) &&
         coefficients.size() == (knots_x.size() - 4) * (knots_y.size() - 4) &&
         std::all_of(coefficients.begin(), coefficients.end(), [](double v) { return std::isfinite(v); });
}

double BicubicSpline::operator()(double x, double y) const {
  const Basis bx = cubic_basis(knots_x, x), by = cubic_basis(knots_y, y);
  const std::size_t ncy = knots_y.size() - 4;
  double s = 0.0;
  for (int i = 0; i < 4; ++i) {
    const double* c = coefficients.data() + static_cast<std::size_t>(bx.l - 3 + i) * ncy + (by.l - 3);
    s += bx.h[i] * (c[0] * by.h[0] + c[1] * by.h[1] + c[2] * by.h[2] + c[3] * by.h[3]);
  }
  return s;
}

std::array<double, 2> SplineDistortion::undistort(double Y, double X) const {
  double y = Y, x = X;
  for (int it = 0; it < 30; ++it) {
    const auto d = displacement(y, x);
    const double ny = Y - d[0], nx = X - d[1];
    const bool done = std::fabs(ny - y) < 1e-9 && std::fabs(nx - x) < 1e-9;
    y = ny;
    x = nx;
    if (done) break;
  }
  return {y, x};
}

Shape SplineDistortion::shape() const {
  return {static_cast<std::size_t>(std::lround(y_max - y_min)),
          static_cast<std::size_t>(std::lround(x_max - x_min))};
}

SplineDistortion fit_spline_distortion(Shape shape, double pixel1_m, double pixel2_m,
                                       const std::function<std::array<double, 2>(double, double)>& f,
                                       double spacing, double sample_step) {
  if (shape.pixel_count() == 0) throw std::invalid_argument("fit_spline_distortion: empty detector shape");
  if (!(spacing > 0) || !(sample_step > 0)) throw std::invalid_argument("fit_spline_distortion: bad spacing");
  SplineDistortion s;
  s.x_max = static_cast<double>(shape.cols);
  s.y_max = static_cast<double>(shape.rows);
  s.grid_spacing = spacing;
  s.pixel_x_um = pixel2_m * 1e6;
  s.pixel_y_um = pixel1_m * 1e6;
  const auto tx = clamped_knots(s.x_min, s.x_max, spacing), ty = clamped_knots(s.y_min, s.y_max, spacing);
  const auto sx = samples(s.x_min, s.x_max, sample_step), sy = samples(s.y_min, s.y_max, sample_step);
  Eigen::MatrixXd FX(sx.size(), sy.size()), FY(sx.size(), sy.size());
  for (std::size_t a = 0; a < sx.size(); ++a)
    for (std::size_t b = 0; b < sy.size(); ++b) {
      const auto d = f(sy[b], sx[a]);
      FY(a, b) = d[0];
      FX(a, b) = d[1];
    }
  const Eigen::MatrixXd Bx = collocation(tx, sx), By = collocation(ty, sy);
  s.dx = {tx, ty, fit_tensor(Bx, By, FX)};
  s.dy = {tx, ty, fit_tensor(Bx, By, FY)};
  return s;
}

// --- Fit2D text format -----------------------------------------------------------------------

namespace {

constexpr std::size_t kField = 14;  // Fit2D writes every real as %14.7E, with no separator

std::vector<double> fixed_fields(const std::string& line, const std::string& source, std::size_t line_no) {
  std::vector<double> out;
  for (std::size_t p = 0; p + kField <= line.size(); p += kField) {
    const std::string f(trim(std::string_view(line).substr(p, kField)));
    char* end = nullptr;
    const double v = std::strtod(f.c_str(), &end);
    if (f.empty() || end != f.c_str() + f.size() || !std::isfinite(v))
      throw InputError(source, "line " + std::to_string(line_no) + ": '" + f + "' is not a number");
    out.push_back(v);
  }
  return out;
}

BicubicSpline read_block(const std::vector<std::string>& lines, std::size_t header, const std::string& source,
                         const char* name) {
  if (header + 1 >= lines.size())
    throw InputError(source, std::string(name) + ": the knot counts are missing");
  std::istringstream counts(lines[header + 1]);
  long nx = 0, ny = 0;
  if (!(counts >> nx >> ny) || nx < 8 || ny < 8 || nx > 100000 || ny > 100000)
    throw InputError(source, std::string(name) + " on line " + std::to_string(header + 2) +
                                 ": knot counts must be two integers >= 8, found '" + lines[header + 1] +
                                 "'");
  std::vector<double> values;
  for (std::size_t i = header + 2; i < lines.size() && !trim(lines[i]).empty(); ++i) {
    const auto v = fixed_fields(lines[i], source, i + 1);
    values.insert(values.end(), v.begin(), v.end());
  }
  const std::size_t want = static_cast<std::size_t>(nx + ny + (nx - 4) * (ny - 4));
  if (values.size() != want)
    throw InputError(source, std::string(name) + ": " + std::to_string(values.size()) + " numbers where " +
                                 std::to_string(nx) + " + " + std::to_string(ny) + " knots and " +
                                 std::to_string((nx - 4) * (ny - 4)) + " coefficients were expected");
  BicubicSpline s;
  s.knots_x.assign(values.begin(), values.begin() + nx);
  s.knots_y.assign(values.begin() + nx, values.begin() + nx + ny);
  s.coefficients.assign(values.begin() + nx + ny, values.end());
  if (!s.valid()) throw InputError(source, std::string(name) + ": knots are not in increasing order");
  return s;
}

}  // namespace

SplineDistortion parse_fit2d_spline(std::string_view text, const std::string& source) {
  std::vector<std::string> lines;
  {
    std::istringstream in{std::string(text)};
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      lines.push_back(l);
    }
  }
  if (lines.empty() || lower(trim(lines[0])).find("spatial distortion spline") == std::string::npos)
    throw InputError(source,
                     "not a Fit2D spline file (no 'SPATIAL DISTORTION SPLINE INTERPOLATION "
                     "COEFFICIENTS' line)");
  SplineDistortion s;
  bool region = false, grid = false, have_x = false, have_y = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string key = lower(trim(lines[i]));
    if (key == "valid region" && i + 1 < lines.size()) {
      const auto v = fixed_fields(lines[i + 1], source, i + 2);
      if (v.size() < 4)
        throw InputError(source, "VALID REGION needs 4 numbers on line " + std::to_string(i + 2));
      s.x_min = v[0], s.y_min = v[1], s.x_max = v[2], s.y_max = v[3];
      region = true;
    } else if (key == "grid spacing, x-pixel size, y-pixel size" && i + 1 < lines.size()) {
      const auto v = fixed_fields(lines[i + 1], source, i + 2);
      if (v.size() < 3)
        throw InputError(source, "GRID SPACING needs 3 numbers on line " + std::to_string(i + 2));
      s.grid_spacing = v[0], s.pixel_x_um = v[1], s.pixel_y_um = v[2];
      grid = true;
    } else if (key == "x-distortion") {
      s.dx = read_block(lines, i, source, "X-DISTORTION");
      have_x = true;
    } else if (key == "y-distortion") {
      s.dy = read_block(lines, i, source, "Y-DISTORTION");
      have_y = true;
    }
  }
  if (!region) throw InputError(source, "no VALID REGION section");
  if (!grid) throw InputError(source, "no 'GRID SPACING, X-PIXEL SIZE, Y-PIXEL SIZE' section");
  if (!have_x || !have_y)
    throw InputError(source, have_x ? "no Y-DISTORTION section" : "no X-DISTORTION section");
  if (!(s.x_max > s.x_min) || !(s.y_max > s.y_min)) throw InputError(source, "the VALID REGION is empty");
  if (!(s.pixel_x_um > 0) || !(s.pixel_y_um > 0)) throw InputError(source, "pixel sizes must be positive");
  s.file = source;
  return s;
}

SplineDistortion read_fit2d_spline(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open the spline file");
  std::ostringstream text;
  text << in.rdbuf();
  SplineDistortion s = parse_fit2d_spline(text.str(), path.string());
  s.file = path.string();
  return s;
}

std::string format_fit2d_spline(const SplineDistortion& s) {
  char buf[64];
  auto real = [&buf](double v) {
    std::snprintf(buf, sizeof buf, "%14.7E", v);
    return std::string(buf);
  };
  std::string out = "SPATIAL DISTORTION SPLINE INTERPOLATION COEFFICIENTS\n\n  VALID REGION\n";
  out += real(s.x_min) + real(s.y_min) + real(s.x_max) + real(s.y_max) + "\n\n";
  out += "  GRID SPACING, X-PIXEL SIZE, Y-PIXEL SIZE\n";
  out += real(s.grid_spacing) + real(s.pixel_x_um) + real(s.pixel_y_um) + "\n\n";
  auto block = [&](const char* name, const BicubicSpline& b) {
    std::snprintf(buf, sizeof buf, "%6zu%6zu", b.knots_x.size(), b.knots_y.size());
    out += std::string("  ") + name + "\n" + buf + "\n";
    int k = 0;
    auto put = [&](const std::vector<double>& v) {
      for (double x : v) {
        out += real(x);
        if (++k % 5 == 0) out += "\n";
      }
      if (k % 5 != 0) out += "\n";
      k = 0;
    };
    put(b.knots_x);
    put(b.knots_y);
    put(b.coefficients);
    out += "\n";
  };
  block("X-DISTORTION", s.dx);
  block("Y-DISTORTION", s.dy);
  return out;
}

void write_fit2d_spline(const std::filesystem::path& path, const SplineDistortion& s) {
  write_text_atomically(path, format_fit2d_spline(s), "the spline file");
}

}  // namespace anvil::geometry
