#include "scan_config.hpp"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "io/pattern_io.hpp"

namespace anvil::pipeline {

namespace fs = std::filesystem;

namespace {

// Reads one table, remembering which keys were used so that the rest can be reported.
class Table {
 public:
  Table(const toml::table& t, std::string path, const std::string& source)
      : t_(t), path_(std::move(path)), source_(source) {}

  std::string where(const toml::node& n) const {
    return fmt::format("{}:{}", source_, n.source().begin.line);
  }
  std::string key_name(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  [[noreturn]] void fail(const toml::node& n, std::string_view key, const std::string& what) const {
    throw InputError(where(n), fmt::format("'{}': {}", key_name(key), what));
  }

  const toml::node* get(std::string_view key) {
    used_.insert(std::string(key));
    return t_.get(key);
  }

  template <class T>
  std::optional<T> opt(std::string_view key, const char* type_name) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if constexpr (std::is_same_v<T, double>) {
      if (auto v = n->value<double>()) return *v;  // integers convert
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      if (n->is_integer()) return *n->value<std::int64_t>();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (n->is_boolean()) return *n->value<bool>();  // toml++ would read 1 as true
    } else {
      if (auto v = n->value<T>()) return *v;
    }
    fail(*n, key,
         fmt::format("expected {}, found {}", type_name,
                     toml::impl::node_type_friendly_names[static_cast<int>(n->type())]));
  }

  std::optional<std::string> string(std::string_view key) { return opt<std::string>(key, "a string"); }
  // A finite number within [lo, hi] (NaN and inf are TOML numbers, never settings).
  std::optional<double> number(std::string_view key, double lo = -HUGE_VAL, double hi = HUGE_VAL,
                               const char* meaning = nullptr) {
    auto v = opt<double>(key, "a number");
    if (!v) return v;
    if (!std::isfinite(*v)) fail(*t_.get(key), key, fmt::format("must be a finite number, is {}", *v));
    if (*v < lo || *v > hi) {
      std::string range = lo == -HUGE_VAL  ? fmt::format("at most {}", hi)
                          : hi == HUGE_VAL ? fmt::format("at least {}", lo)
                                           : fmt::format("within [{}, {}]", lo, hi);
      fail(*t_.get(key), key,
           fmt::format("must be {}{}, is {}", range, meaning ? fmt::format(" ({})", meaning) : "", *v));
    }
    return v;
  }
  std::optional<bool> boolean(std::string_view key) { return opt<bool>(key, "true or false"); }
  std::optional<std::int64_t> integer(std::string_view key) { return opt<std::int64_t>(key, "an integer"); }

  // A positive integer, at most `max` (a size anvil allocates: nonsense must not reach malloc).
  std::optional<std::size_t> count(std::string_view key, std::int64_t max = 1'000'000) {
    auto v = integer(key);
    if (!v) return std::nullopt;
    if (*v <= 0) fail(*t_.get(key), key, fmt::format("must be positive, is {}", *v));
    if (*v > max) fail(*t_.get(key), key, fmt::format("must be at most {}, is {}", max, *v));
    return static_cast<std::size_t>(*v);
  }

  // A string or an array of strings.
  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    std::vector<std::string> out;
    if (auto s = n->value<std::string>()) {
      out.push_back(*s);
    } else if (const auto* arr = n->as_array()) {
      for (const auto& e : *arr) {
        auto s2 = e.value<std::string>();
        if (!s2) fail(e, key, "expected an array of strings");
        out.push_back(*s2);
      }
    } else {
      fail(*n, key, "expected a string or an array of strings");
    }
    return out;
  }

  std::optional<integrate::Range> range(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    const auto* arr = n->as_array();
    if (!arr || arr->size() != 2 || !(*arr)[0].value<double>() || !(*arr)[1].value<double>())
      fail(*n, key, "expected [min, max]");
    integrate::Range r{*(*arr)[0].value<double>(), *(*arr)[1].value<double>()};
    if (!std::isfinite(r.min) || !std::isfinite(r.max))
      fail(*n, key, fmt::format("[{}, {}] is not a range of finite numbers", r.min, r.max));
    if (!(r.max > r.min)) fail(*n, key, fmt::format("empty range [{}, {}]", r.min, r.max));
    return r;
  }

  std::optional<Table> table(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    const auto* t = n->as_table();
    if (!t) fail(*n, key, "expected a table ([" + key_name(key) + "])");
    return Table(*t, key_name(key), source_);
  }

  // Every key not read is a mistake (a typo, or a setting anvil does not have).
  void reject_unknown() const {
    for (const auto& [k, v] : t_)
      if (!used_.count(std::string(k.str())))
        throw InputError(where(v), fmt::format("unknown key '{}'", key_name(k.str())));
  }

  const std::string& source() const { return source_; }

 private:
  const toml::table& t_;
  std::string path_;
  std::string source_;
  std::set<std::string> used_;
};

std::string resolve(const fs::path& base, const std::string& p) {
  if (p.empty()) return p;
  const auto colon = p.find(":/");  // keep "file.h5:/dataset" together
  const std::string file = colon == std::string::npos ? p : p.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : p.substr(colon);
  const fs::path fp(file);
  return (fp.is_absolute() ? fp : base / fp).lexically_normal().string() + rest;
}

integrate::PixelSplit parse_split(const std::string& s, const Table& t, const toml::node* n) {
  if (const auto v = parse_pixel_split(s)) return *v;
  t.fail(*n, "split", "expected none, bbox or full, not '" + s + "'");
}

integrate::ErrorModel parse_error(const std::string& s, const Table& t, const toml::node* n) {
  if (const auto v = parse_error_model(s)) return *v;
  t.fail(*n, "error_model", "expected poisson, azimuthal or none, not '" + s + "'");
}

DetectorConfig parse_detector(Table t, const std::string& name, const fs::path& base) {
  DetectorConfig d;
  d.name = name;
  auto frames = t.strings("frames");
  if (!frames) throw InputError(t.source(), fmt::format("[{}] needs 'frames'", name));
  for (auto& f : *frames) d.frames.push_back(resolve(base, f));
  auto poni = t.string("poni");
  if (!poni) throw InputError(t.source(), fmt::format("[{}] needs 'poni' (the geometry)", name));
  d.poni = resolve(base, *poni);
  d.mask = resolve(base, t.string("mask").value_or(""));
  if (auto v = t.string("mask_orientation")) {
    try {
      d.mask_orientation = io::parse_mask_orientation(*v, "mask_orientation");
    } catch (const InputError& e) {
      t.fail(*t.get("mask_orientation"), "mask_orientation", e.problem());
    }
  }
  d.dark = resolve(base, t.string("dark").value_or(""));
  d.flat = resolve(base, t.string("flat").value_or(""));
  d.detector = t.string("detector").value_or("");
  d.flip_ud = t.boolean("flip_ud").value_or(false);
  d.flip_lr = t.boolean("flip_lr").value_or(false);
  auto& s = d.integration;
  s.unit = name == "saxs" ? RadialUnit::QInvNm : RadialUnit::TwoThetaDeg;
  if (auto it = t.table("integration")) {
    if (auto u = it->string("unit")) {
      try {
        s.unit = io::parse_radial_unit(*u);
      } catch (const InputError& e) {
        it->fail(*it->get("unit"), "unit", e.problem());
      }
    }
    if (auto v = it->count("bins")) s.radial_bins = *v;
    if (auto v = it->count("azimuth_bins", 36'000)) s.azimuth_bins = *v;
    if (auto r = it->range("range")) s.radial_range = r;
    if (auto r = it->range("azimuth_range")) s.azimuth_range_deg = r;
    if (auto v = it->string("split")) s.split = parse_split(*v, *it, it->get("split"));
    if (auto v = it->string("error_model")) s.error_model = parse_error(*v, *it, it->get("error_model"));
    if (auto v = it->boolean("solid_angle")) s.correct_solid_angle = *v;
    s.polarization_factor = it->number("polarization", -1.0, 1.0, "the polarisation factor");
    if (auto v = it->number("sigma_clip", 0.0, HUGE_VAL, "σ")) {
      if (*v == 0) it->fail(*it->get("sigma_clip"), "sigma_clip", "must be positive (σ), is 0");
      s.sigma_clip = v;
    }
    if (auto v = it->count("sigma_clip_iterations", 1000)) s.sigma_clip_iterations = static_cast<int>(*v);
    it->reject_unknown();
  }
  if (auto nt = t.table("normalization")) {
    if (name != "saxs")
      throw InputError(nt->source(), fmt::format("[{}.normalization]: only the SAXS patterns are normalised "
                                                 "(saxs_nxcansas.h5); move it to [saxs.normalization]",
                                                 name));
    NormalizationConfig n;
    n.monitor = nt->string("monitor").value_or("");
    n.transmitted = nt->string("transmitted").value_or("");
    if (!n.transmitted.empty() && n.monitor.empty())
      nt->fail(*nt->get("transmitted"), "transmitted", "needs 'monitor' (T = transmitted / monitor)");
    if (auto v = nt->number("empty_ratio", 1e-12, HUGE_VAL, "transmitted/monitor of the empty cell"))
      n.empty_ratio = *v;
    n.empty = resolve(base, nt->string("empty").value_or(""));
    if (auto v = nt->number("empty_monitor", 1e-300, HUGE_VAL, "the empty cell's monitor count"))
      n.empty_monitor = *v;
    n.thickness_mm = nt->number("thickness_mm", 1e-9, 1e3, "mm");
    n.absolute_scale = nt->number("absolute_scale", 1e-300, HUGE_VAL, "factor to 1/cm");
    n.file = resolve(base, nt->string("file").value_or(""));
    if (auto sc = nt->get("scan")) {
      if (auto i = sc->value<std::int64_t>())
        n.scan = std::to_string(*i);
      else if (auto str = sc->value<std::string>())
        n.scan = *str;
      else
        nt->fail(*sc, "scan", "expected a scan number");
    }
    n.frame_counter = nt->string("frame_counter").value_or("");
    if (auto g = nt->table("glassy_carbon")) {
      GlassyCarbonConfig gc;
      const auto file = [&](const char* key) {
        auto v = g->string(key);
        if (!v)
          throw InputError(g->source(), fmt::format("[saxs.normalization.glassy_carbon] needs '{}'", key));
        return resolve(base, *v);
      };
      gc.frames = file("frames");
      gc.empty = file("empty");
      gc.reference = file("reference");
      if (auto u = g->string("reference_unit")) {
        try {
          gc.reference_unit = io::parse_radial_unit(*u);
        } catch (const InputError& e) {
          g->fail(*g->get("reference_unit"), "reference_unit", e.problem());
        }
        if (gc.reference_unit != RadialUnit::QInvA && gc.reference_unit != RadialUnit::QInvNm)
          g->fail(*g->get("reference_unit"), "reference_unit", "expected q_A^-1 or q_nm^-1");
      }
      if (auto v = g->number("thickness_mm", 1e-6, 1e3, "mm")) gc.thickness_mm = *v;
      if (auto v = g->number("transmission", 1e-6, 1.0, "0 < T <= 1")) gc.transmission = *v;
      if (auto v = g->number("monitor", 1e-300, HUGE_VAL, "its monitor count")) gc.monitor = *v;
      gc.q_range = g->range("q_range");
      g->reject_unknown();
      n.glassy_carbon = gc;
    }
    if (n.glassy_carbon && n.absolute_scale)
      nt->fail(*nt->get("absolute_scale"), "absolute_scale",
               "give either absolute_scale or a [saxs.normalization.glassy_carbon] standard, not both");
    if (n.monitor.empty() && !n.absolute_scale && !n.glassy_carbon && !n.thickness_mm && n.empty.empty())
      throw InputError(nt->source(),
                       "[saxs.normalization] does nothing: give 'monitor', 'empty', "
                       "'thickness_mm', 'absolute_scale' or a glassy_carbon standard");
    nt->reject_unknown();
    d.normalization = n;
  }
  t.reject_unknown();
  return d;
}

PressureSource parse_pressure(Table t, const fs::path& base) {
  PressureSource p;
  const auto kind = t.string("source").value_or("table");
  const auto file = t.string("file");
  if (!file) throw InputError(t.source(), "[pressure] needs 'file' (a CSV table or a SPEC file)");
  p.path = resolve(base, *file);
  if (auto f = t.integer("first_frame")) {
    if (*f < 0) t.fail(*t.get("first_frame"), "first_frame", fmt::format("must be 0 or more, is {}", *f));
    p.first_frame = *f;
  }
  if (kind == "table") {
    p.kind = PressureSource::Kind::Table;
  } else if (kind == "spec" || kind == "ruby") {
    p.kind = kind == "ruby" ? PressureSource::Kind::SpecRuby : PressureSource::Kind::SpecPressure;
    auto scan = t.get("scan");
    if (!scan) throw InputError(t.source(), "[pressure] with source = \"" + kind + "\" needs 'scan'");
    if (auto i = scan->value<std::int64_t>())
      p.spec_scan = std::to_string(*i);
    else if (auto s = scan->value<std::string>())
      p.spec_scan = *s;
    else
      t.fail(*scan, "scan", "expected a scan number");
    auto counter = t.string("counter");
    if (!counter) throw InputError(t.source(), "[pressure] with source = \"" + kind + "\" needs 'counter'");
    p.spec_counter = *counter;
    p.spec_frame_counter = t.string("frame_counter").value_or("");
    if (auto sc = t.string("scale")) {
      try {
        p.ruby_scale = pressure::parse_ruby_scale(*sc);
      } catch (const InputError& e) {
        t.fail(*t.get("scale"), "scale", e.problem());
      }
    }
    p.ruby_lambda0_nm = t.number("lambda0_nm", 600.0, 800.0, "ruby R1 at ambient, nm");
    p.ruby_esd_nm = t.number("r1_esd_nm", 0.0, 10.0, "uncertainty of R1, nm");
  } else {
    t.fail(*t.get("source"), "source", "expected table, spec or ruby, not '" + kind + "'");
  }
  t.reject_unknown();
  return p;
}

}  // namespace

ScanConfig parse_scan_config(const std::string& text, const fs::path& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name.string());
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}", source_name.string(), e.source().begin.line),
                     std::string(e.description()));
  }
  ScanConfig c;
  c.file = source_name;
  c.name = source_name.stem().string();
  const fs::path base = source_name.has_parent_path() ? source_name.parent_path() : fs::path(".");
  Table t(root, "", source_name.string());
  if (auto scan = t.table("scan")) {
    if (auto n = scan->string("name")) c.name = *n;
    if (auto n = scan->count("frames_in_flight", 4096)) c.frames_in_flight = *n;
    scan->reject_unknown();
  }
  if (auto s = t.table("sample")) {
    c.sample.name = s->string("name").value_or("");
    c.sample.medium = s->string("medium").value_or("");
    c.sample.description = s->string("description").value_or("");
    s->reject_unknown();
  }
  if (auto w = t.table("waxs")) c.waxs = parse_detector(*w, "waxs", base);
  if (auto s = t.table("saxs")) c.saxs = parse_detector(*s, "saxs", base);
  if (!c.waxs && !c.saxs)
    throw InputError(source_name.string(), "describes no detector: add a [waxs] or [saxs] table");
  if (auto p = t.table("pressure")) c.pressure = parse_pressure(*p, base);
  if (auto f = t.table("fit")) {
    if (auto ph = f->strings("phases")) c.fit.phases = *ph;
    if (auto m = f->string("mode")) {
      if (*m != "independent" && *m != "sequential")
        f->fail(*f->get("mode"), "mode", "expected independent or sequential, not '" + *m + "'");
      c.fit.mode = *m;
    }
    c.fit.instrument = resolve(base, f->string("instrument").value_or(""));
    if (auto m = f->string("model")) {
      if (*m != "bragg" && *m != "debye" && *m != "auto")
        f->fail(*f->get("model"), "model", "expected bragg, debye or auto, not '" + *m + "'");
      c.fit.model = *m;
    }
    if (auto o = f->strings("others")) c.fit.others = *o;
    if (auto r = f->range("sizes_nm")) {
      if (r->min < 0.5 || r->max > 50)
        f->fail(*f->get("sizes_nm"), "sizes_nm",
                fmt::format("[{}, {}]: cluster diameters must lie within 0.5–50 nm", r->min, r->max));
      c.fit.sizes_nm = r;
    }
    if (auto sh = f->string("shape")) {
      if (*sh != "sphere" && *sh != "cylinder")
        f->fail(*f->get("shape"), "shape", "expected sphere or cylinder, not '" + *sh + "'");
      c.fit.shape = *sh;
    }
    if (auto v = f->number("aspect", 0.05, 20.0, "cylinder length / diameter")) c.fit.aspect = *v;
    if (const auto* ax = f->get("axis")) {
      const auto* arr = ax->as_array();
      if (!arr || arr->size() != 3) f->fail(*ax, "axis", "expected [u, v, w] (a lattice direction)");
      for (std::size_t k = 0; k < 3; ++k) {
        const auto v = (*arr)[k].value<std::int64_t>();
        if (!v) f->fail(*ax, "axis", "expected three integers [u, v, w]");
        c.fit.axis_uvw[k] = static_cast<int>(*v);
      }
      if (c.fit.axis_uvw == std::array<int, 3>{0, 0, 0}) f->fail(*ax, "axis", "[0, 0, 0] is no direction");
    }
    if (auto v = f->boolean("faulted")) {
      if (c.fit.model == "bragg")
        f->fail(*f->get("faulted"), "faulted",
                "stacking faults are a Debye-model setting (model = \"debye\")");
      c.fit.faulted = *v;
    }
    if (auto v = f->boolean("le_bail")) c.fit.le_bail = *v;
    if (c.fit.le_bail && c.fit.faulted)
      f->fail(*f->get("le_bail"), "le_bail",
              "profile matching has no stacking faults to refine: not with faulted");
    if (auto v = f->boolean("shared_size")) {
      if (c.fit.model == "bragg")
        f->fail(*f->get("shared_size"), "shared_size", "size distributions are a Debye-model setting");
      c.fit.shared_size = *v;
    }
    if ((c.fit.shape != "sphere" || c.fit.aspect != 1.0) && c.fit.model == "bragg")
      f->fail(f->get("shape") ? *f->get("shape") : *f->get("aspect"), "shape",
              "particle shapes are a Debye-model setting (model = \"debye\")");
    if (!c.fit.others.empty() && c.fit.model == "bragg" && !c.fit.le_bail)
      f->fail(*f->get("others"), "others",
              "gasket and marker phases are fitted with model = \"debye\" (or le_bail = true)");
    c.fit.range = f->range("range");
    f->reject_unknown();
  }
  if (auto s = t.table("index")) {
    if (auto l = s->strings("lattices")) {
      static const std::set<std::string> known = {"fcc", "bcc", "sc", "hcp", "hex2d", "hex3d", "lamellar"};
      for (const auto& name : *l)
        if (!known.count(name))
          s->fail(*s->get("lattices"), "lattices",
                  "unknown lattice '" + name + "' (fcc, bcc, sc, hcp, hex2d, hex3d, lamellar)");
      c.saxs_index.lattices = *l;
    }
    // `range` as in [waxs], [saxs] and [fit]; `q_range` as earlier scan descriptions wrote it.
    c.saxs_index.q_range_inv_nm = s->range("q_range");
    if (const toml::node* n = s->get("range")) {
      if (c.saxs_index.q_range_inv_nm) s->fail(*n, "range", "give range or q_range, not both");
      c.saxs_index.q_range_inv_nm = s->range("range");
    }
    s->reject_unknown();
  }
  t.reject_unknown();
  return c;
}

ScanConfig load_scan_config(const fs::path& toml_file) {
  std::ifstream in(toml_file);
  if (!in) throw InputError(toml_file.string(), fs::exists(toml_file) ? "cannot open" : "file not found");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_scan_config(ss.str(), toml_file);
}

}  // namespace anvil::pipeline
