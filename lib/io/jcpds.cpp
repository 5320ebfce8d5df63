#include "io/jcpds.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "core/text.hpp"

namespace anvil::io {
namespace {

std::vector<std::string_view> split_numbers(std::string_view s) {  // whitespace and commas
  std::vector<std::string_view> out;
  std::size_t i = 0;
  auto sep = [](char c) { return std::isspace(static_cast<unsigned char>(c)) || c == ','; };
  while (i < s.size()) {
    while (i < s.size() && sep(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !sep(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::optional<double> to_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = text.substr(pos, nl - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    lines.push_back(l);
    pos = nl + 1;
  }
  return lines;
}

}  // namespace

pressure::JcpdsCard parse_jcpds(std::string_view text, const std::string& source, const std::string& name) {
  pressure::JcpdsCard card;
  card.name = name;
  const auto lines = lines_of(text);
  std::size_t first = 0;
  while (first < lines.size() && trim(lines[first]).empty()) ++first;
  if (first == lines.size()) throw InputError(source, "empty JCPDS file");

  auto number = [&](std::string_view v, std::size_t line_no, std::string_view key) {
    const auto d = to_double(trim(v));
    if (!d)
      throw InputError(source,
                       fmt::format("line {}: {} must be a number, got \"{}\"", line_no, key, trim(v)));
    return *d;
  };
  auto reflection = [&](std::string_view v, std::size_t line_no) {
    const auto parts = split_numbers(v);
    if (parts.size() < 5)
      throw InputError(source, fmt::format("line {}: a reflection needs d, intensity, h, k, l; got \"{}\"",
                                           line_no, trim(v)));
    pressure::JcpdsReflection r;
    r.d0_angstrom = number(parts[0], line_no, "d");
    r.intensity = number(parts[1], line_no, "intensity");
    int* hkl[3] = {&r.h, &r.k, &r.l};
    for (int i = 0; i < 3; ++i) {
      const double x = number(parts[static_cast<std::size_t>(2 + i)], line_no, "a Miller index");
      if (x != std::round(x))
        throw InputError(source, fmt::format("line {}: Miller index {} is not an integer", line_no, x));
      *hkl[i] = static_cast<int>(std::lround(x));
    }
    if (!(r.d0_angstrom > 0.0))
      throw InputError(source,
                       fmt::format("line {}: d-spacing must be positive, got {}", line_no, r.d0_angstrom));
    return r;
  };

  const std::string_view head = trim(lines[first]);
  if (upper(head.substr(0, 8)) == "VERSION:") {
    const std::string_view v = trim(head.substr(8));
    card.version = static_cast<int>(number(v, first + 1, "VERSION"));
    bool have_symmetry = false, have_a = false;
    for (std::size_t i = first + 1; i < lines.size(); ++i) {
      const std::string_view line = trim(lines[i]);
      const std::size_t line_no = i + 1;
      if (line.empty()) continue;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;  // not a keyword line; Dioptas skips these too
      const std::string key = upper(trim(line.substr(0, colon)));
      const std::string_view value = trim(line.substr(colon + 1));
      if (key == "COMMENT") {
        card.comments.emplace_back(value);
      } else if (key == "NAME") {
        if (card.name.empty()) card.name = std::string(value);
      } else if (key == "K0") {
        card.k0_gpa = number(value, line_no, key);
      } else if (key == "K0P") {
        card.k0_prime = number(value, line_no, key);
      } else if (key == "DK0DT") {
        card.dk0_dt = number(value, line_no, key);
      } else if (key == "DK0PDT") {
        card.dk0p_dt = number(value, line_no, key);
      } else if (key == "SYMMETRY") {
        card.symmetry = upper(value);
        have_symmetry = true;
      } else if (key == "A") {
        card.a = number(value, line_no, key);
        have_a = true;
      } else if (key == "B") {
        card.b = number(value, line_no, key);
      } else if (key == "C") {
        card.c = number(value, line_no, key);
      } else if (key == "ALPHA") {
        card.alpha_deg = number(value, line_no, key);
      } else if (key == "BETA") {
        card.beta_deg = number(value, line_no, key);
      } else if (key == "GAMMA") {
        card.gamma_deg = number(value, line_no, key);
      } else if (key == "VOLUME") {
        card.volume = number(value, line_no, key);
      } else if (key == "ALPHAT") {
        card.alpha_t = number(value, line_no, key);
      } else if (key == "DALPHADT") {
        card.dalpha_dt = number(value, line_no, key);
      } else if (key == "DIHKL") {
        card.reflections.push_back(reflection(value, line_no));
      }
    }
    if (!have_symmetry) throw InputError(source, "JCPDS card without a SYMMETRY: line");
    if (!have_a) throw InputError(source, "JCPDS card without a lattice parameter (A: line)");
  } else {
    // Version 1: comment, "code a0 K0 K0' c0/a0", labels, reflections (Dioptas jcpds.py).
    card.version = 1;
    card.comments.emplace_back(head);
    if (first + 2 >= lines.size())
      throw InputError(source,
                       "neither 'VERSION: 4' nor the old fixed format (comment, lattice/EOS line, labels, "
                       "reflections)");
    const auto params = split_numbers(lines[first + 1]);
    if (params.size() < 5)
      throw InputError(source,
                       fmt::format("line {}: expected 'symmetry-code a0 K0 K0' c0/a0' (old JCPDS format) "
                                   "or 'VERSION: 4' on line {}",
                                   first + 2, first + 1));
    const double code = number(params[0], first + 2, "symmetry code");
    if (code == 1)
      card.symmetry = "CUBIC";
    else if (code == 2)
      card.symmetry = "HEXAGONAL";
    else
      throw InputError(source, fmt::format("line {}: symmetry code {} (old JCPDS format knows 1 = cubic, "
                                           "2 = hexagonal)",
                                           first + 2, code));
    card.a = number(params[1], first + 2, "a0");
    card.k0_gpa = number(params[2], first + 2, "K0");
    card.k0_prime = number(params[3], first + 2, "K0'");
    if (card.symmetry == "HEXAGONAL") card.c = card.a * number(params[4], first + 2, "c0/a0");
    for (std::size_t i = first + 3; i < lines.size(); ++i)
      if (!trim(lines[i]).empty()) card.reflections.push_back(reflection(lines[i], i + 1));
  }
  if (!(card.a > 0.0))
    throw InputError(source, fmt::format("lattice parameter A must be positive, got {}", card.a));
  return card;
}

pressure::JcpdsCard read_jcpds(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open JCPDS file (does the file exist?)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_jcpds(ss.str(), path.string(), path.stem().string());
}

}  // namespace anvil::io
