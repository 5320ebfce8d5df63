// Figures of a scan, drawn with PLplot (cairo: PNG, SVG, PDF). Plot functions take plain
// data; the scan-specific ones (waterfalls, fractions vs pressure) build on `XYPlot`.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace anvil::pipeline {

struct Series {
  std::vector<double> x, y;
  std::vector<double> y_err;  // optional error bars
  std::string label;          // legend text; empty: not in the legend
  std::array<int, 3> rgb = {0, 0, 0};
  bool line = true;  // draw a line through the points
  int symbol = 0;    // 0: none; PLplot Hershey symbol code otherwise (e.g. 840 circle, 841 square)
  bool dashed = false;
  double width = 1.0;  // line width (a fitted curve: 2.5, thicker than data)
};

struct XYPlot {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;
  double width_px = 1000, height_px = 700;
  std::vector<std::pair<double, std::string>> y_tick_labels;  // text at the right end of curves
};

// Writes the plot; the format follows the extension (.png, .svg, .pdf). SVG is PLplot's own svg
// driver, whose text stays text (<text>, editable and searchable); PNG and PDF are cairo's.
// `y_tick_labels` go to the right of the curves, outside them. A series without points but with
// a label is a legend entry only. Throws InputError naming the file when the driver is missing
// or the file cannot be written.
void draw_plot(const std::filesystem::path& file, const XYPlot& plot);

// A waterfall: each pattern shifted up by `offset` × (its index) (log: multiplied by 10^offset),
// labelled at its right end.
XYPlot waterfall(const std::vector<std::vector<double>>& x, const std::vector<std::vector<double>>& y,
                 const std::vector<std::string>& labels, const std::vector<std::array<int, 3>>& colours,
                 bool log_y, const std::string& x_label, const std::string& title);

}  // namespace anvil::pipeline
