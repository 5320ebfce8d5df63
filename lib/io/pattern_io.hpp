// Integrated patterns on disk: pyFAI-style text (.xy, .xye, .chi, .dat) and one HDF5/NeXus file
// holding every frame of a scan (NXdata, ready for the pipeline and silx/pyMca/DAWN).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/pattern.hpp"

namespace anvil::io {

// Writes x, I (and σ when present and `with_sigma`) as text. Header lines are written after
// "# " as pyFAI does (geometry, method, date); ".chi" files get Fit2D's 4-line header instead.
// A q pattern as ".chi" is written as GSAS-II reads one: q in Å⁻¹ and the axis line
// "Q <wavelength Å> (A^-1)" when `wavelength_a` is given (GSAS-II needs it to go to 2θ).
void write_pattern_text(const std::string& path, const Pattern1D& pattern,
                        const std::vector<std::string>& header, bool with_sigma = true,
                        std::optional<double> wavelength_a = std::nullopt);

// Reads 2- or 3-column text (x, I[, σ]); '#' lines are comments. The unit comes from a header
// naming it (pyFAI's "# ... q_nm^-1", "2th_deg", "q_A^-1", a column header "# q_nm^-1 I sigma"),
// else from `fallback_unit`; with neither, an InputError asks for --x-unit. A ".pdh" file is read by
// read_pattern_pdh.
Pattern1D read_pattern_text(const std::string& path, std::optional<RadialUnit> fallback_unit = std::nullopt);

// Reads an Anton Paar PDH file (SAXSquant/SAXSess): a title line, a keyword line, a line of 8 integers
// (the first the number of points), two lines of 5 reals (the fifth of the first is λ in nm), then
// N rows "q I σ" and optionally an XML footer whose column X names the q unit ("n_m^-1" or "a^-1").
// The q unit defaults to nm⁻¹, as SAXSquant writes it. Malformed files are an InputError naming the
// line.
Pattern1D read_pattern_pdh(const std::string& path);

// Parses a unit name: q_nm^-1 (also "q_nm-1", "nm^-1"), q_A^-1, 2th_deg, d_A, r_mm.
RadialUnit parse_radial_unit(const std::string& name);

// One HDF5 file with all frames' patterns: /entry/<name>/ {x axis, I[frame][bin], I_errors,
// frame_index}, NXdata with signal/axes attributes; frames are appended in any order. With a χ
// axis (degrees) it holds 2D cakes instead: I[frame][chi][radial]. The file is written under a
// temporary name and renamed on close(), so a reader never sees a half-written one.
class PatternStackWriter {
 public:
  PatternStackWriter(const std::string& path, const std::string& name, RadialUnit unit,
                     const std::vector<double>& x,
                     const std::vector<std::pair<std::string, std::string>>& provenance = {},
                     const std::vector<double>& chi_deg = {});
  // Cakes: intensity and sigma hold chi × radial values, row-major.
  void append_cake(std::size_t frame_index, const std::vector<double>& intensity,
                   const std::vector<double>& sigma);
  ~PatternStackWriter();
  PatternStackWriter(const PatternStackWriter&) = delete;
  PatternStackWriter& operator=(const PatternStackWriter&) = delete;
  void append(std::size_t frame_index, const Pattern1D& pattern);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads frame `k` (0-based position in the file) of a PatternStackWriter file.
Pattern1D read_pattern_stack(const std::string& path, const std::string& name, std::size_t k);
std::size_t pattern_stack_size(const std::string& path, const std::string& name);
// The frame numbers a stack records (/entry/<name>/frame_index), empty when it records none.
std::vector<std::size_t> pattern_stack_frame_index(const std::string& path, const std::string& name);
// A text of the file's provenance (/entry/process/<key>, e.g. "poni"), empty when absent.
std::string pattern_stack_process_text(const std::string& path, const std::string& key);

}  // namespace anvil::io
