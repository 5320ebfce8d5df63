#include "plots.hpp"

#include <fmt/core.h>
#include <plplot.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "core/error.hpp"

namespace anvil::pipeline {

namespace fs = std::filesystem;

namespace {

// PLplot keeps its state in global streams: one figure at a time.
std::mutex& plplot_mutex() {
  static std::mutex m;
  return m;
}

const char* device_for(const fs::path& file) {
  const auto ext = file.extension().string();
  if (ext == ".png") return "pngcairo";
  if (ext == ".svg") return "svg";  // text as <text>, not glyph outlines (svgcairo)
  if (ext == ".pdf") return "pdfcairo";
  throw InputError(file.string(), "unknown plot format (use .png, .svg or .pdf)");
}

}  // namespace

void draw_plot(const fs::path& file, const XYPlot& p) {
  const char* dev = device_for(file);
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& s : p.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double y = p.log_y ? (s.y[i] > 0 ? std::log10(s.y[i]) : NAN) : s.y[i];
      if (!std::isfinite(s.x[i]) || !std::isfinite(y)) continue;
      const double e = (!p.log_y && i < s.y_err.size() && std::isfinite(s.y_err[i])) ? s.y_err[i] : 0.0;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, y - e);
      ymax = std::max(ymax, y + e);
    }
  if (!(xmax >= xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmin -= 0.5, xmax += 0.5;
  if (ymax == ymin) ymin -= 0.5, ymax += 0.5;
  const double ypad = 0.05 * (ymax - ymin), xpad = 0.02 * (xmax - xmin);
  std::size_t longest = 0;  // of the labels beside the curves' right ends
  for (const auto& l : p.y_tick_labels) longest = std::max(longest, l.second.size());
  const fs::path tmp = fs::path(file).concat(".part");

  std::lock_guard lock(plplot_mutex());
  PLINT stream = 0;
  plmkstrm(&stream);
  plsdev(dev);
  plsfnam(tmp.c_str());
  plspage(0, 0, static_cast<PLINT>(p.width_px), static_cast<PLINT>(p.height_px), 0, 0);
  plscolbg(255, 255, 255);
  plscol0(0, 255, 255, 255);
  plscol0(1, 0, 0, 0);
  plscmap0n(256);  // a colour of its own for every series and legend entry
  plinit();
  pladv(0);
  bool legend = false;
  for (const auto& sr : p.series) legend = legend || !sr.label.empty();
  // The labels beside the curves go right of the box, in a margin as wide as the longest
  // (characters up to ¾ of their height wide), and the legend right of them.
  PLFLT page_x0 = 0, page_x1 = 0, page_y0 = 0, page_y1 = 0, def_ht = 0, ht = 0;
  plgspa(&page_x0, &page_x1, &page_y0, &page_y1);
  plschr(0, 0.7);
  plgchr(&def_ht, &ht);
  plschr(0, 1.0);
  const double label_width =
      longest ? (0.75 * static_cast<double>(longest) + 1.5) * ht / (page_x1 - page_x0) : 0.0;
  // Margins that hold the tick numbers and axis labels (none clipped).
  const double right = (legend ? 0.72 : 0.95) - label_width;
  plvpor(0.14, right, 0.12, 0.9);
  plwind(xmin - xpad, xmax + xpad, ymin - ypad, ymax + ypad);
  plcol0(1);
  plschr(0, 1.0);
  plbox("bcnst", 0, 0, p.log_y ? "bcnstlv" : "bcnstv", 0, 0);
  pllab(p.x_label.c_str(), p.y_label.c_str(), p.title.c_str());
  int colour = 2;
  std::vector<PLINT> leg_opt, leg_col, leg_lcol, leg_sym_n;
  std::vector<PLFLT> leg_scale, leg_width;
  std::vector<std::string> leg_text, leg_sym;
  std::vector<PLINT> leg_style;
  for (const auto& s : p.series) {
    plscol0(colour, s.rgb[0], s.rgb[1], s.rgb[2]);
    plcol0(colour);
    std::vector<double> y(s.y.size());
    for (std::size_t i = 0; i < y.size(); ++i)
      y[i] = p.log_y ? (s.y[i] > 0 ? std::log10(s.y[i]) : NAN) : s.y[i];
    // Draw runs of finite points.
    std::vector<double> rx, ry;
    auto flush = [&] {
      if (rx.size() > 1 && s.line) {
        if (s.dashed) pllsty(2);
        plwidth(s.width);
        plline(static_cast<PLINT>(rx.size()), rx.data(), ry.data());
        plwidth(1.0);
        pllsty(1);
      }
      rx.clear();
      ry.clear();
    };
    for (std::size_t i = 0; i < y.size() && i < s.x.size(); ++i) {
      if (std::isfinite(y[i]) && std::isfinite(s.x[i])) {
        rx.push_back(s.x[i]);
        ry.push_back(y[i]);
      } else {
        flush();
      }
    }
    flush();
    if (s.symbol) {
      std::vector<double> sx, sy;
      for (std::size_t i = 0; i < y.size() && i < s.x.size(); ++i)
        if (std::isfinite(y[i]) && std::isfinite(s.x[i])) sx.push_back(s.x[i]), sy.push_back(y[i]);
      plssym(0, 1.2);
      plsym(static_cast<PLINT>(sx.size()), sx.data(), sy.data(), s.symbol);
    }
    if (!s.y_err.empty() && !p.log_y) {
      for (std::size_t i = 0; i < s.x.size() && i < s.y_err.size(); ++i)
        if (std::isfinite(s.y_err[i]) && std::isfinite(s.y[i])) {
          const double lo = s.y[i] - s.y_err[i], hi = s.y[i] + s.y_err[i];
          plerry(1, &s.x[i], &lo, &hi);
        }
    }
    if (!s.label.empty()) {
      leg_opt.push_back((s.line ? PL_LEGEND_LINE : 0) | (s.symbol ? PL_LEGEND_SYMBOL : 0));
      leg_col.push_back(colour);
      leg_lcol.push_back(colour);
      leg_sym_n.push_back(s.symbol ? 1 : 0);
      leg_scale.push_back(1.0);
      leg_width.push_back(s.width);
      leg_text.push_back(s.label);
      leg_sym.push_back(s.symbol ? fmt::format("#({})", s.symbol) : "");
      leg_style.push_back(s.dashed ? 2 : 1);
    }
    if (colour < 255) ++colour;
  }
  plcol0(1);
  plschr(0, 0.7);
  {  // right of the box, level with each curve's end, moved apart where they would collide
    std::vector<std::pair<double, std::string>> at;  // fraction of the box height, text
    for (const auto& [y, text] : p.y_tick_labels) {
      const double yy = p.log_y ? std::log10(std::max(y, 1e-300)) : y;
      if (std::isfinite(yy)) at.emplace_back((yy - (ymin - ypad)) / (ymax - ymin + 2 * ypad), text);
    }
    std::sort(at.begin(), at.end());
    PLFLT vx0 = 0, vx1 = 0, vy0 = 0, vy1 = 0;
    plgvpd(&vx0, &vx1, &vy0, &vy1);
    plgchr(&def_ht, &ht);
    const double gap = 1.6 * ht / ((vy1 - vy0) * (page_y1 - page_y0));  // a line of cairo text, as a fraction
    for (std::size_t i = 1; i < at.size(); ++i) at[i].first = std::max(at[i].first, at[i - 1].first + gap);
    if (!at.empty() && at.back().first > 1.0) {  // pushed out of the top: back down from there
      at.back().first = 1.0;
      for (std::size_t i = at.size() - 1; i-- > 0;)
        at[i].first = std::min(at[i].first, at[i + 1].first - gap);
    }
    for (const auto& [pos, text] : at) plmtex("rv", 0.5, pos, 0.0, text.c_str());
  }
  plschr(0, 1.0);
  if (!leg_text.empty()) {
    std::vector<const char*> texts, syms;
    std::vector<PLINT>& styles = leg_style;
    for (std::size_t i = 0; i < leg_text.size(); ++i) {
      texts.push_back(leg_text[i].c_str());
      syms.push_back(leg_sym[i].c_str());
    }
    PLFLT w = 0, h = 0;
    const auto n = static_cast<PLINT>(leg_text.size());
    plschr(0, 0.8);
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE,
             0.02 + label_width / (right - 0.14), 0.0, 0.05, 0, 1, 1, 0, 0, n, leg_opt.data(), 0.8, 1.0, 2.0,
             0.0, leg_col.data(), texts.data(), nullptr, nullptr, nullptr, nullptr, leg_lcol.data(),
             styles.data(), leg_width.data(), leg_col.data(), leg_scale.data(), leg_sym_n.data(),
             syms.data());
  }
  plend1();
  if (!fs::exists(tmp))
    throw InputError(file.string(), std::string("PLplot wrote nothing (is the ") + dev +
                                        " driver installed? Debian: plplot-driver-cairo)");
  fs::rename(tmp, file);
}

XYPlot waterfall(const std::vector<std::vector<double>>& x, const std::vector<std::vector<double>>& y,
                 const std::vector<std::string>& labels, const std::vector<std::array<int, 3>>& colours,
                 bool log_y, const std::string& x_label, const std::string& title) {
  XYPlot p;
  p.title = title;
  p.x_label = x_label;
  p.y_label = log_y ? "I (offset, log scale)" : "I (offset)";
  p.log_y = log_y;
  p.height_px = 400 + 40.0 * static_cast<double>(std::min<std::size_t>(y.size(), 40));
  // Offset: the typical pattern height (linear) or one decade per 3 patterns (log).
  double span = 0;
  for (const auto& v : y) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (double e : v)
      if (std::isfinite(e)) lo = std::min(lo, e), hi = std::max(hi, e);
    if (hi > lo) span = std::max(span, 0.35 * (hi - lo));
  }
  for (std::size_t k = 0; k < y.size(); ++k) {
    Series s;
    s.x = x[k];
    s.y = y[k];
    const double factor = std::pow(10.0, 0.35 * static_cast<double>(k));
    for (auto& v : s.y) v = log_y ? v * factor : v + span * static_cast<double>(k);
    s.rgb = k < colours.size() ? colours[k] : std::array<int, 3>{0, 0, 0};
    if (!s.y.empty() && k < labels.size()) {
      double tail = s.y.back();
      for (auto it = s.y.rbegin(); it != s.y.rend(); ++it)
        if (std::isfinite(*it) && (!log_y || *it > 0)) {
          tail = *it;
          break;
        }
      p.y_tick_labels.emplace_back(tail, labels[k]);
    }
    p.series.push_back(std::move(s));
  }
  return p;
}

}  // namespace anvil::pipeline
