// bench/lockbench_svg.cpp — `lockbench --svg FILE`: two panels, throughput
// and p99 acquisition latency against contenders, one line per lock (and
// per configuration when several), written as SVG by hand. With --repeat
// each line is the medians and, when the runs give intervals, a shaded band
// the 95% confidence interval of each median. --svg-log gives the
// throughput panel a logarithmic y axis; the latency panel always has one
// (p99s span nanoseconds to milliseconds once contenders share a CPU).
#include "lockbench_tool.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace lockbench::tool {
namespace {

struct plot_point {
  double x = 0, y = 0;    // contenders, the figure (its median over --repeat's runs)
  double lo = 0, hi = 0;  // the median's 95% interval
  bool interval = false;  // whether lo and hi hold one (several runs)
  bool operator<(const plot_point& o) const { return x < o.x; }
};

struct series {
  std::string label;
  std::vector<plot_point> points;
};

enum class metric { throughput, acquire_p99 };

plot_point point_of(const row& r, metric m) {
  const bench::median_estimate& e = m == metric::throughput ? r.headline : r.acquire_p99;
  plot_point p{.x = static_cast<double>(r.r.config.contenders),
               .y = m == metric::throughput ? r.r.throughput : r.r.acquire.p99};
  if (e.n >= 2) p.lo = e.lo, p.hi = e.hi, p.interval = true;
  return p;
}

// What distinguishes the contended rows: the label shows only what varies.
struct variation {
  bool config = false, cs = false, gap = false;
};

std::string config_key(const lockbench::contention& c) {
  lockbench::contention k = c;
  k.contenders = 0;
  return contenders_label(k).substr(2);  // drop the count
}

variation find_variation(const std::vector<const row*>& rows) {
  variation v;
  for (const row* r : rows) {
    const lockbench::contention& a = r->r.config;
    const lockbench::contention& b = rows.front()->r.config;
    v.config |= config_key(a) != config_key(b);
    v.cs |= a.cs_ns != b.cs_ns;
    v.gap |= a.gap_ns != b.gap_ns;
  }
  return v;
}

std::string series_label(const row& r, const variation& v) {
  std::string s = r.lock->name;
  if (v.config) s += " (" + config_key(r.r.config) + ")";
  if (v.cs) s += " cs " + human_time(static_cast<double>(r.r.config.cs_ns));
  if (v.gap) s += " gap " + human_time(static_cast<double>(r.r.config.gap_ns));
  return s;
}

std::vector<series> build_series(const std::vector<row>& rows, metric m) {
  std::vector<const row*> contended;
  for (const row& r : rows)
    if (!r.uncontended) contended.push_back(&r);
  variation v = find_variation(contended);
  std::vector<series> out;
  for (const row* r : contended) {
    std::string label = series_label(*r, v);
    auto it = std::find_if(out.begin(), out.end(), [&](const series& s) { return s.label == label; });
    if (it == out.end()) it = out.insert(out.end(), series{label, {}});
    it->points.push_back(point_of(*r, m));
  }
  for (series& s : out) std::sort(s.points.begin(), s.points.end());
  return out;
}

// A "nice" axis step (1, 2 or 5 times a power of ten) giving about `ticks` steps.
double nice_step(double range, int ticks) {
  double raw = range / ticks;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '&')
      out += "&amp;";
    else if (ch == '<')
      out += "&lt;";
    else if (ch == '>')
      out += "&gt;";
    else
      out += ch;
  }
  return out;
}

// Where values land in the plot. A logarithmic y axis spans whole decades
// from y_min; a linear one starts at 0.
struct plot_frame {
  double left = 90, top = 50, width = 560, height = 380;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  bool log = false;
  bool time = false;  // y values are ns (labelled as times) rather than rates
  double x(double v) const { return left + (x_max > x_min ? (v - x_min) / (x_max - x_min) : 0.5) * width; }
  double y(double v) const {
    double share = log ? (std::log10(std::max(v, y_min)) - std::log10(y_min)) / (std::log10(y_max) - std::log10(y_min))
                       : v / y_max;
    return top + height - share * height;
  }
};

plot_frame frame_for(const std::vector<series>& all, bool log) {
  plot_frame f;
  f.log = log;
  f.x_min = 1e300;
  f.x_max = -1e300;
  double y_top = 0, y_low = 1e300;
  for (const series& s : all)
    for (const plot_point& p : s.points) {
      f.x_min = std::min(f.x_min, p.x);
      f.x_max = std::max(f.x_max, p.x);
      for (double y : {p.y, p.interval ? p.lo : p.y, p.interval ? p.hi : p.y}) {
        y_top = std::max(y_top, y);
        if (y > 0) y_low = std::min(y_low, y);
      }
    }
  if (all.empty()) f.x_min = 0, f.x_max = 1;
  if (y_top <= 0) y_top = 1, y_low = 1;
  if (log) {
    f.y_min = std::pow(10.0, std::floor(std::log10(y_low)));
    f.y_max = std::pow(10.0, std::max(std::ceil(std::log10(y_top)), std::log10(f.y_min) + 1));
  } else {
    double step = nice_step(y_top, 5);
    f.y_max = std::ceil(y_top / step) * step;
  }
  return f;
}

// The y axis' labelled values: decades, or nice steps from 0.
std::vector<double> y_ticks(const plot_frame& f) {
  std::vector<double> v;
  if (f.log) {
    for (double d = f.y_min; d <= f.y_max * 1.001; d *= 10) v.push_back(d);
  } else {
    double step = nice_step(f.y_max, 5);
    for (double d = 0; d <= f.y_max + step / 2; d += step) v.push_back(d);
  }
  return v;
}

void svg_axes(std::FILE* out, const plot_frame& f, const std::string& title, const std::string& y_label) {
  std::fprintf(out, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n",
               f.left, f.top, f.width, f.height);
  for (double v : y_ticks(f))
    std::fprintf(out,
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                 f.left, f.y(v), f.left + f.width, f.y(v), f.left - 6, f.y(v) + 4,
                 (f.time ? human_time(v) : human_rate(v)).c_str());
  double xstep = std::max(1.0, nice_step(std::max(1.0, f.x_max - f.x_min), 8));
  for (double v = f.x_min; v <= f.x_max + 1e-9; v += xstep)
    std::fprintf(out,
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
                 f.x(v), f.top, f.x(v), f.top + f.height, f.x(v), f.top + f.height + 18, v);
  std::fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">contenders</text>\n", f.left + f.width / 2,
               f.top + f.height + 42);
  std::fprintf(out, "<text transform=\"translate(22,%.1f) rotate(-90)\" text-anchor=\"middle\">%s%s</text>\n",
               f.top + f.height / 2, xml_escape(y_label).c_str(), f.log ? " (log scale)" : "");
  std::fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n",
               f.left + f.width / 2, f.top - 22, xml_escape(title).c_str());
}

const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// The 95% intervals as a shaded band: the upper ends left to right, the
// lower ends back (only where a point has an interval).
void svg_band(std::FILE* out, const plot_frame& f, const series& s, const char* color) {
  std::vector<plot_point> v;
  for (const plot_point& p : s.points)
    if (p.interval) v.push_back(p);
  if (v.empty()) return;
  std::fprintf(out, "<polygon class=\"ci-band\" fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" points=\"", color);
  for (const plot_point& p : v) std::fprintf(out, "%.1f,%.1f ", f.x(p.x), f.y(p.hi));
  for (auto p = v.rbegin(); p != v.rend(); ++p) std::fprintf(out, "%.1f,%.1f ", f.x(p->x), f.y(p->lo));
  std::fprintf(out, "\"/>\n");
}

void svg_series(std::FILE* out, const plot_frame& f, const series& s, std::size_t i, bool legend) {
  const char* color = palette[i % 10];
  const char* dash = i / 10 % 2 ? " stroke-dasharray=\"6 3\"" : "";
  svg_band(out, f, s, color);
  std::fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color, dash);
  for (const plot_point& p : s.points) std::fprintf(out, "%.1f,%.1f ", f.x(p.x), f.y(p.y));
  std::fprintf(out, "\"/>\n");
  for (const plot_point& p : s.points)
    std::fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", f.x(p.x), f.y(p.y), color);
  if (!legend) return;
  double ly = f.top + 8 + 18.0 * static_cast<double>(i), lx = f.left + f.width + 20;
  std::fprintf(out,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>"
               "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
               lx, ly, lx + 24, ly, color, dash, lx + 30, ly + 4, xml_escape(s.label).c_str());
}

// One panel: its axes, its lines (the legend beside the first panel only).
void svg_panel(std::FILE* out, const std::vector<series>& all, plot_frame f, const std::string& title,
               const std::string& y_label, bool legend) {
  svg_axes(out, f, title, y_label);
  for (std::size_t i = 0; i < all.size(); ++i) svg_series(out, f, all[i], i, legend);
  if (all.empty())
    std::fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no contended measurements to plot</text>\n",
                 f.left + f.width / 2, f.top + f.height / 2);
}

bool any_interval(const std::vector<series>& all) {
  for (const series& s : all)
    for (const plot_point& p : s.points)
      if (p.interval) return true;
  return false;
}

}  // namespace

bool write_svg(const std::string& path, const std::vector<row>& rows, const std::string& title, bool log) {
  std::vector<series> rate = build_series(rows, metric::throughput);
  std::vector<series> p99 = build_series(rows, metric::acquire_p99);
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (!out) return false;
  plot_frame top = frame_for(rate, log);
  plot_frame bottom = frame_for(p99, true);
  bottom.time = true;
  bottom.top = top.top + top.height + 110;
  double height = std::max(bottom.top + bottom.height + 80, top.top + 20 + 18.0 * static_cast<double>(rate.size()));
  std::fprintf(
      out,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1000\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      height);
  svg_panel(out, rate, top, title + ": throughput against contenders", "acquisitions per second", true);
  svg_panel(out, p99, bottom, title + ": acquire p99 against contenders", "acquisition latency, p99", false);
  std::fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%s</text>\n",
               top.left + top.width / 2, height - 14,
               any_interval(rate) ? "lines: medians over the runs; shaded: their 95% confidence intervals"
                                  : "one run per point (--repeat N >= 6 adds 95% confidence bands)");
  std::fprintf(out, "</svg>\n");
  return std::fclose(out) == 0;
}

}  // namespace lockbench::tool
