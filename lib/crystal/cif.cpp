// gemmi's CIF parser (PEGTL, header-only) and small-molecule reader. gemmi's sprintf.hpp
// would otherwise need the stb_sprintf header, which Debian's gemmi-dev does not ship.
#define USE_STD_SNPRINTF 1
#include "crystal/cif.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <gemmi/cif.hpp>
#include <gemmi/numb.hpp>
#include <gemmi/smcif.hpp>
#include <gemmi/symmetry.hpp>
#include <stdexcept>

#include "core/error.hpp"

namespace anvil::crystal {

namespace {

const std::string* find_first_value(gemmi::cif::Block& block, std::initializer_list<const char*> tags) {
  for (const char* tag : tags)
    if (const std::string* v = block.find_value(tag))
      if (!gemmi::cif::is_null(*v)) return v;
  return nullptr;
}

double number_or(const std::string* v, double fallback) {
  if (!v) return fallback;
  const double x = gemmi::cif::as_number(*v);
  return std::isnan(x) ? fallback : x;
}

const gemmi::SpaceGroup* space_group_of(gemmi::cif::Block& block, const Lattice& cell,
                                        const std::string& source) {
  if (const std::string* hm =
          find_first_value(block, {"_space_group_name_H-M_alt", "_symmetry_space_group_name_H-M"})) {
    const std::string name = gemmi::cif::as_string(*hm);
    if (const gemmi::SpaceGroup* sg = gemmi::find_spacegroup_by_name(name, cell.alpha_deg, cell.gamma_deg))
      return sg;
    throw InputError(source, "unknown space group '" + name + "'");
  }
  for (const char* tag : {"_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz"}) {
    gemmi::cif::Column col = block.find_values(tag);
    if (!col || col.length() == 0) continue;
    std::vector<gemmi::Op> ops;
    try {
      for (const std::string& v : col) ops.push_back(gemmi::parse_triplet(gemmi::cif::as_string(v)));
      const gemmi::GroupOps group = gemmi::split_centering_vectors(ops);
      if (const gemmi::SpaceGroup* sg = gemmi::find_spacegroup_by_ops(group)) return sg;
    } catch (const std::exception& e) {
      throw InputError(source, std::string("bad symmetry operator in ") + tag + ": " + e.what());
    }
    throw InputError(source, std::string("the operators in ") + tag + " form no known space group");
  }
  if (const std::string* num =
          find_first_value(block, {"_space_group_IT_number", "_symmetry_Int_Tables_number"})) {
    const double n = gemmi::cif::as_number(*num);
    if (const gemmi::SpaceGroup* sg =
            std::isnan(n) ? nullptr : gemmi::find_spacegroup_by_number(static_cast<int>(n)))
      return sg;
    throw InputError(source, "unknown space group number '" + *num + "'");
  }
  throw InputError(source,
                   "no space group (_space_group_name_H-M_alt, _symmetry_space_group_name_H-M, "
                   "_space_group_symop_operation_xyz or _space_group_IT_number)");
}

Phase phase_from_document(gemmi::cif::Document& doc, const std::string& source, const std::string& name) {
  gemmi::cif::Block* block = nullptr;
  for (gemmi::cif::Block& b : doc.blocks)
    if (b.find_value("_cell_length_a")) {
      block = &b;
      break;
    }
  if (!block) {
    if (doc.blocks.empty()) throw InputError(source, "no CIF data block");
    throw InputError(source, "no unit cell (_cell_length_a, _cell_length_b, _cell_length_c)");
  }
  const std::string* a = find_first_value(*block, {"_cell_length_a"});
  const std::string* b = find_first_value(*block, {"_cell_length_b"});
  const std::string* c = find_first_value(*block, {"_cell_length_c"});
  if (!a || !b || !c)
    throw InputError(source, "no unit cell (_cell_length_a, _cell_length_b, _cell_length_c)");
  Lattice cell{number_or(a, NAN),
               number_or(b, NAN),
               number_or(c, NAN),
               number_or(block->find_value("_cell_angle_alpha"), 90.0),
               number_or(block->find_value("_cell_angle_beta"), 90.0),
               number_or(block->find_value("_cell_angle_gamma"), 90.0)};
  if (!(cell.a > 0 && cell.b > 0 && cell.c > 0))
    throw InputError(source,
                     fmt::format("unit cell lengths '{}', '{}', '{}' are not positive numbers", *a, *b, *c));
  const gemmi::SpaceGroup* sg = space_group_of(*block, cell, source);

  const gemmi::SmallStructure st = gemmi::make_small_structure_from_block(*block);
  std::vector<Site> sites;
  for (const auto& s : st.sites) {
    if (s.element.elem == gemmi::El::X)
      throw InputError(source, fmt::format("site {}: unknown element '{}'", s.label, s.type_symbol));
    if (std::isnan(s.fract.x) || std::isnan(s.fract.y) || std::isnan(s.fract.z))
      throw InputError(source, fmt::format("site {}: no fractional coordinates", s.label));
    sites.push_back(Site{s.label,
                         s.element.name(),
                         {s.fract.x, s.fract.y, s.fract.z},
                         s.occ,
                         std::isnan(s.u_iso) ? 0.0 : 8.0 * M_PI * M_PI * s.u_iso});
  }
  if (sites.empty()) throw InputError(source, "no atom sites (_atom_site_label, _atom_site_fract_x, ...)");
  const int z_hint =
      static_cast<int>(std::lround(number_or(block->find_value("_cell_formula_units_Z"), 0.0)));
  try {
    Phase p = make_phase(name, cell, *sg, std::move(sites), z_hint);
    p.source = source;
    return p;
  } catch (const InputError& e) {
    // make_phase names the phase; the reader names the file it came from.
    throw InputError(source, e.problem());
  }
}

std::string normalised(std::string s) {
  for (char& ch : s) ch = ch == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

Phase read_phase_cif(const std::filesystem::path& path) {
  const std::string source = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(source, "file not found");
  gemmi::cif::Document doc;
  try {
    doc = gemmi::cif::read_file(source);
  } catch (const std::exception& e) {
    throw InputError(source, std::string("not a readable CIF: ") + e.what());
  }
  return phase_from_document(doc, source, path.stem().string());
}

Phase phase_from_cif_text(const std::string& text, const std::string& source) {
  gemmi::cif::Document doc;
  try {
    doc = gemmi::cif::read_string(text);
  } catch (const std::exception& e) {
    throw InputError(source, std::string("not a readable CIF: ") + e.what());
  }
  return phase_from_document(doc, source, source);
}

std::vector<std::string> phase_names(const std::filesystem::path& phase_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(phase_dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".cif")
      names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::filesystem::path resolve_phase_path(const std::string& name_or_path,
                                         const std::filesystem::path& phase_dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(name_or_path, ec)) return name_or_path;
  const std::vector<std::string> names = phase_names(phase_dir);
  for (const std::string& n : names)
    if (normalised(n) == normalised(name_or_path)) return phase_dir / (n + ".cif");
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  throw InputError(name_or_path,
                   known.empty()
                       ? fmt::format("no such CIF file, and no phase folder at {}", phase_dir.string())
                       : fmt::format("no such CIF file or phase name (known: {})", known));
}

Phase load_phase(const std::string& name_or_path, const std::filesystem::path& phase_dir) {
  return read_phase_cif(resolve_phase_path(name_or_path, phase_dir));
}

}  // namespace anvil::crystal
