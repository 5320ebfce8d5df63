#include "scan_outputs_nexus.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "geometry/geometry.hpp"

namespace anvil::pipeline {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A text column: it has strings, or neither values nor units (a numeric column of a table without
// rows still has its units).
bool is_text(const io::TableColumn& c) {
  return !c.strings.empty() || (c.numbers.empty() && c.units.empty());
}

// The table's column `from` as the field `name`, with the column's units.
io::NxField field(const std::vector<io::TableColumn>& table, const std::string& from,
                  const std::string& name) {
  const auto& c = column(table, from);
  io::NxField f;
  f.name = name;
  f.units = c.units;
  f.numbers = c.numbers;
  f.strings = c.strings;
  f.text = is_text(c);
  return f;
}

// The same for the rows `rows` of the table (npos: a row it lacks, NaN or "").
io::NxField field(const std::vector<io::TableColumn>& table, const std::string& from, const std::string& name,
                  const std::vector<std::size_t>& rows) {
  const auto& c = column(table, from);
  io::NxField f;
  f.name = name;
  f.units = c.units;
  f.text = is_text(c);
  for (const auto r : rows) {
    if (f.text)
      f.strings.push_back(r < c.strings.size() ? c.strings[r] : std::string());
    else
      f.numbers.push_back(r < c.numbers.size() ? c.numbers[r] : kNaN);
  }
  return f;
}

io::NxField scalar(const std::string& name, double v, const std::string& units) {
  io::NxField f;
  f.name = name;
  f.units = units;
  f.numbers = {v};
  f.scalar = true;
  return f;
}

io::NxField text(const std::string& name, const std::string& v) {
  io::NxField f;
  f.name = name;
  f.strings = {v};
  f.text = f.scalar = true;
  return f;
}

// An NXdata of per-frame results: `signal` against pressure, with the frame number as a second
// axis of the same dimension; against the frame number when the scan has no pressure at all.
io::NxGroup per_frame_nxdata(const ScanTables& t, const std::string& name, const std::string& signal,
                             const std::vector<std::string>& auxiliary = {}) {
  bool pressure = false;
  for (const auto* table : {&t.frames, &t.fractions, &t.superlattice})
    for (const auto& c : *table)
      if (c.name == "pressure_gpa")
        for (const double p : c.numbers) pressure = pressure || std::isfinite(p);
  io::NxGroup g;
  g.name = name;
  g.nx_class = "NXdata";
  g.attributes = {{"signal", signal}};
  g.array_attributes = {{"axes", {pressure ? "pressure" : "frame"}}};
  if (!auxiliary.empty()) g.array_attributes.push_back({"auxiliary_signals", auxiliary});
  g.int_attributes = {{"pressure_indices", 0}, {"frame_indices", 0}};
  return g;
}

void add(io::NxGroup& g, io::NxField f, const std::string& long_name = "") {
  if (!long_name.empty()) f.attributes.push_back({"long_name", long_name});
  g.fields.push_back(std::move(f));
}

// Rows of `table` whose column `key` is `value`.
std::vector<std::size_t> rows_where(const std::vector<io::TableColumn>& table, const std::string& key,
                                    const std::string& value) {
  std::vector<std::size_t> out;
  const auto& c = column(table, key);
  for (std::size_t i = 0; i < c.strings.size(); ++i)
    if (c.strings[i] == value) out.push_back(i);
  return out;
}

bool has_column(const std::vector<io::TableColumn>& table, const std::string& name) {
  for (const auto& c : table)
    if (c.name == name) return true;
  return false;
}

io::NxGroup fractions_group(const ScanTables& t) {
  const auto& pf = t.fractions;
  std::vector<std::string> names;
  for (const auto& ph : t.phases) names.push_back(nexus_name(ph));
  auto g = per_frame_nxdata(t, "fractions", names.front(),
                            std::vector<std::string>(names.begin() + 1, names.end()));
  std::vector<std::string> done = {"frame", "pressure_gpa", "direction"};
  add(g, field(pf, "frame", "frame"));
  add(g, field(pf, "pressure_gpa", "pressure"), "pressure (GPa)");
  add(g, field(pf, "direction", "direction"));
  for (std::size_t k = 0; k < t.phases.size(); ++k) {
    add(g, field(pf, t.phases[k], names[k]), t.phases[k] + " fraction");
    add(g, field(pf, t.phases[k] + "_esd", names[k] + "_errors"));
    done.push_back(t.phases[k]);
    done.push_back(t.phases[k] + "_esd");
  }
  // The rest under their own names: rwp, status, reason (anvil run); pressure_esd_gpa,
  // pressure_source, standard_pressure_gpa, notes (anvil fit-series).
  for (const auto& c : pf)
    if (std::find(done.begin(), done.end(), c.name) == done.end())
      add(g, field(pf, c.name, nexus_name(c.name)));
  return g;
}

// One sample phase over every fitted frame (the rows of phase_fractions.csv): its fraction and,
// where it is present (its rows of lattice.csv), cell, volume, size and strongest lines.
io::NxGroup phase_group(const ScanTables& t, std::size_t k) {
  const auto& pf = t.fractions;
  const auto& lat = t.lattice;
  const std::string& phase = t.phases[k];
  std::map<double, std::size_t> lattice_row;  // frame -> row of lattice.csv for this phase
  const auto& lat_frame = column(lat, "frame").numbers;
  for (const auto r : rows_where(lat, "phase", phase)) lattice_row[lat_frame[r]] = r;
  std::vector<std::size_t> all(column(pf, "frame").numbers.size()), rows;
  for (std::size_t i = 0; i < all.size(); ++i) {
    all[i] = i;
    const auto it = lattice_row.find(column(pf, "frame").numbers[i]);
    rows.push_back(it == lattice_row.end() ? std::size_t(-1) : it->second);
  }
  auto g = per_frame_nxdata(t, nexus_name(phase), "volume");
  g.attributes.push_back({"phase", phase});
  add(g, field(pf, "frame", "frame", all));
  add(g, field(pf, "pressure_gpa", "pressure", all), "pressure (GPa)");
  add(g, field(pf, "direction", "direction", all));
  add(g, field(pf, phase, "fraction", all), phase + " fraction");
  add(g, field(pf, phase + "_esd", "fraction_errors", all));
  for (const auto& [csv, name, long_name] : {std::tuple{"a_A", "a", "a (angstrom)"},
                                             {"a_esd_A", "a_errors", ""},
                                             {"c_A", "c", "c (angstrom)"},
                                             {"c_esd_A", "c_errors", ""},
                                             {"volume_A3", "volume", "cell volume (angstrom^3)"},
                                             {"volume_esd_A3", "volume_errors", ""},
                                             {"size_nm", "size", "crystallite size (nm)"},
                                             {"size_esd_nm", "size_errors", ""}})
    add(g, field(lat, csv, name, rows), long_name);
  for (int l = 1; l <= 3; ++l) {
    add(g, field(lat, fmt::format("d{}_hkl", l), fmt::format("d{}_hkl", l), rows));
    add(g, field(lat, fmt::format("d{}_spacing_A", l), fmt::format("d{}_spacing", l), rows),
        fmt::format("d of line {} (angstrom)", l));
    add(g, field(lat, fmt::format("d{}_spacing_esd_A", l), fmt::format("d{}_spacing_errors", l), rows));
  }
  if (has_column(lat, "alpha")) {
    add(g, field(lat, "alpha", "alpha", rows), "stacking-fault probability");
    add(g, field(lat, "alpha_esd", "alpha_errors", rows));
  }
  return g;
}

io::NxGroup other_phase_group(const ScanTables& t, const std::string& phase) {
  const auto& op = t.other_phases;
  const auto rows = rows_where(op, "phase", phase);
  auto g = per_frame_nxdata(t, nexus_name(phase), "a");
  g.attributes.push_back({"phase", phase});
  add(g, field(op, "frame", "frame", rows));
  add(g, field(op, "pressure_gpa", "pressure", rows), "pressure (GPa)");
  add(g, field(op, "direction", "direction", rows));
  add(g, field(op, "a_A", "a", rows), phase + " a (angstrom)");
  add(g, field(op, "a_esd_A", "a_errors", rows));
  add(g, field(op, "fwhm_inv_A", "fwhm", rows), "peak FWHM in q");
  add(g, field(op, "fwhm_slope", "fwhm_slope", rows));
  add(g, field(op, "marker_pressure_gpa", "marker_pressure", rows), "pressure from this marker's cell (GPa)");
  add(g, field(op, "marker_pressure_esd_gpa", "marker_pressure_errors", rows));
  return g;
}

// The group of `parent` made for `key`, made from `fresh` the first time it is asked for.
io::NxGroup& subgroup(io::NxGroup& parent, std::map<std::string, std::size_t>& made, const std::string& key,
                      io::NxGroup fresh) {
  const auto [it, is_new] = made.emplace(key, parent.groups.size());
  if (is_new) parent.groups.push_back(std::move(fresh));
  return parent.groups[it->second];
}

// eos.csv: per phase an NXcollection, per form an NXparameters of V0, K0, K0' with σ.
io::NxGroup eos_group(const ScanTables& t) {
  io::NxGroup eos{"eos", "NXcollection"};
  const auto& e = t.eos;
  const auto& phase = column(e, "phase").strings;
  std::map<std::string, std::size_t> by_phase;
  for (std::size_t r = 0; r < phase.size(); ++r) {
    io::NxGroup fresh{nexus_name(phase[r]), "NXcollection"};
    fresh.attributes.push_back({"phase", phase[r]});
    auto& p = subgroup(eos, by_phase, phase[r], std::move(fresh));
    const std::string form = column(e, "form").strings[r];
    io::NxGroup f{nexus_name(form), "NXparameters"};
    f.fields.push_back(text("form", form));
    const auto num = [&](const char* csv, const char* name) {
      const auto& c = column(e, csv);
      f.fields.push_back(scalar(name, c.numbers[r], c.units));
    };
    num("v0_A3", "V0");
    num("v0_esd_A3", "V0_errors");
    num("k0_gpa", "K0");
    num("k0_esd_gpa", "K0_errors");
    num("k0p", "K0_prime");
    num("k0p_esd", "K0_prime_errors");
    num("chi2_red", "chi2_reduced");
    num("n_points", "n_points");
    f.fields.push_back(text("status", column(e, "status").strings[r]));
    p.groups.push_back(std::move(f));
  }
  return eos;
}

// transitions.csv: an NXparameters per direction ("scan" for the hysteresis), one field per
// quantity with its σ as QUANTITY_errors; a quantity with no number (no transformation found)
// is a text field saying why.
io::NxGroup transitions_group(const ScanTables& t) {
  io::NxGroup out{"transitions", "NXcollection"};
  const auto& tr = t.transitions;
  const auto& q = column(tr, "quantity").strings;
  std::map<std::string, std::size_t> by_direction;
  for (std::size_t r = 0; r < q.size(); ++r) {
    std::string d = column(tr, "direction").strings[r];
    if (d.empty()) d = "scan";
    auto& g = subgroup(out, by_direction, d, {d, "NXparameters"});
    const std::string unit = column(tr, "unit").strings[r];
    const double v = column(tr, "value").numbers[r];
    const std::string note = column(tr, "note").strings[r];
    const bool seen =
        std::any_of(g.fields.begin(), g.fields.end(), [&](const auto& f) { return f.name == q[r]; });
    if (unit.empty() && !std::isfinite(v)) {
      // Without frames of known direction both directions' rows say the same, under "unknown".
      if (!seen) g.fields.push_back(text(q[r], note));
      continue;
    }
    if (seen) throw std::logic_error("transitions.csv has " + q[r] + " twice for " + d);
    const std::string units = unit == "fraction" ? "1" : unit;
    auto f = scalar(q[r], v, units);
    f.attributes = {{"from_phase", column(tr, "from_phase").strings[r]},
                    {"to_phase", column(tr, "to_phase").strings[r]},
                    {"note", note}};
    g.fields.push_back(std::move(f));
    g.fields.push_back(scalar(q[r] + "_errors", column(tr, "esd").numbers[r], units));
  }
  return out;
}

io::NxGroup superlattice_group(const ScanTables& t) {
  const auto& s = t.superlattice;
  auto g = per_frame_nxdata(t, "superlattice", "a", {"d_first"});
  add(g, field(s, "frame", "frame"));
  add(g, field(s, "pressure_gpa", "pressure"), "pressure (GPa)");
  add(g, field(s, "direction", "direction"));
  add(g, field(s, "lattice", "lattice"));
  add(g, field(s, "a_nm", "a"), "superlattice constant a (nm)");
  add(g, field(s, "a_esd_nm", "a_errors"));
  add(g, field(s, "c_nm", "c"), "superlattice constant c (nm)");
  add(g, field(s, "c_esd_nm", "c_errors"));
  add(g, field(s, "d_first_nm", "d_first"), "d of the first indexed peak (nm)");
  add(g, field(s, "d_nn_nm", "d_nn"), "nearest-neighbour distance (nm)");
  add(g, field(s, "domain_nm", "domain"), "domain size (nm)");
  add(g, field(s, "score", "score"), "BIC evidence of the lattice");
  add(g, field(s, "status", "status"));
  add(g, field(s, "change", "change"));
  add(g, field(s, "runner_up", "runner_up"), "the next-best lattice");
  add(g, field(s, "runner_up_a_nm", "runner_up_a"), "its constant a (nm)");
  add(g, field(s, "runner_up_score", "runner_up_score"));
  return g;
}

io::NxGroup frames_group(const ScanTables& t) {
  const auto& f = t.frames;
  io::NxGroup g{"frames", "NXdata"};
  g.attributes = {{"signal", "pressure"}};
  g.array_attributes = {{"axes", {"frame"}}};
  g.int_attributes = {{"frame_indices", 0}};
  add(g, field(f, "frame", "frame"));
  add(g, field(f, "pressure_gpa", "pressure"), "pressure (GPa)");
  add(g, field(f, "pressure_esd_gpa", "pressure_errors"));
  add(g, field(f, "direction", "direction"));
  for (const char* s : {"waxs_status", "saxs_status"})
    if (has_column(f, s)) add(g, field(f, s, s));
  add(g, field(f, "error", "error"));
  return g;
}

io::NxGroup sample_group(const ScanTables& t, const NexusScan& scan) {
  io::NxGroup g{"sample", "NXsample"};
  g.fields.push_back(text("name", scan.sample_name.empty() ? scan.title : scan.sample_name));
  if (!scan.sample_medium.empty()) g.fields.push_back(text("pressure_medium", scan.sample_medium));
  if (!scan.sample_description.empty()) g.fields.push_back(text("description", scan.sample_description));
  add(g, field(t.frames, "frame", "frame"));
  add(g, field(t.frames, "pressure_gpa", "pressure"), "pressure per frame (GPa)");
  add(g, field(t.frames, "pressure_esd_gpa", "pressure_errors"));
  add(g, field(t.frames, "direction", "direction"));
  return g;
}

io::NxGroup instrument_group(const NexusScan& scan) {
  io::NxGroup g{"instrument", "NXinstrument"};
  const double lambda_m = scan.detectors.front().geometry.wavelength_m;
  io::NxGroup mono{"monochromator", "NXmonochromator"};
  mono.fields.push_back(scalar("wavelength", lambda_m * 1e10, "angstrom"));
  mono.fields.push_back(scalar("energy", geometry::energy_kev_from_wavelength_m(lambda_m), "keV"));
  g.groups.push_back(std::move(mono));
  for (const auto& d : scan.detectors) {
    const auto& geo = d.geometry;
    io::NxGroup det{d.name + "_detector", "NXdetector"};
    det.fields.push_back(text("description", geo.detector.name));
    det.fields.push_back(scalar("distance", geo.dist_m, "m"));
    det.fields.push_back(scalar("x_pixel_size", geo.detector.pixel2_m, "m"));
    det.fields.push_back(scalar("y_pixel_size", geo.detector.pixel1_m, "m"));
    // The pyFAI geometry, as the .poni states it (point of normal incidence and rotations).
    det.fields.push_back(scalar("poni1", geo.poni1_m, "m"));
    det.fields.push_back(scalar("poni2", geo.poni2_m, "m"));
    det.fields.push_back(scalar("rot1", geo.rot1, "rad"));
    det.fields.push_back(scalar("rot2", geo.rot2, "rad"));
    det.fields.push_back(scalar("rot3", geo.rot3, "rad"));
    det.fields.push_back(scalar("incident_wavelength", geo.wavelength_m * 1e10, "angstrom"));
    g.groups.push_back(std::move(det));
  }
  return g;
}

}  // namespace

std::string nexus_name(const std::string& name) {
  std::string out;
  for (const char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out.front()))) out.insert(out.begin(), '_');
  return out;
}

io::NxGroup results_entry(const ScanTables& t, const NexusScan& scan, std::string* default_group) {
  io::NxGroup entry;
  entry.fields.push_back(text("title", scan.title));
  auto program = text("program_name", "anvil");
  program.attributes = {{"version", ANVIL_VERSION}};
  entry.fields.push_back(std::move(program));
  std::string dflt;
  if (!t.frames.empty()) entry.groups.push_back(frames_group(t));
  if (!t.phases.empty() && !t.fractions.empty()) {
    entry.groups.push_back(fractions_group(t));
    io::NxGroup phases{"phases", "NXcollection"};
    for (std::size_t k = 0; k < t.phases.size(); ++k) phases.groups.push_back(phase_group(t, k));
    entry.groups.push_back(std::move(phases));
    dflt = "fractions";
  }
  if (!t.others.empty() && !t.other_phases.empty()) {
    io::NxGroup others{"other_phases", "NXcollection"};
    for (const auto& o : t.others) others.groups.push_back(other_phase_group(t, o));
    entry.groups.push_back(std::move(others));
  }
  if (!t.eos.empty()) entry.groups.push_back(eos_group(t));
  if (!t.transitions.empty()) entry.groups.push_back(transitions_group(t));
  if (!t.superlattice.empty()) {
    entry.groups.push_back(superlattice_group(t));
    if (dflt.empty()) dflt = "superlattice";
  }
  if (!t.frames.empty()) entry.groups.push_back(sample_group(t, scan));
  if (!scan.detectors.empty()) entry.groups.push_back(instrument_group(scan));
  if (scan.monitor) {
    io::NxGroup m{"monitor", "NXmonitor"};
    m.fields.push_back(text("mode", "monitor"));
    io::NxField data;
    data.name = "data";
    data.units = "counts";
    data.numbers = scan.monitor->counts;
    data.attributes = {{"long_name", "counter " + scan.monitor->counter}, {"source", scan.monitor->source}};
    m.fields.push_back(std::move(data));
    add(m, field(t.frames, "frame", "frame"));
    entry.groups.push_back(std::move(m));
  }
  if (default_group) *default_group = dflt;
  return entry;
}

}  // namespace anvil::pipeline
